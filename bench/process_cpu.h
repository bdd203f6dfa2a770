// ProcessCpuUs: the CPU time of the whole process — user + system, every
// thread (io_uring's io-wq workers are threads of the process) — in µs.
// Shared by the bench drivers' "cpu us/op" columns.
#pragma once

#include <sys/resource.h>

namespace warbler::bench {

inline double ProcessCpuUs() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

}  // namespace warbler::bench
