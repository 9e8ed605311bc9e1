// SPDX-License-Identifier: Apache-2.0
// A job's process: the host re-executed as `__run-job` with the job on its stdin (a memfd), its
// events pipe on descriptor 3 and a private directory for the job's inlined files.
#include "worker/spawn.hpp"
#include "worker/worker_impl.hpp"

#include <agent_runner/fd.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace agent_runner::worker {

boost::system::result<void, std::string> Worker::Impl::spawn(Job& job, const std::string& payload) {
  int memfd = ::memfd_create("agent-runner-job", MFD_CLOEXEC);
  if (memfd < 0) return std::string("memfd_create: ") + std::strerror(errno);
  if (const int err = sdk::write_all(memfd, payload)) {
    ::close(memfd);
    return std::string("writing the job: ") + std::strerror(err);
  }
  ::lseek(memfd, 0, SEEK_SET);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    const int err = errno;
    ::close(memfd);
    return std::string("pipe: ") + std::strerror(err);
  }
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/agent-runner-job-XXXXXX";
  if (!::mkdtemp(dir.data())) {
    std::string error =
        "cannot create a directory for the job's files in " + dir + ": " + std::strerror(errno);
    ::close(memfd);
    ::close(p[0]);
    ::close(p[1]);
    if (devnull >= 0) ::close(devnull);
    return error;
  }
  job.dir = dir;
  std::vector<std::string> args = o.child_argv;
  args.insert(args.end(), {"--dir", dir});
  const pid_t pid = spawn_child(args, {{0, memfd}, {1, devnull}, {3, p[1]}});
  const int spawn_errno = errno;
  ::close(memfd);
  ::close(p[1]);
  if (devnull >= 0) ::close(devnull);
  if (pid < 0) {
    ::close(p[0]);
    remove_dir(job.dir);
    return std::string("fork: ") + std::strerror(spawn_errno);
  }
  ::fcntl(p[0], F_SETFL, ::fcntl(p[0], F_GETFL) | O_NONBLOCK);
  job.pid = pid;
  job.events_fd = p[0];
  return {};
}

void Worker::Impl::remove_dir(const std::string& dir) {
  std::error_code ec;
  if (!dir.empty()) std::filesystem::remove_all(dir, ec);
}

}  // namespace agent_runner::worker
