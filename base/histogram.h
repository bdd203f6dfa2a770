// Histogram: lock-free fixed-bucket histogram rendered in the Prometheus text
// exposition format (cumulative `_bucket{le=…}`, `_sum`, `_count`).
// Thread-safety: Observe and the readers may run concurrently from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace warbler {

class Histogram {
 public:
  // Upper bounds, ascending; a +Inf bucket is implied.
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);
  void ObserveNanos(uint64_t nanos) { Observe(static_cast<double>(nanos) / 1e9); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const;

  // Appends the `name_bucket`, `name_sum` and `name_count` lines (no HELP/TYPE).
  // `labels` is "" or `key="value",…` without braces.
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum in millionths of a unit
};

// Latency buckets, seconds: 50 µs .. 10 s.
inline constexpr double kLatencyBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                             0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                             0.5,     1.0,    2.5,     10.0};
// Count buckets (records per group and the like): 1 .. 65536.
inline constexpr double kCountBuckets[] = {1,   2,   4,    8,    16,   32,    64,
                                           128, 256, 1024, 4096, 8192, 16384, 65536};

// "# HELP name help\n# TYPE name type\n"
void AppendMetricHeader(const std::string& name, const char* type, const char* help, std::string* out);
// "name{labels} value\n"
void AppendMetricLine(const std::string& name, const std::string& labels, double value, std::string* out);

}  // namespace warbler
