// SPDX-License-Identifier: Apache-2.0
// agent_runner_bench: the timing engine of bench/run. It reads one case's spec (JSON), runs its
// subjects interleaved — A×k, B×k, A×k, B×k ... for N rounds, after one untimed warm-up run of
// each — and prints the samples as JSON. bench/run builds the specs, the corpus and the table;
// see bench/README.md.
//
//   agent_runner_bench SPEC.json     (or - for stdin)
//
// Spec: {"rounds": N, "trace": bool, "sandboxes": {NAME: {...}}, "setup": [OP_SUBJECT...],
//        "subjects": [{..., "iterations": k}...]}   (subjects.hpp describes each kind)
// Output: {"subjects": [{"name", "seconds": [per-call mean of each round], "max_rss_kib": [...],
//          "summary": {...}}], "trace": [{"subject", "t0", "t1"}]}
#include "logging.hpp"
#include "subjects.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

namespace json = boost::json;
using namespace agent_runner;
using namespace agent_runner::bench;

namespace {

constexpr const char* kUsage =
    "usage: agent_runner_bench SPEC.json|-\n"
    "Runs one benchmark case's subjects interleaved and prints their samples as JSON.\n"
    "Normally started by bench/run (bench/README.md describes the spec).\n";

json::object read_spec(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) throw std::runtime_error(path + ": not a JSON object");
  return v.as_object();
}

int64_t int_member(const json::object& o, const char* key, int64_t fallback) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? std::max<int64_t>(1, v->as_int64()) : fallback;
}

json::value run_spec(const json::object& spec) {
  static const json::object kEmpty;
  const auto* sb = spec.if_contains("sandboxes");
  SandboxPool pool(sb && sb->is_object() ? sb->as_object() : kEmpty);
  std::vector<TraceEntry> trace;
  const bool tracing =
      spec.if_contains("trace") && spec.at("trace").is_bool() && spec.at("trace").as_bool();

  if (auto* setup = spec.if_contains("setup"); setup && setup->is_array())
    for (const auto& s : setup->as_array()) make_subject(s.as_object(), pool, nullptr)->run();

  struct Timed {
    std::unique_ptr<Subject> subject;
    int64_t iterations;
    json::array seconds, rss;
  };
  std::vector<Timed> subjects;
  for (const auto& s : spec.at("subjects").as_array()) {
    const auto& o = s.as_object();
    subjects.push_back({make_subject(o, pool, tracing ? &trace : nullptr),
                        int_member(o, "iterations", 1),
                        {},
                        {}});
  }
  for (auto& t : subjects) t.subject->run();  // warm-up: page cache, lazy binding, first connect
  trace.clear();

  const int64_t rounds = int_member(spec, "rounds", 5);
  for (int64_t r = 0; r < rounds; ++r) {
    for (auto& t : subjects) {
      long rss = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < t.iterations; ++i) {
        t.subject->run();
        rss = std::max(rss, t.subject->max_rss_kib());
      }
      const std::chrono::duration<double> d = std::chrono::steady_clock::now() - start;
      t.seconds.push_back(d.count() / static_cast<double>(t.iterations));
      if (rss > 0) t.rss.push_back(rss);
    }
  }

  json::array out;
  for (auto& t : subjects) {
    json::object o{{"name", t.subject->name()},
                   {"iterations", t.iterations},
                   {"seconds", std::move(t.seconds)},
                   {"summary", t.subject->summary()}};
    if (!t.rss.empty()) o["max_rss_kib"] = std::move(t.rss);
    out.push_back(std::move(o));
  }
  json::array tr;
  for (const auto& e : trace)
    tr.push_back(json::object{{"subject", e.subject}, {"t0", e.t0}, {"t1", e.t1}});
  return json::object{{"subjects", std::move(out)}, {"trace", std::move(tr)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "--rounds" || std::string(argv[1]) == "--filter")) {
    // The first bench binary's own interface: its cases now live in bench/run, same names.
    std::cerr << "agent_runner_bench: the cases moved to bench/run: bench/run --case NAME "
                 "[--rounds N] (abi_call_execute, fs_read_1MiB, fs_exec_true, "
                 "fs_exec_64MiB_output, ...; bench/run --list names them all)\n";
    return 2;
  }
  if (argc != 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cerr << kUsage;
    return argc == 2 ? 0 : 2;
  }
  setup_logging(spdlog::level::warn, LogFormat::text);
  try {
    std::cout << json::serialize(run_spec(read_spec(argv[1]))) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "agent_runner_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
