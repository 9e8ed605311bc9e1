// Daytona execute round trip against the test server, compared with a file operation's round
// trip (issue 16): requests per execute (counted by the server) and the median time of an
// `execute("true")` over the median time of a `read` of a small file, interleaved.
// A benchmark, not a test: nothing is asserted. Run: build-ci/bin/daytona_rtt_bench [rounds].
#include "fake_server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace json = boost::json;
using namespace agent_runner;
using namespace dt_test;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 50;
  FakeDaytona srv;
  OpResult err;
  auto sb = Sandbox::create(daytona_plugin(), config(srv), std::nullopt, err);
  if (!sb) {
    std::fprintf(stderr, "could not create a sandbox: %s\n", err.message().c_str());
    return 1;
  }
  CallOptions w;
  w.inputs = {"hello\n"};
  if (!sb->call(Op::write, {{"path", "f.txt"}, {"overwrite", true}}, w).ok()) return 1;
  // Warm up the keep-alive connection and the server.
  sb->call(Op::execute, {{"command", "true"}});
  sb->call(Op::read, {{"path", "f.txt"}});

  std::vector<double> exec_ms, read_ms;
  const size_t before = srv.state().at("requests").as_array().size();
  size_t exec_requests = 0;
  for (int i = 0; i < rounds; ++i) {
    const size_t n0 = srv.state().at("requests").as_array().size();
    auto t0 = std::chrono::steady_clock::now();
    auto r = sb->call(Op::execute, {{"command", "true"}});
    auto t1 = std::chrono::steady_clock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "execute failed: %s\n", r.message().c_str());
      return 1;
    }
    exec_requests += srv.state().at("requests").as_array().size() - n0;
    auto t2 = std::chrono::steady_clock::now();
    auto f = sb->call(Op::read, {{"path", "f.txt"}});
    auto t3 = std::chrono::steady_clock::now();
    if (!f.ok()) return 1;
    exec_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    read_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  (void)before;
  const double e = median(exec_ms), r = median(read_ms);
  std::printf("rounds %d\n", rounds);
  std::printf("requests per execute: %.2f\n", static_cast<double>(exec_requests) / rounds);
  std::printf("execute(\"true\") median %.2f ms (min %.2f, max %.2f)\n", e,
              *std::min_element(exec_ms.begin(), exec_ms.end()),
              *std::max_element(exec_ms.begin(), exec_ms.end()));
  std::printf("read(small file) median %.2f ms (min %.2f, max %.2f)\n", r,
              *std::min_element(read_ms.begin(), read_ms.end()),
              *std::max_element(read_ms.begin(), read_ms.end()));
  std::printf("ratio execute / read: %.1f\n", r > 0 ? e / r : 0);
  return 0;
}
