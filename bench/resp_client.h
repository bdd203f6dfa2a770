// A minimal blocking Redis (RESP2) client for the IM-1 baseline: one TCP
// connection, one command at a time. Enough for XADD / XREVRANGE / XRANGE /
// PING / CONFIG; written here rather than adding hiredis for a benchmark.
// Thread-safety: one RespClient per thread.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "io/net/socket.h"

namespace warbler::bench {

struct RespValue {
  enum class Kind { kSimple, kError, kInteger, kBulk, kNil, kArray } kind = Kind::kNil;
  std::string str;  // simple, error, bulk
  int64_t integer = 0;
  std::vector<RespValue> elements;  // array
};

class RespClient {
 public:
  static Result<std::unique_ptr<RespClient>> Connect(const std::string& host, uint16_t port) {
    WB_ASSIGN_OR_RETURN(auto fd, io::net::Connect({host, port}, 3000));
    auto c = std::unique_ptr<RespClient>(new RespClient());
    c->fd_ = std::move(fd);
    return c;
  }

  Result<RespValue> Command(const std::vector<std::string_view>& args) {
    out_.clear();
    out_ += "*" + std::to_string(args.size()) + "\r\n";
    for (std::string_view a : args) {
      out_ += "$" + std::to_string(a.size()) + "\r\n";
      out_.append(a);
      out_ += "\r\n";
    }
    size_t done = 0;
    while (done < out_.size()) {
      const ssize_t n = ::send(fd_.get(), out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return Status::Unavailable(std::string("redis send: ") + std::strerror(errno));
      }
      done += static_cast<size_t>(n);
    }
    RespValue v;
    WB_RETURN_IF_ERROR(Parse(&v));
    if (v.kind == RespValue::Kind::kError) return Status::Aborted("redis: " + v.str);
    return v;
  }

 private:
  RespClient() = default;

  Status Fill() {
    if (pos_ > 0 && pos_ == in_.size()) {
      in_.clear();
      pos_ = 0;
    }
    char buf[65536];
    while (true) {
      const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        return Status::Ok();
      }
      if (n < 0 && errno == EINTR) continue;
      return Status::Unavailable(n == 0 ? "redis closed the connection" : std::strerror(errno));
    }
  }

  Result<std::string_view> Line() {
    while (true) {
      const size_t end = in_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string_view line(in_.data() + pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      WB_RETURN_IF_ERROR(Fill());
    }
  }

  Status Parse(RespValue* v) {
    WB_ASSIGN_OR_RETURN(std::string_view line, Line());
    if (line.empty()) return Status::Corruption("redis: empty reply line");
    const char type = line[0];
    const std::string rest(line.substr(1));
    switch (type) {
      case '+': v->kind = RespValue::Kind::kSimple; v->str = rest; return Status::Ok();
      case '-': v->kind = RespValue::Kind::kError; v->str = rest; return Status::Ok();
      case ':': v->kind = RespValue::Kind::kInteger; v->integer = std::stoll(rest); return Status::Ok();
      case '$': {
        const long long len = std::stoll(rest);
        if (len < 0) {
          v->kind = RespValue::Kind::kNil;
          return Status::Ok();
        }
        while (in_.size() - pos_ < static_cast<size_t>(len) + 2) WB_RETURN_IF_ERROR(Fill());
        v->kind = RespValue::Kind::kBulk;
        v->str.assign(in_, pos_, static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len) + 2;
        return Status::Ok();
      }
      case '*': {
        const long long n = std::stoll(rest);
        if (n < 0) {
          v->kind = RespValue::Kind::kNil;
          return Status::Ok();
        }
        v->kind = RespValue::Kind::kArray;
        v->elements.resize(static_cast<size_t>(n));
        for (RespValue& e : v->elements) WB_RETURN_IF_ERROR(Parse(&e));
        return Status::Ok();
      }
      default:
        return Status::Corruption(std::string("redis: unknown reply type '") + type + "'");
    }
  }

  io::net::UniqueFd fd_;
  std::string out_;
  std::string in_;
  size_t pos_ = 0;
};

}  // namespace warbler::bench
