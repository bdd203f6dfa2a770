// The one place that names files in a data directory (docs/format.md
// "Directory layout"). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace warbler::engine::layout {

std::string StoreMetaPath(const std::string& dir);
// The keyring of wrapped DEKs (docs/security.md "The keyring file").
std::string KeyringPath(const std::string& dir);
// zstd dictionaries (docs/format.md "Dictionary files"): <dir>/dicts/NNNNN.zdict.
std::string DictDir(const std::string& dir);
std::string DictPath(const std::string& dir, uint16_t dict_id);
// "00042.zdict" -> 42; nullopt for any other name (and for id 0).
std::optional<uint16_t> ParseDictName(std::string_view name);
std::string PartitionDir(const std::string& dir, uint32_t partition);
std::string SegmentPath(const std::string& partition_dir, uint64_t base_offset);
std::string IndexPath(const std::string& partition_dir, uint64_t base_offset);
// Conversation index of a sealed segment (docs/index.md).
std::string CixPath(const std::string& partition_dir, uint64_t base_offset);
std::optional<uint64_t> ParseCixName(std::string_view name);
std::string CommittedPath(const std::string& partition_dir);
std::string QuarantineDir(const std::string& partition_dir);
// Where a file is written before it is renamed into place.
std::string TempPath(const std::string& path);
// The next segment of a partition while it is prepared in the background
// (engine/log/segment_preparer.h). A temp name: Recover removes it.
std::string PreparedSegmentPath(const std::string& partition_dir);

// "00000000000000000042.log" -> 42; nullopt for any other name.
std::optional<uint64_t> ParseSegmentName(std::string_view name);
std::optional<uint64_t> ParseIndexName(std::string_view name);
bool IsTempName(std::string_view name);

}  // namespace warbler::engine::layout
