// SPDX-License-Identifier: Apache-2.0
// Workload files: what an agent does in its sandbox during one execution (docs/DESIGN.md
// "Workloads"). Loading validates the whole file against schemas/workload.schema.json before any
// step runs; errors name the file, line and field.
#pragma once

#include "sandbox.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

struct WorkloadStep {
  std::string kind;  // "execute", "write_file", ... as written in the file
  Op op;
  boost::json::object args;    // the operation's map as written
  boost::json::object expect;  // empty = defaults
  bool continue_on_error = false;
  std::string label;  // optional `name:` of the step
  int line = 0;
};

struct Workload {
  std::filesystem::path file;      // as given
  std::filesystem::path base_dir;  // relative local paths resolve against this
  std::string name;
  std::optional<std::string> session;
  std::optional<double> timeout_s;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> secrets;  // name -> value (never written anywhere)
  std::vector<std::filesystem::path> skills;   // absolute
  std::vector<WorkloadStep> steps;
  boost::json::value document;  // the file's content as JSON (what `submit` puts into a job)
  // A worker's job: local paths as written (upload.from) -> where their inlined copy is.
  std::map<std::string, std::filesystem::path> inlined;

  // Where a local path written in the file (upload.from) is on this machine.
  std::filesystem::path local_path(const std::string& written) const;
};

struct WorkloadLoad {
  std::optional<Workload> workload;
  std::vector<std::string> errors;  // "file:line: field: message"
};

// Reads, validates and resolves a workload file (secrets are read here, from the host
// environment or their files, so a missing one is an error before anything runs). `submit` skips
// resolving secrets: they resolve on the worker that runs the job.
WorkloadLoad load_workload(const std::filesystem::path& file,
                           const std::map<std::string, std::string>& host_env,
                           bool resolve_secrets = true);
// The same for text already in memory; `file` names it in errors and anchors relative paths.
WorkloadLoad load_workload_text(std::string_view text, const std::filesystem::path& file,
                                const std::map<std::string, std::string>& host_env,
                                bool resolve_secrets = true);

// Loads every file (`run`, `submit`: all are validated before any runs); prints each invalid
// file's errors to stderr, prefixed "agent-runner COMMAND", and returns null if any was invalid.
std::optional<std::vector<Workload>> load_workloads(const std::vector<std::string>& files,
                                                    const std::map<std::string, std::string>& env,
                                                    std::string_view command,
                                                    bool resolve_secrets = true);

// The JSON Schema the file is checked against (schemas/workload.schema.json, compiled in).
const boost::json::value& workload_schema();

}  // namespace agent_runner
