#include "engine/log/committed_mark.h"

#include <array>

#include "base/checksum.h"
#include "base/coding.h"
#include "engine/format.h"

namespace warbler::engine {
namespace {

constexpr size_t kSlot = format::kCommittedSlotSize;

bool DecodeSlot(const std::byte* p, uint64_t* generation, uint64_t* offset) {
  if (DecodeFixed32(p) != format::kCommittedMagic || DecodeFixed32(p + 4) != 1) return false;
  if (DecodeFixed64(p + 24) != Checksum64(p, 24)) return false;
  *generation = DecodeFixed64(p + 8);
  *offset = DecodeFixed64(p + 16);
  return true;
}

}  // namespace

Result<std::unique_ptr<CommittedMark>> CommittedMark::Open(io::FileSystem* fs,
                                                           const std::string& path,
                                                           bool read_only) {
  io::OpenOptions opts;
  opts.create = !read_only;
  opts.read_only = read_only;
  auto file = fs->Open(path, opts);
  if (!file.ok()) {
    if (read_only && file.status().code() == StatusCode::kNotFound) {
      return std::make_unique<CommittedMark>(nullptr, 0, 0);
    }
    return file.status();
  }
  std::array<std::byte, 2 * kSlot> buf{};
  WB_ASSIGN_OR_RETURN(size_t got, (*file)->ReadAt(0, buf));
  uint64_t best_gen = 0, best_value = 0;
  for (size_t slot = 0; slot < 2; ++slot) {
    uint64_t gen, value;
    if ((slot + 1) * kSlot <= got && DecodeSlot(buf.data() + slot * kSlot, &gen, &value) &&
        gen >= best_gen) {
      best_gen = gen;
      best_value = value;
    }
  }
  return std::make_unique<CommittedMark>(std::move(*file), best_value, best_gen);
}

Status CommittedMark::Store(uint64_t offset) {
  std::lock_guard lock(mu_);
  if (file_ == nullptr) return Status::FailedPrecondition("committed mark opened read-only");
  const uint64_t gen = generation_ + 1;
  std::array<std::byte, kSlot> slot{};
  EncodeFixed32(slot.data(), format::kCommittedMagic);
  EncodeFixed32(slot.data() + 4, 1);
  EncodeFixed64(slot.data() + 8, gen);
  EncodeFixed64(slot.data() + 16, offset);
  EncodeFixed64(slot.data() + 24, Checksum64(slot.data(), 24));
  io::IoOp ops[2] = {io::IoOp::Write(file_.get(), (gen % 2) * kSlot, slot),
                     io::IoOp::Sync(file_.get())};
  WB_RETURN_IF_ERROR(file_->fs()->Submit(ops));
  generation_ = gen;
  value_.store(offset, std::memory_order_release);
  return Status::Ok();
}

}  // namespace warbler::engine
