// SPDX-License-Identifier: Apache-2.0
// A worker's parser of job entries taken from the queue: anyone who can write to the Redis stream
// controls these bytes. parse_job() bounds the text, checks the document against the workload
// schema and the inlined files against it; materialising is not reached (it writes files).
#include "worker/job.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = agent_runner::worker::parse_job(text, 1u << 20);
  // Exactly one of the two: a job, or the reason it goes to dead letters.
  if (parsed.job.has_value() == !parsed.error.empty()) __builtin_trap();
  return 0;
}
