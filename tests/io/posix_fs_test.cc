// What only the kernel-backed backends (POSIX, and io_uring, which opens its
// files the same way) do beyond the shared contract: OpenOptions::random_access
// switches the kernel's readahead off for the file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/coding.h"
#include "io/posix_fs.h"
#include "tests/io/uring_test_util.h"

namespace warbler::io {
namespace {

using testing_util::ScratchDir;

constexpr size_t kPage = 4096;
constexpr size_t kFileBytes = 4u << 20;

// Pages of `path` in the page cache (mincore over a mapping of the file).
size_t ResidentPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SIZE_MAX;
  void* map = ::mmap(nullptr, kFileBytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  std::vector<unsigned char> vec(kFileBytes / kPage);
  size_t n = SIZE_MAX;
  if (::mincore(map, kFileBytes, vec.data()) == 0) {
    n = 0;
    for (unsigned char v : vec) n += v & 1;
  }
  ::munmap(map, kFileBytes);
  return n;
}

// Drops the (clean) pages of `path` from the page cache.
void Evict(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
}

// Pages in the cache after two 512-byte reads of the evicted file: at its
// start (where the kernel opens a readahead window, as for a segment's
// header) and right after it (which it takes for a sequential stream, as
// when two readers of one descriptor fetch neighbouring entries).
size_t PagesAfterTwoSmallReads(PosixFileSystem* fs, const std::string& path, bool random_access) {
  Evict(path);
  if (ResidentPages(path) != 0) return SIZE_MAX;  // cannot evict here (e.g. tmpfs)
  auto f = fs->Open(path, {.read_only = true, .random_access = random_access});
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  if (!f.ok()) return SIZE_MAX;
  for (uint64_t offset : {uint64_t{0}, uint64_t{kPage}}) {
    std::string buf(512, '\0');
    auto got = (*f)->ReadAt(offset, {reinterpret_cast<std::byte*>(buf.data()), buf.size()});
    EXPECT_TRUE(got.ok() && *got == buf.size());
    EXPECT_EQ(buf, std::string(512, 'r'));
  }
  return ResidentPages(path);
}

// A synced file of kFileBytes, so its pages are clean and can be evicted.
void WriteFile(PosixFileSystem* fs, const std::string& path) {
  auto f = fs->Open(path, {.create = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const std::string data(kFileBytes, 'r');
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes(data)).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

TEST(PosixFsTest, RandomAccessReadsOnlyThePagesAsked) {
  ScratchDir dir;
  PosixFileSystem fs;
  // Two files, so that nothing one read leaves behind (an async readahead
  // still in flight) shows up in the other's count.
  const std::string random_path = dir.File("random"), plain_path = dir.File("plain");
  WriteFile(&fs, random_path);
  WriteFile(&fs, plain_path);
  const size_t random = PagesAfterTwoSmallReads(&fs, random_path, true);
  const size_t plain = PagesAfterTwoSmallReads(&fs, plain_path, false);
  if (plain == SIZE_MAX || random == SIZE_MAX) GTEST_SKIP() << "the page cache cannot be observed here";
  EXPECT_EQ(random, 2u);
  // Without the hint the kernel reads ahead, unless this disk's readahead is off.
  RecordProperty("pages_read_without_hint", static_cast<int>(plain));
  EXPECT_GE(plain, random);
}

}  // namespace
}  // namespace warbler::io
