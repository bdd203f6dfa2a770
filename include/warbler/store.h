// Store: Warbler's embedded message store — conversations, per-conversation
// sequence numbers, idempotent appends and history reads over the durable
// partitioned log. See docs/index.md for the design and every limit.
//
// Thread-safety: every method may be called from any thread concurrently.
// Consistency: a read sees every message whose append was acknowledged
// before the read started, and never a message that is not yet durable.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "warbler/options.h"
#include "warbler/status.h"
#include "warbler/types.h"

namespace warbler {

struct StoreStats {
  uint64_t conversations = 0;        // conversations known
  uint64_t appends = 0;              // messages acknowledged since open
  uint64_t fdatasyncs = 0;           // log fdatasyncs since open (appends / fdatasyncs: the group-commit factor)
  uint64_t duplicates = 0;           // retries answered from the dedup window
  uint64_t cache_hits = 0;           // block cache
  uint64_t cache_misses = 0;
  uint64_t cache_bytes = 0;
  uint64_t recent_hits = 0;          // recent-message cache: reads served whole
  uint64_t recent_misses = 0;
  uint64_t recent_bytes = 0;
  uint64_t recent_conversations = 0;
  uint64_t directory_bytes = 0;      // resident bytes of the conversation directory
  uint64_t tail_index_bytes = 0;     // resident bytes indexing the unsealed segments
  uint64_t dedup_entries = 0;
  uint64_t bytes_on_disk = 0;        // segments + index files
};

class Store {
 public:
  using AppendCallback = std::function<void(const Status&, const AppendAck&)>;
  using BatchCallback = std::function<void(const Status&, std::vector<AppendAck>)>;

  // Opens (or creates) the store in `dir`. Busy if another process has it open.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options, const std::string& dir);

  virtual ~Store() = default;
  // Completes queued appends, makes everything durable and releases the
  // directory. Later calls fail with Unavailable. Idempotent.
  virtual Status Close() = 0;

  // Appends one message and returns once it is durable (per DurabilityMode).
  // A failed write is erased before the error is returned (NoSpace, IOError:
  // the message was not stored). If erasing fails too, the error is
  // Indeterminate: the message may appear after a restart; retry with the
  // same client message id.
  virtual Result<AppendAck> Append(const AppendRequest& request) = 0;
  // Queues one message; `done` runs (on an internal thread; keep it short)
  // once it is durable or failed. Immediate errors are returned and `done` is
  // never called: InvalidArgument, ResourceExhausted (queue full), Unavailable.
  virtual Status AppendAsync(const AppendRequest& request, AppendCallback done) = 0;
  // Appends many messages (any conversations); acks are in request order.
  // Messages of one partition are written atomically together.
  virtual Result<std::vector<AppendAck>> AppendBatch(std::span<const AppendRequest> requests) = 0;
  virtual Status AppendBatchAsync(std::span<const AppendRequest> requests, BatchCallback done) = 0;

  // The newest n messages, oldest first.
  virtual Result<std::vector<Message>> Latest(ConversationRef c, size_t n) = 0;
  // Up to n messages with seq < `seq`, the newest of them, oldest first (paging back).
  virtual Result<std::vector<Message>> Before(ConversationRef c, uint64_t seq, size_t n) = 0;
  // Up to n messages with seq > `seq`, the oldest of them, oldest first (syncing).
  virtual Result<std::vector<Message>> After(ConversationRef c, uint64_t seq, size_t n) = 0;
  // One message; NotFound if there is none with that seq.
  virtual Result<Message> Get(ConversationRef c, uint64_t seq) = 0;
  // Last seq, count and last timestamp; zeros for an unknown conversation.
  virtual Result<ConversationInfo> Info(ConversationRef c) = 0;

  // ---- the partition logs, for subscribers (push services follow them) ----
  virtual uint32_t partitions() const = 0;
  // Messages of `partition` from log offset `from` on, at most about
  // `max_bytes` of them (at least one if any); *next is where to continue.
  // NotFound if `from` is before the log start; InvalidArgument for a bad partition.
  virtual Result<std::vector<LogMessage>> ReadLog(uint32_t partition, uint64_t from, size_t max_bytes,
                                                  uint64_t* next) = 0;
  // Blocks until the partition's log has an acknowledged message at `offset`
  // or the timeout passes; true if it has.
  virtual bool WaitLog(uint32_t partition, uint64_t offset, uint64_t timeout_ms) = 0;

  // ---- keys (encrypted stores; docs/security.md) ----
  // New data key for `tenant` ("" = the store-wide key); new batches use it,
  // older ones stay readable. A tenant's first key also starts sealing its
  // messages apart from other tenants' (crypto-shredding later deletes a
  // tenant by destroying its keys). Online; crash-safe.
  virtual Status RotateDataKey(std::string_view tenant) = 0;
  // Re-wraps the keyring under the KEK in `new_kek_file` (segments are not
  // touched); then point kek_file at it. Online; crash-safe.
  virtual Status RotateKek(const std::string& new_kek_file) = 0;

  virtual StoreStats Stats() = 0;
  // Store and per-partition log metrics in the Prometheus text format
  // (append and fdatasync counts, group-commit latency and size histograms,
  // queue depths, cache, index memory, bytes on disk).
  virtual std::string PrometheusMetrics() = 0;
};

}  // namespace warbler
