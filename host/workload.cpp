#include "workload.hpp"

#include "bounded_read.hpp"
#include "json_schema.hpp"
#include "redact.hpp"
#include "workload_schema.hpp"
#include "yaml_json.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

namespace agent_runner {
namespace json = boost::json;
namespace fs = std::filesystem;

std::optional<std::vector<Workload>> load_workloads(const std::vector<std::string>& files,
                                                    const std::map<std::string, std::string>& env,
                                                    std::string_view command,
                                                    bool resolve_secrets) {
  std::vector<Workload> out;
  bool invalid = false;
  for (const auto& f : files) {
    auto load = load_workload(f, env, resolve_secrets);
    if (!load.workload) {
      invalid = true;
      std::cerr << "agent-runner " << command << ": invalid workload " << f << ":\n";
      for (const auto& e : load.errors) std::cerr << "  " << e << "\n";
      continue;
    }
    out.push_back(std::move(*load.workload));
  }
  if (!invalid) return out;
  std::cerr << "The workload format: agent-runner run --help, and schemas/workload.schema.json\n";
  return std::nullopt;
}

const json::value& workload_schema() {
  static const json::value schema = json::parse(kWorkloadSchema);
  return schema;
}

namespace {

// A secret is a key, a token or a password: anything larger is not one (and /dev/zero is not).
constexpr size_t kMaxSecretFileBytes = 1u << 20;

struct StepKind {
  const char* name;
  Op op;
};
constexpr StepKind kStepKinds[] = {{"execute", Op::execute},
                                   {"write_file", Op::write},
                                   {"read_file", Op::read},
                                   {"edit_file", Op::edit},
                                   {"ls", Op::ls},
                                   {"glob", Op::glob},
                                   {"grep", Op::grep},
                                   {"upload", Op::upload},
                                   {"download", Op::download},
                                   {"delete", Op::remove}};

std::string scalar_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

// "/steps/2/execute/timeout" -> "steps[2].execute.timeout"
std::string field_name(const std::string& pointer) {
  std::string out;
  size_t i = 1;
  while (i <= pointer.size() && !pointer.empty()) {
    size_t next = pointer.find('/', i);
    std::string tok = pointer.substr(i, next == std::string::npos ? std::string::npos : next - i);
    bool index = !tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos;
    if (index) {
      out += "[" + tok + "]";
    } else {
      out += (out.empty() ? "" : ".") + tok;
    }
    if (next == std::string::npos) break;
    i = next + 1;
  }
  return out.empty() ? "(top level)" : out;
}

}  // namespace

fs::path Workload::local_path(const std::string& written) const {
  if (auto it = inlined.find(written); it != inlined.end()) return it->second;
  fs::path p(written);
  return p.is_relative() ? base_dir / p : p;
}

WorkloadLoad load_workload(const fs::path& file, const std::map<std::string, std::string>& host_env,
                           bool resolve_secrets) {
  std::string error;
  auto text = read_regular_file(file.string(), InputLimits{}.max_bytes, error);
  if (!text) {
    WorkloadLoad out;
    out.errors.push_back(file.string() + ": cannot read: " + error);
    return out;
  }
  return load_workload_text(*text, file, host_env, resolve_secrets);
}

WorkloadLoad load_workload_text(std::string_view text, const fs::path& file,
                                const std::map<std::string, std::string>& host_env,
                                bool resolve_secrets) {
  WorkloadLoad out;
  const std::string fname = file.string();
  YamlDocument doc;
  try {
    doc = parse_yaml(text);
  } catch (const YamlError& e) {
    if (e.position.line) {
      out.errors.push_back(fname + ":" + std::to_string(e.position.line) + ":" +
                           std::to_string(e.position.column) + ": syntax error: " + e.what());
    } else {
      out.errors.push_back(fname + ": " + e.what());
    }
    return out;
  }
  auto at = [&](const std::string& pointer) {
    auto pos = doc.position_of(pointer);
    return fname + (pos.line ? ":" + std::to_string(pos.line) : "");
  };
  // A step without exactly one operation gets one clear message instead of the schema's
  // complaints about every alternative.
  std::vector<std::string> bad_steps;
  if (const auto* steps =
          doc.value.is_object() ? doc.value.get_object().if_contains("steps") : nullptr;
      steps && steps->is_array()) {
    std::string all;
    for (const auto& k : kStepKinds) all += (all.empty() ? "" : ", ") + std::string(k.name);
    for (size_t i = 0; i < steps->get_array().size(); ++i) {
      const auto& s = steps->get_array()[i];
      if (!s.is_object()) continue;
      std::vector<std::string> ops, unknown;
      for (const auto& kv : s.get_object()) {
        bool is_op = false;
        for (const auto& k : kStepKinds) is_op = is_op || kv.key() == k.name;
        if (is_op)
          ops.emplace_back(kv.key());
        else if (kv.key() != "expect" && kv.key() != "continue_on_error" && kv.key() != "name")
          unknown.emplace_back(kv.key());
      }
      if (ops.size() == 1) continue;
      std::string ptr = "/steps/" + std::to_string(i);
      std::string msg =
          ops.empty() ? "no operation" : "more than one operation (" + ops[0] + ", " + ops[1] + ")";
      if (!unknown.empty()) msg += "; unknown key '" + unknown[0] + "'";
      out.errors.push_back(at(ptr) + ": steps[" + std::to_string(i) + "]: " + msg +
                           "; a step has exactly one of: " + all);
      bad_steps.push_back(ptr);
    }
  }
  for (const auto& e : validate_json_schema(workload_schema(), doc.value)) {
    bool covered = false;
    for (const auto& b : bad_steps)
      covered = covered || e.pointer == b || e.pointer.rfind(b + "/", 0) == 0;
    if (!covered)
      out.errors.push_back(at(e.pointer) + ": " + field_name(e.pointer) + ": " + e.message);
  }
  if (!out.errors.empty()) return out;

  Workload w;
  w.file = file;
  std::error_code ec;
  w.base_dir = fs::absolute(file, ec).parent_path();
  const auto& root = doc.value.get_object();
  w.name = std::string(root.at("name").get_string());
  if (const auto* s = root.if_contains("session")) w.session = std::string(s->get_string());
  if (const auto* t = root.if_contains("timeout")) w.timeout_s = t->to_number<double>();
  if (const auto* env = root.if_contains("env"))
    for (const auto& kv : env->get_object()) w.env[kv.key()] = scalar_text(kv.value());

  if (const auto* secrets = resolve_secrets ? root.if_contains("secrets") : nullptr) {
    for (const auto& kv : secrets->get_object()) {
      const std::string name(kv.key());
      const std::string where = at("/secrets/" + name) + ": secrets." + name + ": ";
      const auto& spec = kv.value().get_object();
      std::string value;
      if (const auto* var = spec.if_contains("env")) {
        auto it = host_env.find(std::string(var->get_string()));
        // An empty variable counts as unset, as for every setting.
        if (it == host_env.end() || it->second.empty()) {
          out.errors.push_back(
              where + "the host environment has no variable " + std::string(var->get_string()) +
              (it == host_env.end() ? "" : " (it is empty, which counts as unset)") +
              "; export it before `run`");
          continue;
        }
        value = it->second;
      } else {
        fs::path p(std::string(spec.at("file").get_string()));
        if (p.is_relative()) p = w.base_dir / p;
        std::string error;
        auto data = read_regular_file(p.string(), kMaxSecretFileBytes, error);
        if (!data) {
          out.errors.push_back(where + "cannot read " + p.string() + ": " + error);
          continue;
        }
        value = std::move(*data);
        // A trailing newline is the file's, not the secret's.
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
      }
      // The redactor cannot mask a value this short without destroying ordinary text, so it
      // would pass into events and output unmasked: refuse it rather than leak it quietly.
      if (value.size() < Redactor::kMinSecretBytes) {
        out.errors.push_back(where + "the value is " + std::to_string(value.size()) + " byte" +
                             (value.size() == 1 ? "" : "s") + " long; secrets of fewer than " +
                             std::to_string(Redactor::kMinSecretBytes) +
                             " bytes cannot be masked in output, so they are refused (use a longer "
                             "secret, or pass the value through `env:` if it is not secret)");
        continue;
      }
      w.secrets[name] = std::move(value);
    }
  }
  if (const auto* skills = root.if_contains("skills")) {
    size_t i = 0;
    for (const auto& s : skills->get_array()) {
      fs::path p(std::string(s.get_string()));
      if (p.is_relative()) p = w.base_dir / p;
      p = p.lexically_normal();
      if (!fs::is_directory(p, ec))
        out.errors.push_back(at("/skills/" + std::to_string(i)) + ": skills[" + std::to_string(i) +
                             "]: " + p.string() + " is not a directory");
      w.skills.push_back(p);
      ++i;
    }
  }
  size_t index = 0;
  for (const auto& s : root.at("steps").get_array()) {
    const auto& o = s.get_object();
    WorkloadStep step;
    step.line = doc.position_of("/steps/" + std::to_string(index)).line;
    for (const auto& k : kStepKinds) {
      if (const auto* args = o.if_contains(k.name)) {
        step.kind = k.name;
        step.op = k.op;
        step.args = args->get_object();
      }
    }
    if (const auto* e = o.if_contains("expect")) step.expect = e->get_object();
    if (const auto* c = o.if_contains("continue_on_error")) step.continue_on_error = c->get_bool();
    if (const auto* n = o.if_contains("name")) step.label = std::string(n->get_string());
    if (step.kind == "upload") {
      fs::path from(std::string(step.args.at("from").get_string()));
      if (from.is_relative()) from = w.base_dir / from;
      if (!fs::exists(from, ec))
        out.errors.push_back(at("/steps/" + std::to_string(index) + "/upload/from") + ": steps[" +
                             std::to_string(index) + "].upload.from: " + from.string() +
                             " does not exist");
    }
    w.steps.push_back(std::move(step));
    ++index;
  }
  w.document = std::move(doc.value);
  if (out.errors.empty()) out.workload = std::move(w);
  return out;
}

}  // namespace agent_runner
