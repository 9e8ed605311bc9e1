// An owned POSIX file descriptor (header-only): closed when the owner goes, movable, not
// copyable. For plugins that work through directory fds (openat2 and *at() calls).
#pragma once

#include <unistd.h>

#include <utility>

namespace agent_runner::sdk {
inline namespace v1 {

class Fd {
 public:
  Fd() = default;
  // Takes ownership of `fd` (a negative value means none).
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }
  // Closes the held descriptor (if any) and takes `fd`.
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace v1
}  // namespace agent_runner::sdk
