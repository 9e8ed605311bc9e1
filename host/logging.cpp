// SPDX-License-Identifier: Apache-2.0
#include "logging.hpp"

#include <agent_runner/fd.hpp>

#include "events.hpp"
#include "redact.hpp"

#include <spdlog/sinks/base_sink.h>
#include <boost/json.hpp>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace agent_runner {
namespace {

// Formats each record itself (so JSON is escaped properly) and redacts secrets before writing.
class RedactingStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit RedactingStderrSink(LogFormat format) : format_(format) {}
  void set_format(LogFormat f) {
    std::lock_guard lock(mutex_);
    format_ = f;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string text =
        Redactor::global().redact(std::string_view(msg.payload.data(), msg.payload.size()));
    const std::string ts = iso8601(msg.time);
    const auto lvl = spdlog::level::to_string_view(msg.level);
    const std::string logger(msg.logger_name.data(), msg.logger_name.size());
    std::string line;
    if (format_ == LogFormat::json) {
      boost::json::object o;
      o["ts"] = ts;
      o["level"] = std::string_view(lvl.data(), lvl.size());
      o["logger"] = logger;
      o["msg"] = text;
      line = boost::json::serialize(o);
    } else {
      line =
          std::string(ts) + " " + std::string(lvl.data(), lvl.size()) + " [" + logger + "] " + text;
    }
    line.push_back('\n');
    // One write per record, so lines from several threads never interleave.
    (void)sdk::write_all(STDERR_FILENO, line);
  }
  void flush_() override {}

 private:
  LogFormat format_;
};

std::shared_ptr<RedactingStderrSink>& shared_sink() {
  static auto sink = std::make_shared<RedactingStderrSink>(LogFormat::text);
  return sink;
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn" || name == "warning") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  if (name == "off") return spdlog::level::off;
  return std::nullopt;
}

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "text") return LogFormat::text;
  if (name == "json") return LogFormat::json;
  return std::nullopt;
}

void setup_logging(spdlog::level::level_enum level, LogFormat format) {
  shared_sink()->set_format(format);
  auto logger = std::make_shared<spdlog::logger>("agent-runner", shared_sink());
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
  spdlog::apply_all([level](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level); });
}

std::shared_ptr<spdlog::logger> component_logger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, shared_sink());
  logger->set_level(spdlog::get_level());
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Registered concurrently by another thread: use that one.
    if (auto existing = spdlog::get(name)) return existing;
  }
  return logger;
}

}  // namespace agent_runner
