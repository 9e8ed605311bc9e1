// SPDX-License-Identifier: Apache-2.0
// YAML into boost::json through yaml-cpp's event interface rather than YAML::Load: the tree is
// built here, so every limit is checked before the memory is spent. (YAML::Load itself shares
// the node of an anchor between its aliases, so a bomb stays small inside yaml-cpp; it is the
// conversion to JSON that copies it, and that is where the counting happens.)
#include "yaml_json.hpp"

#include "bounded_read.hpp"
#include "json_schema.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <optional>
#include <sstream>
#include <vector>

namespace agent_runner {
namespace {

namespace json = boost::json;

TextPosition position(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

json::value scalar(const std::string& tag, const std::string& s) {
  if (tag == "!") return json::value(s);  // quoted: always a string
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

// Builds the document from parser events, counting as it goes.
class Builder : public YAML::EventHandler {
 public:
  Builder(YamlDocument& doc, const InputLimits& limits) : doc_(doc), limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnAnchor(const YAML::Mark&, const std::string& name) override { anchor_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (in_key_position()) throw YamlError("mapping keys must be plain strings", position(mark));
    count_node(mark);
    complete(json::value(nullptr), mark, anchor, 1, 0, std::nullopt);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    count_node(mark);
    count_bytes(value.size(), mark);
    if (in_key_position()) {
      set_key(value, mark);
      remember(anchor, json::value(value), 1, value.size(), value);
      return;
    }
    complete(scalar(tag, value), mark, anchor, 1, value.size(), value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor == 0 || anchor > anchors_.size() || !anchors_[anchor - 1].done)
      throw YamlError("alias refers to a node that contains it (a recursive alias)",
                      position(mark));
    const Anchored& a = anchors_[anchor - 1];
    if (++aliases_ > limits_.max_aliases)
      throw YamlError("more than " + std::to_string(limits_.max_aliases) +
                          " uses of aliases (*name); the limit keeps a small file from "
                          "expanding into a huge one",
                      position(mark));
    // Checked before the copy is made: the copy is what a bomb multiplies.
    if (a.nodes > limits_.max_nodes - nodes_)
      throw YamlError("alias *" + a.name + " makes the document larger than " +
                          std::to_string(limits_.max_nodes) +
                          " values (aliases are counted once per use); the limit keeps a small "
                          "file from expanding into a huge one",
                      position(mark));
    nodes_ += a.nodes;
    count_bytes(a.bytes, mark);
    if (in_key_position()) {
      if (!a.scalar_text) throw YamlError("mapping keys must be plain strings", position(mark));
      set_key(*a.scalar_text, mark);
      return;
    }
    complete(json::value(a.value), mark, 0, a.nodes, a.bytes, a.scalar_text);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, json::array());
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    json::value container;
    std::string pointer;
    YAML::anchor_t anchor = 0;
    std::string anchor_name;
    size_t nodes_before = 0;
    size_t bytes_before = 0;
    std::optional<std::string> key;  // maps: the key waiting for its value
  };
  struct Anchored {
    bool done = false;
    std::string name;
    json::value value;
    size_t nodes = 0;
    size_t bytes = 0;
    std::optional<std::string> scalar_text;  // so an alias can serve as a key
  };

  bool in_key_position() const {
    return !stack_.empty() && stack_.back().container.is_object() && !stack_.back().key;
  }

  void count_node(const YAML::Mark& mark) {
    if (++nodes_ > limits_.max_nodes)
      throw YamlError("more than " + std::to_string(limits_.max_nodes) + " values in the document",
                      position(mark));
  }
  void count_bytes(size_t n, const YAML::Mark& mark) {
    if (n > limits_.max_string_bytes - bytes_)
      throw YamlError("the strings of the document add up to more than " +
                          std::to_string(limits_.max_string_bytes) + " bytes" +
                          (aliases_ ? " (aliases are counted once per use)" : ""),
                      position(mark));
    bytes_ += n;
  }

  void set_key(const std::string& key, const YAML::Mark& mark) {
    Frame& f = stack_.back();
    if (f.container.get_object().contains(key))
      throw YamlError("duplicate key '" + key + "'", position(mark));
    f.key = key;
    doc_.positions[f.pointer + "/" + json_pointer_token(key)] = position(mark);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, json::value container) {
    if (in_key_position()) throw YamlError("mapping keys must be plain strings", position(mark));
    if (stack_.size() >= limits_.max_depth)
      throw YamlError(
          "lists and maps are nested more than " + std::to_string(limits_.max_depth) + " deep",
          position(mark));
    count_node(mark);
    Frame f;
    f.container = std::move(container);
    f.pointer = child_pointer(mark);
    f.anchor = anchor;
    f.anchor_name = std::move(anchor_name_);
    f.nodes_before = nodes_ - 1;
    f.bytes_before = bytes_;
    if (anchor) reserve_anchor(anchor, f.anchor_name);
    stack_.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    place(std::move(f.container), f.anchor, nodes_ - f.nodes_before, bytes_ - f.bytes_before,
          std::nullopt);
  }

  // The pointer of the next value placed into the top container (and records its position).
  std::string child_pointer(const YAML::Mark& mark) {
    if (stack_.empty()) {
      doc_.positions[""] = position(mark);
      return "";
    }
    Frame& top = stack_.back();
    if (top.container.is_array()) {
      std::string p = top.pointer + "/" + std::to_string(top.container.get_array().size());
      doc_.positions[p] = position(mark);
      return p;
    }
    return top.pointer + "/" + json_pointer_token(*top.key);
  }

  // A finished scalar, null or alias copy at the current position.
  void complete(json::value v, const YAML::Mark& mark, YAML::anchor_t anchor, size_t nodes,
                size_t bytes, std::optional<std::string> scalar_text) {
    child_pointer(mark);  // records where it was written
    place(std::move(v), anchor, nodes, bytes, std::move(scalar_text));
  }

  // Puts a finished value into the container on top of the stack (or makes it the root).
  void place(json::value v, YAML::anchor_t anchor, size_t nodes, size_t bytes,
             std::optional<std::string> scalar_text) {
    if (anchor) remember(anchor, v, nodes, bytes, std::move(scalar_text));
    if (stack_.empty()) {
      doc_.value = std::move(v);
      return;
    }
    Frame& top = stack_.back();
    if (top.container.is_array()) {
      top.container.get_array().push_back(std::move(v));
    } else {
      top.container.get_object()[*top.key] = std::move(v);
      top.key.reset();
    }
  }

  void reserve_anchor(YAML::anchor_t anchor, const std::string& name) {
    if (anchors_.size() < anchor) anchors_.resize(anchor);
    anchors_[anchor - 1] = Anchored{};
    anchors_[anchor - 1].name = name.empty() ? std::to_string(anchor) : name;
  }

  void remember(YAML::anchor_t anchor, const json::value& v, size_t nodes, size_t bytes,
                std::optional<std::string> scalar_text) {
    if (!anchor) return;
    std::string name = anchor <= anchors_.size() && !anchors_[anchor - 1].name.empty()
                           ? anchors_[anchor - 1].name
                           : std::move(anchor_name_);
    if (anchors_.size() < anchor) anchors_.resize(anchor);
    Anchored& a = anchors_[anchor - 1];
    a.done = true;
    a.name = name.empty() ? std::to_string(anchor) : name;
    a.value = v;
    a.nodes = nodes;
    a.bytes = bytes;
    a.scalar_text = std::move(scalar_text);
    anchor_name_.clear();
  }

  YamlDocument& doc_;
  const InputLimits& limits_;
  std::vector<Frame> stack_;
  std::vector<Anchored> anchors_;  // by yaml-cpp's anchor id - 1
  std::string anchor_name_;        // of the node being started
  size_t nodes_ = 0;
  size_t bytes_ = 0;
  size_t aliases_ = 0;
};

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

YamlDocument parse_yaml(std::string_view text, const InputLimits& limits) {
  if (text.size() > limits.max_bytes)
    throw YamlError("is larger than the limit of " + size_text(limits.max_bytes), {});
  YamlDocument doc;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    Builder builder(doc, limits);
    parser.HandleNextDocument(builder);
  } catch (const YAML::Exception& e) {
    throw YamlError(e.msg, position(e.mark));
  }
  return doc;
}

YamlDocument parse_yaml_file(const std::string& path, const InputLimits& limits) {
  std::string error;
  auto text = read_regular_file(path, limits.max_bytes, error);
  if (!text) throw YamlError("cannot read: " + error, {});
  return parse_yaml(*text, limits);
}

json::value parse_json_bounded(std::string_view text, const InputLimits& limits) {
  if (text.size() > limits.max_bytes)
    throw YamlError("is larger than the limit of " + size_text(limits.max_bytes), {});
  // Every value but the first follows a '[', '{' or ','; counting them outside strings bounds the
  // number of values before the parser allocates one (a 16 MiB "[[],[],...]" is 5 M values).
  size_t nodes = 1;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{' || c == ',') {
      ++nodes;
    }
  }
  if (nodes > limits.max_nodes)
    throw YamlError("has more than " + std::to_string(limits.max_nodes) + " values", {});
  // Boost.JSON's parser keeps its own stack (no recursion) and stops at max_depth.
  json::parse_options opts;
  opts.max_depth = limits.max_depth;
  json::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec == json::error::too_deep)
    throw YamlError("nested more than " + std::to_string(limits.max_depth) + " deep", {});
  if (ec) throw YamlError("not valid JSON (" + ec.message() + ")", {});
  return v;
}

}  // namespace agent_runner
