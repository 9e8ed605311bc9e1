// SPDX-License-Identifier: Apache-2.0
// The worker fleet end to end (issue 15): real redis-server processes on free 127.0.0.1 ports,
// real `agent-runner worker` processes, real jobs on the filesystem plugin. Waits are bounded
// polls for a state, never timing assertions; leases and timeouts are short through settings.
#include "redis_fixture.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
namespace json = boost::json;
using ar_test::Background;
using ar_test::Env;
using ar_test::eventually;
using ar_test::free_port;
using ar_test::RedisServer;

namespace {
const std::string kBin = AR_TEST_HOST_BIN;
const std::string kCrashyDir = AR_TEST_CRASHY_DIR;
const std::string kQueue = "agent_execution_runner";
// The worker's secret: every workload below references it, none may ever show it to Redis.
const std::string kToken = "tok-3f9a1c77e2b84d0b";
const std::string kFileToken = "filetok-8c1e55d0a9b3";

std::string str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
}

std::vector<json::object> json_lines(const std::string& text) {
  std::vector<json::object> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line).as_object());
  return out;
}

// A command that runs a copy of sleep named `marker` (so the test can find it in /proc).
std::string marked_sleep(const std::string& marker, int seconds) {
  return "cp /bin/sleep ./" + marker + " && exec ./" + marker + " " + std::to_string(seconds);
}

struct Fleet {
  ar_test::TempDir dir;
  RedisServer redis;
  std::vector<std::unique_ptr<Background>> procs;
  int next_name = 0;

  fs::path tmp = dir.path() / "tmp";

  explicit Fleet(RedisServer::Options o = {}) : redis(std::move(o)) { fs::create_directories(tmp); }

  Env env(const Env& extra = {}) const {
    auto e = ar_test::base_env();
    e["MODE"] = "local";
    e["SANDBOX_ROOT_DIR"] = (dir.path() / "ws").string();
    e["REDIS_HOST"] = "127.0.0.1";
    e["REDIS_PORT"] = std::to_string(redis.port());
    e["AGENT_RUNNER_LEASE_S"] = "2";
    e["TOKEN"] = kToken;
    // Temporary files (the sandboxes' TMPDIRs, the jobs' directories) stay in the test's own
    // directory, away from whatever else on the machine cleans /tmp.
    e["TMPDIR"] = tmp.string();
    for (const auto& [k, v] : extra) e[k] = v;
    return e;
  }
  Background& worker(std::vector<std::string> args = {}, const Env& extra = {}) {
    args.insert(args.begin(), {kBin, "worker"});
    procs.push_back(std::make_unique<Background>(args, env(extra), dir.path(),
                                                 "worker" + std::to_string(next_name++)));
    return *procs.back();
  }
  ar_test::RunResult host(std::vector<std::string> args, const Env& extra = {}) const {
    args.insert(args.begin(), kBin);
    return ar_test::run(args, env(extra));
  }
  fs::path file(const std::string& name, const std::string& content) const {
    auto p = dir.path() / name;
    fs::create_directories(p.parent_path());
    ar_test::write_file(p, content);
    return p;
  }
  // A workload of one execute step that sees the worker's secret.
  fs::path job_file(const std::string& name, const std::string& command,
                    const std::string& extra_steps = "") const {
    return file("wl/" + name + ".yaml", "name: " + name +
                                            "\nsecrets:\n  TOKEN: {env: TOKEN}\nsteps:\n"
                                            "  - execute: {command: \"" +
                                            command + "\"}\n" + extra_steps);
  }
  std::vector<std::string> submit(const std::vector<fs::path>& files, const Env& extra = {}) {
    std::vector<std::string> args{"submit"};
    for (const auto& f : files) args.push_back(f.string());
    auto r = host(args, extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> ids;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) ids.push_back(line);
    EXPECT_EQ(ids.size(), files.size()) << r.out;
    return ids;
  }
  std::string submit_one(const fs::path& f) {
    auto ids = submit({f});
    return ids.empty() ? "" : ids[0];
  }
  std::map<std::string, std::string> job(const std::string& id) const {
    auto r = redis.cmd({"HGETALL", "agent-runner:job:" + id});
    std::map<std::string, std::string> h;
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
      h[r.elements[i].str] = r.elements[i + 1].str;
    return h;
  }
  std::string status(const std::string& id) const { return job(id)["status"]; }
  bool wait_status(const std::string& id, const std::string& want,
                   std::chrono::seconds limit = std::chrono::seconds(60)) const {
    return eventually([&] { return status(id) == want; }, limit);
  }
  std::vector<json::object> events(const std::string& id) const {
    auto r = redis.cmd({"XRANGE", "agent-runner:events:" + id, "-", "+"});
    std::vector<json::object> out;
    for (const auto& e : r.elements)
      for (size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
        if (e.elements[1].elements[i].str == "event")
          out.push_back(json::parse(e.elements[1].elements[i + 1].str).as_object());
    return out;
  }
  long long xlen(const std::string& key) const { return redis.cmd({"XLEN", key}).integer; }
  std::vector<std::map<std::string, std::string>> dead() const {
    auto r = redis.cmd({"XRANGE", kQueue + ":dead", "-", "+"});
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& e : r.elements) {
      std::map<std::string, std::string> m;
      for (size_t i = 0; i + 1 < e.elements[1].elements.size(); i += 2)
        m[e.elements[1].elements[i].str] = e.elements[1].elements[i + 1].str;
      out.push_back(m);
    }
    return out;
  }

  // Every key, every value: no secret anywhere in Redis.
  void expect_no_secret(const std::vector<std::string>& secrets) const {
    std::string all;
    std::string cursor = "0";
    size_t keys = 0;
    do {
      auto r = redis.cmd({"SCAN", cursor, "COUNT", "1000"});
      cursor = r.elements[0].str;
      for (const auto& k : r.elements[1].elements) {
        ++keys;
        all += k.str + "\n";
        std::string type = redis.cmd({"TYPE", k.str}).str;
        std::vector<std::string> read;
        if (type == "string") read = {"GET", k.str};
        if (type == "hash") read = {"HGETALL", k.str};
        if (type == "list") read = {"LRANGE", k.str, "0", "-1"};
        if (type == "set") read = {"SMEMBERS", k.str};
        if (type == "zset") read = {"ZRANGE", k.str, "0", "-1"};
        if (type == "stream") read = {"XRANGE", k.str, "-", "+"};
        ASSERT_FALSE(read.empty()) << "unexpected key type " << type << " of " << k.str;
        std::function<void(const agent_runner::worker::RedisReply&)> walk =
            [&](const agent_runner::worker::RedisReply& v) {
              all += v.str + "\n";
              for (const auto& e : v.elements) walk(e);
            };
        walk(redis.cmd(read));
      }
    } while (cursor != "0");
    EXPECT_GT(keys, 0u);
    for (const auto& s : secrets)
      EXPECT_EQ(all.find(s), std::string::npos) << "secret " << s << " found in Redis";
  }
};

// run's events without what differs between two runs: times, durations, sandbox ids, and how
// live output happened to be chunked (compared as one text per step and stream).
std::vector<std::string> comparable(const std::vector<json::object>& events) {
  std::function<void(json::value&)> strip = [&](json::value& v) {
    if (v.is_object()) {
      for (const char* k : {"ts", "duration_ms", "sandbox_id"}) v.as_object().erase(k);
      for (auto& kv : v.as_object()) strip(kv.value());
    } else if (v.is_array()) {
      for (auto& e : v.as_array()) strip(e);
    }
  };
  std::vector<std::string> out;
  std::map<std::string, std::string> output;
  for (const auto& e : events) {
    if (str(e.at("event")) == "step.output") {
      output[str(e.at("index")) + "/" + str(e.at("stream"))] += str(e.at("data"));
      continue;
    }
    json::value v = e;
    strip(v);
    out.push_back(json::serialize(v));
  }
  for (const auto& [k, v] : output) out.push_back("output " + k + ": " + v);
  return out;
}

std::string http_get(int port, const std::string& path) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  (void)!::write(s, req.data(), req.size());
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::read(s, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<size_t>(n));
  ::close(s);
  return resp;
}

}  // namespace

TEST(Worker, SubmitFollowGivesTheEventsOfRunWithUploadsSkillsDownloadsAndSecrets) {
  Fleet f;
  const auto secret_file = f.file("secret.txt", kFileToken + "\n");
  f.file("wl/skills/tool/SKILL.md", "# tool\n");
  f.file("wl/input/a.txt", "alpha\n");
  f.file("wl/input/sub/b.sh", "echo beta\n");
  fs::permissions(f.dir.path() / "wl/input/sub/b.sh", fs::perms::owner_exec, fs::perm_options::add);
  const auto wl = f.file("wl/e2e.yaml", R"(name: e2e
env: {GREETING: hello}
secrets:
  TOKEN: {env: TOKEN}
  FILE_TOKEN: {file: )" + secret_file.string() +
                                            R"(}
skills: [./skills/tool]
steps:
  - upload: {from: ./input, to: in}
  - execute: {command: "cat in/a.txt && sh in/sub/b.sh && test -x in/sub/b.sh && echo $GREETING token=$TOKEN file=$FILE_TOKEN && cat bin/skills/*/SKILL.md"}
  - write_file: {path: out/result.txt, content: "result\n"}
  - download: {from: out/result.txt, to: ./out/result.txt}
  - read_file: {path: out/result.txt}
  - execute: {command: "echo tolerated >&2; exit 3"}
    continue_on_error: true
)");
  const fs::path downloaded = f.dir.path() / "wl/out/result.txt";
  auto run = f.host({"run", wl.string(), "--events", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.err;  // the failure is tolerated (continue_on_error)
  ASSERT_EQ(ar_test::read_file(downloaded), "result\n");
  fs::remove(downloaded);

  auto& w = f.worker({"--concurrency", "2"});
  auto sub = f.host({"submit", wl.string(), "--follow", "--events", "-"});
  EXPECT_EQ(sub.exit_code, 0) << sub.err;
  const auto events = json_lines(sub.out);
  EXPECT_EQ(comparable(events), comparable(json_lines(run.out)));
  // The download landed here, where run put it; the worker wrote nothing there.
  EXPECT_EQ(ar_test::read_file(downloaded), "result\n");
  // The secrets resolved on the worker and were redacted there.
  bool saw_redacted = false;
  for (const auto& e : events)
    if (str(e.at("event")) == "step.output" &&
        str(e.at("data")).find("token=*** file=***") != std::string::npos)
      saw_redacted = true;
  EXPECT_TRUE(saw_redacted) << sub.out;
  // The same progress lines as run.
  EXPECT_NE(sub.err.find("[2/6] e2e: execute: ok"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("e2e: succeeded (5 ok, 1 failed (1 tolerated), 0 not run)"),
            std::string::npos)
      << sub.err;

  // One job id (stderr, as events took stdout), its result hash.
  std::string id;
  auto keys = f.redis.cmd({"KEYS", "agent-runner:job:*"});
  ASSERT_EQ(keys.elements.size(), 1u);
  id = keys.elements[0].str.substr(std::string("agent-runner:job:").size());
  auto h = f.job(id);
  EXPECT_EQ(h["status"], "succeeded");
  EXPECT_EQ(h["exit_code"], "0");
  EXPECT_EQ(h["steps_ok"], "5");
  EXPECT_EQ(h["steps_failed"], "1");
  EXPECT_EQ(h["steps_tolerated"], "1");
  EXPECT_EQ(h["attempt"], "1");
  EXPECT_FALSE(h["finished_at"].empty());
  auto st = f.host({"status", id, "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  auto so = json::parse(st.out).as_object();
  EXPECT_EQ(so.at("steps_tolerated"), 1);
  EXPECT_EQ(so.at("status"), "succeeded");
  EXPECT_GT(f.redis.cmd({"TTL", "agent-runner:events:" + id}).integer, 0);  // expires
  EXPECT_GT(f.redis.cmd({"TTL", "agent-runner:job:" + id}).integer, 0);
  EXPECT_EQ(f.xlen(kQueue), 0);  // acknowledged and removed

  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 0) << w.err();
  f.expect_no_secret({kToken, kFileToken});
}

TEST(Worker, SubmitRefusesSecretValuesAndOversizedJobs) {
  Fleet f;
  auto leak = f.file("wl/leak.yaml",
                     "name: leak\nsecrets: {TOKEN: {env: TOKEN}}\nsteps:\n"
                     "  - execute: {command: \"echo " +
                         kToken + "\"}\n");
  auto r = f.host({"submit", leak.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("secret TOKEN"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kToken), std::string::npos) << r.err;  // and never says the value
  f.file("wl/big/blob.bin", std::string(20000, 'x'));
  auto big = f.file("wl/big.yaml",
                    "name: big\nsteps:\n  - upload: {from: ./big/blob.bin, to: /blob.bin}\n");
  r = f.host({"submit", big.string()}, {{"AGENT_RUNNER_JOB_MAX_BYTES", "8192"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("blob.bin"), std::string::npos) << r.err;
  EXPECT_EQ(f.xlen(kQueue), 0);  // nothing was queued
}

TEST(Worker, ThreeWorkersShareThirtyJobsEachOnceNeverMoreThanTwoChildrenEach) {
  Fleet f;
  std::vector<fs::path> files;
  for (int i = 0; i < 30; ++i)
    files.push_back(
        f.job_file("j" + std::to_string(i), "sleep 0.2; echo job " + std::to_string(i)));
  std::vector<Background*> workers;
  for (int i = 0; i < 3; ++i)
    workers.push_back(&f.worker({"--concurrency", "2", "--consumer", "w" + std::to_string(i)}));
  std::atomic<bool> done{false};
  std::vector<int> most(3, 0);
  std::thread counter([&] {
    while (!done) {
      for (size_t i = 0; i < workers.size(); ++i)
        most[i] = std::max(most[i], ar_test::children_with(workers[i]->pid(), "__run-job"));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto ids = f.submit(files);
  bool all = eventually([&] {
    for (const auto& id : ids)
      if (f.status(id) != "succeeded") return false;
    return true;
  });
  done = true;
  counter.join();
  if (!all) {
    std::map<std::string, int> by_status;
    for (const auto& id : ids) by_status[f.status(id)]++;
    for (const auto& [st, n] : by_status) ADD_FAILURE() << n << " jobs " << st;
    for (auto* w : workers) ADD_FAILURE() << w->err();
  }
  ASSERT_TRUE(all);
  std::set<std::string> seen;
  for (const auto& id : ids) {
    seen.insert(id);
    auto ev = f.events(id);
    int started = 0, finished = 0;
    for (const auto& e : ev) {
      started += str(e.at("event")) == "workload.started";
      finished += str(e.at("event")) == "workload.finished";
    }
    EXPECT_EQ(started, 1) << id;  // exactly once
    EXPECT_EQ(finished, 1) << id;
    EXPECT_EQ(f.job(id)["attempt"], "1");
  }
  EXPECT_EQ(seen.size(), 30u);
  int any = 0;
  for (size_t i = 0; i < most.size(); ++i) {
    EXPECT_LE(most[i], 2) << "worker " << i;
    any = std::max(any, most[i]);
  }
  EXPECT_GE(any, 1);  // the count saw the children at all
  for (auto* w : workers) w->signal(SIGTERM);
  for (auto* w : workers) EXPECT_EQ(w->wait(), 0) << w->err();
  auto q = f.host({"queue", "--json"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto qo = json::parse(q.out).as_object();
  EXPECT_EQ(qo.at("waiting"), 0);
  EXPECT_EQ(qo.at("pending"), 0);
  EXPECT_EQ(qo.at("consumers").as_array().size(), 0u);  // clean exits leave the group
  f.expect_no_secret({kToken});
}

TEST(Worker, AKilledWorkersJobIsFinishedByAnotherAfterTheLeaseWithNoOrphans) {
  Fleet f;
  const std::string marker = "arw-kill9-" + std::to_string(::getpid());
  auto& a = f.worker({"--concurrency", "1", "--consumer", "doomed"});
  // One persistent workspace for both attempts: the first sleeps long (an orphan would outlive
  // the wait below), the second finds its mark and finishes at once.
  auto id = f.submit_one(f.file("wl/long.yaml",
                                "name: long\nsession: kill9\nsteps:\n"
                                "  - execute: {command: \"if [ -e attempt1 ]; "
                                "then echo again; else touch attempt1 && " +
                                    marked_sleep(marker, 40) + "; fi\"}\n"));
  ASSERT_TRUE(eventually([&] { return !ar_test::processes_with(marker).empty(); }));
  a.signal(SIGKILL);
  a.wait();
  // The killed worker's job process and its command die with it.
  EXPECT_TRUE(eventually([&] { return ar_test::processes_with(marker).empty(); },
                         std::chrono::seconds(20)));
  EXPECT_EQ(f.status(id), "running");  // nobody said otherwise
  auto& b = f.worker({"--concurrency", "1", "--consumer", "survivor"});
  ASSERT_TRUE(f.wait_status(id, "succeeded")) << b.err();
  auto h = f.job(id);
  EXPECT_EQ(h["attempt"], "2");
  EXPECT_EQ(h["worker"], "survivor");
  EXPECT_NE(b.err().find("reclaimed entry"), std::string::npos) << b.err();
  b.signal(SIGTERM);
  EXPECT_EQ(b.wait(), 0);
  EXPECT_TRUE(ar_test::processes_with(marker).empty());
  f.expect_no_secret({kToken});
}

TEST(Worker, ALongJobIsNeverTakenFromALiveWorker) {
  Fleet f;
  Env short_lease{{"AGENT_RUNNER_LEASE_S", "1"}};
  auto& a = f.worker({"--concurrency", "1", "--consumer", "a"}, short_lease);
  auto id = f.submit_one(f.job_file("long", "sleep 3; echo done"));
  ASSERT_TRUE(f.wait_status(id, "running"));
  // Another worker with free slots, reclaiming whatever is idle longer than the lease.
  auto& b = f.worker({"--concurrency", "1", "--consumer", "b"}, short_lease);
  ASSERT_TRUE(f.wait_status(id, "succeeded")) << a.err() << b.err();
  auto h = f.job(id);
  EXPECT_EQ(h["attempt"], "1");
  EXPECT_EQ(h["worker"], "a");
  int started = 0;
  for (const auto& e : f.events(id)) started += str(e.at("event")) == "workload.started";
  EXPECT_EQ(started, 1);
  EXPECT_EQ(b.err().find("reclaimed"), std::string::npos) << b.err();
}

TEST(Worker, ACrashingPluginDeadLettersItsJobAndTheWorkerKeepsServing) {
  Fleet f;
  Env crashy{{"SANDBOX_TYPE", "crashy"},
             {"AGENT_RUNNER_PLUGIN_PATH", kCrashyDir},
             {"AGENT_RUNNER_LEASE_S", "1"},
             {"AGENT_RUNNER_MAX_ATTEMPTS", "2"}};
  auto& w = f.worker({"--concurrency", "2"}, crashy);
  auto crash = f.submit_one(f.job_file("crash", "segfault now"));
  auto fine = f.submit_one(f.job_file("fine", "echo fine"));
  ASSERT_TRUE(f.wait_status(crash, "dead")) << w.err();
  ASSERT_TRUE(f.wait_status(fine, "succeeded")) << w.err();
  auto dead = f.dead();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0]["id"], crash);
  // Killed by SIGSEGV (under AddressSanitizer, its handler reports and exits 1 instead).
  const std::string reason = dead[0]["reason"];
  const bool by_signal = reason.find("killed by signal 11") != std::string::npos;
  EXPECT_TRUE(by_signal || reason.find("exited with code 1 without finishing") != std::string::npos)
      << reason;
  EXPECT_NE(reason.find("failed 2 attempts"), std::string::npos) << reason;
  auto h = f.job(crash);
  EXPECT_EQ(h["attempt"], "2");
  EXPECT_EQ(h["signal"], by_signal ? "11" : "");
  // Each attempt ended its events with a failure a follower can see.
  int finished = 0;
  for (const auto& e : f.events(crash)) finished += str(e.at("event")) == "workload.finished";
  EXPECT_EQ(finished, 2);
  // Still serving.
  ASSERT_TRUE(w.running());
  auto after = f.submit_one(f.job_file("after", "echo after"));
  EXPECT_TRUE(f.wait_status(after, "succeeded")) << w.err();
  auto q = json::parse(f.host({"queue", "--json"}, crashy).out).as_object();
  EXPECT_EQ(q.at("dead_lettered"), 1);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 0) << w.err();
  f.expect_no_secret({kToken});
}

TEST(Worker, GarbageInTheStreamGoesToDeadLettersAtOnce) {
  Fleet f;
  // One slot: an entry that is not a job must give its slot back.
  auto& w = f.worker({"--concurrency", "1"});
  ASSERT_TRUE(eventually([&] { return f.redis.cmd({"EXISTS", kQueue}).integer == 1; }));
  f.redis.cmd({"XADD", kQueue, "*", "foo", "bar"});
  f.redis.cmd({"XADD", kQueue, "*", "id", "abc", "workload", "{not json"});
  f.redis.cmd({"XADD", kQueue, "*", "id", "def", "workload", R"({"version": 9})"});
  f.redis.cmd({"XADD", kQueue, "*", "id", "ghi", "workload", std::string(4096, '[')});
  ASSERT_TRUE(eventually([&] { return f.dead().size() == 4; })) << w.err();
  auto dead = f.dead();
  EXPECT_NE(dead[0]["reason"].find("not a job"), std::string::npos);
  EXPECT_NE(dead[1]["reason"].find("not valid JSON"), std::string::npos) << dead[1]["reason"];
  EXPECT_NE(dead[2]["reason"].find("unknown job version 9"), std::string::npos);
  EXPECT_NE(dead[3]["reason"].find("invalid job"), std::string::npos);
  for (const auto& d : dead) EXPECT_EQ(d.at("deliveries"), "1");  // never retried
  EXPECT_EQ(f.status("abc"), "dead");
  EXPECT_TRUE(eventually([&] { return f.xlen(kQueue) == 0; }));
  EXPECT_TRUE(w.running());
  auto ok = f.submit_one(f.job_file("ok", "true"));
  EXPECT_TRUE(f.wait_status(ok, "succeeded")) << f.status(ok) << "\n" << w.err();
}

TEST(Worker, RedisRestartedWhileJobsRunLosesNoJob) {
  Fleet f(RedisServer::Options{std::nullopt, /*aof=*/true});
  auto& w = f.worker({"--concurrency", "2"});
  std::vector<fs::path> files;
  for (int i = 0; i < 6; ++i)
    files.push_back(f.job_file("r" + std::to_string(i), "sleep 1; echo r" + std::to_string(i)));
  auto ids = f.submit(files);
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : ids)
      if (f.status(id) == "running") return true;
    return false;
  }));
  f.redis.restart();
  bool all = eventually([&] {
    for (const auto& id : ids)
      if (f.status(id) != "succeeded") return false;
    return true;
  });
  EXPECT_TRUE(all) << w.err();
  for (const auto& id : ids) {
    auto ev = f.events(id);
    ASSERT_FALSE(ev.empty()) << id;
    EXPECT_EQ(str(ev.back().at("event")), "workload.finished") << id;
  }
  EXPECT_TRUE(eventually([&] { return f.xlen(kQueue) == 0; }));
  EXPECT_TRUE(f.dead().empty());
  EXPECT_NE(w.err().find("reconnected"), std::string::npos) << w.err();
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 0) << w.err();
}

TEST(Worker, SigtermDrainsRunningJobsAndServesMetrics) {
  Fleet f;
  const int port = free_port();
  auto& w =
      f.worker({"--concurrency", "1", "--metrics-listen", "127.0.0.1:" + std::to_string(port)});
  auto first = f.submit_one(f.job_file("first", "echo first"));
  ASSERT_TRUE(f.wait_status(first, "succeeded")) << w.err();
  auto id = f.submit_one(f.job_file("drain", "sleep 1; echo drained"));
  ASSERT_TRUE(f.wait_status(id, "running"));
  std::string metrics;
  ASSERT_TRUE(eventually([&] {
    metrics = http_get(port, "/metrics");
    return metrics.find("agent_runner_jobs_running 1") != std::string::npos;
  })) << metrics;
  EXPECT_NE(metrics.find("200 OK"), std::string::npos);
  EXPECT_NE(metrics.find("agent_runner_jobs_finished_total{status=\"succeeded\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("agent_runner_job_duration_seconds_count 1"), std::string::npos);
  EXPECT_NE(metrics.find("agent_runner_jobs_reclaimed_total 0"), std::string::npos);
  EXPECT_NE(metrics.find("agent_runner_redis_reconnects_total 0"), std::string::npos);
  EXPECT_NE(http_get(port, "/other").find("404"), std::string::npos);
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 0) << w.err();
  EXPECT_EQ(f.status(id), "succeeded");  // it finished during the drain
  auto ev = f.events(id);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(str(ev.back().at("status")), "succeeded");
}

TEST(Worker, ASecondSigtermOrTheDrainTimeoutCancelsJobsAndLeavesThemQueued) {
  Fleet f;
  for (bool second_signal : {true, false}) {
    SCOPED_TRACE(second_signal ? "second SIGTERM" : "drain timeout");
    const std::string marker =
        "arw-drain-" + std::to_string(second_signal) + "-" + std::to_string(::getpid());
    auto& w = second_signal ? f.worker({"--concurrency", "1"})
                            : f.worker({"--concurrency", "1", "--drain-timeout", "1"});
    auto id = f.submit_one(f.job_file("stuck", marked_sleep(marker, 60)));
    ASSERT_TRUE(eventually([&] { return !ar_test::processes_with(marker).empty(); }));
    w.signal(SIGTERM);
    if (second_signal) {
      ASSERT_TRUE(eventually([&] { return w.err().find("draining") != std::string::npos; }));
      w.signal(SIGTERM);
    }
    EXPECT_EQ(w.wait(), 0) << w.err();
    EXPECT_TRUE(eventually([&] { return ar_test::processes_with(marker).empty(); },
                           std::chrono::seconds(20)));
    EXPECT_EQ(f.status(id), "queued");  // for another worker
    auto q = json::parse(f.host({"queue", "--json"}).out).as_object();
    EXPECT_EQ(q.at("pending"), 1);  // unacknowledged
    // Out of the way for the next round.
    f.redis.cmd({"XGROUP", "DESTROY", kQueue, "agent-runner"});
    f.redis.cmd({"DEL", kQueue});
  }
}

TEST(Worker, CancelStopsARunningJobAndAQueuedOne) {
  Fleet f;
  // Queued: nobody runs it.
  auto queued = f.submit_one(f.job_file("never", "echo never"));
  auto c = f.host({"cancel", queued});
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(f.status(queued), "cancelled");
  const std::string marker = "arw-cancel-" + std::to_string(::getpid());
  auto& w = f.worker({"--concurrency", "2"});
  ASSERT_TRUE(eventually([&] { return f.xlen(kQueue) == 0; })) << w.err();
  for (const auto& e : f.events(queued)) EXPECT_NE(str(e.at("event")), "workload.started");

  auto id = f.submit_one(f.job_file("cancel-me", marked_sleep(marker, 60)));
  ASSERT_TRUE(eventually([&] { return !ar_test::processes_with(marker).empty(); }));
  c = f.host({"cancel", id});
  EXPECT_EQ(c.exit_code, 0) << c.err << w.err();
  EXPECT_NE(c.out.find("cancelled"), std::string::npos) << c.out;
  EXPECT_EQ(f.status(id), "cancelled");
  EXPECT_TRUE(eventually([&] { return ar_test::processes_with(marker).empty(); },
                         std::chrono::seconds(20)));
  auto ev = f.events(id);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(str(ev.back().at("event")), "workload.finished");
  EXPECT_EQ(str(ev.back().at("status")), "cancelled");
  EXPECT_EQ(f.host({"cancel", id}).exit_code, 0);  // cancelling again changes nothing
  EXPECT_EQ(f.host({"cancel", "no-such-job"}).exit_code, 2);
  // The worker goes on.
  auto next = f.submit_one(f.job_file("next", "echo next"));
  EXPECT_TRUE(f.wait_status(next, "succeeded"));
  auto late = f.host({"cancel", next});
  EXPECT_EQ(late.exit_code, 1);  // it had already ended
  EXPECT_NE(late.out.find("already ended: succeeded"), std::string::npos) << late.out;
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 0);
  f.expect_no_secret({kToken});
}

TEST(Worker, RequirepassRightAndWrongAndNoRedisAtAll) {
  const std::string pass = "redis-pass-51c2e9";
  Fleet f(RedisServer::Options{pass, false});
  auto& wrong = f.worker({}, {{"REDIS_PASSWORD", "not-the-password"}});
  EXPECT_EQ(wrong.wait(), 2);
  EXPECT_NE(wrong.err().find("refused the password"), std::string::npos) << wrong.err();
  EXPECT_EQ(wrong.err().find("not-the-password"), std::string::npos) << wrong.err();
  auto& none = f.worker();
  EXPECT_EQ(none.wait(), 2);
  EXPECT_NE(none.err().find("requires a password"), std::string::npos) << none.err();
  auto& right = f.worker({}, {{"REDIS_PASSWORD", pass}});
  auto sub = f.host({"submit", f.job_file("auth", "echo auth").string(), "--follow"},
                    {{"REDIS_PASSWORD", pass}});
  EXPECT_EQ(sub.exit_code, 0) << sub.err << right.err();
  right.signal(SIGTERM);
  EXPECT_EQ(right.wait(), 0);
  EXPECT_EQ(right.err().find(pass), std::string::npos);

  auto unreachable = f.host({"worker"}, {{"REDIS_PORT", std::to_string(free_port())}});
  EXPECT_EQ(unreachable.exit_code, 2);
  EXPECT_NE(unreachable.err.find("cannot reach Redis"), std::string::npos) << unreachable.err;
  auto local = f.host({"worker"}, {{"REDIS_HOST", ""}});
  EXPECT_EQ(local.exit_code, 2);
  EXPECT_NE(local.err.find("REDIS_HOST must be set"), std::string::npos) << local.err;
}
