// SPDX-License-Identifier: Apache-2.0
#include "redis_fixture.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <thread>

namespace ar_test {
namespace fs = std::filesystem;
using agent_runner::worker::RedisClient;
using agent_runner::worker::RedisEndpoint;
using agent_runner::worker::RedisError;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

pid_t spawn(const std::vector<std::string>& argv, const Env& env, const fs::path& out,
            const fs::path& err) {
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> copy = argv;
  for (auto& s : copy) args.push_back(s.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool eventually(const std::function<bool()>& ok, std::chrono::seconds limit) {
  for (auto until = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < until;) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok();
}

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void RedisServer::start() {
  std::vector<std::string> argv{"/usr/bin/redis-server",
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--dir",
                                dir_.path().string(),
                                "--save",
                                "",
                                "--daemonize",
                                "no",
                                "--protected-mode",
                                "no",
                                "--appendonly",
                                options_.aof ? "yes" : "no",
                                "--appendfsync",
                                "always"};
  if (options_.password) argv.insert(argv.end(), {"--requirepass", *options_.password});
  if (!fs::exists(argv[0]))
    throw std::runtime_error("redis-server is not installed: scripts/install-deps.sh installs it");
  pid_ = spawn(argv, base_env(), dir_.path() / "redis.out", dir_.path() / "redis.log");
  bool up = eventually(
      [&] {
        RedisEndpoint ep;
        ep.host = "127.0.0.1";
        ep.port = port_;
        ep.password = options_.password;
        RedisClient c(ep);
        try {
          c.connect();
          return true;
        } catch (const RedisError&) {
          return false;
        }
      },
      std::chrono::seconds(20));
  if (!up)
    throw std::runtime_error("redis-server did not start: " + slurp(dir_.path() / "redis.out"));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  try {
    client()->command({"SHUTDOWN"});
  } catch (const RedisError&) {
    // SHUTDOWN closes the connection without a reply.
  }
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  conn_.reset();
}

void RedisServer::restart() {
  stop();
  start();
}

std::unique_ptr<RedisClient> RedisServer::client() const {
  RedisEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port_;
  ep.password = options_.password;
  auto c = std::make_unique<RedisClient>(ep);
  c->connect();
  return c;
}

agent_runner::worker::RedisReply RedisServer::cmd(const std::vector<std::string>& args) const {
  try {
    if (!conn_ || !conn_->connected()) conn_ = client();
    return conn_->command(args);
  } catch (const RedisError& e) {
    if (!e.connection) throw;
    conn_ = client();
    return conn_->command(args);
  }
}

Background::Background(const std::vector<std::string>& argv, const Env& env,
                       const fs::path& out_dir, const std::string& name)
    : out_(out_dir / (name + ".out")), err_(out_dir / (name + ".err")) {
  pid_ = spawn(argv, env, out_, err_);
}

Background::~Background() {
  if (!code_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Background::signal(int sig) const {
  ::kill(pid_, sig);
}

std::optional<int> Background::wait(std::chrono::seconds limit) {
  if (code_) return code_;
  eventually(
      [&] {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
        code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
      },
      limit);
  return code_;
}

bool Background::running() {
  if (code_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::string Background::out() const {
  return slurp(out_);
}
std::string Background::err() const {
  return slurp(err_);
}

namespace {
// /proc files of processes that may be gone by now: read(2), which fails quietly (an ifstream
// throws from inside its buffer when the process vanished mid-read).
std::string read_proc(const fs::path& p) {
  std::string out;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}
std::string cmdline_of(const fs::path& proc) {
  return read_proc(proc / "cmdline");
}
// "S" from /proc/PID/stat, and the parent pid.
bool stat_of(const fs::path& proc, char& state, pid_t& ppid) {
  std::string s = read_proc(proc / "stat");
  auto close = s.rfind(')');
  if (close == std::string::npos || close + 4 >= s.size()) return false;
  state = s[close + 2];
  ppid = std::atoi(s.c_str() + close + 4);
  return true;
}
}  // namespace

int children_with(pid_t pid, const std::string& marker) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    char state = 0;
    pid_t ppid = 0;
    if (!stat_of(e.path(), state, ppid) || ppid != pid || state == 'Z') continue;
    if (cmdline_of(e.path()).find(marker) != std::string::npos) ++n;
  }
  return n;
}

std::vector<pid_t> processes_with(const std::string& marker) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::to_string(::getpid()) == name) continue;
    char state = 0;
    pid_t ppid = 0;
    if (!stat_of(e.path(), state, ppid) || state == 'Z') continue;
    if (cmdline_of(e.path()).find(marker) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace ar_test
