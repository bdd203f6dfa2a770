#include "engine/log/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/errno_status.h"
#include "base/limits.h"
#include "engine/format.h"
#include "engine/layout.h"

namespace warbler::engine {
namespace {

Status RandomUuid(StoreUuid* uuid) {
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open /dev/urandom");
  ssize_t n = ::read(fd, uuid->data(), uuid->size());
  ::close(fd);
  if (n != static_cast<ssize_t>(uuid->size())) return Status::IOError("short read of /dev/urandom");
  return Status::Ok();
}

}  // namespace

Status Log::CreateMeta(io::FileSystem* fs, const std::string& dir, uint32_t partitions,
                       StoreUuid* uuid) {
  WB_RETURN_IF_ERROR(RandomUuid(uuid));
  std::array<std::byte, format::kStoreMetaSize> meta{};
  EncodeFixed32(meta.data(), format::kStoreMagic);
  EncodeFixed16(meta.data() + 4, format::kFormatVersion);
  EncodeFixed32(meta.data() + 8, partitions);
  std::memcpy(meta.data() + 16, uuid->data(), uuid->size());
  EncodeFixed64(meta.data() + 56, Checksum64(meta.data(), 56));
  const std::string path = layout::StoreMetaPath(dir);
  return io::WriteFileAtomically(fs, path, layout::TempPath(path), meta, dir);
}

Status Log::ReadMeta(io::FileSystem* fs, const std::string& dir, uint32_t* partitions,
                     StoreUuid* uuid) {
  const std::string path = layout::StoreMetaPath(dir);
  io::OpenOptions ro;
  ro.read_only = true;
  WB_ASSIGN_OR_RETURN(auto f, fs->Open(path, ro));
  std::array<std::byte, format::kStoreMetaSize> meta{};
  WB_ASSIGN_OR_RETURN(size_t got, f->ReadAt(0, meta));
  if (got != meta.size() || DecodeFixed32(meta.data()) != format::kStoreMagic ||
      DecodeFixed64(meta.data() + 56) != Checksum64(meta.data(), 56)) {
    return Status::Corruption(path + ": not a valid Warbler STORE file");
  }
  if (DecodeFixed16(meta.data() + 4) != format::kFormatVersion) {
    return Status::NotSupported(path + ": store format version " +
                                std::to_string(DecodeFixed16(meta.data() + 4)));
  }
  *partitions = DecodeFixed32(meta.data() + 8);
  std::memcpy(uuid->data(), meta.data() + 16, uuid->size());
  return Status::Ok();
}

Result<std::unique_ptr<Log>> Log::Open(io::FileSystem* fs, const std::string& dir,
                                       const LogOpenOptions& options) {
  if (options.partitions < 1 || options.partitions > limits::kMaxPartitions) {
    return Status::InvalidArgument("partitions must be within 1 .. " +
                                   std::to_string(limits::kMaxPartitions));
  }
  const bool read_only = options.log.recovery == RecoveryMode::kReadOnly;
  if (!read_only) WB_RETURN_IF_ERROR(fs->CreateDirs(dir));
  std::unique_ptr<Log> log(new Log());
  if (!read_only) {
    WB_ASSIGN_OR_RETURN(log->lock_, fs->LockDir(dir));
  }
  WB_ASSIGN_OR_RETURN(bool exists, fs->Exists(layout::StoreMetaPath(dir)));
  uint32_t partitions = options.partitions;
  if (exists) {
    WB_RETURN_IF_ERROR(ReadMeta(fs, dir, &partitions, &log->uuid_));
    if (partitions != options.partitions) {
      return Status::InvalidArgument(dir + " was created with " + std::to_string(partitions) +
                                     " partitions, not " + std::to_string(options.partitions));
    }
  } else {
    if (!options.create_if_missing || read_only) {
      return Status::NotFound("no Warbler store in " + dir);
    }
    WB_RETURN_IF_ERROR(CreateMeta(fs, dir, partitions, &log->uuid_));
  }
  if (options.on_meta) WB_RETURN_IF_ERROR(options.on_meta(log->uuid_, !exists));
  // Partitions recover independently (each scans its own active segment and
  // rebuilds its own conversation state), so they open in parallel: open time
  // is the slowest partition's, not the sum.
  std::vector<LogOptions> part_options(partitions, options.log);
  for (uint32_t p = 0; p < partitions; ++p) {
    if (options.hook_for) part_options[p].hook = options.hook_for(p);
    if (options.customize) options.customize(p, &part_options[p]);
  }
  std::vector<std::optional<Result<std::unique_ptr<PartitionLog>>>> opened(partitions);
  const uint32_t threads = std::max(1u, std::min(partitions, std::thread::hardware_concurrency()));
  std::atomic<uint32_t> next{0};
  std::vector<std::thread> workers;
  for (uint32_t t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint32_t p = next.fetch_add(1); p < partitions; p = next.fetch_add(1)) {
        opened[p].emplace(PartitionLog::Open(fs, layout::PartitionDir(dir, p), p, log->uuid_, part_options[p]));
      }
    });
  }
  for (auto& w : workers) w.join();
  for (uint32_t p = 0; p < partitions; ++p) {
    if (!opened[p]->ok()) return opened[p]->status();
    log->partitions_.push_back(std::move(**opened[p]));
  }
  if (!read_only) WB_RETURN_IF_ERROR(fs->SyncDir(dir));
  return log;
}

Log::~Log() { (void)Close(); }

Status Log::Close() {
  Status first;
  for (auto& p : partitions_) {
    Status s = p->Close();
    if (first.ok() && !s.ok()) first = s;
  }
  lock_.reset();
  return first;
}

}  // namespace warbler::engine
