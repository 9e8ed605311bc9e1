#include "fake_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <stdexcept>

namespace dt_test {
namespace json = boost::json;
using namespace agent_runner;

HttpReply http(int port, const std::string& method, const std::string& path,
               const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("connect to the fake server failed");
  }
  std::string req =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::write(fd, req.data() + off, req.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  HttpReply r;
  if (resp.size() > 12) r.status = std::atoi(resp.substr(9, 3).c_str());
  auto hdr_end = resp.find("\r\n\r\n");
  if (hdr_end != std::string::npos) r.body = resp.substr(hdr_end + 4);
  return r;
}

FakeDaytona::FakeDaytona(const std::string& tls_cert) : tls_(!tls_cert.empty()) {
  // The plugin prefers DAYTONA_API_KEY to the config's key: a real key in the environment of
  // whoever runs the tests must never reach the test server.
  ::unsetenv("DAYTONA_API_KEY");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string script = std::string(AR_TEST_SOURCE_DIR) + "/tests/daytona/fake_daytona.py";
  pid_ = ::fork();
  if (pid_ == 0) {
    // The server must not outlive a test that crashed or was killed by ctest's timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out[1], 1);
    const char* argv[] = {AR_PYTHON3,
                          script.c_str(),
                          "--api-key",
                          kKey,
                          tls_cert.empty() ? nullptr : "--tls-cert",
                          tls_cert.c_str(),
                          nullptr};
    ::execv(AR_PYTHON3, const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  auto read_line = [&] {
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    return line;
  };
  std::string line = read_line();
  if (line.rfind("PORT ", 0) != 0) throw std::runtime_error("fake server did not start: " + line);
  port_ = admin_port_ = std::atoi(line.c_str() + 5);
  if (tls_) {
    line = read_line();
    if (line.rfind("ADMIN ", 0) != 0) throw std::runtime_error("fake server: no admin port");
    admin_port_ = std::atoi(line.c_str() + 6);
  }
  ::close(out[0]);
}

FakeDaytona::~FakeDaytona() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

void FakeDaytona::reset() {
  http(admin_port_, "POST", "/_admin/reset");
}

void FakeDaytona::configure(const json::object& cfg) {
  http(admin_port_, "POST", "/_admin/config", json::serialize(cfg));
}

void FakeDaytona::faults(const json::array& rules) {
  http(admin_port_, "POST", "/_admin/faults", json::serialize(json::object{{"rules", rules}}));
}

json::object FakeDaytona::state() {
  return json::parse(http(admin_port_, "GET", "/_admin/state").body).as_object();
}

json::array FakeDaytona::sandboxes() {
  return state().at("sandboxes").as_array();
}

json::array FakeDaytona::requests() {
  return state().at("requests").as_array();
}

size_t FakeDaytona::count_requests(const std::string& method, const std::string& path_regex) {
  const std::regex re(path_regex);
  size_t n = 0;
  const json::object st = state();
  for (const auto& r : st.at("requests").as_array()) {
    const auto& o = r.as_object();
    if (o.at("method").as_string() == method &&
        std::regex_search(std::string(o.at("path").as_string()), re))
      ++n;
  }
  return n;
}

void FakeDaytona::set_state(const std::string& id, const std::string& st) {
  http(admin_port_, "POST", "/_admin/sandbox/" + id + "/state",
       json::serialize(json::object{{"state", st}}));
}

void FakeDaytona::set_activity(const std::string& id, double ago_s) {
  http(admin_port_, "POST", "/_admin/sandbox/" + id + "/activity",
       json::serialize(json::object{{"ago_s", ago_s}}));
}

std::shared_ptr<LoadedPlugin> daytona_plugin() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    r.load_file(std::filesystem::path(AR_TEST_PLUGIN_DIR) / "daytona.so", "test");
    return r;
  }();
  return reg.find("daytona");
}

std::shared_ptr<LoadedPlugin> filesystem_plugin() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    auto p = std::filesystem::path(AR_TEST_PLUGIN_DIR) / "filesystem.so";
    if (std::filesystem::exists(p)) r.load_file(p, "test");
    return r;
  }();
  return reg.find("filesystem");
}

json::object config(const FakeDaytona& srv, const json::object& extra) {
  json::object c{{"type", "daytona"},      {"api_key", kKey},         {"api_url", srv.api_url()},
                 {"create_timeout_s", 20}, {"request_timeout_s", 10}, {"connect_timeout_s", 5},
                 {"retry_budget_s", 10}};
  for (const auto& kv : extra) c[kv.key()] = kv.value();
  return c;
}

std::unique_ptr<Sandbox> open(const json::object& cfg, const std::optional<std::string>& session) {
  OpResult err;
  auto sb = Sandbox::create(daytona_plugin(), cfg, session, err);
  EXPECT_TRUE(sb) << err.code() << ": " << err.message();
  return sb;
}

}  // namespace dt_test
