// SPDX-License-Identifier: Apache-2.0
#include "line_matcher.hpp"

#include <agent_runner/plugin.hpp>

#include <algorithm>
#include <cstring>

namespace agent_runner::fs_plugin {

namespace {

// A shorter common prefix finds too many places to check to be worth it.
constexpr size_t kMinPrefix = 3;

// Whether the pattern uses \A or \z, which mean the start and end of the text searched: a line
// when lines are matched one by one.
bool anchors_text(std::string_view pattern) {
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '\\') continue;
    if (pattern[i + 1] == 'A' || pattern[i + 1] == 'z') return true;
    ++i;  // an escaped character, "\\" included
  }
  return false;
}

RE2::Options re2_options(bool literal, bool ignore_case) {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_literal(literal);
  o.set_case_sensitive(!ignore_case);
  o.set_never_nl(true);
  o.set_max_mem(64 << 20);
  return o;
}

}  // namespace

LineMatcher::LineMatcher(const std::string& pattern, bool literal, bool ignore_case) {
  if (literal && pattern.find('\n') != std::string::npos) {
    mode_ = Mode::never;  // a line holds no '\n'
    return;
  }
  if (literal && !ignore_case) {
    mode_ = Mode::literal;
    needle_ = pattern;
    return;
  }
  const RE2::Options opts = re2_options(literal, ignore_case);
  if (literal) {
    mode_ = Mode::regex;  // no anchors in a literal: the whole buffer at once
    re_ = std::make_unique<RE2>(pattern, opts);
  } else if (anchors_text(pattern)) {
    mode_ = Mode::per_line;
    re_ = std::make_unique<RE2>(pattern, opts);
  } else {
    mode_ = Mode::regex;
    re_ = std::make_unique<RE2>("(?m)" + pattern, opts);
    // The message should quote the pattern as given, not with the flag in front.
    if (!re_->ok()) re_ = std::make_unique<RE2>(pattern, opts);
  }
  if (!re_->ok())
    throw sdk::Error(AR_ERR_INVALID_ARGUMENT,
                     "grep: invalid regular expression '" + pattern + "': " + re_->error() +
                         " (RE2 syntax; pass literal: true to search for the text as is)");
  // Every anchored match s has min <= s <= max, so it starts with their common prefix.
  std::string min, max;
  if (mode_ == Mode::regex && !literal && re_->PossibleMatchRange(&min, &max, 64)) {
    size_t n = 0;
    while (n < min.size() && n < max.size() && min[n] == max[n]) ++n;
    if (n >= kMinPrefix) {
      mode_ = Mode::prefixed;
      needle_ = min.substr(0, n);
    }
  }
}

void LineMatcher::for_each(std::string_view text,
                           const std::function<bool(int64_t, std::string_view)>& on_line) const {
  if (mode_ == Mode::never) return;
  const char* const base = text.data();
  const size_t size = text.size();
  if (mode_ == Mode::per_line) {
    int64_t line = 0;
    for (size_t pos = 0; pos < size;) {
      const char* nl = static_cast<const char*>(std::memchr(base + pos, '\n', size - pos));
      const size_t end = nl ? static_cast<size_t>(nl - base) : size;
      const std::string_view l(base + pos, end - pos);
      ++line;
      if (RE2::PartialMatch(l, *re_) && !on_line(line, l)) return;
      pos = end + 1;
    }
    return;
  }
  // From each place a match may be (a match, or the prefix every match starts with), the line
  // around it; line numbers are counted lazily, from the last reported line to this one.
  int64_t line = 1;
  size_t counted = 0;
  for (size_t pos = 0; pos <= size;) {
    size_t at;
    if (mode_ == Mode::regex) {
      re2::StringPiece m;
      if (!re_->Match(text, pos, size, RE2::UNANCHORED, &m, 1)) return;
      at = static_cast<size_t>(m.data() - base);
    } else {
      const void* hit = needle_.empty()
                            ? base + pos
                            : ::memmem(base + pos, size - pos, needle_.data(), needle_.size());
      if (!hit) return;
      at = static_cast<size_t>(static_cast<const char*>(hit) - base);
    }
    // An empty match after the last '\n' is on no line ("a\n" has one line).
    if (at == size && (size == 0 || base[size - 1] == '\n')) return;
    const void* prev_nl = at > pos ? ::memrchr(base + pos, '\n', at - pos) : nullptr;
    const size_t start =
        prev_nl ? static_cast<size_t>(static_cast<const char*>(prev_nl) - base) + 1 : pos;
    const char* nl = static_cast<const char*>(std::memchr(base + at, '\n', size - at));
    const size_t end = nl ? static_cast<size_t>(nl - base) : size;
    const std::string_view l(base + start, end - start);
    if (mode_ != Mode::prefixed || RE2::PartialMatch(l, *re_)) {
      line += std::count(base + counted, base + start, '\n');
      counted = start;
      if (!on_line(line, l)) return;
    }
    if (!nl) return;
    pos = end + 1;
  }
}

}  // namespace agent_runner::fs_plugin
