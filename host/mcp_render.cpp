// SPDX-License-Identifier: Apache-2.0
// An operation's result as an MCP CallToolResult: text for the model (with what to try next) and
// structuredContent for clients, both from the operations module's typed views.
#include "mcp_tools.hpp"
#include "operations.hpp"
#include "redact.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdio>

namespace agent_runner::mcp {
namespace {

namespace json = boost::json;

// Beyond this a listing is cut (about 20k tokens), as deepagents does, so one call cannot flood
// the model's context; the structured result still has everything.
constexpr size_t kMaxListingChars = 80000;

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

json::array entries_json(const std::vector<FileEntry>& entries) {
  json::array out;
  for (const auto& e : entries) out.push_back(e.to_json());
  return out;
}

std::string request_path(const PreparedCall& call) {
  return string_member(call.request, "path").value_or("");
}

json::object render_execute(const OpResult& r, json::object& structured) {
  const ExecuteView v = execute_view(r.body);
  structured = json::object{{"exit_code", v.exit_code},
                            {"output", v.output},
                            {"truncated", v.truncated},
                            {"timed_out", v.timed_out}};
  for (auto key : {"stdout", "stderr", "duration_ms", "stdout_bytes", "stderr_bytes"})
    if (const auto* m = r.body.if_contains(key); m && !m->is_null()) structured[key] = *m;

  std::string text = v.output;
  if (text.empty()) text = "<no output>";
  if (text.back() != '\n') text += '\n';
  if (v.timed_out) {
    text += "[Command timed out";
    if (v.duration_ms) text += " after " + std::to_string(*v.duration_ms / 1000) + " s";
    text += "; it and every process it started were killed (exit code " +
            std::to_string(v.exit_code) + ")]";
  } else if (v.exit_code == 0) {
    text += "[Command succeeded with exit code 0]";
  } else {
    text += "[Command failed with exit code " + std::to_string(v.exit_code) + "]";
  }
  if (v.truncated) {
    text += "\n[Output was truncated: the middle was dropped";
    if (v.stdout_bytes && v.stderr_bytes)
      text += "; the command wrote " + plural(*v.stdout_bytes, "byte") + " to stdout and " +
              std::to_string(*v.stderr_bytes) +
              " to stderr. Redirect to a file and read parts of it, or filter with grep";
    text += "]";
  }
  return text_result(std::move(text));
}

json::object render_read(const PreparedCall& call, const OpResult& r, const Features& features,
                         json::object& structured) {
  const ReadView v = read_view(r);
  const std::string path = v.path.value_or(request_path(call));
  const int64_t offset = v.offset.value_or(int_member(call.request, "offset").value_or(0));
  const int64_t total = v.total_lines.value_or(0);
  const bool binary = v.bytes.find('\0') != std::string_view::npos;
  // Redacted before the UTF-8 repair, which could otherwise change a secret's bytes.
  std::string content =
      binary ? std::string() : sdk::utf8_sanitize(Redactor::global().redact(v.bytes));
  int64_t lines = v.lines.value_or(-1);
  if (lines < 0) {  // count them ourselves when the plugin did not
    lines = 0;
    for (char c : content) lines += c == '\n';
    if (!content.empty() && content.back() != '\n') ++lines;
  }
  const bool more = v.more.value_or(offset + lines < total);
  structured = json::object{{"path", path},    {"content", content},   {"offset", offset},
                            {"lines", lines},  {"total_lines", total}, {"more", more},
                            {"binary", binary}};
  if (v.size) structured["size"] = *v.size;

  if (binary)
    return text_result(path + " is a binary file (" +
                       plural(v.size.value_or(static_cast<int64_t>(v.bytes.size())), "byte") +
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
    text += text.empty() ? "(no lines read; " : "\n... (";
    text += plural(total - next, "more line") +
            "; call read_file with offset=" + std::to_string(next) + " to continue)";
  }
  return text_result(std::move(text));
}

json::object render_ls(const OpResult& r, json::object& structured) {
  const ListingView v = listing_view(r.body);
  const std::string path = v.path.value_or(".");
  std::string text;
  for (const auto& e : v.entries) {
    text += e.path;
    if (e.is_dir) {
      text += "/";
    } else if (e.size) {
      text += "  (" + plural(*e.size, "byte") + ")";
    }
    text += "\n";
  }
  if (v.entries.empty()) text = path + " is empty\n";
  structured = json::object{{"path", path}, {"entries", entries_json(v.entries)}};
  text.pop_back();
  return text_result(cut_listing(std::move(text)));
}

json::object render_glob(const PreparedCall& call, const OpResult& r, json::object& structured) {
  const ListingView v = listing_view(r.body);
  std::string text;
  for (const auto& e : v.entries) text += e.path + (e.is_dir ? "/\n" : "\n");
  if (v.entries.empty())
    text = "Nothing matches " + string_member(call.request, "pattern").value_or("") + "\n";
  text.pop_back();
  structured = json::object{{"entries", entries_json(v.entries)}};
  return text_result(cut_listing(std::move(text)));
}

json::object render_grep(const PreparedCall& call, const OpResult& r, json::object& structured) {
  const GrepView v = grep_view(r.body);
  json::array matches;
  std::string text;
  size_t bytes = 0, left_out = 0;
  for (const auto& m : v.matches) {
    std::string line = m.path + ":" + std::to_string(m.line) + ":" + m.text + "\n";
    // The result is sent twice (text and structuredContent): bound what one call returns.
    if (left_out || bytes + line.size() > call.limits.max_result_bytes) {
      ++left_out;
      continue;
    }
    bytes += line.size();
    text += line;
    matches.push_back(json::object{{"path", m.path}, {"line", m.line}, {"text", m.text}});
  }
  const bool truncated = v.truncated || left_out > 0;
  if (matches.empty())
    text = "No matches for " + string_member(call.request, "pattern").value_or("") + "\n";
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

std::string error_text(const std::optional<json::object>& err) {
  if (!err) return "failed";
  return string_member(*err, "code").value_or("internal") + ": " +
         string_member(*err, "message").value_or("");
}

json::object render_upload(const PreparedCall& call, const OpResult& r, json::object& structured) {
  json::array files;
  std::string text;
  bool any_failed = false;
  const auto outcomes = file_outcomes(r.body);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const FileOutcome& f = outcomes[i];
    const size_t size = i < call.inputs.size() ? call.inputs[i].size() : 0;
    json::object out{{"path", f.path}, {"ok", f.ok}};
    if (f.ok && i < call.inputs.size()) out["bytes"] = size;
    if (f.ok) {
      text += "uploaded " + f.path + " (" + plural(static_cast<int64_t>(size), "byte") + ")\n";
    } else {
      any_failed = true;
      if (f.error) out["error"] = *f.error;
      text += "failed " + f.path + ": " + error_text(f.error) + "\n";
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
  for (const FileOutcome& f : file_outcomes(r.body)) {
    json::object out{{"path", f.path}, {"ok", f.ok}};
    json::value content;
    if (f.ok) {
      // Redacted as bytes, before encoding: inside base64 no secret can be found.
      if (f.buffer && *f.buffer < r.buffers.size())
        content = base64_encode(Redactor::global().redact(r.buffers[*f.buffer]));
      if (f.size) out["size"] = *f.size;
      if (f.mode) out["mode"] = *f.mode;
    }
    if (!f.ok && f.error) out["error"] = *f.error;
    if (f.ok) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "%04llo",
                    static_cast<unsigned long long>(f.mode.value_or(0) & 07777));
      text += f.path + ": " + plural(f.size.value_or(0), "byte") + ", mode " + mode;
      if (features.structured) {
        text += " (base64 in structuredContent.files[" + std::to_string(files.size()) +
                "].content_base64)\n";
      } else if (content.is_string()) {
        text += ", base64:\n" + std::string(content.get_string()) + "\n";
      }
    } else {
      any_failed = true;
      text += f.path + ": failed: " + error_text(f.error) + "\n";
    }
    if (content.is_string()) out["content_base64"] = std::move(content);
    files.push_back(std::move(out));
  }
  if (!text.empty()) text.pop_back();
  structured = json::object{{"files", std::move(files)}};
  return text_result(std::move(text), any_failed);
}

json::object render_change(const ToolSpec& tool, const PreparedCall& call, const OpResult& r,
                           json::object& structured) {
  const ChangeView v = change_view(r.body);
  const std::string path = v.path.value_or(request_path(call));
  switch (tool.op) {
    case Op::write: {
      const int64_t n = v.bytes_written.value_or(
          static_cast<int64_t>(call.inputs.empty() ? 0 : call.inputs[0].size()));
      structured = json::object{{"path", path}, {"bytes_written", n}};
      if (v.created) structured["created"] = *v.created;
      return text_result((v.created.value_or(true) ? "Created " : "Overwrote ") + path + " (" +
                         plural(n, "byte") + ")");
    }
    case Op::edit: {
      const int64_t n = v.occurrences.value_or(1);
      structured = json::object{{"path", path}, {"occurrences", n}};
      return text_result("Replaced " + plural(n, "occurrence") + " in " + path);
    }
    default: {
      const bool deleted = v.deleted.value_or(true);
      structured = json::object{{"path", path}, {"deleted", deleted}};
      return text_result(deleted ? "Deleted " + path : path + " did not exist; nothing deleted");
    }
  }
}

}  // namespace

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
    case Op::write:
    case Op::edit:
    case Op::remove:
      result = render_change(tool, call, r, structured);
      break;
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
