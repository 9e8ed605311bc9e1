// SPDX-License-Identifier: Apache-2.0
// Daytona execute round trip against the test server, compared with a file operation's round
// trip (issue 16): requests per execute (counted by the server) and the median time of an
// `execute("true")` over the median time of a `read` of a small file, interleaved.
// With a second plugin file (e.g. a build of an earlier commit), both run interleaved against the
// same server, so their numbers are comparable on a busy machine.
// A benchmark, not a test: nothing is asserted.
//   build-ci/bin/daytona_rtt_bench [rounds] [other-daytona.so]
#include "fake_server.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace json = boost::json;
using namespace agent_runner;
using namespace dt_test;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Subject {
  std::string name;
  std::unique_ptr<Sandbox> sb;
  std::vector<double> exec_ms, read_ms;
  size_t exec_requests = 0;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 50;
  FakeDaytona srv;
  PluginRegistry other_registry;
  std::vector<std::pair<std::string, std::shared_ptr<LoadedPlugin>>> plugins = {
      {"this build", daytona_plugin()}};
  if (argc > 2) {
    other_registry.load_file(std::filesystem::path(argv[2]), "bench");
    plugins.emplace_back(argv[2], other_registry.find("daytona"));
    if (!plugins.back().second) {
      std::fprintf(stderr, "%s is not a loadable daytona plugin\n", argv[2]);
      return 1;
    }
  }
  std::vector<Subject> subjects;
  for (auto& [name, plugin] : plugins) {
    OpResult err;
    auto sb = Sandbox::create(plugin, config(srv), std::nullopt, err);
    if (!sb) {
      std::fprintf(stderr, "%s: could not create a sandbox: %s\n", name.c_str(),
                   err.message().c_str());
      return 1;
    }
    CallOptions w;
    w.inputs = {"hello\n"};
    if (!sb->call(Op::write, {{"path", "f.txt"}, {"overwrite", true}}, w).ok()) return 1;
    // Warm up the keep-alive connection and the server.
    sb->call(Op::execute, {{"command", "true"}});
    sb->call(Op::read, {{"path", "f.txt"}});
    subjects.push_back({name, std::move(sb), {}, {}, 0});
  }
  for (int i = 0; i < rounds; ++i) {
    for (auto& s : subjects) {
      const size_t n0 = srv.requests().size();
      auto t0 = std::chrono::steady_clock::now();
      auto r = s.sb->call(Op::execute, {{"command", "true"}});
      s.exec_ms.push_back(ms_since(t0));
      if (!r.ok()) {
        std::fprintf(stderr, "%s: execute failed: %s\n", s.name.c_str(), r.message().c_str());
        return 1;
      }
      s.exec_requests += srv.requests().size() - n0;
      t0 = std::chrono::steady_clock::now();
      if (!s.sb->call(Op::read, {{"path", "f.txt"}}).ok()) return 1;
      s.read_ms.push_back(ms_since(t0));
    }
  }
  std::printf("rounds %d (interleaved)\n", rounds);
  for (auto& s : subjects) {
    const double e = median(s.exec_ms), r = median(s.read_ms);
    std::printf("%s:\n", s.name.c_str());
    std::printf("  requests per execute: %.2f\n", static_cast<double>(s.exec_requests) / rounds);
    std::printf("  execute(\"true\") median %.2f ms (min %.2f, max %.2f)\n", e,
                *std::min_element(s.exec_ms.begin(), s.exec_ms.end()),
                *std::max_element(s.exec_ms.begin(), s.exec_ms.end()));
    std::printf("  read(small file) median %.2f ms (min %.2f, max %.2f)\n", r,
                *std::min_element(s.read_ms.begin(), s.read_ms.end()),
                *std::max_element(s.read_ms.begin(), s.read_ms.end()));
    std::printf("  ratio execute / read: %.1f\n", r > 0 ? e / r : 0);
  }
  return 0;
}
