// SPDX-License-Identifier: Apache-2.0
// A small JSON Schema validator (header-only; the subset the project's schemas use), shared by the
// host (plugin configs, workload files, MCP arguments) and by plugins, whose config schema in the
// descriptor is the only definition of their settings (ConfigSchema below).
//
// Keywords: type (string or array), properties, required, additionalProperties (bool or schema),
// items, enum, const, minimum, maximum, exclusiveMinimum, minLength, maxLength, minItems, maxItems,
// pattern (unanchored unless anchored as written; what a pattern may hold is the PatternMatcher's
// business), oneOf, anyOf, allOf, $ref to "#/$defs/NAME" or "#/definitions/NAME", description
// (ignored), default (ignored), "x-secret" (ignored here; marks values to redact). It fails closed:
// unsupported_schema_keyword names the first keyword (or pattern) it would not check.
//
// Patterns: the host passes an RE2-backed matcher. Plugins, which stay self-contained, get
// PrefixPatternMatcher: "^" followed by literal characters, each optionally followed by "?"
// ("^https?://", "^/"); any other pattern is refused, named, when the schema is loaded.
#pragma once

#include <agent_runner/plugin.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::sdk {
inline namespace v1 {

struct SchemaError {
  std::string pointer;  // JSON Pointer of the offending value: "/steps/2/execute/timeout"
  std::string
      message;  // "must be a number >= 0", "unknown key 'foo'", "missing required key 'name'"
};

// What a schema's "pattern" may hold and how it matches (a search: unanchored unless anchored).
class PatternMatcher {
 public:
  virtual ~PatternMatcher() = default;
  // Why `pattern` cannot be used (a syntax error, or a construct this matcher does not
  // implement), or nullopt when it can.
  virtual std::optional<std::string> unsupported(std::string_view pattern) const = 0;
  // Whether `pattern` matches somewhere in `text`; only called for supported patterns.
  virtual bool search(std::string_view pattern, std::string_view text) const = 0;
};

// The plugins' default: "^" then literal characters (a metacharacter escaped with '\' is
// literal), each optionally followed by '?'. Matching is a set of pattern positions advanced one
// character at a time: linear in the text, whatever the pattern.
class PrefixPatternMatcher final : public PatternMatcher {
 public:
  std::optional<std::string> unsupported(std::string_view pattern) const override {
    if (!parse(pattern))
      return "only an anchored literal prefix is supported without a regex engine: '^' then "
             "literal characters, each optionally followed by '?', such as ^https?:// or ^/";
    return std::nullopt;
  }
  bool search(std::string_view pattern, std::string_view text) const override {
    const auto atoms = parse(pattern);
    if (!atoms) return false;
    const size_t n = atoms->size();
    std::vector<char> at(n + 1, 0), next(n + 1, 0);
    auto close = [&](std::vector<char>& s) {  // an optional atom may be skipped
      for (size_t i = 0; i < n; ++i)
        if (s[i] && (*atoms)[i].optional) s[i + 1] = 1;
    };
    at[0] = 1;
    close(at);
    for (char c : text) {
      if (at[n]) return true;
      std::fill(next.begin(), next.end(), 0);
      bool any = false;
      for (size_t i = 0; i < n; ++i)
        if (at[i] && (*atoms)[i].c == c) {
          next[i + 1] = 1;
          any = true;
        }
      if (!any) return false;
      close(next);
      at.swap(next);
    }
    return at[n] != 0;
  }

 private:
  struct Atom {
    char c;
    bool optional;
  };
  static std::optional<std::vector<Atom>> parse(std::string_view p) {
    static constexpr std::string_view kMeta = "\\^$.|?*+()[]{}";
    if (p.empty() || p[0] != '^') return std::nullopt;
    std::vector<Atom> atoms;
    for (size_t i = 1; i < p.size(); ++i) {
      char c = p[i];
      if (c == '\\') {
        if (i + 1 >= p.size() ||
            (kMeta.find(p[i + 1]) == std::string_view::npos && p[i + 1] != '/' && p[i + 1] != '-'))
          return std::nullopt;  // \d, \w, \b... are classes, not literals
        c = p[++i];
      } else if (kMeta.find(c) != std::string_view::npos) {
        return std::nullopt;
      }
      bool optional = i + 1 < p.size() && p[i + 1] == '?';
      if (optional) ++i;
      atoms.push_back({c, optional});
    }
    return atoms;
  }
};

inline const PatternMatcher& prefix_pattern_matcher() {
  static const PrefixPatternMatcher m;
  return m;
}

// One JSON Pointer reference token: "~" -> "~0", "/" -> "~1" (RFC 6901).
inline std::string json_pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

namespace schema_detail {

namespace json = boost::json;

inline std::string type_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "boolean";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "number";
    case json::kind::string:
      return "string";
    case json::kind::array:
      return "array";
    case json::kind::object:
      return "object";
  }
  return "unknown";
}

inline bool is_number(const json::value& v) {
  return v.is_int64() || v.is_uint64() || v.is_double();
}

inline double as_double(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

inline bool matches_type(const json::value& v, std::string_view type) {
  if (type == "integer") {
    if (v.is_int64() || v.is_uint64()) return true;
    if (v.is_double()) {
      double d = v.get_double();
      return std::isfinite(d) && d == std::floor(d);
    }
    return false;
  }
  if (type == "number") return is_number(v);
  return type_of(v) == type;
}

inline std::string short_json(const json::value& v) {
  std::string s = json::serialize(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

inline std::string format_number(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  return std::to_string(d);
}

class Validator {
 public:
  // The budget grows with the instance: a large workload legitimately takes many steps, a
  // one-value instance never needs more than the minimum.
  Validator(const json::value& root, const json::value& instance, const PatternMatcher& matcher)
      : root_(root),
        matcher_(matcher),
        max_steps_(std::max<size_t>(kMinSteps, kStepsPerValue * count(instance))) {}

  void validate(const json::value& schema, const json::value& v, const std::string& ptr,
                std::vector<SchemaError>& out, int depth = 0) {
    if (depth > 64) {
      out.push_back({ptr, "schema nesting too deep"});
      return;
    }
    // anyOf/oneOf try every branch, and $ref can point back up: a schema can ask for work
    // exponential in its depth. Stop (once, with a message) rather than spin.
    // Every call past the budget fails at once, so no branch can pass by being skipped.
    if (++steps_ > max_steps_) {
      out.push_back({ptr, budget_message()});
      return;
    }
    if (schema.is_bool()) {
      if (!schema.get_bool()) out.push_back({ptr, "is not allowed here"});
      return;
    }
    if (!schema.is_object()) return;
    const auto& s = schema.get_object();

    if (auto* ref = s.if_contains("$ref"); ref && ref->is_string()) {
      const json::value* target = resolve(ref->get_string());
      if (!target) {
        out.push_back({ptr, "schema error: unresolvable $ref " + std::string(ref->get_string())});
        return;
      }
      validate(*target, v, ptr, out, depth + 1);
    }

    if (auto* t = s.if_contains("type")) {
      std::vector<std::string> types;
      if (t->is_string()) types.emplace_back(t->get_string());
      if (t->is_array())
        for (const auto& e : t->get_array())
          if (e.is_string()) types.emplace_back(e.get_string());
      bool ok = types.empty();
      for (const auto& ty : types) ok = ok || matches_type(v, ty);
      if (!ok) {
        std::string want;
        for (size_t i = 0; i < types.size(); ++i) want += (i ? " or " : "") + types[i];
        out.push_back({ptr, "must be " + article(want) + " (got " + type_of(v) + ")"});
        return;  // further keywords would only repeat the same complaint
      }
    }

    if (auto* e = s.if_contains("enum"); e && e->is_array()) {
      bool found = false;
      for (const auto& opt : e->get_array()) found = found || opt == v;
      if (!found) {
        std::string allowed;
        for (const auto& opt : e->get_array())
          allowed += (allowed.empty() ? "" : ", ") + short_json(opt);
        out.push_back({ptr, short_json(v) + " is not allowed; allowed: " + allowed});
        return;
      }
    }
    if (auto* c = s.if_contains("const"); c && !(*c == v)) {
      out.push_back({ptr, "must be " + short_json(*c)});
      return;
    }

    if (is_number(v)) check_number(s, v, ptr, out);
    if (v.is_string()) check_string(s, v.get_string(), ptr, out);
    if (v.is_array()) check_array(s, v.get_array(), ptr, out, depth);
    if (v.is_object()) check_object(s, v.get_object(), ptr, out, depth);

    if (auto* all = s.if_contains("allOf"); all && all->is_array())
      for (const auto& sub : all->get_array()) validate(sub, v, ptr, out, depth + 1);
    if (auto* any = s.if_contains("anyOf"); any && any->is_array()) {
      auto best = best_branch(any->get_array(), v, ptr, depth);
      if (best.matched == 0) out.insert(out.end(), best.errors.begin(), best.errors.end());
    }
    if (auto* one = s.if_contains("oneOf"); one && one->is_array()) {
      auto best = best_branch(one->get_array(), v, ptr, depth);
      if (best.matched == 0) {
        out.insert(out.end(), best.errors.begin(), best.errors.end());
      } else if (best.matched > 1) {
        out.push_back({ptr, "matches more than one of the allowed forms"});
      }
    }
  }

  std::string budget_message() const {
    return "schema error: validation needs more than " + std::to_string(max_steps_) +
           " steps (the schema branches too much)";
  }
  bool over_budget() const { return steps_ > max_steps_; }

 private:
  struct Branch {
    int matched = 0;
    std::vector<SchemaError> errors;  // of the branch that came closest, when none matched
  };

  // For anyOf/oneOf: report the errors of the closest branch rather than of all of them, so a
  // workload step with a typo gets "unknown key 'comand'" and not ten unrelated complaints.
  Branch best_branch(const json::array& branches, const json::value& v, const std::string& ptr,
                     int depth) {
    Branch b;
    size_t best_score = SIZE_MAX;
    for (const auto& sub : branches) {
      std::vector<SchemaError> errs;
      validate(sub, v, ptr, errs, depth + 1);
      if (errs.empty()) {
        ++b.matched;
        continue;
      }
      // Prefer the branch whose errors go deepest (it recognised the most of the value).
      size_t score = errs.size() * 100;
      for (const auto& e : errs) score -= std::min<size_t>(e.pointer.size() - ptr.size(), 99);
      if (score < best_score) {
        best_score = score;
        b.errors = std::move(errs);
      }
    }
    return b;
  }

  static std::string article(const std::string& word) {
    if (word.empty()) return word;
    return (std::string("aeiou").find(word[0]) != std::string::npos ? "an " : "a ") + word;
  }

  const json::value* resolve(std::string_view ref) {
    for (std::string_view prefix : {"#/$defs/", "#/definitions/"}) {
      if (ref.substr(0, prefix.size()) == prefix && root_.is_object()) {
        const auto* defs = root_.get_object().if_contains(prefix.substr(2, prefix.size() - 3));
        if (!defs || !defs->is_object()) return nullptr;
        return defs->get_object().if_contains(ref.substr(prefix.size()));
      }
    }
    if (ref == "#") return &root_;
    return nullptr;
  }

  void check_number(const json::object& s, const json::value& v, const std::string& ptr,
                    std::vector<SchemaError>& out) {
    double d = as_double(v);
    if (auto* m = s.if_contains("minimum"); m && is_number(*m) && d < as_double(*m))
      out.push_back(
          {ptr, "must be >= " + format_number(as_double(*m)) + " (got " + short_json(v) + ")"});
    if (auto* m = s.if_contains("maximum"); m && is_number(*m) && d > as_double(*m))
      out.push_back(
          {ptr, "must be <= " + format_number(as_double(*m)) + " (got " + short_json(v) + ")"});
    if (auto* m = s.if_contains("exclusiveMinimum"); m && is_number(*m) && d <= as_double(*m))
      out.push_back(
          {ptr, "must be > " + format_number(as_double(*m)) + " (got " + short_json(v) + ")"});
  }

  // Stops at the first failure: a value already known to be wrong gets one clear message, and
  // no further (possibly costly) check runs on it.
  void check_string(const json::object& s, json::string_view str, const std::string& ptr,
                    std::vector<SchemaError>& out) {
    if (auto* m = s.if_contains("minLength"); m && m->is_int64() && m->get_int64() > 0 &&
                                              str.size() < static_cast<size_t>(m->get_int64()))
      return out.push_back({ptr, "must be at least " + std::to_string(m->get_int64()) +
                                     (m->get_int64() == 1 ? " character" : " characters")});
    if (auto* m = s.if_contains("maxLength"); m && m->is_int64() && m->get_int64() >= 0 &&
                                              str.size() > static_cast<size_t>(m->get_int64()))
      return out.push_back({ptr, "must be at most " + std::to_string(m->get_int64()) +
                                     (m->get_int64() == 1 ? " character" : " characters")});
    if (auto* p = s.if_contains("pattern"); p && p->is_string()) {
      const std::string_view pattern(p->get_string().data(), p->get_string().size());
      if (auto why = matcher_.unsupported(pattern))
        return out.push_back(
            {ptr, "schema error: bad pattern " + std::string(pattern) + " (" + *why + ")"});
      if (!matcher_.search(pattern, std::string_view(str.data(), str.size())))
        out.push_back({ptr, "must match the pattern " + std::string(pattern)});
    }
  }

  void check_array(const json::object& s, const json::array& a, const std::string& ptr,
                   std::vector<SchemaError>& out, int depth) {
    if (auto* m = s.if_contains("minItems");
        m && m->is_int64() && a.size() < static_cast<size_t>(m->get_int64()))
      out.push_back({ptr, "must have at least " + std::to_string(m->get_int64()) + " item" +
                              (m->get_int64() == 1 ? "" : "s")});
    if (auto* m = s.if_contains("maxItems");
        m && m->is_int64() && a.size() > static_cast<size_t>(m->get_int64()))
      out.push_back({ptr, "must have at most " + std::to_string(m->get_int64()) + " items"});
    if (auto* items = s.if_contains("items"))
      for (size_t i = 0; i < a.size(); ++i)
        validate(*items, a[i], ptr + "/" + std::to_string(i), out, depth + 1);
  }

  void check_object(const json::object& s, const json::object& o, const std::string& ptr,
                    std::vector<SchemaError>& out, int depth) {
    if (auto* req = s.if_contains("required"); req && req->is_array())
      for (const auto& k : req->get_array())
        if (k.is_string() && !o.contains(k.get_string()))
          out.push_back({ptr, "missing required key '" + std::string(k.get_string()) + "'"});
    const json::object* props = nullptr;
    if (auto* p = s.if_contains("properties"); p && p->is_object()) props = &p->get_object();
    const json::value* additional = s.if_contains("additionalProperties");
    for (const auto& kv : o) {
      std::string child = ptr + "/" + json_pointer_token(kv.key());
      const json::value* sub = props ? props->if_contains(kv.key()) : nullptr;
      if (sub) {
        validate(*sub, kv.value(), child, out, depth + 1);
      } else if (additional) {
        if (additional->is_bool() && !additional->get_bool()) {
          std::string known;
          if (props)
            for (const auto& p : *props)
              known += (known.empty() ? "" : ", ") + std::string(p.key());
          out.push_back({child, "unknown key '" + std::string(kv.key()) + "'" +
                                    (known.empty() ? "" : "; known keys: " + known)});
        } else {
          validate(*additional, kv.value(), child, out, depth + 1);
        }
      }
    }
  }

  static constexpr size_t kMinSteps = 100'000;
  static constexpr size_t kStepsPerValue = 200;

  static size_t count(const json::value& v) {
    size_t n = 1;
    if (v.is_array())
      for (const auto& e : v.get_array()) n += count(e);
    if (v.is_object())
      for (const auto& kv : v.get_object()) n += count(kv.value());
    return n;
  }

  const json::value& root_;
  const PatternMatcher& matcher_;
  size_t max_steps_;
  size_t steps_ = 0;
};

inline std::optional<std::string> unsupported_keyword_at(const json::value& schema,
                                                         const std::string& ptr, int depth,
                                                         const PatternMatcher& matcher) {
  static const std::set<std::string_view> kLeaf = {
      "type",       "required",  "enum",     "const",    "minimum",  "maximum", "exclusiveMinimum",
      "minLength",  "maxLength", "minItems", "maxItems", "pattern",  "$ref",    "description",
      "default",    "x-secret",  "$schema",  "$id",      "$comment", "title",   "examples",
      "deprecated", "readOnly",  "writeOnly"};
  if (depth > 64) return ptr + ": nesting deeper than 64";
  if (!schema.is_object()) return std::nullopt;  // true/false, or a value the validator ignores
  for (const auto& [key, sub] : schema.get_object()) {
    const std::string at = ptr + "/" + json_pointer_token(key);
    if (key == "properties" || key == "$defs" || key == "definitions") {
      if (!sub.is_object()) continue;
      for (const auto& [name, s] : sub.get_object())
        if (auto bad =
                unsupported_keyword_at(s, at + "/" + json_pointer_token(name), depth + 1, matcher))
          return bad;
    } else if (key == "items" || key == "additionalProperties") {
      if (auto bad = unsupported_keyword_at(sub, at, depth + 1, matcher)) return bad;
    } else if (key == "oneOf" || key == "anyOf" || key == "allOf") {
      if (!sub.is_array()) continue;
      for (size_t i = 0; i < sub.get_array().size(); ++i)
        if (auto bad = unsupported_keyword_at(sub.get_array()[i], at + "/" + std::to_string(i),
                                              depth + 1, matcher))
          return bad;
    } else if (!kLeaf.count(key)) {
      return (ptr.empty() ? std::string("(root)") : ptr) + ": '" + std::string(key) + "'";
    } else if (key == "pattern" && sub.is_string()) {
      const std::string_view p(sub.get_string().data(), sub.get_string().size());
      if (auto why = matcher.unsupported(p))
        return at + ": pattern " + std::string(p) + ": " + *why;
    }
  }
  return std::nullopt;
}

}  // namespace schema_detail

// Fails closed: the first keyword of `schema` this validator does not implement, as
// "/properties/name: 'patternProperties'", or a pattern `matcher` cannot run, as
// "/properties/url/pattern: pattern ^[a-z]+$: <why>"; nullopt when it implements them all. A
// schema with such a keyword would be checked only in part, so a plugin that publishes one is
// refused. Annotations that constrain nothing ($schema, $id, $comment, title, examples,
// deprecated, readOnly, writeOnly) are accepted.
inline std::optional<std::string> unsupported_schema_keyword(const boost::json::value& schema,
                                                             const PatternMatcher& matcher) {
  return schema_detail::unsupported_keyword_at(schema, "", 0, matcher);
}

// Validates `instance` against `schema`; returns every problem found (empty = valid).
inline std::vector<SchemaError> validate_json_schema(const boost::json::value& schema,
                                                     const boost::json::value& instance,
                                                     const PatternMatcher& matcher) {
  std::vector<SchemaError> out;
  schema_detail::Validator validator(schema, instance, matcher);
  validator.validate(schema, instance, "", out);
  // anyOf/oneOf keep only the closest branch's errors: make sure the reason stays visible.
  if (validator.over_budget()) {
    bool said = false;
    for (const auto& e : out) said = said || e.message == validator.budget_message();
    if (!said) out.push_back({"", validator.budget_message()});
  }
  return out;
}

// A plugin's sandbox config, checked against the schema in its descriptor and read with the
// schema's defaults: the schema is the only list of the settings.
//
//   static const sdk::ConfigSchema schema(kConfigSchema);   // refuses what it cannot check
//   schema.check(config);       // throws invalid_config: "sandbox.limits.memory_mb: must be >= 1"
//   schema.value(config, "timeout_s").to_number<double>();  // the value, else the default
//
// A member whose value is null counts as not given.
class ConfigSchema {
 public:
  explicit ConfigSchema(std::string_view schema_text,
                        const PatternMatcher& matcher = prefix_pattern_matcher())
      : matcher_(matcher) {
    boost::system::error_code ec;
    schema_ = boost::json::parse(schema_text, ec);
    if (ec || !schema_.is_object())
      throw Error(AR_ERR_INTERNAL, "the plugin's config schema is not a JSON object");
    if (auto bad = unsupported_schema_keyword(schema_, matcher_))
      throw Error(AR_ERR_INTERNAL, "the plugin's config schema cannot be checked in full, at " +
                                       *bad + "; the plugin's author must fix it");
  }

  const boost::json::value& schema() const { return schema_; }

  // Throws Error(AR_ERR_INVALID_CONFIG) naming the first problem's key, what is allowed and, for
  // a missing key, the property's description.
  void check(const boost::json::object& config) const {
    boost::json::value given = without_nulls(config);
    const auto errors = validate_json_schema(schema_, given, matcher_);
    if (errors.empty()) return;
    throw Error(AR_ERR_INVALID_CONFIG,
                describe(given, errors.front()) +
                    (errors.size() > 1 ? " (and " + std::to_string(errors.size() - 1) +
                                             " more problem" + (errors.size() > 2 ? "s" : "") + ")"
                                       : ""));
  }

  // The top-level setting `key`: the value given, else the schema's default, else null.
  const boost::json::value& value(const boost::json::object& config, std::string_view key) const {
    static const boost::json::value null;
    if (auto* v = config.if_contains(key); v && !v->is_null()) return *v;
    if (const auto* p = property(key))
      if (const auto* d = p->if_contains("default")) return *d;
    return null;
  }

  // The property schema of top-level `key`, or null.
  const boost::json::object* property(std::string_view key) const {
    const auto* props = schema_.get_object().if_contains("properties");
    const auto* p = props && props->is_object() ? props->get_object().if_contains(key) : nullptr;
    return p && p->is_object() ? &p->get_object() : nullptr;
  }

  // "sandbox.mounts[0].host: must be a string (got integer)"; a missing required key is named
  // itself, with its description: "sandbox.root_dir: is required (directory holding ...)".
  std::string describe(const boost::json::value& instance, const SchemaError& e) const {
    std::string path = "sandbox";
    const boost::json::value* at = &instance;
    const boost::json::value* sch = &schema_;
    std::string_view rest(e.pointer);
    while (!rest.empty()) {
      rest.remove_prefix(1);
      const size_t slash = rest.find('/');
      const std::string token = unescape(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      if (at && at->is_array()) {
        path += "[" + token + "]";
        sch = sch ? sub_schema(*sch, "items", "") : nullptr;
        const size_t i = std::strtoull(token.c_str(), nullptr, 10);
        at = i < at->get_array().size() ? &at->get_array()[i] : nullptr;
      } else {
        path += "." + token;
        sch = sch ? sub_schema(*sch, "properties", token) : nullptr;
        at = at && at->is_object() ? at->get_object().if_contains(token) : nullptr;
      }
    }
    static constexpr std::string_view kMissing = "missing required key '";
    if (e.message.rfind(kMissing, 0) == 0 && e.message.back() == '\'') {
      const std::string key =
          e.message.substr(kMissing.size(), e.message.size() - kMissing.size() - 1);
      std::string what = path + "." + key + ": is required";
      if (const auto* p = sch ? sub_schema(*sch, "properties", key) : nullptr; p && p->is_object())
        if (const auto* d = p->get_object().if_contains("description"); d && d->is_string())
          what += " (" + std::string(d->get_string()) + ")";
      return what;
    }
    // A pattern says little to a reader: the property's description says what it stands for.
    std::string what = path + ": " + e.message;
    if (e.message.rfind("must match the pattern ", 0) == 0 && sch && sch->is_object())
      if (const auto* d = sch->get_object().if_contains("description"); d && d->is_string())
        what += " (" + std::string(d->get_string()) + ")";
    return what;
  }

 private:
  static boost::json::value without_nulls(const boost::json::object& o) {
    boost::json::object out;
    for (const auto& kv : o)
      if (!kv.value().is_null()) out.emplace(kv.key(), kv.value());
    return out;
  }
  static std::string unescape(std::string_view token) {
    std::string out;
    for (size_t i = 0; i < token.size(); ++i) {
      if (token[i] == '~' && i + 1 < token.size()) {
        out += token[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        out += token[i];
      }
    }
    return out;
  }
  static const boost::json::value* sub_schema(const boost::json::value& s, std::string_view kw,
                                              std::string_view name) {
    if (!s.is_object()) return nullptr;
    const auto* v = s.get_object().if_contains(kw);
    if (!v || name.empty()) return v;
    return v->is_object() ? v->get_object().if_contains(name) : nullptr;
  }

  boost::json::value schema_;
  const PatternMatcher& matcher_;
};

}  // namespace v1
}  // namespace agent_runner::sdk
