// SPDX-License-Identifier: Apache-2.0
// The host's JSON Schema validation: the SDK's validator (agent_runner/json_schema.hpp, the
// keywords it implements are listed there) with RE2 patterns (the common subset of ECMAScript
// that schemas use; unanchored unless anchored as written; linear time). Shared by plugin config
// validation, workload files and MCP tool arguments.
#pragma once

#include <agent_runner/json_schema.hpp>

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

using SchemaError = sdk::SchemaError;
using sdk::json_pointer_token;

// Patterns in RE2 syntax; a pattern RE2 cannot compile is unsupported (its error is the reason).
const sdk::PatternMatcher& re2_pattern_matcher();

// Fails closed: the first keyword of `schema` the validator does not implement, as
// "/properties/name: 'patternProperties'" (or a pattern RE2 cannot compile), or nullopt when it
// implements them all. A schema with such a keyword would be checked only in part, so a plugin
// that publishes one is refused. Annotations that constrain nothing ($schema, $id, $comment,
// title, examples, deprecated, readOnly, writeOnly) are accepted.
std::optional<std::string> unsupported_schema_keyword(const boost::json::value& schema);

// Validates `instance` against `schema`; returns every problem found (empty = valid).
std::vector<SchemaError> validate_json_schema(const boost::json::value& schema,
                                              const boost::json::value& instance);

}  // namespace agent_runner
