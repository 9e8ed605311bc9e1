#include "yaml_json.hpp"

#include "json_schema.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace agent_runner {
namespace {

namespace json = boost::json;

TextPosition position(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

json::value scalar(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return json::value(s);  // quoted: always a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  const char* digits = (*b == '+') ? b + 1 : b;
  std::int64_t i = 0;
  if (auto r = std::from_chars(digits, e, i); r.ec == std::errc() && r.ptr == e) return i;
  if (s.find_first_of("0123456789") != std::string::npos &&
      s.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    double d = 0;
    if (auto r = std::from_chars(digits, e, d); r.ec == std::errc() && r.ptr == e) return d;
  }
  return json::value(s);
}

json::value convert(const YAML::Node& n, const std::string& ptr, YamlDocument& doc) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar(n);
    case YAML::NodeType::Sequence: {
      json::array a;
      size_t i = 0;
      for (const auto& item : n) {
        std::string p = ptr + "/" + std::to_string(i++);
        doc.positions[p] = position(item.Mark());
        a.push_back(convert(item, p, doc));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : n) {
        if (!kv.first.IsScalar())
          throw YamlError("mapping keys must be plain strings", position(kv.first.Mark()));
        std::string key = kv.first.Scalar();
        std::string p = ptr + "/" + json_pointer_token(key);
        if (o.contains(key))
          throw YamlError("duplicate key '" + key + "'", position(kv.first.Mark()));
        doc.positions[p] = position(kv.first.Mark());
        o[key] = convert(kv.second, p, doc);
      }
      return o;
    }
  }
  return nullptr;
}

}  // namespace

TextPosition YamlDocument::position_of(std::string pointer) const {
  while (true) {
    if (auto it = positions.find(pointer); it != positions.end() && it->second.line > 0)
      return it->second;
    auto slash = pointer.rfind('/');
    if (slash == std::string::npos) return {};
    pointer.resize(slash);
  }
}

YamlDocument parse_yaml(const std::string& text) {
  YamlDocument doc;
  try {
    YAML::Node root = YAML::Load(text);
    doc.positions[""] = position(root.Mark());
    doc.value = convert(root, "", doc);
  } catch (const YAML::Exception& e) {
    throw YamlError(e.msg, position(e.mark));
  }
  return doc;
}

YamlDocument parse_yaml_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw YamlError("cannot read: is a directory", {});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw YamlError(std::string("cannot read: ") + std::strerror(errno), {});
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw YamlError(std::string("cannot read: ") + std::strerror(errno), {});
  return parse_yaml(ss.str());
}

}  // namespace agent_runner
