// SPDX-License-Identifier: Apache-2.0
#include "worker/job.hpp"

#include <agent_runner/fd.hpp>

#include "json_schema.hpp"
#include "yaml_json.hpp"

#include <agent_runner/text.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace agent_runner::worker {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace sdk = agent_runner::sdk;

std::string job_key(std::string_view id) {
  return "agent-runner:job:" + std::string(id);
}
std::string events_key(std::string_view id) {
  return "agent-runner:events:" + std::string(id);
}
std::string dead_key(std::string_view queue) {
  return std::string(queue) + ":dead";
}

namespace {
constexpr std::pair<JobStatus, std::string_view> kStatusNames[] = {
    {JobStatus::queued, "queued"},       {JobStatus::running, "running"},
    {JobStatus::succeeded, "succeeded"}, {JobStatus::failed, "failed"},
    {JobStatus::cancelled, "cancelled"}, {JobStatus::dead, "dead"},
};
}  // namespace

std::string_view job_status_name(JobStatus status) {
  for (const auto& [s, name] : kStatusNames)
    if (s == status) return name;
  return "failed";
}

std::optional<JobStatus> parse_job_status(std::string_view name) {
  for (const auto& [s, n] : kStatusNames)
    if (n == name) return s;
  return std::nullopt;
}

bool is_valid_job_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == ':'))
      return false;
  return true;
}

namespace {

constexpr size_t kMaxFiles = 100000;
constexpr size_t kMaxPath = 4096;

// ---- submit side ---------------------------------------------------------------------------

class Builder {
 public:
  Builder(size_t max_bytes, const std::vector<std::pair<std::string, std::string>>& secrets)
      : max_bytes_(max_bytes) {
    for (const auto& s : secrets)
      if (s.second.size() >= 4) secrets_.push_back(s);  // as the redactor: shorter hides nothing
  }

  // Reads `root` (a file, or a directory recursively) into an input.
  bool read_input(const std::string& source, const fs::path& root, InlinedInput& in) {
    in.source = source;
    in.name = root.filename().string();
    std::error_code ec;
    auto st = fs::symlink_status(root, ec);
    if (fs::is_regular_file(st) || (fs::is_symlink(st) && fs::is_regular_file(root, ec))) {
      in.directory = false;
      return add_file(root, "", in);
    }
    if (!fs::is_directory(root, ec))
      return fail(root.string() + " is neither a file nor a directory");
    in.directory = true;
    std::vector<std::pair<std::string, fs::path>> found;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_symlink(ec))
        return fail(it->path().string() +
                    " is a symbolic link; a job carries regular files only (copy the target in)");
      if (it->is_regular_file(ec))
        found.emplace_back(fs::relative(it->path(), root).generic_string(), it->path());
    }
    if (ec) return fail(root.string() + ": " + ec.message());
    std::sort(found.begin(), found.end());
    for (const auto& [rel, path] : found)
      if (!add_file(path, rel, in)) return false;
    return true;
  }

  // Every string of the document, checked for secret values.
  bool check_document(const json::value& v, const std::string& where) {
    if (v.is_string()) return check_text(v.get_string(), where);
    if (v.is_array()) {
      for (size_t i = 0; i < v.get_array().size(); ++i)
        if (!check_document(v.get_array()[i], where + "[" + std::to_string(i) + "]")) return false;
    } else if (v.is_object()) {
      for (const auto& kv : v.get_object()) {
        std::string w = where.empty() ? std::string(kv.key()) : where + "." + std::string(kv.key());
        if (!check_text(kv.key(), w) || !check_document(kv.value(), w)) return false;
      }
    }
    return true;
  }

  const std::string& error() const { return error_; }

 private:
  bool fail(std::string e) {
    error_ = std::move(e);
    return false;
  }

  bool check_text(std::string_view text, const std::string& where) {
    for (const auto& [name, value] : secrets_)
      if (text.find(value) != std::string_view::npos)
        return fail("the job would carry the value of secret " + name + " (in " + where +
                    "); Redis must never hold a secret: reference it in `secrets:` ({env: NAME} "
                    "or {file: PATH}) and let the worker resolve it");
    return true;
  }

  bool add_file(const fs::path& path, const std::string& rel, InlinedInput& in) {
    if (++files_ > kMaxFiles)
      return fail("more than " + std::to_string(kMaxFiles) + " files at " + path.string());
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    if (!f || !(ss << f.rdbuf())) return fail("cannot read " + path.string());
    std::string data = ss.str();
    // base64 grows the bytes by a third; the cap is on what Redis receives.
    bytes_ += (data.size() + 2) / 3 * 4 + rel.size() + 64;
    if (bytes_ > max_bytes_)
      return fail("the job would exceed job_max_bytes (" + std::to_string(max_bytes_) +
                  " bytes) with " + path.string() + " (" + std::to_string(data.size()) +
                  " bytes); upload less, or raise job_max_bytes (AGENT_RUNNER_JOB_MAX_BYTES)");
    if (!check_text(data, path.string())) return false;
    struct stat st {};
    int mode = ::stat(path.c_str(), &st) == 0 && (st.st_mode & 0111) ? 0755 : 0644;
    in.files.push_back({rel, mode, std::move(data)});
    return true;
  }

  size_t max_bytes_;
  std::vector<std::pair<std::string, std::string>> secrets_;
  size_t files_ = 0;
  size_t bytes_ = 0;
  std::string error_;
};

json::object input_json(const InlinedInput& in) {
  json::array files;
  for (const auto& f : in.files)
    files.push_back({{"path", f.path}, {"mode", f.mode}, {"data", sdk::base64_encode(f.data)}});
  return {{"source", in.source},
          {"name", in.name},
          {"directory", in.directory},
          {"files", std::move(files)}};
}

// ---- worker side ---------------------------------------------------------------------------

// A relative path of an inlined file: no absolute paths, no "..", ".", empty components or NUL,
// so writing it under the job's directory can never land outside it.
bool safe_relative(std::string_view p) {
  if (p.empty() || p.size() > kMaxPath || p.front() == '/' || p.find('\0') != p.npos) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    auto part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    start = end + 1;
  }
  return true;
}

bool safe_name(std::string_view n) {
  return n.size() <= 255 && n != "." && n != ".." && n.find('/') == n.npos &&
         n.find('\0') == n.npos;
}

const json::value* member(const json::object& o, std::string_view key) {
  return o.if_contains(key);
}

std::optional<InlinedInput> parse_input(const json::value& v, const std::string& where,
                                        std::string& error, size_t& files_total) {
  auto bad = [&](const std::string& what) {
    error = where + ": " + what;
    return std::nullopt;
  };
  if (!v.is_object()) return bad("must be an object");
  const auto& o = v.get_object();
  InlinedInput in;
  const auto* source = member(o, "source");
  const auto* name = member(o, "name");
  const auto* dir = member(o, "directory");
  const auto* files = member(o, "files");
  if (!source || !source->is_string()) return bad("source must be a string");
  if (!name || !name->is_string() || !safe_name(name->get_string()))
    return bad("name must be one path component");
  if (!dir || !dir->is_bool()) return bad("directory must be true or false");
  if (!files || !files->is_array()) return bad("files must be a list");
  in.source = std::string(source->get_string());
  in.name = std::string(name->get_string());
  in.directory = dir->get_bool();
  if (!in.directory && files->get_array().size() != 1)
    return bad("a single file input must hold exactly one file");
  for (size_t i = 0; i < files->get_array().size(); ++i) {
    if (++files_total > kMaxFiles) return bad("too many files");
    const std::string fw = "files[" + std::to_string(i) + "]";
    const auto& f = files->get_array()[i];
    if (!f.is_object()) return bad(fw + " must be an object");
    const auto* path = member(f.get_object(), "path");
    const auto* mode = member(f.get_object(), "mode");
    const auto* data = member(f.get_object(), "data");
    if (!path || !path->is_string()) return bad(fw + ".path must be a string");
    if (in.directory ? !safe_relative(path->get_string()) : !path->get_string().empty())
      return bad(fw + ".path '" + std::string(path->get_string()).substr(0, 200) +
                 "' is not a safe relative path");
    if (!mode || !mode->is_int64() || (mode->get_int64() != 0644 && mode->get_int64() != 0755))
      return bad(fw + ".mode must be 420 (0644) or 493 (0755)");
    if (!data || !data->is_string()) return bad(fw + ".data must be a base64 string");
    auto bytes = sdk::base64_decode(data->get_string());
    if (!bytes) return bad(fw + ".data is not valid base64");
    in.files.push_back(
        {std::string(path->get_string()), static_cast<int>(mode->get_int64()), std::move(*bytes)});
  }
  return in;
}

std::string write_file_exclusive(const fs::path& p, const std::string& data, int mode) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) return "cannot create " + p.parent_path().string() + ": " + ec.message();
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  static_cast<mode_t>(mode));
  if (fd < 0) return "cannot create " + p.string() + ": " + std::strerror(errno);
  if (const int err = sdk::write_all(fd, data)) {
    ::close(fd);
    return "cannot write " + p.string() + ": " + std::strerror(err);
  }
  ::fchmod(fd, static_cast<mode_t>(mode));  // whatever the umask
  ::close(fd);
  return "";
}

// Writes an input under `at` (its own directory, or the file itself); returns "" or the error.
std::string write_input(const InlinedInput& in, const fs::path& at) {
  std::error_code ec;
  if (!in.directory) return write_file_exclusive(at, in.files.at(0).data, in.files.at(0).mode);
  fs::create_directories(at, ec);
  if (ec) return "cannot create " + at.string() + ": " + ec.message();
  for (const auto& f : in.files)
    if (auto e = write_file_exclusive(at / f.path, f.data, f.mode); !e.empty()) return e;
  return "";
}

}  // namespace

BuiltJob build_job(const Workload& w, size_t max_bytes,
                   const std::vector<std::pair<std::string, std::string>>& secrets) {
  BuiltJob out;
  Builder b(max_bytes, secrets);
  if (!b.check_document(w.document, "")) {
    out.error = b.error();
    return out;
  }
  const auto& doc = w.document.get_object();
  json::array skills;
  if (const auto* s = doc.if_contains("skills")) {
    for (size_t i = 0; i < s->get_array().size() && i < w.skills.size(); ++i) {
      InlinedInput in;
      if (!b.read_input(std::string(s->get_array()[i].get_string()), w.skills[i], in)) {
        out.error = "skills[" + std::to_string(i) + "]: " + b.error();
        return out;
      }
      skills.push_back(input_json(in));
    }
  }
  json::object uploads;
  json::array lines;
  for (size_t i = 0; i < w.steps.size(); ++i) {
    const auto& step = w.steps[i];
    lines.push_back(step.line);
    if (step.op != Op::upload) continue;
    std::string from(step.args.at("from").get_string());
    InlinedInput in;
    if (!b.read_input(from, w.local_path(from), in)) {
      out.error = "steps[" + std::to_string(i) + "].upload.from: " + b.error();
      return out;
    }
    uploads[std::to_string(i)] = input_json(in);
  }
  std::error_code ec;
  json::object job{{"version", kJobVersion},          {"file", w.file.string()},
                   {"base_dir", w.base_dir.string()}, {"document", w.document},
                   {"lines", std::move(lines)},       {"skills", std::move(skills)},
                   {"uploads", std::move(uploads)}};
  out.json = json::serialize(job);
  if (out.json.size() > max_bytes) {
    out.error = "the job would be " + std::to_string(out.json.size()) +
                " bytes, more than job_max_bytes (" + std::to_string(max_bytes) +
                "); make the workload smaller, or raise job_max_bytes (AGENT_RUNNER_JOB_MAX_BYTES)";
    out.json.clear();
  }
  return out;
}

boost::system::result<json::value, std::string> parse_bounded_json(std::string_view text,
                                                                   size_t max_bytes,
                                                                   size_t max_depth,
                                                                   size_t max_nodes) {
  InputLimits limits;
  limits.max_bytes = max_bytes;
  limits.max_depth = max_depth;
  limits.max_nodes = max_nodes;
  try {
    return parse_json_bounded(text, limits);
  } catch (const YamlError& e) {
    // A json::value can hold a string too: say which of the two this is.
    return {boost::system::in_place_error, e.what()};
  }
}

ParsedJob parse_job(std::string_view text, size_t max_bytes) {
  ParsedJob out;
  auto v = parse_bounded_json(text, max_bytes);
  if (!v) {
    out.error = "workload: " + v.error();
    return out;
  }
  auto bad = [&](const std::string& what) {
    out.error = "workload: " + what;
    return out;
  };
  if (!v->is_object()) return bad("must be a JSON object");
  const auto& o = v->get_object();
  const auto* version = member(o, "version");
  if (!version || !version->is_int64())
    return bad("version is missing; this worker reads job version " + std::to_string(kJobVersion));
  if (version->get_int64() != kJobVersion)
    return bad("unknown job version " + std::to_string(version->get_int64()) +
               "; this worker reads version " + std::to_string(kJobVersion) +
               " (upgrade the worker, or submit with a matching agent-runner)");
  Job job;
  const auto* file = member(o, "file");
  const auto* base = member(o, "base_dir");
  const auto* doc = member(o, "document");
  const auto* lines = member(o, "lines");
  const auto* skills = member(o, "skills");
  const auto* uploads = member(o, "uploads");
  if (!file || !file->is_string() || file->get_string().size() > kMaxPath)
    return bad("file must be a string");
  if (!base || !base->is_string() || base->get_string().size() > kMaxPath ||
      !fs::path(std::string(base->get_string())).is_absolute())
    return bad("base_dir must be an absolute path");
  if (!doc) return bad("document is missing");
  auto problems = validate_json_schema(workload_schema(), *doc);
  if (!problems.empty()) {
    std::string all;
    for (size_t i = 0; i < problems.size() && i < 5; ++i)
      all += (i ? "; " : "") + (problems[i].pointer.empty() ? "(top level)" : problems[i].pointer) +
             ": " + problems[i].message;
    return bad("document does not follow the workload schema: " + all);
  }
  job.file = std::string(file->get_string());
  job.base_dir = std::string(base->get_string());
  job.document = *doc;
  const auto& d = doc->get_object();
  const auto& steps = d.at("steps").get_array();
  if (!lines || !lines->is_array() || lines->get_array().size() != steps.size())
    return bad("lines must hold one line number per step");
  for (const auto& l : lines->get_array()) {
    if (!l.is_int64() || l.get_int64() < 0) return bad("lines must be numbers >= 0");
    job.lines.push_back(l.get_int64());
  }
  std::string err;  // parse_input's
  size_t files_total = 0;
  const auto* doc_skills = d.if_contains("skills");
  const size_t n_skills = doc_skills ? doc_skills->get_array().size() : 0;
  if (!skills || !skills->is_array() || skills->get_array().size() != n_skills)
    return bad("skills must carry one input per skill of the document");
  for (size_t i = 0; i < n_skills; ++i) {
    auto in =
        parse_input(skills->get_array()[i], "skills[" + std::to_string(i) + "]", err, files_total);
    if (!in) return bad(err);
    if (in->source != doc_skills->get_array()[i].get_string() || !in->directory)
      return bad("skills[" + std::to_string(i) + "] does not match the document's skill");
    job.skills.push_back(std::move(*in));
  }
  if (!uploads || !uploads->is_object()) return bad("uploads must be an object");
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto* up = steps[i].get_object().if_contains("upload");
    const auto* in_json = uploads->get_object().if_contains(std::to_string(i));
    if (!up && !in_json) continue;
    if (!up || !in_json)
      return bad("uploads." + std::to_string(i) + " must exist exactly for upload steps");
    auto in = parse_input(*in_json, "uploads." + std::to_string(i), err, files_total);
    if (!in) return bad(err);
    if (in->source != up->get_object().at("from").get_string())
      return bad("uploads." + std::to_string(i) + " does not match the step's upload.from");
    job.uploads.emplace(i, std::move(*in));
  }
  if (uploads->get_object().size() != job.uploads.size())
    return bad("uploads has entries for steps that are not uploads");
  out.job = std::move(job);
  return out;
}

WorkloadLoad materialise_job(const Job& job, const fs::path& dir, const EnvMap& env) {
  WorkloadLoad out;
  json::value doc = job.document;
  auto& d = doc.get_object();
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  for (size_t i = 0; i < job.skills.size(); ++i) {
    const auto& in = job.skills[i];
    // Same last component (the skill's name in events), same relative paths and modes (its
    // content hash), so the skill lands where `run` puts it.
    fs::path at = dir / "skills" / std::to_string(i) / in.name;
    if (auto e = write_input(in, at); !e.empty()) {
      out.errors.push_back("skills[" + std::to_string(i) + "]: " + e);
      return out;
    }
    d["skills"].get_array()[i] = at.string();
  }
  auto& steps = d["steps"].get_array();
  for (const auto& [index, in] : job.uploads) {
    fs::path at = dir / "uploads" / std::to_string(index) /
                  (in.name.empty() ? std::string(in.directory ? "dir" : "file") : in.name);
    if (auto e = write_input(in, at); !e.empty()) {
      out.errors.push_back("steps[" + std::to_string(index) + "].upload.from: " + e);
      return out;
    }
    steps[index].get_object()["upload"].get_object()["from"] = at.string();
  }
  if (auto* secrets = d.if_contains("secrets")) {
    for (auto& kv : secrets->get_object()) {
      // A job comes from whoever can write to the queue: the worker's own credentials (Redis
      // password, API keys) are not secrets it may hand to a job's commands.
      if (const auto* var = kv.value().get_object().if_contains("env"))
        for (const auto& field : settings())
          if (field.secret && var->get_string() == field.env_var) {
            out.errors.push_back(job.file + ": secrets." + std::string(kv.key()) +
                                 ": {env: " + field.env_var +
                                 "} is the worker's own credential; a job may not read it");
            return out;
          }
      // A secret file named relative to the workload is read relative to the worker's directory.
      if (auto* f = kv.value().get_object().if_contains("file"))
        if (fs::path p(std::string(f->get_string())); p.is_relative()) *f = (cwd / p).string();
    }
  }
  const fs::path file = dir / "workload.json";
  if (auto e = write_file_exclusive(file, json::serialize(doc), 0600); !e.empty()) {
    out.errors.push_back(e);
    return out;
  }
  out = load_workload(file, env);
  // Errors name the submitted file, not this private copy.
  for (auto& e : out.errors)
    if (e.rfind(file.string(), 0) == 0) e = job.file + e.substr(file.string().size());
  if (!out.workload) return out;
  Workload& w = *out.workload;
  w.file = job.file;
  w.base_dir = job.base_dir;
  w.document = job.document;
  for (size_t i = 0; i < w.steps.size() && i < job.lines.size(); ++i)
    w.steps[i].line = static_cast<int>(job.lines[i]);
  for (const auto& [index, in] : job.uploads) {
    auto& args = w.steps[index].args;
    w.inlined[in.source] = fs::path(std::string(args.at("from").get_string()));
    args["from"] = in.source;
  }
  return out;
}

}  // namespace agent_runner::worker
