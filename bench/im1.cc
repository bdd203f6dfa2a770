// IM-1 workload driver (issue 4, ../shared/WORKLOAD.md) in embedded mode:
// Warbler's Store and a RocksDB baseline, side by side on the same messages.
//
//   im1 [--quick] [--conversations N] [--messages N] [--producers N] [--readers N]
//       [--history-requests N] [--sync-requests N] [--skew] [--inflight N]
//       [--phases write,history,sync,recovery] [--dir PATH] [--keep]
//       [--no-baseline] [--no-encryption] [--no-compression] [--partitions N] [--recent-cache-mib N] [--json]
//   im1 --target host:port|spawn [...]   over the network: bench/im1_net.cc
//
// Data: one tenant; message i goes to a conversation drawn from a fixed-seed
// generator (uniform, or Zipf s = 1.1 with --skew; reads follow the same
// distribution); its 200 B body is chat-like text from a fixed word list, its
// sender and client message id 16 B each, all a pure function of i, so both
// engines store the same bytes and every read is checked (count, seqs, and the
// bytes of a message, found through its client id).
//
// Process model: each engine runs in forked children, so each peak RSS
// (ru_maxrss from wait4) belongs to one engine and one phase set:
//   writer  opens a fresh store, runs the write phase (--producers threads, one
//           durable append per call), reports over a pipe and is then killed
//           with SIGKILL right after its last ack (recovery phase) or closes;
//   reader  a fresh process: recovery = Open + the first history read; then
//           history warm and sync; then close, drop the page cache, reopen
//           (timed), drop it again (Open may have read what it indexes) and
//           run history cold. The page cache is dropped with
//           /proc/sys/vm/drop_caches when permitted (root), otherwise with
//           posix_fadvise(DONTNEED) on every file of the store; the report
//           says which, and how many disk reads (and KiB) the data
//           directory's block device did per cold request (/proc/diskstats);
//   async   Warbler only: a fresh store, one producer keeping --inflight
//           AppendAsync calls in flight (an extra write row; 0 turns it off).
// Both engines use their defaults with durable acks: Warbler StoreOptions{}
// (kSync, zstd, AES-256-GCM encryption as IM-1 requires; --no-encryption turns
// it off; the KEK is WARBLER_KEK, or a fixed bench-only key); RocksDB (Debian's librocksdb-dev)
// with sync writes, zstd and an LRU block cache as large as Warbler's two caches together
// (block_cache_bytes + recent_cache_bytes: 128 MiB by default).
// Latency is per call: from the call to its return (or the async callback). Ratios are Warbler /
// RocksDB. --phases selects what is reported; the write phase always runs (the others need its
// data). --quick: 2,000 conversations, 20,000 messages, 2,000 requests per read phase. --json
// prints one JSON object instead of the tables. Data lives in --dir (default: a fresh directory
// under $TMPDIR or /var/tmp), removed at the end unless --keep.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "bench/process_cpu.h"
#include "warbler/store.h"

#ifdef WARBLER_IM1_ROCKSDB
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#endif

namespace warbler::bench::net {
// bench/im1_net.cc: IM-1 through the client library against warblerd and Redis.
int RunNetworkIm1(int argc, char** argv);
}  // namespace warbler::bench::net

namespace warbler::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kTenant = "im1";
constexpr uint64_t kSeed = 0x1a1a1a1;
constexpr size_t kBodyBytes = 200;
constexpr size_t kSenderBytes = 16;
constexpr size_t kClientIdBytes = 16;
constexpr size_t kHistoryCount = 50;  // newest 50 per history request
constexpr uint64_t kSyncBack = 20;    // sync: everything after last seq - 20
constexpr size_t kSyncMax = 1000;     // n of the sync read
constexpr double kZipfS = 1.1;
constexpr uint64_t kSettleTimeoutMs = 300'000;  // at most, waiting for RocksDB compactions
// A bench-only KEK ("bench-only-kek-not-for-product!!"), used when WARBLER_KEK is unset.
constexpr const char* kBenchKekHex =
    "62656e63682d6f6e6c792d6b656b2d6e6f742d666f722d70726f647563742121";
constexpr uint32_t kMaxConversations = 99'999'999;  // "conv-%08u"

struct Config {
  uint32_t conversations = 10'000;
  uint64_t messages = 200'000;
  int producers = 32;
  int readers = 32;
  uint64_t history_requests = 20'000;
  uint64_t sync_requests = 20'000;
  int inflight = 1024;  // 0: no async row
  bool skew = false;
  bool baseline = true;
  bool json = false;
  bool keep = false;
  bool phase_write = true, phase_history = true, phase_sync = true, phase_recovery = true;
  std::string dir;
  StoreOptions store;  // defaults; --no-encryption turns encryption off
  bool ReaderNeeded() const { return phase_history || phase_sync || phase_recovery; }
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "im1: %s\n", what.c_str());
  std::exit(1);
}

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// The 1-minute load average: the machine is shared, so the report states it.
double LoadAverage() {
  double load = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

uint64_t CurrentRssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// ---------------------------------------------------------------------------
// The workload: which conversation each message and request goes to.

struct Workload {
  uint32_t conversations = 0;
  std::vector<uint32_t> conv_of;       // message i -> conversation
  std::vector<uint32_t> count;         // messages per conversation (= its last seq)
  std::vector<uint32_t> history_conv;  // history request k -> conversation
  std::vector<uint32_t> sync_conv;     // sync request k -> conversation
};

const Workload* g_workload = nullptr;  // set once before any fork or thread

// Conversation picker: uniform, or Zipf(s) over ranks 0..n-1 by inverse CDF.
class ConversationPicker {
 public:
  ConversationPicker(uint32_t n, bool zipf) : n_(n) {
    if (!zipf) return;
    cdf_.resize(n);
    double sum = 0;
    for (uint32_t k = 0; k < n; ++k) cdf_[k] = (sum += 1.0 / std::pow(k + 1.0, kZipfS));
  }
  uint32_t Pick(Rng& rng) const {
    if (cdf_.empty()) return static_cast<uint32_t>(rng.Uniform(n_));
    const double u = rng.NextDouble() * cdf_.back();
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), n_ - 1));
  }

 private:
  uint32_t n_;
  std::vector<double> cdf_;
};

Workload MakeWorkload(const Config& cfg) {
  Workload w;
  w.conversations = cfg.conversations;
  ConversationPicker picker(cfg.conversations, cfg.skew);
  Rng rng(kSeed);
  w.conv_of.resize(cfg.messages);
  w.count.assign(cfg.conversations, 0);
  for (uint64_t i = 0; i < cfg.messages; ++i) {
    w.conv_of[i] = picker.Pick(rng);
    ++w.count[w.conv_of[i]];
  }
  // Reads follow the same distribution as the writes.
  w.history_conv.resize(cfg.history_requests);
  for (uint32_t& c : w.history_conv) c = picker.Pick(rng);
  w.sync_conv.resize(cfg.sync_requests);
  for (uint32_t& c : w.sync_conv) c = picker.Pick(rng);
  return w;
}

struct ConvName {
  explicit ConvName(uint32_t c) { std::snprintf(buf, sizeof(buf), "conv-%08u", c); }
  std::string_view view() const { return {buf, 13}; }
  char buf[16];
};

// Message i's sender, client id and body: a pure function of i.
struct MessageBytes {
  explicit MessageBytes(uint64_t i) {
    static constexpr std::string_view kWords[] = {
        "hey ",     "ok ",  "see ",   "you ",  "at ",      "lunch ",  "tomorrow ", "the ",
        "meeting ", "is ",  "moved ", "to ",   "three ",   "thanks ", "sure ",     "sounds ",
        "good ",    "can ", "we ",    "talk ", "later ",   "lol ",    "what ",     "about ",
        "friday ",  "i ",   "think ", "so ",   "running ", "late ",   "sorry ",    "on ",
        "my ",      "way ", "did ",   "get ",  "it ",      "yes ",    "no ",       "maybe ",
        "call ",    "me ",  "when ",  "free ", "new ",     "photo ",  "nice ",     "haha "};
    Rng rng(kSeed ^ (i * 0x9e3779b97f4a7c15ull));
    size_t len = 0;
    while (len < kBodyBytes) {
      std::string_view w = kWords[rng.Uniform(std::size(kWords))];
      if (rng.OneIn(16)) w = "?! ";
      const size_t take = std::min(w.size(), kBodyBytes - len);
      std::memcpy(body_buf + len, w.data(), take);
      len += take;
    }
    std::snprintf(sender_buf, sizeof(sender_buf), "user-%011" PRIu64, rng.Uniform(100'000));
    std::snprintf(client_buf, sizeof(client_buf), "cid-%012" PRIu64, i);
  }
  std::string_view sender() const { return {sender_buf, kSenderBytes}; }
  std::string_view client_id() const { return {client_buf, kClientIdBytes}; }
  std::string_view body() const { return {body_buf, kBodyBytes}; }

  char sender_buf[kSenderBytes + 1];
  char client_buf[kClientIdBytes + 1];
  char body_buf[kBodyBytes];
};

// True if (client id, body) read back from conversation c is message i's.
bool ContentMatches(uint32_t c, std::string_view client_id, std::string_view body) {
  if (client_id.size() != kClientIdBytes || client_id.substr(0, 4) != "cid-") return false;
  const uint64_t i = std::strtoull(std::string(client_id.substr(4)).c_str(), nullptr, 10);
  if (i >= g_workload->conv_of.size() || g_workload->conv_of[i] != c) return false;
  return MessageBytes(i).body() == body;
}

// ---------------------------------------------------------------------------
// The engines behind one small interface.

// What one read returned, checked by the phase against the workload.
struct ReadSummary {
  size_t count = 0;
  uint64_t first_seq = 0;  // oldest returned
  uint64_t last_seq = 0;   // newest returned
  bool content_ok = true;  // the newest message's bytes are the ones written
  bool contiguous = true;  // seqs first..last without a gap
};

// Figures an engine reports about itself (0 when not applicable).
struct EngineFigures {
  uint64_t directory_bytes = 0;   // Warbler: StoreStats::directory_bytes
  uint64_t tail_index_bytes = 0;  // Warbler: StoreStats::tail_index_bytes
  uint64_t cache_bytes = 0;       // Warbler: block + recent-message cache bytes
  uint64_t stored_bytes = 0;      // Warbler: StoreStats::bytes_on_disk; RocksDB: sum of file sizes
  // Messages acknowledged per fdatasync since open (the group-commit factor):
  // Warbler: StoreStats appends / fdatasyncs; RocksDB: "writes per sync" of
  // its cumulative WAL stats (one write per message here). 0 = unknown.
  double msgs_per_sync = 0;
};

void DiskUsage(const std::string& dir, uint64_t* allocated, uint64_t* apparent);

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* name() const = 0;
  virtual Status Open(const std::string& dir) = 0;
  virtual Status Close() = 0;
  // Appends message i; returns once it is durable.
  virtual Status Write(uint64_t i) = 0;
  virtual Status Latest(uint32_t c, size_t n, ReadSummary* out) = 0;
  virtual Status After(uint32_t c, uint64_t seq, size_t n, ReadSummary* out) = 0;
  virtual EngineFigures Figures() = 0;
  // Waits (at most timeout_ms) until no background work runs (RocksDB's
  // flushes and compactions), so read phases do not measure them; returns the
  // ms waited. Warbler exposes no such signal (its segment preparer and
  // dictionary trainer are short-lived), so its wait is 0.
  virtual double WaitIdle(uint64_t timeout_ms) {
    (void)timeout_ms;
    return 0;
  }
};

// Both engines return what a chat server hands to a client: the messages,
// copied out of the engine (Warbler's API does it; the RocksDB adapter decodes
// its values into the same type), summarized here.
Status Summarize(uint32_t c, const Result<std::vector<Message>>& r, ReadSummary* out) {
  if (!r.ok()) return r.status();
  *out = ReadSummary{};
  out->count = r->size();
  if (r->empty()) return Status::Ok();
  out->first_seq = r->front().seq;
  out->last_seq = r->back().seq;
  for (size_t k = 1; k < r->size(); ++k) out->contiguous &= (*r)[k].seq == (*r)[k - 1].seq + 1;
  out->content_ok = ContentMatches(c, r->back().client_id, r->back().body);
  return Status::Ok();
}

class WarblerEngine final : public Engine {
 public:
  explicit WarblerEngine(const StoreOptions& options) : options_(options) {}
  const char* name() const override { return "warbler"; }
  Status Open(const std::string& dir) override {
    auto store = Store::Open(options_, dir);
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
    return Status::Ok();
  }
  Status Close() override {
    if (store_ == nullptr) return Status::Ok();
    Status s = store_->Close();
    store_.reset();
    return s;
  }
  Status Write(uint64_t i) override {
    const MessageBytes m(i);
    const ConvName conv(g_workload->conv_of[i]);
    const AppendRequest r{{kTenant, conv.view()}, m.sender(), m.body(), m.client_id()};
    Result<AppendAck> ack = store_->Append(r);
    return ack.ok() ? Status::Ok() : ack.status();
  }
  Status Latest(uint32_t c, size_t n, ReadSummary* out) override {
    const ConvName conv(c);
    return Summarize(c, store_->Latest({kTenant, conv.view()}, n), out);
  }
  Status After(uint32_t c, uint64_t seq, size_t n, ReadSummary* out) override {
    const ConvName conv(c);
    return Summarize(c, store_->After({kTenant, conv.view()}, seq, n), out);
  }
  EngineFigures Figures() override {
    const StoreStats s = store_->Stats();
    EngineFigures f{s.directory_bytes, s.tail_index_bytes, s.cache_bytes + s.recent_bytes, s.bytes_on_disk};
    if (s.fdatasyncs > 0) f.msgs_per_sync = static_cast<double>(s.appends) / static_cast<double>(s.fdatasyncs);
    return f;
  }
  Store* store() { return store_.get(); }

 private:
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

#ifdef WARBLER_IM1_ROCKSDB
// Key: tenant '/' conversation, then the seq as 8 big-endian bytes, so one
// conversation is one contiguous key range in seq order. Value: sender (16) |
// client id (16) | timestamp µs (8, big-endian) | body.
class RocksEngine final : public Engine {
 public:
  explicit RocksEngine(uint32_t conversations)
      : next_seq_(std::make_unique<std::atomic<uint64_t>[]>(conversations)) {}
  const char* name() const override { return "rocksdb"; }

  Status Open(const std::string& dir) override {
    rocksdb::Options o;
    o.create_if_missing = true;
    o.compression = rocksdb::kZSTD;
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = rocksdb::NewLRUCache(StoreOptions{}.block_cache_bytes + StoreOptions{}.recent_cache_bytes);
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(o, dir, &db);
    if (!s.ok()) return Status::IOError("rocksdb open: " + s.ToString());
    db_.reset(db);
    dir_ = dir;
    return Status::Ok();
  }
  Status Close() override {
    if (db_ == nullptr) return Status::Ok();
    rocksdb::Status s = db_->Close();
    db_.reset();
    return s.ok() ? Status::Ok() : Status::IOError("rocksdb close: " + s.ToString());
  }
  Status Write(uint64_t i) override {
    const uint32_t c = g_workload->conv_of[i];
    const uint64_t seq = next_seq_[c].fetch_add(1, std::memory_order_relaxed) + 1;
    const MessageBytes m(i);
    std::string value;
    value.reserve(kSenderBytes + kClientIdBytes + 8 + kBodyBytes);
    value.append(m.sender()).append(m.client_id());
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    AppendBigEndian(
        &value,
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
    value.append(m.body());
    rocksdb::WriteOptions w;
    w.sync = true;
    rocksdb::Status s = db_->Put(w, Key(c, seq), value);
    return s.ok() ? Status::Ok() : Status::IOError("rocksdb put: " + s.ToString());
  }
  // Newest n: a reverse iterator from the end of the conversation's range.
  Status Latest(uint32_t c, size_t n, ReadSummary* out) override {
    const Range range(c);
    auto it = NewIterator(range);
    std::vector<Message> msgs;
    for (it->SeekForPrev(range.upper); it->Valid() && msgs.size() < n; it->Prev()) {
      msgs.push_back(Decode(it->key(), it->value()));
    }
    std::reverse(msgs.begin(), msgs.end());
    return Summarize(c, Done(it.get(), std::move(msgs)), out);
  }
  // Oldest n after seq: a forward iterator from Key(seq + 1).
  Status After(uint32_t c, uint64_t seq, size_t n, ReadSummary* out) override {
    const Range range(c);
    auto it = NewIterator(range);
    std::vector<Message> msgs;
    for (it->Seek(Key(c, seq + 1)); it->Valid() && msgs.size() < n; it->Next()) {
      msgs.push_back(Decode(it->key(), it->value()));
    }
    return Summarize(c, Done(it.get(), std::move(msgs)), out);
  }
  double WaitIdle(uint64_t timeout_ms) override {
    const uint64_t t0 = NowNs();
    while (NowNs() - t0 < timeout_ms * 1'000'000) {
      uint64_t pending = 0, compactions = 0, flushes = 0;
      const bool ok = db_->GetIntProperty("rocksdb.compaction-pending", &pending) &&
                      db_->GetIntProperty("rocksdb.num-running-compactions", &compactions) &&
                      db_->GetIntProperty("rocksdb.num-running-flushes", &flushes);
      if (!ok || pending + compactions + flushes == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return static_cast<double>(NowNs() - t0) / 1e6;
  }
  EngineFigures Figures() override {
    EngineFigures f;
    uint64_t allocated = 0;
    DiskUsage(dir_, &allocated, &f.stored_bytes);
    // "Cumulative WAL: 200K writes, 13K syncs, 15.00 writes per sync, ..."
    std::string stats;
    if (db_ != nullptr && db_->GetProperty("rocksdb.dbstats", &stats)) {
      if (const size_t at = stats.find("Cumulative WAL:"); at != std::string::npos) {
        const size_t syncs = stats.find(" syncs, ", at);
        if (syncs != std::string::npos) f.msgs_per_sync = std::strtod(stats.c_str() + syncs + 8, nullptr);
      }
    }
    return f;
  }

 private:
  static void AppendBigEndian(std::string* out, uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
  }
  static std::string Key(uint32_t c, uint64_t seq) {
    std::string k(kTenant);
    k.push_back('/');
    k.append(ConvName(c).view());
    AppendBigEndian(&k, seq);
    return k;
  }
  static uint64_t BigEndianAt(std::string_view bytes, size_t at) {
    uint64_t v = 0;
    for (size_t k = at; k < at + 8; ++k) v = (v << 8) | static_cast<uint8_t>(bytes[k]);
    return v;
  }
  static Message Decode(const rocksdb::Slice& key, const rocksdb::Slice& value) {
    constexpr size_t kTimestampAt = kSenderBytes + kClientIdBytes;
    const std::string_view v(value.data(), value.size());
    Message m;
    m.seq = BigEndianAt(std::string_view(key.data(), key.size()), key.size() - 8);
    if (v.size() < kTimestampAt + 8) return m;  // shows up as a content mismatch
    m.sender = v.substr(0, kSenderBytes);
    m.client_id = v.substr(kSenderBytes, kClientIdBytes);
    m.timestamp_us = BigEndianAt(v, kTimestampAt);
    m.body = v.substr(kTimestampAt + 8);
    return m;
  }
  // One conversation's key range; the iterator points at its bounds, so it
  // must not outlive the Range.
  struct Range {
    explicit Range(uint32_t c)
        : lower(Key(c, 0)), upper(Key(c, UINT64_MAX)), lo(lower), hi(upper) {}
    Range(const Range&) = delete;
    Range& operator=(const Range&) = delete;
    std::string lower, upper;
    rocksdb::Slice lo, hi;
  };
  std::unique_ptr<rocksdb::Iterator> NewIterator(const Range& r) {
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &r.lo;
    ro.iterate_upper_bound = &r.hi;
    return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro));
  }
  static Result<std::vector<Message>> Done(rocksdb::Iterator* it, std::vector<Message> msgs) {
    rocksdb::Status s = it->status();
    if (!s.ok()) return Status::IOError("rocksdb iterator: " + s.ToString());
    return msgs;
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  std::unique_ptr<std::atomic<uint64_t>[]> next_seq_;  // RocksDB has no seq: the writer assigns it
};
#endif  // WARBLER_IM1_ROCKSDB

enum class EngineKind : int { kWarbler = 0, kRocksDb = 1 };

std::unique_ptr<Engine> MakeEngine(EngineKind kind, const StoreOptions& options) {
#ifdef WARBLER_IM1_ROCKSDB
  if (kind == EngineKind::kRocksDb) return std::make_unique<RocksEngine>(g_workload->conversations);
#endif
  (void)kind;
  return std::make_unique<WarblerEngine>(options);
}

// ---------------------------------------------------------------------------
// Measuring.

// One line on stderr, rewritten in place on a terminal (every 0.5 s) or a new
// line every 10 s otherwise, while a phase runs.
class Progress {
 public:
  Progress(std::string label, uint64_t total, const std::atomic<uint64_t>* done)
      : label_(std::move(label)),
        total_(total),
        done_(done),
        tty_(::isatty(2) == 1),
        thread_([this] { Loop(); }) {}
  ~Progress() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
    if (tty_) std::fprintf(stderr, "\r%-78s\r", "");
  }

 private:
  void Loop() {
    const auto start = Clock::now();
    const auto period = tty_ ? std::chrono::milliseconds(500) : std::chrono::milliseconds(5'000);
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, period, [this] { return stop_; })) {
      const uint64_t d = done_->load(std::memory_order_relaxed);
      const double secs = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, "%s%-22s %10" PRIu64 "/%" PRIu64 " %5.1f%% %10.0f/s%s", tty_ ? "\r" : "",
                   label_.c_str(), d, total_,
                   100.0 * static_cast<double>(d) / static_cast<double>(total_),
                   static_cast<double>(d) / secs, tty_ ? "" : "\n");
    }
  }

  std::string label_;
  uint64_t total_;
  const std::atomic<uint64_t>* done_;
  bool tty_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  std::thread thread_;  // last: starts after the members it uses
};

// A phase's outcome; plain data so that a child can send it through a pipe.
struct PhaseStats {
  uint64_t ops = 0;
  uint64_t errors = 0;      // calls that returned an error
  uint64_t mismatches = 0;  // reads whose result disagrees with what was written
  double secs = 0;
  double per_s = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double cpu_us_per_op = 0;  // the process's CPU (user + system, all threads) per op; 0 = not measured
};

PhaseStats Summarize(std::vector<uint64_t>& ns, double secs, uint64_t errors, uint64_t mismatches) {
  PhaseStats p;
  p.ops = ns.size();
  p.errors = errors;
  p.mismatches = mismatches;
  p.secs = secs;
  p.per_s = secs > 0 ? static_cast<double>(ns.size()) / secs : 0;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const size_t i =
        std::min(ns.size() - 1, static_cast<size_t>(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[i]) / 1000.0;
  };
  p.p50_us = at(0.50);
  p.p99_us = at(0.99);
  p.p999_us = at(0.999);
  return p;
}

void ReportFirstError(std::atomic<bool>* reported, const char* what, const Status& s) {
  if (!reported->exchange(true)) std::fprintf(stderr, "im1: %s: %s\n", what, s.ToString().c_str());
}

// Runs op(k) for k in [0, total) on `threads` threads; op returns false on an
// error or a mismatch (counted by op itself). Latency per call, ns. The
// threads are started first and released together when the clock starts, as
// an IM server's long-lived workers would be: thread creation is not charged
// to the first requests (the same for both engines).
template <typename Op>
double RunParallel(const std::string& label, uint64_t total, int threads,
                   std::vector<uint64_t>* lat, Op op) {
  lat->assign(total, 0);
  std::atomic<uint64_t> next{0}, done{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start, end;
  {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::sleep_for(std::chrono::microseconds(200));
        for (uint64_t k = next.fetch_add(1); k < total; k = next.fetch_add(1)) {
          const uint64_t t0 = NowNs();
          op(k);
          (*lat)[k] = NowNs() - t0;
          done.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
    while (ready.load() < threads) std::this_thread::sleep_for(std::chrono::microseconds(200));
    Progress progress(label, total, &done);
    start = Clock::now();
    go.store(true, std::memory_order_release);
    for (auto& w : workers) w.join();
    end = Clock::now();  // before ~Progress
  }
  return std::chrono::duration<double>(end - start).count();
}

PhaseStats RunWrite(Engine& e, const Config& cfg) {
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> reported{false};
  std::vector<uint64_t> lat;
  const double cpu0 = ProcessCpuUs();
  const double secs = RunParallel(std::string(e.name()) + " write", cfg.messages, cfg.producers,
                                  &lat, [&](uint64_t i) {
                                    Status s = e.Write(i);
                                    if (s.ok()) return;
                                    errors.fetch_add(1);
                                    ReportFirstError(&reported, "write", s);
                                  });
  const double cpu = ProcessCpuUs() - cpu0;
  PhaseStats p = Summarize(lat, secs, errors.load(), 0);
  p.cpu_us_per_op = cpu / static_cast<double>(std::max<uint64_t>(1, cfg.messages));
  return p;
}

// Latest(c, 50) must return the conversation's newest min(50, count) messages.
bool HistoryOk(uint32_t c, const ReadSummary& r) {
  const uint64_t count = g_workload->count[c];
  const uint64_t want = std::min<uint64_t>(kHistoryCount, count);
  return r.count == want && r.content_ok && r.contiguous && (want == 0 || r.last_seq == count);
}

// The sync request of conversation c: everything after its last seq - 20.
uint64_t SyncFrom(uint32_t c) {
  const uint64_t count = g_workload->count[c];
  return count > kSyncBack ? count - kSyncBack : 0;
}

bool SyncOk(uint32_t c, const ReadSummary& r) {
  const uint64_t count = g_workload->count[c];
  const uint64_t from = SyncFrom(c);
  return r.count == count - from && r.content_ok && r.contiguous &&
         (r.count == 0 || (r.first_seq == from + 1 && r.last_seq == count));
}

enum class ReadKind { kHistory, kSync };

PhaseStats RunReads(Engine& e, const Config& cfg, ReadKind kind, const std::string& label) {
  const std::vector<uint32_t>& convs =
      kind == ReadKind::kHistory ? g_workload->history_conv : g_workload->sync_conv;
  std::atomic<uint64_t> errors{0}, mismatches{0};
  std::atomic<bool> reported{false}, reported_mismatch{false};
  std::vector<uint64_t> lat;
  const double cpu0 = ProcessCpuUs();
  const double secs = RunParallel(label, convs.size(), cfg.readers, &lat, [&](uint64_t k) {
    const uint32_t c = convs[k];
    ReadSummary r;
    Status s = kind == ReadKind::kHistory ? e.Latest(c, kHistoryCount, &r)
                                          : e.After(c, SyncFrom(c), kSyncMax, &r);
    if (!s.ok()) {
      errors.fetch_add(1);
      ReportFirstError(&reported, label.c_str(), s);
    } else if (!(kind == ReadKind::kHistory ? HistoryOk(c, r) : SyncOk(c, r))) {
      mismatches.fetch_add(1);
      if (!reported_mismatch.exchange(true)) {
        std::fprintf(stderr,
                     "im1: %s: conversation %u (count %u): got %zu messages, seqs %" PRIu64
                     "..%" PRIu64 ", content %s, contiguous %s\n",
                     label.c_str(), c, g_workload->count[c], r.count, r.first_seq, r.last_seq,
                     r.content_ok ? "ok" : "BAD", r.contiguous ? "yes" : "NO");
      }
    }
  });
  const double cpu = ProcessCpuUs() - cpu0;
  PhaseStats stats = Summarize(lat, secs, errors.load(), mismatches.load());
  stats.cpu_us_per_op = cpu / static_cast<double>(std::max<uint64_t>(1, stats.ops));
  return stats;
}

// Sum of allocated blocks (du) and of file sizes under dir.
void DiskUsage(const std::string& dir, uint64_t* allocated, uint64_t* apparent) {
  *allocated = *apparent = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    *allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) *apparent += static_cast<uint64_t>(st.st_size);
  }
}

enum class ColdMethod : int { kNone = 0, kDropCaches = 1, kFadvise = 2 };

const char* ColdMethodName(ColdMethod m) {
  switch (m) {
    case ColdMethod::kDropCaches:
      return "sync + echo 3 > /proc/sys/vm/drop_caches";
    case ColdMethod::kFadvise:
      return "fdatasync + posix_fadvise(DONTNEED) on every file of the store";
    case ColdMethod::kNone:
      break;
  }
  return "none (could not drop the page cache)";
}

// Evicts the store's files from the page cache: the whole cache if we may
// (root), otherwise each file of `dir` with POSIX_FADV_DONTNEED.
ColdMethod DropPageCache(const std::string& dir) {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    const bool ok = ::write(fd, "3\n", 2) == 2;
    ::close(fd);
    if (ok) return ColdMethod::kDropCaches;
  }
  bool any = false;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const int f = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) continue;
    (void)::fdatasync(f);
    any |= ::posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED) == 0;
    ::close(f);
  }
  return any ? ColdMethod::kFadvise : ColdMethod::kNone;
}

// ---------------------------------------------------------------------------
// Child processes.

// Everything a child reports; plain data written once to a pipe.
struct ChildReport {
  bool ok = false;
  char error[256] = {};
  uint64_t harness_rss = 0;   // RSS when the child started, before the engine opened
  uint64_t stored_bytes = 0;  // EngineFigures::stored_bytes after the write phase
  double msgs_per_sync = 0;   // EngineFigures::msgs_per_sync after the write phase
  // writer / async
  PhaseStats write;
  // reader
  double open_ms = 0, first_read_ms = 0;
  uint64_t rss_before_open = 0, rss_after_open = 0;
  uint64_t directory_bytes = 0, tail_index_bytes = 0, cache_bytes = 0;
  PhaseStats warm, sync, cold;
  double cold_open_ms = 0;
  // Over the cold phase, per request: reads completed and KiB read by the
  // block device of the data directory (/proc/diskstats); NaN if unknown.
  double cold_disk_reads = 0, cold_disk_kib = 0;
  double settle_ms = 0;  // background work waited for after the recovery open
  int cold_method = 0;
};

struct ChildOutcome {
  ChildReport report;
  uint64_t peak_rss = 0;  // ru_maxrss of the child, bytes
  bool report_received = false;
};

void Fail(ChildReport* r, const std::string& what, const Status& s) {
  std::snprintf(r->error, sizeof(r->error), "%s: %s", what.c_str(), s.ToString().c_str());
}

// Runs body in a forked child. The child sends its report; then, if
// kill_after, it waits to be killed with SIGKILL (a crash right after its
// last ack), else it exits. REQUIRES: the caller has no other threads.
ChildOutcome RunChild(const std::function<void(ChildReport*)>& body, bool kill_after) {
  int fds[2];
  if (::pipe(fds) != 0) Die(std::string("pipe: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) Die(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    auto report = std::make_unique<ChildReport>();
    report->harness_rss = CurrentRssBytes();
    body(report.get());
    const char* p = reinterpret_cast<const char*>(report.get());
    for (size_t off = 0; off < sizeof(ChildReport);) {
      const ssize_t n = ::write(fds[1], p + off, sizeof(ChildReport) - off);
      if (n <= 0) ::_exit(3);
      off += static_cast<size_t>(n);
    }
    if (kill_after) {
      for (;;) ::pause();
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildOutcome out;
  char* p = reinterpret_cast<char*>(&out.report);
  size_t off = 0;
  while (off < sizeof(ChildReport)) {
    const ssize_t n = ::read(fds[0], p + off, sizeof(ChildReport) - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(fds[0]);
  out.report_received = off == sizeof(ChildReport);
  if (kill_after) ::kill(pid, SIGKILL);
  int status = 0;
  struct rusage ru {};
  if (::wait4(pid, &status, 0, &ru) < 0) Die(std::string("wait4: ") + std::strerror(errno));
  out.peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  if (!out.report_received) {
    out.report = ChildReport{};
    std::snprintf(out.report.error, sizeof(out.report.error),
                  "child died (status 0x%x) before reporting", status);
  }
  return out;
}

void WriterChild(EngineKind kind, const Config& cfg, const std::string& dir, ChildReport* r) {
  auto e = MakeEngine(kind, cfg.store);
  if (Status s = e->Open(dir); !s.ok()) return Fail(r, "open", s);
  r->write = RunWrite(*e, cfg);
  const EngineFigures f = e->Figures();
  r->stored_bytes = f.stored_bytes;
  r->msgs_per_sync = f.msgs_per_sync;
  if (!cfg.phase_recovery) {
    if (Status s = e->Close(); !s.ok()) return Fail(r, "close", s);
  }
  r->ok = true;
  // With the recovery phase the engine stays open: the parent kills us.
  if (cfg.phase_recovery) (void)e.release();
}

// Recovery: Open + the first history read, timed; resident figures after it.
Status Reopen(Engine& e, const std::string& dir, ChildReport* r) {
  r->rss_before_open = CurrentRssBytes();
  const uint64_t t0 = NowNs();
  WB_RETURN_IF_ERROR(e.Open(dir).WithContext("reopen"));
  const uint64_t t1 = NowNs();
  ReadSummary first;
  const uint32_t c = g_workload->history_conv.empty() ? 0 : g_workload->history_conv[0];
  WB_RETURN_IF_ERROR(e.Latest(c, kHistoryCount, &first).WithContext("first read"));
  const uint64_t t2 = NowNs();
  if (!HistoryOk(c, first)) return Status::DataLoss("first read: wrong messages");
  r->open_ms = static_cast<double>(t1 - t0) / 1e6;
  r->first_read_ms = static_cast<double>(t2 - t1) / 1e6;
  r->rss_after_open = CurrentRssBytes();
  const EngineFigures f = e.Figures();
  r->directory_bytes = f.directory_bytes;
  r->tail_index_bytes = f.tail_index_bytes;
  r->cache_bytes = f.cache_bytes;
  r->settle_ms = e.WaitIdle(kSettleTimeoutMs);
  return Status::Ok();
}

// Reads completed and bytes read so far by the block device that holds
// `path` (its line in /proc/diskstats: a partition's when it is on one);
// nullopt when there is none (tmpfs, overlay) or the file cannot be read.
struct DiskReads {
  uint64_t ios = 0, bytes = 0;
};
std::optional<DiskReads> DeviceReads(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  FILE* f = std::fopen("/proc/diskstats", "r");
  if (f == nullptr) return std::nullopt;
  std::optional<DiskReads> out;
  unsigned maj = 0, min = 0;
  char name[64];
  unsigned long long reads = 0, merged = 0, sectors = 0;
  char line[512];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "%u %u %63s %llu %llu %llu", &maj, &min, name, &reads, &merged, &sectors) == 6 &&
        maj == major(st.st_dev) && min == minor(st.st_dev)) {
      out = DiskReads{reads, sectors * 512};  // diskstats counts 512-byte sectors
      break;
    }
  }
  std::fclose(f);
  return out;
}

// Close, drop the page cache, reopen (timed), drop it again (Open may have
// read the data it indexes: Warbler scans its unsealed tail) and run history.
Status ColdHistory(Engine& e, const Config& cfg, const std::string& dir, ChildReport* r) {
  WB_RETURN_IF_ERROR(e.Close().WithContext("close before cold"));
  r->cold_method = static_cast<int>(DropPageCache(dir));
  const uint64_t t0 = NowNs();
  WB_RETURN_IF_ERROR(e.Open(dir).WithContext("reopen cold"));
  r->cold_open_ms = static_cast<double>(NowNs() - t0) / 1e6;
  (void)e.WaitIdle(kSettleTimeoutMs);
  (void)DropPageCache(dir);
  const std::optional<DiskReads> before = DeviceReads(dir);
  r->cold = RunReads(e, cfg, ReadKind::kHistory, std::string(e.name()) + " history cold");
  const std::optional<DiskReads> after = DeviceReads(dir);
  r->cold_disk_reads = r->cold_disk_kib = std::numeric_limits<double>::quiet_NaN();
  if (before && after && r->cold.ops > 0) {
    const double ops = static_cast<double>(r->cold.ops);
    r->cold_disk_reads = static_cast<double>(after->ios - before->ios) / ops;
    r->cold_disk_kib = static_cast<double>(after->bytes - before->bytes) / 1024.0 / ops;
  }
  return Status::Ok();
}

void ReaderChild(EngineKind kind, const Config& cfg, const std::string& dir, ChildReport* r) {
  auto e = MakeEngine(kind, cfg.store);
  if (Status s = Reopen(*e, dir, r); !s.ok()) return Fail(r, "recovery", s);
  const std::string name = e->name();
  if (cfg.phase_history) r->warm = RunReads(*e, cfg, ReadKind::kHistory, name + " history warm");
  if (cfg.phase_sync) r->sync = RunReads(*e, cfg, ReadKind::kSync, name + " sync");
  if (cfg.phase_history) {
    if (Status s = ColdHistory(*e, cfg, dir, r); !s.ok()) return Fail(r, "cold history", s);
  }
  if (Status s = e->Close(); !s.ok()) return Fail(r, "close", s);
  r->ok = true;
}

// The buffers of the messages in flight: a slot is taken before AppendAsync
// and given back by its callback (or at once if the call failed).
class InflightSlots {
 public:
  explicit InflightSlots(size_t n)
      : names_(n, ConvName(0)), free_(n), sem_(static_cast<std::ptrdiff_t>(n)) {
    bufs_.resize(n);
    for (size_t k = 0; k < n; ++k) free_[k] = k;
  }
  // Blocks until a slot is free, fills it with message i and returns it.
  size_t Acquire(uint64_t i) {
    sem_.acquire();
    size_t slot;
    {
      std::lock_guard<std::mutex> l(mu_);
      slot = free_.back();
      free_.pop_back();
    }
    bufs_[slot].emplace(i);
    names_[slot] = ConvName(g_workload->conv_of[i]);
    return slot;
  }
  AppendRequest Request(size_t slot) const {
    const MessageBytes& m = *bufs_[slot];
    return {{kTenant, names_[slot].view()}, m.sender(), m.body(), m.client_id()};
  }
  void Release(size_t slot) {
    {
      std::lock_guard<std::mutex> l(mu_);
      free_.push_back(slot);
    }
    sem_.release();
  }
  // Returns once every slot is free (every callback has run).
  void Drain() {
    for (size_t k = 0; k < bufs_.size(); ++k) sem_.acquire();
  }

 private:
  std::vector<std::optional<MessageBytes>> bufs_;
  std::vector<ConvName> names_;
  std::mutex mu_;
  std::vector<size_t> free_;
  std::counting_semaphore<> sem_;
};

// One producer keeping cfg.inflight AppendAsync calls in flight.
void AsyncChild(const Config& cfg, const std::string& dir, ChildReport* r) {
  WarblerEngine e(cfg.store);
  if (Status s = e.Open(dir); !s.ok()) return Fail(r, "open", s);
  InflightSlots slots(static_cast<size_t>(cfg.inflight));
  std::vector<uint64_t> lat(cfg.messages, 0);
  std::atomic<uint64_t> done{0}, errors{0};
  std::atomic<bool> reported{false};
  const double cpu0 = ProcessCpuUs();
  const auto start = Clock::now();
  Clock::time_point end;
  {
    Progress progress("warbler async write", cfg.messages, &done);
    for (uint64_t i = 0; i < cfg.messages; ++i) {
      const size_t slot = slots.Acquire(i);
      const uint64_t t0 = NowNs();
      auto done_cb = [&, i, t0, slot](const Status& st, const AppendAck&) {
        lat[i] = NowNs() - t0;
        if (!st.ok()) {
          errors.fetch_add(1);
          ReportFirstError(&reported, "async append", st);
        }
        done.fetch_add(1, std::memory_order_relaxed);
        slots.Release(slot);
      };
      Status s = e.store()->AppendAsync(slots.Request(slot), done_cb);
      while (s.code() == StatusCode::kResourceExhausted) {  // queue full: back off
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        s = e.store()->AppendAsync(slots.Request(slot), done_cb);
      }
      if (!s.ok()) {  // the callback will not run
        Fail(r, "AppendAsync", s);
        slots.Release(slot);
        break;
      }
    }
    slots.Drain();
    end = Clock::now();  // before ~Progress
  }
  if (r->error[0] != '\0') return;
  const double secs = std::chrono::duration<double>(end - start).count();
  r->write = Summarize(lat, secs, errors.load(), 0);
  r->write.cpu_us_per_op = (ProcessCpuUs() - cpu0) / static_cast<double>(std::max<uint64_t>(1, cfg.messages));
  const EngineFigures f = e.Figures();
  r->stored_bytes = f.stored_bytes;
  r->msgs_per_sync = f.msgs_per_sync;
  if (Status s = e.Close(); !s.ok()) return Fail(r, "close", s);
  r->ok = true;
}

// ---------------------------------------------------------------------------
// Report: one table per phase, a ratio line per engine against RocksDB.

struct Column {
  const char* name;
  int precision;
  bool ratio;  // print Warbler / RocksDB for this column
};

struct Row {
  std::string engine;
  std::vector<double> values;  // one per column; NaN = not applicable
  std::string note;
  bool failed() const { return note.starts_with("FAILED"); }
};

class Report {
 public:
  explicit Report(bool json) : json_(json) {}

  void Table(const std::string& title, const std::vector<Column>& cols,
             const std::vector<Row>& rows) {
    if (rows.empty()) return;
    if (json_) return AddJson(title, cols, rows);
    std::printf("\n== %s ==\n%-22s", title.c_str(), "engine");
    for (const Column& c : cols) std::printf(" %12s", c.name);
    std::printf("\n");
    const Row* base = nullptr;
    for (const Row& r : rows) {
      if (r.engine == "rocksdb" && !r.failed()) base = &r;
      std::printf("%-22s", r.engine.c_str());
      for (size_t k = 0; k < cols.size(); ++k) PrintValue(r.values[k], cols[k].precision);
      std::printf("%s%s\n", r.note.empty() ? "" : "  ", r.note.c_str());
    }
    for (const Row& r : rows) {
      if (base == nullptr || r.engine == "rocksdb" || r.failed()) continue;
      std::printf("%-22s", (r.engine + "/rocksdb").c_str());
      for (size_t k = 0; k < cols.size(); ++k) {
        const double a = r.values[k], b = base->values[k];
        if (cols[k].ratio && std::isfinite(a) && std::isfinite(b) && b != 0) {
          std::printf(" %11.2fx", a / b);
        } else {
          std::printf(" %12s", "");
        }
      }
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  void Line(const std::string& text) {
    if (json_) {
      notes_.push_back(text);
    } else {
      std::printf("%s\n", text.c_str());
    }
  }
  void Finish(const std::string& config_json) {
    if (!json_) return;
    std::string out = "{\"config\":" + config_json + ",\"tables\":[" + tables_ + "],\"notes\":[";
    for (size_t k = 0; k < notes_.size(); ++k) out += (k ? "," : "") + Quote(notes_[k]);
    std::printf("%s]}\n", out.c_str());
  }

  static std::string Quote(const std::string& s) {
    std::string q = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') q.push_back('\\');
      if (static_cast<unsigned char>(ch) >= 0x20) q.push_back(ch);
    }
    return q + "\"";
  }

 private:
  static void PrintValue(double v, int precision) {
    if (std::isfinite(v)) {
      std::printf(" %12.*f", precision, v);
    } else {
      std::printf(" %12s", "-");
    }
  }
  void AddJson(const std::string& title, const std::vector<Column>& cols,
               const std::vector<Row>& rows) {
    std::string t =
        (tables_.empty() ? "" : ",") + std::string("{\"title\":") + Quote(title) + ",\"columns\":[";
    for (size_t k = 0; k < cols.size(); ++k) t += (k ? "," : "") + Quote(cols[k].name);
    t += "],\"rows\":[";
    for (size_t r = 0; r < rows.size(); ++r) {
      t += (r ? "," : "") + std::string("{\"engine\":") + Quote(rows[r].engine) +
           ",\"note\":" + Quote(rows[r].note) + ",\"values\":[";
      for (size_t k = 0; k < rows[r].values.size(); ++k) {
        char buf[64];
        const double v = rows[r].values[k];
        std::snprintf(buf, sizeof(buf), std::isfinite(v) ? "%.3f" : "null", v);
        t += (k ? "," : "") + std::string(buf);
      }
      t += "]}";
    }
    tables_ += t + "]}";
  }

  bool json_;
  std::string tables_;
  std::vector<std::string> notes_;
};

constexpr double kNa = std::numeric_limits<double>::quiet_NaN();
constexpr double kMiB = 1024.0 * 1024.0;

double Mib(uint64_t bytes) { return static_cast<double>(bytes) / kMiB; }

struct EngineRun {
  std::string name;
  ChildOutcome writer, reader;
  bool reader_ran = false;
  uint64_t disk_allocated = 0;  // du of the store directory after the write phase
  bool WriterOk() const { return writer.report.ok; }
  bool ReaderOk() const { return reader_ran && reader.report.ok; }
};

std::vector<double> LatencyValues(const PhaseStats& p) {
  return {p.per_s, p.p50_us, p.p99_us, p.p999_us};
}

std::string ErrorNote(const ChildOutcome& o) {
  return o.report.ok ? "" : std::string("FAILED: ") + o.report.error;
}

Row WriteRow(const std::string& engine, const ChildOutcome& o, uint64_t allocated) {
  Row row{engine, LatencyValues(o.report.write), ErrorNote(o)};
  const double per_sync = o.report.msgs_per_sync > 0 ? o.report.msgs_per_sync : kNa;
  const double cpu = o.report.write.cpu_us_per_op > 0 ? o.report.write.cpu_us_per_op : kNa;
  for (double v : {per_sync, cpu, Mib(allocated), Mib(o.report.stored_bytes), Mib(o.peak_rss),
                   Mib(o.report.harness_rss), static_cast<double>(o.report.write.errors)}) {
    row.values.push_back(v);
  }
  return row;
}

Row ReadRow(const EngineRun& run, const PhaseStats& p, double extra) {
  Row row{run.name, LatencyValues(p), ErrorNote(run.reader)};
  row.values.push_back(extra);
  row.values.push_back(static_cast<double>(p.errors));
  row.values.push_back(static_cast<double>(p.mismatches));
  return row;
}

void PrintWriteTable(Report& rep, const Config& cfg, const std::vector<EngineRun>& runs,
                     const ChildOutcome* async, uint64_t async_allocated) {
  std::vector<Row> rows;
  for (const EngineRun& r : runs) rows.push_back(WriteRow(r.name, r.writer, r.disk_allocated));
  if (async != nullptr) {
    rows.push_back(
        WriteRow("warbler async x" + std::to_string(cfg.inflight), *async, async_allocated));
  }
  rep.Table("write: " + std::to_string(cfg.messages) + " messages, " +
                std::to_string(cfg.producers) + " producers, each acked when durable (fdatasync)",
            {{"msgs/s", 0, true},
             {"p50 us", 1, true},
             {"p99 us", 1, true},
             {"p999 us", 1, true},
             {"msgs/sync", 1, true},
             {"cpu us/msg", 2, true},
             {"du MiB", 1, true},
             {"data MiB", 1, true},
             {"peak RSS MiB", 1, true},
             {"harness MiB", 1, false},
             {"errors", 0, false}},
            rows);
  rep.Line(
      "  msgs/sync: messages acknowledged per fdatasync, the group-commit factor (Warbler: "
      "StoreStats appends / fdatasyncs, over all partitions; RocksDB: its WAL's writes per sync); "
      "cpu us/msg: the writer process's CPU time (user + system, all threads, harness included) "
      "per message; "
      "du: allocated blocks of the store directory (Warbler reserves its segments' space ahead); data: "
      "Warbler StoreStats::bytes_on_disk (segment data + index files), RocksDB the sum of its "
      "file sizes; peak RSS: ru_maxrss of the writer process, harness included (harness: its RSS "
      "before the engine opened). The async row is one producer keeping N AppendAsync in flight.");
}

void PrintReadTables(Report& rep, const Config& cfg, const std::vector<EngineRun>& runs) {
  const std::vector<Column> cols = {
      {"req/s", 0, true}, {"p50 us", 1, true},  {"p99 us", 1, true},     {"p999 us", 1, true},
      {"", 1, false},     {"errors", 0, false}, {"mismatches", 0, false}};
  auto with = [&](const char* extra, bool ratio) {
    std::vector<Column> c = cols;
    c[4] = {extra, 1, ratio};
    return c;
  };
  std::vector<Row> warm, sync, cold;
  std::string method;
  for (const EngineRun& r : runs) {
    if (!r.reader_ran) continue;
    const ChildReport& c = r.reader.report;
    warm.push_back(ReadRow(r, c.warm, c.warm.cpu_us_per_op));
    sync.push_back(ReadRow(r, c.sync, c.sync.cpu_us_per_op));
    cold.push_back(ReadRow(r, c.cold, c.cold_open_ms));
    cold.back().values.push_back(c.cold_disk_reads);
    cold.back().values.push_back(c.cold_disk_kib);
    cold.back().values.push_back(c.cold.cpu_us_per_op);
    method = ColdMethodName(static_cast<ColdMethod>(c.cold_method));
  }
  const std::string readers = std::to_string(cfg.readers) + " readers";
  if (cfg.phase_history) {
    rep.Table("history warm: " + std::to_string(cfg.history_requests) + " x newest 50, " + readers,
              with("cpu us/req", true), warm);
    std::vector<Column> cold_cols = with("reopen ms", true);
    cold_cols.push_back({"disk rd/req", 2, true});
    cold_cols.push_back({"disk KiB/req", 1, true});
    cold_cols.push_back({"cpu us/req", 1, true});
    rep.Table("history cold: the same after closing, dropping the page cache (" + method +
                  ") and reopening",
              cold_cols, cold);
    rep.Line(
        "  disk rd/req, KiB/req: reads completed and KiB read by the data directory's block device "
        "over the cold phase (/proc/diskstats, so any other I/O on the device counts too), per request.");
  }
  if (cfg.phase_sync) {
    rep.Table("sync: " + std::to_string(cfg.sync_requests) +
                  " x all after last seq - 20 (n <= 1000), " + readers,
              with("cpu us/req", true), sync);
  }
  if (cfg.phase_history || cfg.phase_sync) {
    rep.Line(
        "  cpu us/req: the reader process's CPU time (user + system, all threads, the harness's checks "
        "of every message included) over the phase, per request: steadier from run to run than req/s.");
  }
}

void PrintRecoveryTables(Report& rep, const Config& cfg, const std::vector<EngineRun>& runs) {
  std::vector<Row> recovery, resident;
  const double convs = static_cast<double>(cfg.conversations);
  for (const EngineRun& r : runs) {
    if (!r.reader_ran) continue;
    const ChildReport& c = r.reader.report;
    const std::string note = ErrorNote(r.reader);
    recovery.push_back({r.name,
                        {c.open_ms, c.first_read_ms, c.open_ms + c.first_read_ms,
                         Mib(r.reader.peak_rss), c.settle_ms},
                        note});
    const double delta =
        static_cast<double>(c.rss_after_open) - static_cast<double>(c.rss_before_open);
    const bool warbler = r.name == "warbler";
    resident.push_back({r.name,
                        {warbler ? static_cast<double>(c.directory_bytes) / convs : kNa,
                         warbler ? Mib(c.tail_index_bytes) : kNa, warbler ? Mib(c.cache_bytes) : kNa,
                         delta / kMiB, delta / convs},
                        note});
  }
  if (!cfg.phase_recovery) recovery.clear();
  rep.Table(
      "recovery: Open + first newest-50 read in a fresh process, after kill -9 of the "
      "writer right after its last ack",
      {{"open ms", 1, true},
       {"1st read ms", 2, true},
       {"total ms", 1, true},
       {"reader peak MiB", 1, true},
       {"settle ms", 1, false}},
      recovery);
  if (!recovery.empty()) {
    rep.Line(
        "  settle: after the first read the reader waited this long for background work "
        "(RocksDB flushes and compactions) to finish; no read phase overlaps it.");
  }
  rep.Table("resident per conversation at " + std::to_string(cfg.conversations) +
                " conversations (RSS delta over Open + first read)",
            {{"dir B/conv", 1, false},
             {"tail idx MiB", 1, false},
             {"caches MiB", 1, false},
             {"RSS delta MiB", 1, true},
             {"RSS B/conv", 1, true}},
            resident);
}

// The targets, checked where this run measured them.
void PrintTargets(Report& rep, const Config& cfg, const std::vector<EngineRun>& runs,
                  const ChildOutcome* async) {
  const EngineRun* w = nullptr;
  const EngineRun* b = nullptr;
  for (const EngineRun& r : runs) (r.name == "warbler" ? w : b) = &r;
  if (w == nullptr) return;
  auto line = [&](const char* what, bool met, const std::string& got) {
    rep.Line(std::string("  ") + what + ": " + got + " -> " + (met ? "MET" : "MISSED"));
  };
  char buf[160];
  rep.Line("\nTargets (issue 4)");
  if (cfg.phase_write && b != nullptr && w->WriterOk() && b->WriterOk()) {
    const double x = w->writer.report.write.per_s / b->writer.report.write.per_s;
    std::snprintf(buf, sizeof(buf), "%.2fx", x);
    line("write >= 3x RocksDB durable msgs/s", x >= 3, buf);
  }
  if (async != nullptr && async->report.ok) {
    std::snprintf(buf, sizeof(buf), "%.0f msgs/s", async->report.write.per_s);
    line("1,024 in flight >= 500,000 durable msgs/s", async->report.write.per_s >= 500'000, buf);
  }
  if (w->ReaderOk() && cfg.phase_history) {
    const ChildReport& c = w->reader.report;
    std::snprintf(buf, sizeof(buf), "%.1f us", c.warm.p99_us);
    line("history warm p99 < 1 ms", c.warm.p99_us < 1000, buf);
    if (b != nullptr && b->ReaderOk()) {
      const double x = c.warm.per_s / b->reader.report.warm.per_s;
      std::snprintf(buf, sizeof(buf), "%.2fx", x);
      line("history warm >= 2x RocksDB req/s", x >= 2, buf);
    }
    std::snprintf(buf, sizeof(buf), "%.1f us", c.cold.p99_us);
    line("history cold p99 < 5 ms", c.cold.p99_us < 5000, buf);
  }
  if (w->ReaderOk()) {
    const ChildReport& c = w->reader.report;
    std::snprintf(buf, sizeof(buf), "%.1f ms at %u conversations", c.open_ms + c.first_read_ms,
                  cfg.conversations);
    if (cfg.phase_recovery) {
      line("reopen after kill -9 + first read < 2 s (target stated at 1M conversations)",
           c.open_ms + c.first_read_ms < 2000, buf);
    }
    const double delta =
        static_cast<double>(c.rss_after_open) - static_cast<double>(c.rss_before_open);
    std::snprintf(buf, sizeof(buf), "%.1f MiB RSS delta (%.1f MiB in caches) at %u conversations",
                  delta / kMiB, Mib(c.cache_bytes), cfg.conversations);
    line("resident < 128 MiB (target stated at 1M idle conversations)", delta < 128 * kMiB, buf);
  }
}

// ---------------------------------------------------------------------------
// Command line and the run.

[[noreturn]] void Usage() {
  std::fprintf(
      stderr,
      "usage: im1 [--quick] [--conversations N] [--messages N] [--producers N] [--readers N]\n"
      "           [--history-requests N] [--sync-requests N] [--skew] [--inflight N (0: off)]\n"
      "           [--phases write,history,sync,recovery] [--dir PATH] [--keep]\n"
      "           [--no-baseline] [--no-encryption] [--no-compression] [--partitions N] [--recent-cache-mib N] [--json]\n"
      "       im1 --target host:port|spawn [--plaintext] [--ca FILE] [--insecure] [--connections N]\n"
      "           [--quick] [--conversations N] [--messages N] [--no-redis]   (over the network)\n");
  std::exit(2);
}

uint64_t ParseCount(const char* s, uint64_t lo, uint64_t hi) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0' || v < lo || v > hi) {
    Die(std::string("bad number '") + s + "' (" + std::to_string(lo) + ".." + std::to_string(hi) +
        ")");
  }
  return v;
}

void ParsePhases(const std::string& list, Config* cfg) {
  cfg->phase_write = cfg->phase_history = cfg->phase_sync = cfg->phase_recovery = false;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string p = list.substr(at, comma - at);
    if (p == "write") {
      cfg->phase_write = true;
    } else if (p == "history") {
      cfg->phase_history = true;
    } else if (p == "sync") {
      cfg->phase_sync = true;
    } else if (p == "recovery") {
      cfg->phase_recovery = true;
    } else {
      Die("unknown phase '" + p + "' (write, history, sync, recovery)");
    }
    at = comma + 1;
  }
}

Config ParseArgs(int argc, char** argv) {
  Config cfg;
  bool quick = false;
  std::vector<std::pair<std::string, const char*>> sized;  // applied after --quick
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quick") {
      quick = true;
    } else if (a == "--skew") {
      cfg.skew = true;
    } else if (a == "--no-baseline") {
      cfg.baseline = false;
    } else if (a == "--json") {
      cfg.json = true;
    } else if (a == "--keep") {
      cfg.keep = true;
    } else if (a == "--no-encryption") {
      cfg.store.encryption = false;
    } else if (a == "--no-compression") {
      cfg.store.compress = false;
      cfg.store.compression_dictionaries = false;
    } else if (a == "--recent-cache-mib" && has_value) {
      cfg.store.recent_cache_bytes = static_cast<size_t>(ParseCount(argv[++i], 0, 1 << 16)) << 20;
    } else if (a == "--partitions" && has_value) {
      cfg.store.partitions = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--dir" && has_value) {
      cfg.dir = argv[++i];
    } else if (a == "--phases" && has_value) {
      ParsePhases(argv[++i], &cfg);
    } else if ((a == "--conversations" || a == "--messages" || a == "--producers" ||
                a == "--readers" || a == "--history-requests" || a == "--sync-requests" ||
                a == "--inflight") &&
               has_value) {
      sized.emplace_back(a, argv[++i]);
    } else {
      Usage();
    }
  }
  if (quick) {
    cfg.conversations = 2'000;
    cfg.messages = 20'000;
    cfg.history_requests = cfg.sync_requests = 2'000;
  }
  for (const auto& [flag, value] : sized) {
    if (flag == "--conversations")
      cfg.conversations = static_cast<uint32_t>(ParseCount(value, 1, kMaxConversations));
    if (flag == "--messages") cfg.messages = ParseCount(value, 1, 1ull << 32);
    if (flag == "--producers") cfg.producers = static_cast<int>(ParseCount(value, 1, 4096));
    if (flag == "--readers") cfg.readers = static_cast<int>(ParseCount(value, 1, 4096));
    if (flag == "--history-requests") cfg.history_requests = ParseCount(value, 1, 1ull << 32);
    if (flag == "--sync-requests") cfg.sync_requests = ParseCount(value, 1, 1ull << 32);
    if (flag == "--inflight") cfg.inflight = static_cast<int>(ParseCount(value, 0, 1 << 20));
  }
  if (!cfg.phase_write && cfg.ReaderNeeded()) {
    std::fprintf(stderr, "im1: the read phases need data: running the write phase too\n");
  }
  return cfg;
}

// A fresh directory under $TMPDIR (or /var/tmp) unless --dir names one.
std::string PrepareDir(const Config& cfg, bool* created) {
  *created = false;
  if (!cfg.dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg.dir, ec);
    if (ec) Die("create " + cfg.dir + ": " + ec.message());
    return cfg.dir;
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/var/tmp") + "/im1-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) Die("mkdtemp " + templ + ": " + std::strerror(errno));
  *created = true;
  return templ;
}

std::string FreshSubdir(const std::string& base, const std::string& name) {
  const std::string path = base + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  std::filesystem::create_directories(path, ec);
  if (ec) Die("create " + path + ": " + ec.message());
  return path;
}

EngineRun RunEngine(EngineKind kind, const Config& cfg, const std::string& base) {
  EngineRun run;
  run.name = kind == EngineKind::kWarbler ? "warbler" : "rocksdb";
  const std::string dir = FreshSubdir(base, run.name);
  run.writer =
      RunChild([&](ChildReport* r) { WriterChild(kind, cfg, dir, r); }, cfg.phase_recovery);
  uint64_t apparent = 0;
  DiskUsage(dir, &run.disk_allocated, &apparent);
  if (!run.WriterOk()) {
    std::fprintf(stderr, "im1: %s write failed: %s\n", run.name.c_str(), run.writer.report.error);
    return run;
  }
  if (cfg.ReaderNeeded()) {
    run.reader = RunChild([&](ChildReport* r) { ReaderChild(kind, cfg, dir, r); }, false);
    run.reader_ran = true;
    if (!run.reader.report.ok) {
      std::fprintf(stderr, "im1: %s reads failed: %s\n", run.name.c_str(), run.reader.report.error);
    }
  }
  return run;
}

std::string ConfigJson(const Config& cfg, const std::string& dir) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"conversations\":%u,\"messages\":%" PRIu64
                ",\"producers\":%d,\"readers\":%d,"
                "\"history_requests\":%" PRIu64 ",\"sync_requests\":%" PRIu64
                ",\"inflight\":%d,\"skew\":%s,\"cpus\":%u,\"dir\":",
                cfg.conversations, cfg.messages, cfg.producers, cfg.readers, cfg.history_requests,
                cfg.sync_requests, cfg.inflight, cfg.skew ? "true" : "false",
                std::thread::hardware_concurrency());
  return buf + Report::Quote(dir) + "}";
}

void PrintHeader(Report& rep, const Config& cfg, const std::string& dir, bool baseline) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "im1: IM-1 embedded, %u conversations (%s), %" PRIu64
                " messages of %zu B, %d producers, "
                "%d readers, %u cpus, load average %.2f, data in %s",
                cfg.conversations, cfg.skew ? "Zipf s=1.1" : "uniform", cfg.messages, kBodyBytes,
                cfg.producers, cfg.readers, std::thread::hardware_concurrency(), LoadAverage(),
                dir.c_str());
  rep.Line(buf);
  rep.Line(
      "ratios: warbler / rocksdb per column (throughput > 1 is better; latency, bytes, ms < 1 is "
      "better)");
  rep.Line(
      std::string("warbler: StoreOptions defaults (kSync, ") +
      (cfg.store.compress ? "zstd level 1 with dictionaries, " : "compression OFF (--no-compression), ") +
      (cfg.store.encryption ? "AES-256-GCM encryption ON" : "encryption OFF (--no-encryption)") +
      ", " + std::to_string(cfg.store.partitions) + " partitions, " +
      std::to_string(cfg.store.block_cache_bytes >> 20) + " MiB block cache, " +
      std::to_string(cfg.store.recent_cache_bytes >> 20) + " MiB recent-message cache)");
#ifdef WARBLER_IM1_ROCKSDB
  rep.Line(baseline ? "rocksdb " + std::to_string(ROCKSDB_MAJOR) + "." +
                          std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH) +
                          ": Put per message with WriteOptions.sync, zstd, " +
                          std::to_string((StoreOptions{}.block_cache_bytes + StoreOptions{}.recent_cache_bytes) >> 20) +
                          " MiB LRU block cache (Warbler's two caches together)"
                    : "rocksdb: baseline off (--no-baseline)");
#else
  (void)baseline;
  rep.Line("rocksdb: baseline skipped (im1 was built without librocksdb-dev)");
#endif
}

int Main(int argc, char** argv) {
  // Over the network (issue 6): bench/im1_net.cc.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--target") return net::RunNetworkIm1(argc, argv);
  }
  const Config cfg = ParseArgs(argc, argv);
  // Quiet unless asked (WARBLER_LOG_LEVEL=info shows rolls, seals and opens).
  if (std::getenv("WARBLER_LOG_LEVEL") == nullptr) SetLogLevel(LogLevel::kWarn);
  // IM-1 runs with encryption on (the default). The KEK comes from
  // WARBLER_KEK; when the caller gave none, a fixed bench-only key (set once,
  // before any fork or thread).
  ::setenv("WARBLER_KEK", kBenchKekHex, /*overwrite=*/0);
  bool created = false;
  const std::string dir = PrepareDir(cfg, &created);
  const Workload workload = MakeWorkload(cfg);
  g_workload = &workload;
  Report rep(cfg.json);
#ifdef WARBLER_IM1_ROCKSDB
  const bool baseline = cfg.baseline;
#else
  const bool baseline = false;
#endif
  PrintHeader(rep, cfg, dir, baseline);

  std::vector<EngineRun> runs;
  runs.push_back(RunEngine(EngineKind::kWarbler, cfg, dir));
  ChildOutcome async;
  uint64_t async_allocated = 0, async_apparent = 0;  // du; apparent unused
  const bool async_ran = cfg.phase_write && cfg.inflight > 0;
  if (async_ran) {
    const std::string adir = FreshSubdir(dir, "warbler-async");
    async = RunChild([&](ChildReport* r) { AsyncChild(cfg, adir, r); }, false);
    DiskUsage(adir, &async_allocated, &async_apparent);
    if (!async.report.ok) std::fprintf(stderr, "im1: async write failed: %s\n", async.report.error);
  }
  if (baseline) runs.push_back(RunEngine(EngineKind::kRocksDb, cfg, dir));

  if (cfg.phase_write)
    PrintWriteTable(rep, cfg, runs, async_ran ? &async : nullptr, async_allocated);
  PrintReadTables(rep, cfg, runs);
  PrintRecoveryTables(rep, cfg, runs);
  PrintTargets(rep, cfg, runs, async_ran ? &async : nullptr);
  char load[64];
  std::snprintf(load, sizeof(load), "\nload average at the end: %.2f", LoadAverage());
  rep.Line(load);
  rep.Finish(ConfigJson(cfg, dir));

  if (!cfg.keep) {
    std::error_code ec;
    for (const char* sub : {"warbler", "rocksdb", "warbler-async"})
      std::filesystem::remove_all(dir + "/" + sub, ec);
    if (created) std::filesystem::remove(dir, ec);
  }
  bool ok = !async_ran || async.report.ok;
  for (const EngineRun& r : runs) ok &= r.WriterOk() && (!r.reader_ran || r.ReaderOk());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace warbler::bench

int main(int argc, char** argv) { return warbler::bench::Main(argc, argv); }
