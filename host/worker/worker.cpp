// SPDX-License-Identifier: Apache-2.0
// The worker's loop and lifecycle: start, the poll loop, signals, leases, cancellation and the
// drain at shutdown. Taking, spawning, forwarding and finalizing jobs are in worker_*.cpp.
#include "worker/worker_impl.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>

namespace agent_runner::worker {
using std::chrono::milliseconds;

namespace {

// The lease: resets the idle time of the entries this consumer still owns (XCLAIM JUSTID does not
// count a delivery) and returns them; an entry another worker took over is left alone, so a job
// never runs twice at the same time.
constexpr const char* kRefreshScript = R"lua(
local mine = {}
for i = 2, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], 'agent-runner', ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[1] then
    redis.call('XCLAIM', KEYS[1], 'agent-runner', ARGV[1], 0, ARGV[i], 'JUSTID')
    mine[#mine + 1] = ARGV[i]
  end
end
return mine
)lua";

}  // namespace

void Worker::Impl::refresh_leases() {
  if (jobs.empty() || !ctl.ensure_connected()) return;
  std::vector<std::string> cmd{"EVAL", kRefreshScript, "1", o.queue, o.consumer};
  std::vector<Job*> mine;
  for (auto& [pid, j] : jobs)
    if (!j.lost_lease) {
      cmd.push_back(j.entry);
      mine.push_back(&j);
    }
  if (mine.empty()) return;
  try {
    auto r = ctl.command(cmd);
    if (r.is_error()) {
      log->warn("lease refresh failed: {}", r.str);
      return;
    }
    std::set<std::string> kept;
    for (const auto& e : r.elements) kept.insert(e.str);
    for (Job* j : mine)
      if (!kept.count(j->entry)) {
        j->lost_lease = true;
        ::kill(-j->pid, SIGKILL);
      }
  } catch (const RedisError&) {
  }
}

void Worker::Impl::poll_cancels() {
  if (jobs.empty() || !ctl.connected()) return;
  std::vector<std::vector<std::string>> cmds;
  std::vector<Job*> order;
  for (auto& [pid, j] : jobs)
    if (!j.cancel_requested) {
      cmds.push_back({"HGET", job_key(j.id), "cancel_requested"});
      order.push_back(&j);
    }
  if (cmds.empty()) return;
  try {
    auto replies = ctl.pipeline(cmds);
    for (size_t i = 0; i < replies.size(); ++i)
      if (!replies[i].is_nil() && !replies[i].is_error()) {
        order[i]->cancel_requested = true;
        log->info("job {}: cancel requested", order[i]->id);
        stop(*order[i]);
      }
  } catch (const RedisError&) {
  }
}

// SIGTERM to the job's process: its runner cancels the running step (the plugin kills the
// command's tree) and ends the workload as cancelled. SIGKILL to its group a second later.
void Worker::Impl::stop(Job& j) {
  if (j.term_sent) return;
  ::kill(j.pid, SIGTERM);
  j.term_sent = Clock::now();
}

void Worker::Impl::escalate() {
  for (auto& [pid, j] : jobs)
    if (j.term_sent && !j.killed && Clock::now() - *j.term_sent >= milliseconds(1000)) {
      ::kill(-j.pid, SIGKILL);
      j.killed = true;
    }
}

void Worker::Impl::begin_drain() {
  draining = true;
  drain_deadline = Clock::now() + o.drain_timeout;
  {
    std::lock_guard lock(mutex);
    stop_reading = true;
  }
  cv.notify_all();
  log->info("draining: no new jobs; {} running may finish within {}s", jobs.size(),
            o.drain_timeout.count());
}

void Worker::Impl::cancel_all_for_shutdown() {
  for (auto& [pid, j] : jobs) {
    if (!j.cancel_requested) j.drain_cancelled = true;
    stop(j);
  }
}

void Worker::Impl::handle_signals() {
  signalfd_siginfo si{};
  while (::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGCHLD) {
      reap();
    } else if (++signals == 1) {
      log->info("signal {}: draining", signal_name(static_cast<int>(si.ssi_signo)));
      begin_drain();
    } else {
      log->warn("second signal: cancelling {} running jobs now (they go back to the queue)",
                jobs.size());
      cancel_all_for_shutdown();
    }
  }
}

Worker::Worker(WorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Worker::~Worker() = default;

void Worker::start() {
  auto& m = *impl_;
  // Signals arrive through a descriptor (run()); blocked before any thread starts (the metrics
  // server's), so every thread inherits the mask and none takes SIGTERM's default action.
  sigemptyset(&m.signals_set);
  for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&m.signals_set, s);
  ::pthread_sigmask(SIG_BLOCK, &m.signals_set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  m.ctl.connect();
  m.ensure_group(m.ctl);
  // Once running, a lost Redis must not stall the loop that watches the jobs for long.
  m.ctl.set_connect_timeout(milliseconds(1000));
  if (m.o.metrics_listen)
    m.metrics_server =
        std::make_unique<MetricsServer>(*m.o.metrics_listen, [&m] { return m.metrics.render(); });
}

int Worker::run() {
  auto& m = *impl_;
  m.signal_fd = ::signalfd(-1, &m.signals_set, SFD_NONBLOCK | SFD_CLOEXEC);
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Processes a job leaves behind are reparented here and reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  m.free_slots = m.o.concurrency;
  if (!m.o.expire_argv.empty()) m.expiry.emplace(m.o.expire_argv, m.o.expire_every);
  m.reader = std::thread([&m] { m.read_loop(); });
  m.log->info("worker {} serving queue {} at {} (concurrency {}, lease {}s, max_attempts {})",
              m.o.consumer, m.o.queue, m.o.redis.where(), m.o.concurrency, m.o.lease.count(),
              m.o.max_attempts);
  if (m.expiry)
    m.log->info("removing sessions unused for longer than session_ttl, checked every {}s",
                m.o.expire_every.count());
  const auto refresh_every = std::max(milliseconds(200), m.lease_ms() / 3);
  m.next_refresh = Clock::now() + refresh_every;
  m.next_cancel_poll = Clock::now();
  bool cancelled_for_drain = false;
  for (;;) {
    std::vector<pollfd> fds{{m.signal_fd, POLLIN, 0}, {m.wake_fd, POLLIN, 0}};
    std::vector<pid_t> order;
    for (auto& [pid, j] : m.jobs)
      if (j.events_fd >= 0) {
        fds.push_back({j.events_fd, POLLIN, 0});
        order.push_back(pid);
      }
    ::poll(fds.data(), fds.size(), 100);
    if (fds[0].revents) m.handle_signals();
    if (fds[1].revents) m.take_inbox();
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto it = m.jobs.find(order[i - 2]);
      if (it == m.jobs.end() || it->second.events_fd < 0) continue;
      if (!m.read_events(it->second)) {
        ::close(it->second.events_fd);
        it->second.events_fd = -1;
      }
    }
    m.reap();
    m.start_waiting();
    const auto now = Clock::now();
    if (now >= m.next_cancel_poll) {
      m.poll_cancels();
      m.next_cancel_poll = now + milliseconds(200);
    }
    if (now >= m.next_refresh) {
      m.refresh_leases();
      m.next_refresh = now + refresh_every;
    }
    m.escalate();
    if (m.expiry && !m.draining) m.expiry->tick(now);
    m.flush();
    m.metrics.redis_reconnects = m.ctl.reconnects() + m.reader_reconnects.load();
    if (m.draining) {
      if (!cancelled_for_drain && now >= m.drain_deadline) {
        m.log->warn(
            "drain timeout ({}s) passed: cancelling {} running jobs (they go back to the "
            "queue)",
            m.o.drain_timeout.count(), m.jobs.size());
        m.cancel_all_for_shutdown();
        cancelled_for_drain = true;
      }
      if (m.jobs.empty()) break;
    }
  }
  if (m.reader.joinable()) m.reader.join();
  if (m.expiry) m.expiry->stop();
  {
    std::lock_guard lock(m.mutex);
    for (auto& d : m.inbox) m.waiting.push_back(std::move(d));
    m.inbox.clear();
  }
  // Last writes: a few seconds at most if Redis is away.
  for (auto until = Clock::now() + milliseconds(5000); !m.outbox.empty() && Clock::now() < until;) {
    m.flush();
    if (!m.outbox.empty()) std::this_thread::sleep_for(milliseconds(100));
  }
  if (!m.outbox.empty())
    m.log->warn("{} writes to Redis were lost at shutdown (Redis unreachable)", m.outbox.size());
  // A consumer with nothing pending leaves the group (`queue` lists live consumers only); one
  // with pending entries stays, so they can be reclaimed.
  try {
    if (m.ctl.ensure_connected()) {
      auto r = m.ctl.command({"XPENDING", m.o.queue, kGroup, "-", "+", "1", m.o.consumer});
      if (r.is_array() && r.elements.empty())
        m.ctl.command({"XGROUP", "DELCONSUMER", m.o.queue, kGroup, m.o.consumer});
    }
  } catch (const RedisError&) {
  }
  m.log->info("worker {} stopped", m.o.consumer);
  return 0;
}

}  // namespace agent_runner::worker
