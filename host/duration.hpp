// Durations as people write them on the command line and in the config file: "7d", "12h", "30m",
// "45s" and sums of them ("1d12h"); `sessions prune --idle` and the `session_ttl` setting.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agent_runner {

// Seconds of `text`: one or more NUMBER UNIT parts, units d, h, m, s (days are 86400 s). With
// `bare_seconds`, a plain whole number is seconds too. nullopt for anything else, and for more
// than 100 years.
std::optional<int64_t> parse_duration(std::string_view text, bool bare_seconds = false);

// What parse_duration accepts, for error messages.
inline constexpr const char* kDurationHelp =
    "a duration such as 7d, 12h, 30m or 45s (d days, h hours, m minutes, s seconds; parts add "
    "up: 1d12h)";

// "3d 4h", "12m 5s", "45s": the largest two units, for people.
std::string format_duration(int64_t seconds);

}  // namespace agent_runner
