#include "engine/conv/cix.h"

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"

namespace warbler::engine::cix {
namespace {

void Put32(std::string* out, uint32_t v) {
  std::byte b[4];
  EncodeFixed32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}
void Put64(std::string* out, uint64_t v) {
  std::byte b[8];
  EncodeFixed64(b, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}
void PutId(std::string* out, const ConvId& id) {
  Put64(out, id.lo);
  Put64(out, id.hi);
}
ConvId GetId(const std::byte* p) { return {DecodeFixed64(p), DecodeFixed64(p + 8)}; }

Status DecodeSection(std::span<const std::byte> in, uint64_t n, size_t entry_size,
                     const char* what, const std::function<void(const std::byte*)>& fn) {
  // The checksum is 8 bytes after the entries: never read it past the end.
  if (in.size() < 8 || n > (in.size() - 8) / entry_size) {
    return Status::Corruption(std::string("conversation index ") + what + " section is truncated");
  }
  const size_t bytes = n * entry_size;
  if (Checksum64(in.data(), bytes) != DecodeFixed64(in.data() + bytes)) {
    return Status::Corruption(std::string("conversation index ") + what + " section checksum mismatch");
  }
  for (uint64_t i = 0; i < n; ++i) fn(in.data() + i * entry_size);
  return Status::Ok();
}

}  // namespace

void EncodeHeader(const Header& h, std::string* out) {
  const size_t start = out->size();
  Put32(out, kMagic);
  out->push_back(static_cast<char>(kVersion & 0xff));
  out->push_back(static_cast<char>(kVersion >> 8));
  const uint16_t flags = h.has_directory ? 0 : kFlagNoDirectory;
  out->push_back(static_cast<char>(flags & 0xff));
  out->push_back(static_cast<char>(flags >> 8));
  Put32(out, h.partition);
  Put32(out, h.ordinal);
  Put64(out, h.segment_base);
  Put64(out, h.segment_next);
  Put64(out, h.runs_bytes);
  Put64(out, h.dir_count);
  Put64(out, h.dedup_count);
  Put64(out, Checksum64(out->data() + start, 56));
}

Status DecodeHeader(std::span<const std::byte> in, Header* h) {
  if (in.size() < kHeaderSize) return Status::Corruption("conversation index header is truncated");
  const std::byte* p = in.data();
  if (DecodeFixed32(p) != kMagic) return Status::Corruption("conversation index has a bad magic");
  if (Checksum64(p, 56) != DecodeFixed64(p + 56)) {
    return Status::Corruption("conversation index header checksum mismatch");
  }
  const uint16_t version = static_cast<uint16_t>(static_cast<uint8_t>(p[4]) | (static_cast<uint8_t>(p[5]) << 8));
  const uint16_t flags = static_cast<uint16_t>(static_cast<uint8_t>(p[6]) | (static_cast<uint8_t>(p[7]) << 8));
  if ((version != 1 && version != kVersion) || (version == 1 && flags != 0) ||
      (flags & ~kFlagNoDirectory) != 0) {
    return Status::NotSupported("conversation index version " + std::to_string(version) + " flags " +
                                std::to_string(flags));
  }
  h->has_directory = (flags & kFlagNoDirectory) == 0;
  h->partition = DecodeFixed32(p + 8);
  h->ordinal = DecodeFixed32(p + 12);
  h->segment_base = DecodeFixed64(p + 16);
  h->segment_next = DecodeFixed64(p + 24);
  h->runs_bytes = DecodeFixed64(p + 32);
  h->dir_count = DecodeFixed64(p + 40);
  h->dedup_count = DecodeFixed64(p + 48);
  if (h->runs_bytes % 8 != 0 || h->runs_bytes > (1ull << 40) || h->dir_count > (1ull << 36) ||
      h->dedup_count > (1ull << 36) || (!h->has_directory && h->dir_count != 0)) {
    return Status::Corruption("conversation index header has impossible sizes");
  }
  return Status::Ok();
}

size_t RunsEntrySize(size_t refs) { return kRunsEntryFixed + refs * kRefSize + 8; }

void AppendRunsEntry(const RunsEntry& e, std::string* out) {
  WB_ASSERT(out->size() % 8 == 0);
  const size_t start = out->size();
  PutId(out, e.id);
  Put64(out, e.first_seq);
  Put64(out, e.last_seq);
  Put64(out, e.last_ts);
  Put32(out, e.prev_ordinal);
  Put32(out, e.prev_pos8);
  Put32(out, static_cast<uint32_t>(e.refs.size()));
  Put32(out, 0);
  for (const BatchRef& r : e.refs) {
    Put64(out, r.first_seq);
    Put32(out, r.position);
    Put32(out, r.size);
  }
  Put64(out, Checksum64(out->data() + start, out->size() - start));
}

Result<uint32_t> PeekRefCount(std::span<const std::byte> in) {
  if (in.size() < kRunsEntryFixed) return Status::Corruption("conversation index entry is truncated");
  return DecodeFixed32(in.data() + 48);
}

Status DecodeRunsEntry(std::span<const std::byte> in, RunsEntry* e) {
  WB_ASSIGN_OR_RETURN(uint32_t n, PeekRefCount(in));
  const size_t size = RunsEntrySize(n);
  if (in.size() < size) return Status::Corruption("conversation index entry is truncated");
  const std::byte* p = in.data();
  if (Checksum64(p, size - 8) != DecodeFixed64(p + size - 8)) {
    return Status::Corruption("conversation index entry checksum mismatch");
  }
  e->id = GetId(p);
  e->first_seq = DecodeFixed64(p + 16);
  e->last_seq = DecodeFixed64(p + 24);
  e->last_ts = DecodeFixed64(p + 32);
  e->prev_ordinal = DecodeFixed32(p + 40);
  e->prev_pos8 = DecodeFixed32(p + 44);
  e->refs.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::byte* r = p + kRunsEntryFixed + i * kRefSize;
    e->refs[i] = {DecodeFixed64(r), DecodeFixed32(r + 8), DecodeFixed32(r + 12)};
  }
  if (n == 0 || e->first_seq == 0 || e->last_seq < e->first_seq || e->refs[0].first_seq != e->first_seq) {
    return Status::Corruption("conversation index entry is inconsistent");
  }
  return Status::Ok();
}

Status DecodeRunsSection(std::span<const std::byte> in,
                         const std::function<void(const RunsEntry&, uint32_t pos8)>& fn) {
  RunsEntry e;
  for (size_t at = 0; at < in.size();) {
    WB_RETURN_IF_ERROR(DecodeRunsEntry(in.subspan(at), &e));
    fn(e, static_cast<uint32_t>((kHeaderSize + at) / 8));
    at += RunsEntrySize(e.refs.size());
  }
  return Status::Ok();
}

void AppendDirEntry(const DirEntry& e, std::string* out) {
  PutId(out, e.id);
  Put64(out, e.last_seq);
  Put64(out, e.last_ts);
  Put32(out, e.ordinal);
  Put32(out, e.entry_pos8);
}

void AppendDedupEntry(const DedupEntry& e, std::string* out) {
  PutId(out, e.id);
  Put64(out, e.seq);
  Put64(out, e.ts);
  Put64(out, e.offset);
}

void AppendSectionChecksum(size_t from, std::string* out) {
  Put64(out, Checksum64(out->data() + from, out->size() - from));
}

Status DecodeDirSection(std::span<const std::byte> in, uint64_t n,
                        const std::function<void(const DirEntry&)>& fn) {
  return DecodeSection(in, n, kDirEntrySize, "directory", [&](const std::byte* p) {
    DirEntry e;
    e.id = GetId(p);
    e.last_seq = DecodeFixed64(p + 16);
    e.last_ts = DecodeFixed64(p + 24);
    e.ordinal = DecodeFixed32(p + 32);
    e.entry_pos8 = DecodeFixed32(p + 36);
    fn(e);
  });
}

Status DecodeDedupSection(std::span<const std::byte> in, uint64_t n,
                          const std::function<void(const DedupEntry&)>& fn) {
  return DecodeSection(in, n, kDedupEntrySize, "dedup", [&](const std::byte* p) {
    fn(DedupEntry{GetId(p), DecodeFixed64(p + 16), DecodeFixed64(p + 24), DecodeFixed64(p + 32)});
  });
}

}  // namespace warbler::engine::cix
