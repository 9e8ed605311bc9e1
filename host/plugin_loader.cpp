// SPDX-License-Identifier: Apache-2.0
#include "plugin_loader.hpp"

#include "json_schema.hpp"
#include "logging.hpp"
#include "plugin_guard.hpp"
#include "plugin_probe.hpp"

#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <system_error>

#include <dlfcn.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace agent_runner {
namespace fs = std::filesystem;

namespace {

constexpr std::array<std::string_view, AR_CAP_KNOWN_COUNT_> kCapabilityNames = {
    "execute", "streaming", "timeout",        "tree_kill",       "output_cap",
    "env",     "files",     "search",         "transfer",        "sessions",
    "cancel",  "isolation", "network_policy", "resource_limits", "remote"};

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string user_text(uid_t uid) {
  std::string name;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) name = pw.pw_name;
  return name.empty() ? "uid " + std::to_string(uid) : name + " (uid " + std::to_string(uid) + ")";
}

// Whose files a plugin may come from: root's, or those of the user running agent-runner. Anyone
// else who owns the file, or a directory on its way, can replace the code we are about to run.
bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

// A plugin file or directory (`what`, by its real path) that another user could swap, and why.
std::optional<std::string> untrusted_entry(const fs::path& p, std::string_view what,
                                           const std::string& shown) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0)
    return std::string("cannot stat ") + std::string(what) + " " + p.string() + ": " +
           std::strerror(errno);
  if (!trusted_owner(st.st_uid))
    return std::string(what) + " " + shown + " is owned by " + user_text(st.st_uid) +
           ", not by root or by " + user_text(::geteuid()) +
           " who runs agent-runner: its owner could replace the plugin's code; refusing to load "
           "it (fix: chown root " +
           p.string() + ", or remove it)";
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return std::string(what) + " " + shown + " is writable by group or others (mode " +
           mode_text(st.st_mode) + "); refusing to load it (fix: chmod go-w " + p.string() + ")";
  return std::nullopt;
}

// Every directory above a plugin (by its real path, up to /) must be safe too: whoever can
// rename an entry in one can swap everything below it. A sticky directory (/tmp) is safe: there
// only an entry's owner can rename it.
std::optional<std::string> untrusted_ancestors(const fs::path& real, const std::string& shown) {
  for (fs::path dir = real.parent_path();; dir = dir.parent_path()) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
      return "cannot stat directory " + dir.string() + " above " + shown + ": " +
             std::strerror(errno);
    if (!trusted_owner(st.st_uid))
      return "directory " + dir.string() + " above " + shown + " is owned by " +
             user_text(st.st_uid) + ", not by root or by " + user_text(::geteuid()) +
             " who runs agent-runner: its owner could replace the plugin; refusing to load it "
             "(fix: chown root " +
             dir.string() + ", or move the plugin elsewhere)";
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
      return "directory " + dir.string() + " above " + shown +
             " is writable by group or others (mode " + mode_text(st.st_mode) +
             ") and not sticky: anyone could replace the plugin; refusing to load it (fix: "
             "chmod go-w " +
             dir.string() + ")";
    if (dir == dir.root_path() || dir.empty()) break;
  }
  return std::nullopt;
}

// The file or directory as we will really open it (symlinks resolved), checked with everything
// above it. `shown` names it as the user wrote it, plus its target when that differs.
std::optional<std::string> untrusted_path(const fs::path& p, std::string_view what) {
  std::error_code ec;
  const fs::path real = fs::canonical(p, ec);
  if (ec) return "cannot resolve " + std::string(what) + " " + p.string() + ": " + ec.message();
  const fs::path given = fs::absolute(p, ec).lexically_normal();
  const std::string shown =
      given == real ? p.string() : p.string() + " (a symbolic link to " + real.string() + ")";
  if (auto bad = untrusted_entry(real, what, shown)) return bad;
  return untrusted_ancestors(real, shown);
}

bool has_elf_magic(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic,
                                         "\x7f"
                                         "ELF",
                                         4) == 0;
}

}  // namespace

std::vector<std::string> capability_names(uint64_t caps) {
  std::vector<std::string> out;
  for (size_t i = 0; i < kCapabilityNames.size(); ++i)
    if (caps & (1ull << i)) out.emplace_back(kCapabilityNames[i]);
  return out;
}

boost::json::object PluginReport::to_json() const {
  auto opt = [](const std::optional<std::string>& s) -> boost::json::value {
    if (s) return boost::json::value(*s);
    return nullptr;
  };
  boost::json::object o;
  o["path"] = path;
  o["name"] = opt(name);
  o["sandbox_type"] = opt(sandbox_type);
  o["version"] = opt(version);
  o["abi"] = opt(abi);
  o["status"] = loaded ? "loaded" : "rejected";
  o["error"] = opt(error);
  boost::json::array caps;
  for (auto& c : capability_names(capabilities)) caps.emplace_back(c);
  o["capabilities"] = std::move(caps);
  o["source"] = source;
  return o;
}

LoadedPlugin::LoadedPlugin(std::unique_ptr<boost::dll::shared_library> lib,
                           const ar_plugin_descriptor& desc, std::string path)
    : lib_(std::move(lib)), desc_(desc), path_(std::move(path)) {}

// Closing the handle does not unmap an accepted library: it was pinned (RTLD_NODELETE) when it was
// accepted and stays mapped until the process exits.
LoadedPlugin::~LoadedPlugin() = default;

fs::path executable_dir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::current_path();
  return self.parent_path();
}

std::vector<SearchDir> default_search_dirs(const std::vector<std::string>& config_dirs,
                                           const std::optional<std::string>& env_path,
                                           const std::vector<std::string>& flag_dirs) {
  std::vector<SearchDir> dirs;
  dirs.push_back({(executable_dir() / ".." / "lib" / "agent-runner" / "plugins").lexically_normal(),
                  "beside binary", false});
  dirs.push_back({"/usr/local/lib/agent-runner/plugins", "system drop-in", false});
  for (const auto& d : config_dirs) dirs.push_back({d, "config file plugin_dirs", true});
  if (env_path) {
    size_t start = 0;
    const std::string& s = *env_path;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start)
        dirs.push_back({s.substr(start, end - start), "AGENT_RUNNER_PLUGIN_PATH", true});
      start = end + 1;
    }
  }
  for (const auto& d : flag_dirs) dirs.push_back({d, "--plugin-dir", true});
  return dirs;
}

PluginRegistry PluginRegistry::discover(const std::vector<SearchDir>& dirs) {
  PluginRegistry reg;
  auto log = component_logger("plugins");
  for (const auto& sd : dirs) {
    std::error_code ec;
    if (!fs::is_directory(sd.dir, ec)) {
      if (sd.required)
        reg.warnings_.push_back("plugin directory " + sd.dir.string() + " (from " + sd.source +
                                ") does not exist or is not a directory");
      log->debug("no plugin directory at {} ({})", sd.dir.string(), sd.source);
      continue;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(sd.dir, ec), end; !ec && it != end; it.increment(ec)) {
      const auto& p = it->path();
      if (p.extension() == ".so") files.push_back(p);
    }
    if (ec) {
      reg.warnings_.push_back("cannot list plugin directory " + sd.dir.string() + ": " +
                              ec.message());
      continue;
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) continue;
    if (auto bad = untrusted_path(sd.dir, "plugin directory")) {
      // Every file in an unsafe directory is reported as rejected, so the user sees why.
      for (const auto& f : files) {
        PluginReport r;
        r.path = f.string();
        r.source = sd.source;
        r.error = *bad;
        reg.reports_.push_back(std::move(r));
      }
      continue;
    }
    for (const auto& f : files) reg.load_file(f, sd.source);
  }
  return reg;
}

void PluginRegistry::load_file(const fs::path& file, const std::string& source) {
  load(file, source, LoadMode::probe_first);
}

PluginRegistry PluginRegistry::select(const std::vector<SearchDir>& dirs,
                                      std::string_view sandbox_type) {
  // The file named after the type, in the first search location that has one. Its ownership and
  // every directory above it pass the same checks as in discovery; only the child test load is
  // left out (plugin_guard.hpp says why that loses nothing but is guarded anyway).
  const std::string name = std::string(sandbox_type) + ".so";
  if (!sandbox_type.empty() && sandbox_type.find('/') == std::string_view::npos &&
      sandbox_type != "." && sandbox_type != "..") {
    for (const auto& sd : dirs) {
      std::error_code ec;
      const fs::path file = sd.dir / name;
      if (!fs::exists(file, ec)) continue;
      PluginRegistry reg;
      reg.load(file, sd.source, LoadMode::selected);
      if (reg.find(sandbox_type)) return reg;
      break;  // rejected, or another type: discovery sorts it out and reports every file
    }
  }
  return discover(dirs);
}

void PluginRegistry::load(const fs::path& file, const std::string& source, LoadMode mode) {
  auto log = component_logger("plugins");
  std::error_code ec;
  fs::path canon = fs::weakly_canonical(file, ec);
  if (ec) canon = file;
  if (std::find(seen_.begin(), seen_.end(), canon) != seen_.end()) return;  // found twice
  seen_.push_back(canon);

  PluginReport r;
  r.path = file.string();
  r.source = source;
  auto reject = [&](std::string reason) {
    r.loaded = false;
    r.error = std::move(reason);
    log->warn("plugin {} rejected: {}", r.path, *r.error);
    reports_.push_back(std::move(r));
  };

  if (!fs::is_regular_file(file, ec)) return reject(file.string() + " is not a regular file");
  if (auto bad = untrusted_path(file, "plugin file")) return reject(*bad);
  if (!has_elf_magic(file))
    return reject(file.string() + " is not a shared library (no ELF header)");

  auto lib = std::make_unique<boost::dll::shared_library>();
  boost::system::error_code bec;
  DescriptorInfo info;
  const ar_plugin_descriptor* d = nullptr;
  // RTLD_NOW: an unresolved symbol fails here, not at the first call. RTLD_LOCAL: plugins do not
  // see each other's symbols.
  const auto load_mode = boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local;
  if (mode == LoadMode::probe_first) {
    // Nothing of the file runs in this process until a child has loaded it and come back with a
    // descriptor that passes every check (plugin_probe.hpp).
    ProbeOutcome probe = probe_plugin(file);
    if (!probe.descriptor) return reject(file.string() + ": " + probe.error);
    info = *probe.descriptor;
  } else {
    PluginLoadGuard guard(file, kProbeTimeout);
    lib->load(file, load_mode, bec);
    if (bec || !lib->is_loaded())
      return reject(file.string() + ": could not be loaded: " + bec.message());
    guard.phase(PluginLoadGuard::Phase::entry);
    if (!lib->has(AR_PLUGIN_ENTRY_SYMBOL))
      return reject(file.string() + ": does not export the entry symbol " AR_PLUGIN_ENTRY_SYMBOL);
    d = lib->get<const ar_plugin_descriptor*()>(AR_PLUGIN_ENTRY_SYMBOL)();
    guard.phase(PluginLoadGuard::Phase::descriptor);
    if (!d) return reject(file.string() + ": " AR_PLUGIN_ENTRY_SYMBOL " returned no descriptor");
    if (const char* field = oversized_descriptor_field(*d, d->struct_size))
      return reject(file.string() + ": descriptor field " + field + " is too long");
    info = describe_descriptor(*d);
  }
  if (info.struct_size >= offsetof(ar_plugin_descriptor, name))
    r.abi = std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor);
  r.name = info.name;
  r.sandbox_type = info.sandbox_type;
  r.version = info.plugin_version;
  r.capabilities = info.capabilities;
  if (auto bad = check_descriptor(info)) return reject(file.string() + ": " + *bad);
  // The plugin's schema is the only definition of its settings: one the validator could check
  // only in part would let through what the plugin means to refuse.
  if (info.config_schema && !info.config_schema->empty()) {
    boost::system::error_code jec;
    const auto schema = boost::json::parse(*info.config_schema, jec);
    if (jec)
      return reject(file.string() + ": its config schema is not JSON (" + jec.message() +
                    "); the plugin's author must fix it");
    if (auto bad = unsupported_schema_keyword(schema))
      return reject(file.string() + ": its config schema uses a JSON Schema keyword agent-runner " +
                    "does not implement, at " + *bad +
                    "; the plugin's author must express it with the keywords of " +
                    "host/json_schema.hpp (or the setting would go unchecked)");
  }
  for (const auto& other : loaded_) {
    if (other->sandbox_type() == *info.sandbox_type)
      return reject("sandbox type '" + *info.sandbox_type + "' of " + file.string() +
                    " is already provided by " + other->path() + " (remove one of the two files)");
  }

  if (mode == LoadMode::probe_first) {
    lib->load(file, load_mode, bec);
    if (bec || !lib->is_loaded() || !lib->has(AR_PLUGIN_ENTRY_SYMBOL))
      return reject(file.string() + ": could not be loaded although a test load succeeded (" +
                    bec.message() + "); was the file replaced meanwhile?");
    auto entry = lib->get<const ar_plugin_descriptor*()>(AR_PLUGIN_ENTRY_SYMBOL);
    d = entry();
    // The entry must give this process the descriptor it gave the child.
    if (!d || encode_descriptor(describe_descriptor(*d)) != encode_descriptor(info))
      return reject(file.string() + ": " AR_PLUGIN_ENTRY_SYMBOL
                                    " returned a different descriptor than in the test load");
  }
  ar_plugin_descriptor copy{};
  std::memcpy(&copy, d, std::min<size_t>(d->struct_size, sizeof copy));

  // An accepted plugin stays mapped until the process exits (RTLD_NODELETE on the handle we
  // already hold). Unmapping code that may have started threads or left static state behind
  // (RE2's caches, libcurl's globals) is a source of crashes at exit, and keeping it mapped lets
  // sanitizers attribute anything a plugin leaks. Rejected files are still unloaded.
  if (void* pin = ::dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) ::dlclose(pin);

  r.loaded = true;
  log->debug("loaded plugin {} ({} {}, type {}) from {}", *r.name, r.version.value_or("?"),
             r.abi.value_or("?"), *r.sandbox_type, r.path);
  loaded_.push_back(std::make_shared<LoadedPlugin>(std::move(lib), copy, file.string()));
  reports_.push_back(std::move(r));
}

std::shared_ptr<LoadedPlugin> PluginRegistry::find(std::string_view sandbox_type) const {
  for (const auto& p : loaded_)
    if (p->sandbox_type() == sandbox_type) return p;
  return nullptr;
}

std::vector<std::string> PluginRegistry::sandbox_types() const {
  std::vector<std::string> out;
  for (const auto& p : loaded_) out.push_back(p->sandbox_type());
  return out;
}

}  // namespace agent_runner
