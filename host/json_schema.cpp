// SPDX-License-Identifier: Apache-2.0
// The SDK's JSON Schema validator with RE2 as its pattern matcher. Errors carry a JSON Pointer so
// callers can map them back to a file line (workloads) or a config key (plugin configs).
#include "json_schema.hpp"

#include <re2/re2.h>

#include <map>
#include <memory>
#include <mutex>

namespace agent_runner {
namespace {

// Schema patterns run on untrusted strings of any length: RE2 matches in linear time without
// recursion (std::regex's recursive matcher overflowed the stack on a 100 000-character value).
// Each pattern is compiled once per process; the cache is bounded because plugin schemas (and
// the fuzzer) can bring any number of them.
std::shared_ptr<const RE2> compiled_pattern(std::string_view pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const RE2>, std::less<>> cache;
  constexpr size_t kMaxCached = 1024;
  std::lock_guard lock(mutex);
  if (auto it = cache.find(pattern); it != cache.end()) return it->second;
  RE2::Options options;
  options.set_log_errors(false);  // a bad pattern is reported as a schema error, not on stderr
  auto re = std::make_shared<const RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (cache.size() >= kMaxCached) cache.clear();
  cache.emplace(std::string(pattern), re);
  return re;
}

class Re2Matcher final : public sdk::PatternMatcher {
 public:
  std::optional<std::string> unsupported(std::string_view pattern) const override {
    auto re = compiled_pattern(pattern);
    if (re->ok()) return std::nullopt;
    return re->error();
  }
  bool search(std::string_view pattern, std::string_view text) const override {
    auto re = compiled_pattern(pattern);
    return re->ok() && RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re);
  }
};

}  // namespace

const sdk::PatternMatcher& re2_pattern_matcher() {
  static const Re2Matcher matcher;
  return matcher;
}

std::optional<std::string> unsupported_schema_keyword(const boost::json::value& schema) {
  return sdk::unsupported_schema_keyword(schema, re2_pattern_matcher());
}

std::vector<SchemaError> validate_json_schema(const boost::json::value& schema,
                                              const boost::json::value& instance) {
  return sdk::validate_json_schema(schema, instance, re2_pattern_matcher());
}

}  // namespace agent_runner
