// SPDX-License-Identifier: Apache-2.0
// Drops the last reference to files that a write replaced, on a thread of its own.
//
// write_file replaces a file by renaming a new one over it, and the rename frees the old file
// there and then, in the caller's time. On ext4 mounted with `discard` (this project's CI
// machines are) that frees the old file's blocks with a discard the thread waits for: perf shows
// a replace of a 4 KiB file blocked in ext4_evict_inode -> ext4_free_blocks ->
// blkdev_issue_discard for about 0.2 ms of its 0.35 ms. Holding a reference to the old file
// across the rename (an O_PATH descriptor) moves that work to the descriptor's close, which this
// class does after the caller has its answer.
//
// Bounded: at most kMaxPending descriptors, holding kMaxPendingBytes of replaced files, wait at a
// time; beyond that, or when no thread can be started, the caller's descriptor is closed on the
// spot, as without this class. drain() (the sandbox's release) and the destructor close what is
// pending and stop the thread, so no space stays taken after the sandbox is gone.
#pragma once

#include <agent_runner/fd.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace agent_runner::fs_plugin {

class DeferredRelease {
 public:
  static constexpr size_t kMaxPending = 64;
  static constexpr uint64_t kMaxPendingBytes = uint64_t{64} << 20;

  DeferredRelease() = default;
  ~DeferredRelease() { drain(); }
  DeferredRelease(const DeferredRelease&) = delete;
  DeferredRelease& operator=(const DeferredRelease&) = delete;

  // Takes `fd`, a reference to a replaced file of `bytes` bytes, and closes it soon; or now, when
  // the bounds are reached or after drain().
  void release(sdk::Fd fd, uint64_t bytes);
  // Closes everything pending now (on this thread, or waits for the thread's closes).
  void flush();
  // How many replaced files were freed so far (a write that found the disk full tries again
  // when this moved).
  uint64_t freed() const;
  // Closes everything pending and stops the thread; later release() calls close on the spot.
  void drain();

 private:
  struct Item {
    sdk::Fd fd;
    uint64_t bytes;
  };
  void run();

  mutable std::mutex mutex_;
  std::condition_variable cv_;       // the thread waits for work
  std::condition_variable idle_cv_;  // flush() waits for the thread's closes
  std::vector<Item> queue_;
  uint64_t queued_bytes_ = 0;
  size_t closing_ = 0;  // taken off the queue by the thread, not closed yet
  uint64_t freed_ = 0;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace agent_runner::fs_plugin
