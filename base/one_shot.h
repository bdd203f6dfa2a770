// OneShot<T>: hands one result from the thread that completes an operation
// to the one thread that waits for it (a blocking call built on an async
// one). The state is shared, so the completer may still touch it after the
// waiter has returned.
//
// The hand-off is one futex word: the waiter announces that it sleeps
// (pending -> sleeping) and sleeps on the word; the completer publishes the
// result, marks it done, and makes the wake-up system call only if the
// waiter is asleep. A mutex and condition variable cost two more atomic
// round trips on each side and a wake-up under the condition variable's
// internal lock; with 32 blocking appenders on 2 cores the hand-off is on
// the group-commit critical path (docs/benchmarks.md). (std::atomic wait was
// tried: libstdc++ spins and yields before it sleeps, which with 32
// appenders on 2 cores cost more CPU than it saved.)
// Thread-safety: Setter() once, from any thread; Wait() once, from one thread.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "base/status.h"

namespace warbler {

template <typename T>
class OneShot {
 public:
  OneShot() : state_(std::make_shared<State>()) {}

  // The completion callback: (const Status&, T) -> void.
  auto Setter() const {
    return [st = state_](const Status& s, T v) {
      st->status = s;
      st->value = std::move(v);
      if (st->word.exchange(kDone, std::memory_order_acq_rel) == kSleeping) {
        ::syscall(SYS_futex, &st->word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
      }
    };
  }

  Result<T> Wait() {
    uint32_t w = state_->word.load(std::memory_order_acquire);
    while (w != kDone) {
      if (w == kPending &&
          !state_->word.compare_exchange_strong(w, kSleeping, std::memory_order_acq_rel)) {
        continue;  // done meanwhile (w reloaded)
      }
      // Returns at once if the word is no longer kSleeping; spurious wake-ups loop.
      ::syscall(SYS_futex, &state_->word, FUTEX_WAIT_PRIVATE, kSleeping, nullptr, nullptr, 0);
      w = state_->word.load(std::memory_order_acquire);
    }
    if (!state_->status.ok()) return state_->status;
    return std::move(state_->value);
  }

 private:
  static constexpr uint32_t kPending = 0;
  static constexpr uint32_t kSleeping = 1;
  static constexpr uint32_t kDone = 2;
  struct State {
    std::atomic<uint32_t> word{kPending};
    Status status;
    T value{};
  };
  static_assert(sizeof(std::atomic<uint32_t>) == 4, "a futex word is 32 bits");
  std::shared_ptr<State> state_;
};

}  // namespace warbler
