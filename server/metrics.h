// Server metrics: lock-free counters and fixed-bucket latency histograms,
// rendered in the Prometheus text exposition format (version 0.0.4).
// Thread-safety: every method is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace warbler::server {

// Latency histogram with fixed buckets from 50 µs to 10 s.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBoundsSeconds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};
  void Observe(uint64_t nanos);
  // Appends `name_bucket{le=…}`, `name_sum` and `name_count` lines.
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBoundsSeconds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_nanos_{0};
  std::atomic<uint64_t> count_{0};
};

// Request kinds counted separately.
enum class Op : uint8_t { kAppend, kAppendBatch, kRead, kInfo, kPing, kSubscribe, kOther, kCount };
const char* OpName(Op op);

struct ServerMetrics {
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected{0};  // over max_connections
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> backpressure_pauses{0};  // times a connection stopped being read
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Op::kCount)> requests{};
  std::array<std::atomic<uint64_t>, 19> errors_by_status{};  // indexed by StatusCode
  std::atomic<uint64_t> messages_appended{0};
  std::atomic<uint64_t> subscriptions_open{0};
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> worker_queue_depth{0};
  Histogram append_latency;
  Histogram read_latency;

  // Appends the server's metric families.
  void Render(std::string* out) const;
};

}  // namespace warbler::server
