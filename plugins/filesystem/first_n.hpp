// SPDX-License-Identifier: Apache-2.0
// The first N results of a search in report order, whatever order the walking threads find them
// in: a search that keeps only these never holds more than N (plus what one file adds), and once
// more than N were seen it knows the last key it keeps, so the walk can pass over everything
// after it without changing the answer.
#pragma once

#include <atomic>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::fs_plugin {

template <class T>
class FirstN {
 public:
  explicit FirstN(size_t limit) : limit_(limit) {}

  // Adds what was found under `key` (a file; its items in their own order). A producer needs to
  // add no more than limit() + 1 items for one key: the one over the limit says truncated.
  void add(std::string key, std::vector<T> items) {
    if (items.empty()) return;
    std::lock_guard<std::mutex> lock(m_);
    total_ += items.size();
    kept_.emplace(std::move(key), std::move(items));
    while (total_ > limit_) {
      over_ = true;
      auto last = std::prev(kept_.end());
      const size_t excess = total_ - limit_;
      if (last->second.size() <= excess) {
        total_ -= last->second.size();
        kept_.erase(last);
      } else {
        last->second.resize(last->second.size() - excess);
        total_ -= excess;
      }
    }
    if (over_) {
      bound_ = kept_.empty() ? std::string() : kept_.rbegin()->first;
      bounded_.store(true, std::memory_order_release);
    }
  }

  // Whether nothing under `key` (a file, or a directory: its files' keys "dir/..." all sort after
  // it) can be kept any more.
  bool past(std::string_view key) const {
    if (!bounded_.load(std::memory_order_acquire)) return false;
    std::lock_guard<std::mutex> lock(m_);
    return key > bound_;
  }

  size_t limit() const { return limit_; }
  // Whether more than limit() items were added.
  bool truncated() const {
    std::lock_guard<std::mutex> lock(m_);
    return over_;
  }
  // What was kept, in key order.
  std::map<std::string, std::vector<T>> take() {
    std::lock_guard<std::mutex> lock(m_);
    return std::move(kept_);
  }

 private:
  const size_t limit_;
  mutable std::mutex m_;
  std::map<std::string, std::vector<T>> kept_;
  size_t total_ = 0;
  bool over_ = false;
  std::string bound_;
  std::atomic<bool> bounded_{false};
};

}  // namespace agent_runner::fs_plugin
