// SPDX-License-Identifier: Apache-2.0
// A job on the task queue: what `submit` puts into a stream entry's `workload` field, and what the
// worker and its job process read back. Versioned JSON; on the worker's side every byte came from
// Redis and is untrusted (bounded parsing, schema, safe paths). Secrets never travel: only their
// references ({env: NAME}, {file: PATH}), resolved on the worker.
#pragma once

#include "config.hpp"
#include "workload.hpp"

#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::worker {

inline constexpr int64_t kJobVersion = 1;

// Redis names (README "Run a worker fleet": other programs read these keys).
inline constexpr const char* kGroup = "agent-runner";
std::string job_key(std::string_view id);      // hash: status, exit code, attempt, ...
std::string events_key(std::string_view id);   // stream: field `event`, run's --events JSON
std::string dead_key(std::string_view queue);  // stream: dead letters with the reason

// A job's `status` in its hash, as written there (other programs read it).
enum class JobStatus { queued, running, succeeded, failed, cancelled, dead };
std::string_view job_status_name(JobStatus status);
// Null for a word that is not a status.
std::optional<JobStatus> parse_job_status(std::string_view name);

// Keeps only [A-Za-z0-9._:-] and at most 64 characters: job ids from Redis become key names and
// log text, so anything else (a newline, a glob) is refused.
bool is_valid_job_id(std::string_view id);

// A local file or directory the workload names, carried inside the job.
struct InlinedFile {
  std::string path;  // relative to the input ("" when the input is this one file)
  int mode = 0644;   // 0644 or 0755
  std::string data;
};
struct InlinedInput {
  std::string source;  // as written in the workload (upload.from, skills[i])
  std::string name;    // its last path component on the submitter's machine ("" if none)
  bool directory = false;
  std::vector<InlinedFile> files;
};

struct Job {
  std::string file;                        // the workload file as the submitter named it
  std::string base_dir;                    // that file's directory on the submitter's machine
  boost::json::value document;             // the workload (schemas/workload.schema.json)
  std::vector<int64_t> lines;              // each step's line in the file (step.started names it)
  std::vector<InlinedInput> skills;        // one per document skill, in order
  std::map<size_t, InlinedInput> uploads;  // step index -> its upload.from
};

// Submit side: the job's JSON for a validated workload (reads the local files it names). Fails
// with an error naming the file when the job would exceed `max_bytes`, and naming the secret and
// where when any of `secrets` (name, value known on this machine) would be put into it.
struct BuiltJob {
  std::string json;
  std::string error;
};
BuiltJob build_job(const Workload& w, size_t max_bytes,
                   const std::vector<std::pair<std::string, std::string>>& secrets);

// JSON with bounded memory: at most `max_bytes` of text, `max_depth` nesting and `max_nodes`
// values (checked before anything is allocated). The error says why it failed.
boost::system::result<boost::json::value, std::string> parse_bounded_json(
    std::string_view text, size_t max_bytes, size_t max_depth = 64, size_t max_nodes = 1000000);

// Worker side: parses and checks a job. `error` says what is wrong (the entry goes to dead
// letters with it, never retried).
struct ParsedJob {
  std::optional<Job> job;
  std::string error;
};
ParsedJob parse_job(std::string_view text, size_t max_bytes);

// Job process side: writes the inlined files under `dir` (an empty private directory) and loads
// the workload as `run` would, secrets resolved from `env` (the worker's environment) and
// relative secret files from the working directory. Events then equal those of `run` on the
// submitter's machine: same file name, step lines and local paths.
WorkloadLoad materialise_job(const Job& job, const std::filesystem::path& dir, const EnvMap& env);

}  // namespace agent_runner::worker
