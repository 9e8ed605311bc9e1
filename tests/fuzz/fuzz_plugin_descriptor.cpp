// SPDX-License-Identifier: Apache-2.0
// The plugin descriptor checks on what a probe child sends back: the bytes come from a process
// that ran untrusted code, so decoding must refuse anything malformed, and whatever decodes must
// survive the checks and re-encode to the same bytes.
#include "plugin_probe.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto d = agent_runner::decode_descriptor(bytes, error);
  if (!d) return 0;
  (void)agent_runner::check_descriptor(*d);
  if (agent_runner::encode_descriptor(*d) != bytes) std::abort();  // decoding lost or made up data
  return 0;
}
