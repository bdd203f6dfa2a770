// Fuzz target for the wire protocol decoders (docs/protocol.md): every frame
// a client can send reaches these functions with untrusted bytes. Built as a
// libFuzzer target with clang (-DWARBLER_FUZZ=ON, see tests/fuzz/README.md)
// and, always, as part of the default test run through fuzz_smoke_test.cc,
// which replays a seeded stream of mutated valid frames.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/frame.h"

namespace warbler::proto {

// Decodes `data` as a frame stream the way the server does; never crashes,
// never reads out of bounds (run under ASan), whatever the bytes.
void FuzzFrames(const uint8_t* data, size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  size_t pos = 0;
  while (in.size() - pos >= kFrameHeaderSize) {
    FrameHeader h;
    if (!ParseFrameHeader(in.subspan(pos, kFrameHeaderSize), kDefaultMaxFrameBytes, &h).ok()) return;
    if (in.size() - pos < h.frame_size()) return;
    auto body = in.subspan(pos + kFrameHeaderSize, h.body_len);
    pos += h.frame_size();
    switch (h.type) {
      case Type::kHello: { Hello m; (void)DecodeHello(body, &m); break; }
      case Type::kHelloOk: { HelloOk m; (void)DecodeHelloOk(body, &m); break; }
      case Type::kAppend: { AppendRequest m; (void)DecodeAppend(body, &m); break; }
      case Type::kAppendBatch: { std::vector<AppendRequest> m; (void)DecodeAppendBatch(body, &m); break; }
      case Type::kAck: { AppendAck m; (void)DecodeAck(body, &m); break; }
      case Type::kAcks: { std::vector<AppendAck> m; (void)DecodeAcks(body, &m); break; }
      case Type::kLatest: case Type::kBefore: case Type::kAfter: case Type::kGet: case Type::kInfo: {
        Query q;
        (void)DecodeQuery(h.type, body, &q);
        break;
      }
      case Type::kMessages: { std::vector<Message> m; (void)DecodeMessages(body, &m); break; }
      case Type::kInfoReply: { ConversationInfo m; (void)DecodeInfo(body, &m); break; }
      case Type::kSubscribe: { Subscribe m; (void)DecodeSubscribe(body, &m); break; }
      case Type::kUnsubscribe: { uint64_t m; (void)DecodeUnsubscribe(body, &m); break; }
      case Type::kEvents: { Events m; (void)DecodeEvents(body, &m); break; }
      case Type::kError: { ErrorCode c; std::string m; (void)DecodeError(body, &c, &m); break; }
      case Type::kPing: case Type::kPong: case Type::kUnsubscribed: break;
    }
  }
}

}  // namespace warbler::proto

#ifdef WARBLER_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warbler::proto::FuzzFrames(data, size);
  return 0;
}
#endif
