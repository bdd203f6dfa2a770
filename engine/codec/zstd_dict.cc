#include "engine/codec/zstd_dict.h"

#include <zdict.h>
#include <zstd.h>

#include <vector>

#include "engine/codec/zstd_context.h"

namespace warbler::engine::codec {

struct ZstdDictionary::Digested {
  ZSTD_CDict* cdict = nullptr;
  ZSTD_DDict* ddict = nullptr;
  ~Digested() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeDDict(ddict);
  }
};

Result<std::string> TrainDictionary(std::span<const std::string> samples, size_t capacity_bytes) {
  std::string joined;
  std::vector<size_t> sizes;
  sizes.reserve(samples.size());
  for (const std::string& s : samples) {
    joined += s;
    sizes.push_back(s.size());
  }
  std::string dict(capacity_bytes, '\0');
  const size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                         static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) {
    return Status::InvalidArgument(std::string("zstd dictionary training: ") +
                                   ZDICT_getErrorName(n) + " (" + std::to_string(samples.size()) +
                                   " samples, " + std::to_string(joined.size()) + " bytes)");
  }
  dict.resize(n);
  return dict;
}

ZstdDictionary::ZstdDictionary(std::string bytes, uint32_t id, std::unique_ptr<Digested> d)
    : bytes_(std::move(bytes)), id_(id), digested_(std::move(d)) {}

ZstdDictionary::~ZstdDictionary() = default;

Result<std::unique_ptr<ZstdDictionary>> ZstdDictionary::Load(std::string bytes, int level) {
  const uint32_t id = ZDICT_getDictID(bytes.data(), bytes.size());
  if (id == 0) return Status::InvalidArgument("not a zstd dictionary (no dictionary id)");
  auto d = std::make_unique<Digested>();
  d->cdict = ZSTD_createCDict(bytes.data(), bytes.size(), level);
  d->ddict = ZSTD_createDDict(bytes.data(), bytes.size());
  if (d->cdict == nullptr || d->ddict == nullptr) {
    return Status::InvalidArgument("zstd could not load the dictionary");
  }
  return std::unique_ptr<ZstdDictionary>(new ZstdDictionary(std::move(bytes), id, std::move(d)));
}

size_t ZstdDictionary::memory_bytes() const {
  return bytes_.size() + ZSTD_sizeof_CDict(digested_->cdict) + ZSTD_sizeof_DDict(digested_->ddict);
}

Status ZstdDictionary::Compress(std::span<const std::byte> in, std::string* out) const {
  ZSTD_CCtx* cctx = ThreadCompressionContext();
  if (cctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
  const size_t bound = ZSTD_compressBound(in.size());
  const size_t old = out->size();
  out->resize(old + bound);
  const size_t n = ZSTD_compress_usingCDict(cctx, out->data() + old, bound, in.data(), in.size(),
                                            digested_->cdict);
  if (ZSTD_isError(n)) {
    out->resize(old);
    return Status::IOError(std::string("zstd compress: ") + ZSTD_getErrorName(n));
  }
  out->resize(old + n);
  return Status::Ok();
}

Status ZstdDictionary::Decompress(std::span<const std::byte> in, size_t max_out,
                                  std::string* out) const {
  const unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("zstd frame without a valid content size");
  }
  if (size > max_out) {
    return Status::Corruption("zstd frame claims " + std::to_string(size) + " bytes, over the " +
                              std::to_string(max_out) + " byte limit");
  }
  const unsigned frame_dict = ZSTD_getDictID_fromFrame(in.data(), in.size());
  if (frame_dict != id_) {
    return Status::Corruption("zstd frame needs dictionary " + std::to_string(frame_dict) +
                              ", not " + std::to_string(id_));
  }
  ZSTD_DCtx* dctx = ThreadDecompressionContext();
  if (dctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
  out->resize(size);
  const size_t n = ZSTD_decompress_usingDDict(dctx, out->data(), out->size(), in.data(), in.size(),
                                              digested_->ddict);
  if (ZSTD_isError(n)) {
    return Status::Corruption(std::string("zstd decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != size) return Status::Corruption("zstd frame shorter than its content size");
  return Status::Ok();
}

}  // namespace warbler::engine::codec
