// DedupWindow (engine/conv/dedup_window.h) against a deque: random pushes
// (ids repeat, so an id is often in the ring twice), pops, index rebuilds
// and growth, with ids chosen to collide so backward-shift deletion runs.
#include "engine/conv/dedup_window.h"

#include <gtest/gtest.h>

#include <deque>
#include <set>

#include "base/rng.h"

namespace warbler::engine {
namespace {

using Entry = DedupWindow::Entry;

// The newest entry of `id` in the model, or nullptr.
const Entry* ModelFind(const std::deque<Entry>& model, const ConvId& id) {
  for (auto it = model.rbegin(); it != model.rend(); ++it) {
    if (it->id == id) return &*it;
  }
  return nullptr;
}

void ExpectSame(const DedupWindow& w, const std::deque<Entry>& model, const std::set<ConvId>& ids) {
  ASSERT_EQ(w.size(), model.size());
  size_t i = 0;
  w.ForEach([&](const Entry& e) {
    ASSERT_LT(i, model.size());
    EXPECT_EQ(e.id, model[i].id);
    EXPECT_EQ(e.offset, model[i].offset);
    ++i;
  });
  for (const ConvId& id : ids) {
    const Entry* want = ModelFind(model, id);
    const Entry* got = w.Find(id);
    if (want == nullptr) {
      EXPECT_EQ(got, nullptr);
    } else {
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(got->offset, want->offset);
      EXPECT_EQ(got->seq, want->seq);
      EXPECT_EQ(got->ts, want->ts);
    }
  }
}

TEST(DedupWindowTest, MatchesADequeUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Rng rng(seed);
    DedupWindow w;
    std::deque<Entry> model;
    std::set<ConvId> ids;
    uint64_t offset = 0;
    // Few distinct `hi` values: many ids share a home slot.
    auto random_id = [&] { return ConvId{rng.Uniform(seed % 2 == 0 ? 6 : 400) + 1, rng.Uniform(300)}; };
    for (int op = 0; op < 20000; ++op) {
      const uint64_t pick = rng.Uniform(100);
      if (pick < 55) {
        const Entry e{random_id(), rng.Next(), rng.Next(), ++offset};
        w.Push(e);
        model.push_back(e);
        ids.insert(e.id);
      } else if (pick < 95) {
        if (model.empty()) continue;
        w.PopFront();
        model.pop_front();
      } else if (pick < 97) {
        // A recovery-style scan: many pushes and pops with the index off.
        w.SetIndexed(false);
        for (int k = 0; k < 300; ++k) {
          if (rng.OneIn(3) && !model.empty()) {
            w.PopFront();
            model.pop_front();
          } else {
            const Entry e{random_id(), rng.Next(), rng.Next(), ++offset};
            w.Push(e);
            model.push_back(e);
            ids.insert(e.id);
          }
        }
        w.SetIndexed(true);
      } else if (pick < 98) {
        w.Clear();
        model.clear();
      }
      if (op % 499 == 0) {
        ASSERT_NO_FATAL_FAILURE(ExpectSame(w, model, ids));
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSame(w, model, ids));
    while (!model.empty()) {
      w.PopFront();
      model.pop_front();
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSame(w, model, ids));
  }
}

TEST(DedupWindowTest, MemoryIsOneCopyPerEntry) {
  DedupWindow w;
  for (uint64_t k = 1; k <= 65536; ++k) w.Push({ConvId{k * 0x9E3779B97F4A7C15ull, k}, k, k, k});
  EXPECT_EQ(w.size(), 65536u);
  // 40 B per entry in the ring + 8 B slots at most half full.
  EXPECT_EQ(w.memory_bytes(), 65536u * 40 + 131072u * 8);
  EXPECT_EQ(w.Find(ConvId{5 * 0x9E3779B97F4A7C15ull, 5})->offset, 5u);
}

}  // namespace
}  // namespace warbler::engine
