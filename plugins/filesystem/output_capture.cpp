#include "output_capture.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace agent_runner::fs_plugin {
namespace {

void set_nonblock(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

}  // namespace

OutputCapture::OutputCapture(Fd out_r, Fd err_r, uint64_t max_bytes, sdk::Call& call)
    : call_(call),
      combined_(max_bytes),
      out_{std::move(out_r), HeadTail(max_bytes), AR_STREAM_STDOUT},
      err_{std::move(err_r), HeadTail(max_bytes), AR_STREAM_STDERR} {
  set_nonblock(out_.fd.get());
  set_nonblock(err_.fd.get());
}

int OutputCapture::add_to(pollfd* pfd) {
  int n = 0;
  for (Stream* s : {&out_, &err_})
    if (s->fd) pfd[n++] = {s->fd.get(), POLLIN, 0};
  return n;
}

void OutputCapture::read_ready(const pollfd* pfd, int n) {
  for (int i = 0; i < n; ++i) {
    if (!pfd[i].revents) continue;
    for (Stream* s : {&out_, &err_})
      if (s->fd && s->fd.get() == pfd[i].fd) pump(*s);
  }
}

bool OutputCapture::truncated() const {
  return combined_.truncated() || out_.cap.truncated() || err_.cap.truncated();
}

void OutputCapture::pump(Stream& s) {
  static thread_local char buf[1 << 16];
  // A bounded number of reads per wakeup, so one busy stream does not starve the other or the
  // timeout check.
  for (int i = 0; i < 16; ++i) {
    ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
    if (n > 0) {
      std::string_view chunk(buf, static_cast<size_t>(n));
      s.cap.append(chunk);
      combined_.append(chunk);
      call_.emit(s.id, chunk);
      continue;
    }
    if (n == 0) {
      s.fd.reset();
    } else if (errno == EINTR) {
      continue;
    }
    return;
  }
}

}  // namespace agent_runner::fs_plugin
