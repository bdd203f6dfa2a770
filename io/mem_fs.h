// The in-memory backend ("mem"): a whole file system in one process, for fast
// tests. It passes the same contract suite as the real backends
// (tests/io/contract_test.cc), so code tested on it behaves the same on disk.
//
// Model:
//   - Directories are real: a file can only be created in an existing
//     directory, List returns sorted names, RemoveDir fails unless empty,
//     Rename replaces its target atomically (and refuses the cases rename(2)
//     refuses). Paths are split on '/'; "." is ignored and ".." goes up, so
//     "a/b" and "/a/b" name the same entry (there is one root, no cwd).
//   - A file is a byte vector owned by a shared_ptr: an open File keeps
//     reading and writing it after Remove or after being replaced by Rename,
//     exactly as an unlinked inode does.
//   - Every error has the Status code the POSIX backend gives for the same
//     situation (both go through ErrnoStatus with the errno rename(2),
//     open(2) … would set). One divergence: opening a directory fails with
//     InvalidArgument even read-only, where open(2) O_RDONLY succeeds.
//   - Nothing is ever lost: Sync and SyncDir only check their arguments. Use
//     the fault backend (io/fault_fs.h) over mem to simulate crashes.
//   - O_DIRECT is accepted and its alignment rules are checked all the same.
//   - A file may not grow past kMemFileMaxBytes (NoSpace), so a runaway test
//     fails instead of exhausting the machine's memory.
//
// Thread-safety: as FileSystem. One mutex guards the directory tree; each
// file's bytes have their own mutex, so I/O on different files runs in
// parallel. Files must be destroyed before the FileSystem that opened them.
#pragma once

#include <cstdint>
#include <memory>

#include "io/file_system.h"

namespace warbler::io {

// Largest size of one in-memory file.
inline constexpr uint64_t kMemFileMaxBytes = 1ull << 30;  // 1 GiB

std::unique_ptr<FileSystem> NewMemFileSystem();

}  // namespace warbler::io
