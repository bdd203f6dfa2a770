// BatchCipher: chooses the DEK and derives the nonce for each batch one
// writer seals (docs/security.md "Nonces: never twice under one key").
//
//   nonce = epoch (u32 LE) || base_offset (u64 LE)
//
// Each BatchCipher holds a nonce epoch that its KeySource handed out once
// ever, so no two ciphers share one. Within its epoch a cipher never plans the
// same base offset twice: when asked for an offset below the end of the last
// batch it planned (a failed write being redone with other records, a Raft
// truncation, a rewrite), it reserves a fresh epoch first. Hence (DEK, nonce)
// never repeats as long as every writer — each partition log, each compaction
// or rewrite job — uses its own BatchCipher.
//
// Owned by one writer; not copyable. Thread-safety: Plan may be called from
// several threads (it takes a mutex), though one writer thread is the norm.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/key_source.h"

namespace warbler::engine::crypto {

// The nonce of a batch sealed in `epoch` at `base_offset`.
Nonce BatchNonce(uint32_t epoch, uint64_t base_offset);

struct SealPlan {
  uint32_t key_id = 0;
  Nonce nonce{};
  std::shared_ptr<const Key> key;
};

class BatchCipher {
 public:
  // Reserves one nonce epoch from `keys` (a durable keyring write).
  // REQUIRES: `keys` outlives the cipher.
  static Result<std::unique_ptr<BatchCipher>> Create(KeySource* keys);
  // `count` ciphers (e.g. one per partition) from one reservation: one
  // keyring write however many partitions a store has.
  static Result<std::vector<std::unique_ptr<BatchCipher>>> CreateMany(KeySource* keys,
                                                                      uint32_t count);

  BatchCipher(const BatchCipher&) = delete;
  BatchCipher& operator=(const BatchCipher&) = delete;

  // Key and nonce for a batch of `record_count` >= 1 records starting at
  // `base_offset`, sealed under the current DEK of `tenant` ("" = store-wide).
  // Errors come from the KeySource (e.g. an epoch reservation that failed).
  Result<SealPlan> Plan(std::string_view tenant, uint64_t base_offset, uint32_t record_count);

  // The epoch batches are sealed in now.
  uint32_t epoch() const;
  KeySource* keys() const { return keys_; }

 private:
  BatchCipher(KeySource* keys, uint32_t epoch) : keys_(keys), epoch_(epoch) {}

  KeySource* const keys_;
  mutable std::mutex mu_;
  uint32_t epoch_;            // guarded by mu_
  uint64_t next_offset_ = 0;  // end of the last batch planned in epoch_; guarded by mu_
};

}  // namespace warbler::engine::crypto
