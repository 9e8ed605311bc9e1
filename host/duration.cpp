#include "duration.hpp"

namespace agent_runner {

namespace {
constexpr int64_t kMaxSeconds = 100LL * 366 * 86400;
}

std::optional<int64_t> parse_duration(std::string_view text, bool bare_seconds) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  bool any_unit = false;
  while (i < text.size()) {
    int64_t n = 0;
    const size_t start = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxSeconds) return std::nullopt;
    }
    if (i == start) return std::nullopt;  // a unit without a number, or a stray character
    if (i == text.size()) {
      // A number without a unit: seconds, when allowed and the text is nothing else.
      if (!bare_seconds || any_unit) return std::nullopt;
      return n;
    }
    int64_t unit = 0;
    switch (text[i]) {
      case 'd':
        unit = 86400;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'm':
        unit = 60;
        break;
      case 's':
        unit = 1;
        break;
      default:
        return std::nullopt;
    }
    ++i;
    any_unit = true;
    total += n * unit;
    if (total > kMaxSeconds) return std::nullopt;
  }
  return total;
}

std::string format_duration(int64_t s) {
  if (s < 0) s = 0;
  static constexpr int64_t kSize[] = {86400, 3600, 60, 1};
  static constexpr const char* kName[] = {"d", "h", "m", "s"};
  size_t u = 0;
  while (u < 3 && s < kSize[u]) ++u;
  std::string out = std::to_string(s / kSize[u]) + kName[u];
  if (u < 3 && s % kSize[u] / kSize[u + 1] > 0)
    out += " " + std::to_string(s % kSize[u] / kSize[u + 1]) + kName[u + 1];
  return out;
}

}  // namespace agent_runner
