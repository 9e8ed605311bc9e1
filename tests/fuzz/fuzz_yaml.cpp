// SPDX-License-Identifier: Apache-2.0
// The YAML (and JSON) reader of configuration and workload files: any bytes either parse under the
// limits or raise YamlError; nothing else (no crash, no other exception, no unbounded growth).
#include "yaml_json.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto doc = agent_runner::parse_yaml(text);
    // Every recorded position must resolve, and pointers that do not exist fall back upwards.
    for (const auto& [pointer, pos] : doc.positions) (void)doc.position_of(pointer + "/x/0");
    (void)boost::json::serialize(doc.value);
  } catch (const agent_runner::YamlError&) {
  }
  try {
    agent_runner::InputLimits limits;
    limits.max_depth = 16;
    (void)agent_runner::parse_json_bounded(text, limits);
  } catch (const agent_runner::YamlError&) {
  }
  return 0;
}
