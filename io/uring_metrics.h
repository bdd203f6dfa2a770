// Counters of the io_uring backend, kept beside the data path (each ring
// counts for itself; UringFileSystem::metrics sums every ring it created,
// the pooled ones and those of its IoQueues).
// Thread-safety: a plain value; owners synchronize.
#pragma once

#include <cstdint>

namespace warbler::io {

struct UringMetrics {
  uint64_t submissions = 0;      // io_uring_enter calls that submitted SQEs
  uint64_t sqes = 0;             // SQEs queued (first issues and resubmissions)
  uint64_t short_transfers = 0;  // reads/writes that moved fewer bytes than asked, not EOF
  uint64_t canceled = 0;         // -ECANCELED completions (a broken link), later resubmitted
  uint64_t retries = 0;          // EINTR/EAGAIN completions, later resubmitted

  UringMetrics& operator+=(const UringMetrics& o) {
    submissions += o.submissions;
    sqes += o.sqes;
    short_transfers += o.short_transfers;
    canceled += o.canceled;
    retries += o.retries;
    return *this;
  }
};

}  // namespace warbler::io
