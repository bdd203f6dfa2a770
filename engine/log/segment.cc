#include "engine/log/segment.h"

#include <algorithm>
#include <cstring>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/limits.h"
#include "engine/layout.h"

namespace warbler::engine {
namespace {

using format::kBatchHeaderSize;
using format::kSegmentHeaderSize;

constexpr size_t kScanWindowBytes = 4u << 20;

// A sliding read window over a file, so a scan does one large read per
// window instead of one per batch. Reads never go past `file_size`.
class WindowReader {
 public:
  WindowReader(io::File* file, uint64_t file_size) : file_(file), file_size_(file_size) {}

  // Makes [pos, pos+len) available; REQUIRES pos + len <= file_size.
  Result<const std::byte*> Get(uint64_t pos, size_t len) {
    if (pos < start_ || pos + len > start_ + buf_.size()) {
      const size_t want =
          static_cast<size_t>(std::min<uint64_t>(std::max(len, kScanWindowBytes), file_size_ - pos));
      buf_.resize(want);
      WB_ASSIGN_OR_RETURN(size_t got, file_->ReadAt(pos, buf_));
      if (got < len) return Status::Corruption(file_->path() + ": file shrank during scan");
      buf_.resize(got);
      start_ = pos;
    }
    return buf_.data() + (pos - start_);
  }

 private:
  io::File* file_;
  uint64_t file_size_;
  uint64_t start_ = 0;
  std::vector<std::byte> buf_;
};

std::string At(const std::string& path, uint64_t pos) {
  return path + " at position " + std::to_string(pos);
}

}  // namespace

std::array<std::byte, kSegmentHeaderSize> Segment::EncodeHeader(const SegmentMeta& meta) {
  std::array<std::byte, kSegmentHeaderSize> h{};
  std::byte* p = h.data();
  EncodeFixed32(p, format::kSegmentMagic);
  EncodeFixed16(p + 4, format::kFormatVersion);
  EncodeFixed32(p + 8, meta.partition);
  EncodeFixed64(p + 16, meta.base_offset);
  EncodeFixed64(p + 24, meta.created_wall_us);
  std::memcpy(p + 32, meta.store_uuid.data(), meta.store_uuid.size());
  EncodeFixed64(p + format::kSegmentHeaderChecksumOffset,
                Checksum64(p, format::kSegmentHeaderChecksumOffset));
  return h;
}

Status Segment::DecodeHeader(std::span<const std::byte> in, SegmentMeta* meta) {
  if (in.size() < kSegmentHeaderSize) return Status::Corruption("segment header truncated");
  const std::byte* p = in.data();
  if (DecodeFixed32(p) != format::kSegmentMagic) return Status::Corruption("bad segment magic");
  if (DecodeFixed64(p + format::kSegmentHeaderChecksumOffset) !=
      Checksum64(p, format::kSegmentHeaderChecksumOffset)) {
    return Status::Corruption("segment header checksum mismatch");
  }
  uint16_t version = DecodeFixed16(p + 4);
  if (version != format::kFormatVersion) {
    return Status::NotSupported("segment format version " + std::to_string(version));
  }
  meta->partition = DecodeFixed32(p + 8);
  meta->base_offset = DecodeFixed64(p + 16);
  meta->created_wall_us = DecodeFixed64(p + 24);
  std::memcpy(meta->store_uuid.data(), p + 32, meta->store_uuid.size());
  return Status::Ok();
}

Result<std::unique_ptr<io::File>> Segment::CreateSpace(io::FileSystem* fs, const std::string& path,
                                                        uint64_t segment_bytes, Preallocate prealloc,
                                                        const std::atomic<bool>* cancel) {
  io::OpenOptions opts;
  opts.create = true;
  opts.exclusive = true;
  WB_ASSIGN_OR_RETURN(auto file, fs->Open(path, opts));
  Status s;
  if (prealloc == Preallocate::kFallocate) {
    s = file->Allocate(0, segment_bytes, /*keep_size=*/false);
  } else if (prealloc == Preallocate::kZeroFill) {
    for (uint64_t pos = 0; s.ok() && pos < segment_bytes; pos += kZeroFillChunkBytes) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
        s = Status::Aborted("preparing " + path + ": cancelled");
        break;
      }
      s = io::WriteZeros(file.get(), pos, std::min(segment_bytes, pos + kZeroFillChunkBytes));
      if (s.ok()) s = file->Sync();
    }
  }
  if (s.ok() && prealloc != Preallocate::kZeroFill) s = file->Sync();
  if (!s.ok()) {
    (void)file->Close();
    (void)fs->Remove(path);
    return s;
  }
  return file;
}

Result<std::shared_ptr<Segment>> Segment::Create(io::FileSystem* fs, const std::string& path,
                                                 const SegmentMeta& meta, uint64_t segment_bytes,
                                                 Preallocate prealloc, uint32_t index_interval) {
  // Made under a temp name and installed like a prepared file: a segment
  // name never exists without a durable header, whoever syncs the directory
  // meanwhile (a seal thread writing a .cix, the preparer).
  const std::string tmp = layout::TempPath(path);
  (void)fs->Remove(tmp);  // a leftover of a failed attempt
  WB_ASSIGN_OR_RETURN(auto space, CreateSpace(fs, tmp, segment_bytes, prealloc));
  return Install(fs, std::move(space), path, meta, index_interval);
}

Result<std::shared_ptr<Segment>> Segment::Install(io::FileSystem* fs, std::unique_ptr<io::File> space,
                                                  const std::string& path, const SegmentMeta& meta,
                                                  uint32_t index_interval) {
  const std::string from = space->path();
  auto header = EncodeHeader(meta);
  io::IoOp ops[2] = {io::IoOp::Write(space.get(), 0, header), io::IoOp::Sync(space.get())};
  // The header is durable before the file has a segment name, so a crash can
  // never show a segment without one.
  Status s = fs->Submit(ops);
  if (s.ok()) s = space->Close();
  if (s.ok()) s = fs->Rename(from, path);
  if (!s.ok()) {
    (void)space->Close();
    (void)fs->Remove(from);
    return s;
  }
  // Reopened under its final name, so file()->path() names the segment.
  auto file = fs->Open(path, io::OpenOptions{.random_access = true});
  if (!file.ok()) {
    (void)fs->Remove(path);
    return file.status();
  }
  return std::make_shared<Segment>(path, meta, std::move(*file), index_interval);
}

Result<std::shared_ptr<Segment>> Segment::Open(io::FileSystem* fs, const std::string& path,
                                               const SegmentMeta& expect, bool read_only,
                                               uint32_t index_interval) {
  io::OpenOptions opts;
  opts.read_only = read_only;
  opts.random_access = true;  // history reads fetch single batches
  WB_ASSIGN_OR_RETURN(auto file, fs->Open(path, opts));
  std::array<std::byte, kSegmentHeaderSize> buf{};
  WB_ASSIGN_OR_RETURN(size_t got, file->ReadAt(0, buf));
  SegmentMeta meta;
  Status s = got < buf.size() ? Status::Corruption("segment header truncated")
                              : DecodeHeader(buf, &meta);
  if (!s.ok()) return s.WithContext(path);
  if (meta.partition != expect.partition || meta.base_offset != expect.base_offset) {
    return Status::Corruption(path + ": header names partition " + std::to_string(meta.partition) +
                              " base offset " + std::to_string(meta.base_offset) +
                              ", file name and directory disagree");
  }
  if (meta.store_uuid != expect.store_uuid) {
    return Status::Corruption(path + ": segment belongs to another store (uuid mismatch)");
  }
  return std::make_shared<Segment>(path, meta, std::move(file), index_interval);
}

Result<ScanResult> Segment::Scan(
    const std::function<void(const BatchHeader&, uint64_t)>& on_batch, uint64_t tail_scan_bytes) {
  WB_ASSIGN_OR_RETURN(uint64_t file_size, file_->Size());
  WindowReader reader(file_.get(), file_size);
  ScanResult r;
  r.next_offset = meta_.base_offset;
  uint64_t pos = kSegmentHeaderSize;
  while (true) {
    r.data_end = pos;
    r.dirty_end = pos;
    if (pos == file_size) return r;
    if (pos + kBatchHeaderSize > file_size) break;
    WB_ASSIGN_OR_RETURN(const std::byte* hp, reader.Get(pos, kBatchHeaderSize));
    BatchHeader h;
    Status hs = DecodeBatchHeader({hp, kBatchHeaderSize}, &h);
    if (hs.code() == StatusCode::kNotSupported) {
      r.damage = hs.WithContext(At(path_, pos));
      r.damage_position = pos;
      return r;
    }
    if (!hs.ok() || h.base_offset != r.next_offset || pos + h.total_size() > file_size) break;
    WB_ASSIGN_OR_RETURN(const std::byte* bp, reader.Get(pos, h.total_size()));
    if (ComputeBatchChecksum({bp, kBatchHeaderSize}, {bp + kBatchHeaderSize, h.payload_len}) !=
        h.checksum) {
      break;
    }
    on_batch(h, pos);
    r.next_offset = h.next_offset();
    r.last_term = h.term;
    r.last_timestamp_us = h.max_timestamp_us();
    pos += h.total_size();
  }
  const uint64_t scan_end = tail_scan_bytes >= file_size - pos ? file_size : pos + tail_scan_bytes;
  WB_RETURN_IF_ERROR(ClassifyTail(pos, r.next_offset, scan_end, &r));
  return r;
}

Status Segment::ClassifyTail(uint64_t bad_pos, uint64_t expected, uint64_t file_size,
                             ScanResult* result) {
  WindowReader reader(file_.get(), file_size);
  const uint8_t m0 = format::kBatchMagic & 0xff;
  for (uint64_t chunk = bad_pos; chunk < file_size; chunk += kScanWindowBytes) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kScanWindowBytes, file_size - chunk));
    WB_ASSIGN_OR_RETURN(const std::byte* p, reader.Get(chunk, n));
    for (size_t i = n; i > 0; --i) {
      if (p[i - 1] != std::byte{0}) {
        result->dirty_end = std::max(result->dirty_end, chunk + i);
        break;
      }
    }
    for (size_t i = (chunk == bad_pos ? 1 : 0); i < n; ++i) {
      const void* hit = std::memchr(p + i, m0, n - i);
      if (hit == nullptr) break;
      i = static_cast<size_t>(static_cast<const std::byte*>(hit) - p);
      const uint64_t cand = chunk + i;
      if (cand + kBatchHeaderSize > file_size) break;
      std::array<std::byte, kBatchHeaderSize> hb;
      WB_ASSIGN_OR_RETURN(size_t got, file_->ReadAt(cand, hb));
      BatchHeader h;
      if (got < hb.size() || !DecodeBatchHeader(hb, &h).ok() || h.base_offset < expected ||
          cand + h.total_size() > file_size) {
        continue;
      }
      std::string whole(h.total_size(), '\0');
      auto wb = std::span(reinterpret_cast<std::byte*>(whole.data()), whole.size());
      WB_ASSIGN_OR_RETURN(got, file_->ReadAt(cand, wb));
      if (got == whole.size() && ComputeBatchChecksum(wb.first(kBatchHeaderSize),
                                                      wb.subspan(kBatchHeaderSize)) == h.checksum) {
        result->damage = Status::Corruption(
            At(path_, bad_pos) + ": damaged batch followed by a valid batch (offset " +
            std::to_string(h.base_offset) + " at position " + std::to_string(cand) +
            "); refusing to truncate acknowledged data");
        result->damage_position = bad_pos;
        return Status::Ok();
      }
    }
  }
  return Status::Ok();
}

Status Segment::ReadBatches(uint64_t start, uint64_t end, uint64_t from_offset,
                            uint64_t limit_offset, size_t max_bytes,
                            std::vector<std::string>* out) {
  WindowReader reader(file_.get(), end);
  size_t bytes = 0;
  uint64_t pos = start;
  const size_t first_out = out->size();
  while (pos + kBatchHeaderSize <= end) {
    WB_ASSIGN_OR_RETURN(const std::byte* hp, reader.Get(pos, kBatchHeaderSize));
    BatchHeader h;
    if (Status s = DecodeBatchHeader({hp, kBatchHeaderSize}, &h); !s.ok()) {
      return s.WithContext(At(path_, pos));
    }
    if (h.base_offset >= limit_offset) break;
    if (pos + h.total_size() > end) {
      return Status::Corruption(At(path_, pos) + ": batch runs past the readable end");
    }
    if (h.next_offset() > from_offset) {
      WB_ASSIGN_OR_RETURN(const std::byte* bp, reader.Get(pos, h.total_size()));
      out->emplace_back(reinterpret_cast<const char*>(bp), h.total_size());
      bytes += h.total_size();
      if (bytes >= max_bytes && out->size() > first_out) break;
    }
    pos += h.total_size();
  }
  return Status::Ok();
}

}  // namespace warbler::engine

namespace warbler::engine {

Result<uint64_t> Segment::FindBatchPosition(uint64_t offset, uint64_t start, uint64_t end,
                                            uint64_t* prev_term) {
  *prev_term = 0;
  uint64_t pos = start;
  while (pos < end) {
    std::array<std::byte, format::kBatchHeaderSize> hb;
    WB_ASSIGN_OR_RETURN(size_t got, file_->ReadAt(pos, hb));
    BatchHeader h;
    Status s = got < hb.size() ? Status::Corruption("batch header truncated")
                               : DecodeBatchHeader(hb, &h);
    if (!s.ok()) return s.WithContext(path_ + " at position " + std::to_string(pos));
    if (h.base_offset == offset) return pos;
    if (h.base_offset > offset || h.next_offset() > offset) break;
    *prev_term = h.term;
    pos += h.total_size();
  }
  if (pos == end && offset == next_offset) return pos;
  return Status::InvalidArgument("offset " + std::to_string(offset) +
                                 " is not a batch boundary in " + path_);
}

}  // namespace warbler::engine
