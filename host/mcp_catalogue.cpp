// SPDX-License-Identifier: Apache-2.0
// The MCP tools: one per operation of the catalogue (AR_OPERATIONS), their schemas built from
// schemas/operations.schema.json, and what only MCP clients see: titles, model-oriented
// descriptions and annotations.
#include "mcp_tools.hpp"

#include "operations.hpp"

namespace agent_runner::mcp {
namespace {

namespace json = boost::json;

// How the tool is presented to a model. A switch over Op: a new operation without its
// presentation does not compile (-Werror=switch).
struct Presentation {
  const char* title;
  const char* description;
  bool read_only, destructive, idempotent, open_world;
};

Presentation present(Op op) {
  switch (op) {
    case Op::execute:
      return {
          "Run a shell command",
          "Run a shell command in the sandbox with /bin/sh -c and return its output (stdout and "
          "stderr interleaved as produced), followed by a line with the exit code. The command "
          "starts in the sandbox's workdir unless `cwd` is given; an absolute path names the "
          "same file for a command as for read_file and write_file. stdin is closed, so never "
          "run a command that waits for input (use flags like -y). The environment is minimal "
          "and holds none of the server's secrets; pass what the command needs in `env`. After "
          "`timeout` seconds (default 120, 0 = no limit) the command and every process it "
          "started are killed and the partial output is returned with exit code 124. Very long "
          "output keeps its beginning and end with a marker in between. For reading, writing, "
          "editing and finding files prefer read_file, write_file, edit_file, ls, glob and grep "
          "over cat, echo, sed and find.",
          false,
          true,
          false,
          true};
    case Op::read:
      return {"Read a text file",
              "Read a text file from the sandbox. Lines come back in `cat -n` format: each line is "
              "prefixed with its 1-based line number and a tab, which are not part of the file. "
              "Reads at most `limit` lines (default 2000) after skipping `offset` lines (default "
              "0); when the file has more, the result ends with a note giving the offset to "
              "continue from. A line longer than 10000 characters is split into chunks numbered N, "
              "N.1, N.2, ... Read a file before editing it so that edit_file's old_string matches "
              "exactly. For binary files use download.",
              true,
              false,
              true,
              false};
    case Op::write:
      return {
          "Create a file",
          "Create a text file in the sandbox with the given content. Fails with already_exists "
          "when the file exists, unless `overwrite` is true; to change part of an existing file "
          "use edit_file instead. For binary content use upload.",
          false,
          true,
          true,
          false};
    case Op::edit:
      return {
          "Edit a file",
          "Replace an exact string in a file of the sandbox. `old_string` must match the file "
          "exactly, including whitespace and indentation (copy it from read_file's output "
          "without the line-number prefix). Fails with not_found when it does not occur, and "
          "with ambiguous when it occurs more than once: include more surrounding lines to make "
          "it unique, or set replace_all to replace every occurrence.",
          false,
          true,
          false,
          false};
    case Op::ls:
      return {"List a directory",
              "List the entries of one directory in the sandbox (not recursive), one per line: "
              "directories end with '/', files show their size in bytes. Results show absolute "
              "paths. Use glob to find files in a whole tree.",
              true,
              false,
              true,
              false};
    case Op::glob:
      return {
          "Find files by name",
          "Find files and directories whose path matches a glob pattern such as **/*.py or "
          "src/*.ts (** matches any number of directories), like shell globbing. Searches under "
          "`path` (default: the workdir). Returns them sorted, one absolute path per line, "
          "directories ending with '/'.",
          true,
          false,
          true,
          false};
    case Op::grep:
      return {
          "Search file contents",
          "Search the contents of files for a regular expression, or for a fixed string with "
          "literal: true. `path` is a directory searched recursively or a single file (default: "
          "the workdir); `glob` limits which files are searched (e.g. *.py). Returns matching "
          "lines as path:line:text, at most max_matches of them.",
          true,
          false,
          true,
          false};
    case Op::upload:
      return {
          "Upload files (base64)",
          "Write files into the sandbox from bytes the client already has, given as base64. Use "
          "it for binary files or when exact bytes matter; for text prefer write_file. Each "
          "file succeeds or fails on its own; `mode` sets permission bits (e.g. 493 = 0755).",
          false,
          true,
          true,
          false};
    case Op::download:
      return {
          "Download files (base64)",
          "Read files from the sandbox as bytes, returned base64-encoded in "
          "structuredContent.files[].content_base64. Use it for binary files or when exact "
          "bytes matter; to read text prefer read_file. Each file succeeds or fails on its own.",
          true,
          false,
          true,
          false};
    case Op::remove:
      return {"Delete a file or directory",
              "Delete a file or a directory in the sandbox. A directory that is not empty needs "
              "recursive: true.",
              false,
              true,
              true,
              false};
  }
  return {"", "", false, false, false, false};
}

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
  json::object error = operations_schema().at("$defs").at("error").as_object();
  error.erase("$comment");
  schema["properties"].as_object()["error"] = std::move(error);
  schema["anyOf"] = std::move(alternatives);
  return schema;
}

std::vector<ToolSpec> build_specs() {
  std::vector<ToolSpec> specs;
  for (const auto& info : kOperations) {
    const Presentation p = present(info.op);
    ToolSpec t;
    t.name = std::string(info.tool);
    t.op = info.op;
    t.title = p.title;
    t.description = p.description;
    t.input_schema = standalone_schema(info.op, Shape::arguments, Front::tool);
    t.output_schema =
        with_error_alternative(standalone_schema(info.op, Shape::output, Front::tool));
    t.annotations = json::object{{"title", t.title},
                                 {"readOnlyHint", p.read_only},
                                 {"destructiveHint", p.destructive},
                                 {"idempotentHint", p.idempotent},
                                 {"openWorldHint", p.open_world}};
    specs.push_back(std::move(t));
  }
  return specs;
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

}  // namespace agent_runner::mcp
