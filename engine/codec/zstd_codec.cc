#include "engine/codec/zstd_codec.h"

#include "engine/codec/zstd_context.h"


#include <memory>

namespace warbler::engine::codec {
namespace {

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

ZSTD_CCtx* ThreadCompressionContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, CctxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}

ZSTD_DCtx* ThreadDecompressionContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

Status ZstdCompress(std::span<const std::byte> in, int level, std::string* out) {
  ZSTD_CCtx* cctx = ThreadCompressionContext();
  if (cctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
  const size_t bound = ZSTD_compressBound(in.size());
  const size_t old = out->size();
  out->resize(old + bound);
  size_t n = ZSTD_compressCCtx(cctx, out->data() + old, bound, in.data(), in.size(), level);
  if (ZSTD_isError(n)) {
    out->resize(old);
    return Status::IOError(std::string("zstd compress: ") + ZSTD_getErrorName(n));
  }
  out->resize(old + n);
  return Status::Ok();
}

Status ZstdDecompress(std::span<const std::byte> in, size_t max_out, std::string* out) {
  unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status::Corruption("zstd frame without a valid content size");
  }
  if (size > max_out) {
    return Status::Corruption("zstd frame claims " + std::to_string(size) + " bytes, over the " +
                              std::to_string(max_out) + " byte limit");
  }
  ZSTD_DCtx* dctx = ThreadDecompressionContext();
  if (dctx == nullptr) return Status::ResourceExhausted("zstd: cannot allocate a context");
  out->resize(size);
  size_t n = ZSTD_decompressDCtx(dctx, out->data(), out->size(), in.data(), in.size());
  if (ZSTD_isError(n)) {
    return Status::Corruption(std::string("zstd decompress: ") + ZSTD_getErrorName(n));
  }
  if (n != size) return Status::Corruption("zstd frame shorter than its content size");
  return Status::Ok();
}

}  // namespace warbler::engine::codec
