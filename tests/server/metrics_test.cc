// ServerMetrics: every status code an error response can carry is counted
// under its own name, the last code too.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <string>

namespace warbler::server {
namespace {

TEST(ServerMetricsTest, CountsEveryStatusCodeUnderItsName) {
  ServerMetrics m;
  for (size_t i = 1; i < kStatusCodeCount; ++i) {
    for (size_t k = 0; k < i; ++k) m.CountError(static_cast<StatusCode>(i));
  }
  std::string out;
  m.Render(&out);
  for (size_t i = 1; i < kStatusCodeCount; ++i) {
    const std::string line = "warbler_errors_total{code=\"" +
                             std::string(StatusCodeName(static_cast<StatusCode>(i))) + "\"} " +
                             std::to_string(i) + "\n";
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
  EXPECT_NE(out.find("warbler_errors_total{code=\"indeterminate\"} 19\n"), std::string::npos);
  EXPECT_NE(out.find("warbler_messages_appended_total 0\n"), std::string::npos);
}

}  // namespace
}  // namespace warbler::server
