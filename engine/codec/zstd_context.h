// Per-thread zstd contexts, shared by the plain codec (zstd_codec.cc) and the
// dictionary code (zstd_dict.cc). Sharing is safe: both use zstd's one-shot
// calls (ZSTD_compressCCtx, ZSTD_compress_usingCDict, ZSTD_decompressDCtx,
// ZSTD_decompress_usingDDict), which reset every sticky parameter. Internal to
// engine/codec/ (the only place that includes zstd, scripts/check_layers).
#pragma once

#include <zstd.h>

namespace warbler::engine::codec {

// nullptr when zstd cannot allocate; freed when the thread exits.
ZSTD_CCtx* ThreadCompressionContext();
ZSTD_DCtx* ThreadDecompressionContext();

}  // namespace warbler::engine::codec
