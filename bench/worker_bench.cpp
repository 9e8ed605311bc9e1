// SPDX-License-Identifier: Apache-2.0
// Worker benchmarks (issue 15), against a redis-server of their own on a free 127.0.0.1 port:
//
//   worker_dispatch     one job of an empty workload (one `ls` step), from XADD to its result
//                       hash saying succeeded, through one worker (its own process per job),
//                       against a raw XADD / XREADGROUP / XACK round trip with hiredis in the
//                       same run: what the worker adds to a queue message.
//   worker_jobs_per_s   jobs per second of a trivial workload (`execute: true`) with 1, 2 and 4
//                       workers (concurrency 1 each), relative to 1 worker.
//
// Usage: agent_runner_worker_bench [--case dispatch|jobs|all] [--rounds N] [--jobs N]
//                                  [--batches N] [--json]
// bench/run's cases worker_dispatch and worker_jobs_per_s run it with --json (samples in seconds
// and jobs per second).
// Shared machines are noisy: read the ratios, not the milliseconds.
#include "worker/job.hpp"
#include "worker/redis_client.hpp"
#include "workload.hpp"

#include <boost/json.hpp>

#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_generators.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;
using namespace agent_runner;
using namespace agent_runner::worker;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kHost = AR_BENCH_HOST_BIN;
const std::string kQueue = "bench_queue";

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> args, envp;
  std::vector<std::string> a = argv, e = env;
  for (auto& s : a) args.push_back(s.data());
  args.push_back(nullptr);
  for (auto& s : e) envp.push_back(s.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
}

struct Bench {
  fs::path dir;
  int port = free_port();
  pid_t redis = -1;

  Bench() {
    char tmpl[] = "/tmp/ar-worker-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    redis = spawn({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
                   "--dir", dir.string(), "--save", "", "--appendonly", "no"},
                  {});
    for (int i = 0; i < 200; ++i) {
      try {
        client()->command({"PING"});
        return;
      } catch (const RedisError&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    throw std::runtime_error("redis-server did not start (apt install redis-server)");
  }
  ~Bench() {
    stop(redis);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::unique_ptr<RedisClient> client() const {
    RedisEndpoint ep;
    ep.host = "127.0.0.1";
    ep.port = port;
    auto c = std::make_unique<RedisClient>(ep);
    c->connect();
    return c;
  }
  std::vector<std::string> env() const {
    std::vector<std::string> e{"PATH=/usr/bin:/bin",
                               "HOME=" + dir.string(),
                               "LANG=C.UTF-8",
                               "MODE=local",
                               "SANDBOX_ROOT_DIR=" + (dir / "ws").string(),
                               "REDIS_HOST=127.0.0.1",
                               "REDIS_PORT=" + std::to_string(port),
                               "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE=" + kQueue};
    if (const char* tmp = std::getenv("TMPDIR")) e.push_back(std::string("TMPDIR=") + tmp);
    return e;
  }
  pid_t worker(int i) const {
    return spawn({kHost, "worker", "--concurrency", "1", "--consumer", "b" + std::to_string(i)},
                 env());
  }
  std::string job_json(const std::string& name, const std::string& step) const {
    fs::path f = dir / (name + ".yaml");
    std::ofstream(f) << "name: " << name << "\nsteps:\n  - " << step << "\n";
    auto l = load_workload(f, {}, false);
    if (!l.workload) throw std::runtime_error("bad bench workload");
    return build_job(*l.workload, 1 << 20, {}).json;
  }
};

// What `submit` does for one job.
std::string submit(RedisClient& c, const std::string& payload) {
  static boost::uuids::random_generator uuid;
  std::string id = boost::uuids::to_string(uuid());
  c.pipeline({{"HSET", job_key(id), "status", "queued"},
              {"XADD", kQueue, "*", "id", id, "workload", payload, "submitted_at", "bench"}});
  return id;
}

bool finished(RedisClient& c, const std::string& id) {
  auto s = c.command({"HGET", job_key(id), "status"}).str;
  return s == "succeeded" || s == "failed" || s == "cancelled" || s == "dead";
}

// Waits for the job's workload.finished event, then for its result.
void wait_done(RedisClient& c, const std::string& id) {
  std::string last = "0-0";
  for (;;) {
    auto r = c.command({"XREAD", "BLOCK", "2000", "STREAMS", events_key(id), last},
                       std::chrono::milliseconds(10000));
    bool fin = false;
    for (const auto& s : r.elements)
      for (const auto& e : s.elements[1].elements) {
        last = e.elements[0].str;
        fin =
            fin || e.elements[1].elements[1].str.find("\"workload.finished\"") != std::string::npos;
      }
    if (fin) break;
  }
  while (!finished(c, id)) std::this_thread::sleep_for(std::chrono::microseconds(200));
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = 40, rounds = 20, batches = 1;
  std::string which = "all";
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") as_json = true;
    if (i + 1 >= argc) continue;
    if (a == "--jobs") jobs = std::max(4, std::atoi(argv[++i]));
    if (a == "--rounds") rounds = std::max(3, std::atoi(argv[++i]));
    if (a == "--batches") batches = std::max(1, std::atoi(argv[++i]));
    if (a == "--case") which = argv[++i];
  }
  Bench b;
  auto c = b.client();
  c->command({"XGROUP", "CREATE", kQueue, kGroup, "0", "MKSTREAM"});
  boost::json::object out;
  auto seconds = [](const std::vector<double>& ms) {
    boost::json::array a;
    for (double v : ms) a.push_back(v / 1000.0);
    return a;
  };

  // ---- worker_dispatch -----------------------------------------------------------------------
  if (which == "all" || which == "dispatch") {
    const std::string empty = b.job_json("empty", "ls: {}");
    pid_t w = b.worker(0);
    wait_done(*c, submit(*c, empty));  // warm: the worker is up, caches are hot
    auto reader = b.client();
    c->command({"XGROUP", "CREATE", "raw_queue", "raw", "0", "MKSTREAM"});
    std::vector<double> raw, job, run;
    auto env = b.env();
    for (int r = 0; r < rounds; ++r) {
      // Baseline: the queue message alone (one producer, one consumer connection).
      auto t0 = Clock::now();
      for (int i = 0; i < 20; ++i) {
        c->command({"XADD", "raw_queue", "*", "workload", empty});
        auto got = reader->command(
            {"XREADGROUP", "GROUP", "raw", "c", "COUNT", "1", "STREAMS", "raw_queue", ">"});
        reader->command(
            {"XACK", "raw_queue", "raw", got.elements[0].elements[1].elements[0].elements[0].str});
      }
      raw.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / 20);
      // Context: the same workload as one `run` process (what every job costs at the least).
      auto t1 = Clock::now();
      ::waitpid(spawn({kHost, "run", (b.dir / "empty.yaml").string()}, env), nullptr, 0);
      run.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t1).count());
      auto t2 = Clock::now();
      wait_done(*c, submit(*c, empty));
      job.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t2).count());
    }
    stop(w);
    out["dispatch"] = {{"raw", seconds(raw)}, {"run", seconds(run)}, {"job", seconds(job)}};
    const double base = median(raw), one_run = median(run), cand = median(job);
    if (!as_json)
      std::printf(
          "%-18s raw queue %8.3f ms  run process %8.3f ms  job %8.3f ms  ratio to raw %7.1f"
          "  ratio to run %5.2f\n%-18s (an empty workload: one `ls` step; job = submit to result "
          "hash, via one worker)\n",
          "worker_dispatch", base, one_run, cand, cand / base, cand / one_run, "");
  }

  // ---- worker_jobs_per_s -----------------------------------------------------------------------
  if (which == "all" || which == "jobs") {
    const std::string trivial = b.job_json("trivial", "execute: {command: \"true\"}");
    boost::json::object rates;
    double one = 0;
    for (int workers : {1, 2, 4}) {
      std::vector<pid_t> ws;
      for (int i = 0; i < workers; ++i) ws.push_back(b.worker(10 + workers * 10 + i));
      wait_done(*c, submit(*c, trivial));  // warm
      boost::json::array samples;
      std::vector<double> got;
      for (int batch = 0; batch < batches; ++batch) {
        auto t0 = Clock::now();
        std::vector<std::string> ids;
        for (int i = 0; i < jobs; ++i) ids.push_back(submit(*c, trivial));
        for (const auto& id : ids)
          while (!finished(*c, id)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        double rate = jobs / std::chrono::duration<double>(Clock::now() - t0).count();
        samples.push_back(rate);
        got.push_back(rate);
      }
      for (pid_t w : ws) stop(w);
      rates[std::to_string(workers)] = samples;
      const double rate = median(got);
      if (workers == 1) one = rate;
      if (!as_json)
        std::printf(
            "%-18s workers %d  %7.1f jobs/s  ratio to 1 worker %5.2f  (%d jobs of "
            "`execute: true`, concurrency 1 each)\n",
            "worker_jobs_per_s", workers, rate, rate / one, jobs);
    }
    out["jobs_per_s"] = rates;
  }
  if (as_json) std::cout << boost::json::serialize(out) << "\n";
  return 0;
}
