#include "output.hpp"

#include <algorithm>

namespace agent_runner::daytona {

std::vector<std::pair<ar_stream, std::string>> Demuxer::feed(std::string_view bytes) {
  std::vector<std::pair<ar_stream, std::string>> out;
  std::string buf = pending_ + std::string(bytes);
  pending_.clear();
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.emplace_back(current_, std::move(cur));
    cur.clear();
  };
  size_t i = 0;
  while (i < buf.size()) {
    const char c = buf[i];
    if (c == '\x01' || c == '\x02') {
      const size_t left = buf.size() - i;
      if (left < 3) {
        // Could be the start of a marker cut by the network: decide on the next feed.
        if (left == 1 || buf[i + 1] == c) {
          pending_ = buf.substr(i);
          break;
        }
      } else if (buf[i + 1] == c && buf[i + 2] == c) {
        flush();
        current_ = c == '\x01' ? AR_STREAM_STDOUT : AR_STREAM_STDERR;
        i += 3;
        continue;
      }
    }
    cur.push_back(c);
    ++i;
  }
  flush();
  return out;
}

std::vector<std::pair<ar_stream, std::string>> Demuxer::finish() {
  std::vector<std::pair<ar_stream, std::string>> out;
  if (!pending_.empty()) out.emplace_back(current_, std::move(pending_));
  pending_.clear();
  return out;
}

void CappedBuffer::append(std::string_view data) {
  total_ += data.size();
  const size_t head_cap = cap_ / 2;
  const size_t tail_cap = cap_ - head_cap;
  if (head_.size() < head_cap) {
    const size_t n = std::min(head_cap - head_.size(), data.size());
    head_.append(data.substr(0, n));
    data.remove_prefix(n);
  }
  if (tail_cap == 0) return;
  if (data.size() >= tail_cap) {
    tail_.assign(data.substr(data.size() - tail_cap));
    tail_pos_ = 0;
    return;
  }
  for (char c : data) {
    if (tail_.size() < tail_cap) {
      tail_.push_back(c);
    } else {
      tail_[tail_pos_] = c;
      tail_pos_ = (tail_pos_ + 1) % tail_cap;
    }
  }
}

std::string CappedBuffer::text() const {
  std::string tail = tail_.substr(tail_pos_) + tail_.substr(0, tail_pos_);
  if (!truncated()) return head_ + tail;
  const uint64_t dropped = total_ - head_.size() - tail.size();
  return head_ + "\n[... " + std::to_string(dropped) + " bytes truncated ...]\n" + tail;
}

}  // namespace agent_runner::daytona
