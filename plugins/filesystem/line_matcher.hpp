// SPDX-License-Identifier: Apache-2.0
// grep's pattern over a file's bytes. The whole buffer is searched at once (RE2 in multi-line
// mode with `never_nl`, so no match crosses a line end, or memmem for a literal) and lines are
// located only around matches: a file without a match costs one scan, never a call per line.
// What matches is what matching each line on its own would give: `^` and `$` match at line
// ends; a pattern with `\A` or `\z` (start and end of the text) is matched line by line. A
// regex whose every match starts with the same few bytes (RE2's PossibleMatchRange) is found by
// memmem for those bytes, and only the lines holding them are matched.
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace agent_runner::fs_plugin {

class LineMatcher {
 public:
  // Throws invalid_argument naming the pattern and RE2's complaint.
  LineMatcher(const std::string& pattern, bool literal, bool ignore_case);

  // Calls on_line(line number from 1, the line without its '\n') for each line of `text` with a
  // match, in order, until it returns false.
  void for_each(std::string_view text,
                const std::function<bool(int64_t, std::string_view)>& on_line) const;

 private:
  enum class Mode { literal, regex, prefixed, per_line, never };
  Mode mode_;
  std::string needle_;  // Mode::literal and Mode::prefixed: the bytes to look for
  std::unique_ptr<RE2> re_;
};

}  // namespace agent_runner::fs_plugin
