// SPDX-License-Identifier: Apache-2.0
// glob and grep: the workspace walk (walk.hpp) with the compiled glob of the SDK, RE2 for the
// agent's regular expressions (linear time: a pathological pattern cannot hang the host), and
// the first results in report order kept (first_n.hpp) whichever thread finds them.
#include "file_ops.hpp"
#include "first_n.hpp"
#include "line_matcher.hpp"
#include "walk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;
using sdk::Result;

namespace {

// glob returns at most this many entries (truncated beyond).
constexpr size_t kMaxGlobEntries = 20000;
// grep skips a file with a NUL byte in its first bytes: binary.
constexpr size_t kBinaryProbeBytes = 8000;

// The display path of a walk key below `base`.
std::string shown_path(const SandboxPath& base, std::string_view key) {
  std::string s = base.is_root() ? std::string() : base.display();
  if (!key.empty()) (s += '/') += key;
  return s.empty() ? "/" : s;
}

WalkOptions walk_options(const FileContext& ctx, sdk::Call& call) {
  WalkOptions o;
  o.max_entries = ctx.max_search_entries;
  o.cancelled = [&call] { return call.cancelled(); };
  return o;
}

// A file's bytes, read into a buffer reused from file to file (never zero-filled first).
class FileBuffer {
 public:
  // The content of the regular file `fd` of `size` bytes (fstat), or nullopt when it grew past
  // `max` or cannot be read.
  std::optional<std::string_view> read(int fd, size_t size, uint64_t max) {
    size_t got = 0;
    reserve(size + 1);
    for (;;) {
      const ssize_t n = ::read(fd, data_.get() + got, cap_ - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        return std::nullopt;
      }
      got += static_cast<size_t>(n);
      // A short read that ends where fstat said the file ends is the end: no second read
      // just to see 0.
      if (n == 0 || (got == size && got < cap_)) break;
      if (got > max) return std::nullopt;
      if (got == cap_) reserve(cap_ * 2);
    }
    if (got > max) return std::nullopt;
    return std::string_view(data_.get(), got);
  }

 private:
  void reserve(size_t n) {
    if (n <= cap_) return;
    auto bigger = std::unique_ptr<char[]>(new char[n]);
    if (cap_) std::memcpy(bigger.get(), data_.get(), cap_);
    data_ = std::move(bigger);
    cap_ = n;
  }
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
};

struct GlobHit {
  bool is_dir;
  int64_t size;
  time_t mtime;
};

// A glob pattern's leading literal components move into the directory walked (an absolute
// pattern starts at "/"): "/workspace/src/**/*.py" walks /workspace/src, never the rest of the
// sandbox. Returns the pattern left to match below `base`.
std::string narrow(std::string_view pattern, SandboxPath& base, bool& narrowed) {
  const std::vector<std::string> parts = sdk::split_path(pattern);
  size_t lit = 0;
  while (lit + 1 < parts.size() && parts[lit] != "**" &&
         parts[lit].find_first_of("*?[\\") == std::string::npos)
    base = base.child(parts[lit++]);
  narrowed = lit > 0;
  std::string rest;
  for (size_t i = lit; i < parts.size(); ++i) (rest += rest.empty() ? "" : "/") += parts[i];
  return rest;
}

struct GrepHit {
  int64_t line;
  std::string text;
};

}  // namespace

Result op_glob(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  std::string pattern = sdk::json_get::string(req, "pattern");
  sdk::check_glob_pattern(pattern, "glob", "pattern");
  SandboxPath base = ctx.files.path_arg(req, "path", ".");
  // A `path` that is not a directory is an error, whatever the pattern.
  if (sdk::json_get::find(req, "path")) ctx.files.open(base, O_PATH | O_DIRECTORY, "glob");
  // An absolute pattern is matched against the whole path.
  if (pattern[0] == '/') base = SandboxPath{};
  bool narrowed = false;
  pattern = narrow(pattern, base, narrowed);
  const sdk::PathGlob glob(pattern);
  Fd dir;
  if (narrowed) {
    // No directory where the pattern's literal part leads: nothing matches (as in a shell).
    const int fd = ctx.files.resolver(base, "glob").open_beneath(base, O_RDONLY | O_DIRECTORY);
    if (fd == -ENOENT || fd == -ENOTDIR)
      return Result::ok({{"entries", json::array{}}, {"truncated", false}});
    if (fd < 0) throw_errno(-fd, base.display(), "glob");
    dir.reset(fd);
  } else {
    dir = ctx.files.open(base, O_RDONLY | O_DIRECTORY, "glob");
  }

  FirstN<GlobHit> found(kMaxGlobEntries);
  WalkOptions opts = walk_options(ctx, call);
  opts.path_glob = &glob;
  opts.dirs = true;  // directories match too, as in shell globbing
  opts.skip = ctx.files.walk_skip(base);
  opts.past = [&found](std::string_view key) { return found.past(key); };
  const WalkOutcome walked = walk_files(dir.get(), opts, [&](const WalkFile& f) {
    struct stat st {};
    const std::string name(f.name);
    if (::fstatat(f.dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (f.is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return;
    found.add(f.key, {GlobHit{f.is_dir, static_cast<int64_t>(st.st_size), st.st_mtime}});
  });
  if (walked.cancelled) throw Error(AR_ERR_CANCELLED, "glob: cancelled");

  std::vector<std::pair<std::string, GlobHit>> rows;
  for (auto& [key, hits] : found.take()) rows.emplace_back(shown_path(base, key), hits.front());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const json::storage_ptr sp = json::make_shared_resource<json::monotonic_resource>();
  json::array entries(sp);
  entries.reserve(rows.size());
  char when[32];
  for (const auto& [path, hit] : rows)
    entries.push_back(
        sdk::file_entry(path, hit.is_dir, hit.size, sdk::format_iso_time_utc(hit.mtime, when), sp));
  json::object body(sp);
  body["entries"] = std::move(entries);
  body["truncated"] = walked.truncated || found.truncated();
  return Result::ok(std::move(body));
}

Result op_grep(const FileContext& ctx, sdk::Call& call) {
  const auto req = sdk::GrepRequest::from_request(call.request());
  const SandboxPath base = ctx.files.path(req.path);
  const auto& glob = req.glob;
  const LineMatcher matcher(req.pattern, req.literal, req.ignore_case);
  if (glob) sdk::check_glob_pattern(*glob, "grep", "glob", true);
  // A glob with a '/' is matched against the path below `path`, one without against the name.
  std::optional<sdk::PathGlob> path_glob;
  std::optional<sdk::ComponentGlob> name_glob;
  if (glob && glob->find('/') != std::string::npos)
    path_glob.emplace(*glob);
  else if (glob)
    name_glob.emplace(*glob);

  const size_t limit = static_cast<size_t>(req.max_matches);
  FirstN<GrepHit> hits(limit);
  std::vector<FileBuffer> buffers(walk_thread_count(0));
  auto search = [&](int fd, const std::string& key, FileBuffer& buf) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    if (st.st_size == 0 || static_cast<uint64_t>(st.st_size) > ctx.max_file_bytes) return;
    const auto content = buf.read(fd, static_cast<size_t>(st.st_size), ctx.max_file_bytes);
    if (!content) return;  // grew past the limit, or unreadable: skipped like a large file
    if (std::memchr(content->data(), '\0', std::min(content->size(), kBinaryProbeBytes))) return;
    std::vector<GrepHit> found;
    matcher.for_each(*content, [&](int64_t line, std::string_view text) {
      found.push_back({line, sdk::grep_line_text(text)});
      return found.size() <= limit;  // one over the limit says truncated
    });
    hits.add(key, std::move(found));
  };

  Fd target = ctx.files.open_file(base, O_RDONLY, "grep");
  struct stat st {};
  if (::fstat(target.get(), &st) != 0) throw_errno(errno, base.display(), "grep");
  bool walk_truncated = false;
  if (S_ISREG(st.st_mode)) {
    search(target.get(), std::string(), buffers[0]);
  } else {
    WalkOptions opts = walk_options(ctx, call);
    if (path_glob) opts.path_glob = &*path_glob;
    if (name_glob) opts.name_glob = &*name_glob;
    opts.threads = static_cast<unsigned>(buffers.size());
    opts.skip = ctx.files.walk_skip(base);
    opts.past = [&hits](std::string_view key) { return hits.past(key); };
    const WalkOutcome walked = walk_files(target.get(), opts, [&](const WalkFile& f) {
      const std::string name(f.name);
      const int fd = ::openat(f.dirfd, name.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) return;
      Fd file(fd);
      search(file.get(), f.key, buffers[f.worker]);
    });
    if (walked.cancelled) throw Error(AR_ERR_CANCELLED, "grep: cancelled");
    walk_truncated = walked.truncated;
  }

  const json::storage_ptr sp = json::make_shared_resource<json::monotonic_resource>();
  json::array matches(sp);
  for (auto& [key, found] : hits.take()) {
    const std::string path = sdk::utf8_sanitize(shown_path(base, key));
    for (auto& h : found)
      matches.push_back(json::object({{"path", path}, {"line", h.line}, {"text", h.text}}, sp));
  }
  json::object body(sp);
  body["matches"] = std::move(matches);
  body["truncated"] = walk_truncated || hits.truncated();
  return Result::ok(std::move(body));
}

}  // namespace agent_runner::fs_plugin
