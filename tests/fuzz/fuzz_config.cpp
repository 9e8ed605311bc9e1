// SPDX-License-Identifier: Apache-2.0
// The configuration loader on an untrusted --config file. The bytes are put in a memory file that
// the loader reads through /proc/self/fd, exactly as it reads a real one.
#include "config.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = ::memfd_create("fuzz-config", MFD_CLOEXEC);
  if (fd < 0 || ::ftruncate(fd, 0) != 0) return 0;
  if (size && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  agent_runner::CliOverrides cli;
  cli.config_file = "/proc/self/fd/" + std::to_string(fd);
  for (const char* mode : {"local", "cloud"}) {
    agent_runner::EnvMap env = {{"MODE", mode}, {"DAYTONA_API_KEY", "fuzz-key-0000"}};
    auto load = agent_runner::load_config(cli, env);
    if (load.config) (void)load.config->sandbox_config();
    for (const auto& p : load.problems) (void)p.to_string();
  }
  return 0;
}
