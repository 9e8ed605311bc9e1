// SPDX-License-Identifier: Apache-2.0
#include "output_capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace agent_runner::fs_plugin {
namespace {

// The ring holds at least this much, so that a busy pipe is emptied in few large reads (its
// last tail_cap bytes are the tail; the rest is only room to read into).
constexpr size_t kMinRing = size_t{1} << 19;
// Bytes read per wakeup at most, so a busy command does not starve the timeout check.
constexpr size_t kMaxPerWakeup = size_t{8} << 20;
// Below this pipe size no wait between wakeups (see pump).
constexpr size_t kMinPipeForWait = size_t{256} << 10;

}  // namespace

OutputCapture::OutputCapture(Fd read_end, uint64_t max_bytes, sdk::Call& call)
    : call_(call),
      fd_(std::move(read_end)),
      head_cap_(static_cast<size_t>(max_bytes / 2)),
      tail_cap_(static_cast<size_t>(max_bytes - max_bytes / 2)) {
  ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  const int size = ::fcntl(fd_.get(), F_GETPIPE_SZ);
  pipe_size_ = size > 0 ? static_cast<size_t>(size) : 0;
  // About the time a fast writer takes to fill a quarter of the pipe (~1 GB/s); none for a small
  // pipe, which a fast writer would fill before the wait ends.
  idle_wait_us_ = pipe_size_ >= kMinPipeForWait ? static_cast<unsigned>(pipe_size_ >> 12) : 0;
}

int OutputCapture::add_to(pollfd* pfd) {
  if (!fd_) return 0;
  pfd[0] = {fd_.get(), POLLIN, 0};
  return 1;
}

void OutputCapture::read_ready(const pollfd* pfd, int n) {
  if (n > 0 && pfd[0].revents) pump();
}

char* OutputCapture::next_space(size_t& room) {
  if (head_len_ < head_cap_) {
    if (head_.size() < head_cap_) head_.resize(head_cap_);
    room = head_cap_ - head_len_;
    return head_.data() + head_len_;
  }
  if (!ring_) {
    ring_size_ = std::max(kMinRing, 2 * tail_cap_);
    ring_ = std::make_unique<char[]>(ring_size_);
  }
  room = ring_size_ - ring_pos_;
  return ring_.get() + ring_pos_;
}

void OutputCapture::took(char* at, size_t n) {
  total_ += n;
  if (head_len_ < head_cap_) {
    head_len_ += n;
  } else {
    ring_total_ += n;
    ring_pos_ += n;
    if (ring_pos_ == ring_size_) ring_pos_ = 0;
  }
  call_.emit(AR_STREAM_STDOUT, std::string_view(at, n));
}

void OutputCapture::pump() {
  size_t got = 0;
  while (got < kMaxPerWakeup) {
    size_t room = 0;
    char* at = next_space(room);
    const ssize_t n = ::read(fd_.get(), at, room);
    if (n > 0) {
      took(at, static_cast<size_t>(n));
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      fd_.reset();
      return;
    }
    if (errno == EINTR) continue;
    break;
  }
  // The pipe is empty. When it held little, the command writes in small pieces faster than a
  // wakeup costs, and waking for each piece (poll, read, read) costs more than the copy itself:
  // let the pipe fill for a moment first, long enough to gather a good part of it and far too
  // short to matter to output that trickles in (or to the timeout, or to the command's exit).
  if (fd_ && got > 0 && got < pipe_size_ / 8 && idle_wait_us_ > 0) {
    const timespec ts{0, static_cast<long>(idle_wait_us_) * 1000};
    ::nanosleep(&ts, nullptr);
  }
}

std::string OutputCapture::output() const {
  const size_t tail = static_cast<size_t>(std::min<uint64_t>(ring_total_, tail_cap_));
  std::string out;
  const uint64_t dropped = total_ - head_len_ - tail;
  const std::string marker =
      dropped ? "\n... [" + std::to_string(dropped) + " bytes truncated] ...\n" : std::string();
  out.reserve(head_len_ + marker.size() + tail);
  out.append(head_.data(), head_len_);
  out += marker;
  // The last `tail` bytes written to the ring, ending at ring_pos_.
  if (tail > ring_pos_) {
    out.append(ring_.get() + ring_size_ - (tail - ring_pos_), tail - ring_pos_);
    out.append(ring_.get(), ring_pos_);
  } else if (tail) {
    out.append(ring_.get() + ring_pos_ - tail, tail);
  }
  return out;
}

}  // namespace agent_runner::fs_plugin
