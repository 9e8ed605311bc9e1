// SPDX-License-Identifier: Apache-2.0
// The JSON-RPC 2.0 layer: classifying lines and reading them from a descriptor with a length cap.
#include "jsonrpc.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <thread>

namespace {
namespace json = boost::json;
namespace rpc = agent_runner::jsonrpc;

int error_code(const rpc::Parsed& p) {
  EXPECT_TRUE(p.error.has_value());
  EXPECT_FALSE(p.message.has_value());
  if (!p.error) return 0;
  return static_cast<int>(p.error->at("error").at("code").as_int64());
}

TEST(JsonRpcParse, RequestNotificationAndResponse) {
  auto r =
      rpc::parse_line(R"({"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"cursor":"x"}})");
  ASSERT_TRUE(r.message);
  EXPECT_EQ(r.message->kind, rpc::Message::Kind::request);
  EXPECT_EQ(r.message->id, json::value(7));
  EXPECT_EQ(r.message->method, "tools/list");
  EXPECT_EQ(r.message->params.at("cursor"), "x");

  auto n = rpc::parse_line(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  ASSERT_TRUE(n.message);
  EXPECT_EQ(n.message->kind, rpc::Message::Kind::notification);
  EXPECT_TRUE(n.message->params.empty());

  auto s = rpc::parse_line(R"({"jsonrpc":"2.0","id":"a","result":{}})");
  ASSERT_TRUE(s.message);
  EXPECT_EQ(s.message->kind, rpc::Message::Kind::response);

  auto blank = rpc::parse_line("   \r");
  EXPECT_FALSE(blank.message);
  EXPECT_FALSE(blank.error);
}

TEST(JsonRpcParse, StringIdsStayStrings) {
  auto r = rpc::parse_line(R"({"jsonrpc":"2.0","id":"1","method":"ping"})");
  ASSERT_TRUE(r.message);
  EXPECT_TRUE(r.message->id.is_string());
  EXPECT_NE(rpc::id_key(json::value("1")), rpc::id_key(json::value(1)));
}

TEST(JsonRpcParse, InvalidJsonIsParseErrorWithNullId) {
  for (std::string_view bad : {"{", "not json", R"({"jsonrpc":"2.0","id":1,"method":"ping")",
                               "\xff\xfe", "{\"a\":\"\xc3\x28\"}"}) {
    auto p = rpc::parse_line(bad);
    EXPECT_EQ(error_code(p), rpc::kParseError) << bad;
    EXPECT_TRUE(p.error->at("id").is_null());
  }
}

TEST(JsonRpcParse, StructurallyInvalidRequests) {
  // Not an object, a batch, wrong version, missing or non-string method, bad id type.
  EXPECT_EQ(error_code(rpc::parse_line("42")), rpc::kInvalidRequest);
  EXPECT_EQ(error_code(rpc::parse_line(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])")),
            rpc::kInvalidRequest);
  auto v1 = rpc::parse_line(R"({"jsonrpc":"1.0","id":3,"method":"ping"})");
  EXPECT_EQ(error_code(v1), rpc::kInvalidRequest);
  EXPECT_EQ(v1.error->at("id"), json::value(3)) << "a well-formed id is echoed";
  EXPECT_EQ(error_code(rpc::parse_line(R"({"jsonrpc":"2.0","id":4})")), rpc::kInvalidRequest);
  EXPECT_EQ(error_code(rpc::parse_line(R"({"jsonrpc":"2.0","id":4,"method":5})")),
            rpc::kInvalidRequest);
  auto bad_id = rpc::parse_line(R"({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})");
  EXPECT_EQ(error_code(bad_id), rpc::kInvalidRequest);
  EXPECT_TRUE(bad_id.error->at("id").is_null());
  EXPECT_EQ(error_code(rpc::parse_line(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})")),
            rpc::kInvalidRequest);
  EXPECT_EQ(error_code(rpc::parse_line(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":3})")),
            rpc::kInvalidRequest);
  EXPECT_EQ(error_code(rpc::parse_line(R"({"jsonrpc":"2.0","id":1,"method":"ping","params":[1]})")),
            rpc::kInvalidParams);
}

TEST(JsonRpcParse, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":)";
  for (int i = 0; i < 100000; ++i) deep += "[";
  EXPECT_EQ(error_code(rpc::parse_line(deep)), rpc::kParseError);
}

TEST(JsonRpcBuild, ResponsesAndNotifications) {
  EXPECT_EQ(json::serialize(rpc::make_result(1, json::object{})),
            R"({"jsonrpc":"2.0","id":1,"result":{}})");
  EXPECT_EQ(json::serialize(rpc::make_error("x", rpc::kMethodNotFound, "no")),
            R"({"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"no"}})");
  EXPECT_EQ(json::serialize(rpc::make_notification("n", json::object{{"a", 1}})),
            R"({"jsonrpc":"2.0","method":"n","params":{"a":1}})");
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    close_write();
  }
  void close_write() {
    if (w >= 0) ::close(w);
    w = -1;
  }
  void write(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::write(w, s.data(), s.size());
      ASSERT_GT(n, 0);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
};

TEST(LineReader, SplitsLinesAcrossWritesAndKeepsTheLastUnterminatedOne) {
  Pipe p;
  std::atomic<bool> stop{false};
  rpc::LineReader reader(p.r, 1024);
  p.write("first\r\nsec");
  std::thread t([&] {
    p.write("ond\n\nthird");
    p.close_write();
  });
  std::string line;
  size_t dropped = 0;
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "first");
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "second");
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "");
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "third");
  EXPECT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::eof);
  t.join();
}

TEST(LineReader, OverlongLineIsDroppedAndTheStreamStaysInSync) {
  Pipe p;
  std::atomic<bool> stop{false};
  rpc::LineReader reader(p.r, 4096);
  const std::string huge(10 * 1024 * 1024, 'x');
  std::thread t([&] {
    p.write("ok\n");
    p.write(huge);
    p.write("\nafter\n");
    p.write(std::string(5000, 'y'));  // too long and never terminated
    p.close_write();
  });
  std::string line;
  size_t dropped = 0;
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "ok");
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::too_long);
  EXPECT_EQ(dropped, huge.size());
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line, "after");
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::too_long);
  EXPECT_EQ(dropped, 5000u);
  EXPECT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::eof);
  t.join();
}

TEST(LineReader, ALineOfExactlyTheCapIsAccepted) {
  Pipe p;
  std::atomic<bool> stop{false};
  rpc::LineReader reader(p.r, 100);
  p.write(std::string(100, 'a') + "\n" + std::string(101, 'b') + "\n");
  p.close_write();
  std::string line;
  size_t dropped = 0;
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::line);
  EXPECT_EQ(line.size(), 100u);
  ASSERT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::too_long);
  EXPECT_EQ(dropped, 101u);
}

TEST(LineReader, StopFlagEndsAWaitWithNoInput) {
  Pipe p;
  std::atomic<bool> stop{false};
  rpc::LineReader reader(p.r, 100);
  std::thread t([&] { stop.store(true); });
  std::string line;
  size_t dropped = 0;
  EXPECT_EQ(reader.next(line, dropped, stop), rpc::LineReader::Status::stopped);
  t.join();
}

}  // namespace
