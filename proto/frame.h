// The wire protocol codec (docs/protocol.md): frame headers, body fields and
// every message body. Shared by server/ and client/. Pure functions over
// untrusted bytes: every decoder checks lengths and consumes a body exactly.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/coding.h"
#include "base/status.h"
#include "warbler/types.h"

namespace warbler::proto {

inline constexpr size_t kFrameHeaderSize = 16;
inline constexpr size_t kFrameLengthFieldSize = 4;
inline constexpr uint32_t kHelloMagic = 0x524C4257;  // "WBLR"
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kDefaultMaxFrameBytes = (1u << 20) + 4096;
inline constexpr size_t kMaxFrameBytesCap = 16u << 20;
inline constexpr size_t kMaxBatchMessages = 1000;

enum class Type : uint8_t {
  kHello = 0x01,
  kPing = 0x02,
  kAppend = 0x10,
  kAppendBatch = 0x11,
  kLatest = 0x20,
  kBefore = 0x21,
  kAfter = 0x22,
  kGet = 0x23,
  kInfo = 0x24,
  kSubscribe = 0x30,
  kUnsubscribe = 0x31,
  kHelloOk = 0x81,
  kPong = 0x82,
  kAck = 0x90,
  kAcks = 0x91,
  kMessages = 0xA0,
  kInfoReply = 0xA4,
  kEvents = 0xB0,
  kUnsubscribed = 0xB1,
  kError = 0xFF,
};
bool IsKnownType(uint8_t t);
bool IsRequestType(Type t);
const char* TypeName(Type t);

enum class ErrorCode : uint8_t {
  kProtocol = 1,
  kInvalidArgument = 2,
  kNotFound = 3,
  kResourceExhausted = 4,
  kUnavailable = 5,
  kNoSpace = 6,
  kIoError = 7,
  kCorruption = 8,
  kUnauthenticated = 9,
  kPermissionDenied = 10,
  kUnsupportedVersion = 11,
  kInternal = 12,
};
ErrorCode ErrorCodeOf(const Status& s);
// The Status a client sees for an ERROR frame.
Status StatusOfError(ErrorCode code, std::string_view message);

struct FrameHeader {
  Type type = Type::kPing;
  uint64_t request_id = 0;
  uint32_t body_len = 0;
  size_t frame_size() const { return kFrameHeaderSize + body_len; }
};

// Parses the 16 header bytes. InvalidArgument (a protocol error) on a length
// below 12 or above `max_frame_bytes`, an unknown type, or non-zero flags or
// reserved bits.
Status ParseFrameHeader(std::span<const std::byte> in, size_t max_frame_bytes, FrameHeader* h);

// Builds a frame in place: BeginFrame appends a header placeholder, the body
// is appended by the caller, FinishFrame fills in the length.
size_t BeginFrame(Type type, uint64_t request_id, std::string* out);
void FinishFrame(size_t start, std::string* out);
void AppendFrame(Type type, uint64_t request_id, std::string_view body, std::string* out);

// ---- body decoding ----
// A cursor that remembers the first failure, so decoders read fields and
// check once at the end (Finish also requires the body to be fully consumed).
class BodyReader {
 public:
  explicit BodyReader(std::span<const std::byte> body) : r_(body) {}
  explicit BodyReader(std::string_view body) : r_(body) {}
  uint64_t Varint();
  uint8_t U8();
  uint16_t U16();
  uint32_t U32();
  std::string_view Str(size_t max_len = kMaxFrameBytesCap);
  bool ok() const { return ok_; }
  Status Finish(const char* what);

 private:
  Reader r_;
  bool ok_ = true;
};

// ---- message bodies ----
struct Hello {
  uint16_t min_version = kProtocolVersion;
  uint16_t max_version = kProtocolVersion;
  std::string client_name;
};
struct HelloOk {
  uint16_t version = kProtocolVersion;
  std::string server_name;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  uint32_t max_inflight = 1024;
};
// A conversation query: LATEST (n), BEFORE/AFTER (seq, n), GET (seq), INFO.
struct Query {
  ConversationRef conversation;
  uint64_t seq = 0;
  uint64_t n = 0;
};
struct Subscribe {
  uint32_t partition = 0;
  uint64_t from_offset = 0;
};
// One message of a partition's log, as streamed to subscribers.
struct Event {
  uint64_t offset = 0;
  std::string tenant;
  std::string conversation;
  uint64_t seq = 0;
  uint64_t timestamp_us = 0;
  std::string sender;
  std::string client_id;
  std::string body;
};
struct Events {
  uint32_t partition = 0;
  uint64_t next_offset = 0;
  std::vector<Event> events;
};

void EncodeHello(const Hello& m, std::string* out);
Status DecodeHello(std::span<const std::byte> body, Hello* m);
void EncodeHelloOk(const HelloOk& m, std::string* out);
Status DecodeHelloOk(std::span<const std::byte> body, HelloOk* m);

void EncodeAppend(const AppendRequest& m, std::string* out);
// The views point into `body`.
Status DecodeAppend(std::span<const std::byte> body, AppendRequest* m);
void EncodeAppendBatch(std::span<const AppendRequest> m, std::string* out);
Status DecodeAppendBatch(std::span<const std::byte> body, std::vector<AppendRequest>* m);
void EncodeAck(const AppendAck& a, std::string* out);
Status DecodeAck(std::span<const std::byte> body, AppendAck* a);
void EncodeAcks(std::span<const AppendAck> a, std::string* out);
Status DecodeAcks(std::span<const std::byte> body, std::vector<AppendAck>* a);

void EncodeQuery(Type type, const Query& q, std::string* out);
Status DecodeQuery(Type type, std::span<const std::byte> body, Query* q);
void EncodeMessages(std::span<const Message> m, std::string* out);
Status DecodeMessages(std::span<const std::byte> body, std::vector<Message>* m);
void EncodeInfo(const ConversationInfo& i, std::string* out);
Status DecodeInfo(std::span<const std::byte> body, ConversationInfo* i);

void EncodeSubscribe(const Subscribe& s, std::string* out);
Status DecodeSubscribe(std::span<const std::byte> body, Subscribe* s);
void EncodeUnsubscribe(uint64_t subscription_id, std::string* out);
Status DecodeUnsubscribe(std::span<const std::byte> body, uint64_t* subscription_id);
void EncodeEvents(const Events& e, std::string* out);
Status DecodeEvents(std::span<const std::byte> body, Events* e);

void EncodeError(ErrorCode code, std::string_view message, std::string* out);
Status DecodeError(std::span<const std::byte> body, ErrorCode* code, std::string* message);

}  // namespace warbler::proto
