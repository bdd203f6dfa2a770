// Model-based test of the Store (include/warbler/store.h, docs/index.md):
// random appends, retries, reads of every kind, injected write failures,
// crashes, reopens, suffix truncations and dedup-window expiry, every result
// compared exactly with an in-memory model.
//
// Each seed opens a store on FaultFileSystem over the in-memory backend with
// seeded options (1..4 partitions, 1 MiB segments, small or default dedup and
// read limits) and runs a few dozen steps. The model is brought up to date at
// quiescent points ("reconcile"): every acknowledged append must be in the
// store exactly (seq, timestamp, offset, content) and in submission order;
// an append that got an error must be absent — while the store runs and
// after a clean restart. It may be present (and the model then adopts it,
// checking its seq is the next one and its content what was sent) only when
// a multi-partition batch failed (other partitions may have made it), or
// after a crash, for appends in flight at the crash and appends that failed
// after their partition's last successful write (their bytes were in the file,
// unsynced; no later write had zeroed them). The dedup window is
// modelled exactly: a retry is certainly a duplicate when its original is
// among the newest dedup_max_entries client ids of the partition and inside
// dedup_window_ms, and certainly new when it was outside before submission.
// The clock (ManualClock) only moves while nothing is in flight, so every
// timestamp is known exactly.
//
// WARBLER_STORE_SEEDS=N runs N seeds (default 200; the `slow` test runs more).
// WARBLER_STORE_SEED=S replays seed S (thread timing aside, the same run).
// WARBLER_STORE_LOG=1 prints the store's log lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "base/clock.h"
#include "tests/test_keys.h"
#include "base/log.h"
#include "base/rng.h"
#include "engine/conv/conv_id.h"
#include "engine/store/store_impl.h"
#include "io/fault_fs.h"
#include "io/mem_fs.h"

namespace warbler::engine {
namespace {

constexpr char kDir[] = "/store";

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

// A WB_ASSERT aborts the binary: say which seed did it.
std::atomic<uint64_t> g_seed{0};  // lock-free: safe in a signal handler
void OnFatalSignal(int sig) {
  char buf[96];
  const int n = std::snprintf(buf, sizeof(buf), "\nstore model: fatal signal; replay with WARBLER_STORE_SEED=%llu\n",
                              static_cast<unsigned long long>(g_seed.load()));
  (void)!write(2, buf, static_cast<size_t>(n));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::atomic<uint64_t> g_rolls{0};  // segment rolls seen in the store's log lines
void QuietSink(std::string_view line) {
  if (line.find("event=segment_rolled") != std::string_view::npos) g_rolls.fetch_add(1);
}

std::string RandomBytes(Rng& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng.Next());
  return s;
}

struct Conv {
  std::string tenant, name;
  uint32_t partition = 0;
  std::vector<Message> msgs;            // msgs[i].seq == i + 1
  std::vector<std::string> client_ids;  // every client id ever sent (retry pool)
  ConversationRef ref() const { return {tenant, name}; }
};

// A client id in the partition's dedup FIFO (every stored record with one), by offset.
struct DedupRec {
  size_t conv;
  std::string client_id;
  uint64_t seq, ts;
};

// One message sent in an epoch, and what became of it.
struct Sent {
  size_t conv;
  std::string sender, body, client_id;
  size_t call;
  uint64_t now_us;  // the clock while it was in flight
  bool acked = false, candidate = false, adopted = false;
  AppendAck ack;
};

struct Part {
  std::map<uint64_t, DedupRec> fifo;
  // Appends that failed after the partition's last successful write: their
  // bytes may still be in the file, unsynced, so a crash may keep them.
  std::deque<Sent> limbo;
  std::vector<uint64_t> marks;  // PartitionNextOffset values seen at quiescent points
  uint64_t epoch_start = 0;     // next offset when the current epoch began
};

// One Append/AppendBatch call (blocking or async).
struct Call {
  std::vector<size_t> sent;
  bool batch = false, immediate = false, done = false;
  Status status;
  std::vector<AppendAck> acks;
};

// What the seeds exercised, summed over a run (printed at the end).
struct Coverage {
  uint64_t seeds = 0, sent = 0, acked = 0, duplicates = 0, failed = 0, adopted = 0;
  uint64_t crashes = 0, restarts = 0, truncations = 0, reads = 0, sealed_segments = 0, injected = 0;
  uint64_t quarantined = 0;
};
Coverage g_cov;

class StoreModel {
 public:
  explicit StoreModel(uint64_t seed) : seed_(seed), rng_(seed) {}
  // The store goes first: its callbacks touch the epoch below.
  ~StoreModel() { store_.reset(); }

  void Run();

 private:
  void Setup();
  void Open(bool after_crash = false);
  void Step(int kind);
  // ---- appends ----
  Sent MakeSent(size_t conv);
  size_t AddCall(bool batch);
  AppendRequest RequestOf(const Sent& s) const;
  // Runs on the store's threads: gets the Call itself (deque elements stay
  // put while the test thread appends; the deque's index does not).
  void Complete(Call* call, const Status& s, std::vector<AppendAck> acks);
  void SubmitBlocking(bool batch);
  void SubmitAsync(bool batch);
  void Burst(bool crash);
  void WaitAll();
  void ArmFaults();
  void DisarmFaults();
  void BeginEpoch();
  // ---- checking ----
  void Reconcile(bool crashed);
  void WalkConv(size_t conv, const std::vector<Sent*>& sents, std::vector<Sent*>* added);
  void CheckDedup(const std::vector<Sent*>& added);
  void UpdateLimbo(bool crashed);
  bool MustBeDuplicate(uint32_t p, size_t conv, const std::string& cid, uint64_t offset, uint64_t now_us) const;
  void CheckQuiescent(const std::set<size_t>& convs);
  void VerifyConv(size_t conv);
  void RandomRead();
  // ---- faults, crashes, truncation, time ----
  void CrashAndReopen(bool in_epoch);
  void Truncate();
  void AdvanceClock();

  const uint64_t seed_;
  Rng rng_;
  ManualClock clock_;
  std::unique_ptr<io::FileSystem> mem_;
  std::unique_ptr<io::FaultFileSystem> fault_;
  StoreOptions options_;
  StoreInternals internals_;
  std::unique_ptr<Store> store_;
  std::vector<Conv> convs_;
  std::vector<Part> parts_;
  uint64_t next_tag_ = 0, next_cid_ = 0;
  uint64_t big_one_in_ = 4;  // one message in this many has a large body
  // The current epoch: everything sent since the last quiescent point.
  std::deque<Sent> sent_;
  std::deque<Call> calls_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t outstanding_ = 0;
  uint64_t epoch_now_us_ = 0;
};

void StoreModel::Setup() {
  mem_ = io::NewMemFileSystem();
  fault_ = std::make_unique<io::FaultFileSystem>(mem_.get(), seed_);
  // Half the seeds pipeline as on io_uring, half run each group inline as on
  // POSIX (drawn apart from rng_, so the other choices stay as they were).
  Rng pipelining(seed_ ^ 0x6f7665726c6170);
  fault_->set_overlapping_queues(pipelining.OneIn(2));
  // ... and one in three encodes every group that overlaps on the encoder
  // thread (not only groups of 64 KiB and more), beside the completions.
  if (pipelining.OneIn(3)) internals_.encode_offload_min_bytes = 0;
  options_.partitions = static_cast<uint32_t>(rng_.Range(1, 4));
  options_.segment_bytes = 1u << 20;
  // One seed in four writes enough to roll segments (slower); the rest stay small.
  big_one_in_ = rng_.OneIn(4) ? 2 : 200;
  options_.compress = rng_.OneIn(2);
  options_.max_read_count = rng_.OneIn(3) ? rng_.Range(1, 12) : 1000;
  options_.dedup_window_ms = rng_.Range(1000, 60000);
  options_.dedup_max_entries = rng_.OneIn(3) ? rng_.Range(1, 12) : 65536;
  const uint64_t cache[] = {0, 64u << 10, 64u << 20};
  options_.block_cache_bytes = cache[rng_.Uniform(3)];
  options_.recent_cache_bytes = cache[rng_.Uniform(3)];
  internals_.fs = fault_.get();
  internals_.clock = &clock_;
  internals_.max_inflight_groups = rng_.Range(1, 3);
  internals_.linger_us = rng_.OneIn(4) ? 100 : 0;
  // One seed in three seals by the tail index budget (every ~20 conversation-batches).
  internals_.tail_index_bytes_per_partition = rng_.OneIn(3) ? 2u << 10 : 0;
  // Same names across tenants; NUL bytes; a tenant that is a prefix of another.
  std::vector<std::string> tenants = {"t", std::string("t\0x", 3), "tt"};
  tenants.resize(rng_.Range(1, 3));
  std::vector<std::string> names;
  const size_t n_names = rng_.Range(4, 80);
  for (size_t i = 0; i < n_names; ++i) {
    switch (rng_.Uniform(5)) {
      case 0: names.push_back(std::string("c\0", 2) + std::to_string(i)); break;
      case 1: names.push_back(RandomBytes(rng_, rng_.Range(1, 20)) + std::to_string(i)); break;
      case 2: names.push_back(std::string(255 - std::to_string(i).size(), 'L') + std::to_string(i)); break;
      default: names.push_back("c" + std::to_string(i));
    }
  }
  for (const auto& t : tenants) {
    for (const auto& n : names) {
      Conv c;
      c.tenant = t;
      c.name = n;
      c.partition = PartitionOf(MakeConvId(t, n), options_.partitions);
      convs_.push_back(std::move(c));
    }
  }
  parts_.resize(options_.partitions);
  Open();
}

void StoreModel::Open(bool after_crash) {
  warbler::testing::UseTestKek();  // encryption is on by default
  auto s = OpenStore(options_, kDir, internals_);
  if (!s.ok() && after_crash && s.status().code() == StatusCode::kCorruption) {
    // A write that failed (injected) and a crash before the writer zeroed the
    // failed range can leave a torn batch followed by a valid batch that was
    // never acknowledged; a strict open refuses that (docs/format.md). The
    // operator's answer is a quarantine open: it must lose nothing acked,
    // which Reconcile checks next.
    StoreOptions q = options_;
    q.recovery = RecoveryMode::kQuarantine;
    s = OpenStore(q, kDir, internals_);
    ++g_cov.quarantined;
  }
  ASSERT_TRUE(s.ok()) << "open: " << s.status().ToString();
  store_ = std::move(*s);
}

// ---- appends ----

Sent StoreModel::MakeSent(size_t conv) {
  Sent s;
  s.conv = conv;
  s.sender = rng_.OneIn(8) ? "" : "u" + std::to_string(rng_.Uniform(5));
  Conv& c = convs_[conv];
  const uint64_t pick = rng_.Uniform(10);
  if (pick < 3 && !c.client_ids.empty()) {
    s.client_id = c.client_ids[rng_.Uniform(c.client_ids.size())];  // a retry
  } else if (pick < 4 && !convs_[0].client_ids.empty()) {
    s.client_id = convs_[0].client_ids.back();  // the same id in another conversation
  } else if (pick < 7) {
    s.client_id = "id" + std::to_string(next_cid_++) + (rng_.OneIn(4) ? std::string("\0z", 2) : "");
  }
  if (!s.client_id.empty()) c.client_ids.push_back(s.client_id);
  // A unique tag identifies the message; bodies are incompressible so segments roll.
  const size_t len = rng_.OneIn(big_one_in_) ? rng_.Range(8000, 60000) : rng_.Uniform(300);
  s.body = "#" + std::to_string(next_tag_++) + "|" + RandomBytes(rng_, len);
  return s;
}

size_t StoreModel::AddCall(bool batch) {
  const size_t call = calls_.size();
  calls_.emplace_back();
  calls_.back().batch = batch;
  const size_t n = batch ? rng_.Range(1, 12) : 1;
  // Batches mostly hit a few conversations, so they hold several records of one.
  const size_t hot = rng_.Uniform(convs_.size());
  for (size_t k = 0; k < n; ++k) {
    const size_t conv = rng_.OneIn(2) ? hot : rng_.Uniform(convs_.size());
    sent_.push_back(MakeSent(conv));
    sent_.back().call = call;
  sent_.back().now_us = epoch_now_us_;
    calls_.back().sent.push_back(sent_.size() - 1);
  }
  return call;
}

AppendRequest StoreModel::RequestOf(const Sent& s) const {
  AppendRequest r;
  r.conversation = convs_[s.conv].ref();
  r.sender = s.sender;
  r.body = s.body;
  r.client_id = s.client_id;
  return r;
}

void StoreModel::Complete(Call* call, const Status& s, std::vector<AppendAck> acks) {
  std::lock_guard lock(mu_);
  Call& c = *call;
  c.status = s;
  c.acks = std::move(acks);
  c.done = true;
  --outstanding_;
  cv_.notify_all();
}

void StoreModel::SubmitBlocking(bool batch) {
  const size_t call = AddCall(batch);
  std::vector<AppendRequest> reqs;
  for (size_t i : calls_[call].sent) reqs.push_back(RequestOf(sent_[i]));
  {
    std::lock_guard lock(mu_);
    ++outstanding_;
  }
  Call* c = &calls_[call];
  if (batch) {
    auto r = store_->AppendBatch(reqs);
    Complete(c, r.status(), r.ok() ? std::move(*r) : std::vector<AppendAck>{});
  } else {
    auto r = store_->Append(reqs[0]);
    Complete(c, r.status(), r.ok() ? std::vector<AppendAck>{*r} : std::vector<AppendAck>{});
  }
}

void StoreModel::SubmitAsync(bool batch) {
  const size_t call = AddCall(batch);
  std::vector<AppendRequest> reqs;
  for (size_t i : calls_[call].sent) reqs.push_back(RequestOf(sent_[i]));
  {
    std::lock_guard lock(mu_);
    ++outstanding_;
  }
  Call* c = &calls_[call];
  Status s;
  if (batch) {
    s = store_->AppendBatchAsync(
        reqs, [this, c](const Status& st, std::vector<AppendAck> acks) { Complete(c, st, std::move(acks)); });
  } else {
    s = store_->AppendAsync(reqs[0], [this, c](const Status& st, const AppendAck& a) {
      Complete(c, st, st.ok() ? std::vector<AppendAck>{a} : std::vector<AppendAck>{});
    });
  }
  if (!s.ok()) {
    c->immediate = true;
    Complete(c, s, {});
  }
}

void StoreModel::WaitAll() {
  std::unique_lock lock(mu_);
  ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(60), [this] { return outstanding_ == 0; }))
      << outstanding_ << " appends never completed";
}

void StoreModel::ArmFaults() {
  if (rng_.OneIn(4)) {
    fault_->SetSpaceBudget(rng_.Uniform(300000));
    return;
  }
  const io::FaultOp ops[] = {io::FaultOp::kWrite, io::FaultOp::kWrite, io::FaultOp::kWrite,
                             io::FaultOp::kSync,  io::FaultOp::kSync,  io::FaultOp::kOpen,
                             io::FaultOp::kRename, io::FaultOp::kSyncDir, io::FaultOp::kTruncate};
  for (uint64_t k = rng_.Range(1, 2); k > 0; --k) {
    io::FaultRule r;
    r.op = ops[rng_.Uniform(std::size(ops))];
    const char* filters[] = {"", "", ".log", ".cix"};
    r.path_filter = filters[rng_.Uniform(4)];
    r.trigger = rng_.OneIn(3) ? io::FaultTrigger::kProbability
                              : (rng_.OneIn(4) ? io::FaultTrigger::kFromNth : io::FaultTrigger::kNth);
    r.n = rng_.Range(1, 8);
    r.probability = 0.05 + rng_.NextDouble() * 0.3;
    r.error = rng_.OneIn(2) ? io::FaultError::kIOError : io::FaultError::kNoSpace;
    r.write_prefix_bytes = rng_.OneIn(2) ? 0 : rng_.Uniform(70000);
    fault_->AddRule(r);
  }
}

void StoreModel::DisarmFaults() {
  fault_->ClearRules();
  fault_->ClearSpaceBudget();
}

void StoreModel::BeginEpoch() {
  sent_.clear();
  calls_.clear();
  epoch_now_us_ = clock_.WallMicros();
  for (uint32_t p = 0; p < options_.partitions; ++p) parts_[p].epoch_start = PartitionNextOffset(store_.get(), p);
}

// A burst of async appends (and blocking ones while they fly), maybe with
// faults armed, maybe ended by a crash.
void StoreModel::Burst(bool crash) {
  BeginEpoch();
  const bool faults = rng_.OneIn(3);
  if (faults) ArmFaults();
  const size_t n = rng_.Range(1, 20);
  const size_t crash_at = rng_.Uniform(n + 1);
  for (size_t i = 0; i < n; ++i) {
    if (crash && i == crash_at) break;
    SubmitAsync(rng_.OneIn(3));
  }
  if (crash) {
    if (rng_.OneIn(2)) std::this_thread::sleep_for(std::chrono::microseconds(rng_.Uniform(400)));
    CrashAndReopen(/*in_epoch=*/true);
    return;
  }
  WaitAll();
  if (faults) DisarmFaults();
  Reconcile(false);
}

// ---- checking ----

void StoreModel::Reconcile(bool crashed) {
  std::set<size_t> touched;
  for (Call& c : calls_) {
    ASSERT_TRUE(c.done);
    std::set<uint32_t> spans;
    for (size_t i : c.sent) spans.insert(convs_[sent_[i].conv].partition);
    if (c.status.ok()) {
      ASSERT_EQ(c.acks.size(), c.sent.size());
    }
    for (size_t k = 0; k < c.sent.size(); ++k) {
      Sent& s = sent_[c.sent[k]];
      touched.insert(s.conv);
      s.acked = c.status.ok();
      ++g_cov.sent;
      g_cov.acked += s.acked ? 1 : 0;
      g_cov.duplicates += s.acked && c.acks[k].duplicate ? 1 : 0;
      g_cov.failed += s.acked ? 0 : 1;
      // Failed appends that may still be in the log: cut short by a crash, a
      // batch that other partitions took, or a failed write that could not
      // be erased (Indeterminate).
      s.candidate = !c.status.ok() && !c.immediate &&
                    (crashed || (c.batch && spans.size() > 1) || c.status.code() == StatusCode::kIndeterminate);
      if (s.acked) {
        s.ack = c.acks[k];
        ASSERT_EQ(s.ack.partition, convs_[s.conv].partition);
        if (!s.ack.duplicate) {
          ASSERT_EQ(s.ack.timestamp_us, epoch_now_us_) << "ts of a fresh append";
        }
      }
    }
  }
  std::map<size_t, std::vector<Sent*>> by_conv;  // in log order
  if (crashed) {  // earlier failures come first
    for (Part& part : parts_) {
      for (Sent& s : part.limbo) {
        s.candidate = true;
        touched.insert(s.conv);
        by_conv[s.conv].push_back(&s);
      }
    }
  }
  for (Sent& s : sent_) {
    if ((s.acked && !s.ack.duplicate) || s.candidate) by_conv[s.conv].push_back(&s);
  }
  std::vector<Sent*> added;
  for (size_t conv : touched) {
    WalkConv(conv, by_conv[conv], &added);
    if (::testing::Test::HasFatalFailure()) return;
  }
  CheckDedup(added);
  if (::testing::Test::HasFatalFailure()) return;
  UpdateLimbo(crashed);
  CheckQuiescent(touched);
  if (::testing::Test::HasFatalFailure()) return;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    const uint64_t next = PartitionNextOffset(store_.get(), p);
    if (parts_[p].marks.empty() || parts_[p].marks.back() != next) parts_[p].marks.push_back(next);
  }
  sent_.clear();
  calls_.clear();
}

// Reads what the store holds past the model's end of `conv` and matches it,
// in order, against the acked (must be there) and candidate (may be) sends.
void StoreModel::WalkConv(size_t conv, const std::vector<Sent*>& sents, std::vector<Sent*>* added) {
  Conv& c = convs_[conv];
  SCOPED_TRACE("conversation #" + std::to_string(conv));
  auto info = store_->Info(c.ref());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_GE(info->last_seq, c.msgs.size()) << "acknowledged messages were lost";
  std::vector<Message> extra;
  while (c.msgs.size() + extra.size() < info->last_seq) {
    auto r = store_->After(c.ref(), c.msgs.size() + extra.size(), options_.max_read_count);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(r->empty()) << "Info promises seq " << info->last_seq << " but After returns nothing";
    for (Message& m : *r) extra.push_back(std::move(m));
  }
  size_t j = 0;
  for (const Message& m : extra) {
    const uint64_t want_seq = c.msgs.size() + 1;
    ASSERT_EQ(m.seq, want_seq) << "seqs are not gap-free";
    while (j < sents.size()) {
      const Sent& s = *sents[j];
      if (s.body == m.body && s.sender == m.sender && s.client_id == m.client_id) break;
      ASSERT_FALSE(s.acked) << "acknowledged seq " << s.ack.seq << " (" << s.body.substr(0, s.body.find('|'))
                            << ") missing or out of order; the store has "
                            << m.body.substr(0, m.body.find('|')) << " at seq " << m.seq;
      ++j;
    }
    ASSERT_LT(j, sents.size()) << "seq " << m.seq << " holds " << m.body.substr(0, m.body.find('|'))
                               << ", which was never acknowledged nor possibly written";
    Sent& s = *sents[j++];
    if (s.acked) {
      ASSERT_EQ(m.seq, s.ack.seq);
      ASSERT_EQ(m.timestamp_us, s.ack.timestamp_us);
      ASSERT_EQ(m.offset, s.ack.offset);
    } else {
      s.ack = {m.seq, m.timestamp_us, m.offset, c.partition, false};
      s.adopted = true;
      ++g_cov.adopted;
      ASSERT_EQ(m.timestamp_us, s.now_us);
    }
    if (!c.msgs.empty()) {
      ASSERT_GT(m.offset, c.msgs.back().offset);
    }
    ASSERT_GE(m.offset, parts_[c.partition].epoch_start);
    c.msgs.push_back(m);
    if (!m.client_id.empty()) {
      ASSERT_TRUE(parts_[c.partition].fifo.emplace(m.offset, DedupRec{conv, m.client_id, m.seq, m.timestamp_us}).second);
      added->push_back(&s);
    }
  }
  for (; j < sents.size(); ++j) {
    const Sent& s = *sents[j];
    ASSERT_FALSE(s.acked) << "acknowledged seq " << s.ack.seq << " (" << s.body.substr(0, s.body.find('|'))
                          << ") is missing";
  }
}

// True if a record with `cid` at `offset` had to be answered as a retry: the
// newest earlier record with that id is inside the window by age and by count
// (counting every client id before `offset`: an upper bound of what was
// durable when the record was assigned).
bool StoreModel::MustBeDuplicate(uint32_t p, size_t conv, const std::string& cid, uint64_t offset,
                                 uint64_t now_us) const {
  const auto& fifo = parts_[p].fifo;
  size_t newer = 0;
  for (auto it = fifo.lower_bound(offset); it != fifo.begin();) {
    --it;
    if (it->second.conv == conv && it->second.client_id == cid) {
      return newer < options_.dedup_max_entries && it->second.ts + options_.dedup_window_ms * 1000 >= now_us;
    }
    ++newer;
  }
  return false;
}

void StoreModel::CheckDedup(const std::vector<Sent*>& added) {
  for (const Sent* sp : added) {
    const Sent& s = *sp;
    ASSERT_FALSE(MustBeDuplicate(convs_[s.conv].partition, s.conv, s.client_id, s.ack.offset, s.now_us))
        << "a retry of client id inside the dedup window was stored again as seq " << s.ack.seq;
  }
  for (const Sent& s : sent_) {
    if (!s.acked || !s.ack.duplicate) continue;
    ASSERT_FALSE(s.client_id.empty()) << "duplicate without a client id";
    const Part& part = parts_[convs_[s.conv].partition];
    auto it = part.fifo.find(s.ack.offset);
    ASSERT_NE(it, part.fifo.end()) << "duplicate ack points at offset " << s.ack.offset << ", no such original";
    ASSERT_EQ(it->second.conv, s.conv);
    ASSERT_EQ(it->second.client_id, s.client_id);
    ASSERT_EQ(it->second.seq, s.ack.seq);
    ASSERT_EQ(it->second.ts, s.ack.timestamp_us);
    if (s.ack.offset >= part.epoch_start) continue;  // the original is from this epoch
    // Before the epoch the model knew a lower bound of the durable state: if
    // the original was already out of the window then, it had to be new.
    ASSERT_GE(it->second.ts + options_.dedup_window_ms * 1000, epoch_now_us_) << "expired id deduplicated";
    size_t newer = 0;
    for (auto n = std::next(it); n != part.fifo.end() && n->first < part.epoch_start; ++n) {
      ASSERT_FALSE(n->second.conv == s.conv && n->second.client_id == s.client_id) << "older original returned";
      ++newer;
    }
    ASSERT_LT(newer, options_.dedup_max_entries) << "id evicted by count was deduplicated";
  }
}

// A successful write to a partition overwrites or zeroes whatever failed
// writes left behind; a crash settles it (recovery keeps it or cuts it).
void StoreModel::UpdateLimbo(bool crashed) {
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    Part& part = parts_[p];
    if (crashed) part.limbo.clear();
    size_t from = 0;
    for (size_t i = 0; i < sent_.size(); ++i) {
      const Sent& s = sent_[i];
      if (convs_[s.conv].partition == p && ((s.acked && !s.ack.duplicate) || s.adopted)) {
        part.limbo.clear();
        from = i + 1;
      }
    }
    if (crashed) continue;
    for (size_t i = from; i < sent_.size(); ++i) {
      const Sent& s = sent_[i];
      const Call& call = calls_[s.call];
      // A single append that failed for sure (its bytes were erased, or never
      // written) must never come back; only an Indeterminate one may. (A
      // batch reports one status for all its partitions.)
      const bool may_return = call.batch || call.status.code() == StatusCode::kIndeterminate;
      if (convs_[s.conv].partition == p && !s.acked && !s.adopted && !call.immediate && may_return) {
        part.limbo.push_back(s);
        part.limbo.back().candidate = false;
      }
    }
  }
}

void StoreModel::CheckQuiescent(const std::set<size_t>& convs) {
  for (size_t conv : convs) {
    const Conv& c = convs_[conv];
    auto info = store_->Info(c.ref());
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->last_seq, c.msgs.size());
    ASSERT_EQ(info->count, c.msgs.size());
    ASSERT_EQ(info->last_timestamp_us, c.msgs.empty() ? 0 : c.msgs.back().timestamp_us);
  }
  // Offsets are dense: a partition's next offset is its number of records.
  std::vector<uint64_t> records(options_.partitions);
  uint64_t nonempty = 0;
  for (const Conv& c : convs_) {
    records[c.partition] += c.msgs.size();
    nonempty += c.msgs.empty() ? 0 : 1;
  }
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    if (PartitionNextOffset(store_.get(), p) == records[p]) continue;
    std::string diff;
    for (size_t i = 0; i < convs_.size(); ++i) {
      auto info = store_->Info(convs_[i].ref());
      if (convs_[i].partition == p && info.ok() && info->last_seq != convs_[i].msgs.size()) {
        diff += " #" + std::to_string(i) + " has " + std::to_string(info->last_seq) + " (model " +
                std::to_string(convs_[i].msgs.size()) + ")";
        auto extra = store_->After(convs_[i].ref(), convs_[i].msgs.size(), 10);
        if (extra.ok()) {
          for (const Message& m : *extra) {
            diff += " [seq " + std::to_string(m.seq) + " " + m.body.substr(0, m.body.find('|')) + " off " +
                    std::to_string(m.offset) + " cid " + m.client_id + "]";
            for (const Sent& x : sent_) {
              if (x.body == m.body) {
                const Call& call = calls_[x.call];
                diff += " sent to #" + std::to_string(x.conv) + " in a " + (call.batch ? "batch" : "single") +
                        " call of " + std::to_string(call.sent.size()) + ": " + call.status.ToString();
              }
            }
          }
        }
      }
    }
    FAIL() << "partition " << p << " next offset " << PartitionNextOffset(store_.get(), p) << " but the model has "
           << records[p] << " records;" << diff;
  }
  ASSERT_EQ(store_->Stats().conversations, nonempty);
}

void StoreModel::VerifyConv(size_t conv) {
  const Conv& c = convs_[conv];
  SCOPED_TRACE("verify conversation #" + std::to_string(conv));
  std::vector<Message> all;
  while (true) {
    auto r = store_->After(c.ref(), all.size(), options_.max_read_count);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (r->empty()) break;
    for (Message& m : *r) all.push_back(std::move(m));
  }
  ASSERT_EQ(all.size(), c.msgs.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const Message &a = all[i], &b = c.msgs[i];
    ASSERT_TRUE(a.seq == b.seq && a.timestamp_us == b.timestamp_us && a.offset == b.offset && a.sender == b.sender &&
                a.client_id == b.client_id && a.body == b.body)
        << "seq " << b.seq << " differs";
  }
}

void StoreModel::RandomRead() {
  const size_t conv = rng_.Uniform(convs_.size());
  const Conv& c = convs_[conv];
  const uint64_t last = c.msgs.size();
  const uint64_t max = options_.max_read_count;
  const size_t ns[] = {0, 1, max, max + 1, rng_.Range(1, max), rng_.Range(1, std::min<uint64_t>(max, 60))};
  const size_t n = ns[rng_.Uniform(std::size(ns))];
  const uint64_t seqs[] = {0, 1, last, last + 1, last + 100, rng_.Uniform(last + 3), UINT64_MAX, UINT64_MAX - 1};
  const uint64_t seq = seqs[rng_.Uniform(std::size(seqs))];
  const int kind = static_cast<int>(rng_.Uniform(5));
  ++g_cov.reads;
  SCOPED_TRACE("read kind " + std::to_string(kind) + " conversation #" + std::to_string(conv) + " seq " +
               std::to_string(seq) + " n " + std::to_string(n) + " last " + std::to_string(last));
  if (kind == 4) {
    auto r = store_->Get(c.ref(), seq);
    if (seq >= 1 && seq <= last) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      const Message& want = c.msgs[seq - 1];
      ASSERT_TRUE(r->seq == seq && r->timestamp_us == want.timestamp_us && r->offset == want.offset &&
                  r->body == want.body && r->sender == want.sender && r->client_id == want.client_id);
    } else {
      ASSERT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().ToString();
    }
    return;
  }
  Result<std::vector<Message>> r = kind == 0   ? store_->Latest(c.ref(), n)
                                   : kind == 1 ? store_->Before(c.ref(), seq, n)
                                   : kind == 2 ? store_->After(c.ref(), seq, n)
                                               : Result<std::vector<Message>>(Status::Ok());
  if (kind == 3) {
    auto info = store_->Info(c.ref());
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->last_seq, last);
    ASSERT_EQ(info->last_timestamp_us, last == 0 ? 0 : c.msgs.back().timestamp_us);
    return;
  }
  if (n == 0 || n > max) {
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    return;
  }
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  uint64_t lo = 1, hi = 0;  // expected seqs [lo, hi]
  if (kind == 0) {
    hi = last;
    lo = last > n ? last - n + 1 : 1;
  } else if (kind == 1) {
    hi = std::min(seq == 0 ? 0 : seq - 1, last);
    lo = hi > n ? hi - n + 1 : 1;
  } else if (seq < last) {
    lo = seq + 1;
    hi = std::min<uint64_t>(last, seq + n);
  }
  ASSERT_EQ(r->size(), hi >= lo ? hi - lo + 1 : 0);
  for (size_t i = 0; i < r->size(); ++i) {
    const Message& m = (*r)[i];
    const Message& want = c.msgs[lo - 1 + i];
    ASSERT_TRUE(m.seq == want.seq && m.timestamp_us == want.timestamp_us && m.offset == want.offset &&
                m.body == want.body && m.sender == want.sender && m.client_id == want.client_id)
        << "message " << i << " of the reply (seq " << m.seq << ", expected " << want.seq << ")";
  }
}

// ---- faults, crashes, truncation, time ----

void StoreModel::CrashAndReopen(bool in_epoch) {
  if (!in_epoch) BeginEpoch();  // an empty one: earlier failures may still surface
  const auto mode = rng_.OneIn(2) ? io::CrashMode::kDropUnsynced : io::CrashMode::kKeepRandomPrefix;
  ASSERT_TRUE(fault_->Crash(mode, rng_.Next()).ok());
  ++g_cov.crashes;
  (void)store_->Close();  // the dead process: everything after the crash fails
  store_.reset();
  DisarmFaults();
  WaitAll();
  if (::testing::Test::HasFatalFailure()) return;
  Open(/*after_crash=*/true);
  if (::testing::Test::HasFatalFailure()) return;
  Reconcile(true);
  if (::testing::Test::HasFatalFailure()) return;
  std::set<size_t> all;
  for (size_t i = 0; i < convs_.size(); ++i) all.insert(i);
  CheckQuiescent(all);
  for (size_t i = 0; i < convs_.size() && !::testing::Test::HasFatalFailure(); ++i) {
    if (rng_.OneIn(3)) VerifyConv(i);
  }
}

void StoreModel::Truncate() {
  const uint32_t p = static_cast<uint32_t>(rng_.Uniform(options_.partitions));
  Part& part = parts_[p];
  if (part.marks.empty()) return;
  const uint64_t x = part.marks[rng_.Uniform(part.marks.size())];
  SCOPED_TRACE("truncate partition " + std::to_string(p) + " at " + std::to_string(x));
  Status s = TruncatePartition(store_.get(), p, x);
  ++g_cov.truncations;
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::set<size_t> affected;
  for (size_t i = 0; i < convs_.size(); ++i) {
    Conv& c = convs_[i];
    if (c.partition != p) continue;
    while (!c.msgs.empty() && c.msgs.back().offset >= x) c.msgs.pop_back();
    affected.insert(i);
  }
  part.fifo.erase(part.fifo.lower_bound(x), part.fifo.end());
  part.limbo.clear();  // the cut zeroes everything past it
  std::erase_if(part.marks, [x](uint64_t m) { return m > x; });
  CheckQuiescent(affected);
  for (size_t i : affected) {
    if (::testing::Test::HasFatalFailure() || !rng_.OneIn(2)) continue;
    VerifyConv(i);
  }
}

void StoreModel::AdvanceClock() {
  const uint64_t window_ms = options_.dedup_window_ms;
  switch (rng_.Uniform(4)) {
    case 0:  // far past every window
      clock_.AdvanceMillis(window_ms + rng_.Uniform(window_ms));
      break;
    case 1: {  // exactly to the last instant some client id is still remembered
      const Part& part = parts_[rng_.Uniform(parts_.size())];
      if (part.fifo.empty()) break;
      auto it = part.fifo.begin();
      std::advance(it, rng_.Uniform(part.fifo.size()));
      const uint64_t edge = it->second.ts + window_ms * 1000;
      const uint64_t now = clock_.WallMicros();
      if (edge > now) clock_.AdvanceNanos((edge - now + rng_.Uniform(2)) * 1000);
      break;
    }
    default:
      clock_.AdvanceMillis(rng_.Uniform(window_ms / 3));
  }
}

void StoreModel::Step(int kind) {
  switch (kind) {
    case 0:
    case 1:
    case 2: {  // blocking appends, sometimes failing
      BeginEpoch();
      const bool faults = rng_.OneIn(6);
      if (faults) ArmFaults();
      for (uint64_t k = rng_.Range(1, 4); k > 0; --k) SubmitBlocking(rng_.OneIn(3));
      if (faults) DisarmFaults();
      Reconcile(false);
      break;
    }
    case 3:
    case 4:
      Burst(/*crash=*/false);
      break;
    case 5:
      Burst(/*crash=*/true);
      break;
    case 6:
      CrashAndReopen(/*in_epoch=*/false);
      break;
    case 7: {  // clean restart
      ++g_cov.restarts;
      ASSERT_TRUE(store_->Close().ok());
      store_.reset();
      Open();
      break;
    }
    case 8:
      Truncate();
      break;
    case 9:
      AdvanceClock();
      break;
    default:
      for (uint64_t k = rng_.Range(1, 8); k > 0 && !::testing::Test::HasFatalFailure(); --k) RandomRead();
  }
}

void StoreModel::Run() {
  Setup();
  if (::testing::Test::HasFatalFailure()) return;
  const uint64_t steps = rng_.Range(10, 28);
  for (uint64_t i = 0; i < steps; ++i) {
    // Weights: appends 5/14, crash 2/14, restart, truncate, clock 1/14 each, reads 4/14.
    const int pick = static_cast<int>(rng_.Uniform(14));
    SCOPED_TRACE("step " + std::to_string(i) + " action " + std::to_string(pick));
    if (std::getenv("WARBLER_STORE_TRACE") != nullptr) std::fprintf(stderr, "step %llu action %d\n", (unsigned long long)i, pick);
    Step(pick);
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (size_t i = 0; i < convs_.size() && !::testing::Test::HasFatalFailure(); ++i) VerifyConv(i);
  if (store_ != nullptr) {
    ASSERT_TRUE(store_->Close().ok());
  }
  store_.reset();
  ++g_cov.seeds;
  g_cov.injected += fault_->counters().injected + fault_->counters().budget_refusals;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    auto names = mem_->List(std::string(kDir) + "/p-000" + std::to_string(p));
    ASSERT_TRUE(names.ok()) << names.status().ToString();
    for (const auto& n : *names) g_cov.sealed_segments += n.ends_with(".cix") ? 1 : 0;
  }
}

TEST(StoreModelTest, MatchesModelAcrossFaultsCrashesAndTruncation) {
  if (std::getenv("WARBLER_STORE_LOG") == nullptr) SetLogSink(QuietSink);
  std::signal(SIGABRT, OnFatalSignal);
  std::signal(SIGSEGV, OnFatalSignal);
  const uint64_t only = EnvOr("WARBLER_STORE_SEED", UINT64_MAX);
  const uint64_t seeds = only != UINT64_MAX ? 1 : EnvOr("WARBLER_STORE_SEEDS", 200);
  for (uint64_t i = 0; i < seeds; ++i) {
    const uint64_t seed = only != UINT64_MAX ? only : i + 1;
    g_seed = seed;
    {
      SCOPED_TRACE("seed " + std::to_string(seed));
      StoreModel(seed).Run();
    }
    if (HasFailure()) {
      ADD_FAILURE() << "replay with WARBLER_STORE_SEED=" << seed;
      break;
    }
  }
  std::printf("store model: %llu seeds, %llu appends (%llu acked, %llu duplicates, %llu failed, %llu adopted), "
              "%llu crashes, %llu restarts, %llu truncations, %llu reads, %llu faults injected, "
              "%llu segment rolls, %llu sealed segments at the end, %llu quarantine opens\n",
              (unsigned long long)g_cov.seeds, (unsigned long long)g_cov.sent, (unsigned long long)g_cov.acked,
              (unsigned long long)g_cov.duplicates, (unsigned long long)g_cov.failed,
              (unsigned long long)g_cov.adopted, (unsigned long long)g_cov.crashes,
              (unsigned long long)g_cov.restarts, (unsigned long long)g_cov.truncations,
              (unsigned long long)g_cov.reads, (unsigned long long)g_cov.injected,
              (unsigned long long)g_rolls.load(), (unsigned long long)g_cov.sealed_segments,
              (unsigned long long)g_cov.quarantined);
  std::signal(SIGABRT, SIG_DFL);
  std::signal(SIGSEGV, SIG_DFL);
  SetLogSink(nullptr);
}

}  // namespace
}  // namespace warbler::engine
