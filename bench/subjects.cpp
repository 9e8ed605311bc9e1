// SPDX-License-Identifier: Apache-2.0
#include "subjects.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

extern char** environ;

namespace agent_runner::bench {
namespace json = boost::json;

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

namespace {

std::string str_member(const json::object& o, const char* key, std::string fallback = {}) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : fallback;
}

std::vector<int64_t> exit_codes(const json::object& spec) {
  std::vector<int64_t> codes;
  if (auto* v = spec.if_contains("exit_codes"); v && v->is_array())
    for (const auto& c : v->as_array()) codes.push_back(c.to_number<int64_t>());
  if (codes.empty()) codes.push_back(0);
  return codes;
}

// A whole process, spawned the way a user's shell would (stdin from /dev/null), timed from
// spawn to reaped. stdout is drained through a pipe (counted, so the driver can compare what two
// tools printed) or goes to /dev/null; stderr's tail is kept for the error message.
class CommandSubject : public Subject {
 public:
  explicit CommandSubject(const json::object& spec)
      : Subject(str_member(spec, "name")),
        cwd_(str_member(spec, "cwd")),
        pipe_stdout_(str_member(spec, "stdout", "pipe") == "pipe"),
        exit_codes_(exit_codes(spec)) {
    for (const auto& a : spec.at("argv").as_array()) argv_.emplace_back(a.as_string());
    if (argv_.empty()) throw std::runtime_error(name() + ": argv is empty");
    if (auto* env = spec.if_contains("env"); env && env->is_object()) {
      inherit_env_ = false;
      for (const auto& [k, v] : env->as_object())
        env_.push_back(std::string(k) + "=" + std::string(v.as_string()));
    }
  }

  void run() override {
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error(name() + ": pipe: " + std::strerror(errno));
    if (pipe_stdout_ && ::pipe2(out, O_CLOEXEC) != 0) {
      const int e = errno;
      ::close(err[0]);
      ::close(err[1]);
      throw std::runtime_error(name() + ": pipe: " + std::strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (pipe_stdout_)
      posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    else
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (!cwd_.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd_.c_str());
    std::vector<char*> argv, envp;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(),
                                inherit_env_ ? environ : envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(err[1]);
    if (pipe_stdout_) ::close(out[1]);
    if (rc != 0) {
      ::close(err[0]);
      if (pipe_stdout_) ::close(out[0]);
      throw std::runtime_error(name() + ": cannot start " + argv_[0] + ": " + std::strerror(rc));
    }
    drain(pipe_stdout_ ? out[0] : -1, err[0]);
    int status = 0;
    rusage ru{};
    while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    max_rss_kib_ = ru.ru_maxrss;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::find(exit_codes_.begin(), exit_codes_.end(), exit_code_) == exit_codes_.end())
      throw std::runtime_error(name() + ": exit code " + std::to_string(exit_code_) +
                               "; stderr ends with: " + stderr_tail_);
  }

  json::object summary() const override {
    json::object s{{"exit_code", exit_code_}};
    if (pipe_stdout_) {
      s["stdout_bytes"] = stdout_bytes_;
      s["stdout_lines"] = stdout_lines_;
    }
    return s;
  }
  long max_rss_kib() const override { return max_rss_kib_; }

 private:
  void drain(int out_fd, int err_fd) {
    stdout_bytes_ = stdout_lines_ = 0;
    stderr_tail_.clear();
    static char buf[1 << 18];
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_fds = (out_fd >= 0) + 1;
    while (open_fds > 0) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(name() + ": poll: " + std::strerror(errno));
      }
      for (auto& p : fds) {
        if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::read(p.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(p.fd);
          p.fd = -1;
          --open_fds;
        } else if (p.fd == out_fd) {
          stdout_bytes_ += n;
          stdout_lines_ += std::count(buf, buf + n, '\n');
        } else {
          stderr_tail_.append(buf, static_cast<size_t>(n));
          if (stderr_tail_.size() > 4096) stderr_tail_.erase(0, stderr_tail_.size() - 4096);
        }
      }
    }
  }

  std::vector<std::string> argv_, env_;
  bool inherit_env_ = true;
  std::string cwd_;
  bool pipe_stdout_;
  std::vector<int64_t> exit_codes_;
  int64_t exit_code_ = 0, stdout_bytes_ = 0, stdout_lines_ = 0;
  long max_rss_kib_ = 0;
  std::string stderr_tail_;
};

// One sandbox operation in-process: request JSON across the C ABI, result copied back and freed.
class OpSubject : public Subject {
 public:
  OpSubject(const json::object& spec, SandboxPool& pool, std::vector<TraceEntry>* trace)
      : Subject(str_member(spec, "name")),
        sandbox_(pool.get(str_member(spec, "sandbox"))),
        request_(spec.at("request").as_object()),
        input_(str_member(spec, "input")),
        exit_codes_(exit_codes(spec)),
        trace_(trace) {
    auto op = op_from_name(str_member(spec, "op"));
    if (!op) throw std::runtime_error(name() + ": unknown op '" + str_member(spec, "op") + "'");
    op_ = *op;
    if (spec.contains("input")) options_.inputs.push_back(input_);
  }

  void run() override {
    const double t0 = trace_ ? monotonic_seconds() : 0;
    last_ = sandbox_.call(op_, request_, options_);
    if (trace_) trace_->push_back({name(), t0, monotonic_seconds()});
    if (!last_.ok())
      throw std::runtime_error(name() + ": " + std::string(op_name(op_)) +
                               " failed: " + last_.code() + ": " + last_.message());
    if (auto* ec = last_.body.if_contains("exit_code");
        ec && ec->is_int64() &&
        std::find(exit_codes_.begin(), exit_codes_.end(), ec->as_int64()) == exit_codes_.end())
      throw std::runtime_error(name() + ": exit code " + std::to_string(ec->as_int64()));
  }

  // The result's shape without its bulk: arrays by their length, scalars as they are.
  json::object summary() const override {
    json::object s{{"status", last_.code()}};
    for (const auto& [k, v] : last_.body) {
      if (v.is_array())
        s[k] = v.as_array().size();
      else if (v.is_bool() || v.is_number())
        s[k] = v;
    }
    size_t bytes = 0;
    for (const auto& b : last_.buffers) bytes += b.size();
    if (!last_.buffers.empty()) s["buffer_bytes"] = bytes;
    return s;
  }

 private:
  Sandbox& sandbox_;
  Op op_{};
  json::object request_;
  std::string input_;
  std::vector<int64_t> exit_codes_;
  CallOptions options_;
  std::vector<TraceEntry>* trace_;
  OpResult last_;
};

// The JSON work of one ABI call done in-process (request serialised and parsed, a typical
// execute result serialised and parsed): what the plugin boundary costs beyond it.
class JsonRoundTrip : public Subject {
 public:
  using Subject::Subject;
  void run() override {
    const json::object req{{"command", "x"}};
    auto v = json::parse(json::serialize(req));
    const json::object res{{"exit_code", 0},   {"output", "out:err:x"}, {"stdout", "out:x"},
                           {"stderr", "err:"}, {"truncated", false},    {"timed_out", false},
                           {"duration_ms", 0}};
    auto back = json::parse(json::serialize(res));
    size_ = v.as_object().size() + back.as_object().size();
  }
  json::object summary() const override { return {{"members", size_}}; }

 private:
  size_t size_ = 0;
};

// A file read into memory with std::ifstream: `read` with no sandbox and no ABI.
class IfstreamRead : public Subject {
 public:
  IfstreamRead(std::string name, std::string path) : Subject(std::move(name)), path_(path) {}
  void run() override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw std::runtime_error(name() + ": cannot open " + path_);
    const std::string s((std::istreambuf_iterator<char>(in)), {});
    bytes_ = s.size();
  }
  json::object summary() const override { return {{"buffer_bytes", bytes_}}; }

 private:
  std::string path_;
  size_t bytes_ = 0;
};

}  // namespace

SandboxPool::SandboxPool(const json::object& specs) : specs_(specs) {}

SandboxPool::~SandboxPool() {
  // Sandboxes first: each holds its plugin's library, which its registry also references.
  sandboxes_.clear();
}

Sandbox& SandboxPool::get(const std::string& name) {
  if (auto it = sandboxes_.find(name); it != sandboxes_.end()) return *it->second;
  const auto* spec = specs_.if_contains(name);
  if (!spec || !spec->is_object()) throw std::runtime_error("no sandbox named '" + name + "'");
  const auto& s = spec->as_object();
  auto reg = std::make_unique<PluginRegistry>();
  const std::string plugin = str_member(s, "plugin"), type = str_member(s, "type");
  reg->load_file(plugin, "bench");
  auto loaded = reg->find(type);
  if (!loaded) {
    std::string why = "not loaded";
    for (const auto& r : reg->reports())
      if (r.error) why = *r.error;
    throw std::runtime_error("sandbox '" + name + "': plugin " + plugin + ": " + why);
  }
  std::optional<std::string> session;
  if (auto* k = s.if_contains("session"); k && k->is_string())
    session = std::string(k->as_string());
  json::object config;
  if (auto* c = s.if_contains("config"); c && c->is_object()) config = c->as_object();
  OpResult err;
  auto sb = Sandbox::create(loaded, config, session, err);
  if (!sb) throw std::runtime_error("sandbox '" + name + "': create failed: " + err.message());
  registries_.push_back(std::move(reg));
  return *(sandboxes_[name] = std::move(sb));
}

std::unique_ptr<Subject> make_subject(const json::object& spec, SandboxPool& pool,
                                      std::vector<TraceEntry>* trace) {
  if (spec.contains("argv")) return std::make_unique<CommandSubject>(spec);
  if (spec.contains("op")) return std::make_unique<OpSubject>(spec, pool, trace);
  const std::string builtin = str_member(spec, "builtin"), name = str_member(spec, "name");
  if (builtin == "json_roundtrip") return std::make_unique<JsonRoundTrip>(name);
  if (builtin == "ifstream") return std::make_unique<IfstreamRead>(name, str_member(spec, "path"));
  throw std::runtime_error("subject '" + name + "': needs argv, op or a known builtin");
}

}  // namespace agent_runner::bench
