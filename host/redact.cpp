#include "redact.hpp"

#include <algorithm>
#include <mutex>

namespace agent_runner {
namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

Redactor& Redactor::global() {
  static Redactor r;
  return r;
}

void Redactor::add(std::string_view secret) {
  if (secret.size() < 4) return;
  std::lock_guard lock(registry_mutex());
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.emplace_back(secret);
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

bool Redactor::empty() const {
  std::lock_guard lock(registry_mutex());
  return secrets_.empty();
}

size_t Redactor::longest() const {
  std::lock_guard lock(registry_mutex());
  return secrets_.empty() ? 0 : secrets_.front().size();
}

std::vector<std::string> Redactor::values() const {
  std::lock_guard lock(registry_mutex());
  return secrets_;
}

std::string Redactor::redact(std::string_view text) const {
  std::lock_guard lock(registry_mutex());
  std::string out(text);
  for (const auto& s : secrets_) {
    size_t pos = 0;
    while ((pos = out.find(s, pos)) != std::string::npos) {
      out.replace(pos, s.size(), kRedacted);
      pos += kRedacted.size();
    }
  }
  return out;
}

std::string StreamRedactor::push(std::string_view chunk) {
  pending_.append(chunk);
  std::string red = redactor_.redact(pending_);
  const auto secrets = redactor_.values();
  // Hold back the longest tail of the (redacted) text that is a proper prefix of some secret.
  size_t hold = 0;
  for (const auto& s : secrets) {
    const size_t max = std::min(s.size() - 1, red.size());
    for (size_t k = max; k > hold; --k) {
      if (red.compare(red.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
    }
  }
  pending_ = red.substr(red.size() - hold);
  red.resize(red.size() - hold);
  return red;
}

std::string StreamRedactor::flush() {
  std::string out = redactor_.redact(pending_);
  pending_.clear();
  return out;
}

}  // namespace agent_runner
