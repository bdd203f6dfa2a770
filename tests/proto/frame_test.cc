// Wire protocol codec tests (docs/protocol.md): golden bytes, round trips of
// every body, and rejection of malformed input.
#include <gtest/gtest.h>

#include "proto/frame.h"

namespace warbler::proto {
namespace {

std::span<const std::byte> B(const std::string& s) { return AsBytes(s); }

std::string Hex(const std::string& s) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += k[c >> 4];
    out += k[c & 15];
  }
  return out;
}

TEST(FrameTest, GoldenPingFrame) {
  std::string f;
  AppendFrame(Type::kPing, 0x0102030405060708ull, "", &f);
  // length 12, type 0x02, flags 0, reserved 0, request id LE.
  EXPECT_EQ(Hex(f), "0c000000" "02" "00" "0000" "0807060504030201");
  FrameHeader h;
  ASSERT_TRUE(ParseFrameHeader(B(f), kDefaultMaxFrameBytes, &h).ok());
  EXPECT_EQ(h.type, Type::kPing);
  EXPECT_EQ(h.request_id, 0x0102030405060708ull);
  EXPECT_EQ(h.body_len, 0u);
}

TEST(FrameTest, GoldenAppendBody) {
  AppendRequest r{{"t", "c"}, "s", "hi", ""};
  std::string body;
  EncodeAppend(r, &body);
  EXPECT_EQ(Hex(body), "0174" "0163" "0173" "00" "026869");
  AppendRequest back;
  ASSERT_TRUE(DecodeAppend(B(body), &back).ok());
  EXPECT_EQ(back.conversation.tenant, "t");
  EXPECT_EQ(back.body, "hi");
  EXPECT_TRUE(back.client_id.empty());
}

TEST(FrameTest, HeaderViolations) {
  FrameHeader h;
  std::string f;
  AppendFrame(Type::kPing, 1, "", &f);
  std::string bad = f;
  bad[0] = 11;  // below the 12-byte header rest
  EXPECT_EQ(ParseFrameHeader(B(bad), kDefaultMaxFrameBytes, &h).code(), StatusCode::kInvalidArgument);
  bad = f;
  bad[4] = 0x7f;  // unknown type
  EXPECT_NE(ParseFrameHeader(B(bad), kDefaultMaxFrameBytes, &h).message().find("unknown frame type"),
            std::string::npos);
  bad = f;
  bad[5] = 1;  // flags
  EXPECT_FALSE(ParseFrameHeader(B(bad), kDefaultMaxFrameBytes, &h).ok());
  bad = f;
  bad[7] = 1;  // reserved
  EXPECT_FALSE(ParseFrameHeader(B(bad), kDefaultMaxFrameBytes, &h).ok());
  bad = f;
  bad[0] = 0;
  bad[1] = 0;
  bad[2] = 0x10;  // 1 MiB body
  Status s = ParseFrameHeader(B(bad), 4096, &h);
  EXPECT_NE(s.message().find("max_frame_bytes"), std::string::npos) << s.ToString();
}

TEST(FrameTest, BodiesRoundTrip) {
  std::string body;
  Hello hello{1, 3, "me"};
  EncodeHello(hello, &body);
  Hello h2;
  ASSERT_TRUE(DecodeHello(B(body), &h2).ok());
  EXPECT_EQ(h2.max_version, 3);
  EXPECT_EQ(h2.client_name, "me");

  body.clear();
  HelloOk ok{1, "srv", 5000, 77};
  EncodeHelloOk(ok, &body);
  HelloOk ok2;
  ASSERT_TRUE(DecodeHelloOk(B(body), &ok2).ok());
  EXPECT_EQ(ok2.server_name, "srv");
  EXPECT_EQ(ok2.max_inflight, 77u);

  std::vector<AppendRequest> batch = {{{"t", std::string_view("a\0b", 3)}, "s", "x", "id"}, {{"u", "c"}, "", "", ""}};
  body.clear();
  EncodeAppendBatch(batch, &body);
  std::vector<AppendRequest> batch2;
  ASSERT_TRUE(DecodeAppendBatch(B(body), &batch2).ok());
  ASSERT_EQ(batch2.size(), 2u);
  EXPECT_EQ(batch2[0].conversation.conversation, std::string_view("a\0b", 3));
  EXPECT_EQ(batch2[0].client_id, "id");

  std::vector<AppendAck> acks = {{1, 2, 3, 4, false}, {5, 6, 7, 8, true}};
  body.clear();
  EncodeAcks(acks, &body);
  std::vector<AppendAck> acks2;
  ASSERT_TRUE(DecodeAcks(B(body), &acks2).ok());
  ASSERT_EQ(acks2.size(), 2u);
  EXPECT_TRUE(acks2[1].duplicate);
  EXPECT_EQ(acks2[1].partition, 8u);

  for (Type t : {Type::kLatest, Type::kBefore, Type::kAfter, Type::kGet, Type::kInfo}) {
    body.clear();
    EncodeQuery(t, Query{{"t", "c"}, 42, 7}, &body);
    Query q;
    ASSERT_TRUE(DecodeQuery(t, B(body), &q).ok()) << TypeName(t);
    EXPECT_EQ(q.conversation.conversation, "c");
    EXPECT_EQ(q.seq, (t == Type::kLatest || t == Type::kInfo) ? 0u : 42u) << TypeName(t);
    EXPECT_EQ(q.n, (t == Type::kGet || t == Type::kInfo) ? 0u : 7u) << TypeName(t);
  }

  std::vector<Message> msgs(3);
  for (size_t i = 0; i < msgs.size(); ++i) {
    msgs[i].seq = i + 1;
    msgs[i].body = std::string(i * 100, 'b');
    msgs[i].sender = "s";
  }
  body.clear();
  EncodeMessages(msgs, &body);
  std::vector<Message> msgs2;
  ASSERT_TRUE(DecodeMessages(B(body), &msgs2).ok());
  ASSERT_EQ(msgs2.size(), 3u);
  EXPECT_EQ(msgs2[2].body.size(), 200u);

  Events ev;
  ev.partition = 3;
  ev.next_offset = 10;
  ev.events.push_back({9, "t", "c", 4, 5, "s", "cid", "body"});
  body.clear();
  EncodeEvents(ev, &body);
  Events ev2;
  ASSERT_TRUE(DecodeEvents(B(body), &ev2).ok());
  EXPECT_EQ(ev2.next_offset, 10u);
  ASSERT_EQ(ev2.events.size(), 1u);
  EXPECT_EQ(ev2.events[0].client_id, "cid");

  body.clear();
  EncodeError(ErrorCode::kNoSpace, "disk full", &body);
  ErrorCode code;
  std::string msg;
  ASSERT_TRUE(DecodeError(B(body), &code, &msg).ok());
  EXPECT_EQ(code, ErrorCode::kNoSpace);
  EXPECT_EQ(StatusOfError(code, msg).code(), StatusCode::kNoSpace);
}

TEST(FrameTest, TruncatedAndTrailingBodiesAreRejected) {
  std::string body;
  EncodeAppend(AppendRequest{{"tenant", "conv"}, "sender", "a body", "cid"}, &body);
  for (size_t cut = 0; cut < body.size(); ++cut) {
    AppendRequest r;
    EXPECT_FALSE(DecodeAppend(B(body.substr(0, cut)), &r).ok()) << cut;
  }
  AppendRequest r;
  EXPECT_NE(DecodeAppend(B(body + "x"), &r).message().find("trailing"), std::string::npos);
  // A string length running past the body.
  std::string lie = "\x7f" "t";
  EXPECT_FALSE(DecodeAppend(B(lie), &r).ok());
  // Batch counts outside 1..1000.
  std::string zero(1, '\0');
  std::vector<AppendRequest> rs;
  EXPECT_FALSE(DecodeAppendBatch(B(zero), &rs).ok());
  std::string many;
  PutVarint64(&many, 1001);
  EXPECT_FALSE(DecodeAppendBatch(B(many), &rs).ok());
  // A message count larger than the body could hold.
  std::string huge;
  PutVarint64(&huge, 1ull << 40);
  std::vector<Message> ms;
  EXPECT_FALSE(DecodeMessages(B(huge), &ms).ok());
  // Hello with the wrong magic.
  std::string hello;
  EncodeHello(Hello{}, &hello);
  hello[0] ^= 1;
  Hello h;
  EXPECT_FALSE(DecodeHello(B(hello), &h).ok());
}

TEST(FrameTest, ErrorCodesMapBothWays) {
  EXPECT_EQ(ErrorCodeOf(Status::InvalidArgument("x")), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeOf(Status::ResourceExhausted("x")), ErrorCode::kResourceExhausted);
  EXPECT_EQ(ErrorCodeOf(Status::NoSpace("x")), ErrorCode::kNoSpace);
  EXPECT_EQ(ErrorCodeOf(Status::Corruption("x")), ErrorCode::kCorruption);
  EXPECT_EQ(StatusOfError(ErrorCode::kResourceExhausted, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusOfError(ErrorCode::kProtocol, "x").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warbler::proto
