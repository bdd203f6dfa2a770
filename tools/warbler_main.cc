// warbler: the command-line client of warblerd. `warbler --help` lists the
// commands; every command takes --json for machine-readable output.
#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/net/tls.h"
#include "engine/crypto/kek.h"
#include "warbler/client.h"

namespace {

using namespace warbler;

struct Common {
  std::vector<std::string> servers = {"127.0.0.1:7450"};
  bool plaintext = false;
  bool insecure = false;
  std::string ca;
  std::string tenant = "demo";
  bool json = false;
};

std::string JsonEscape(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Time(uint64_t us) {
  const time_t secs = static_cast<time_t>(us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(us / 1000 % 1000));
  return buf;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "warbler: %s\n", s.ToString().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

Result<std::unique_ptr<Client>> Connect(const Common& c) {
  ClientOptions o;
  o.addresses = c.servers;
  o.tls = !c.plaintext;
  o.verify = !c.insecure;
  o.ca_file = c.ca;
  o.client_name = "warbler-cli";
  return Client::Connect(o);
}

void PrintMessages(const Common& c, const std::vector<Message>& msgs) {
  if (c.json) {
    std::printf("[");
    for (size_t i = 0; i < msgs.size(); ++i) {
      const Message& m = msgs[i];
      std::printf("%s{\"seq\":%llu,\"timestamp_us\":%llu,\"offset\":%llu,\"sender\":%s,\"client_id\":%s,\"body\":%s}",
                  i ? "," : "", static_cast<unsigned long long>(m.seq),
                  static_cast<unsigned long long>(m.timestamp_us), static_cast<unsigned long long>(m.offset),
                  JsonEscape(m.sender).c_str(), JsonEscape(m.client_id).c_str(), JsonEscape(m.body).c_str());
    }
    std::printf("]\n");
    return;
  }
  for (const Message& m : msgs) {
    std::printf("#%-6llu %s  %-12s %s\n", static_cast<unsigned long long>(m.seq), Time(m.timestamp_us).c_str(),
                m.sender.c_str(), m.body.c_str());
  }
  if (msgs.empty()) std::printf("(no messages)\n");
}

// A one-line progress bar on stderr, redrawn at most 10 times a second.
class Progress {
 public:
  Progress(const char* what, uint64_t total) : what_(what), total_(total), start_(Clock::now()) {}
  void Update(uint64_t done, bool force = false) {
    const auto now = Clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const int width = 30;
    const int fill = total_ == 0 ? width : static_cast<int>(width * done / total_);
    std::fprintf(stderr, "\r%s [%.*s%*s] %llu/%llu  %.0f/s ", what_, fill, "##############################",
                 width - fill, "", static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_),
                 secs > 0 ? done / secs : 0.0);
    std::fflush(stderr);
  }
  void Finish(uint64_t done) {
    Update(done, true);
    std::fprintf(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  const char* what_;
  uint64_t total_;
  Clock::time_point start_;
  Clock::time_point last_{};
};

// A fixed-seed chat-like body (so every run sends the same bytes).
std::string ChatBody(std::mt19937_64& rng, size_t size) {
  static const char* kWords[] = {"hey", "are", "you", "coming", "tonight", "the", "meeting", "moved", "to",
                                 "three", "ok", "sounds", "good", "see", "you", "there", "lol", "thanks",
                                 "did", "anyone", "read", "the", "doc", "yes", "ship", "it", "later", "maybe"};
  std::string s;
  while (s.size() < size) {
    if (!s.empty()) s += ' ';
    s += kWords[rng() % (sizeof kWords / sizeof kWords[0])];
  }
  s.resize(size);
  return s;
}

double Percentile(std::vector<uint64_t>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;  // µs
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"warbler — the command-line client of warblerd (docs/protocol.md)"};
  app.require_subcommand(1);
  Common common;
  auto add_common = [&](CLI::App* sub, bool needs_conv) {
    sub->add_option("-s,--server", common.servers, "server address host:port (repeat for failover)");
    sub->add_flag("--plaintext", common.plaintext, "no TLS (the server must allow it)");
    sub->add_flag("-k,--insecure", common.insecure, "do not verify the server certificate (development)");
    sub->add_option("--ca", common.ca, "PEM file of the CA that signed the server certificate");
    sub->add_flag("--json", common.json, "machine-readable output");
    if (needs_conv) sub->add_option("-t,--tenant", common.tenant, "tenant (default: demo)");
  };

  std::string conv, sender = "cli", client_id, body;
  CLI::App* send = app.add_subcommand("send", "append one message and print its ack");
  add_common(send, true);
  send->add_option("-c,--conversation", conv, "conversation")->required();
  send->add_option("--sender", sender, "sender id");
  send->add_option("--client-id", client_id, "client message id (a retry with it is answered, not stored twice)");
  send->add_option("body", body, "message text")->required();

  uint64_t latest = 0, before = 0, after = 0, limit = 50;
  bool has_before = false, has_after = false;
  CLI::App* history = app.add_subcommand("history", "print a conversation's messages (newest 50 by default)");
  add_common(history, true);
  history->add_option("-c,--conversation", conv, "conversation")->required();
  history->add_option("-n,--limit", limit, "how many messages (1..1000)");
  auto* before_opt = history->add_option("--before", before, "messages before this seq (paging back)");
  auto* after_opt = history->add_option("--after", after, "messages after this seq (syncing)");
  (void)latest;

  CLI::App* info = app.add_subcommand("info", "last seq, count and last time of a conversation");
  add_common(info, true);
  info->add_option("-c,--conversation", conv, "conversation")->required();

  uint32_t partition = 0;
  uint64_t from = 0, tail_max = 0;
  CLI::App* tail = app.add_subcommand("tail", "stream a partition's log from an offset (Ctrl-C stops)");
  add_common(tail, false);
  tail->add_option("-p,--partition", partition, "partition");
  tail->add_option("--from", from, "log offset to start at (default 0)");
  tail->add_option("--max", tail_max, "stop after this many messages (default: never)");

  CLI::App* ping = app.add_subcommand("ping", "check that the server answers");
  add_common(ping, false);

  uint64_t load_messages = 20000, load_conversations = 1000, load_concurrency = 32, load_size = 200;
  CLI::App* load = app.add_subcommand("load", "drive a demo load (IM-1 style) and report throughput and latency");
  add_common(load, true);
  load->add_option("--messages", load_messages, "messages to send (default 20000)");
  load->add_option("--conversations", load_conversations, "conversations (default 1000)");
  load->add_option("--concurrency", load_concurrency, "appends in flight (default 32)");
  load->add_option("--size", load_size, "body bytes (default 200)");

  std::string kek_file, tls_dir, cn = "localhost";
  bool force = false;
  CLI::App* keygen = app.add_subcommand("keygen", "make a key-encryption key file and/or a development TLS pair");
  keygen->add_option("--kek", kek_file, "write a new 256-bit KEK here (mode 0600)");
  keygen->add_option("--tls-dir", tls_dir, "write a self-signed development cert.pem + key.pem here");
  keygen->add_option("--cn", cn, "certificate common name (default localhost)");
  keygen->add_flag("--force", force, "replace existing files");

  CLI11_PARSE(app, argc, argv);
  has_before = before_opt->count() > 0;
  has_after = after_opt->count() > 0;

  if (keygen->parsed()) {
    if (kek_file.empty() && tls_dir.empty()) {
      std::fprintf(stderr, "warbler keygen: give --kek FILE and/or --tls-dir DIR\n");
      return 2;
    }
    if (!kek_file.empty()) {
      if (force) std::remove(kek_file.c_str());
      if (Status s = engine::crypto::GenerateKekFile(kek_file); !s.ok()) return Fail(s);
      std::printf("wrote key-encryption key %s (mode 0600); keep it away from the data directory\n", kek_file.c_str());
    }
    if (!tls_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(tls_dir, ec);
      if (ec) return Fail(Status::IOError("cannot create " + tls_dir + ": " + ec.message()));
      const std::string cert = tls_dir + "/cert.pem", key = tls_dir + "/key.pem";
      if (force) {
        std::remove(cert.c_str());
        std::remove(key.c_str());
      }
      if (Status s = io::net::WriteSelfSignedCert(cert, key, cn, 365); !s.ok()) return Fail(s);
      std::printf("wrote development TLS pair %s and %s (self-signed, CN=%s, 365 days)\n", cert.c_str(),
                  key.c_str(), cn.c_str());
    }
    return 0;
  }

  auto client = Connect(common);
  if (!client.ok()) return Fail(client.status());
  Client& cl = **client;
  const ConversationRef ref{common.tenant, conv};

  if (ping->parsed()) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = cl.Ping(); !s.ok()) return Fail(s);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (common.json) {
      std::printf("{\"ok\":true,\"server\":%s,\"rtt_ms\":%.3f}\n", JsonEscape(cl.connected_address()).c_str(), ms);
    } else {
      std::printf("pong from %s in %.3f ms\n", cl.connected_address().c_str(), ms);
    }
    return 0;
  }
  if (send->parsed()) {
    AppendRequest r{ref, sender, body, client_id};
    auto ack = cl.Append(r);
    if (!ack.ok()) return Fail(ack.status());
    if (common.json) {
      std::printf("{\"seq\":%llu,\"timestamp_us\":%llu,\"offset\":%llu,\"partition\":%u,\"duplicate\":%s}\n",
                  static_cast<unsigned long long>(ack->seq), static_cast<unsigned long long>(ack->timestamp_us),
                  static_cast<unsigned long long>(ack->offset), ack->partition, ack->duplicate ? "true" : "false");
    } else {
      std::printf("stored as #%llu at %s (partition %u, offset %llu)%s\n", static_cast<unsigned long long>(ack->seq),
                  Time(ack->timestamp_us).c_str(), ack->partition, static_cast<unsigned long long>(ack->offset),
                  ack->duplicate ? " — a retry: the original was kept" : "");
    }
    return 0;
  }
  if (history->parsed()) {
    auto msgs = has_before ? cl.Before(ref, before, limit) : has_after ? cl.After(ref, after, limit) : cl.Latest(ref, limit);
    if (!msgs.ok()) return Fail(msgs.status());
    PrintMessages(common, *msgs);
    return 0;
  }
  if (info->parsed()) {
    auto i = cl.Info(ref);
    if (!i.ok()) return Fail(i.status());
    if (common.json) {
      std::printf("{\"last_seq\":%llu,\"count\":%llu,\"last_timestamp_us\":%llu}\n",
                  static_cast<unsigned long long>(i->last_seq), static_cast<unsigned long long>(i->count),
                  static_cast<unsigned long long>(i->last_timestamp_us));
    } else if (i->last_seq == 0) {
      std::printf("no messages in %s/%s\n", common.tenant.c_str(), conv.c_str());
    } else {
      std::printf("%llu messages, last #%llu at %s\n", static_cast<unsigned long long>(i->count),
                  static_cast<unsigned long long>(i->last_seq), Time(i->last_timestamp_us).c_str());
    }
    return 0;
  }
  if (tail->parsed()) {
    // Shared with the client's reader thread, which may still call back while
    // this scope ends (the connection closing reports an error).
    struct TailState {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      Status end;
      uint64_t seen = 0;
    };
    auto st = std::make_shared<TailState>();
    auto sub = cl.Subscribe(partition, from, [st, json = common.json, tail_max](const Status& s, std::vector<Event> events, uint64_t) {
      auto& [mu, cv, done, end, seen] = *st;
      std::lock_guard lock(mu);
      if (done) return;
      if (!s.ok()) {
        end = s;
        done = true;
        cv.notify_all();
        return;
      }
      for (const Event& e : events) {
        if (tail_max > 0 && seen >= tail_max) break;
        ++seen;
        if (json) {
          std::printf("{\"offset\":%llu,\"tenant\":%s,\"conversation\":%s,\"seq\":%llu,\"sender\":%s,\"body\":%s}\n",
                      static_cast<unsigned long long>(e.offset), JsonEscape(e.tenant).c_str(),
                      JsonEscape(e.conversation).c_str(), static_cast<unsigned long long>(e.message.seq),
                      JsonEscape(e.message.sender).c_str(), JsonEscape(e.message.body).c_str());
        } else {
          std::printf("@%-8llu %s/%s #%llu %s: %s\n", static_cast<unsigned long long>(e.offset), e.tenant.c_str(),
                      e.conversation.c_str(), static_cast<unsigned long long>(e.message.seq),
                      e.message.sender.c_str(), e.message.body.c_str());
        }
      }
      std::fflush(stdout);
      if (tail_max > 0 && seen >= tail_max) {
        done = true;
        cv.notify_all();
      }
    });
    if (!sub.ok()) return Fail(sub.status());
    std::unique_lock lock(st->mu);
    st->cv.wait(lock, [&] { return st->done; });
    const Status end = st->end;
    lock.unlock();
    cl.Close();
    return end.ok() ? 0 : Fail(end);
  }
  if (load->parsed()) {
    std::mt19937_64 rng(42);
    std::vector<std::string> bodies(256);
    for (auto& b : bodies) b = ChatBody(rng, load_size);
    std::vector<std::string> convs(load_conversations);
    for (size_t i = 0; i < convs.size(); ++i) convs[i] = "room-" + std::to_string(i);
    std::vector<std::string> ids(load_messages);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = "load-" + std::to_string(rng()) + "-" + std::to_string(i);
    std::vector<uint64_t> lat(load_messages);
    std::atomic<uint64_t> sent{0}, acked{0}, failed{0};
    std::mutex mu;
    std::condition_variable cv;
    Status first_error;
    Progress progress("sending", load_messages);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::chrono::steady_clock::time_point> started(load_messages);
    std::function<void()> next = [&] {
      const uint64_t i = sent.fetch_add(1);
      if (i >= load_messages) return;
      const std::string sender = "user-" + std::to_string(i % 97);
      AppendRequest r{{common.tenant, convs[rng() % convs.size()]}, sender, bodies[i % bodies.size()], ids[i]};
      started[i] = std::chrono::steady_clock::now();
      Status s = cl.AppendAsync(r, [&, i](const Status& st, const AppendAck&) {
        lat[i] = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started[i]).count());
        if (!st.ok()) {
          failed.fetch_add(1);
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = st;
        }
        // Under the lock: once it is released the waiter may leave this scope.
        std::lock_guard lock(mu);
        acked.fetch_add(1);
        cv.notify_all();
      });
      if (!s.ok()) {
        failed.fetch_add(1);
        acked.fetch_add(1);
        std::lock_guard lock(mu);
        if (first_error.ok()) first_error = s;
      }
    };
    // Keep `concurrency` appends in flight from this thread.
    {
      std::unique_lock lock(mu);
      while (acked.load() < load_messages) {
        while (sent.load() < load_messages && sent.load() - acked.load() < load_concurrency) {
          lock.unlock();
          next();
          lock.lock();
        }
        cv.wait_for(lock, std::chrono::milliseconds(50));
        progress.Update(acked.load());
      }
    }
    progress.Finish(acked.load());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double rate = load_messages / secs;
    const double p50 = Percentile(lat, 0.50), p99 = Percentile(lat, 0.99), p999 = Percentile(lat, 0.999);
    if (common.json) {
      std::printf("{\"messages\":%llu,\"failed\":%llu,\"seconds\":%.3f,\"msgs_per_sec\":%.0f,\"p50_us\":%.0f,"
                  "\"p99_us\":%.0f,\"p999_us\":%.0f}\n",
                  static_cast<unsigned long long>(load_messages), static_cast<unsigned long long>(failed.load()),
                  secs, rate, p50, p99, p999);
    } else {
      std::printf("sent %llu messages to %llu conversations in %.2f s: %.0f msgs/s durable, %llu failed\n",
                  static_cast<unsigned long long>(load_messages), static_cast<unsigned long long>(load_conversations),
                  secs, rate, static_cast<unsigned long long>(failed.load()));
      std::printf("ack latency: p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs (%llu in flight, TLS %s)\n", p50, p99, p999,
                  static_cast<unsigned long long>(load_concurrency), common.plaintext ? "off" : "on");
    }
    if (!first_error.ok()) return Fail(first_error);
    return 0;
  }
  return 0;
}
