// SPDX-License-Identifier: Apache-2.0
// What agent_runner_bench times. A subject is one side of a comparison: a whole command (a
// process, as a user runs it), one sandbox operation through a loaded plugin (in-process, across
// the C ABI), or a built-in in-process baseline. The driver runs subjects interleaved; each
// subject checks that its run did the work it claims (exit code, op status) and describes the
// last run, so bench/run can check that both sides of a case found the same things.
#pragma once

#include "sandbox.hpp"

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace agent_runner::bench {

// Start and end of one timed operation on CLOCK_MONOTONIC (the clock of Python's
// time.monotonic), so a server's request log can be split per call.
struct TraceEntry {
  std::string subject;
  double t0 = 0, t1 = 0;
};

// Sandboxes named by the spec, created once and shared by the subjects that name them, so two
// operations of one case run against the same sandbox.
class SandboxPool {
 public:
  // `specs`: name -> {"plugin": PATH, "type": TYPE, "config": {...}, "session"?: KEY}.
  explicit SandboxPool(const boost::json::object& specs);
  ~SandboxPool();
  Sandbox& get(const std::string& name);

 private:
  boost::json::object specs_;
  std::vector<std::unique_ptr<PluginRegistry>> registries_;
  std::map<std::string, std::unique_ptr<Sandbox>> sandboxes_;
};

class Subject {
 public:
  explicit Subject(std::string name) : name_(std::move(name)) {}
  virtual ~Subject() = default;
  const std::string& name() const { return name_; }
  // One run; throws std::runtime_error when it failed (a failed run is never timed as fast).
  virtual void run() = 0;
  // What the last run produced (exit code, output size, counts of the result's arrays, ...).
  virtual boost::json::object summary() const = 0;
  // Peak resident set of the last run's process tree in KiB; 0 when not measured (in-process).
  virtual long max_rss_kib() const { return 0; }

 private:
  std::string name_;
};

// Builds a subject from its spec:
//   {"name", "argv": [...], "env"?: {..} (default: inherited), "cwd"?, "stdout"?: "pipe"|"null",
//    "exit_codes"?: [0]}                                                  a command
//   {"name", "sandbox": NAME, "op": OP, "request": {...}, "input"?: STR}  a sandbox operation
//   {"name", "builtin": "json_roundtrip"|"ifstream", "path"?: FILE}      an in-process baseline
std::unique_ptr<Subject> make_subject(const boost::json::object& spec, SandboxPool& pool,
                                      std::vector<TraceEntry>* trace);

double monotonic_seconds();

}  // namespace agent_runner::bench
