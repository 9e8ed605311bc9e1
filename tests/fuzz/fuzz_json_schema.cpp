// SPDX-License-Identifier: Apache-2.0
// The JSON Schema validator on untrusted instances: against the workload schema and every MCP
// tool's input schema, and (when the input is {"schema": ..., "instance": ...}) with a schema of
// the fuzzer's own, which the step budget must keep finite.
#include "json_schema.hpp"
#include "mcp_tools.hpp"
#include "workload.hpp"
#include "yaml_json.hpp"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::json::value v;
  try {
    v = agent_runner::parse_json_bounded(text, agent_runner::InputLimits{});
  } catch (const agent_runner::YamlError&) {
    return 0;
  }
  (void)agent_runner::validate_json_schema(agent_runner::workload_schema(), v);
  for (const auto& tool : agent_runner::mcp::tool_specs())
    (void)agent_runner::validate_json_schema(tool.input_schema, v);
  if (v.is_object()) {
    const auto& o = v.get_object();
    const auto* schema = o.if_contains("schema");
    const auto* instance = o.if_contains("instance");
    if (schema && instance) (void)agent_runner::validate_json_schema(*schema, *instance);
  }
  return 0;
}
