#include "engine/log/segment_preparer.h"

#include "base/log.h"

namespace warbler::engine {

SegmentPreparer::SegmentPreparer(io::FileSystem* fs, std::string path, Preallocate prealloc)
    : fs_(fs), path_(std::move(path)), prealloc_(prealloc) {}

SegmentPreparer::~SegmentPreparer() { Discard(); }

void SegmentPreparer::Start(uint64_t bytes) {
  if (started()) return;
  bytes_ = bytes;
  done_.store(false);
  cancel_.store(false);
  thread_ = std::thread([this] {
    // A leftover of an earlier failed attempt would make the exclusive create fail.
    (void)fs_->Remove(path_);
    result_ = Segment::CreateSpace(fs_, path_, bytes_, prealloc_, &cancel_);
    done_.store(true, std::memory_order_release);
  });
}

void SegmentPreparer::Join() {
  thread_.join();
  if (result_.ok()) {
    file_ = std::move(*result_);
  } else if (result_.status().code() != StatusCode::kAborted) {
    WB_LOG(kWarn, "segment_prepare_failed")
        .Kv("path", path_)
        .Kv("error", result_.status().ToString());
  }
  result_ = Status::Aborted("not prepared");
}

std::unique_ptr<io::File> SegmentPreparer::TakeReady() {
  if (thread_.joinable() && done_.load(std::memory_order_acquire)) Join();
  return std::move(file_);
}

void SegmentPreparer::Discard() {
  if (thread_.joinable()) {
    cancel_.store(true);
    Join();
  }
  if (file_ != nullptr) {
    (void)file_->Close();
    file_.reset();
    (void)fs_->Remove(path_);
  }
}

}  // namespace warbler::engine
