// SPDX-License-Identifier: Apache-2.0
// YAML (and JSON, which YAML reads too) into boost::json, remembering where every value was
// written, so errors about configuration and workload files can name the line.
//
// Every document read here is untrusted (configuration, workloads, MCP lines, job entries), so
// reading is bounded: the size of the text before parsing, and while building the tree the
// nesting depth, the number of values (every use of an alias counts its whole copy: a 600-byte
// file of nested aliases would otherwise expand to 10^9 values), the alias uses and the bytes of
// all strings. One InputLimits describes them for every reader.
#pragma once

#include <boost/json.hpp>

#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace agent_runner {

struct InputLimits {
  size_t max_bytes = 16u << 20;         // the text itself (files: checked before parsing)
  size_t max_depth = 64;                // nesting of lists and maps
  size_t max_nodes = 500'000;           // values, aliases expanded
  size_t max_aliases = 10'000;          // uses of aliases (*name)
  size_t max_string_bytes = 64u << 20;  // bytes of all keys and strings, aliases expanded
};

struct TextPosition {
  int line = 0;  // 1-based; 0 = unknown
  int column = 0;
};

struct YamlDocument {
  boost::json::value value;
  // JSON Pointer ("/steps/2/execute") -> where the value (for object members: the key) starts.
  std::map<std::string, TextPosition> positions;

  // The position of `pointer`, or of its closest ancestor that has one.
  TextPosition position_of(std::string pointer) const;
};

// A file that cannot be read or parsed, or that exceeds a limit: what, and where.
struct YamlError : std::runtime_error {
  YamlError(const std::string& message, TextPosition where)
      : std::runtime_error(message), position(where) {}
  TextPosition position;
};

// Plain scalars are typed as YAML 1.2's core schema does (null, true/false, integers, floats);
// quoted scalars are always strings. Only the first document of a stream is read.
YamlDocument parse_yaml(std::string_view text, const InputLimits& limits = {});
// Reads (a regular file only, at most limits.max_bytes, never blocking on a FIFO) and parses a
// file; a read failure is a YamlError at line 0 saying why.
YamlDocument parse_yaml_file(const std::string& path, const InputLimits& limits = {});

// Strict JSON (RFC 8259) under the same limits, for JSON-only inputs (MCP lines, job entries).
// Throws YamlError (line 0) naming the limit or the syntax error.
boost::json::value parse_json_bounded(std::string_view text, const InputLimits& limits);

}  // namespace agent_runner
