// Keeps docs/metrics.md true: a real Store and Server behind the admin port
// (wired as warblerd_main.cc wires them), one scrape of GET /metrics, and
// every `# TYPE <name> <type>` line of it checked against the doc's tables
// both ways — each exported family has a row with the same type, and each
// row names a family that is exported. A row whose meaning starts with
// "(io_uring only)" may be absent from the scrape: the server here runs on
// the default file system, which is POSIX where io_uring is unavailable.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "io/net/socket.h"
#include "server/admin_http.h"
#include "server/server.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"
#include "warbler/client.h"
#include "warbler/store.h"

namespace warbler::server {
namespace {

constexpr const char* kDocPath = WARBLER_SOURCE_DIR "/docs/metrics.md";

using Families = std::map<std::string, std::string>;  // family name → type

// Marks a row of a family exported only with the io_uring backend.
constexpr std::string_view kUringOnly = "(io_uring only)";

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t`");
  const size_t e = s.find_last_not_of(" \t`");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The `# TYPE name type` lines of an exposition; a family declared twice is a problem.
Families ExportedFamilies(const std::string& text, std::vector<std::string>* problems) {
  Families out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("# TYPE ")) continue;
    std::istringstream fields(line.substr(7));
    std::string name, type;
    fields >> name >> type;
    if (!out.emplace(name, type).second) problems->push_back("exported twice: " + name);
  }
  return out;
}

// The doc's table rows `| `warbler_…` | type | labels | meaning |`; a family
// with two rows is a problem. The families of rows marked kUringOnly go to
// *uring_only too, when given.
Families DocumentedFamilies(const std::string& doc, std::vector<std::string>* problems,
                            std::set<std::string>* uring_only = nullptr) {
  Families out;
  std::istringstream in(doc);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("| `warbler_")) continue;
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(Trim(cell));
    if (cells.size() < 4) {
      problems->push_back("row without name | type | labels | meaning: " + line);
      continue;
    }
    if (!out.emplace(cells[0], cells[1]).second) {
      problems->push_back("documented twice: " + cells[0]);
    }
    if (uring_only != nullptr && cells[3].starts_with(kUringOnly)) uring_only->insert(cells[0]);
  }
  return out;
}

// Every disagreement between what is exported and what is documented; a
// family in `optional` may be documented and not exported.
std::vector<std::string> Drift(const Families& exported, const Families& documented,
                               const std::set<std::string>& optional = {}) {
  std::vector<std::string> out;
  for (const auto& [name, type] : exported) {
    auto it = documented.find(name);
    if (it == documented.end()) {
      out.push_back(name + " (" + type + ") is exported but has no row in docs/metrics.md");
    } else if (it->second != type) {
      out.push_back(name + " is exported as a " + type + " but documented as a " + it->second);
    }
  }
  for (const auto& [name, type] : documented) {
    if (!exported.contains(name) && !optional.contains(name)) {
      out.push_back(name + " is documented but not exported");
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += "  " + l + "\n";
  return out;
}

// One HTTP/1.1 GET; the admin port closes the connection after the response.
std::string HttpGet(uint16_t port, const std::string& path) {
  auto fd = io::net::Connect({"127.0.0.1", port}, 2000);
  EXPECT_TRUE(fd.ok()) << fd.status().ToString();
  if (!fd.ok()) return "";
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(::send(fd->get(), req.data(), req.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[4096];
  for (int i = 0; i < 50; ++i) {  // 5 s at most
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
  ADD_FAILURE() << "the admin port did not close the connection";
  return out;
}

class MetricsDocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    dir_ = testing::MakeTempDir("warbler-metrics-doc-test");
    StoreOptions so;
    so.partitions = 2;
    so.segment_bytes = 4u << 20;
    auto store = Store::Open(so, dir_ + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.tls = false;
    auto s = Server::Start(o, store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    Server* srv = server_.get();
    auto a = AdminHttp::Start(
        "127.0.0.1:0", {[srv] { return srv->RenderMetrics(); }, [srv] { return srv->ready(); }});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    admin_ = std::move(*a);
  }
  void TearDown() override {
    admin_.reset();
    server_.reset();
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<AdminHttp> admin_;
};

TEST_F(MetricsDocTest, DocListsExactlyTheExportedFamilies) {
  // Traffic first, so the scrape is of a server that has served.
  ClientOptions co;
  co.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
  co.tls = false;
  auto c = Client::Connect(co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Append({{"t", "c"}, "s", "m", ""}).ok());
  ASSERT_TRUE((*c)->Latest({"t", "c"}, 1).ok());

  const std::string response = HttpGet(admin_->port(), "/metrics");
  const size_t body_at = response.find("\r\n\r\n");
  ASSERT_NE(body_at, std::string::npos) << response;
  const std::string head = response.substr(0, body_at);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  EXPECT_NE(head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << head;

  std::ifstream file(kDocPath);
  ASSERT_TRUE(file) << "cannot read " << kDocPath;
  std::stringstream doc;
  doc << file.rdbuf();

  std::vector<std::string> problems;
  const Families exported = ExportedFamilies(response.substr(body_at + 4), &problems);
  std::set<std::string> uring_only;
  const Families documented = DocumentedFamilies(doc.str(), &problems, &uring_only);
  ASSERT_FALSE(exported.empty()) << "no # TYPE lines in the scrape";
  // With io_uring in use, its rows must be exported like any other.
  const bool uring =
      response.find("warbler_io_backend_info{backend=\"uring\"} 1") != std::string::npos;
  for (const std::string& d :
       Drift(exported, documented, uring ? std::set<std::string>{} : uring_only)) {
    problems.push_back(d);
  }
  EXPECT_TRUE(problems.empty()) << kDocPath << " and GET /metrics disagree:\n" << Join(problems);
}

// The checker itself: each kind of drift is named, and agreement is silent.
TEST(MetricsDocCheckTest, NamesEveryKindOfDrift) {
  std::vector<std::string> problems;
  const Families exported = ExportedFamilies(
      "# HELP warbler_a_total A.\n# TYPE warbler_a_total counter\nwarbler_a_total 1\n"
      "# TYPE warbler_b gauge\nwarbler_b 0\n# TYPE warbler_c_seconds histogram\n",
      &problems);
  const Families documented = DocumentedFamilies(
      "| name | type | labels | meaning |\n|---|---|---|---|\n"
      "| `warbler_b` | counter | — | x |\n"
      "| `warbler_c_seconds` | histogram | `le` | y |\n"
      "| `warbler_gone_total` | counter | — | z |\n",
      &problems);
  EXPECT_TRUE(problems.empty()) << Join(problems);
  const std::vector<std::string> drift = Drift(exported, documented);
  ASSERT_EQ(drift.size(), 3u) << Join(drift);
  EXPECT_EQ(drift[0], "warbler_a_total (counter) is exported but has no row in docs/metrics.md");
  EXPECT_EQ(drift[1], "warbler_b is exported as a gauge but documented as a counter");
  EXPECT_EQ(drift[2], "warbler_gone_total is documented but not exported");
  EXPECT_TRUE(Drift(exported, exported).empty());

  // A row marked "(io_uring only)" may be missing from the scrape, and only such a row.
  std::set<std::string> uring_only;
  const Families with_uring = DocumentedFamilies(
      "| `warbler_a_total` | counter | — | x |\n"
      "| `warbler_uring_sqes_total` | counter | — | (io_uring only) SQEs |\n",
      &problems, &uring_only);
  EXPECT_EQ(uring_only, std::set<std::string>{"warbler_uring_sqes_total"});
  EXPECT_EQ(Drift(exported, with_uring, uring_only).size(), 2u);  // warbler_b, warbler_c_seconds
  EXPECT_EQ(Drift(exported, with_uring).size(), 3u);

  ExportedFamilies("# TYPE warbler_x gauge\n# TYPE warbler_x gauge\n", &problems);
  DocumentedFamilies("| `warbler_y` | gauge | — | m |\n| `warbler_y` | gauge | — | m |\n",
                     &problems);
  EXPECT_EQ(problems.size(), 2u) << Join(problems);
}

}  // namespace
}  // namespace warbler::server
