// agent-runner benchmarks. Each case times a baseline (the same work done directly, without the
// plugin boundary or sandbox) and the candidate, interleaved over several rounds, and prints the
// median of each and their ratio. Usage: agent_runner_bench [--rounds N] [--filter SUBSTR]
#include "logging.hpp"
#include "plugin_loader.hpp"
#include "sandbox.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;
using namespace agent_runner;
using Clock = std::chrono::steady_clock;

namespace {

struct Case {
  std::string name;
  int iterations;
  std::function<void()> baseline;
  std::function<void()> candidate;
  std::string baseline_label;
};

double time_us(const std::function<void()>& fn, int iterations) {
  auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) fn();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / iterations;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs `sh -c cmd` directly and drains its stdout: what a command costs with no sandbox at all.
size_t spawn_direct(const char* cmd) {
  int fds[2];
  if (pipe(fds) != 0) return 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  const char* argv[] = {"/bin/sh", "-c", cmd, nullptr};
  pid_t pid = 0;
  posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  static char buf[1 << 16];
  size_t total = 0;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) total += static_cast<size_t>(n);
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return total;
}

std::unique_ptr<Sandbox> open(const fs::path& so, const std::string& type,
                              boost::json::object config, PluginRegistry& reg) {
  reg.load_file(so, "bench");
  auto plugin = reg.find(type);
  if (!plugin) return nullptr;
  OpResult err;
  auto sb = Sandbox::create(plugin, config, std::nullopt, err);
  if (!sb) std::cerr << "cannot create " << type << " sandbox: " << err.message() << "\n";
  return sb;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    if (a == "--filter" && i + 1 < argc) filter = argv[++i];
  }
  setup_logging(spdlog::level::warn, LogFormat::text);

  std::vector<Case> cases;
  PluginRegistry fixture_reg, fs_reg;

  // 1. The cost of one operation across the C ABI (JSON out, JSON back, result freed) against
  //    the JSON work alone done in-process.
  auto fixture = open(AR_BENCH_FIXTURE, "fixture-good", {}, fixture_reg);
  if (fixture) {
    boost::json::object req{{"command", "x"}};
    cases.push_back({"abi_call_execute", 20000,
                     [req] {
                       auto s = boost::json::serialize(req);
                       auto v = boost::json::parse(s);
                       boost::json::object res{{"exit_code", 0},     {"output", "out:err:x"},
                                               {"stdout", "out:x"},  {"stderr", "err:"},
                                               {"truncated", false}, {"timed_out", false},
                                               {"duration_ms", 0}};
                       auto back = boost::json::parse(boost::json::serialize(res));
                       (void)v;
                       (void)back;
                     },
                     [&fixture, req] { (void)fixture->call(Op::execute, req); },
                     "json round trip in-process"});
  }

  // 2-4. The filesystem plugin against doing the same thing with no sandbox.
  const fs::path fs_so = fs::path(AR_BENCH_PLUGIN_DIR) / "filesystem.so";
  char tmpl[] = "/tmp/ar-bench-XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  std::unique_ptr<Sandbox> fsb;
  if (fs::exists(fs_so))
    fsb = open(fs_so, "filesystem", {{"type", "filesystem"}, {"root_dir", root.string()}}, fs_reg);
  if (fsb) {
    const std::string ws = fsb->info().contains("workspace")
                               ? std::string(fsb->info().at("workspace").as_string())
                               : root.string();
    std::string mib(1 << 20, 'x');
    for (size_t i = 80; i < mib.size(); i += 81) mib[i] = '\n';
    std::ofstream(fs::path(ws) / "one_mib.txt", std::ios::binary) << mib;
    cases.push_back({"fs_read_1MiB", 200,
                     [ws] {
                       std::ifstream in(fs::path(ws) / "one_mib.txt", std::ios::binary);
                       std::string s((std::istreambuf_iterator<char>(in)), {});
                       if (s.size() != (1u << 20)) std::abort();
                     },
                     [&fsb] {
                       auto r = fsb->call(Op::read, {{"path", "/one_mib.txt"}});
                       if (!r.ok() || r.buffers.at(0).size() != (1u << 20)) std::abort();
                     },
                     "ifstream read"});
    cases.push_back({"fs_exec_true", 50, [] { spawn_direct("true"); },
                     [&fsb] {
                       auto r = fsb->call(Op::execute, {{"command", "true"}});
                       if (!r.ok()) std::abort();
                     },
                     "posix_spawn sh -c"});
    cases.push_back({"fs_exec_64MiB_output", 3, [] { spawn_direct("head -c 67108864 /dev/zero"); },
                     [&fsb] {
                       auto r = fsb->call(Op::execute, {{"command", "head -c 67108864 /dev/zero"}});
                       if (!r.ok()) std::abort();
                     },
                     "posix_spawn + drain pipe"});
  } else {
    std::cerr << "note: " << fs_so << " not built; filesystem cases skipped\n";
  }

  std::printf("%-24s %14s %14s %8s  baseline\n", "case", "baseline_us", "candidate_us", "ratio");
  for (auto& c : cases) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    std::vector<double> b, k;
    for (int r = 0; r < rounds; ++r) {
      b.push_back(time_us(c.baseline, c.iterations));
      k.push_back(time_us(c.candidate, c.iterations));
    }
    const double mb = median(b), mk = median(k);
    std::printf("%-24s %14.1f %14.1f %8.2f  %s\n", c.name.c_str(), mb, mk, mk / mb,
                c.baseline_label.c_str());
  }
  fsb.reset();
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
