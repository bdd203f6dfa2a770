#include "engine/conv/conv_id.h"

#include <cstring>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"

namespace warbler::engine {
namespace {

ConvId FromHash(const std::byte* data, size_t len) {
  Hash128 h = Checksum128({data, len});
  ConvId id{h.lo, h.hi};
  if (id.empty()) id.lo = 1;  // empty() marks free directory slots
  return id;
}

}  // namespace

ConvId MakeConvId(std::string_view tenant, std::string_view conversation) {
  WB_ASSERT(tenant.size() <= 255 && conversation.size() <= 255);
  std::byte buf[2 + 255 + 255];
  size_t n = 0;
  buf[n++] = static_cast<std::byte>(tenant.size());
  std::memcpy(buf + n, tenant.data(), tenant.size());
  n += tenant.size();
  buf[n++] = static_cast<std::byte>(conversation.size());
  std::memcpy(buf + n, conversation.data(), conversation.size());
  n += conversation.size();
  return FromHash(buf, n);
}

ConvId MakeDedupId(const ConvId& conversation, std::string_view client_id) {
  WB_ASSERT(client_id.size() <= 255);
  std::byte buf[16 + 255];
  EncodeFixed64(buf, conversation.lo);
  EncodeFixed64(buf + 8, conversation.hi);
  std::memcpy(buf + 16, client_id.data(), client_id.size());
  return FromHash(buf, 16 + client_id.size());
}

}  // namespace warbler::engine
