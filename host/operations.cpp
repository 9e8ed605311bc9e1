// SPDX-License-Identifier: Apache-2.0
// The operation catalogue and the shapes of its operations (schemas/operations.schema.json).
#include "operations.hpp"

#include "operations_schema.hpp"

#include <stdexcept>

namespace agent_runner {
namespace json = boost::json;

const OperationInfo& operation(Op op) {
  return kOperations[static_cast<size_t>(op)];
}

std::optional<Op> op_from_tool(std::string_view tool) {
  for (const auto& o : kOperations)
    if (o.tool == tool) return o.op;
  return std::nullopt;
}

const json::object& operations_schema() {
  static const json::object schema = json::parse(kOperationsSchema).as_object();
  return schema;
}

namespace {

const json::object& defs() {
  return operations_schema().at("$defs").as_object();
}

// In the order of enum Shape.
constexpr std::string_view kShapeSuffix[] = {"arguments", "request", "result", "output"};

std::string_view shape_suffix(Shape shape) {
  return kShapeSuffix[static_cast<size_t>(shape)];
}

// Replaces every {"$ref": "#/$defs/X", ...} by X's members, the node's own members winning
// (a description beside a $ref describes this use of it).
json::value inline_refs(const json::value& v, int depth = 0) {
  if (depth > 32) throw std::logic_error("operations.schema.json: $ref nesting too deep");
  if (v.is_array()) {
    json::array out;
    for (const auto& e : v.get_array()) out.push_back(inline_refs(e, depth + 1));
    return out;
  }
  if (!v.is_object()) return v;
  json::object out;
  const auto& o = v.get_object();
  if (const auto* ref = o.if_contains("$ref")) {
    constexpr std::string_view prefix = "#/$defs/";
    const std::string_view r = ref->as_string();
    if (r.substr(0, prefix.size()) != prefix)
      throw std::logic_error("operations.schema.json: unsupported $ref " + std::string(r));
    const auto* target = defs().if_contains(r.substr(prefix.size()));
    if (!target) throw std::logic_error("operations.schema.json: no $defs for " + std::string(r));
    out = inline_refs(*target, depth + 1).as_object();
  }
  for (const auto& kv : o)
    if (kv.key() != "$ref") out[kv.key()] = inline_refs(kv.value(), depth + 1);
  return out;
}

}  // namespace

std::string shape_name(Op op, Shape shape, Front front) {
  const std::string tool(operation(op).tool);
  if (shape == Shape::arguments) {
    // A front's own form, where it has one.
    std::string own = tool + (front == Front::step ? ".step" : ".tool");
    if (defs().contains(own)) return own;
  }
  if (shape == Shape::output && !defs().contains(tool + ".output"))
    return tool + "." + std::string(shape_suffix(Shape::result));
  return tool + "." + std::string(shape_suffix(shape));
}

json::object standalone_schema(Op op, Shape shape, Front front) {
  const std::string name = shape_name(op, shape, front);
  const auto* def = defs().if_contains(name);
  if (!def) throw std::logic_error("operations.schema.json has no $defs/" + name);
  json::object out = inline_refs(*def).as_object();
  out.erase("$comment");
  return out;
}

}  // namespace agent_runner
