// SPDX-License-Identifier: Apache-2.0
// An MCP tool call's arguments: checked against the tool's input schema (with the field named for
// the model), turned into the plugin's request by the operations module, and bounded by the
// server's limits.
#include "json_schema.hpp"
#include "mcp_tools.hpp"
#include "operations.hpp"

namespace agent_runner::mcp {
namespace {

namespace json = boost::json;

constexpr int64_t kDefaultReadLimit = 2000;
constexpr int64_t kPluginDefaultMatches = 1000;  // grep without max_matches, in both plugins

// Arguments the schema calls integers must also fit the integers the host and the plugins use:
// JSON Schema accepts 6.7e79 as an integer.
std::string check_integer_ranges(const json::object& schema, const json::object& args,
                                 const std::string& prefix) {
  const json::value* props = schema.if_contains("properties");
  if (!props || !props->is_object()) return "";
  std::string out;
  for (const auto& [key, sub] : props->get_object()) {
    const json::value* v = args.if_contains(key);
    if (!v || !sub.is_object()) continue;
    const auto& so = sub.get_object();
    if (const auto* items = so.if_contains("items"); v->is_array() && items && items->is_object()) {
      for (size_t i = 0; i < v->get_array().size(); ++i)
        if (v->get_array()[i].is_object())
          out += check_integer_ranges(items->get_object(), v->get_array()[i].get_object(),
                                      prefix + std::string(key) + "/" + std::to_string(i) + "/");
      continue;
    }
    if (string_member(so, "type") != "integer" || exact_int(*v)) continue;
    const int64_t min = int_member(so, "minimum").value_or(INT64_MIN);
    out += "\n  - " + prefix + std::string(key) + ": must be an integer between " +
           std::to_string(min) + " and " + std::to_string(INT64_MAX) + " (got " +
           json::serialize(*v) + ")";
  }
  return out;
}

}  // namespace

PreparedCall prepare_call(const ToolSpec& tool, const json::object& args,
                          const CallLimits& limits) {
  PreparedCall call;
  call.op = tool.op;
  call.limits = limits;
  auto problems = validate_json_schema(tool.input_schema, args);
  std::string ranges = problems.empty() ? check_integer_ranges(tool.input_schema, args, "") : "";
  if (!problems.empty() || !ranges.empty()) {
    call.error = "Invalid arguments for " + tool.name + ":" + ranges;
    for (const auto& p : problems)
      call.error += "\n  - " +
                    (p.pointer.empty() ? std::string("arguments") : p.pointer.substr(1)) + ": " +
                    p.message;
    std::string names;
    for (const auto& [k, v] : tool.input_schema.at("properties").as_object())
      names += (names.empty() ? "" : ", ") + std::string(k);
    call.error += "\nArguments of " + tool.name + ": " + names + ".";
    return call;
  }
  auto made = make_request(tool.op, Front::tool, args);
  if (!made) {
    call.error = "Invalid arguments for " + tool.name + ":\n  - " + made.error().message;
    return call;
  }
  call.request = std::move(made->body);
  call.inputs = std::move(made->inputs);
  json::object& req = call.request;
  switch (tool.op) {
    case Op::read:
      // A model reads a page at a time: a whole large file would flood its context.
      if (!req.contains("offset")) req["offset"] = 0;
      if (!req.contains("limit")) req["limit"] = kDefaultReadLimit;
      break;
    case Op::grep:
      // The plugin builds every match in memory before answering: cap what it may build. (Left
      // out, the plugins' own default of 1000 applies.)
      if (const int64_t asked = int_member(req, "max_matches").value_or(kPluginDefaultMatches);
          static_cast<uint64_t>(asked) > limits.max_matches) {
        req["max_matches"] = limits.max_matches;
        if (args.contains("max_matches"))
          call.note = "max_matches " + std::to_string(asked) + " was lowered to " +
                      std::to_string(limits.max_matches) +
                      ", this server's limit per call (serve --max-matches)";
      }
      break;
    default:
      break;
  }
  return call;
}

}  // namespace agent_runner::mcp
