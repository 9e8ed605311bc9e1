// SPDX-License-Identifier: Apache-2.0
// Secret redaction: every value registered here is replaced by "***" wherever the host prints it
// (logs, events, command output, MCP messages). One registry for the whole process.
//
// Redaction works on bytes, so it must happen before anything re-encodes them (base64, UTF-8
// repair): a secret inside base64 text is no longer findable. And wherever text is cut (a
// window over streaming output, a chunk boundary), a secret cut in two must not show in part.
#pragma once

#include <boost/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

class Redactor {
 public:
  // Shorter values are not registered: replacing them everywhere would destroy ordinary text and
  // hide almost nothing. Loaders refuse such secrets instead of leaving them unmasked.
  static constexpr size_t kMinSecretBytes = 4;

  // The process-wide registry used by logging and every printer.
  static Redactor& global();

  // Registers a secret value; false (and nothing registered) when it is too short.
  bool add(std::string_view secret);
  std::string redact(std::string_view text) const;
  // Redacts every string inside `v`, at any depth, except the values of members `keep` says are
  // the writer's own vocabulary (protocol names, event kinds) rather than data.
  void redact_json(boost::json::value& v,
                   const std::function<bool(std::string_view key)>& keep = {}) const;
  // Whether any registered secret occurs in `text` (redact() would change it), without a copy.
  bool contains(std::string_view text) const;
  bool empty() const;
  // The longest registered secret, in bytes (streaming redaction keeps this much back).
  size_t longest() const;
  std::vector<std::string> values() const;

  // Length of the longest suffix of `text` that is a proper prefix of a secret: the start of a
  // secret that a cut at the end of `text` may have split off.
  size_t partial_prefix_at_end(std::string_view text) const;
  // Length of the longest prefix of `text` that is a proper suffix of a secret: the rest of a
  // secret that began before `text` did.
  size_t partial_suffix_at_start(std::string_view text) const;

 private:
  mutable std::vector<std::string> secrets_;  // guarded by mutex_ in the .cpp
};

inline constexpr std::string_view kRedacted = "***";

// Redacts a stream of chunks where a secret may be split across two chunks: text that could be
// the start of a secret is held back until the next chunk (or flush) decides.
class StreamRedactor {
 public:
  explicit StreamRedactor(const Redactor& r) : redactor_(r) {}
  // Returns the text that is safe to emit now.
  std::string push(std::string_view chunk);
  // Returns whatever is still held back, redacted.
  std::string flush();

 private:
  const Redactor& redactor_;
  std::string pending_;
};

// The end of a running stream, kept so that a redacted excerpt of it can be shown at any moment
// (MCP progress messages quote the last line). Redacts before cutting, and shows no piece of a
// secret at either edge: one that began before the kept window, or one still being written.
class RedactedTail {
 public:
  RedactedTail(const Redactor& r, size_t keep) : redactor_(r), keep_(keep) {}
  void append(std::string_view chunk);
  // Redacted text ending where the output ends so far, at least the last `keep` bytes of it
  // when there are that many (minus any piece of a secret at the edges).
  std::string excerpt() const;

 private:
  const Redactor& redactor_;
  size_t keep_;
  std::string raw_;
  bool trimmed_ = false;  // raw_ no longer starts at the start of the output
};

}  // namespace agent_runner
