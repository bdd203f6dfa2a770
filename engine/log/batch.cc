#include "engine/log/batch.h"

#include <algorithm>
#include <cstring>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/limits.h"
#include "engine/codec/dictionary_source.h"
#include "engine/codec/zstd_codec.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/key_source.h"

namespace warbler::engine {

using format::kBatchChecksumOffset;
using format::kBatchHeaderSize;

void EncodeBatchHeader(const BatchHeader& h, std::byte* out) {
  EncodeFixed16(out + format::kBhMagic, format::kBatchMagic);
  out[format::kBhVersion] = static_cast<std::byte>(h.version);
  out[format::kBhFlags] = static_cast<std::byte>(h.flags);
  EncodeFixed16(out + format::kBhDictId, h.dict_id);
  EncodeFixed16(out + format::kBhRecordCount, h.record_count);
  EncodeFixed64(out + format::kBhBaseOffset, h.base_offset);
  EncodeFixed64(out + format::kBhTerm, h.term);
  EncodeFixed64(out + format::kBhFirstTimestamp, h.first_timestamp_us);
  EncodeFixed32(out + format::kBhMaxTimestampDelta, h.max_timestamp_delta_us);
  EncodeFixed32(out + format::kBhPayloadLen, h.payload_len);
  EncodeFixed32(out + format::kBhKeyId, h.key_id);
  std::memcpy(out + format::kBhNonce, h.nonce.data(), h.nonce.size());
  EncodeFixed64(out + kBatchChecksumOffset, h.checksum);
}

Status DecodeBatchHeader(std::span<const std::byte> in, BatchHeader* h) {
  if (in.size() < kBatchHeaderSize) return Status::Corruption("batch header truncated");
  const std::byte* p = in.data();
  if (DecodeFixed16(p + format::kBhMagic) != format::kBatchMagic) {
    return Status::Corruption("bad batch magic");
  }
  h->version = static_cast<uint8_t>(p[format::kBhVersion]);
  h->flags = static_cast<uint8_t>(p[format::kBhFlags]);
  if (h->version == 0) {
    // No Warbler writes version 0: this is a header torn after its magic
    // (the zeros of preallocated space behind it), not a newer format.
    return Status::Corruption("batch version 0: a torn header");
  }
  if (h->version != format::kBatchVersion) {
    return Status::NotSupported("batch version " + std::to_string(h->version) +
                                " (this build reads version " +
                                std::to_string(format::kBatchVersion) + ")");
  }
  if ((h->flags & ~format::kKnownFlags) != 0 || h->codec() > format::kCodecZstd) {
    return Status::NotSupported("unknown batch flags " + std::to_string(h->flags));
  }
  h->dict_id = DecodeFixed16(p + format::kBhDictId);
  h->record_count = DecodeFixed16(p + format::kBhRecordCount);
  h->base_offset = DecodeFixed64(p + format::kBhBaseOffset);
  h->term = DecodeFixed64(p + format::kBhTerm);
  h->first_timestamp_us = DecodeFixed64(p + format::kBhFirstTimestamp);
  h->max_timestamp_delta_us = DecodeFixed32(p + format::kBhMaxTimestampDelta);
  h->payload_len = DecodeFixed32(p + format::kBhPayloadLen);
  h->key_id = DecodeFixed32(p + format::kBhKeyId);
  std::memcpy(h->nonce.data(), p + format::kBhNonce, h->nonce.size());
  h->checksum = DecodeFixed64(p + kBatchChecksumOffset);
  if (h->record_count == 0) return Status::Corruption("batch with zero records");
  if (h->payload_len > limits::kMaxBatchPayloadBytes) {
    return Status::Corruption("batch payload length " + std::to_string(h->payload_len) +
                              " over the limit");
  }
  if (h->base_offset > UINT64_MAX - h->record_count) {
    return Status::Corruption("batch offsets overflow");
  }
  return Status::Ok();
}

uint64_t ComputeBatchChecksum(std::span<const std::byte> header,
                              std::span<const std::byte> payload) {
  return Checksum64(header.first(kBatchChecksumOffset), payload);
}

bool IsZeroHeader(std::span<const std::byte> in) {
  if (in.size() < kBatchHeaderSize) return false;
  return std::all_of(in.begin(), in.begin() + kBatchHeaderSize,
                     [](std::byte b) { return b == std::byte{0}; });
}

Result<BatchHeader> BatchBuilder::Finish(uint64_t base_offset, uint64_t term,
                                         const BatchOptions& options, std::string* out) {
  if (records_.empty() || records_.size() > limits::kMaxRecordsPerBatch) {
    return Status::InvalidArgument("batch must hold 1.." +
                                   std::to_string(limits::kMaxRecordsPerBatch) + " records");
  }
  uint64_t first = UINT64_MAX, max = 0;
  for (const Record* r : records_) {
    first = std::min(first, r->timestamp_us);
    max = std::max(max, r->timestamp_us);
  }
  if (max - first > UINT32_MAX) {
    return Status::InvalidArgument("batch timestamps span more than 2^32 microseconds");
  }
  if (!options.tenant.empty()) {
    // A tenant's DEK must only ever seal that tenant's records, so destroying
    // the DEK destroys exactly the tenant's data.
    for (const Record* r : records_) {
      if (r->tenant != options.tenant) {
        return Status::InvalidArgument("batch for tenant '" + options.tenant +
                                       "' holds a record of another tenant");
      }
    }
  }
  plain_.clear();
  record_ends_.clear();
  for (const Record* r : records_) {
    EncodeRecord(*r, first, &plain_);
    record_ends_.push_back(plain_.size());
  }
  BatchHeader h;
  h.record_count = static_cast<uint16_t>(records_.size());
  h.base_offset = base_offset;
  h.term = term;
  h.first_timestamp_us = first;
  h.max_timestamp_delta_us = static_cast<uint32_t>(max - first);
  records_.clear();
  // The payload goes straight into `out` after a header placeholder: zstd
  // writes there, and only an incompressible payload is copied in raw.
  const size_t start = out->size();
  const size_t payload_start = start + kBatchHeaderSize;
  out->resize(payload_start);
  if (options.compress) {
    if (Status s = Compress(options, &h, out); !s.ok()) {
      out->resize(start);
      return s;
    }
  }
  if (h.codec() == format::kCodecNone) out->append(plain_);
  crypto::SealPlan plan;
  if (options.cipher != nullptr) {
    auto p = options.cipher->Plan(options.tenant, base_offset, h.record_count);
    if (!p.ok()) {
      out->resize(start);
      return p.status();
    }
    plan = std::move(*p);
    h.flags |= format::kFlagEncrypted;
    h.key_id = plan.key_id;
    h.nonce = plan.nonce;
    out->resize(out->size() + format::kGcmTagSize);
  }
  const size_t payload_len = out->size() - payload_start;
  if (payload_len > limits::kMaxBatchPayloadBytes) {
    out->resize(start);
    return Status::InvalidArgument("batch payload over kMaxBatchPayloadBytes");
  }
  h.payload_len = static_cast<uint32_t>(payload_len);
  auto* hdr = reinterpret_cast<std::byte*>(out->data() + start);
  EncodeBatchHeader(h, hdr);
  if (options.cipher != nullptr) {
    // Compress, then encrypt in place; header bytes [0,56) are the AAD.
    const size_t text_len = payload_len - format::kGcmTagSize;
    Status s = crypto::Seal(*plan.key, plan.nonce, {hdr, kBatchChecksumOffset},
                            {hdr + kBatchHeaderSize, text_len},
                            std::span<std::byte, format::kGcmTagSize>(
                                hdr + kBatchHeaderSize + text_len, format::kGcmTagSize));
    if (!s.ok()) {
      out->resize(start);
      return s;
    }
  }
  h.checksum = ComputeBatchChecksum({hdr, kBatchHeaderSize}, {hdr + kBatchHeaderSize, payload_len});
  EncodeFixed64(hdr + kBatchChecksumOffset, h.checksum);
  return h;
}

Status BatchBuilder::Compress(const BatchOptions& options, BatchHeader* h, std::string* out) {
  const size_t payload_start = out->size();
  codec::ActiveDictionary dict;
  if (options.dictionaries != nullptr) {
    dict = options.dictionaries->Current(options.tenant);
    if (dict.dict == nullptr) {
      samples_.clear();
      size_t begin = 0;
      for (const size_t end : record_ends_) {
        samples_.push_back(std::string_view(plain_).substr(begin, end - begin));
        begin = end;
      }
      options.dictionaries->Sample(options.tenant, samples_);
    }
  }
  Status s = dict.dict != nullptr ? dict.dict->Compress(AsBytes(plain_), out)
                                  : codec::ZstdCompress(AsBytes(plain_), options.zstd_level, out);
  WB_RETURN_IF_ERROR(s);
  if (out->size() - payload_start >= plain_.size()) {
    out->resize(payload_start);  // does not shrink: stored raw
    return Status::Ok();
  }
  h->flags |= format::kCodecZstd;
  if (dict.dict != nullptr) {
    h->flags |= format::kFlagDictionary;
    h->dict_id = dict.id;
  }
  return Status::Ok();
}

namespace {

// Flag bit 3 set iff a dictionary id is given, and only with zstd.
Status CheckDictionaryFields(const BatchHeader& h) {
  const bool with_dict = (h.flags & format::kFlagDictionary) != 0;
  if (with_dict == (h.dict_id != 0) && (!with_dict || h.codec() == format::kCodecZstd)) {
    return Status::Ok();
  }
  return Status::Corruption("batch at offset " + std::to_string(h.base_offset) +
                            " has dictionary flag " + std::to_string(with_dict) +
                            " and dictionary id " + std::to_string(h.dict_id) + " (inconsistent)");
}

// Replaces `plain` with the decompressed `in`, with the dictionary the header
// names when flag bit 3 is set.
Status Decompress(const BatchHeader& h, std::span<const std::byte> in,
                  const codec::DictionarySource* dicts, std::string* plain) {
  constexpr size_t kMaxPlain = limits::kMaxBatchPayloadBytes * 4;
  if ((h.flags & format::kFlagDictionary) == 0) return codec::ZstdDecompress(in, kMaxPlain, plain);
  // Built only on error: this runs for every batch a read decodes.
  auto where = [&h] { return "batch at offset " + std::to_string(h.base_offset); };
  if (dicts == nullptr) {
    return Status::NotSupported(where() + " is compressed with zstd dictionary " +
                                std::to_string(h.dict_id) + " and no dictionaries are loaded");
  }
  auto dict = dicts->Lookup(h.dict_id);
  if (!dict.ok()) return dict.status().WithContext(where());
  Status s = (*dict)->Decompress(in, kMaxPlain, plain);
  if (!s.ok()) return s.WithContext(where());
  return s;
}

// Decrypts an encrypted payload into `text` (the compressed or raw records).
Status OpenPayload(std::span<const std::byte> batch, const BatchHeader& h,
                   const crypto::KeySource& keys, std::string* text) {
  if (h.payload_len < format::kGcmTagSize) {
    return Status::Corruption("encrypted batch at offset " + std::to_string(h.base_offset) +
                              " is shorter than its GCM tag");
  }
  auto key = keys.Lookup(h.key_id);
  if (!key.ok()) {
    return key.status().WithContext("batch at offset " + std::to_string(h.base_offset));
  }
  const size_t text_len = h.payload_len - format::kGcmTagSize;
  text->resize(text_len);
  auto sealed = batch.subspan(kBatchHeaderSize);
  Status s = crypto::Open(**key, h.nonce, batch.first(kBatchChecksumOffset), sealed.first(text_len),
                          sealed.subspan(text_len).first<format::kGcmTagSize>(),
                          {reinterpret_cast<std::byte*>(text->data()), text_len});
  if (s.code() == StatusCode::kUnauthenticated) {
    return Status::Unauthenticated(
        "batch at offset " + std::to_string(h.base_offset) + " fails authentication under key id " +
        std::to_string(h.key_id) + " (its checksum is intact: tampered with, or the wrong key)");
  }
  return s;
}

}  // namespace

Result<DecodedBatch> DecodeBatch(std::span<const std::byte> batch, const crypto::KeySource* keys,
                                 const codec::DictionarySource* dicts) {
  DecodedBatch d;
  WB_RETURN_IF_ERROR(DecodeBatchHeader(batch, &d.header));
  const BatchHeader& h = d.header;
  if (batch.size() != h.total_size()) {
    return Status::Corruption("batch is " + std::to_string(batch.size()) + " bytes, header says " +
                              std::to_string(h.total_size()));
  }
  auto payload = batch.subspan(kBatchHeaderSize);
  if (ComputeBatchChecksum(batch.first(kBatchHeaderSize), payload) != h.checksum) {
    return Status::Corruption("batch checksum mismatch at offset " + std::to_string(h.base_offset));
  }
  auto plain = std::make_shared<std::string>();
  if ((h.flags & format::kFlagEncrypted) != 0) {
    if (keys == nullptr) {
      return Status::NotSupported("batch is encrypted (key id " + std::to_string(h.key_id) +
                                  ") and no keyring is configured");
    }
    // The GCM tag authenticates the header first: a forged dictionary field
    // reads as Unauthenticated, never as a missing dictionary.
    if (h.codec() == format::kCodecZstd) {
      std::string compressed;
      WB_RETURN_IF_ERROR(OpenPayload(batch, h, *keys, &compressed));
      WB_RETURN_IF_ERROR(CheckDictionaryFields(h));
      WB_RETURN_IF_ERROR(Decompress(h, AsBytes(compressed), dicts, plain.get()));
    } else {
      WB_RETURN_IF_ERROR(OpenPayload(batch, h, *keys, plain.get()));
      WB_RETURN_IF_ERROR(CheckDictionaryFields(h));
    }
  } else if (keys != nullptr) {
    return Status::Unauthenticated("batch at offset " + std::to_string(h.base_offset) +
                                   " is not encrypted, but this store encrypts every batch");
  } else if (h.codec() == format::kCodecZstd) {
    WB_RETURN_IF_ERROR(CheckDictionaryFields(h));
    WB_RETURN_IF_ERROR(Decompress(h, payload, dicts, plain.get()));
  } else {
    WB_RETURN_IF_ERROR(CheckDictionaryFields(h));
    plain->assign(reinterpret_cast<const char*>(payload.data()), payload.size());
  }
  std::string_view in(*plain);
  d.records.resize(h.record_count);
  for (uint32_t i = 0; i < h.record_count; ++i) {
    // The context is built only on error (it cost five allocations per record).
    if (Status s = DecodeRecord(&in, h.first_timestamp_us, &d.records[i]); !s.ok()) {
      return s.WithContext("record " + std::to_string(i) + " of batch at offset " +
                           std::to_string(h.base_offset));
    }
    d.records[i].offset = h.base_offset + i;
    if (d.records[i].timestamp_us > h.max_timestamp_us()) {
      return Status::Corruption("record timestamp past the batch maximum");
    }
  }
  if (!in.empty()) return Status::Corruption("trailing bytes after the last record");
  d.plain = std::move(plain);
  return d;
}

}  // namespace warbler::engine
