// SPDX-License-Identifier: Apache-2.0
#include "bounded_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace agent_runner {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

}  // namespace

std::string size_text(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::optional<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                             std::string& error) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block forever. It has no effect on
  // reading a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    error = std::string("is ") + kind_of(st.st_mode) + ", not a regular file";
    ::close(fd);
    return std::nullopt;
  }
  const std::string too_big = "is larger than the limit of " + size_text(max_bytes);
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) {
    error = too_big;
    ::close(fd);
    return std::nullopt;
  }
  // The size can change while we read (and /proc files report 0): read at most one byte past the
  // limit, whatever fstat said.
  std::string data;
  data.resize(std::min<size_t>(static_cast<size_t>(st.st_size), max_bytes) + 1);
  size_t used = 0;
  for (;;) {
    if (used == data.size()) {
      if (data.size() > max_bytes) break;
      data.resize(std::min(max_bytes + 1, data.size() * 2 + 4096));
    }
    ssize_t n = ::read(fd, data.data() + used, data.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  if (used > max_bytes) {
    error = too_big;
    return std::nullopt;
  }
  data.resize(used);
  return data;
}

}  // namespace agent_runner
