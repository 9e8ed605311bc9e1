// SPDX-License-Identifier: Apache-2.0
#include "worker/metrics.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace agent_runner::worker {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

void WorkerMetrics::observe_duration(double seconds) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  ++duration_count_;
  duration_sum_ += seconds;
}

std::string WorkerMetrics::render() const {
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
      << name << " " << v << "\n";
  };
  counter("agent_runner_jobs_started_total", "Jobs this worker started (every attempt).",
          started.load());
  o << "# HELP agent_runner_jobs_finished_total Job attempts that ended, by status.\n"
    << "# TYPE agent_runner_jobs_finished_total counter\n";
  for (auto [status, v] : {std::pair{"succeeded", succeeded.load()},
                           {"failed", failed.load()},
                           {"cancelled", cancelled.load()},
                           {"crashed", crashed.load()}})
    o << "agent_runner_jobs_finished_total{status=\"" << status << "\"} " << v << "\n";
  o << "# HELP agent_runner_jobs_running Jobs running now.\n"
    << "# TYPE agent_runner_jobs_running gauge\nagent_runner_jobs_running " << running.load()
    << "\n";
  counter("agent_runner_jobs_reclaimed_total",
          "Jobs taken over from a consumer whose lease expired.", reclaimed.load());
  counter("agent_runner_jobs_dead_lettered_total", "Entries moved to the dead-letter stream.",
          dead_lettered.load());
  counter("agent_runner_redis_reconnects_total", "Reconnections to Redis after a lost connection.",
          redis_reconnects.load());
  counter("agent_runner_events_dropped_total",
          "Output events dropped because Redis was away and the buffer was full.",
          events_dropped.load());
  std::lock_guard lock(mutex_);
  o << "# HELP agent_runner_job_duration_seconds How long job attempts ran.\n"
    << "# TYPE agent_runner_job_duration_seconds histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    char le[32];
    std::snprintf(le, sizeof le, "%g", kBuckets[i]);
    o << "agent_runner_job_duration_seconds_bucket{le=\"" << le << "\"} " << bucket_counts_[i]
      << "\n";
  }
  o << "agent_runner_job_duration_seconds_bucket{le=\"+Inf\"} " << duration_count_ << "\n"
    << "agent_runner_job_duration_seconds_sum " << duration_sum_ << "\n"
    << "agent_runner_job_duration_seconds_count " << duration_count_ << "\n";
  return o.str();
}

struct MetricsServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

MetricsServer::MetricsServer(const std::string& listen, std::function<std::string()> render)
    : impl_(std::make_unique<Impl>()), render_(std::move(render)) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    throw std::runtime_error("--metrics-listen " + listen +
                             ": expected ADDR:PORT, e.g. 127.0.0.1:9464");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error("--metrics-listen " + listen + ": '" + host +
                             "' is not an IP address (use e.g. 127.0.0.1 or 0.0.0.0)");
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::runtime_error("--metrics-listen " + listen + ": the port must be 0-65535");
  }
  tcp::endpoint ep(addr, static_cast<unsigned short>(port));
  auto& a = impl_->acceptor;
  if (a.open(ep.protocol(), ec) || a.set_option(asio::socket_base::reuse_address(true), ec) ||
      a.bind(ep, ec) || a.listen(16, ec))
    throw std::runtime_error("--metrics-listen " + listen + ": " + ec.message());
  port_ = a.local_endpoint().port();
  thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::serve() {
  auto& a = impl_->acceptor;
  while (!stop_) {
    pollfd p{a.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    boost::system::error_code ec;
    tcp::socket s(impl_->io);
    a.accept(s, ec);
    if (ec) continue;
    // A client gets 2 s to send its request and take the answer.
    timeval tv{2, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    beast::flat_buffer buf(16 * 1024);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(0);
    http::read(s, buf, parser, ec);
    if (ec) continue;
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(false);
    res.set(http::field::server, "agent-runner");
    std::string target(req.target());
    if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
    } else if (target != "/metrics") {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "agent-runner worker: metrics are at /metrics\n";
    } else {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = render_();
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    http::write(s, res, ec);
    s.shutdown(tcp::socket::shutdown_both, ec);
  }
}

}  // namespace agent_runner::worker
