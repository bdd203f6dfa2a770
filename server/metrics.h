// Server metrics: lock-free counters and fixed-bucket latency histograms,
// rendered in the Prometheus text exposition format (version 0.0.4).
// Thread-safety: every method is thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "base/histogram.h"
#include "warbler/status.h"

namespace warbler::server {

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
  std::array<std::atomic<uint64_t>, kStatusCodeCount> errors_by_status{};  // indexed by StatusCode
  std::atomic<uint64_t> messages_appended{0};
  std::atomic<uint64_t> subscriptions_open{0};
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> worker_queue_depth{0};
  Histogram append_latency{kLatencyBuckets};
  Histogram read_latency{kLatencyBuckets};

  // Counts an error response with `code`'s status.
  void CountError(StatusCode code) {
    const auto i = static_cast<size_t>(code);
    errors_by_status[i < errors_by_status.size() ? i : static_cast<size_t>(StatusCode::kInternal)].fetch_add(1);
  }

  // Appends the server's metric families.
  void Render(std::string* out) const;
};

}  // namespace warbler::server
