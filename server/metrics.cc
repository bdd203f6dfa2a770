#include "server/metrics.h"

#include <cstdio>

#include "base/status.h"

namespace warbler::server {
namespace {

void Line(std::string* out, const std::string& name, const std::string& labels, double v) {
  AppendMetricLine(name, labels, v, out);
}

void Family(std::string* out, const char* name, const char* type, const char* help) {
  AppendMetricHeader(name, type, help, out);
}

}  // namespace

const char* OpName(Op op) {
  switch (op) {
    case Op::kAppend: return "append";
    case Op::kAppendBatch: return "append_batch";
    case Op::kRead: return "read";
    case Op::kInfo: return "info";
    case Op::kPing: return "ping";
    case Op::kSubscribe: return "subscribe";
    case Op::kOther: return "other";
    case Op::kCount: break;
  }
  return "unknown";
}

void ServerMetrics::Render(std::string* out) const {
  auto gauge = [&](const char* name, const char* help, uint64_t v) {
    Family(out, name, "gauge", help);
    Line(out, name, "", static_cast<double>(v));
  };
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    Family(out, name, "counter", help);
    Line(out, name, "", static_cast<double>(v));
  };
  gauge("warbler_connections", "Client connections open.", connections_open.load());
  counter("warbler_connections_accepted_total", "Client connections accepted.", connections_accepted.load());
  counter("warbler_connections_rejected_total", "Connections refused over max_connections.",
          connections_rejected.load());
  counter("warbler_tls_handshake_failures_total", "Failed TLS handshakes.", tls_handshake_failures.load());
  counter("warbler_protocol_errors_total", "Connections closed for a malformed frame.", protocol_errors.load());
  counter("warbler_network_receive_bytes_total", "Bytes read from clients.", bytes_in.load());
  counter("warbler_network_transmit_bytes_total", "Bytes written to clients.", bytes_out.load());
  counter("warbler_backpressure_pauses_total", "Times a connection stopped being read (limits reached).",
          backpressure_pauses.load());
  counter("warbler_messages_appended_total", "Messages acknowledged to clients.", messages_appended.load());
  gauge("warbler_subscriptions", "Open log subscriptions.", subscriptions_open.load());
  counter("warbler_events_sent_total", "Log messages streamed to subscribers.", events_sent.load());
  gauge("warbler_worker_queue_depth", "Read requests waiting for a worker.", worker_queue_depth.load());
  Family(out, "warbler_requests_total", "counter", "Requests by operation.");
  for (size_t i = 0; i < requests.size(); ++i) {
    Line(out, "warbler_requests_total", std::string("op=\"") + OpName(static_cast<Op>(i)) + "\"",
         static_cast<double>(requests[i].load()));
  }
  Family(out, "warbler_errors_total", "counter", "Error responses by status code.");
  for (size_t i = 1; i < errors_by_status.size(); ++i) {
    Line(out, "warbler_errors_total",
         std::string("code=\"") + std::string(StatusCodeName(static_cast<StatusCode>(i))) + "\"",
         static_cast<double>(errors_by_status[i].load()));
  }
  Family(out, "warbler_append_latency_seconds", "histogram", "Append request latency, receipt to durable ack.");
  append_latency.Render("warbler_append_latency_seconds", "", out);
  Family(out, "warbler_read_latency_seconds", "histogram", "History read latency.");
  read_latency.Render("warbler_read_latency_seconds", "", out);
}

}  // namespace warbler::server
