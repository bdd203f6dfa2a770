#include "engine/log/record.h"

#include "base/coding.h"
#include "base/limits.h"
#include "engine/format.h"

namespace warbler::engine {
namespace {

size_t LpSize(std::string_view s) { return VarintLength(s.size()) + s.size(); }

size_t BodySize(const Record& r, uint64_t first_ts) {
  return 1 + VarintLength(r.timestamp_us - first_ts) + VarintLength(r.seq) + LpSize(r.tenant) +
         LpSize(r.conversation) + LpSize(r.client_id) + LpSize(r.sender) + LpSize(r.body);
}

Status TooLong(const char* field, size_t size, size_t limit) {
  return Status::InvalidArgument(std::string(field) + " is " + std::to_string(size) +
                                 " bytes, over the limit of " + std::to_string(limit));
}

}  // namespace

Record RecordView::ToRecord() const {
  Record r;
  r.flags = flags;
  r.timestamp_us = timestamp_us;
  r.seq = seq;
  r.tenant = tenant;
  r.conversation = conversation;
  r.client_id = client_id;
  r.sender = sender;
  r.body = body;
  return r;
}

Status ValidateRecord(const Record& r) {
  if (r.tenant.size() > limits::kMaxTenantBytes) {
    return TooLong("tenant", r.tenant.size(), limits::kMaxTenantBytes);
  }
  if (r.conversation.size() > limits::kMaxConversationBytes) {
    return TooLong("conversation", r.conversation.size(), limits::kMaxConversationBytes);
  }
  if (r.client_id.size() > limits::kMaxClientMessageIdBytes) {
    return TooLong("client message id", r.client_id.size(), limits::kMaxClientMessageIdBytes);
  }
  if (r.sender.size() > limits::kMaxSenderBytes) {
    return TooLong("sender", r.sender.size(), limits::kMaxSenderBytes);
  }
  if (r.body.size() > limits::kMaxBodyBytes) {
    return TooLong("body", r.body.size(), limits::kMaxBodyBytes);
  }
  if ((r.flags & ~format::kKnownRecordFlags) != 0) {
    return Status::InvalidArgument("unknown record flags " + std::to_string(r.flags));
  }
  return Status::Ok();
}

size_t EncodedRecordSize(const Record& r, uint64_t first_timestamp_us) {
  size_t body = BodySize(r, first_timestamp_us);
  return VarintLength(body) + body;
}

void EncodeRecord(const Record& r, uint64_t first_timestamp_us, std::string* out) {
  uint8_t flags = r.flags & format::kRecordTombstone;
  if (!r.client_id.empty()) flags |= format::kRecordHasClientId;
  PutVarint64(out, BodySize(r, first_timestamp_us));
  out->push_back(static_cast<char>(flags));
  PutVarint64(out, r.timestamp_us - first_timestamp_us);
  PutVarint64(out, r.seq);
  PutLengthPrefixed(out, r.tenant);
  PutLengthPrefixed(out, r.conversation);
  PutLengthPrefixed(out, r.client_id);
  PutLengthPrefixed(out, r.sender);
  PutLengthPrefixed(out, r.body);
}

Status DecodeRecord(std::string_view* in, uint64_t first_timestamp_us, RecordView* out) {
  Reader outer(*in);
  std::string_view rec;
  if (!outer.GetLengthPrefixed(&rec, limits::kMaxRecordBytes)) {
    return Status::Corruption("record length runs past the batch");
  }
  in->remove_prefix(outer.position());
  Reader r(rec);
  uint8_t flags;
  std::span<const std::byte> flag_byte;
  uint64_t ts_delta;
  if (!r.GetBytes(1, &flag_byte) || !r.GetVarint64(&ts_delta) || !r.GetVarint64(&out->seq)) {
    return Status::Corruption("truncated record header");
  }
  flags = static_cast<uint8_t>(flag_byte[0]);
  if ((flags & ~format::kKnownRecordFlags) != 0) {
    return Status::Corruption("unknown record flags " + std::to_string(flags));
  }
  if (ts_delta > UINT64_MAX - first_timestamp_us) {
    return Status::Corruption("record timestamp overflows");
  }
  if (!r.GetLengthPrefixed(&out->tenant, limits::kMaxTenantBytes) ||
      !r.GetLengthPrefixed(&out->conversation, limits::kMaxConversationBytes) ||
      !r.GetLengthPrefixed(&out->client_id, limits::kMaxClientMessageIdBytes) ||
      !r.GetLengthPrefixed(&out->sender, limits::kMaxSenderBytes) ||
      !r.GetLengthPrefixed(&out->body, limits::kMaxBodyBytes)) {
    return Status::Corruption("record field over its limit or past the record");
  }
  if (((flags & format::kRecordHasClientId) != 0) != !out->client_id.empty()) {
    return Status::Corruption("record client-id flag disagrees with the field");
  }
  // Bytes left inside the record length are fields of a newer minor version: skipped.
  out->flags = flags;
  out->timestamp_us = first_timestamp_us + ts_delta;
  return Status::Ok();
}

}  // namespace warbler::engine
