#include "mcp_tools.hpp"

#include "json_schema.hpp"
#include "redact.hpp"

#include <agent_runner/plugin.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace agent_runner::mcp {
namespace {

namespace json = boost::json;

constexpr int64_t kDefaultReadLimit = 2000;
constexpr int64_t kPluginDefaultMatches = 1000;  // grep without max_matches, in both plugins
// Beyond this a listing is cut (about 20k tokens), as deepagents does, so one call cannot flood
// the model's context; the structured result still has everything.
constexpr size_t kMaxListingChars = 80000;

json::object parse_object(std::string_view text) {
  return json::parse(text).as_object();
}

// ---- schemas ----------------------------------------------------------------------------------

constexpr std::string_view kFileInfoSchema = R"({
  "type": "object",
  "properties": {
    "path": {"type": "string"},
    "is_dir": {"type": "boolean"},
    "size": {"type": "integer"},
    "modified_at": {"type": "string"}
  },
  "required": ["path", "is_dir"]
})";

// An error: {code, message}. Members that do not apply are left out rather than null, so no
// schema needs a ["X", "null"] type array (the MCP Inspector's --strict warns about those).
constexpr std::string_view kErrorSchema = R"({
  "type": "object",
  "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
  "required": ["code", "message"]
})";

// A tool's output schema as declared: its own members, or {"error": {code, message}} when the
// call failed (error results carry their code in structuredContent too, and clients check
// structuredContent against the schema even then).
json::object with_error_alternative(json::object schema) {
  json::array alternatives;
  if (auto* req = schema.if_contains("required")) {
    alternatives.push_back(json::object{{"required", *req}});
    schema.erase("required");
  } else {
    alternatives.push_back(json::object{});
  }
  alternatives.push_back(json::object{{"required", json::array{"error"}}});
  schema["properties"].as_object()["error"] = parse_object(kErrorSchema);
  schema["anyOf"] = std::move(alternatives);
  return schema;
}

std::vector<ToolSpec> build_specs() {
  std::vector<ToolSpec> specs;
  auto add = [&](std::string name, Op op, std::string title, std::string description,
                 std::string_view input, std::string_view output, bool read_only, bool destructive,
                 bool idempotent, bool open_world) {
    ToolSpec t;
    t.name = std::move(name);
    t.op = op;
    t.title = std::move(title);
    t.description = std::move(description);
    t.input_schema = parse_object(input);
    t.output_schema = with_error_alternative(parse_object(output));
    t.annotations = json::object{{"title", t.title},
                                 {"readOnlyHint", read_only},
                                 {"destructiveHint", destructive},
                                 {"idempotentHint", idempotent},
                                 {"openWorldHint", open_world}};
    specs.push_back(std::move(t));
  };
  const std::string file_info(kFileInfoSchema);
  const std::string error(kErrorSchema);

  add("execute", Op::execute, "Run a shell command",
      "Run a shell command in the sandbox with /bin/sh -c and return its output (stdout and stderr "
      "interleaved as produced), followed by a line with the exit code. The command starts in the "
      "sandbox's workdir unless `cwd` is given; an absolute path names the same file for a command "
      "as for read_file and write_file. stdin is closed, so never run a command that "
      "waits for input (use flags like -y). The environment is minimal and holds none of the "
      "server's secrets; pass what the command needs in `env`. After `timeout` seconds (default "
      "120, 0 = no limit) the command and every process it started are killed and the partial "
      "output is returned with exit code 124. Very long output keeps its beginning and end with a "
      "marker in between. For reading, writing, editing and finding files prefer read_file, "
      "write_file, edit_file, ls, glob and grep over cat, echo, sed and find.",
      R"({
        "type": "object",
        "properties": {
          "command": {"type": "string", "minLength": 1,
                      "description": "The shell command line, e.g. \"pytest -q tests/\"."},
          "timeout": {"type": "number", "minimum": 0,
                      "description": "Seconds before the command is killed; default 120, 0 = no limit."},
          "cwd": {"type": "string",
                  "description": "Working directory: relative to the workdir (e.g. src) or absolute (default: the workdir)."},
          "env": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "Extra environment variables for this command only."}
        },
        "required": ["command"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {
          "exit_code": {"type": "integer"},
          "output": {"type": "string", "description": "stdout and stderr interleaved"},
          "stdout": {"type": "string"},
          "stderr": {"type": "string"},
          "truncated": {"type": "boolean"},
          "timed_out": {"type": "boolean"},
          "duration_ms": {"type": "integer"},
          "stdout_bytes": {"type": "integer"},
          "stderr_bytes": {"type": "integer"}
        },
        "required": ["exit_code", "output", "truncated", "timed_out"]
      })",
      false, true, false, true);

  add("read_file", Op::read, "Read a text file",
      "Read a text file from the sandbox. Lines come back in `cat -n` format: each line is "
      "prefixed with its 1-based line number and a tab, which are not part of the file. Reads at "
      "most `limit` lines (default 2000) after skipping `offset` lines (default 0); when the file "
      "has more, the result ends with a note giving the offset to continue from. A line longer "
      "than 10000 characters is split into chunks numbered N, N.1, N.2, ... Read a file before "
      "editing it so that edit_file's old_string matches exactly. For binary files use download.",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string", "minLength": 1,
                   "description": "Path of the file: relative to the workdir (e.g. src/main.py) or absolute."},
          "offset": {"type": "integer", "minimum": 0,
                     "description": "Number of lines to skip before reading (0 = from the first line)."},
          "limit": {"type": "integer", "minimum": 0,
                    "description": "Maximum number of lines to return (default 2000; 0 = none, only how many there are)."}
        },
        "required": ["path"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string"},
          "content": {"type": "string", "description": "the selected lines, without line numbers"},
          "offset": {"type": "integer"},
          "lines": {"type": "integer"},
          "total_lines": {"type": "integer"},
          "size": {"type": "integer"},
          "more": {"type": "boolean"},
          "binary": {"type": "boolean"}
        },
        "required": ["path", "content", "offset", "lines", "total_lines", "more"]
      })",
      true, false, true, false);

  add("write_file", Op::write, "Create a file",
      "Create a text file in the sandbox with the given content. Fails with already_exists when "
      "the file exists, unless `overwrite` is true; to change part of an existing file use "
      "edit_file instead. For binary content use upload.",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string", "minLength": 1,
                   "description": "Path of the file to create: relative to the workdir (e.g. src/util.py) or absolute."},
          "content": {"type": "string", "description": "The complete text of the file."},
          "overwrite": {"type": "boolean",
                        "description": "Replace the file if it exists (default false)."}
        },
        "required": ["path", "content"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string"},
          "bytes_written": {"type": "integer"},
          "created": {"type": "boolean"}
        },
        "required": ["path", "bytes_written"]
      })",
      false, true, true, false);

  add("edit_file", Op::edit, "Edit a file",
      "Replace an exact string in a file of the sandbox. `old_string` must match the file "
      "exactly, including whitespace and indentation (copy it from read_file's output without "
      "the line-number prefix). Fails with not_found when it does not occur, and with ambiguous "
      "when it occurs more than once: include more surrounding lines to make it unique, or set "
      "replace_all to replace every occurrence.",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string", "minLength": 1, "description": "Path of the file (relative to the workdir, or absolute)."},
          "old_string": {"type": "string", "minLength": 1, "description": "The exact text to replace."},
          "new_string": {"type": "string", "description": "The text to put in its place."},
          "replace_all": {"type": "boolean",
                          "description": "Replace every occurrence instead of exactly one (default false)."}
        },
        "required": ["path", "old_string", "new_string"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"path": {"type": "string"}, "occurrences": {"type": "integer"}},
        "required": ["path", "occurrences"]
      })",
      false, true, false, false);

  add("ls", Op::ls, "List a directory",
      "List the entries of one directory in the sandbox (not recursive), one per line: "
      "directories end with '/', files show their size in bytes. Results show absolute paths. "
      "Use glob to find files in a whole tree.",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string", "description": "The directory: relative to the workdir or absolute (default: the workdir)."}
        },
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"path": {"type": "string"}, "entries": {"type": "array", "items": )" +
          file_info + R"(}},
        "required": ["path", "entries"]
      })",
      true, false, true, false);

  add("glob", Op::glob, "Find files by name",
      "Find files and directories whose path matches a glob pattern such as **/*.py or src/*.ts "
      "(** matches any number of directories), like shell globbing. Searches under `path` "
      "(default: the workdir). Returns them sorted, one absolute path per line, directories "
      "ending with '/'.",
      R"({
        "type": "object",
        "properties": {
          "pattern": {"type": "string", "minLength": 1, "description": "Glob pattern, e.g. **/*.py."},
          "path": {"type": "string", "description": "Directory to search under (default: the workdir)."}
        },
        "required": ["pattern"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"entries": {"type": "array", "items": )" +
          file_info + R"(}},
        "required": ["entries"]
      })",
      true, false, true, false);

  add("grep", Op::grep, "Search file contents",
      "Search the contents of files for a regular expression, or for a fixed string with "
      "literal: true. `path` is a directory searched recursively or a single file (default: the "
      "workdir); "
      "`glob` limits which files are searched (e.g. *.py). Returns matching lines as "
      "path:line:text, at most max_matches of them.",
      R"({
        "type": "object",
        "properties": {
          "pattern": {"type": "string", "minLength": 1,
                      "description": "Regular expression (or fixed string with literal: true)."},
          "path": {"type": "string", "description": "Directory or file to search (default: the workdir)."},
          "glob": {"type": "string", "description": "Only search files matching this glob, e.g. *.py."},
          "literal": {"type": "boolean", "description": "Treat pattern as a fixed string."},
          "ignore_case": {"type": "boolean", "description": "Match case-insensitively."},
          "max_matches": {"type": "integer", "minimum": 1,
                          "description": "Stop after this many matching lines."}
        },
        "required": ["pattern"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {
          "matches": {"type": "array", "items": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "line": {"type": "integer"},
                           "text": {"type": "string"}},
            "required": ["path", "line", "text"]}},
          "truncated": {"type": "boolean"}
        },
        "required": ["matches", "truncated"]
      })",
      true, false, true, false);

  add("upload", Op::upload, "Upload files (base64)",
      "Write files into the sandbox from bytes the client already has, given as base64. Use it "
      "for binary files or when exact bytes matter; for text prefer write_file. Each file "
      "succeeds or fails on its own; `mode` sets permission bits (e.g. 493 = 0755).",
      R"({
        "type": "object",
        "properties": {
          "files": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "properties": {
              "path": {"type": "string", "minLength": 1, "description": "Path to write (relative to the workdir, or absolute)."},
              "content_base64": {"type": "string", "description": "The file's bytes, base64 (RFC 4648)."},
              "mode": {"type": "integer", "minimum": 0, "maximum": 4095,
                       "description": "Permission bits, e.g. 420 = 0644, 493 = 0755."}
            },
            "required": ["path", "content_base64"],
            "additionalProperties": false}}
        },
        "required": ["files"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"files": {"type": "array", "items": {
          "type": "object",
          "properties": {"path": {"type": "string"}, "ok": {"type": "boolean"},
                         "bytes": {"type": "integer"}, "error": )" +
          error + R"(},
          "required": ["path", "ok"]}}},
        "required": ["files"]
      })",
      false, true, true, false);

  add("download", Op::download, "Download files (base64)",
      "Read files from the sandbox as bytes, returned base64-encoded in "
      "structuredContent.files[].content_base64. Use it for binary files or when exact bytes "
      "matter; to read text prefer read_file. Each file succeeds or fails on its own.",
      R"({
        "type": "object",
        "properties": {
          "paths": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                    "description": "Paths of the files (relative to the workdir, or absolute)."}
        },
        "required": ["paths"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"files": {"type": "array", "items": {
          "type": "object",
          "properties": {"path": {"type": "string"}, "ok": {"type": "boolean"},
                         "size": {"type": "integer"}, "mode": {"type": "integer"},
                         "content_base64": {"type": "string"}, "error": )" +
          error + R"(},
          "required": ["path", "ok"]}}},
        "required": ["files"]
      })",
      true, false, true, false);

  add("delete", Op::remove, "Delete a file or directory",
      "Delete a file or a directory in the sandbox. A directory that is not empty needs "
      "recursive: true.",
      R"({
        "type": "object",
        "properties": {
          "path": {"type": "string", "minLength": 1, "description": "Path to delete (relative to the workdir, or absolute)."},
          "recursive": {"type": "boolean",
                        "description": "Delete a directory with everything in it (default false)."}
        },
        "required": ["path"],
        "additionalProperties": false
      })",
      R"({
        "type": "object",
        "properties": {"path": {"type": "string"}, "deleted": {"type": "boolean"}},
        "required": ["path", "deleted"]
      })",
      false, true, true, false);
  return specs;
}

// ---- small JSON helpers -----------------------------------------------------------------------

const json::value* member(const json::object& o, std::string_view key) {
  return o.if_contains(key);
}

std::string str_of(const json::object& o, std::string_view key, std::string fallback = "") {
  const json::value* v = member(o, key);
  return v && v->is_string() ? std::string(v->get_string()) : fallback;
}

// The value as an int64_t when it is a whole number that fits (a double outside the range would
// be undefined behaviour to convert).
std::optional<int64_t> exact_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    // 2^63 is exactly representable; every double below it converts.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::trunc(d))
      return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

int64_t int_of(const json::object& o, std::string_view key, int64_t fallback = 0) {
  const json::value* v = member(o, key);
  if (!v) return fallback;
  return exact_int(*v).value_or(fallback);
}

// Arguments the schema calls integers must also fit the integers the host and the plugins use:
// JSON Schema accepts 6.7e79 as an integer.
std::string check_integer_ranges(const json::object& schema, const json::object& args,
                                 const std::string& prefix) {
  const json::value* props = member(schema, "properties");
  if (!props || !props->is_object()) return "";
  std::string out;
  for (const auto& [key, sub] : props->get_object()) {
    const json::value* v = member(args, key);
    if (!v || !sub.is_object()) continue;
    const auto& so = sub.get_object();
    if (v->is_array() && member(so, "items") && so.at("items").is_object()) {
      for (size_t i = 0; i < v->get_array().size(); ++i)
        if (v->get_array()[i].is_object())
          out += check_integer_ranges(so.at("items").get_object(), v->get_array()[i].get_object(),
                                      prefix + std::string(key) + "/" + std::to_string(i) + "/");
      continue;
    }
    if (str_of(so, "type") != "integer" || exact_int(*v)) continue;
    const int64_t min = member(so, "minimum") ? int_of(so, "minimum") : INT64_MIN;
    out += "\n  - " + prefix + std::string(key) + ": must be an integer between " +
           std::to_string(min) + " and " + std::to_string(INT64_MAX) + " (got " +
           json::serialize(*v) + ")";
  }
  return out;
}

bool bool_of(const json::object& o, std::string_view key, bool fallback = false) {
  const json::value* v = member(o, key);
  return v && v->is_bool() ? v->get_bool() : fallback;
}

void copy_if(const json::object& from, json::object& to, std::string_view key,
             std::string_view as = {}) {
  if (const json::value* v = member(from, key); v && !v->is_null()) to[as.empty() ? key : as] = *v;
}

json::object text_result(std::string text, bool is_error = false) {
  json::object r{{"content", json::array{json::object{{"type", "text"}, {"text", text}}}}};
  if (is_error) r["isError"] = true;
  return r;
}

// A failed call: "Error: CODE: MESSAGE" plus `hint` for the model, and the code and message in
// structuredContent where the client takes it.
json::object error_text_result(std::string_view code, std::string_view message,
                               std::string_view hint, const Features& features) {
  json::object r = text_result(
      "Error: " + std::string(code) + ": " + std::string(message) + std::string(hint), true);
  if (features.structured)
    r["structuredContent"] =
        json::object{{"error", json::object{{"code", code}, {"message", message}}}};
  return r;
}

std::string plural(int64_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

std::string cut_listing(std::string text) {
  if (text.size() <= kMaxListingChars) return text;
  size_t cut = text.rfind('\n', kMaxListingChars);
  if (cut == std::string::npos) cut = kMaxListingChars;
  text.resize(cut);
  return text + "\n... [results truncated, try being more specific with your parameters]";
}

// What the model should try after a given error.
std::string_view hint_for(const ToolSpec& tool, std::string_view code) {
  if (code == "already_exists" && tool.op == Op::write)
    return " (pass overwrite: true to replace it, or change it with edit_file)";
  if (code == "not_found" && tool.op == Op::edit)
    return " (old_string must match the file exactly, including whitespace; read_file the file "
           "and copy the text without the line-number prefix)";
  if (code == "ambiguous")
    return " (include more surrounding lines in old_string to make it unique, or set "
           "replace_all: true)";
  if (code == "invalid_path")
    return " (a relative path is relative to the sandbox's workdir; no path may leave the "
           "sandbox)";
  if (code == "is_directory" && tool.op == Op::read) return " (use ls to list a directory)";
  if (code == "too_large" && tool.op == Op::read)
    return " (read part of it with offset and limit, or use grep)";
  return "";
}

json::array file_infos(const json::object& body, std::string_view key) {
  json::array out;
  if (const json::value* v = member(body, key); v && v->is_array()) {
    for (const auto& e : v->get_array()) {
      if (!e.is_object()) continue;
      const auto& o = e.get_object();
      json::object fi{{"path", str_of(o, "path")}, {"is_dir", bool_of(o, "is_dir")}};
      copy_if(o, fi, "size");
      copy_if(o, fi, "modified_at");
      out.push_back(std::move(fi));
    }
  }
  return out;
}

// ---- per-tool rendering -----------------------------------------------------------------------

json::object render_execute(const OpResult& r, json::object& structured) {
  const auto& b = r.body;
  const int64_t exit_code = int_of(b, "exit_code", -1);
  const bool timed_out = bool_of(b, "timed_out");
  const bool truncated = bool_of(b, "truncated");
  structured = json::object{{"exit_code", exit_code},
                            {"output", str_of(b, "output")},
                            {"truncated", truncated},
                            {"timed_out", timed_out}};
  for (auto key : {"stdout", "stderr", "duration_ms", "stdout_bytes", "stderr_bytes"})
    copy_if(b, structured, key);

  std::string text = str_of(b, "output");
  if (text.empty()) text = "<no output>";
  if (text.back() != '\n') text += '\n';
  if (timed_out) {
    text += "[Command timed out";
    if (const json::value* d = member(b, "duration_ms"); d && d->is_number())
      text += " after " + std::to_string(int_of(b, "duration_ms") / 1000) + " s";
    text += "; it and every process it started were killed (exit code " +
            std::to_string(exit_code) + ")]";
  } else if (exit_code == 0) {
    text += "[Command succeeded with exit code 0]";
  } else {
    text += "[Command failed with exit code " + std::to_string(exit_code) + "]";
  }
  if (truncated) {
    text += "\n[Output was truncated: the middle was dropped";
    if (member(b, "stdout_bytes") && member(b, "stderr_bytes"))
      text += "; the command wrote " + plural(int_of(b, "stdout_bytes"), "byte") +
              " to stdout and " + std::to_string(int_of(b, "stderr_bytes")) +
              " to stderr. Redirect to a file and read parts of it, or filter with grep";
    text += "]";
  }
  return text_result(std::move(text));
}

json::object render_read(const PreparedCall& call, const OpResult& r, const Features& features,
                         json::object& structured) {
  const auto& b = r.body;
  const std::string path = str_of(b, "path", str_of(call.request, "path"));
  const int64_t offset = int_of(b, "offset", int_of(call.request, "offset"));
  const int64_t total = int_of(b, "total_lines");
  const std::string_view raw = r.buffers.empty() ? std::string_view{} : r.buffers[0];
  const bool binary = raw.find('\0') != std::string_view::npos;
  // Redacted before the UTF-8 repair, which could otherwise change a secret's bytes.
  std::string content = binary ? std::string() : sdk::utf8_sanitize(Redactor::global().redact(raw));
  int64_t lines = int_of(b, "lines", -1);
  if (lines < 0) {  // count them ourselves when the plugin did not
    lines = 0;
    for (char c : content) lines += c == '\n';
    if (!content.empty() && content.back() != '\n') ++lines;
  }
  const bool more = bool_of(b, "more", offset + lines < total);
  structured = json::object{{"path", path},    {"content", content},   {"offset", offset},
                            {"lines", lines},  {"total_lines", total}, {"more", more},
                            {"binary", binary}};
  copy_if(b, structured, "size");

  if (binary)
    return text_result(path + " is a binary file (" +
                       plural(int_of(b, "size", static_cast<int64_t>(raw.size())), "byte") +
                       "); use download to get its bytes.");
  if (total == 0) return text_result("System reminder: File exists but has empty contents");
  if (offset > 0 && offset >= total) {
    structured = json::object{};
    return error_text_result("invalid_argument",
                             "line offset " + std::to_string(offset) + " exceeds file length (" +
                                 plural(total, "line") + ")",
                             "", features);
  }
  std::string text = number_lines(content, offset + 1);
  if (more) {
    const int64_t next = offset + lines;
    if (!text.empty())
      text += "\n... (";
    else
      text += "(no lines read; ";
    text += plural(total - next, "more line") +
            "; call read_file with offset=" + std::to_string(next) + " to continue)";
  }
  return text_result(std::move(text));
}

json::object render_ls(const OpResult& r, json::object& structured) {
  json::array entries = file_infos(r.body, "entries");
  const std::string path = str_of(r.body, "path", ".");
  std::string text;
  for (const auto& e : entries) {
    const auto& o = e.get_object();
    text += str_of(o, "path");
    if (bool_of(o, "is_dir")) {
      text += "/";
    } else if (member(o, "size")) {
      text += "  (" + plural(int_of(o, "size"), "byte") + ")";
    }
    text += "\n";
  }
  if (entries.empty()) text = path + " is empty\n";
  structured = json::object{{"path", path}, {"entries", std::move(entries)}};
  text.pop_back();
  return text_result(cut_listing(std::move(text)));
}

json::object render_glob(const PreparedCall& call, const OpResult& r, json::object& structured) {
  json::array entries = file_infos(r.body, "entries");
  std::string text;
  for (const auto& e : entries)
    text += str_of(e.get_object(), "path") + (bool_of(e.get_object(), "is_dir") ? "/\n" : "\n");
  if (entries.empty()) text = "Nothing matches " + str_of(call.request, "pattern") + "\n";
  text.pop_back();
  structured = json::object{{"entries", std::move(entries)}};
  return text_result(cut_listing(std::move(text)));
}

json::object render_grep(const PreparedCall& call, const OpResult& r, json::object& structured) {
  json::array matches;
  std::string text;
  size_t bytes = 0, left_out = 0;
  if (const json::value* v = member(r.body, "matches"); v && v->is_array()) {
    for (const auto& m : v->get_array()) {
      if (!m.is_object()) continue;
      const auto& o = m.get_object();
      std::string line = str_of(o, "path") + ":" + std::to_string(int_of(o, "line")) + ":" +
                         str_of(o, "text") + "\n";
      // The result is sent twice (text and structuredContent): bound what one call returns.
      if (left_out || bytes + line.size() > call.limits.max_result_bytes) {
        ++left_out;
        continue;
      }
      bytes += line.size();
      json::object out{
          {"path", str_of(o, "path")}, {"line", int_of(o, "line")}, {"text", str_of(o, "text")}};
      text += line;
      matches.push_back(std::move(out));
    }
  }
  const bool truncated = bool_of(r.body, "truncated") || left_out > 0;
  if (matches.empty()) text = "No matches for " + str_of(call.request, "pattern") + "\n";
  text.pop_back();
  if (left_out)
    text += "\n[" + plural(static_cast<int64_t>(left_out), "more matching line") +
            " left out: the lines shown reach this server's limit of " +
            std::to_string(call.limits.max_result_bytes) +
            " bytes per call (serve --max-result-bytes)]";
  if (!call.note.empty()) text += "\n[" + call.note + "]";
  if (truncated) text += "\n[More lines match; narrow the search with path or glob]";
  structured = json::object{{"matches", std::move(matches)}, {"truncated", truncated}};
  return text_result(cut_listing(std::move(text)));
}

// "CODE: MESSAGE" of the error object at o[key].
std::string error_text(const json::object& o, std::string_view key) {
  const json::value* err = member(o, key);
  if (!err || !err->is_object()) return "failed";
  return str_of(err->get_object(), "code", "internal") + ": " +
         str_of(err->get_object(), "message");
}

json::object render_upload(const PreparedCall& call, const OpResult& r, json::object& structured) {
  json::array files;
  std::string text;
  bool any_failed = false;
  const json::value* v = member(r.body, "files");
  for (size_t i = 0; v && v->is_array() && i < v->get_array().size(); ++i) {
    const json::value& f = v->get_array()[i];
    if (!f.is_object()) continue;
    const auto& o = f.get_object();
    const bool ok = bool_of(o, "ok");
    json::object out{{"path", str_of(o, "path")}, {"ok", ok}};
    if (ok && i < call.inputs.size()) out["bytes"] = call.inputs[i].size();
    if (ok) {
      text +=
          "uploaded " + str_of(o, "path") + " (" +
          plural(static_cast<int64_t>(i < call.inputs.size() ? call.inputs[i].size() : 0), "byte") +
          ")\n";
    } else {
      any_failed = true;
      copy_if(o, out, "error");
      text += "failed " + str_of(o, "path") + ": " + error_text(o, "error") + "\n";
    }
    files.push_back(std::move(out));
  }
  if (!text.empty()) text.pop_back();
  structured = json::object{{"files", std::move(files)}};
  return text_result(std::move(text), any_failed);
}

json::object render_download(const OpResult& r, const Features& features,
                             json::object& structured) {
  json::array files;
  std::string text;
  bool any_failed = false;
  const json::value* v = member(r.body, "files");
  for (size_t i = 0; v && v->is_array() && i < v->get_array().size(); ++i) {
    const json::value& f = v->get_array()[i];
    if (!f.is_object()) continue;
    const auto& o = f.get_object();
    const bool ok = bool_of(o, "ok");
    json::object out{{"path", str_of(o, "path")}, {"ok", ok}};
    json::value content;
    if (ok) {
      const int64_t index = int_of(o, "buffer", -1);
      // Redacted as bytes, before encoding: inside base64 no secret can be found.
      if (index >= 0 && static_cast<size_t>(index) < r.buffers.size())
        content = base64_encode(Redactor::global().redact(r.buffers[static_cast<size_t>(index)]));
      copy_if(o, out, "size");
      copy_if(o, out, "mode");
    }
    if (!ok) copy_if(o, out, "error");
    if (ok) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "%04llo",
                    static_cast<unsigned long long>(int_of(o, "mode") & 07777));
      text += str_of(o, "path") + ": " + plural(int_of(o, "size"), "byte") + ", mode " + mode;
      if (features.structured) {
        text += " (base64 in structuredContent.files[" + std::to_string(files.size()) +
                "].content_base64)\n";
      } else if (content.is_string()) {
        text += ", base64:\n" + std::string(content.get_string()) + "\n";
      }
    } else {
      any_failed = true;
      text += str_of(o, "path") + ": failed: " + error_text(o, "error") + "\n";
    }
    if (content.is_string()) out["content_base64"] = std::move(content);
    files.push_back(std::move(out));
  }
  if (!text.empty()) text.pop_back();
  structured = json::object{{"files", std::move(files)}};
  return text_result(std::move(text), any_failed);
}

}  // namespace

Features features_for(std::string_view v) {
  // Dates compare as strings. Unknown (newer) versions never get here: we answer with ours.
  Features f;
  f.structured = v >= "2025-06-18";
  f.annotations = v >= "2025-03-26";
  return f;
}

const std::vector<ToolSpec>& tool_specs() {
  static const std::vector<ToolSpec> specs = build_specs();
  return specs;
}

const ToolSpec* find_tool(std::string_view name) {
  for (const auto& t : tool_specs())
    if (t.name == name) return &t;
  return nullptr;
}

json::array tools_list(const Features& features) {
  json::array out;
  for (const auto& t : tool_specs()) {
    json::object o{
        {"name", t.name}, {"description", t.description}, {"inputSchema", t.input_schema}};
    if (features.structured) {
      o["title"] = t.title;
      o["outputSchema"] = t.output_schema;
    }
    if (features.annotations) o["annotations"] = t.annotations;
    out.push_back(std::move(o));
  }
  return out;
}

PreparedCall prepare_call(const ToolSpec& tool, const json::object& args,
                          const CallLimits& limits) {
  PreparedCall call;
  call.op = tool.op;
  call.limits = limits;
  auto problems = validate_json_schema(tool.input_schema, args);
  std::string ranges = problems.empty() ? check_integer_ranges(tool.input_schema, args, "") : "";
  if (!problems.empty() || !ranges.empty()) {
    call.error = "Invalid arguments for " + tool.name + ":" + ranges;
    for (const auto& p : problems)
      call.error += "\n  - " +
                    (p.pointer.empty() ? std::string("arguments") : p.pointer.substr(1)) + ": " +
                    p.message;
    std::string names;
    for (const auto& [k, v] : tool.input_schema.at("properties").as_object())
      names += (names.empty() ? "" : ", ") + std::string(k);
    call.error += "\nArguments of " + tool.name + ": " + names + ".";
    return call;
  }
  json::object& req = call.request;
  switch (tool.op) {
    case Op::execute:
      req["command"] = args.at("command");
      copy_if(args, req, "timeout", "timeout_s");
      copy_if(args, req, "cwd");
      copy_if(args, req, "env");
      break;
    case Op::read:
      req["path"] = args.at("path");
      req["offset"] = int_of(args, "offset", 0);
      req["limit"] = int_of(args, "limit", kDefaultReadLimit);
      break;
    case Op::write:
      req["path"] = args.at("path");
      req["overwrite"] = bool_of(args, "overwrite");
      call.inputs.emplace_back(args.at("content").get_string());
      break;
    case Op::edit:
      req["path"] = args.at("path");
      req["old"] = args.at("old_string");
      req["new"] = args.at("new_string");
      req["replace_all"] = bool_of(args, "replace_all");
      break;
    case Op::ls:
      req["path"] = str_of(args, "path", ".");
      break;
    case Op::glob:
      req["pattern"] = args.at("pattern");
      copy_if(args, req, "path");
      break;
    case Op::grep:
      req["pattern"] = args.at("pattern");
      for (auto key : {"path", "glob", "literal", "ignore_case"}) copy_if(args, req, key);
      if (member(args, "max_matches")) req["max_matches"] = int_of(args, "max_matches");
      // The plugin builds every match in memory before answering: cap what it may build. (Left
      // out, the plugins' own default of 1000 applies.)
      if (const int64_t asked = int_of(req, "max_matches", kPluginDefaultMatches);
          static_cast<uint64_t>(asked) > limits.max_matches) {
        req["max_matches"] = limits.max_matches;
        if (member(args, "max_matches"))
          call.note = "max_matches " + std::to_string(asked) + " was lowered to " +
                      std::to_string(limits.max_matches) +
                      ", this server's limit per call (serve --max-matches)";
      }
      break;
    case Op::upload: {
      json::array files;
      const auto& in = args.at("files").get_array();
      for (size_t i = 0; i < in.size(); ++i) {
        const auto& f = in[i].get_object();
        auto bytes = base64_decode(f.at("content_base64").get_string());
        if (!bytes) {
          call.error = "Invalid arguments for upload:\n  - files/" + std::to_string(i) +
                       "/content_base64: is not valid base64 (RFC 4648, with or without "
                       "padding; whitespace is ignored)";
          return call;
        }
        json::object entry{{"path", f.at("path")}};
        if (member(f, "mode")) entry["mode"] = int_of(f, "mode");
        files.push_back(std::move(entry));
        call.inputs.push_back(std::move(*bytes));
      }
      req["files"] = std::move(files);
      break;
    }
    case Op::download:
      req["paths"] = args.at("paths");
      break;
    case Op::remove:
      req["path"] = args.at("path");
      req["recursive"] = bool_of(args, "recursive");
      break;
  }
  return call;
}

json::object error_result(std::string_view code, std::string_view message,
                          const Features& features) {
  return error_text_result(code, message, "", features);
}

json::object render_result(const ToolSpec& tool, const PreparedCall& call, const OpResult& r,
                           const Features& features) {
  if (!r.ok()) {
    const std::string code = r.code();
    const std::string message = r.message();
    std::string_view hint = hint_for(tool, code);
    // A plugin may give the same advice in its message ("pass overwrite: true to replace it"):
    // say it once. The hint's first clause is what both would say.
    const std::string_view advice =
        hint.substr(std::min<size_t>(2, hint.size()), hint.find_first_of(",;)") - 2);
    if (!advice.empty() && message.find(advice) != std::string::npos) hint = {};
    return error_text_result(code, message, hint, features);
  }
  json::object structured;
  json::object result;
  switch (tool.op) {
    case Op::execute:
      result = render_execute(r, structured);
      break;
    case Op::read:
      result = render_read(call, r, features, structured);
      break;
    case Op::write: {
      const std::string path = str_of(r.body, "path", str_of(call.request, "path"));
      const int64_t n =
          int_of(r.body, "bytes_written",
                 static_cast<int64_t>(call.inputs.empty() ? 0 : call.inputs[0].size()));
      structured = json::object{{"path", path}, {"bytes_written", n}};
      copy_if(r.body, structured, "created");
      const bool created = bool_of(r.body, "created", true);
      result = text_result((created ? "Created " : "Overwrote ") + path + " (" + plural(n, "byte") +
                           ")");
      break;
    }
    case Op::edit: {
      const std::string path = str_of(r.body, "path", str_of(call.request, "path"));
      const int64_t n = int_of(r.body, "occurrences", 1);
      structured = json::object{{"path", path}, {"occurrences", n}};
      result = text_result("Replaced " + plural(n, "occurrence") + " in " + path);
      break;
    }
    case Op::ls:
      result = render_ls(r, structured);
      break;
    case Op::glob:
      result = render_glob(call, r, structured);
      break;
    case Op::grep:
      result = render_grep(call, r, structured);
      break;
    case Op::upload:
      result = render_upload(call, r, structured);
      break;
    case Op::download:
      result = render_download(r, features, structured);
      break;
    case Op::remove: {
      const std::string path = str_of(r.body, "path", str_of(call.request, "path"));
      const bool deleted = bool_of(r.body, "deleted", true);
      structured = json::object{{"path", path}, {"deleted", deleted}};
      result = text_result(deleted ? "Deleted " + path : path + " did not exist; nothing deleted");
      break;
    }
  }
  if (features.structured && !structured.empty())
    result["structuredContent"] = std::move(structured);
  return result;
}

// ---- helpers ------------------------------------------------------------------------------------

std::string number_lines(std::string_view text, int64_t first_line, size_t max_line_bytes) {
  std::string out;
  out.reserve(text.size() + text.size() / 8 + 16);
  char num[32];
  auto emit = [&](std::string_view label, std::string_view body) {
    std::snprintf(num, sizeof num, "%6.*s\t", static_cast<int>(label.size()), label.data());
    out += num;
    out += body;
    out += '\n';
  };
  int64_t n = first_line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    const std::string label = std::to_string(n);
    if (line.size() <= max_line_bytes) {
      emit(label, line);
    } else {
      size_t chunk_no = 0;
      while (!line.empty()) {
        size_t take = std::min(max_line_bytes, line.size());
        // Never split a UTF-8 sequence: back up to the start of a character.
        while (take < line.size() && take > 0 &&
               (static_cast<unsigned char>(line[take]) & 0xC0) == 0x80)
          --take;
        if (take == 0) take = std::min(max_line_bytes, line.size());
        emit(chunk_no == 0 ? label : label + "." + std::to_string(chunk_no), line.substr(0, take));
        line.remove_prefix(take);
        ++chunk_no;
      }
    }
    ++n;
    pos = end + 1;
  }
  if (!out.empty()) out.pop_back();
  return out;
}

}  // namespace agent_runner::mcp
