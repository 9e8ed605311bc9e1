// YAML (and JSON, which YAML reads too) into boost::json, remembering where every value was
// written, so errors about configuration and workload files can name the line.
#pragma once

#include <boost/json.hpp>

#include <map>
#include <stdexcept>
#include <string>

namespace agent_runner {

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

// A file that cannot be read or parsed: what, and where.
struct YamlError : std::runtime_error {
  YamlError(std::string message, TextPosition where)
      : std::runtime_error(std::move(message)), position(where) {}
  TextPosition position;
};

// Plain scalars are typed as YAML 1.2's core schema does (null, true/false, integers, floats);
// quoted scalars are always strings.
YamlDocument parse_yaml(const std::string& text);
// Reads and parses a file; a read failure is a YamlError at line 0 with the errno text.
YamlDocument parse_yaml_file(const std::string& path);

}  // namespace agent_runner
