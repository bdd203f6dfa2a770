#include "base/coding.h"

namespace warbler {

void PutFixed16(std::string* dst, uint16_t v) {
  std::byte buf[2];
  EncodeFixed16(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), sizeof buf);
}
void PutFixed32(std::string* dst, uint32_t v) {
  std::byte buf[4];
  EncodeFixed32(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), sizeof buf);
}
void PutFixed64(std::string* dst, uint64_t v) {
  std::byte buf[8];
  EncodeFixed64(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), sizeof buf);
}
void PutVarint64(std::string* dst, uint64_t v) {
  std::byte buf[kMaxVarint64Bytes];
  size_t n = EncodeVarint64(buf, v);
  dst->append(reinterpret_cast<const char*>(buf), n);
}
void PutLengthPrefixed(std::string* dst, std::string_view bytes) {
  PutVarint64(dst, bytes.size());
  dst->append(bytes);
}

bool Reader::GetFixed16(uint16_t* v) {
  if (remaining() < 2) return false;
  *v = DecodeFixed16(data_.data() + pos_);
  pos_ += 2;
  return true;
}
bool Reader::GetFixed32(uint32_t* v) {
  if (remaining() < 4) return false;
  *v = DecodeFixed32(data_.data() + pos_);
  pos_ += 4;
  return true;
}
bool Reader::GetFixed64(uint64_t* v) {
  if (remaining() < 8) return false;
  *v = DecodeFixed64(data_.data() + pos_);
  pos_ += 8;
  return true;
}
bool Reader::GetVarint64(uint64_t* v) {
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
    uint64_t byte = static_cast<uint64_t>(data_[pos_++]);
    if (shift == 63 && (byte & 0x7e) != 0) return false;  // bits beyond 64
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}
bool Reader::GetVarint32(uint32_t* v) {
  uint64_t w;
  if (!GetVarint64(&w) || w > UINT32_MAX) return false;
  *v = static_cast<uint32_t>(w);
  return true;
}
bool Reader::GetBytes(size_t n, std::span<const std::byte>* out) {
  if (remaining() < n) return false;
  *out = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool Reader::GetLengthPrefixed(std::string_view* out, size_t max_len) {
  uint64_t len;
  if (!GetVarint64(&len) || len > max_len || len > remaining()) return false;
  *out = AsStringView(data_.subspan(pos_, len));
  pos_ += len;
  return true;
}
bool Reader::Skip(size_t n) {
  if (remaining() < n) return false;
  pos_ += n;
  return true;
}

}  // namespace warbler
