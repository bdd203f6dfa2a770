// Little-endian fixed-width and LEB128 varint coding, for every on-disk and
// on-wire format. Decoders never read past the span they are given and report
// failure by returning false / nullopt; they never assert on input bytes.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace warbler {

inline void EncodeFixed16(std::byte* dst, uint16_t v) {
  for (int i = 0; i < 2; ++i) dst[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void EncodeFixed32(std::byte* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void EncodeFixed64(std::byte* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<std::byte>(v >> (8 * i));
}
inline uint16_t DecodeFixed16(const std::byte* src) {
  return static_cast<uint16_t>(static_cast<uint16_t>(src[0]) |
                               static_cast<uint16_t>(static_cast<uint16_t>(src[1]) << 8));
}
inline uint32_t DecodeFixed32(const std::byte* src) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint32_t>(src[i]);
  return v;
}
inline uint64_t DecodeFixed64(const std::byte* src) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(src[i]);
  return v;
}

// Maximum encoded size of a 64-bit varint.
inline constexpr size_t kMaxVarint64Bytes = 10;

// Writes `v` as a varint at dst; returns bytes written (1..10).
inline size_t EncodeVarint64(std::byte* dst, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    dst[n++] = static_cast<std::byte>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  dst[n++] = static_cast<std::byte>(v);
  return n;
}

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Appends to a byte string; the encoders used when building buffers.
void PutFixed16(std::string* dst, uint16_t v);
void PutFixed32(std::string* dst, uint32_t v);
void PutFixed64(std::string* dst, uint64_t v);
void PutVarint64(std::string* dst, uint64_t v);
// Varint length followed by the bytes.
void PutLengthPrefixed(std::string* dst, std::string_view bytes);

// A cursor over untrusted bytes. Every Get* returns false (and leaves the
// cursor unspecified) if the input is too short or malformed; callers turn
// that into a Corruption / InvalidArgument Status with their own context.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> data) : data_(data) {}
  explicit Reader(std::string_view data)
      : data_(reinterpret_cast<const std::byte*>(data.data()), data.size()) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return pos_ == data_.size(); }

  bool GetFixed16(uint16_t* v);
  bool GetFixed32(uint32_t* v);
  bool GetFixed64(uint64_t* v);
  // Rejects overlong encodings (more than 10 bytes, or bits beyond 64).
  bool GetVarint64(uint64_t* v);
  bool GetVarint32(uint32_t* v);
  bool GetBytes(size_t n, std::span<const std::byte>* out);
  // Varint length then bytes; fails if the length exceeds `max_len`.
  bool GetLengthPrefixed(std::string_view* out, size_t max_len);
  bool Skip(size_t n);

 private:
  std::span<const std::byte> data_;
  size_t pos_ = 0;
};

inline std::span<const std::byte> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view AsStringView(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace warbler
