// OneShot<T>: hands one result from the thread that completes an operation
// to the one thread that waits for it (a blocking call built on an async
// one). The state is shared, so the completer may still touch it after the
// waiter has returned, and so it notifies after releasing the lock: a
// condition variable notified under the lock wakes the waiter only to make
// it sleep again on the mutex the completer still holds. (std::atomic wait
// was tried: libstdc++ spins and yields before it sleeps, which with 32
// appenders on 2 cores cost more CPU than it saved.)
// Thread-safety: Setter() once, from any thread; Wait() once, from one thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
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
      {
        std::lock_guard lock(st->mu);
        st->status = s;
        st->value = std::move(v);
        st->done = true;
      }
      st->cv.notify_one();
    };
  }

  Result<T> Wait() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [this] { return state_->done; });
    if (!state_->status.ok()) return state_->status;
    return std::move(state_->value);
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
    T value{};
  };
  std::shared_ptr<State> state_;
};

}  // namespace warbler
