#include "base/histogram.h"

#include <cstdio>

namespace warbler {

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6 + 0.5), std::memory_order_relaxed);
}

double Histogram::sum() const { return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6; }

void AppendMetricHeader(const std::string& name, const char* type, const char* help, std::string* out) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void AppendMetricLine(const std::string& name, const std::string& labels, double value, std::string* out) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += " ";
  *out += buf;
  *out += "\n";
}

void Histogram::Render(const std::string& name, const std::string& labels, std::string* out) const {
  const std::string sep = labels.empty() ? "" : labels + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    char le[32];
    std::snprintf(le, sizeof le, "%g", bounds_[i]);
    AppendMetricLine(name + "_bucket", sep + "le=\"" + le + "\"", static_cast<double>(cumulative), out);
  }
  cumulative += buckets_[bounds_.size()].load(std::memory_order_relaxed);
  AppendMetricLine(name + "_bucket", sep + "le=\"+Inf\"", static_cast<double>(cumulative), out);
  AppendMetricLine(name + "_sum", labels, sum(), out);
  AppendMetricLine(name + "_count", labels, static_cast<double>(count()), out);
}

}  // namespace warbler
