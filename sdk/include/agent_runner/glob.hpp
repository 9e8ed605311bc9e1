// SPDX-License-Identifier: Apache-2.0
// Glob patterns over sandbox paths, the same for every plugin (header-only, needs plugin.hpp;
// sandbox_path.hpp includes it).
//
// A pattern is compiled once and matched without backtracking, so an agent's pattern costs time
// linear in the path whatever it holds: a path component against a component pattern is the
// classic one-star-backtrack scan (O(component x pattern)), and a path against the components of
// the pattern is a set of pattern positions advanced one path component at a time (an NFA: O(path
// components x pattern components)), never a recursion over every way `**` could split the path.
// A walk keeps the state of each directory and steps it by one name per entry; a state with no
// position left means nothing below that directory can match, so the walk can skip it.
#pragma once

#include <agent_runner/plugin.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::sdk {
inline namespace v1 {

// Longest glob pattern accepted by check_glob_pattern (bytes).
inline constexpr size_t kMaxGlobPatternBytes = 4000;

// The non-empty components of a '/'-separated path or pattern other than "." (not normalised:
// ".." stays). "/a//./b/" -> {"a", "b"}.
inline std::vector<std::string> split_path(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    const std::string_view part = s.substr(i, j - i);
    if (!part.empty() && part != ".") out.emplace_back(part);
    i = j + 1;
  }
  return out;
}

namespace detail {

// The length of the UTF-8 character at s[i] (1 for a byte that does not start a valid one, so
// names that are not UTF-8 still match byte by byte), and its code point.
inline size_t utf8_next(std::string_view s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  cp = c;
  if (c < 0x80) return 1;
  const size_t n = c >= 0xC2 && c < 0xE0    ? 2
                   : c >= 0xE0 && c < 0xF0  ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4
                                            : 0;
  if (n == 0 || i + n > s.size()) return 1;
  uint32_t v = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 1;
    v = (v << 6) | (b(k) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not characters.
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF))
    return 1;
  cp = v;
  return n;
}

}  // namespace detail

// One path component's pattern, as fnmatch(3) without flags reads it: `*` any run of characters
// (a leading dot included), `?` one character, `[...]` one character of a set (`!` or `^`
// negates, ranges `a-z`, classes `[:alpha:]` ..., `[=c=]`, `[.c.]`), `\c` the character c; an
// unclosed `[` is a plain `[`. Characters are UTF-8 (a byte that is not is one character).
class ComponentGlob {
 public:
  explicit ComponentGlob(std::string_view pattern) { compile(pattern); }

  bool match(std::string_view name) const {
    if (exact_) return name == literals_;
    size_t ti = 0, si = 0, star_ti = npos, star_si = 0;
    const size_t n = name.size();
    for (;;) {
      if (ti < tokens_.size() && tokens_[ti].kind == Kind::star) {
        if (ti + 1 == tokens_.size()) return true;  // a trailing star takes the rest
        star_ti = ti++;
        star_si = si;
        continue;
      }
      if (ti < tokens_.size() && si < n) {
        if (const size_t len = match_one(tokens_[ti], name, si)) {
          ++ti;
          si += len;
          continue;
        }
      } else if (ti == tokens_.size() && si == n) {
        return true;
      }
      // Mismatch: the last star takes one more character, everything after it starts again.
      // Earlier stars never need to: the tokens between two stars match at fixed lengths.
      if (star_ti == npos || star_si >= n) return false;
      uint32_t cp;
      star_si += detail::utf8_next(name, star_si, cp);
      si = star_si;
      ti = star_ti + 1;
    }
  }

  // Whether the pattern is exactly `**` (any number of whole components, in a path pattern).
  bool globstar() const { return globstar_; }

 private:
  static constexpr size_t npos = static_cast<size_t>(-1);
  enum class Kind : uint8_t { literal, any, set, star };
  struct Token {
    Kind kind;
    uint32_t a = 0, b = 0;  // literal: offset and length in literals_; set: index in sets_
  };
  // The [:name:] classes, ASCII as in the C locale.
  enum Named : uint16_t {
    alpha = 1,
    digit = 2,
    alnum = 4,
    upper = 8,
    lower = 16,
    space = 32,
    punct = 64,
    xdigit = 128,
    cntrl = 256,
    print = 512,
    graph = 1024,
    blank = 2048
  };
  struct Set {
    bool negate = false;
    uint16_t named = 0;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
  };

  static bool in_named(uint16_t named, uint32_t c) {
    if (c >= 0x80) return false;
    const bool up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z', dg = c >= '0' && c <= '9';
    const bool sp = c == ' ' || (c >= '\t' && c <= '\r'), ct = c < 0x20 || c == 0x7F;
    const bool gr = c > 0x20 && c < 0x7F, pu = gr && !up && !lo && !dg;
    return ((named & alpha) && (up || lo)) || ((named & digit) && dg) ||
           ((named & alnum) && (up || lo || dg)) || ((named & upper) && up) ||
           ((named & lower) && lo) || ((named & space) && sp) || ((named & punct) && pu) ||
           ((named & xdigit) && (dg || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) ||
           ((named & cntrl) && ct) || ((named & print) && (gr || c == ' ')) ||
           ((named & graph) && gr) || ((named & blank) && (c == ' ' || c == '\t'));
  }

  // The bytes token `t` takes at name[i], or 0 when it does not match there.
  size_t match_one(const Token& t, std::string_view name, size_t i) const {
    switch (t.kind) {
      case Kind::literal:
        return name.compare(i, t.b, literals_, t.a, t.b) == 0 ? t.b : 0;
      case Kind::any: {
        uint32_t cp;
        return detail::utf8_next(name, i, cp);
      }
      case Kind::set: {
        uint32_t cp;
        const size_t len = detail::utf8_next(name, i, cp);
        const Set& s = sets_[t.a];
        bool in = in_named(s.named, cp);
        for (size_t k = 0; !in && k < s.ranges.size(); ++k)
          in = cp >= s.ranges[k].first && cp <= s.ranges[k].second;
        return in != s.negate ? len : 0;
      }
      case Kind::star:
        break;
    }
    return 0;
  }

  void add_literal(std::string_view bytes) {
    if (!tokens_.empty() && tokens_.back().kind == Kind::literal) {
      tokens_.back().b += static_cast<uint32_t>(bytes.size());
    } else {
      tokens_.push_back({Kind::literal, static_cast<uint32_t>(literals_.size()),
                         static_cast<uint32_t>(bytes.size())});
    }
    literals_.append(bytes);
  }

  // Parses the set starting after '[' at p[i]; returns the index after its ']', or npos when
  // it is not closed (then the '[' is a plain character).
  size_t parse_set(std::string_view p, size_t i) {
    Set s;
    if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
      s.negate = true;
      ++i;
    }
    bool first = true;
    // One member character at p[i] ('\' escapes); npos at the end of the pattern.
    const auto member = [&](size_t& k, uint32_t& cp) {
      if (k < p.size() && p[k] == '\\' && k + 1 < p.size()) ++k;
      if (k >= p.size()) return false;
      k += detail::utf8_next(p, k, cp);
      return true;
    };
    while (i < p.size()) {
      if (p[i] == ']' && !first) {
        sets_.push_back(std::move(s));
        tokens_.push_back({Kind::set, static_cast<uint32_t>(sets_.size() - 1), 0});
        return i + 1;
      }
      first = false;
      if (p[i] == '[' && i + 1 < p.size() &&
          (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.')) {
        const char kind = p[i + 1];
        const size_t close = p.find(std::string{kind, ']'}, i + 2);
        if (close != std::string_view::npos) {
          const std::string_view name = p.substr(i + 2, close - i - 2);
          if (kind == ':') {
            static constexpr std::pair<std::string_view, uint16_t> kNames[] = {
                {"alpha", alpha}, {"digit", digit}, {"alnum", alnum}, {"upper", upper},
                {"lower", lower}, {"space", space}, {"punct", punct}, {"xdigit", xdigit},
                {"cntrl", cntrl}, {"print", print}, {"graph", graph}, {"blank", blank}};
            for (const auto& [n, bit] : kNames)
              if (n == name) s.named |= bit;
          } else if (!name.empty()) {
            uint32_t cp;
            detail::utf8_next(name, 0, cp);
            s.ranges.emplace_back(cp, cp);
          }
          i = close + 2;
          continue;
        }
      }
      uint32_t lo, hi;
      if (!member(i, lo)) break;
      hi = lo;
      if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
        ++i;
        if (!member(i, hi)) break;
      }
      if (lo <= hi) s.ranges.emplace_back(lo, hi);
    }
    return npos;
  }

  void compile(std::string_view p) {
    globstar_ = p == "**";
    size_t i = 0;
    while (i < p.size()) {
      const char c = p[i];
      if (c == '*') {
        if (tokens_.empty() || tokens_.back().kind != Kind::star) tokens_.push_back({Kind::star});
        ++i;
      } else if (c == '?') {
        tokens_.push_back({Kind::any});
        ++i;
      } else if (c == '[') {
        const size_t after = parse_set(p, i + 1);
        if (after == npos) {
          add_literal("[");
          ++i;
        } else {
          i = after;
        }
      } else if (c == '\\' && i + 1 < p.size()) {
        add_literal(p.substr(i + 1, 1));
        i += 2;
      } else {
        add_literal(p.substr(i, 1));
        ++i;
      }
    }
    exact_ = tokens_.empty() || (tokens_.size() == 1 && tokens_[0].kind == Kind::literal);
  }

  std::vector<Token> tokens_;
  std::string literals_;
  std::vector<Set> sets_;
  bool exact_ = false;     // no wildcard: the name must equal literals_
  bool globstar_ = false;  // the pattern is `**`
};

// A path pattern: components of ComponentGlob, where a whole component `**` matches any number
// of path components, none included. The whole path must match.
class PathGlob {
 public:
  // The set of pattern positions reached after some path components (position i: component i of
  // the pattern is next; position size(): the whole pattern matched).
  class State {
   public:
    bool empty() const {
      for (uint64_t w : bits_)
        if (w) return false;
      return true;
    }

   private:
    friend class PathGlob;
    explicit State(size_t positions) : bits_((positions + 63) / 64) {}
    bool has(size_t i) const { return (bits_[i / 64] >> (i % 64)) & 1; }
    void add(size_t i) { bits_[i / 64] |= uint64_t{1} << (i % 64); }
    std::vector<uint64_t> bits_;
  };

  explicit PathGlob(std::string_view pattern) : PathGlob(split_path(pattern)) {}
  explicit PathGlob(const std::vector<std::string>& parts) {
    parts_.reserve(parts.size());
    for (const auto& p : parts) parts_.emplace_back(p);
    // rest_matches_[i]: from position i the pattern may end (every component left is `**`).
    rest_matches_.assign(parts_.size() + 1, true);
    for (size_t i = parts_.size(); i-- > 0;)
      rest_matches_[i] = parts_[i].globstar() && rest_matches_[i + 1];
  }

  // The state before any path component (the root of the walk).
  State start() const {
    State s(parts_.size() + 1);
    s.add(0);
    close(s);
    return s;
  }
  // The state after one more path component `name`; empty() when nothing below can match.
  State step(const State& s, std::string_view name) const {
    State out(parts_.size() + 1);
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (!s.has(i)) continue;
      if (parts_[i].globstar())
        out.add(i);
      else if (parts_[i].match(name))
        out.add(i + 1);
    }
    close(out);
    return out;
  }
  // Whether the path that led to `s` matches.
  bool accepts(const State& s) const { return s.has(parts_.size()); }
  // accepts(step(s, name)) without building the state (a walk's files).
  bool accepts_after(const State& s, std::string_view name) const {
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (!s.has(i)) continue;
      if (parts_[i].globstar() ? rest_matches_[i] : rest_matches_[i + 1] && parts_[i].match(name))
        return true;
    }
    return false;
  }

  bool match(const std::vector<std::string>& path) const {
    State s = start();
    for (const auto& c : path) {
      s = step(s, c);
      if (s.empty()) return false;
    }
    return accepts(s);
  }

 private:
  // Adds what `**` reaches without consuming a component (it may match none).
  void close(State& s) const {
    for (size_t i = 0; i < parts_.size(); ++i)
      if (s.has(i) && parts_[i].globstar()) s.add(i + 1);
  }

  std::vector<ComponentGlob> parts_;
  std::vector<bool> rest_matches_;
};

// Glob over split paths (split_path): `*`, `?` and `[...]` match within one component (a leading
// dot included), a whole component `**` matches any number of components, none included. The
// whole path must match. Compile a PathGlob once instead when matching many paths.
inline bool glob_match_parts(const std::vector<std::string>& pattern,
                             const std::vector<std::string>& path) {
  return PathGlob(pattern).match(path);
}

// glob_match_parts on '/'-separated strings: glob_match("src/**/*.py", "src/a/b.py") is true.
inline bool glob_match(std::string_view pattern, std::string_view path) {
  return glob_match_parts(split_path(pattern), split_path(path));
}

// Checks a glob/grep pattern from a request: not empty (when `allow_empty` is false), no NUL
// byte, at most kMaxGlobPatternBytes (invalid_argument), no `..` component (invalid_path). `op`
// and `field` name the request in the message.
inline void check_glob_pattern(std::string_view pattern, std::string_view op,
                               std::string_view field, bool allow_empty = false) {
  const std::string where = std::string(op) + ": '" + std::string(field) + "'";
  if (pattern.empty() && !allow_empty)
    throw Error(AR_ERR_INVALID_ARGUMENT, where + " must not be empty");
  if (pattern.find('\0') != std::string_view::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, where + " contains a NUL byte");
  if (pattern.size() > kMaxGlobPatternBytes)
    throw Error(AR_ERR_INVALID_ARGUMENT, where + " is too long (" + std::to_string(pattern.size()) +
                                             " bytes; at most " +
                                             std::to_string(kMaxGlobPatternBytes) + ")");
  for (const auto& part : split_path(pattern))
    if (part == "..")
      throw Error(AR_ERR_INVALID_PATH, std::string(op) + ": '..' is not allowed in a pattern");
}

}  // namespace v1
}  // namespace agent_runner::sdk
