// ProcessCpuUs: the CPU time of the whole process — user + system, every
// thread (io_uring's io-wq workers are threads of the process) — in µs.
// Shared by the bench drivers' "cpu us/op" columns (and sync_probe's
// context switches).
#pragma once

#include <sys/resource.h>

namespace warbler::bench {

struct ProcessUsage {
  double cpu_us = 0;  // user + system, every thread
  long switches = 0;  // voluntary + involuntary context switches
};

inline ProcessUsage SampleProcess() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return {us(ru.ru_utime) + us(ru.ru_stime), ru.ru_nvcsw + ru.ru_nivcsw};
}

inline double ProcessCpuUs() { return SampleProcess().cpu_us; }

}  // namespace warbler::bench
