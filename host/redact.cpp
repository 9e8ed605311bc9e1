// SPDX-License-Identifier: Apache-2.0
#include "redact.hpp"

#include <algorithm>
#include <cstring>
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

bool Redactor::add(std::string_view secret) {
  if (secret.size() < kMinSecretBytes) return false;
  std::lock_guard lock(registry_mutex());
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return true;
  secrets_.emplace_back(secret);
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets_.begin(), secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return true;
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

void Redactor::redact_json(boost::json::value& v,
                           const std::function<bool(std::string_view)>& keep) const {
  if (v.is_string()) {
    // Most strings hold no secret: look first (no copy), rewrite only those that do.
    if (contains(v.get_string())) v = redact(v.get_string());
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) redact_json(e, keep);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object())
      if (!keep || !keep(kv.key())) redact_json(kv.value(), keep);
  }
}

bool Redactor::contains(std::string_view text) const {
  std::lock_guard lock(registry_mutex());
  for (const auto& s : secrets_)
    if (::memmem(text.data(), text.size(), s.data(), s.size())) return true;
  return false;
}

std::string Redactor::redact(std::string_view text) const {
  std::lock_guard lock(registry_mutex());
  // Every printed byte passes here (command output included), so: memmem (glibc's two-way
  // search, not a memchr for the first byte and a memcmp at each hit), and a copy only of text
  // that holds a secret. Each secret in turn, longest first, left to right, not overlapping.
  std::string out;
  bool replaced = false;
  for (const auto& s : secrets_) {
    const std::string_view cur = replaced ? std::string_view(out) : text;
    auto find = [&](size_t from) {
      const void* hit = ::memmem(cur.data() + from, cur.size() - from, s.data(), s.size());
      return hit ? static_cast<size_t>(static_cast<const char*>(hit) - cur.data())
                 : std::string_view::npos;
    };
    size_t at = find(0);
    if (at == std::string_view::npos) continue;
    std::string next;
    next.reserve(cur.size());
    size_t pos = 0;
    for (; at != std::string_view::npos; at = find(pos)) {
      next.append(cur.substr(pos, at - pos));
      next.append(kRedacted);
      pos = at + s.size();
    }
    next.append(cur.substr(pos));
    out = std::move(next);
    replaced = true;
  }
  return replaced ? out : std::string(text);
}

size_t Redactor::partial_prefix_at_end(std::string_view text) const {
  std::lock_guard lock(registry_mutex());
  size_t hold = 0;
  for (const auto& s : secrets_) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k) {
      if (text.substr(text.size() - k) == std::string_view(s).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

size_t Redactor::partial_suffix_at_start(std::string_view text) const {
  std::lock_guard lock(registry_mutex());
  size_t drop = 0;
  for (const auto& s : secrets_) {
    for (size_t k = std::min(s.size() - 1, text.size()); k > drop; --k) {
      if (text.substr(0, k) == std::string_view(s).substr(s.size() - k)) {
        drop = k;
        break;
      }
    }
  }
  return drop;
}

std::string StreamRedactor::push(std::string_view chunk) {
  std::string red;
  if (pending_.empty()) {
    red = redactor_.redact(chunk);
  } else {
    pending_.append(chunk);
    red = redactor_.redact(pending_);
  }
  // Hold back the longest tail of the (redacted) text that is a proper prefix of some secret.
  const size_t hold = redactor_.partial_prefix_at_end(red);
  pending_.assign(red, red.size() - hold, hold);
  red.resize(red.size() - hold);
  return red;
}

std::string StreamRedactor::flush() {
  std::string out = redactor_.redact(pending_);
  pending_.clear();
  return out;
}

void RedactedTail::append(std::string_view chunk) {
  raw_.append(chunk);
  // Keep at least the window plus one longest secret, so a secret cut by the start of raw_ ends
  // inside it and shows there as a proper suffix, which excerpt() drops. Trim in large steps so
  // appending stays linear.
  const size_t want = keep_ + redactor_.longest();
  if (raw_.size() > 2 * want + 4096) {
    raw_.erase(0, raw_.size() - want);
    trimmed_ = true;
  }
}

std::string RedactedTail::excerpt() const {
  std::string red = redactor_.redact(raw_);
  // A secret still being written: its start is at the end now.
  red.resize(red.size() - redactor_.partial_prefix_at_end(red));
  // A secret that began before the window: its rest is at the start.
  if (trimmed_) red.erase(0, redactor_.partial_suffix_at_start(red));
  return red;
}

}  // namespace agent_runner
