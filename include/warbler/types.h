// Value types of the public Store API. Plain values; no thread-safety needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace warbler {

// A conversation is named by (tenant, conversation), each 1..255 bytes of any
// content (NUL bytes included). The same conversation name in two tenants is
// two different conversations.
struct ConversationRef {
  std::string_view tenant;
  std::string_view conversation;
};

// One message to append. The store assigns seq and timestamp.
struct AppendRequest {
  ConversationRef conversation;
  std::string_view sender;     // ≤ StoreOptions::max_sender_bytes
  std::string_view body;       // ≤ StoreOptions::max_body_bytes
  // Optional (empty = none), ≤ StoreOptions::max_client_id_bytes. A retry with
  // the same client id in the same conversation within the dedup window
  // returns the original ack and writes nothing.
  std::string_view client_id;
};

// What a durable append returns.
struct AppendAck {
  uint64_t seq = 0;           // per-conversation sequence: 1, 2, 3 … gap-free
  uint64_t timestamp_us = 0;  // server time, non-decreasing per conversation
  uint64_t offset = 0;        // log offset within the partition
  uint32_t partition = 0;
  bool duplicate = false;     // true: a retry; the original's ack is returned
};

// One stored message as read back.
struct Message {
  uint64_t seq = 0;
  uint64_t timestamp_us = 0;
  uint64_t offset = 0;
  std::string sender;
  std::string client_id;
  std::string body;
};

// One message as stored in a partition's log (for subscribers / push services).
struct LogMessage {
  uint64_t offset = 0;
  std::string tenant;
  std::string conversation;
  Message message;
};

struct ConversationInfo {
  uint64_t last_seq = 0;           // 0: no message yet
  uint64_t count = 0;              // messages stored
  uint64_t last_timestamp_us = 0;  // 0: no message yet
};

}  // namespace warbler
