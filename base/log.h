// Structured logging: one line per event, `key=value` pairs, to stderr.
//
//   WB_LOG(kInfo, "segment_rolled").Kv("partition", 3).Kv("bytes", n);
//
// prints `ts=2026-11-29T03:40:00.123456Z level=info event=segment_rolled partition=3 bytes=...`.
// Values with spaces, quotes or '=' are quoted. The minimum level comes from
// WARBLER_LOG_LEVEL (debug|info|warn|error; default info) or SetLogLevel.
// Thread-safety: lines are written atomically (one write(2) per line).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace warbler {

enum class LogLevel : uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Tests can capture log lines: the sink receives each complete line (no trailing newline).
using LogSink = void (*)(std::string_view line);
void SetLogSink(LogSink sink);  // nullptr restores stderr

class LogLine {
 public:
  LogLine(LogLevel level, std::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Kv(std::string_view key, std::string_view value);
  LogLine& Kv(std::string_view key, const std::string& value) {
    return Kv(key, std::string_view(value));
  }
  LogLine& Kv(std::string_view key, const char* value) { return Kv(key, std::string_view(value)); }
  template <typename T>
    requires std::is_arithmetic_v<T>
  LogLine& Kv(std::string_view key, T value) {
    if constexpr (std::is_same_v<T, bool>) {
      return Raw(key, value ? "true" : "false");
    } else {
      return Raw(key, std::to_string(value));
    }
  }

 private:
  LogLine& Raw(std::string_view key, std::string_view value);
  bool enabled_;
  std::string line_;
};

}  // namespace warbler

#define WB_LOG(level, event) ::warbler::LogLine(::warbler::LogLevel::level, (event))
