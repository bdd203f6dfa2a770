// KeySource: what batch encryption needs from a key store, so engine/log
// depends on this interface and not on the keyring file (tests supply fixed
// keys through it; production uses crypto::Keyring).
// Thread-safety: implementations are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "base/status.h"
#include "engine/crypto/key.h"

namespace warbler::engine::crypto {

class KeySource {
 public:
  virtual ~KeySource() = default;

  // The DEK with id `key_id`. NotFound when there is none (destroyed, never
  // existed, or the batch comes from another store). The key stays valid as
  // long as the caller holds it, whatever happens to the source.
  virtual Result<std::shared_ptr<const Key>> Lookup(uint32_t key_id) const = 0;

  // Id of the DEK new batches of `tenant` are sealed with: the tenant's own
  // current DEK, or the store-wide one ("" or a tenant without DEKs).
  virtual Result<uint32_t> DekFor(std::string_view tenant) const = 0;

  // Reserves `count` >= 1 nonce epochs, never handed out before (durable
  // before return), and returns the first. ResourceExhausted when the 32-bit
  // epoch space would be exceeded.
  virtual Result<uint32_t> ReserveNonceEpochs(uint32_t count) = 0;
};

}  // namespace warbler::engine::crypto
