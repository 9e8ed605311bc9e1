#include "output.hpp"

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

}  // namespace agent_runner::daytona
