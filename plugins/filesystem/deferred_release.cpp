// SPDX-License-Identifier: Apache-2.0
#include "deferred_release.hpp"

#include <signal.h>

#include <system_error>
#include <utility>

namespace agent_runner::fs_plugin {

void DeferredRelease::release(sdk::Fd fd, uint64_t bytes) {
  if (!fd) return;
  std::unique_lock lock(mutex_);
  if (stopped_ || queue_.size() + closing_ >= kMaxPending ||
      queued_bytes_ + bytes > kMaxPendingBytes)
    return;  // `fd` closes here, on the caller's thread
  if (!thread_.joinable()) {
    // The thread must not take a signal meant for the host (SIGINT, SIGTERM, SIGCHLD): it starts
    // with every signal blocked.
    sigset_t all, old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (!thread_.joinable()) {
      stopped_ = true;  // no thread: every later release closes on the spot
      return;
    }
  }
  queued_bytes_ += bytes;
  queue_.push_back({std::move(fd), bytes});
  lock.unlock();
  cv_.notify_one();
}

void DeferredRelease::run() {
  std::vector<Item> batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopped, nothing left
    batch.swap(queue_);
    queued_bytes_ = 0;
    closing_ = batch.size();
    lock.unlock();
    batch.clear();  // the closes: the replaced files are freed here
    lock.lock();
    freed_ += closing_;
    closing_ = 0;
    idle_cv_.notify_all();
  }
}

void DeferredRelease::flush() {
  std::vector<Item> mine;
  std::unique_lock lock(mutex_);
  mine.swap(queue_);
  queued_bytes_ = 0;
  idle_cv_.wait(lock, [&] { return closing_ == 0; });
  lock.unlock();
  const size_t n = mine.size();
  mine.clear();
  lock.lock();
  freed_ += n;
}

uint64_t DeferredRelease::freed() const {
  std::lock_guard lock(mutex_);
  return freed_;
}

void DeferredRelease::drain() {
  std::thread t;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();  // the thread closes what is queued before it returns
  std::lock_guard lock(mutex_);
  queue_.clear();
  queued_bytes_ = 0;
}

}  // namespace agent_runner::fs_plugin
