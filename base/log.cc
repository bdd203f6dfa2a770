#include "base/log.h"

#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace warbler {
namespace {

LogLevel LevelFromEnv() {
  const char* env = std::getenv("WARBLER_LOG_LEVEL");
  if (env == nullptr) return LogLevel::kInfo;
  if (std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
  if (std::strcmp(env, "warn") == 0) return LogLevel::kWarn;
  if (std::strcmp(env, "error") == 0) return LogLevel::kError;
  return LogLevel::kInfo;
}

std::atomic<int>& MinLevel() {
  static std::atomic<int> level{static_cast<int>(LevelFromEnv())};
  return level;
}

std::atomic<LogSink> g_sink{nullptr};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') return true;
  }
  return false;
}

}  // namespace

void SetLogLevel(LogLevel level) { MinLevel().store(static_cast<int>(level)); }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= MinLevel().load(); }
void SetLogSink(LogSink sink) { g_sink.store(sink); }

LogLine::LogLine(LogLevel level, std::string_view event) : enabled_(LogEnabled(level)) {
  if (!enabled_) return;
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm utc;
  gmtime_r(&tv.tv_sec, &utc);
  char ts[64];
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(ts + n, sizeof ts - n, ".%06ldZ", static_cast<long>(tv.tv_usec));
  line_.reserve(160);
  line_ += "ts=";
  line_ += ts;
  line_ += " level=";
  line_ += LevelName(level);
  line_ += " event=";
  line_ += event;
}

LogLine::~LogLine() {
  if (!enabled_) return;
  if (LogSink sink = g_sink.load(); sink != nullptr) {
    sink(line_);
    return;
  }
  line_ += '\n';
  // One write per line so concurrent lines never interleave; a failed log
  // write is not worth failing the caller for.
  ssize_t rc = ::write(STDERR_FILENO, line_.data(), line_.size());
  (void)rc;
}

LogLine& LogLine::Kv(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  if (!NeedsQuotes(value)) return Raw(key, value);
  std::string q = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') q += '\\';
    if (c == '\n') {
      q += "\\n";
      continue;
    }
    q += c;
  }
  q += '"';
  return Raw(key, q);
}

LogLine& LogLine::Raw(std::string_view key, std::string_view value) {
  if (!enabled_) return *this;
  line_ += ' ';
  line_ += key;
  line_ += '=';
  line_ += value;
  return *this;
}

}  // namespace warbler
