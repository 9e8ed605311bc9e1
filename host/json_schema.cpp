// SPDX-License-Identifier: Apache-2.0
// The JSON Schema subset of json_schema.hpp. Errors carry a JSON Pointer so callers can map them
// back to a file line (workloads) or a config key (plugin configs).
#include "json_schema.hpp"

#include <set>

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

namespace agent_runner {
namespace {

namespace json = boost::json;

std::string type_of(const json::value& v) {
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

bool is_number(const json::value& v) {
  return v.is_int64() || v.is_uint64() || v.is_double();
}

double as_double(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

bool matches_type(const json::value& v, std::string_view type) {
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

std::string short_json(const json::value& v) {
  std::string s = json::serialize(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Schema patterns run on untrusted strings of any length: RE2 matches in linear time without
// recursion (std::regex's recursive matcher overflowed the stack on a 100 000-character value).
// Each pattern is compiled once per process; the cache is bounded because plugin schemas (and
// the fuzzer) can bring any number of them.
std::shared_ptr<const RE2> compiled_pattern(const std::string& pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const RE2>> cache;
  constexpr size_t kMaxCached = 1024;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(pattern); it != cache.end()) return it->second;
  RE2::Options options;
  options.set_log_errors(false);  // a bad pattern is reported as a schema error, not on stderr
  auto re = std::make_shared<const RE2>(pattern, options);
  if (cache.size() >= kMaxCached) cache.clear();
  cache.emplace(pattern, re);
  return re;
}

std::string format_number(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  return std::to_string(d);
}

class Validator {
 public:
  // The budget grows with the instance: a large workload legitimately takes many steps, a
  // one-value instance never needs more than the minimum.
  Validator(const json::value& root, const json::value& instance)
      : root_(root), max_steps_(std::max<size_t>(kMinSteps, kStepsPerValue * count(instance))) {}

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
      auto re = compiled_pattern(std::string(p->get_string()));
      if (!re->ok())
        return out.push_back({ptr, "schema error: bad pattern " + std::string(p->get_string()) +
                                       " (" + re->error() + ")"});
      if (!RE2::PartialMatch(re2::StringPiece(str.data(), str.size()), *re))
        out.push_back({ptr, "must match the pattern " + std::string(p->get_string())});
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

 public:
  std::string budget_message() const {
    return "schema error: validation needs more than " + std::to_string(max_steps_) +
           " steps (the schema branches too much)";
  }
  bool over_budget() const { return steps_ > max_steps_; }

 private:
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
  size_t max_steps_;
  size_t steps_ = 0;
};

}  // namespace

std::string json_pointer_token(std::string_view key) {
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

namespace {

std::optional<std::string> unsupported_keyword_at(const json::value& schema, const std::string& ptr,
                                                  int depth) {
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
        if (auto bad = unsupported_keyword_at(s, at + "/" + json_pointer_token(name), depth + 1))
          return bad;
    } else if (key == "items" || key == "additionalProperties") {
      if (auto bad = unsupported_keyword_at(sub, at, depth + 1)) return bad;
    } else if (key == "oneOf" || key == "anyOf" || key == "allOf") {
      if (!sub.is_array()) continue;
      for (size_t i = 0; i < sub.get_array().size(); ++i)
        if (auto bad =
                unsupported_keyword_at(sub.get_array()[i], at + "/" + std::to_string(i), depth + 1))
          return bad;
    } else if (!kLeaf.count(key)) {
      return (ptr.empty() ? std::string("(root)") : ptr) + ": '" + std::string(key) + "'";
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> unsupported_schema_keyword(const json::value& schema) {
  return unsupported_keyword_at(schema, "", 0);
}

std::vector<SchemaError> validate_json_schema(const boost::json::value& schema,
                                              const boost::json::value& instance) {
  std::vector<SchemaError> out;
  Validator validator(schema, instance);
  validator.validate(schema, instance, "", out);
  // anyOf/oneOf keep only the closest branch's errors: make sure the reason stays visible.
  if (validator.over_budget()) {
    bool said = false;
    for (const auto& e : out) said = said || e.message == validator.budget_message();
    if (!said) out.push_back({"", validator.budget_message()});
  }
  return out;
}

}  // namespace agent_runner
