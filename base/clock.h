// Clock: time is injected so tests and simulations control it.
//   RealClock   - CLOCK_MONOTONIC for durations, CLOCK_REALTIME for wall time.
//   ManualClock - advances only when told; for deterministic tests.
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <atomic>
#include <cstdint>

namespace warbler {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds since an arbitrary epoch; never goes backwards.
  virtual uint64_t NowNanos() const = 0;
  // Wall-clock microseconds since the Unix epoch (may jump; use for timestamps only).
  virtual uint64_t WallMicros() const = 0;

  uint64_t NowMicros() const { return NowNanos() / 1000; }
  uint64_t NowMillis() const { return NowNanos() / 1000000; }

  // A process-wide RealClock.
  static Clock* Real();
};

class RealClock final : public Clock {
 public:
  uint64_t NowNanos() const override;
  uint64_t WallMicros() const override;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_nanos = 0, uint64_t wall_start_micros = 1'700'000'000'000'000)
      : now_(start_nanos), wall_offset_micros_(wall_start_micros) {}
  uint64_t NowNanos() const override { return now_.load(std::memory_order_acquire); }
  uint64_t WallMicros() const override { return wall_offset_micros_ + NowNanos() / 1000; }
  void AdvanceNanos(uint64_t d) { now_.fetch_add(d, std::memory_order_acq_rel); }
  void AdvanceMillis(uint64_t ms) { AdvanceNanos(ms * 1000000); }

 private:
  std::atomic<uint64_t> now_;
  uint64_t wall_offset_micros_;
};

}  // namespace warbler
