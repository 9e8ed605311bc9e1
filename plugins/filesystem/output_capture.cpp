// SPDX-License-Identifier: Apache-2.0
#include "output_capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace agent_runner::fs_plugin {

OutputCapture::OutputCapture(Fd read_end, uint64_t max_bytes, sdk::Call& call)
    : call_(call), fd_(std::move(read_end)), cap_(max_bytes) {
  ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
}

int OutputCapture::add_to(pollfd* pfd) {
  if (!fd_) return 0;
  pfd[0] = {fd_.get(), POLLIN, 0};
  return 1;
}

void OutputCapture::read_ready(const pollfd* pfd, int n) {
  if (n > 0 && pfd[0].revents) pump();
}

void OutputCapture::pump() {
  static thread_local char buf[1 << 16];
  // A bounded number of reads per wakeup, so a busy command does not starve the timeout check.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n > 0) {
      std::string_view chunk(buf, static_cast<size_t>(n));
      cap_.append(chunk);
      call_.emit(AR_STREAM_STDOUT, chunk);
      continue;
    }
    if (n == 0) {
      fd_.reset();
    } else if (errno == EINTR) {
      continue;
    }
    return;
  }
}

}  // namespace agent_runner::fs_plugin
