// SegmentPreparer: creates the next segment file of a partition in the
// background, so that a roll only writes the header, renames the file into
// place and syncs the directory, instead of creating and preallocating it —
// for Preallocate::kZeroFill, writing the whole segment — on the writer thread.
//
// Crash safety. The space is prepared under layout::PreparedSegmentPath, a
// temp name that recovery removes, so a prepared-but-unused file (complete,
// or cut short by a crash) is never taken for a segment. It has no header
// until the roll (the base offset is not known before); Segment::Install
// writes and syncs the header *before* the rename, and the roll syncs the
// directory before the first append into the segment can be acknowledged.
// The temp name itself is never made durable: nothing depends on it.
//
// Ownership and threads: one per PartitionLog, driven by its writer thread
// only (not thread-safe); each preparation runs on a short-lived thread of
// its own, so an idle partition holds no thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
#include "engine/log/segment.h"
#include "io/file_system.h"

namespace warbler::engine {

class SegmentPreparer {
 public:
  SegmentPreparer(io::FileSystem* fs, std::string path, Preallocate prealloc);
  // Cancels a preparation in progress and removes the file (Discard).
  ~SegmentPreparer();
  SegmentPreparer(const SegmentPreparer&) = delete;
  SegmentPreparer& operator=(const SegmentPreparer&) = delete;

  // Starts preparing a file of `bytes` unless one is ready or being
  // prepared. Never blocks.
  void Start(uint64_t bytes);
  // True from Start until the file is taken or discarded.
  bool started() const { return thread_.joinable() || file_ != nullptr; }
  // The prepared file if its preparation has finished OK; nullptr if none was
  // started, it is still running (never waits), or it failed (logged; the
  // next Start tries again).
  std::unique_ptr<io::File> TakeReady();
  // Cancels and waits for a preparation in progress; removes the file.
  void Discard();
  // The size of the file TakeReady returned (what the last Start asked for).
  uint64_t bytes() const { return bytes_; }

  const std::string& path() const { return path_; }

 private:
  // Collects a finished preparation into file_. REQUIRES: done_.
  void Join();

  io::FileSystem* const fs_;
  const std::string path_;
  const Preallocate prealloc_;
  uint64_t bytes_ = 0;

  std::thread thread_;
  std::atomic<bool> done_{false};  // the thread has set result_
  std::atomic<bool> cancel_{false};
  Result<std::unique_ptr<io::File>> result_{Status::Aborted("not prepared")};  // set by the thread
  std::unique_ptr<io::File> file_;  // a finished, unused preparation
};

}  // namespace warbler::engine
