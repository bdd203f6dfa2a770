#include "engine/store/store_metrics.h"

#include "base/histogram.h"
#include "engine/dict/dictionary_registry.h"
#include "io/uring_fs.h"

namespace warbler::engine {
namespace {

void Family(const char* name, const char* type, const char* help, double value, std::string* out) {
  AppendMetricHeader(name, type, help, out);
  AppendMetricLine(name, "", value, out);
}

double D(uint64_t v) { return static_cast<double>(v); }

}  // namespace

void AppendIoBackendMetrics(const io::FileSystem& fs, std::string* out) {
  AppendMetricHeader("warbler_io_backend_info", "gauge",
                     "The store's I/O backend, as the label backend; always 1.", out);
  AppendMetricLine("warbler_io_backend_info", "backend=\"" + std::string(fs.name()) + "\"", 1, out);
  const auto* uring = dynamic_cast<const io::UringFileSystem*>(&fs);
  if (uring == nullptr) return;  // POSIX fallback, or a test file system
  const io::UringMetrics m = uring->metrics();
  Family("warbler_uring_submissions_total", "counter", "io_uring_enter calls that submitted SQEs.",
         D(m.submissions), out);
  Family("warbler_uring_sqes_total", "counter", "SQEs queued, resubmissions included.", D(m.sqes),
         out);
  Family("warbler_uring_short_transfers_total", "counter",
         "Reads and writes that moved fewer bytes than asked (not EOF), then resubmitted.",
         D(m.short_transfers), out);
  Family("warbler_uring_canceled_total", "counter",
         "SQEs canceled behind a short or failed op of their chain, then resubmitted.",
         D(m.canceled), out);
  Family("warbler_uring_retries_total", "counter",
         "SQEs that completed with EINTR or EAGAIN, then resubmitted.", D(m.retries), out);
}

void AppendDictionaryMetrics(const dict::DictionaryRegistry& dicts, std::string* out) {
  const dict::DictionaryMetrics& m = dicts.metrics();
  Family("warbler_dictionaries", "gauge", "Compression dictionaries usable.", D(dicts.count()),
         out);
  Family("warbler_dictionaries_memory_bytes", "gauge",
         "Resident bytes of the usable compression dictionaries.", D(dicts.memory_bytes()), out);
  Family("warbler_dictionaries_loaded_total", "counter",
         "Dictionaries made usable: loaded at open, then trained or installed.", D(m.loaded.load()),
         out);
  Family("warbler_dictionaries_unavailable_total", "counter",
         "Dictionary files that did not load at open.", D(m.unavailable.load()), out);
  Family("warbler_dictionaries_trained_total", "counter", "Dictionaries trained and installed.",
         D(m.trained.load()), out);
  Family("warbler_dictionaries_training_failures_total", "counter",
         "Dictionary trainings or installs that failed.", D(m.training_failures.load()), out);
}

}  // namespace warbler::engine
