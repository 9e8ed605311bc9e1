// Secret redaction: every value registered here is replaced by "***" wherever the host prints it
// (logs, events, command output). One registry for the whole process.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

class Redactor {
 public:
  // The process-wide registry used by logging and every printer.
  static Redactor& global();

  // Registers a secret value. Values shorter than 4 bytes are not registered: replacing them
  // everywhere would destroy ordinary text and hide almost nothing.
  void add(std::string_view secret);
  std::string redact(std::string_view text) const;
  bool empty() const;
  // The longest registered secret, in bytes (streaming redaction keeps this much back).
  size_t longest() const;
  std::vector<std::string> values() const;

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

}  // namespace agent_runner
