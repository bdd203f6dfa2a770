#include "engine/crypto/batch_cipher.h"

#include "base/coding.h"
#include "base/log.h"

namespace warbler::engine::crypto {

Nonce BatchNonce(uint32_t epoch, uint64_t base_offset) {
  Nonce n{};
  auto* p = reinterpret_cast<std::byte*>(n.data());
  EncodeFixed32(p, epoch);
  EncodeFixed64(p + 4, base_offset);
  return n;
}

Result<std::unique_ptr<BatchCipher>> BatchCipher::Create(KeySource* keys) {
  WB_ASSIGN_OR_RETURN(uint32_t epoch, keys->ReserveNonceEpochs(1));
  return std::unique_ptr<BatchCipher>(new BatchCipher(keys, epoch));
}

Result<std::vector<std::unique_ptr<BatchCipher>>> BatchCipher::CreateMany(KeySource* keys,
                                                                          uint32_t count) {
  std::vector<std::unique_ptr<BatchCipher>> out;
  if (count == 0) return out;
  WB_ASSIGN_OR_RETURN(uint32_t first, keys->ReserveNonceEpochs(count));
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    out.push_back(std::unique_ptr<BatchCipher>(new BatchCipher(keys, first + i)));
  }
  return out;
}

Result<SealPlan> BatchCipher::Plan(std::string_view tenant, uint64_t base_offset,
                                   uint32_t record_count) {
  if (record_count == 0 || base_offset > UINT64_MAX - record_count) {
    return Status::InvalidArgument("batch offsets out of range");
  }
  SealPlan plan;
  WB_ASSIGN_OR_RETURN(plan.key_id, keys_->DekFor(tenant));
  WB_ASSIGN_OR_RETURN(plan.key, keys_->Lookup(plan.key_id));
  std::lock_guard lock(mu_);
  if (base_offset < next_offset_) {
    // This epoch may already have sealed `base_offset` (with other records):
    // move to a fresh epoch rather than reuse the nonce.
    WB_ASSIGN_OR_RETURN(uint32_t epoch, keys_->ReserveNonceEpochs(1));
    WB_LOG(kInfo, "nonce_epoch_advanced")
        .Kv("old_epoch", epoch_)
        .Kv("new_epoch", epoch)
        .Kv("offset", base_offset);
    epoch_ = epoch;
  }
  next_offset_ = base_offset + record_count;
  plan.nonce = BatchNonce(epoch_, base_offset);
  return plan;
}

uint32_t BatchCipher::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

}  // namespace warbler::engine::crypto
