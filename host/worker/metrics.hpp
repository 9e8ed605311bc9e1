// SPDX-License-Identifier: Apache-2.0
// The worker's Prometheus metrics and the small HTTP server that serves them on /metrics
// (`worker --metrics-listen ADDR:PORT`, Boost.Beast). Counters are atomics: the worker's threads
// update them, the server thread reads them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace agent_runner::worker {

struct WorkerMetrics {
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> succeeded{0}, failed{0}, cancelled{0}, crashed{0};
  std::atomic<int64_t> running{0};
  std::atomic<uint64_t> reclaimed{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> redis_reconnects{0};
  std::atomic<uint64_t> events_dropped{0};

  // Job duration histogram, seconds.
  static constexpr std::array<double, 12> kBuckets = {0.1, 0.25, 0.5, 1,   2.5,  5,
                                                      10,  30,   60,  300, 1800, 3600};
  void observe_duration(double seconds);
  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::array<uint64_t, kBuckets.size()> bucket_counts_{};
  uint64_t duration_count_ = 0;
  double duration_sum_ = 0;
};

// Serves GET /metrics on `listen` ("ADDR:PORT"; PORT 0 picks a free port) from its own thread,
// one bounded request at a time (a slow or oversized client is cut off, never waited on).
class MetricsServer {
 public:
  // Throws std::runtime_error with a clear message when the address is bad or taken.
  MetricsServer(const std::string& listen, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // The port actually bound.
  int port() const { return port_; }

 private:
  void serve();

  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::function<std::string()> render_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace agent_runner::worker
