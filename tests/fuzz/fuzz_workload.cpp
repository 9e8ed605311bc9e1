// SPDX-License-Identifier: Apache-2.0
// The workload loader on untrusted files: any bytes give a workload or a list of errors.
#include "workload.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const std::map<std::string, std::string> env = {{"HOST_TOKEN", "fuzz-secret-0000"},
                                                         {"SHORT", "abc"}};
  auto load = agent_runner::load_workload_text(text, "/nonexistent/fuzz/workload.yaml", env);
  if (load.workload && load.workload->steps.empty() && load.errors.empty()) return 0;
  return 0;
}
