// net_loop_bench: issue 6's "io_uring or epoll loop — measure and choose".
//
// The same tiny request/response server twice — a level-triggered epoll loop
// with read/send (the shape of server/server.cc) and an io_uring loop
// (multishot accept, multishot recv into a provided-buffer ring, one send in
// flight per connection, submissions batched once per loop turn) — each with
// 1 and 2 loop threads, against one client on loopback. Requests are 32-byte
// frames (16-byte header + 16-byte body), replies 250 bytes.
//
// Each case starts a fresh server process (fork + exec of this binary with
// --serve: its own fd table — 10,000 idle connections need ~20,000
// descriptors across both ends — its own CPU clock, and an RSS not inflated
// by pages inherited from the client's heap); the parent is the client: a
// pool of epoll client threads that keep `depth` requests outstanding per
// connection. Rows and server kinds interleave, repeated --reps times;
// medians and min–max are printed.
//
// liburing is included here directly (scripts/check_layers allows this one
// file): the point is to measure raw loops, not io/'s file backend.
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/net/socket.h"

namespace {

constexpr size_t kHeaderBytes = 16;  // u32 body length, u32 type, u64 request id
constexpr size_t kRequestBytes = 32;
constexpr size_t kReplyBytes = 250;
constexpr uint32_t kMaxBody = 4096;

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

void Die(const char* what) {
  std::fprintf(stderr, "net_loop_bench: %s: %s\n", what, std::strerror(errno));
  std::_Exit(2);
}

void PutHeader(char* p, uint32_t body, uint32_t type, uint64_t rid) {
  std::memcpy(p, &body, 4);
  std::memcpy(p + 4, &type, 4);
  std::memcpy(p + 8, &rid, 8);
}

// Answers every complete request in [p, p+n) by appending a reply to *out.
// Returns the bytes consumed, or -1 on a malformed frame.
ssize_t ServeFrames(const char* p, size_t n, std::string* out, uint64_t* served) {
  size_t pos = 0;
  while (n - pos >= kHeaderBytes) {
    uint32_t body;
    uint64_t rid;
    std::memcpy(&body, p + pos, 4);
    std::memcpy(&rid, p + pos + 8, 8);
    if (body > kMaxBody) return -1;
    if (n - pos < kHeaderBytes + body) break;
    pos += kHeaderBytes + body;
    const size_t at = out->size();
    out->resize(at + kReplyBytes);
    PutHeader(out->data() + at, kReplyBytes - kHeaderBytes, 2, rid);
    std::memset(out->data() + at + kHeaderBytes, 'r', kReplyBytes - kHeaderBytes);
    ++*served;
  }
  return static_cast<ssize_t>(pos);
}

// Feeds bytes to a connection's frame parser, keeping a partial frame in *in.
bool Consume(std::string* in, const char* p, size_t n, std::string* out, uint64_t* served) {
  if (in->empty()) {
    const ssize_t used = ServeFrames(p, n, out, served);
    if (used < 0) return false;
    in->assign(p + used, n - size_t(used));
    return true;
  }
  in->append(p, n);
  const ssize_t used = ServeFrames(in->data(), in->size(), out, served);
  if (used < 0) return false;
  in->erase(0, size_t(used));
  return true;
}

// ---------------------------------------------------------------- servers

struct LoopCounters {
  std::atomic<uint64_t> conns{0};
  std::atomic<uint64_t> served{0};
};

class Loop {
 public:
  virtual ~Loop() = default;
  virtual void Run() = 0;
  std::atomic<bool> stop{false};
  std::atomic<bool> ready{false};  // mode is set
  std::string mode;
  LoopCounters counters;
};

// Level-triggered epoll, like server.cc: EPOLLEXCLUSIVE on the shared
// listener, read until EAGAIN (or, with short_read, until a read returns
// less than asked: level-triggered epoll reports the rest), answer, send
// until done or EAGAIN, EPOLLOUT only while output is pending.
class EpollLoop final : public Loop {
 public:
  EpollLoop(int listen_fd, bool short_read) : listen_fd_(listen_fd), short_read_(short_read) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) Die("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.ptr = nullptr;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, listen_fd_, &ev) < 0) Die("epoll_ctl listener");
  }

  void Run() override {
    mode = short_read_ ? "level-triggered, read until a short read"
                       : "level-triggered, read until EAGAIN";
    ready.store(true);
    std::vector<epoll_event> events(256);
    while (!stop.load(std::memory_order_relaxed)) {
      const int n = epoll_wait(ep_, events.data(), int(events.size()), 100);
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(events[i].data.ptr);
        if (c == nullptr) {
          Accept();
          continue;
        }
        const uint32_t e = events[i].events;
        if ((e & (EPOLLERR | EPOLLHUP)) && !(e & EPOLLIN)) {
          Close(c);
          continue;
        }
        if ((e & EPOLLOUT) && !Flush(c)) continue;
        if (e & EPOLLIN) OnReadable(c);
      }
    }
  }

 private:
  struct Conn {
    int fd;
    std::string in, out;
    size_t out_pos = 0;
    bool want_out = false;
  };

  void Accept() {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      (void)warbler::io::net::SetNoDelay(fd);
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = c.get();
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) Die("epoll_ctl add");
      conns_.emplace(fd, std::move(c));
      counters.conns.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void OnReadable(Conn* c) {
    char buf[64 << 10];
    uint64_t served = 0;
    while (true) {
      const ssize_t n = ::read(c->fd, buf, sizeof buf);
      if (n > 0) {
        if (!Consume(&c->in, buf, size_t(n), &c->out, &served)) return Close(c);
        if (short_read_ && size_t(n) < sizeof buf) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
      return Close(c);  // eof or error
    }
    counters.served.fetch_add(served, std::memory_order_relaxed);
    Flush(c);
  }

  bool Flush(Conn* c) {
    while (c->out_pos < c->out.size()) {
      const ssize_t n =
          ::send(c->fd, c->out.data() + c->out_pos, c->out.size() - c->out_pos, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        Close(c);
        return false;
      }
      c->out_pos += size_t(n);
    }
    const bool pending = c->out_pos < c->out.size();
    if (!pending) {
      c->out.clear();
      c->out_pos = 0;
    }
    if (pending != c->want_out) {
      c->want_out = pending;
      epoll_event ev{};
      ev.events = EPOLLIN | (pending ? uint32_t(EPOLLOUT) : 0u);
      ev.data.ptr = c;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
    }
    return true;
  }

  void Close(Conn* c) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
    ::close(c->fd);
    counters.conns.fetch_sub(1, std::memory_order_relaxed);
    conns_.erase(c->fd);
  }

  int ep_ = -1;
  const int listen_fd_;
  const bool short_read_;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
};

// io_uring: multishot accept on the shared listener, multishot recv with
// buffers picked from a provided-buffer ring (plain recv into a per-connection
// buffer when the kernel refuses the ring), one send in flight per
// connection, and every SQE of a loop turn submitted by one
// io_uring_submit_and_wait.
class UringLoop final : public Loop {
 public:
  static constexpr unsigned kBufs = 512;  // per loop, shared by all connections
  static constexpr unsigned kBufBytes = 4096;
  enum Op : uint64_t { kAccept = 1, kRecv = 2, kSend = 3 };

  explicit UringLoop(int listen_fd) : listen_fd_(listen_fd) {}
  ~UringLoop() override {
    if (ring_.ring_fd > 0) io_uring_queue_exit(&ring_);
  }

  // The ring is made on the loop's own thread: SINGLE_ISSUER binds it to
  // the creating task.
  void Init() {
    io_uring_params p{};
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 16384;
    ring_flags_ = "single_issuer+defer_taskrun";
    if (io_uring_queue_init_params(4096, &ring_, &p) < 0) {
      p = io_uring_params{};
      p.flags = IORING_SETUP_CQSIZE;
      p.cq_entries = 16384;
      ring_flags_ = "plain";
      if (io_uring_queue_init_params(4096, &ring_, &p) < 0) Die("io_uring_queue_init_params");
    }
    SetUpBufRing();
    mode = std::string(bufring_ ? "multishot recv + buf ring" : "plain recv") + ", " + ring_flags_;
  }

  void Run() override {
    Init();
    ready.store(true);
    ArmAccept();
    __kernel_timespec ts{0, 100 * 1000 * 1000};
    while (!stop.load(std::memory_order_relaxed)) {
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        Handle(cqe->user_data, cqe->res, cqe->flags);
      }
      io_uring_cq_advance(&ring_, seen);
      if (recycled_ > 0) {
        io_uring_buf_ring_advance(br_, int(recycled_));
        recycled_ = 0;
      }
      for (Conn* c : dirty_) {
        c->dirty = false;
        StartSend(c);
      }
      dirty_.clear();
      counters.served.fetch_add(served_, std::memory_order_relaxed);
      served_ = 0;
    }
  }

 private:
  struct Conn {
    int fd;
    std::string in, out, sending;
    size_t sent = 0;
    bool recv_armed = false, send_inflight = false, closing = false, dirty = false;
    std::unique_ptr<char[]> rbuf;  // plain-recv mode only
  };

  void SetUpBufRing() {
    const size_t ring_bytes = kBufs * sizeof(io_uring_buf);
    void* mem =
        mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) Die("mmap buf ring");
    br_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_ring_init(br_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(br_);
    reg.ring_entries = kBufs;
    reg.bgid = 0;
    if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
      munmap(mem, ring_bytes);
      br_ = nullptr;
      return;
    }
    bufs_.reset(new char[size_t(kBufs) * kBufBytes]);
    for (unsigned i = 0; i < kBufs; ++i) {
      io_uring_buf_ring_add(br_, bufs_.get() + size_t(i) * kBufBytes, kBufBytes, uint16_t(i),
                            io_uring_buf_ring_mask(kBufs), int(i));
    }
    io_uring_buf_ring_advance(br_, int(kBufs));
    bufring_ = true;
  }

  io_uring_sqe* Sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }
  static uint64_t Tag(Conn* c, Op op) { return reinterpret_cast<uint64_t>(c) | op; }

  void ArmAccept() {
    io_uring_sqe* sqe = Sqe();
    if (multishot_accept_) {
      io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
      io_uring_prep_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, kAccept);
  }

  void ArmRecv(Conn* c) {
    io_uring_sqe* sqe = Sqe();
    if (bufring_) {
      io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
    } else {
      if (!c->rbuf) c->rbuf.reset(new char[kBufBytes]);
      io_uring_prep_recv(sqe, c->fd, c->rbuf.get(), kBufBytes, 0);
    }
    io_uring_sqe_set_data64(sqe, Tag(c, kRecv));
    c->recv_armed = true;
  }

  void StartSend(Conn* c) {
    if (c->send_inflight || c->closing || c->out.empty()) return;
    std::swap(c->out, c->sending);
    c->out.clear();
    c->sent = 0;
    SubmitSend(c);
  }
  void SubmitSend(Conn* c) {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_send(sqe, c->fd, c->sending.data() + c->sent, c->sending.size() - c->sent,
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, Tag(c, kSend));
    c->send_inflight = true;
  }

  void Handle(uint64_t data, int res, uint32_t flags) {
    const uint64_t op = data & 7;
    Conn* c = reinterpret_cast<Conn*>(data & ~uint64_t(7));
    if (op == kAccept) return OnAccept(res, flags);
    if (op == kRecv) return OnRecv(c, res, flags);
    OnSend(c, res);
  }

  void OnAccept(int res, uint32_t flags) {
    if (res >= 0) {
      (void)warbler::io::net::SetNoDelay(res);
      auto c = std::make_unique<Conn>();
      c->fd = res;
      ArmRecv(c.get());
      conns_.emplace(c.get(), std::move(c));
      counters.conns.fetch_add(1, std::memory_order_relaxed);
    } else if (res == -EINVAL && multishot_accept_) {
      multishot_accept_ = false;  // kernel without multishot accept
    }
    if (!(flags & IORING_CQE_F_MORE) && !stop.load()) ArmAccept();
  }

  void OnRecv(Conn* c, int res, uint32_t flags) {
    if (res > 0) {
      const char* p = c->rbuf.get();
      if (bufring_) {
        const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
        p = bufs_.get() + size_t(bid) * kBufBytes;
        const bool ok = !c->closing && Consume(&c->in, p, size_t(res), &c->out, &served_);
        io_uring_buf_ring_add(br_, const_cast<char*>(p), kBufBytes, uint16_t(bid),
                              io_uring_buf_ring_mask(kBufs), int(recycled_++));
        if (!ok) BeginClose(c);
      } else if (!c->closing && !Consume(&c->in, p, size_t(res), &c->out, &served_)) {
        BeginClose(c);
      }
      if (!c->closing && !c->out.empty() && !c->dirty) {
        c->dirty = true;
        dirty_.push_back(c);
      }
    }
    const bool more = bufring_ && (flags & IORING_CQE_F_MORE);
    if (!more) {
      c->recv_armed = false;
      if (!c->closing && (res > 0 || res == -ENOBUFS)) {
        ArmRecv(c);
      } else {
        BeginClose(c);
      }
    }
    MaybeFree(c);
  }

  void OnSend(Conn* c, int res) {
    c->send_inflight = false;
    if (res < 0) {
      BeginClose(c);
    } else {
      c->sent += size_t(res);
      if (c->sent < c->sending.size() && !c->closing) {
        SubmitSend(c);
      } else {
        c->sending.clear();
        StartSend(c);
      }
    }
    MaybeFree(c);
  }

  void BeginClose(Conn* c) {
    if (c->closing) return;
    c->closing = true;
    ::shutdown(c->fd, SHUT_RDWR);  // ends an armed multishot recv
  }
  void MaybeFree(Conn* c) {
    if (!c->closing || c->recv_armed || c->send_inflight) return;
    if (c->dirty) {  // still listed for this turn's flush
      c->dirty = false;
      dirty_.erase(std::find(dirty_.begin(), dirty_.end(), c));
    }
    ::close(c->fd);
    counters.conns.fetch_sub(1, std::memory_order_relaxed);
    conns_.erase(c);
  }

  io_uring ring_{};
  const int listen_fd_;
  const char* ring_flags_ = "";
  bool bufring_ = false;
  bool multishot_accept_ = true;
  io_uring_buf_ring* br_ = nullptr;
  std::unique_ptr<char[]> bufs_;
  unsigned recycled_ = 0;
  uint64_t served_ = 0;
  std::vector<Conn*> dirty_;
  std::unordered_map<Conn*, std::unique_ptr<Conn>> conns_;
};

// ---------------------------------------------------------------- server process

enum class Kind { kEpoll, kEpollShortRead, kUring };
const char* KindName(Kind k) {
  return k == Kind::kEpoll ? "epoll" : k == Kind::kEpollShortRead ? "epoll-sr" : "io_uring";
}

struct Snapshot {
  uint64_t cpu_ns;  // the server process: every thread, io-wq workers included
  uint64_t rss_kb;
  uint64_t conns;
  uint64_t served;
  char mode[96];
  char spread[64];  // connections per loop, "16/16"
};

uint64_t RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

void WriteAll(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) Die("write");
    c += w;
    n -= size_t(w);
  }
}
void ReadAll(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) Die("read");
    c += r;
    n -= size_t(r);
  }
}

// The child: runs `threads` loops of `kind`, loop i on listen_fds[i]
// (all on listen_fds[0] when `shared`), and answers 'S' (snapshot) and 'Q'
// (quit) on the command pipe.
[[noreturn]] void ServeChild(Kind kind, int threads, bool shared, const int* listen_fds, int cmd_fd,
                             int reply_fd) {
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < threads; ++i) {
    const int listen_fd = listen_fds[shared ? 0 : i];
    if (kind != Kind::kUring) {
      loops.push_back(std::make_unique<EpollLoop>(listen_fd, kind == Kind::kEpollShortRead));
    } else {
      loops.push_back(std::make_unique<UringLoop>(listen_fd));
    }
  }
  std::vector<std::thread> ts;
  for (auto& l : loops) ts.emplace_back([&l] { l->Run(); });
  for (auto& l : loops) {
    while (!l->ready.load()) usleep(100);
  }
  const std::string mode = loops[0]->mode;
  while (true) {
    Snapshot s{};
    timespec cpu;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    s.cpu_ns = uint64_t(cpu.tv_sec) * 1000000000ull + uint64_t(cpu.tv_nsec);
    s.rss_kb = RssKb();
    std::string spread;
    for (auto& l : loops) {
      const uint64_t n = l->counters.conns.load();
      s.conns += n;
      s.served += l->counters.served.load();
      spread += (spread.empty() ? "" : "/") + std::to_string(n);
    }
    std::snprintf(s.spread, sizeof s.spread, "%s", spread.c_str());
    std::snprintf(s.mode, sizeof s.mode, "%s", mode.c_str());
    WriteAll(reply_fd, &s, sizeof s);
    char cmd;
    ReadAll(cmd_fd, &cmd, 1);
    if (cmd == 'Q') _exit(0);  // the kernel closes rings, sockets and threads
  }
}

struct ServerProc {
  pid_t pid = -1;
  int cmd = -1, reply = -1;
  std::vector<uint16_t> ports;  // one per loop, or one shared
  Snapshot Snap() {
    const char c = 'S';
    WriteAll(cmd, &c, 1);
    Snapshot s;
    ReadAll(reply, &s, sizeof s);
    return s;
  }
  Snapshot first;  // written by the child once its loops run
  void Quit() {
    const char c = 'Q';
    WriteAll(cmd, &c, 1);
    waitpid(pid, nullptr, 0);
    ::close(cmd);
    ::close(reply);
  }
};

// The server's descriptors in the exec'd child.
constexpr int kChildCmdFd = 890, kChildReplyFd = 891;
constexpr int kChildListenFds[] = {900, 901};
constexpr int kMaxLoops = 2;

// Forks while the parent is single-threaded (client threads are joined
// between cases), then execs this binary with --serve. Each loop gets its
// own listener and the client spreads connections round-robin over them, so
// "x2" means two equally loaded loops; --shared-listener gives every loop
// the one listener (server.cc's arrangement) and the kernel picks.
ServerProc StartServer(Kind kind, int threads, bool shared) {
  std::vector<warbler::io::net::UniqueFd> ls;
  ServerProc p;
  for (int i = 0; i < (shared ? 1 : threads); ++i) {
    auto l = warbler::io::net::Listen({"127.0.0.1", 0}, 4096);
    if (!l.ok()) Die("listen");
    auto port = warbler::io::net::LocalPort(l->get());
    if (!port.ok()) Die("local port");
    p.ports.push_back(*port);
    ls.push_back(std::move(*l));
  }
  int to_child[2], to_parent[2];
  if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(to_parent, O_CLOEXEC) < 0) Die("pipe");
  const pid_t pid = fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    // dup2 clears FD_CLOEXEC on the copies; everything else closes on exec.
    if (dup2(to_child[0], kChildCmdFd) < 0 || dup2(to_parent[1], kChildReplyFd) < 0) _exit(3);
    for (size_t i = 0; i < ls.size(); ++i) {
      if (dup2(ls[i].get(), kChildListenFds[i]) < 0) _exit(3);
    }
    const std::string k = std::to_string(int(kind)), t = std::to_string(threads),
                      sh = shared ? "1" : "0";
    execl("/proc/self/exe", "net_loop_bench", "--serve", k.c_str(), t.c_str(), sh.c_str(), nullptr);
    _exit(3);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  p.pid = pid;
  p.cmd = to_child[1];
  p.reply = to_parent[0];
  ReadAll(p.reply, &p.first, sizeof p.first);
  return p;
}

// ---------------------------------------------------------------- client

int ConnectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) Die("connect");
  const linger lg{1, 0};  // RST on close: no TIME_WAIT pile-up across cases
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  return fd;
}

struct ClientConn {
  int fd = -1;
  std::string in;
  std::vector<uint64_t> sent_at;  // FIFO of send times (replies come in order)
  size_t head = 0, count = 0;
  uint64_t next_rid = 0;
};

// One client thread: keeps `depth` requests outstanding on each of its
// connections (epoll, level-triggered); records per-request latency while
// `recording` is set.
class ClientThread {
 public:
  ClientThread(std::vector<int> fds, int depth) : depth_(depth) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    for (int fd : fds) {
      auto c = std::make_unique<ClientConn>();
      c->fd = fd;
      c->sent_at.resize(size_t(depth));
      (void)warbler::io::net::SetNoDelay(fd);
      (void)warbler::io::net::SetNonBlocking(fd);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = c.get();
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      conns_.push_back(std::move(c));
    }
    samples_.reserve(1 << 20);
  }
  ~ClientThread() { ::close(ep_); }

  void Run(const std::atomic<int>* phase) {  // 0 warm-up, 1 record, 2 stop
    for (auto& c : conns_) Send(c.get(), size_t(depth_), NowNs());
    std::vector<epoll_event> evs(64);
    char buf[64 << 10];
    while (true) {
      const int ph = phase->load(std::memory_order_relaxed);
      if (ph == 2) break;
      const int n = epoll_wait(ep_, evs.data(), int(evs.size()), 20);
      for (int i = 0; i < n; ++i) {
        ClientConn* c = static_cast<ClientConn*>(evs[i].data.ptr);
        const ssize_t r = ::recv(c->fd, buf, sizeof buf, 0);
        if (r <= 0) {
          if (r < 0 && errno == EAGAIN) continue;
          std::fprintf(stderr, "net_loop_bench: server closed a connection\n");
          std::_Exit(2);
        }
        c->in.append(buf, size_t(r));
        const uint64_t now = NowNs();
        size_t pos = 0, got = 0;
        while (c->in.size() - pos >= kHeaderBytes) {
          uint32_t body;
          std::memcpy(&body, c->in.data() + pos, 4);
          if (c->in.size() - pos < kHeaderBytes + body) break;
          pos += kHeaderBytes + body;
          const uint64_t t = c->sent_at[c->head];
          c->head = (c->head + 1) % c->sent_at.size();
          --c->count;
          ++got;
          if (ph == 1) samples_.push_back(uint32_t(std::min<uint64_t>(now - t, UINT32_MAX)));
        }
        c->in.erase(0, pos);
        if (got > 0) Send(c, got, NowNs());
      }
    }
  }
  const std::vector<uint32_t>& samples() const { return samples_; }

 private:
  void Send(ClientConn* c, size_t k, uint64_t now) {
    std::string req(k * kRequestBytes, 'q');
    for (size_t i = 0; i < k; ++i) {
      PutHeader(req.data() + i * kRequestBytes, kRequestBytes - kHeaderBytes, 1, c->next_rid++);
      c->sent_at[(c->head + c->count) % c->sent_at.size()] = now;
      ++c->count;
    }
    size_t off = 0;
    while (off < req.size()) {  // small writes; the socket buffer never fills
      const ssize_t w = ::send(c->fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (w < 0) Die("client send");
      off += size_t(w);
    }
  }

  int depth_;
  int ep_;
  std::vector<std::unique_ptr<ClientConn>> conns_;
  std::vector<uint32_t> samples_;
};

// ---------------------------------------------------------------- driver

struct Row {
  const char* name;
  int conns;
  int depth;
  int idle;
};

struct Result {
  double rps, p50_us, p99_us, cpu_us, rss_mib;
  std::string mode, spread;
};

double LoadAvg1() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

// Connection i belongs to client thread i % client_threads. By default it
// goes to loop i % loops, so with 2 and 2 each client thread talks to one
// loop only (two independent client/server pairs); `cross` sends it to loop
// (i / client_threads) % loops, so every client thread talks to every loop.
Result RunCase(Kind kind, int threads, bool shared, bool cross, const Row& row, int client_threads,
               double warm_s, double secs) {
  ServerProc srv = StartServer(kind, threads, shared);
  const auto port = [&](int i) {
    const size_t n = srv.ports.size();
    return srv.ports[cross ? size_t(i / client_threads) % n : size_t(i) % n];
  };
  std::vector<int> idle;
  idle.reserve(size_t(row.idle));
  for (int i = 0; i < row.idle; ++i) idle.push_back(ConnectLoopback(port(i)));
  std::vector<std::vector<int>> fds(static_cast<size_t>(client_threads));
  for (int i = 0; i < row.conns; ++i)
    fds[size_t(i % client_threads)].push_back(ConnectLoopback(port(i)));
  const uint64_t want = uint64_t(row.idle + row.conns);
  for (int i = 0; srv.Snap().conns < want; ++i) {  // all accepted before any load
    if (i > 5000) Die("server did not accept every connection");
    usleep(1000);
  }
  std::vector<std::unique_ptr<ClientThread>> clients;
  for (auto& f : fds) {
    if (!f.empty()) clients.push_back(std::make_unique<ClientThread>(f, row.depth));
  }
  std::atomic<int> phase{0};
  std::vector<std::thread> ts;
  for (auto& c : clients) ts.emplace_back([&c, &phase] { c->Run(&phase); });
  std::this_thread::sleep_for(std::chrono::duration<double>(warm_s));
  const Snapshot s0 = srv.Snap();
  const uint64_t t0 = NowNs();
  phase.store(1);
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  phase.store(2);
  const uint64_t t1 = NowNs();
  const Snapshot s1 = srv.Snap();
  for (auto& t : ts) t.join();
  std::vector<uint32_t> all;
  for (auto& c : clients) all.insert(all.end(), c->samples().begin(), c->samples().end());
  srv.Quit();
  for (auto& f : fds) {
    for (int fd : f) ::close(fd);
  }
  for (int fd : idle) ::close(fd);
  Result r{};
  r.mode = s1.mode;
  r.spread = s1.spread;
  const double n = double(all.size());
  r.rps = n / (double(t1 - t0) / 1e9);
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    r.p50_us = all[all.size() / 2] / 1e3;
    r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1e3;
    // The window's server CPU over the requests the server answered in it.
    const double served = double(s1.served - s0.served);
    r.cpu_us = served > 0 ? double(s1.cpu_ns - s0.cpu_ns) / 1e3 / served : 0;
    if (served < 0.9 * n || served > 1.1 * n) {
      std::fprintf(stderr, "net_loop_bench: server answered %.0f, client counted %.0f\n", served,
                   n);
    }
  }
  r.rss_mib = double(s1.rss_kb) / 1024.0;
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One line of the summary: medians over the repetitions, min–max for the
// throughput and the CPU cost.
void PrintSummaryRow(const char* row, const char* loop, const std::vector<Result>& v) {
  std::vector<double> rps, p50, p99, cpu, rss;
  for (const auto& x : v) {
    rps.push_back(x.rps);
    p50.push_back(x.p50_us);
    p99.push_back(x.p99_us);
    cpu.push_back(x.cpu_us);
    rss.push_back(x.rss_mib);
  }
  const auto [rps_lo, rps_hi] = std::minmax_element(rps.begin(), rps.end());
  const auto [cpu_lo, cpu_hi] = std::minmax_element(cpu.begin(), cpu.end());
  char rps_s[64], cpu_s[64];
  std::snprintf(rps_s, sizeof rps_s, "%.0f (%.0f-%.0f)", Median(rps), *rps_lo, *rps_hi);
  std::snprintf(cpu_s, sizeof cpu_s, "%.2f (%.2f-%.2f)", Median(cpu), *cpu_lo, *cpu_hi);
  std::printf("%-24s %-11s %28s %9.1f %9.1f %18s %9.1f\n", row, loop, rps_s, Median(p50),
              Median(p99), cpu_s, Median(rss));
}

struct Options {
  bool shared = false, cross = false;
  int reps = 3, client_threads = 2;
  double secs = 2.0, warm = 0.5;
  std::string filter;
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--quick") {
      o->reps = 1;
      o->secs = 0.5;
      o->warm = 0.2;
    } else if (a == "--reps" && has_value) {
      o->reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && has_value) {
      o->secs = std::atof(argv[++i]);
    } else if (a == "--client-threads" && has_value) {
      o->client_threads = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--cross") {
      o->cross = true;
    } else if (a == "--shared-listener") {
      o->shared = true;
    } else if (a == "--filter" && has_value) {
      o->filter = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: net_loop_bench [--quick] [--reps N] [--seconds S] [--client-threads N] "
                   "[--shared-listener] [--cross] [--filter substring]\n");
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "--serve") {
    const int threads = std::atoi(argv[3]);
    if (threads < 1 || threads > kMaxLoops) return 2;
    ServeChild(Kind(std::atoi(argv[2])), threads, argv[4][0] == '1', kChildListenFds, kChildCmdFd,
               kChildReplyFd);
  }
  Options o;
  if (!ParseArgs(argc, argv, &o)) return 2;
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;  // 10,000 idle connections per side
  setrlimit(RLIMIT_NOFILE, &rl);
  const int idle_conns = rl.rlim_cur >= 10100 ? 10000 : int(rl.rlim_cur) - 100;

  const Row rows[] = {
      {"32 conns x 1", 32, 1, 0},
      {"32 conns x 16 pipelined", 32, 16, 0},
      {"2 conns x 256 pipelined", 2, 256, 0},
      {"10k idle + 32 x 1", 32, 1, idle_conns},
  };
  struct Cfg {
    Kind kind;
    int threads;
  };
  const Cfg cfgs[] = {{Kind::kEpoll, 1}, {Kind::kEpollShortRead, 1}, {Kind::kUring, 1},
                      {Kind::kEpoll, 2}, {Kind::kEpollShortRead, 2}, {Kind::kUring, 2}};
  constexpr size_t kRows = sizeof rows / sizeof rows[0], kCfgs = sizeof cfgs / sizeof cfgs[0];

  std::printf(
      "net_loop_bench: %u cpus, %d client threads (epoll), %.1f s per case after %.1f s warm-up, "
      "%d reps "
      "interleaved; request %zu B, reply %zu B; RLIMIT_NOFILE %llu; idle row %d conns\n",
      std::thread::hardware_concurrency(), o.client_threads, o.secs, o.warm, o.reps, kRequestBytes,
      kReplyBytes, (unsigned long long)rl.rlim_cur, idle_conns);
  std::printf("listeners: %s\n",
              o.shared  ? "one shared by every loop (EPOLLEXCLUSIVE / multishot accept; the kernel "
                          "picks the loop)"
              : o.cross ? "one per loop; every client thread talks to every loop (--cross)"
                        : "one per loop; client thread j talks to loop j (equal load per loop)");
  std::printf("load average at start: %.2f\n\n", LoadAvg1());
  std::vector<Result> res[kRows][kCfgs];
  std::string modes[kCfgs];
  for (int rep = 0; rep < o.reps; ++rep) {
    for (size_t r = 0; r < kRows; ++r) {
      if (!o.filter.empty() && std::string(rows[r].name).find(o.filter) == std::string::npos)
        continue;
      for (size_t c = 0; c < kCfgs; ++c) {
        const Result x = RunCase(cfgs[c].kind, cfgs[c].threads, o.shared, o.cross, rows[r],
                                 o.client_threads, o.warm, o.secs);
        modes[c] = x.mode;
        res[r][c].push_back(x);
        std::printf(
            "rep %d  %-24s %-8s x%d  %9.0f req/s  p50 %7.1f us  p99 %7.1f us  %5.2f cpu-us/req  "
            "rss %6.1f MiB  load %.2f  conns/loop %s\n",
            rep + 1, rows[r].name, KindName(cfgs[c].kind), cfgs[c].threads, x.rps, x.p50_us,
            x.p99_us, x.cpu_us, x.rss_mib, LoadAvg1(), x.spread.c_str());
        std::fflush(stdout);
      }
    }
  }
  std::printf("\nload average at end: %.2f\n", LoadAvg1());
  for (size_t c = 0; c < kCfgs; ++c) {
    std::printf("%s x%d: %s\n", KindName(cfgs[c].kind), cfgs[c].threads, modes[c].c_str());
  }
  std::printf(
      "\nmedians of %d (req/s and cpu with min-max); cpu = server process CPU per request; rss = "
      "server\n",
      o.reps);
  std::printf("%-24s %-11s %28s %9s %9s %18s %9s\n", "row", "loop", "req/s (min-max)", "p50 us",
              "p99 us", "cpu us/req", "rss MiB");
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t c = 0; c < kCfgs; ++c) {
      if (res[r][c].empty()) continue;
      char loop[32];
      std::snprintf(loop, sizeof loop, "%s x%d", KindName(cfgs[c].kind), cfgs[c].threads);
      PrintSummaryRow(rows[r].name, loop, res[r][c]);
    }
  }
  return 0;
}
