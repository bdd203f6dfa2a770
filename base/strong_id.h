// StrongId<Tag, T>: a typed integer so ids that are easy to mix up (a log
// offset and a sequence number, a term and an index) cannot be swapped
// silently. Zero-cost: same size and codegen as T.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>

namespace warbler {

template <typename Tag, typename T = uint64_t>
class StrongId {
 public:
  using ValueType = T;
  constexpr StrongId() = default;
  constexpr explicit StrongId(T v) : v_(v) {}
  constexpr T value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  constexpr StrongId Next(T delta = 1) const { return StrongId(v_ + delta); }

 private:
  T v_{};
};

struct LogOffsetTag {};
struct SeqTag {};
struct TermTag {};
struct PartitionIdTag {};
struct KeyIdTag {};

// Position of a record in a partition's log (0-based, dense, never reused).
using LogOffset = StrongId<LogOffsetTag, uint64_t>;
// Per-conversation message sequence number (1-based, gap-free).
using Seq = StrongId<SeqTag, uint64_t>;
// Raft term.
using Term = StrongId<TermTag, uint64_t>;
using PartitionId = StrongId<PartitionIdTag, uint32_t>;
using KeyId = StrongId<KeyIdTag, uint32_t>;

}  // namespace warbler

template <typename Tag, typename T>
struct std::hash<warbler::StrongId<Tag, T>> {
  size_t operator()(const warbler::StrongId<Tag, T>& id) const noexcept {
    return std::hash<T>{}(id.value());
  }
};
