// SPDX-License-Identifier: Apache-2.0
// `agent-runner run` end to end on the filesystem plugin: every step kind, every exit code,
// expectations, continue_on_error, the deadline, secrets (also split across output chunks),
// skills, persistent sessions, parallel runs and cancellation by signal.
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {
const std::string kBin = AR_TEST_HOST_BIN;
const std::string kSource = AR_TEST_SOURCE_DIR;

struct Fixture {
  ar_test::TempDir dir;
  fs::path root() const { return dir.path() / "ws"; }
  fs::path file(const std::string& name, const std::string& content) const {
    auto p = dir.path() / name;
    fs::create_directories(p.parent_path());
    ar_test::write_file(p, content);
    return p;
  }
  std::map<std::string, std::string> env() const {
    auto e = ar_test::base_env();
    e["MODE"] = "local";
    e["SANDBOX_ROOT_DIR"] = root().string();
    return e;
  }
  ar_test::RunResult run(std::vector<std::string> args,
                         std::map<std::string, std::string> extra = {}) const {
    auto e = env();
    for (auto& [k, v] : extra) e[k] = v;
    args.insert(args.begin(), {kBin, "run"});
    return ar_test::run(args, e);
  }
};

std::vector<json::object> events_of(const std::string& text) {
  std::vector<json::object> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    out.push_back(json::parse(line).as_object());  // throws if a line is not one JSON object
  }
  return out;
}

std::vector<json::object> of_kind(const std::vector<json::object>& ev, const std::string& kind) {
  std::vector<json::object> out;
  for (const auto& e : ev)
    if (e.at("event").as_string() == kind) out.push_back(e);
  return out;
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

// Live (not zombie) processes whose command line contains `marker`. Commands run in their own
// PID namespace, so their $$ means nothing here: tests name the process instead.
std::vector<pid_t> processes_with(const std::string& marker) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(e.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd)), {});
    if (cmdline.find(marker) == std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(st)), {});
    auto close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
    out.push_back(std::stoi(name));
  }
  return out;
}

// Runs a workload file that must be refused before anything runs: exit 2, no workspace, and
// stderr holding `says`. Returns stderr.
std::string expect_refused(const Fixture& f, const std::string& name, const std::string& text,
                           const std::string& says,
                           const std::map<std::string, std::string>& env = {}) {
  auto wl = f.file(name, text);
  auto r = f.run({wl.string()}, env);
  EXPECT_EQ(r.exit_code, 2) << name;
  EXPECT_NE(r.err.find(says), std::string::npos) << r.err.substr(0, 2000);
  EXPECT_FALSE(fs::exists(f.root())) << name << ": nothing may run";
  return r.err;
}

// A command that runs a copy of sleep named after `marker`, for processes_with().
std::string marked_sleep(const std::string& marker) {
  return "cp /bin/sleep ./" + marker + " && touch started && exec ./" + marker + " 60";
}
}  // namespace

TEST(Workload, TheReadmeExampleSucceeds) {
  Fixture f;
  auto r = f.run({kSource + "/examples/hello.yaml", "--events", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto ev = events_of(r.out);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(str(ev.front().at("event")), "workload.started");
  EXPECT_EQ(str(ev.front().at("sandbox_type")), "filesystem");
  EXPECT_EQ(str(ev.front().at("workload")), "hello");
  EXPECT_FALSE(str(ev.front().at("sandbox_id")).empty());
  EXPECT_EQ(str(ev.back().at("event")), "workload.finished");
  EXPECT_EQ(str(ev.back().at("status")), "succeeded");
  EXPECT_EQ(ev.back().at("steps_ok"), 10);
  EXPECT_EQ(ev.back().at("steps_failed"), 0);
  for (const auto& e : ev) EXPECT_TRUE(e.contains("ts"));
  // Live output arrived as events, before the step finished.
  bool saw_output = false;
  for (const auto& e : ev) {
    if (str(e.at("event")) == "step.output" &&
        str(e.at("data")).find("hello from the sandbox") != std::string::npos)
      saw_output = true;
    if (str(e.at("event")) == "step.finished" && e.at("index") == 1) {
      EXPECT_TRUE(saw_output);
    }
  }
}

TEST(Workload, EveryStepKindWithLocalFilesRelativeToTheWorkload) {
  Fixture f;
  f.file("local/input.txt", "uploaded bytes\n");
  auto wl = f.file("all.yaml", R"Y(name: all-steps
steps:
  - write_file: {path: src/a.py, content: "print(1)\n"}
  - write_file: {path: src/a.py, content: "x"}
    expect: {error: already_exists}
  - write_file: {path: src/a.py, content: "print(1)\nprint(11)\n", overwrite: true}
  - read_file: {path: src/a.py, offset: 1, limit: 1}
    expect: {content_contains: "print(11)"}
  - edit_file: {path: src/a.py, old: "print", new: "echo"}
    expect: {error: ambiguous}
  - edit_file: {path: src/a.py, old: "(1", new: "(3", replace_all: true}
    expect: {count: 2}
  - ls: {path: src}
    expect: {count: 1}
  - glob: {pattern: "**/*.py"}
    expect: {count: 1}
  - grep: {pattern: "print\\(3", path: src, glob: "*.py"}
    expect: {count: 2}
  - upload: {from: local/input.txt, to: data/in.txt}
  - execute: {command: "cat data/in.txt; echo $V-$CI", env: {V: "1"}}
    expect: {exit_code: 0, output_contains: "uploaded bytes"}
  - download: {from: src/a.py, to: out/a.py}
  - delete: {path: src, recursive: true}
  - ls: {path: src}
    expect: {error: file_not_found}
env: {CI: "yes"}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto ev = events_of(r.out);
  auto finished = of_kind(ev, "step.finished");
  ASSERT_EQ(finished.size(), 14u);
  for (const auto& e : finished) EXPECT_TRUE(e.at("ok").as_bool()) << json::serialize(e);
  EXPECT_EQ(ar_test::read_file(f.dir.path() / "out/a.py"), "print(3)\nprint(31)\n");
  EXPECT_NE(json::serialize(finished[10].at("result")).find("1-yes"), std::string::npos)
      << "workload env and step env reach the command";
  EXPECT_EQ(str(finished[3].at("result").at("content")), "print(11)\n");
}

TEST(Workload, AFailedStepStopsTheWorkloadAndExits1) {
  Fixture f;
  auto wl = f.file("fail.yaml", R"Y(name: failing
steps:
  - execute: {command: "echo start"}
  - execute: {command: "exit 3"}
  - execute: {command: "echo never"}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  EXPECT_EQ(r.exit_code, 1);
  auto ev = events_of(r.out);
  auto fin = of_kind(ev, "workload.finished").at(0);
  EXPECT_EQ(str(fin.at("status")), "failed");
  EXPECT_EQ(fin.at("steps_ok"), 1);
  EXPECT_EQ(fin.at("steps_failed"), 1);
  EXPECT_EQ(fin.at("steps_skipped"), 1);
  auto step = of_kind(ev, "step.finished").at(1);
  EXPECT_EQ(str(step.at("error").at("code")), "expectation_failed");
  EXPECT_EQ(str(step.at("error").at("message")), "exit code 3, expected 0");
  EXPECT_EQ(r.out.find("never"), std::string::npos);
}

// continue_on_error works as GitHub Actions' continue-on-error: the step's failure is tolerated.
TEST(Workload, ContinueOnErrorToleratesTheFailure) {
  Fixture f;
  auto wl = f.file("c.yaml", R"Y(name: continuing
steps:
  - read_file: {path: missing.txt}
    continue_on_error: true
  - execute: {command: "echo after"}
    expect: {output_contains: "after", output_not_contains: "before"}
  - execute: {command: "exit 7"}
    expect: {exit_code: 7}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto ev = events_of(r.out);
  auto steps = of_kind(ev, "step.finished");
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(str(steps[0].at("error").at("code")), "file_not_found");
  EXPECT_FALSE(steps[0].at("ok").as_bool());
  EXPECT_EQ(steps[0].at("tolerated"), true);
  EXPECT_TRUE(steps[1].at("ok").as_bool());
  EXPECT_FALSE(steps[1].contains("tolerated"));
  EXPECT_TRUE(steps[2].at("ok").as_bool());
  const auto fin = of_kind(ev, "workload.finished").at(0);
  EXPECT_EQ(str(fin.at("status")), "succeeded");
  EXPECT_EQ(fin.at("steps_ok"), 2);
  EXPECT_EQ(fin.at("steps_failed"), 1);
  EXPECT_EQ(fin.at("steps_tolerated"), 1);
  EXPECT_NE(r.err.find("FAILED (tolerated): file_not_found"), std::string::npos) << r.err;

  // Any other failure still fails the workload, tolerated ones or not.
  auto mixed = f.file("m.yaml", R"Y(name: mixed
steps:
  - execute: {command: "exit 1"}
    continue_on_error: true
  - execute: {command: "exit 2"}
)Y");
  auto m = f.run({mixed.string(), "--events", "-"});
  EXPECT_EQ(m.exit_code, 1);
  const auto mfin = of_kind(events_of(m.out), "workload.finished").at(0);
  EXPECT_EQ(str(mfin.at("status")), "failed");
  EXPECT_EQ(mfin.at("steps_failed"), 2);
  EXPECT_EQ(mfin.at("steps_tolerated"), 1);
}

TEST(Workload, UnmetExpectationsFail) {
  Fixture f;
  auto wl = f.file("e.yaml", R"Y(name: expectations
steps:
  - execute: {command: "echo hello"}
    expect: {output_contains: "goodbye"}
    continue_on_error: true
  - ls: {path: /}
    expect: {error: file_not_found}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  EXPECT_EQ(r.exit_code, 1);
  auto steps = of_kind(events_of(r.out), "step.finished");
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(str(steps[0].at("error").at("message")), "output does not contain \"goodbye\"");
  EXPECT_NE(str(steps[1].at("error").at("message")).find("expected error file_not_found"),
            std::string::npos);
}

TEST(Workload, InvalidFilesExit2BeforeAnythingRuns) {
  Fixture f;
  auto good = f.file("good.yaml", "name: g\nsteps:\n  - execute: {command: \"touch ran\"}\n");
  auto bad = f.file("bad.yaml", "name: b\nsteps:\n  - execute: {command: 1}\n  - copy: {}\n");
  auto r = f.run({good.string(), bad.string(), "--events", "-"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(bad.string() + ":3: steps[0].execute.command: must be a string"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(bad.string() + ":4: steps[1]: no operation"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.root())) << "no sandbox was created";
  auto syntax = f.file("syntax.yaml", "name: s\nsteps: [\n");
  auto s = f.run({syntax.string()});
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_NE(s.err.find(syntax.string() + ":3:"), std::string::npos) << s.err;
  EXPECT_EQ(f.run({(f.dir.path() / "none.yaml").string()}).exit_code, 2);
  // JSON works too, with the same rules.
  auto j = f.file("w.json", R"Y({"name": "j", "steps": [{"execute": {"command": "true"}}]})Y");
  EXPECT_EQ(f.run({j.string()}).exit_code, 0);
}

TEST(Workload, MissingPluginExits3) {
  Fixture f;
  auto wl = f.file("w.yaml", "name: w\nsteps:\n  - execute: {command: \"true\"}\n");
  auto r = f.run({wl.string(), "--events", "-"}, {{"SANDBOX_TYPE", "no-such-plugin"}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no-such-plugin"), std::string::npos);
  auto fin = of_kind(events_of(r.out), "workload.finished");
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(str(fin[0].at("status")), "failed");
}

TEST(Workload, TheDeadlineCancelsTheRunningStep) {
  Fixture f;
  auto wl = f.file("d.yaml", R"Y(name: deadline
timeout: 1
steps:
  - execute: {command: "MARKED"}
  - execute: {command: "echo never"}
)Y");
  const std::string marker = "ar-deadline-" + f.dir.path().filename().string();
  std::string text = ar_test::read_file(wl);
  ar_test::write_file(wl, text.replace(text.find("MARKED"), 6, marked_sleep(marker)));
  auto r = f.run({wl.string(), "--events", "-", "--session", "dl"});
  EXPECT_EQ(r.exit_code, 1);
  auto ev = events_of(r.out);
  auto fin = of_kind(ev, "workload.finished").at(0);
  EXPECT_EQ(str(fin.at("status")), "failed");
  EXPECT_EQ(str(fin.at("error").at("code")), "timeout");
  EXPECT_EQ(str(of_kind(ev, "step.finished").at(0).at("error").at("code")), "timeout");
  EXPECT_TRUE(fs::exists(f.root() / "dl" / "started")) << "the command ran";
  EXPECT_TRUE(processes_with(marker).empty()) << "the command's process survived the deadline";
}

TEST(Workload, SecretsAreRedactedEverywhereEvenSplitAcrossChunks) {
  Fixture f;
  f.file("secret.txt", "file-secret-4242\n");
  auto wl = f.file("s.yaml", R"Y(name: secrets
secrets:
  API_TOKEN: {env: HOST_TOKEN}
  FILE_TOKEN: {file: secret.txt}
steps:
  - execute: {command: "echo token=$API_TOKEN; echo file=$FILE_TOKEN >&2"}
  - execute: {command: "printf 'env-sec'; sleep 0.3; printf 'ret-7777\n'"}
  - write_file: {path: leak.txt, content: "env-secret-7777"}
  - read_file: {path: leak.txt}
)Y");
  auto events_file = f.dir.path() / "events.jsonl";
  auto r = f.run({wl.string(), "--events", events_file.string(), "--session", "sec"},
                 {{"HOST_TOKEN", "env-secret-7777"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string events = ar_test::read_file(events_file);
  for (const auto& text : {events, r.out, r.err}) {
    EXPECT_EQ(text.find("env-secret-7777"), std::string::npos) << text;
    EXPECT_EQ(text.find("file-secret-4242"), std::string::npos) << text;
  }
  EXPECT_NE(events.find("token=***"), std::string::npos) << events;
  EXPECT_NE(events.find("file=***"), std::string::npos) << events;
  EXPECT_NE(r.out.find("token=***"), std::string::npos) << "printed output is redacted too";
  // The secret really reached the command (only the host's view is masked).
  EXPECT_EQ(ar_test::read_file(f.root() / "sec" / "leak.txt"), "env-secret-7777");
  // A missing secret source is a validation error.
  auto missing = f.run({wl.string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("HOST_TOKEN"), std::string::npos) << missing.err;
}

TEST(Workload, AWorkloadsSecretIsMaskedInEveryWorkloadFromTheStart) {
  Fixture f;
  // alpha runs first (--parallel 1) and prints, as plain text, the value that beta declares
  // secret: it must already be masked, although beta has not started yet.
  auto a =
      f.file("a.yaml", "name: alpha\nsteps:\n  - execute: {command: \"echo beta-secret-5150\"}\n");
  auto b = f.file("b.yaml",
                  "name: beta\nsecrets:\n  T: {env: BETA_TOKEN}\nsteps:\n"
                  "  - execute: {command: \"true\"}\n");
  auto r = f.run({a.string(), b.string(), "--parallel", "1", "--events", "-"},
                 {{"BETA_TOKEN", "beta-secret-5150"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("beta-secret-5150"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("beta-secret-5150"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("***"), std::string::npos);
}

TEST(Workload, SkillsAreUploadedWithTheirExecutableBits) {
  Fixture f;
  f.file("skills/pdf-tools/bin/tool.sh", "#!/bin/sh\necho skill-ran\n");
  ::chmod((f.dir.path() / "skills/pdf-tools/bin/tool.sh").c_str(), 0755);
  f.file("skills/pdf-tools/README.md", "docs\n");
  auto wl = f.file("k.yaml", R"Y(name: skills
skills: [./skills/pdf-tools]
steps:
  - execute: {command: "for t in bin/skills/*/bin/tool.sh; do test -x $t && $t; done"}
    expect: {output_contains: "skill-ran"}
  - glob: {pattern: "bin/skills/**/README.md"}
    expect: {count: 1}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto skills = of_kind(events_of(r.out), "skill.uploaded");
  ASSERT_EQ(skills.size(), 1u);
  EXPECT_EQ(str(skills[0].at("name")), "pdf-tools");
  // Below the workdir (where commands start, so `bin/skills` works in a command), shown absolute.
  const std::string workdir =
      str(of_kind(events_of(r.out), "workload.started").at(0).at("workdir"));
  ASSERT_FALSE(workdir.empty());
  std::string path = str(skills[0].at("path"));
  const std::string prefix = workdir + "/bin/skills/";
  EXPECT_EQ(path.rfind(prefix, 0), 0u) << path;
  EXPECT_EQ(path.size(), prefix.size() + 17) << path;
  // The same content gets the same path.
  auto again = of_kind(events_of(f.run({wl.string(), "--events", "-"}).out), "skill.uploaded");
  EXPECT_EQ(str(again.at(0).at("path")), path);
}

TEST(Workload, SessionsPersistAndEphemeralSandboxesAreRemoved) {
  Fixture f;
  auto writer = f.file("w.yaml",
                       "name: w\nsession: feature-42\nsteps:\n"
                       "  - write_file: {path: keep.txt, content: kept}\n");
  auto reader = f.file("r.yaml",
                       "name: r\nsteps:\n  - read_file: {path: keep.txt}\n"
                       "    expect: {content_contains: kept}\n");
  ASSERT_EQ(f.run({writer.string()}).exit_code, 0);
  EXPECT_EQ(f.run({reader.string(), "--session", "feature-42"}).exit_code, 0);
  // Without a session the file is not there, and nothing is left behind.
  EXPECT_EQ(f.run({reader.string()}).exit_code, 1);
  // The session's workspace, its /tmp (kept with the session, in root_dir/.tmp) and its last use
  // (root_dir/.sessions) stay.
  std::set<std::string> left, left_tmp;
  for (const auto& e : fs::directory_iterator(f.root())) left.insert(e.path().filename());
  left.erase(".sessions");
  EXPECT_EQ(left, (std::set<std::string>{"feature-42", ".tmp"}));
  if (fs::exists(f.root() / ".tmp"))
    for (const auto& e : fs::directory_iterator(f.root() / ".tmp"))
      left_tmp.insert(e.path().filename());
  EXPECT_EQ(left_tmp, std::set<std::string>{"feature-42"});
}

TEST(Workload, ParallelRunsTagEventsAndExitWithTheWorst) {
  Fixture f;
  auto a = f.file("a.yaml", "name: alpha\nsteps:\n  - execute: {command: \"sleep 0.3; echo a\"}\n");
  auto b = f.file("b.yaml", "name: beta\nsteps:\n  - execute: {command: \"sleep 0.3; exit 1\"}\n");
  auto c = f.file("c.yaml", "name: gamma\nsteps:\n  - execute: {command: \"echo c\"}\n");
  auto r = f.run({a.string(), b.string(), c.string(), "--parallel", "3", "--events", "-"});
  EXPECT_EQ(r.exit_code, 1);
  auto fin = of_kind(events_of(r.out), "workload.finished");
  ASSERT_EQ(fin.size(), 3u);
  std::map<std::string, std::string> status;
  for (const auto& e : fin) status[str(e.at("workload"))] = str(e.at("status"));
  EXPECT_EQ(status["alpha"], "succeeded");
  EXPECT_EQ(status["beta"], "failed");
  EXPECT_EQ(status["gamma"], "succeeded");
  for (const auto& e : events_of(r.out)) EXPECT_TRUE(e.contains("workload"));
  EXPECT_EQ(f.run({a.string(), c.string(), "--parallel", "2"}).exit_code, 0);
}

TEST(Workload, DownloadNeverFollowsASymlinkAtItsTarget) {
  Fixture f;
  auto outside = f.file("outside.txt", "precious\n");
  fs::create_directories(f.dir.path() / "out");
  fs::create_symlink(outside, f.dir.path() / "out/a.txt");
  auto wl = f.file("dl.yaml", R"Y(name: dl
steps:
  - write_file: {path: a.txt, content: "from the sandbox"}
  - download: {from: a.txt, to: out/a.txt}
  - download: {from: ../../../etc/passwd, to: out/passwd}
    expect: {error: invalid_path}
)Y");
  auto r = f.run({wl.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ar_test::read_file(outside), "precious\n");
  EXPECT_FALSE(fs::is_symlink(f.dir.path() / "out/a.txt"));
  EXPECT_EQ(ar_test::read_file(f.dir.path() / "out/a.txt"), "from the sandbox");
  EXPECT_FALSE(fs::exists(f.dir.path() / "out/passwd"));
}

TEST(Workload, SigtermCancelsKillsTheCommandAndEndsTheStream) {
  Fixture f;
  auto wl = f.file("long.yaml", R"Y(name: long
session: cancel-me
steps:
  - execute: {command: "MARKED"}
)Y");
  const std::string marker = "ar-cancel-" + f.dir.path().filename().string();
  std::string text = ar_test::read_file(wl);
  ar_test::write_file(wl, text.replace(text.find("MARKED"), 6, marked_sleep(marker)));
  auto events_file = f.dir.path() / "events.jsonl";
  auto env = f.env();
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<std::string> args = {kBin, "run", wl.string(), "--events", events_file.string()};
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> a, e;
    for (auto& s : args) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : env_strings) e.push_back(s.data());
    e.push_back(nullptr);
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::execve(a[0], a.data(), e.data());
    _exit(127);
  }
  // Wait until the command runs (its pid file exists), bounded.
  for (int i = 0; i < 600 && processes_with(marker).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(processes_with(marker).empty()) << "the command never started";
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_TRUE(processes_with(marker).empty()) << "the command survived the cancellation";
  auto ev = events_of(ar_test::read_file(events_file));
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(str(ev.back().at("event")), "workload.finished");
  EXPECT_EQ(str(ev.back().at("status")), "cancelled");
}

// ---- hardening (issue 12) -----------------------------------------------------------------------

TEST(Workload, AHundredThousandCharacterSessionIsAnErrorNotACrash) {
  Fixture f;
  // maxLength fails first; the pattern must not run at all (std::regex overflowed its stack).
  expect_refused(f, "long.yaml",
                 "name: l\nsession: " + std::string(100000, 'a') +
                     "\nsteps:\n  - execute: {command: \"true\"}\n",
                 "session: must be at most 128 characters");
  // A long value that passes maxLength is matched by the pattern in linear time.
  expect_refused(f, "bad.yaml",
                 "name: b\nsession: \"" + std::string(120, 'a') +
                     "/\"\nsteps:\n  - execute: {command: \"true\"}\n",
                 "session: must match the pattern");
}

TEST(Workload, ASecretInsideBase64ContentIsRedactedBeforeEncoding) {
  Fixture f;
  auto wl = f.file("b.yaml", R"Y(name: b64
secrets:
  TOKEN: {env: HOST_TOKEN}
steps:
  - execute: {command: 'printf "key=%s\377\n" "$TOKEN" > k.bin'}
  - read_file: {path: k.bin}
)Y");
  auto r = f.run({wl.string(), "--events", "-"}, {{"HOST_TOKEN", "b64-secret-0451"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto read = of_kind(events_of(r.out), "step.finished").at(1).at("result").as_object();
  ASSERT_TRUE(read.contains("content_base64")) << json::serialize(read);
  std::string b64 = str(read.at("content_base64"));
  // Decode by hand (the test does not trust the host's decoder).
  static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes;
  unsigned acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<unsigned>(abc.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  EXPECT_EQ(bytes, "key=***\xff\n");
}

TEST(Workload, SecretsShorterThanFourBytesAreRefusedByName) {
  Fixture f;
  auto err = expect_refused(f, "s.yaml", R"Y(name: short
secrets:
  PIN: {env: HOST_PIN}
steps:
  - execute: {command: "true"}
)Y",
                            "secrets.PIN: the value is 3 bytes long", {{"HOST_PIN", "417"}});
  EXPECT_EQ(err.find("417"), std::string::npos) << "never the value: " << err;
}

TEST(Workload, ASecretFromAnEmptyVariableIsMissingNotTooShort) {
  Fixture f;
  expect_refused(f, "s.yaml", R"Y(name: empty
secrets:
  TOKEN: {env: HOST_TOKEN}
steps:
  - execute: {command: "true"}
)Y",
                 "secrets.TOKEN: the host environment has no variable HOST_TOKEN (it is empty, "
                 "which counts as unset)",
                 {{"HOST_TOKEN", ""}});
}

TEST(Workload, ASecretThatIsACommonWordLeavesEventNamesAndKeysAlone) {
  Fixture f;
  auto wl = f.file("w.yaml", R"Y(name: words
secrets:
  WORD: {env: HOST_WORD}
steps:
  - execute: {command: "echo one step at a time"}
)Y");
  auto r = f.run({wl.string(), "--events", "-"}, {{"HOST_WORD", "step"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ev = events_of(r.out);
  EXPECT_EQ(of_kind(ev, "step.started").size(), 1u) << r.out;
  EXPECT_EQ(of_kind(ev, "step.finished").size(), 1u) << r.out;
  EXPECT_FALSE(of_kind(ev, "step.output").empty()) << r.out;
  EXPECT_EQ(r.out.find("one step at"), std::string::npos) << "values are still redacted";
  EXPECT_NE(r.out.find("one *** at"), std::string::npos) << r.out;
  EXPECT_TRUE(of_kind(ev, "step.finished").at(0).contains("duration_ms")) << "keys intact";
}

TEST(Workload, AnAliasBombIsRefusedBeforeItExpands) {
  Fixture f;
  // 9 levels of 10 aliases each: 10^9 values once expanded, in a few hundred bytes.
  std::string bomb = "name: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", " : "") + prev;
    bomb += "]\n";
  }
  bomb += "steps:\n  - execute: {command: \"true\"}\n";
  ASSERT_LT(bomb.size(), 700u);
  auto err = expect_refused(f, "bomb.yaml", bomb, "larger than 500000 values");
  EXPECT_NE(err.find((f.dir.path() / "bomb.yaml").string()), std::string::npos) << err;
  // Deep nesting is refused too, with the limit.
  expect_refused(f, "deep.yaml",
                 "name: d\nx: " + std::string(1000, '[') + std::string(1000, ']') + "\nsteps: []\n",
                 "nested more than 64 deep");
}

TEST(Workload, OutputEventsAreValidUtf8EvenForBinaryOrSplitCharacters) {
  Fixture f;
  // Two invalid bytes, then a euro sign (E2 82 AC) cut between two writes.
  auto wl = f.file("u.yaml", R"Y(name: utf8
steps:
  - execute: {command: 'printf "\377\376\342\202"; sleep 0.3; printf "\254 done"'}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string data;
  for (const auto& e : of_kind(events_of(r.out), "step.output")) data += str(e.at("data"));
  EXPECT_EQ(data, "\xEF\xBF\xBD\xEF\xBF\xBD\xE2\x82\xAC done");
}

// The step.output data of an events stream, joined per stream: {stdout, stderr}.
static std::pair<std::string, std::string> output_by_stream(const std::string& events) {
  std::string out, err;
  for (const auto& e : of_kind(events_of(events), "step.output"))
    (str(e.at("stream")) == "stderr" ? err : out) += str(e.at("data"));
  return {out, err};
}

// What one step streams into the events is bounded (max_step_output_bytes): past the bound no
// more output lines, and one marker per cut stream says how much was left out. The step itself
// still sees its whole output (its result is capped by the plugin, separately).
TEST(Workload, StepOutputEventsStopAtTheBoundWithAMarker) {
  Fixture f;
  auto wl = f.file("big.yaml", R"Y(name: big
steps:
  - execute: {command: 'yes abcdefghi | head -c 200000; echo done >&2'}
)Y");
  auto r = f.run({wl.string(), "--events", "-"}, {{"AGENT_RUNNER_MAX_STEP_OUTPUT_BYTES", "50000"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ev = events_of(r.out);  // every line is one JSON object
  size_t streamed = 0;
  std::vector<json::object> markers;
  for (const auto& e : of_kind(ev, "step.output")) {
    EXPECT_EQ(e.at("index"), 0);
    EXPECT_EQ(str(e.at("workload")), "big");
    EXPECT_TRUE(e.contains("ts"));
    if (e.contains("truncated")) {
      markers.push_back(e);
      EXPECT_EQ(str(e.at("data")), "");
    } else {
      streamed += e.at("data").as_string().size();
    }
  }
  EXPECT_EQ(streamed, 50000u);
  // 200000 bytes then "done\n" written to stderr, which the filesystem plugin delivers on the
  // same stream in write order (one pipe): one stream, one marker, for everything past the bound.
  ASSERT_EQ(markers.size(), 1u) << r.out.substr(r.out.size() - 1000);
  std::map<std::string, int64_t> omitted;
  for (const auto& m : markers) {
    EXPECT_EQ(m.at("truncated"), true);
    EXPECT_EQ(m.at("max_step_output_bytes"), 50000);
    omitted[str(m.at("stream"))] = m.at("omitted_bytes").to_number<int64_t>();
  }
  EXPECT_EQ(omitted["stdout"], 150005);
  // The step's own result still says the command succeeded.
  EXPECT_EQ(str(ev.back().at("status")), "succeeded");

  // 0: no bound, every byte arrives and there is no marker.
  r = f.run({wl.string(), "--events", "-"}, {{"AGENT_RUNNER_MAX_STEP_OUTPUT_BYTES", "0"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& e : of_kind(events_of(r.out), "step.output"))
    EXPECT_FALSE(e.contains("truncated"));
  auto [out, err] = output_by_stream(r.out);
  EXPECT_EQ(out.size(), 200005u);
  EXPECT_EQ(out.substr(0, 20), "abcdefghi\nabcdefghi\n");
  EXPECT_EQ(out.substr(out.size() - 5), "done\n");
  EXPECT_EQ(err, "");
}

// Output lines keep the bytes in write order (stdout and stderr share one pipe), escape NUL and
// control bytes, and stay one JSON object per line however the output is gathered into lines.
TEST(Workload, StepOutputEventsKeepEveryByteOfEachStreamEscaped) {
  Fixture f;
  auto wl = f.file("mix.yaml", R"Y(name: mix
steps:
  - execute: {command: 'for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf "a\000b\001c\"q\\\\z\t"'}
)Y");
  auto r = f.run({wl.string(), "--events", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto [out, err] = output_by_stream(r.out);
  EXPECT_EQ(out, std::string("out1\nerr1\nout2\nerr2\nout3\nerr3\na\0b\x01"
                             "c\"q\\z\t",
                             40));
  EXPECT_EQ(err, "");
  EXPECT_NE(r.out.find("a\\u0000b\\u0001c\\\"q\\\\z\\t"), std::string::npos) << r.out;
}

TEST(Workload, UnboundedSecretSourcesAreRefusedNotRead) {
  Fixture f;
  const fs::path fifo = f.dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& source : {std::string("/dev/zero"), fifo.string()})
    expect_refused(f, "s.yaml",
                   "name: s\nsecrets:\n  BIG: {file: " + source +
                       "}\nsteps:\n  - execute: {command: \"true\"}\n",
                   "secrets.BIG: cannot read " + source + ": is a " +
                       (source == "/dev/zero" ? "character device" : "FIFO") +
                       ", not a regular file");
  // A workload file that is a FIFO is refused too (it used to block in open).
  auto r = f.run({fifo.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is a FIFO, not a regular file"), std::string::npos) << r.err;
}
