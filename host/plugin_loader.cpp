#include "plugin_loader.hpp"

#include "logging.hpp"

#include <boost/dll/shared_library.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <system_error>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

namespace agent_runner {
namespace fs = std::filesystem;

namespace {

constexpr std::array<std::string_view, AR_CAP_KNOWN_COUNT_> kCapabilityNames = {
    "execute", "streaming", "timeout",        "tree_kill",       "output_cap",
    "env",     "files",     "search",         "transfer",        "sessions",
    "cancel",  "isolation", "network_policy", "resource_limits", "remote"};

// group/other-writable files and directories can be swapped by another user: refuse them.
std::optional<std::string> unsafe_permissions(const fs::path& p, std::string_view what) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0)
    return std::string("cannot stat ") + std::string(what) + " " + p.string() + ": " +
           std::strerror(errno);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return std::string(what) + " " + p.string() + " is writable by group or others (mode " +
           [&] {
             char buf[8];
             std::snprintf(buf, sizeof buf, "%04o", st.st_mode & 07777);
             return std::string(buf);
           }() +
           "); refusing to load it (fix: chmod go-w " + p.string() + ")";
  return std::nullopt;
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

std::optional<std::string> c_string(const char* s) {
  if (!s) return std::nullopt;
  return std::string(s);
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

// The library is unmapped here, after the last sandbox released its reference.
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
    if (auto bad = unsafe_permissions(sd.dir, "plugin directory")) {
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
  if (auto bad = unsafe_permissions(file, "plugin file")) return reject(*bad);
  if (!has_elf_magic(file))
    return reject(file.string() + " is not a shared library (no ELF header)");

  auto lib = std::make_unique<boost::dll::shared_library>();
  boost::system::error_code bec;
  // RTLD_NOW: an unresolved symbol fails here, not at the first call. RTLD_LOCAL: plugins do not
  // see each other's symbols.
  lib->load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, bec);
  if (bec || !lib->is_loaded()) {
    // Boost.DLL clears dlerror(); ask the loader once more for the real reason.
    std::string why = bec.message();
    if (void* h = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      ::dlclose(h);
    } else if (const char* e = ::dlerror()) {
      why = e;
    }
    return reject(file.string() + " could not be loaded: " + why);
  }
  if (!lib->has(AR_PLUGIN_ENTRY_SYMBOL))
    return reject(file.string() + " does not export the entry symbol " AR_PLUGIN_ENTRY_SYMBOL
                                  " (not an agent-runner plugin, or built without the SDK macro)");
  auto entry = lib->get<const ar_plugin_descriptor*()>(AR_PLUGIN_ENTRY_SYMBOL);
  const ar_plugin_descriptor* d = entry();
  if (!d) return reject(file.string() + ": " AR_PLUGIN_ENTRY_SYMBOL " returned no descriptor");

  // Read the fixed header first; nothing past struct_size is touched.
  constexpr size_t kHeader = offsetof(ar_plugin_descriptor, name);
  if (d->struct_size < kHeader)
    return reject(file.string() + ": descriptor is " + std::to_string(d->struct_size) +
                  " bytes, smaller than the " + std::to_string(kHeader) + "-byte header");
  r.abi = std::to_string(d->abi_major) + "." + std::to_string(d->abi_minor);
  const std::string host_abi =
      std::to_string(AR_ABI_VERSION_MAJOR) + "." + std::to_string(AR_ABI_VERSION_MINOR);
  if (d->abi_major != AR_ABI_VERSION_MAJOR)
    return reject(file.string() + " was built for plugin ABI " + *r.abi +
                  "; this agent-runner speaks ABI " + host_abi +
                  " (major versions must match: rebuild the plugin against SDK " AR_SDK_VERSION
                  ")");
  if (d->abi_minor > AR_ABI_VERSION_MINOR)
    return reject(file.string() + " was built for plugin ABI " + *r.abi +
                  ", newer than this agent-runner's ABI " + host_abi +
                  " (upgrade agent-runner, or rebuild the plugin against SDK " AR_SDK_VERSION ")");
  // A 1.0 descriptor ends at the last operation slot; 1.1 appends the plugin-level slots. The
  // copy below zero-fills whatever an older plugin does not have.
  const size_t min_size =
      d->abi_minor == 0 ? AR_DESCRIPTOR_MIN_SIZE_1_0 : AR_DESCRIPTOR_MIN_SIZE_1_1;
  if (d->struct_size < min_size)
    return reject(file.string() + ": descriptor is " + std::to_string(d->struct_size) +
                  " bytes, ABI " + *r.abi + " needs at least " + std::to_string(min_size));

  ar_plugin_descriptor copy{};
  std::memcpy(&copy, d, std::min<size_t>(d->struct_size, sizeof copy));
  r.name = c_string(copy.name);
  r.sandbox_type = c_string(copy.sandbox_type);
  r.version = c_string(copy.plugin_version);
  r.capabilities = copy.capabilities;
  if (!copy.sandbox_type || !*copy.sandbox_type || !copy.name || !*copy.name)
    return reject(file.string() + ": descriptor has no name or sandbox type");
  if (!copy.create || !copy.release || !copy.free_result)
    return reject(file.string() + ": descriptor lacks create, release or free_result");

  for (const auto& other : loaded_) {
    if (other->sandbox_type() == copy.sandbox_type)
      return reject("sandbox type '" + std::string(copy.sandbox_type) + "' of " + file.string() +
                    " is already provided by " + other->path() + " (remove one of the two files)");
  }

  // An accepted plugin stays mapped until the process exits (RTLD_NODELETE on the handle we
  // already hold). Unmapping code that may have started threads or left static state behind
  // (RE2's caches, libcurl's globals) is a source of crashes at exit, and keeping it mapped lets
  // sanitizers attribute anything a plugin leaks. Rejected files are still unloaded.
  if (void* pin = ::dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE)) ::dlclose(pin);

  r.loaded = true;
  log->debug("loaded plugin {} ({} {}, type {}) from {}", *r.name, *r.version, *r.abi,
             *r.sandbox_type, r.path);
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
