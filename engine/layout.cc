#include "engine/layout.h"

#include <cstdio>

namespace warbler::engine::layout {
namespace {

constexpr size_t kOffsetDigits = 20;

std::string OffsetName(uint64_t base_offset, const char* ext) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%020llu.%s", static_cast<unsigned long long>(base_offset), ext);
  return buf;
}

std::optional<uint64_t> ParseOffsetName(std::string_view name, std::string_view ext) {
  if (name.size() != kOffsetDigits + 1 + ext.size()) return std::nullopt;
  if (name[kOffsetDigits] != '.' || name.substr(kOffsetDigits + 1) != ext) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < kOffsetDigits; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

std::string StoreMetaPath(const std::string& dir) { return dir + "/STORE"; }

std::string KeyringPath(const std::string& dir) { return dir + "/KEYRING"; }

std::string DictDir(const std::string& dir) { return dir + "/dicts"; }

std::string DictPath(const std::string& dir, uint16_t dict_id) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%05u.zdict", static_cast<unsigned>(dict_id));
  return DictDir(dir) + "/" + buf;
}

std::optional<uint16_t> ParseDictName(std::string_view name) {
  constexpr std::string_view kExt = ".zdict";
  if (name.size() != 5 + kExt.size() || name.substr(5) != kExt) return std::nullopt;
  uint32_t v = 0;
  for (size_t i = 0; i < 5; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  if (v == 0 || v > UINT16_MAX) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string PartitionDir(const std::string& dir, uint32_t partition) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "p-%04u", partition);
  return dir + "/" + buf;
}

std::string SegmentPath(const std::string& partition_dir, uint64_t base_offset) {
  return partition_dir + "/" + OffsetName(base_offset, "log");
}

std::string IndexPath(const std::string& partition_dir, uint64_t base_offset) {
  return partition_dir + "/" + OffsetName(base_offset, "idx");
}

std::string CixPath(const std::string& partition_dir, uint64_t base_offset) {
  return partition_dir + "/" + OffsetName(base_offset, "cix");
}

std::optional<uint64_t> ParseCixName(std::string_view name) { return ParseOffsetName(name, "cix"); }

std::string CommittedPath(const std::string& partition_dir) {
  return partition_dir + "/COMMITTED";
}

std::string QuarantineDir(const std::string& partition_dir) {
  return partition_dir + "/quarantine";
}

std::string TempPath(const std::string& path) { return path + ".tmp"; }

std::string PreparedSegmentPath(const std::string& partition_dir) {
  return TempPath(partition_dir + "/next-segment.log");
}

std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  return ParseOffsetName(name, "log");
}

std::optional<uint64_t> ParseIndexName(std::string_view name) {
  return ParseOffsetName(name, "idx");
}

bool IsTempName(std::string_view name) {
  return name.size() > 4 && name.substr(name.size() - 4) == ".tmp";
}

}  // namespace warbler::engine::layout
