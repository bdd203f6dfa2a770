// Prometheus families of the parts a Store owns beside its logs and caches:
// the file system it runs on and its zstd dictionaries (docs/metrics.md,
// "Storage backend" and "Dictionaries"). StoreImpl::PrometheusMetrics
// appends them to its own families.
//
// Thread-safety: as the objects they read (FileSystem::name and
// UringFileSystem::metrics, DictionaryRegistry's counters): any thread.
#pragma once

#include <string>

#include "io/file_system.h"

namespace warbler::engine {
namespace dict {
class DictionaryRegistry;
}  // namespace dict

// warbler_io_backend_info{backend="<FileSystem::name()>"} 1, and with the
// io_uring backend only, the warbler_uring_*_total counters of every ring
// the file system created (io/uring_metrics.h).
void AppendIoBackendMetrics(const io::FileSystem& fs, std::string* out);

// warbler_dictionaries_* : dictionaries usable, loaded, unavailable, trained,
// failed to train, and their resident bytes.
void AppendDictionaryMetrics(const dict::DictionaryRegistry& dicts, std::string* out);

}  // namespace warbler::engine
