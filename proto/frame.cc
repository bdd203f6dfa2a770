#include "proto/frame.h"

#include "base/assert.h"

namespace warbler::proto {
namespace {

// Strings are capped by what a frame can hold; Store limits are checked by the server.
constexpr size_t kMaxStr = kMaxFrameBytesCap;

void PutStr(std::string* out, std::string_view s) { PutLengthPrefixed(out, s); }

}  // namespace

bool IsKnownType(uint8_t t) {
  switch (static_cast<Type>(t)) {
    case Type::kHello: case Type::kPing: case Type::kAppend: case Type::kAppendBatch:
    case Type::kLatest: case Type::kBefore: case Type::kAfter: case Type::kGet: case Type::kInfo:
    case Type::kSubscribe: case Type::kUnsubscribe: case Type::kHelloOk: case Type::kPong:
    case Type::kAck: case Type::kAcks: case Type::kMessages: case Type::kInfoReply:
    case Type::kEvents: case Type::kUnsubscribed: case Type::kError:
      return true;
  }
  return false;
}

bool IsRequestType(Type t) { return static_cast<uint8_t>(t) < 0x80; }

const char* TypeName(Type t) {
  switch (t) {
    case Type::kHello: return "hello";
    case Type::kPing: return "ping";
    case Type::kAppend: return "append";
    case Type::kAppendBatch: return "append_batch";
    case Type::kLatest: return "latest";
    case Type::kBefore: return "before";
    case Type::kAfter: return "after";
    case Type::kGet: return "get";
    case Type::kInfo: return "info";
    case Type::kSubscribe: return "subscribe";
    case Type::kUnsubscribe: return "unsubscribe";
    case Type::kHelloOk: return "hello_ok";
    case Type::kPong: return "pong";
    case Type::kAck: return "ack";
    case Type::kAcks: return "acks";
    case Type::kMessages: return "messages";
    case Type::kInfoReply: return "info_reply";
    case Type::kEvents: return "events";
    case Type::kUnsubscribed: return "unsubscribed";
    case Type::kError: return "error";
  }
  return "unknown";
}

ErrorCode ErrorCodeOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return ErrorCode::kInvalidArgument;
    case StatusCode::kNotFound: return ErrorCode::kNotFound;
    case StatusCode::kResourceExhausted: case StatusCode::kBusy: return ErrorCode::kResourceExhausted;
    // Indeterminate: the client retries with the same client message id.
    case StatusCode::kUnavailable: case StatusCode::kAborted: case StatusCode::kIndeterminate:
      return ErrorCode::kUnavailable;
    case StatusCode::kNoSpace: return ErrorCode::kNoSpace;
    case StatusCode::kIOError: return ErrorCode::kIoError;
    case StatusCode::kCorruption: case StatusCode::kDataLoss: return ErrorCode::kCorruption;
    case StatusCode::kUnauthenticated: return ErrorCode::kUnauthenticated;
    case StatusCode::kPermissionDenied: return ErrorCode::kPermissionDenied;
    default: return ErrorCode::kInternal;
  }
}

Status StatusOfError(ErrorCode code, std::string_view message) {
  std::string m(message);
  switch (code) {
    case ErrorCode::kProtocol: return Status::InvalidArgument("protocol error: " + m);
    case ErrorCode::kInvalidArgument: return Status::InvalidArgument(m);
    case ErrorCode::kNotFound: return Status::NotFound(m);
    case ErrorCode::kResourceExhausted: return Status::ResourceExhausted(m);
    case ErrorCode::kUnavailable: return Status::Unavailable(m);
    case ErrorCode::kNoSpace: return Status::NoSpace(m);
    case ErrorCode::kIoError: return Status::IOError(m);
    case ErrorCode::kCorruption: return Status::Corruption(m);
    case ErrorCode::kUnauthenticated: return Status::Unauthenticated(m);
    case ErrorCode::kPermissionDenied: return Status::PermissionDenied(m);
    case ErrorCode::kUnsupportedVersion: return Status::NotSupported(m);
    case ErrorCode::kInternal: break;
  }
  return Status::Aborted("server error " + std::to_string(static_cast<int>(code)) + ": " + m);
}

Status ParseFrameHeader(std::span<const std::byte> in, size_t max_frame_bytes, FrameHeader* h) {
  WB_ASSERT(in.size() >= kFrameHeaderSize);
  const uint32_t len = DecodeFixed32(in.data());
  if (len < kFrameHeaderSize - kFrameLengthFieldSize) {
    return Status::InvalidArgument("frame length " + std::to_string(len) + " is below the 12-byte header");
  }
  if (len + kFrameLengthFieldSize > max_frame_bytes) {
    return Status::InvalidArgument("frame of " + std::to_string(len + kFrameLengthFieldSize) +
                                   " bytes exceeds max_frame_bytes (" + std::to_string(max_frame_bytes) + ")");
  }
  const uint8_t type = static_cast<uint8_t>(in[4]);
  if (!IsKnownType(type)) return Status::InvalidArgument("unknown frame type " + std::to_string(type));
  if (in[5] != std::byte{0} || in[6] != std::byte{0} || in[7] != std::byte{0}) {
    return Status::InvalidArgument("non-zero flags or reserved bits in a frame header");
  }
  h->type = static_cast<Type>(type);
  h->request_id = DecodeFixed64(in.data() + 8);
  h->body_len = len - static_cast<uint32_t>(kFrameHeaderSize - kFrameLengthFieldSize);
  return Status::Ok();
}

size_t BeginFrame(Type type, uint64_t request_id, std::string* out) {
  const size_t start = out->size();
  out->append(4, '\0');
  out->push_back(static_cast<char>(type));
  out->append(3, '\0');
  PutFixed64(out, request_id);
  return start;
}

void FinishFrame(size_t start, std::string* out) {
  const uint32_t len = static_cast<uint32_t>(out->size() - start - kFrameLengthFieldSize);
  EncodeFixed32(reinterpret_cast<std::byte*>(out->data() + start), len);
}

void AppendFrame(Type type, uint64_t request_id, std::string_view body, std::string* out) {
  const size_t start = BeginFrame(type, request_id, out);
  out->append(body);
  FinishFrame(start, out);
}

// ---- BodyReader ----

uint64_t BodyReader::Varint() {
  uint64_t v = 0;
  if (ok_ && !r_.GetVarint64(&v)) ok_ = false;
  return ok_ ? v : 0;
}
uint8_t BodyReader::U8() {
  std::span<const std::byte> b;
  if (ok_ && !r_.GetBytes(1, &b)) ok_ = false;
  return ok_ ? static_cast<uint8_t>(b[0]) : 0;
}
uint16_t BodyReader::U16() {
  uint16_t v = 0;
  if (ok_ && !r_.GetFixed16(&v)) ok_ = false;
  return ok_ ? v : 0;
}
uint32_t BodyReader::U32() {
  uint32_t v = 0;
  if (ok_ && !r_.GetFixed32(&v)) ok_ = false;
  return ok_ ? v : 0;
}
std::string_view BodyReader::Str(size_t max_len) {
  std::string_view s;
  if (ok_ && !r_.GetLengthPrefixed(&s, max_len)) ok_ = false;
  return ok_ ? s : std::string_view{};
}
Status BodyReader::Finish(const char* what) {
  if (!ok_) return Status::InvalidArgument(std::string(what) + " body is truncated or malformed");
  if (!r_.empty()) {
    return Status::InvalidArgument(std::string(what) + " body has " + std::to_string(r_.remaining()) +
                                   " trailing bytes");
  }
  return Status::Ok();
}

// ---- bodies ----

void EncodeHello(const Hello& m, std::string* out) {
  PutFixed32(out, kHelloMagic);
  PutFixed16(out, m.min_version);
  PutFixed16(out, m.max_version);
  PutStr(out, m.client_name);
}

Status DecodeHello(std::span<const std::byte> body, Hello* m) {
  BodyReader r(body);
  const uint32_t magic = r.U32();
  m->min_version = r.U16();
  m->max_version = r.U16();
  m->client_name = r.Str(255);
  WB_RETURN_IF_ERROR(r.Finish("hello"));
  if (magic != kHelloMagic) return Status::InvalidArgument("hello has a bad magic");
  if (m->min_version > m->max_version) return Status::InvalidArgument("hello version range is empty");
  return Status::Ok();
}

void EncodeHelloOk(const HelloOk& m, std::string* out) {
  PutFixed16(out, m.version);
  PutStr(out, m.server_name);
  PutFixed32(out, m.max_frame_bytes);
  PutFixed32(out, m.max_inflight);
}

Status DecodeHelloOk(std::span<const std::byte> body, HelloOk* m) {
  BodyReader r(body);
  m->version = r.U16();
  m->server_name = r.Str(255);
  m->max_frame_bytes = r.U32();
  m->max_inflight = r.U32();
  return r.Finish("hello_ok");
}

namespace {

void PutMessage(const AppendRequest& m, std::string* out) {
  PutStr(out, m.conversation.tenant);
  PutStr(out, m.conversation.conversation);
  PutStr(out, m.sender);
  PutStr(out, m.client_id);
  PutStr(out, m.body);
}

void GetMessage(BodyReader& r, AppendRequest* m) {
  m->conversation.tenant = r.Str(kMaxStr);
  m->conversation.conversation = r.Str(kMaxStr);
  m->sender = r.Str(kMaxStr);
  m->client_id = r.Str(kMaxStr);
  m->body = r.Str(kMaxStr);
}

void PutAck(const AppendAck& a, std::string* out) {
  PutVarint64(out, a.seq);
  PutVarint64(out, a.timestamp_us);
  PutVarint64(out, a.offset);
  PutVarint64(out, a.partition);
  out->push_back(a.duplicate ? 1 : 0);
}

void GetAck(BodyReader& r, AppendAck* a) {
  a->seq = r.Varint();
  a->timestamp_us = r.Varint();
  a->offset = r.Varint();
  a->partition = static_cast<uint32_t>(r.Varint());
  a->duplicate = r.U8() != 0;
}

}  // namespace

void EncodeAppend(const AppendRequest& m, std::string* out) { PutMessage(m, out); }

Status DecodeAppend(std::span<const std::byte> body, AppendRequest* m) {
  BodyReader r(body);
  GetMessage(r, m);
  return r.Finish("append");
}

void EncodeAppendBatch(std::span<const AppendRequest> m, std::string* out) {
  PutVarint64(out, m.size());
  for (const AppendRequest& a : m) PutMessage(a, out);
}

Status DecodeAppendBatch(std::span<const std::byte> body, std::vector<AppendRequest>* m) {
  BodyReader r(body);
  const uint64_t n = r.Varint();
  if (r.ok() && (n == 0 || n > kMaxBatchMessages)) {
    return Status::InvalidArgument("append_batch of " + std::to_string(n) + " messages is outside 1..1000");
  }
  m->clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) GetMessage(r, &m->emplace_back());
  return r.Finish("append_batch");
}

void EncodeAck(const AppendAck& a, std::string* out) { PutAck(a, out); }

Status DecodeAck(std::span<const std::byte> body, AppendAck* a) {
  BodyReader r(body);
  GetAck(r, a);
  return r.Finish("ack");
}

void EncodeAcks(std::span<const AppendAck> a, std::string* out) {
  PutVarint64(out, a.size());
  for (const AppendAck& x : a) PutAck(x, out);
}

Status DecodeAcks(std::span<const std::byte> body, std::vector<AppendAck>* a) {
  BodyReader r(body);
  const uint64_t n = r.Varint();
  if (n > kMaxBatchMessages) return Status::InvalidArgument("acks count is out of range");
  a->clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) GetAck(r, &a->emplace_back());
  return r.Finish("acks");
}

void EncodeQuery(Type type, const Query& q, std::string* out) {
  PutStr(out, q.conversation.tenant);
  PutStr(out, q.conversation.conversation);
  if (type == Type::kBefore || type == Type::kAfter || type == Type::kGet) PutVarint64(out, q.seq);
  if (type == Type::kLatest || type == Type::kBefore || type == Type::kAfter) PutVarint64(out, q.n);
}

Status DecodeQuery(Type type, std::span<const std::byte> body, Query* q) {
  BodyReader r(body);
  q->conversation.tenant = r.Str(kMaxStr);
  q->conversation.conversation = r.Str(kMaxStr);
  q->seq = 0;
  q->n = 0;
  if (type == Type::kBefore || type == Type::kAfter || type == Type::kGet) q->seq = r.Varint();
  if (type == Type::kLatest || type == Type::kBefore || type == Type::kAfter) q->n = r.Varint();
  return r.Finish(TypeName(type));
}

void EncodeMessages(std::span<const Message> m, std::string* out) {
  PutVarint64(out, m.size());
  for (const Message& x : m) {
    PutVarint64(out, x.seq);
    PutVarint64(out, x.timestamp_us);
    PutVarint64(out, x.offset);
    PutStr(out, x.sender);
    PutStr(out, x.client_id);
    PutStr(out, x.body);
  }
}

Status DecodeMessages(std::span<const std::byte> body, std::vector<Message>* m) {
  BodyReader r(body);
  const uint64_t n = r.Varint();
  // Every message takes at least 6 bytes: a count beyond that is a lie.
  if (n > body.size() / 6) return Status::InvalidArgument("messages count exceeds the body");
  m->clear();
  m->reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Message& x = m->emplace_back();
    x.seq = r.Varint();
    x.timestamp_us = r.Varint();
    x.offset = r.Varint();
    x.sender = r.Str(kMaxStr);
    x.client_id = r.Str(kMaxStr);
    x.body = r.Str(kMaxStr);
  }
  return r.Finish("messages");
}

void EncodeInfo(const ConversationInfo& i, std::string* out) {
  PutVarint64(out, i.last_seq);
  PutVarint64(out, i.count);
  PutVarint64(out, i.last_timestamp_us);
}

Status DecodeInfo(std::span<const std::byte> body, ConversationInfo* i) {
  BodyReader r(body);
  i->last_seq = r.Varint();
  i->count = r.Varint();
  i->last_timestamp_us = r.Varint();
  return r.Finish("info_reply");
}

void EncodeSubscribe(const Subscribe& s, std::string* out) {
  PutVarint64(out, s.partition);
  PutVarint64(out, s.from_offset);
}

Status DecodeSubscribe(std::span<const std::byte> body, Subscribe* s) {
  BodyReader r(body);
  const uint64_t p = r.Varint();
  s->from_offset = r.Varint();
  WB_RETURN_IF_ERROR(r.Finish("subscribe"));
  if (p > UINT32_MAX) return Status::InvalidArgument("subscribe partition is out of range");
  s->partition = static_cast<uint32_t>(p);
  return Status::Ok();
}

void EncodeUnsubscribe(uint64_t subscription_id, std::string* out) { PutVarint64(out, subscription_id); }

Status DecodeUnsubscribe(std::span<const std::byte> body, uint64_t* subscription_id) {
  BodyReader r(body);
  *subscription_id = r.Varint();
  return r.Finish("unsubscribe");
}

void EncodeEvents(const Events& e, std::string* out) {
  PutVarint64(out, e.partition);
  PutVarint64(out, e.next_offset);
  PutVarint64(out, e.events.size());
  for (const Event& x : e.events) {
    PutVarint64(out, x.offset);
    PutStr(out, x.tenant);
    PutStr(out, x.conversation);
    PutVarint64(out, x.seq);
    PutVarint64(out, x.timestamp_us);
    PutStr(out, x.sender);
    PutStr(out, x.client_id);
    PutStr(out, x.body);
  }
}

Status DecodeEvents(std::span<const std::byte> body, Events* e) {
  BodyReader r(body);
  e->partition = static_cast<uint32_t>(r.Varint());
  e->next_offset = r.Varint();
  const uint64_t n = r.Varint();
  if (n > body.size() / 8) return Status::InvalidArgument("events count exceeds the body");
  e->events.clear();
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    Event& x = e->events.emplace_back();
    x.offset = r.Varint();
    x.tenant = r.Str(kMaxStr);
    x.conversation = r.Str(kMaxStr);
    x.seq = r.Varint();
    x.timestamp_us = r.Varint();
    x.sender = r.Str(kMaxStr);
    x.client_id = r.Str(kMaxStr);
    x.body = r.Str(kMaxStr);
  }
  return r.Finish("events");
}

void EncodeError(ErrorCode code, std::string_view message, std::string* out) {
  out->push_back(static_cast<char>(code));
  PutStr(out, message);
}

Status DecodeError(std::span<const std::byte> body, ErrorCode* code, std::string* message) {
  BodyReader r(body);
  const uint8_t c = r.U8();
  *message = std::string(r.Str(kMaxStr));
  WB_RETURN_IF_ERROR(r.Finish("error"));
  *code = (c >= 1 && c <= static_cast<uint8_t>(ErrorCode::kInternal)) ? static_cast<ErrorCode>(c)
                                                                       : ErrorCode::kInternal;
  return Status::Ok();
}

}  // namespace warbler::proto
