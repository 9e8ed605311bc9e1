#include "cli_help.hpp"

#include "cli.hpp"

#include <algorithm>
#include <sstream>

namespace agent_runner {
namespace {

constexpr size_t kIndent = 2;
constexpr size_t kMaxLabel = 24;  // longer labels put their description on the next line
constexpr size_t kWidth = 100;    // the project's line length

// `text` broken at spaces into lines of at most `width` characters (a longer word stays whole);
// its own line breaks are kept.
std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t indent =
        line.find_first_not_of(' ') == std::string::npos ? 0 : line.find_first_not_of(' ');
    while (line.size() > width) {
      size_t cut = line.rfind(' ', width);
      if (cut == std::string::npos || cut <= indent) break;
      out.push_back(line.substr(0, cut));
      line = std::string(indent, ' ') + line.substr(cut + 1);
    }
    out.push_back(line);
  }
  return out;
}

// "-h, --help" or "--timeout S".
std::string option_label(const CLI::Option& o) {
  std::string label;
  for (const auto& s : o.get_snames()) label += (label.empty() ? "-" : ", -") + s;
  for (const auto& l : o.get_lnames()) label += (label.empty() ? "--" : ", --") + l;
  if (o.get_type_size() != 0) label += " " + o.get_type_name();
  return label;
}

std::string positional_label(const CLI::Option& o) {
  return o.get_name() + (o.get_items_expected_max() > 1 ? "..." : "");
}

// Rows of "label  description", the description's lines aligned in one column.
std::string table(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& [label, desc] : rows)
    if (label.size() <= kMaxLabel) width = std::max(width, label.size());
  std::ostringstream out;
  const std::string pad(kIndent + width + 2, ' ');
  for (const auto& [label, desc] : rows) {
    out << std::string(kIndent, ' ') << label;
    bool first = true;
    if (label.size() > width) {
      out << "\n";
      first = false;
    }
    for (const auto& line : wrap(desc, kWidth - pad.size())) {
      if (first)
        out << std::string(width - label.size() + 2, ' ') << line << "\n";
      else
        out << pad << line << "\n";
      first = false;
    }
    if (first) out << "\n";
  }
  return out.str();
}

std::vector<std::pair<std::string, std::string>> option_rows(const CLI::App& app) {
  std::vector<std::pair<std::string, std::string>> rows, help_rows;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional() || o->get_group().empty()) continue;
    auto& to = o == app.get_help_ptr() ? help_rows : rows;  // help goes last
    to.emplace_back(option_label(*o), o->get_description());
  }
  rows.insert(rows.end(), help_rows.begin(), help_rows.end());
  return rows;
}

class HelpFormatter : public CLI::FormatterBase {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::ostringstream out;
    const bool root = app->get_parent() == nullptr;
    if (root) {
      out << "Usage: agent-runner [GLOBAL OPTIONS] COMMAND [ARGS]\n\n"
          << app->get_description() << "\n\nCommands:\n";
      std::vector<std::pair<std::string, std::string>> rows;
      for (const CLI::App* cmd : cli::listed_commands(*app))
        rows.emplace_back(cmd->get_name(), cli::summary(*cmd));
      out << table(rows) << "\nGlobal options (before or after the command):\n"
          << table(option_rows(*app));
    } else {
      // The command's path below the root ("sessions rm") and the root, for global options.
      std::string path = app->get_name();
      const CLI::App* top = app->get_parent();
      for (; top->get_parent(); top = top->get_parent()) path = top->get_name() + " " + path;
      const auto commands = cli::listed_commands(*app);
      out << "Usage: agent-runner [GLOBAL OPTIONS] " << path << " [OPTIONS]"
          << (commands.empty() ? "" : " [COMMAND]");
      std::vector<std::pair<std::string, std::string>> rows;
      for (const CLI::Option* o : app->get_options()) {
        if (!o->get_positional()) continue;
        out << (app->get_positionals_at_end() ? " [--] " : " ") << positional_label(*o);
        rows.emplace_back(positional_label(*o), o->get_description());
      }
      out << "\n\n" << app->get_description() << "\n";
      if (!commands.empty()) {
        std::vector<std::pair<std::string, std::string>> cmds;
        for (const CLI::App* c : commands) cmds.emplace_back(c->get_name(), cli::summary(*c));
        out << "\nCommands (`agent-runner " << path << " COMMAND --help` for one):\n"
            << table(cmds);
      }
      if (!rows.empty()) out << "\nArguments:\n" << table(rows);
      out << "\nOptions:\n" << table(option_rows(*app));
      std::string globals;
      out << "\n";
      for (const CLI::Option* o : top->get_options())
        if (o != top->get_help_ptr()) globals += (globals.empty() ? "" : ", ") + o->get_name();
      for (const auto& line :
           wrap("Global options are accepted here too: " + globals + "; see agent-runner --help.",
                kWidth))
        out << line << "\n";
    }
    if (!app->get_footer().empty()) out << "\n" << app->get_footer() << "\n";
    return out.str();
  }
};

}  // namespace

std::shared_ptr<CLI::FormatterBase> help_formatter() {
  return std::make_shared<HelpFormatter>();
}

}  // namespace agent_runner
