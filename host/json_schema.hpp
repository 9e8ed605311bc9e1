// SPDX-License-Identifier: Apache-2.0
// A small JSON Schema validator (the subset the project's schemas use), shared by plugin config
// validation and workload files. Keywords: type (string or array), properties, required,
// additionalProperties (bool or schema), items, enum, const, minimum, maximum, exclusiveMinimum,
// minLength, maxLength, minItems, maxItems, pattern (RE2 syntax, the common subset of ECMAScript
// that schemas use; unanchored unless anchored as written; linear time), oneOf, anyOf, allOf, $ref
// to "#/$defs/NAME" or "#/definitions/NAME", description (ignored), default (ignored), "x-secret"
// (ignored here; marks values to redact).
#pragma once

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

struct SchemaError {
  std::string pointer;  // JSON Pointer of the offending value: "/steps/2/execute/timeout"
  std::string
      message;  // "must be a number >= 0", "unknown key 'foo'", "missing required key 'name'"
};

// One JSON Pointer reference token: "~" -> "~0", "/" -> "~1" (RFC 6901).
std::string json_pointer_token(std::string_view key);

// Fails closed: the first keyword of `schema` this validator does not implement, as
// "/properties/name: 'patternProperties'", or nullopt when it implements them all. A schema with
// such a keyword would be checked only in part, so a plugin that publishes one is refused.
// Annotations that constrain nothing ($schema, $id, $comment, title, examples, deprecated,
// readOnly, writeOnly) are accepted.
std::optional<std::string> unsupported_schema_keyword(const boost::json::value& schema);

// Validates `instance` against `schema`; returns every problem found (empty = valid).
std::vector<SchemaError> validate_json_schema(const boost::json::value& schema,
                                              const boost::json::value& instance);

}  // namespace agent_runner
