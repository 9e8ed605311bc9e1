// glob and grep: a walk of the workspace through directory fds that never follows a symlink
// (so a link cannot lead the walk outside or into a loop), glob patterns with `**`, and RE2 for
// the agent's regular expressions (linear time: a pathological pattern cannot hang the host).
#include "file_ops.hpp"

#include <re2/re2.h>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;
using sdk::Result;

namespace {

constexpr size_t kMaxEntries = 20000;
constexpr int kMaxDepth = 64;

// Visits every regular file under `dir` (relative components in `rel`); stops when visit
// returns false. Symlinks are not followed.
bool walk_files(
    int dirfd, std::vector<std::string>& rel, int depth, size_t& seen,
    const std::function<bool(int, const std::vector<std::string>&, const struct stat&)>& visit) {
  if (depth > kMaxDepth) return true;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return true;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return true;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  std::sort(names.begin(), names.end());
  bool go_on = true;
  for (const auto& n : names) {
    if (++seen > kMaxEntries * 10) {
      go_on = false;
      break;
    }
    struct stat st {};
    if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    rel.push_back(n);
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        go_on = walk_files(sub, rel, depth + 1, seen, visit);
        ::close(sub);
      }
    } else if (S_ISREG(st.st_mode)) {
      go_on = visit(::dirfd(d), rel, st);
    }
    rel.pop_back();
    if (!go_on) break;
  }
  ::closedir(d);
  return go_on;
}

std::string join_display(const SandboxPath& base, const std::vector<std::string>& rel) {
  SandboxPath p = base;
  for (const auto& r : rel) p.parts.push_back(r);
  return p.display();
}

}  // namespace

Result op_glob(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  std::string pattern = sdk::json_get::string(req, "pattern");
  sdk::check_glob_pattern(pattern, "glob", "pattern");
  SandboxPath base = parse_sandbox_path(sdk::json_get::opt_string(req, "path").value_or("/"));
  if (pattern[0] == '/') base = SandboxPath{};
  const std::vector<std::string> pat = sdk::split_path(pattern);
  Fd dir = ctx.resolver.open(base, O_RDONLY | O_DIRECTORY, "glob");
  json::array entries;
  bool truncated = false;
  std::vector<std::string> rel;
  size_t seen = 0;
  walk_files(dir.get(), rel, 0, seen,
             [&](int, const std::vector<std::string>& r, const struct stat& st) {
               if (sdk::glob_match_parts(pat, r)) {
                 if (entries.size() >= kMaxEntries) {
                   truncated = true;
                   return false;
                 }
                 entries.push_back(file_info(sdk::utf8_sanitize(join_display(base, r)), st));
               }
               return true;
             });
  std::sort(entries.begin(), entries.end(), [](const json::value& a, const json::value& b) {
    return a.at("path").as_string() < b.at("path").as_string();
  });
  return Result::ok({{"entries", std::move(entries)}, {"truncated", truncated}});
}

Result op_grep(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  const std::string pattern = sdk::json_get::string(req, "pattern");
  SandboxPath base = parse_sandbox_path(sdk::json_get::opt_string(req, "path").value_or("/"));
  const auto glob = sdk::json_get::opt_string(req, "glob");
  const bool literal = sdk::json_get::boolean(req, "literal", false);
  const bool icase = sdk::json_get::boolean(req, "ignore_case", false);
  const int64_t max_matches = sdk::json_get::integer(req, "max_matches", 1000);
  if (max_matches < 1) throw Error(AR_ERR_INVALID_ARGUMENT, "grep: max_matches must be >= 1");

  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_literal(literal);
  opts.set_case_sensitive(!icase);
  opts.set_max_mem(64 << 20);
  RE2 re(pattern, opts);
  if (!re.ok())
    throw Error(AR_ERR_INVALID_ARGUMENT,
                "grep: invalid regular expression '" + pattern + "': " + re.error() +
                    " (RE2 syntax; pass literal: true to search for the text as is)");
  std::vector<std::string> glob_parts;
  if (glob) glob_parts = sdk::split_path(*glob);
  const bool glob_is_path = glob && glob->find('/') != std::string::npos;

  json::array matches;
  bool truncated = false;
  auto search = [&](int fd, const std::string& shown) -> bool {
    std::string content;
    try {
      content = read_all(fd, ctx.max_file_bytes, shown);
    } catch (const Error&) {
      return true;  // too large or unreadable: skipped
    }
    if (std::memchr(content.data(), '\0', std::min<size_t>(content.size(), 8000))) return true;
    int64_t line = 0;
    size_t pos = 0;
    while (pos < content.size()) {
      size_t nl = content.find('\n', pos);
      size_t end = nl == std::string::npos ? content.size() : nl;
      ++line;
      std::string_view text(content.data() + pos, end - pos);
      if (RE2::PartialMatch(text, re)) {
        if (static_cast<int64_t>(matches.size()) >= max_matches) {
          truncated = true;
          return false;
        }
        matches.push_back(json::object{{"path", sdk::utf8_sanitize(shown)},
                                       {"line", line},
                                       {"text", sdk::grep_line_text(text)}});
      }
      pos = end + 1;
    }
    return true;
  };

  Fd target = ctx.resolver.open_file(base, O_RDONLY, "grep");
  struct stat st {};
  if (::fstat(target.get(), &st) != 0) throw_errno(errno, base.display(), "grep");
  if (S_ISREG(st.st_mode)) {
    search(target.get(), base.display());
  } else if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> rel;
    size_t seen = 0;
    walk_files(target.get(), rel, 0, seen,
               [&](int dirfd, const std::vector<std::string>& r, const struct stat&) {
                 if (glob) {
                   bool ok = glob_is_path ? sdk::glob_match_parts(glob_parts, r)
                                          : ::fnmatch(glob->c_str(), r.back().c_str(), 0) == 0;
                   if (!ok) return true;
                 }
                 int fd = ::openat(dirfd, r.back().c_str(),
                                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                 if (fd < 0) return true;
                 Fd f(fd);
                 return search(f.get(), join_display(base, r));
               });
  }
  return Result::ok({{"matches", std::move(matches)}, {"truncated", truncated}});
}

}  // namespace agent_runner::fs_plugin
