// SPDX-License-Identifier: Apache-2.0
// Logging: spdlog to stderr, text or JSON lines, every message passed through the secret
// redactor. stdout is never used for logs (it carries command results and protocol messages).
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace agent_runner {

enum class LogFormat { text, json };

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);
std::optional<LogFormat> parse_log_format(std::string_view name);

// Sets up the default logger ("agent-runner") and the sink every other logger shares.
void setup_logging(spdlog::level::level_enum level, LogFormat format);

// A logger for one component or plugin, writing through the shared redacting sink.
std::shared_ptr<spdlog::logger> component_logger(const std::string& name);

}  // namespace agent_runner
