// SPDX-License-Identifier: Apache-2.0
#include "plugin_probe.hpp"

#include <agent_runner/fd.hpp>

#include <agent_runner/plugin.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <thread>

namespace agent_runner {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderSize = offsetof(ar_plugin_descriptor, name);
// The most a child may send: the strings at their limits plus framing.
constexpr size_t kMaxReplyBytes = kMaxDescriptorSchema + 4 * kMaxDescriptorName + 4096;

// ---- wire format: little helpers over a byte string ---------------------------------------------

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
bool take(std::string_view& in, T& v) {
  if (in.size() < sizeof v) return false;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return true;
}

void put_string(std::string& out, const std::optional<std::string>& s) {
  put<uint8_t>(out, s ? 1 : 0);
  if (!s) return;
  put<uint32_t>(out, static_cast<uint32_t>(s->size()));
  out += *s;
}

bool take_string(std::string_view& in, std::optional<std::string>& s, size_t max) {
  uint8_t present = 0;
  if (!take(in, present) || present > 1) return false;
  if (!present) {
    s.reset();
    return true;
  }
  uint32_t len = 0;
  if (!take(in, len) || len > max || len > in.size()) return false;
  s = std::string(in.substr(0, len));
  in.remove_prefix(len);
  return true;
}

std::optional<std::string> bounded_string(const char* s, size_t max) {
  if (!s) return std::nullopt;
  return std::string(s, ::strnlen(s, max));
}

// The descriptor string that is longer than its limit, if any ("config_schema").
const char* oversized_field(const ar_plugin_descriptor& d, size_t size) {
  struct Field {
    const char* name;
    size_t offset;
    size_t max;
  };
  static constexpr Field kFields[] = {
      {"name", offsetof(ar_plugin_descriptor, name), kMaxDescriptorName},
      {"sandbox_type", offsetof(ar_plugin_descriptor, sandbox_type), kMaxDescriptorName},
      {"plugin_version", offsetof(ar_plugin_descriptor, plugin_version), kMaxDescriptorName},
      {"sdk_version", offsetof(ar_plugin_descriptor, sdk_version), kMaxDescriptorName},
      {"config_schema", offsetof(ar_plugin_descriptor, config_schema), kMaxDescriptorSchema}};
  for (const auto& f : kFields) {
    if (f.offset + sizeof(const char*) > size) continue;
    const char* s = nullptr;
    std::memcpy(&s, reinterpret_cast<const char*>(&d) + f.offset, sizeof s);
    if (s && ::strnlen(s, f.max + 1) > f.max) return f.name;
  }
  return nullptr;
}

// ---- the child
// ------------------------------------------------------------------------------------

// Record tags of the child's reply, in the order they can come.
constexpr char kLoaded = 'L';      // dlopen returned (constructors ran)
constexpr char kEntered = 'E';     // the entry function returned
constexpr char kDlError = 'x';     // payload: dlerror()
constexpr char kNoEntry = 'n';     // no entry symbol
constexpr char kNull = '0';        // the entry returned NULL
constexpr char kOversized = 's';   // payload: the field's name
constexpr char kDescriptor = 'D';  // payload: encode_descriptor()

void send(int fd, char tag, std::string_view payload = {}) {
  std::string rec;
  rec += tag;
  put<uint32_t>(rec, static_cast<uint32_t>(payload.size()));
  rec += payload;
  if (sdk::write_all(fd, rec) != 0) ::_exit(3);
}

// Restores the default action of `sig` with the raw system call: sanitizer runtimes intercept
// signal() and sigaction() and keep their own handlers, which would turn a crash into an exit
// status instead of a death by the signal.
void default_action(int sig) {
  struct {
    void* handler = nullptr;  // SIG_DFL
    unsigned long flags = 0;
    void* restorer = nullptr;
    unsigned long mask = 0;
  } act;
  ::syscall(SYS_rt_sigaction, sig, &act, nullptr, sizeof act.mask);
}

[[noreturn]] void run_child(const char* path, int fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Crashes must end the child with their signal, and nothing the plugin prints may reach our
  // stdout.
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS}) default_action(sig);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC); devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
  }
  void* handle = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = ::dlerror();
    send(fd, kDlError, e ? e : "unknown error");
    ::_exit(0);
  }
  send(fd, kLoaded);
  void* sym = ::dlsym(handle, AR_PLUGIN_ENTRY_SYMBOL);
  if (!sym) {
    send(fd, kNoEntry);
    ::_exit(0);
  }
  ar_plugin_entry_fn entry = nullptr;
  std::memcpy(&entry, &sym, sizeof entry);
  const ar_plugin_descriptor* d = entry();
  send(fd, kEntered);
  if (!d) {
    send(fd, kNull);
    ::_exit(0);
  }
  const uint32_t size = d->struct_size;  // a bad pointer faults here: reported as such
  if (size >= kHeaderSize) {
    if (const char* field = oversized_field(*d, size)) {
      send(fd, kOversized, field);
      ::_exit(0);
    }
  }
  send(fd, kDescriptor, encode_descriptor(describe_descriptor(*d)));
  ::_exit(0);
}

// ---- the parent
// -----------------------------------------------------------------------------------

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string seconds(std::chrono::milliseconds ms) {
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + " s";
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

const char* oversized_descriptor_field(const ar_plugin_descriptor& d, size_t size) {
  return oversized_field(d, size);
}

DescriptorInfo describe_descriptor(const ar_plugin_descriptor& d) {
  DescriptorInfo info;
  info.struct_size = d.struct_size;
  if (info.struct_size < kHeaderSize) return info;
  ar_plugin_descriptor copy{};
  std::memcpy(&copy, &d, std::min<size_t>(info.struct_size, sizeof copy));
  info.abi_major = copy.abi_major;
  info.abi_minor = copy.abi_minor;
  info.name = bounded_string(copy.name, kMaxDescriptorName);
  info.sandbox_type = bounded_string(copy.sandbox_type, kMaxDescriptorName);
  info.plugin_version = bounded_string(copy.plugin_version, kMaxDescriptorName);
  info.sdk_version = bounded_string(copy.sdk_version, kMaxDescriptorName);
  info.config_schema = bounded_string(copy.config_schema, kMaxDescriptorSchema);
  info.capabilities = copy.capabilities;
  info.has_create = copy.create != nullptr;
  info.has_release = copy.release != nullptr;
  info.has_free_result = copy.free_result != nullptr;
  return info;
}

std::optional<std::string> check_descriptor(const DescriptorInfo& d) {
  // The fixed header first; nothing past struct_size was read.
  if (d.struct_size < kHeaderSize)
    return "descriptor is " + std::to_string(d.struct_size) + " bytes, smaller than the " +
           std::to_string(kHeaderSize) + "-byte header";
  const std::string abi = std::to_string(d.abi_major) + "." + std::to_string(d.abi_minor);
  const std::string host_abi =
      std::to_string(AR_ABI_VERSION_MAJOR) + "." + std::to_string(AR_ABI_VERSION_MINOR);
  if (d.abi_major != AR_ABI_VERSION_MAJOR)
    return "was built for plugin ABI " + abi + "; this agent-runner speaks ABI " + host_abi +
           " (major versions must match: rebuild the plugin against SDK " AR_SDK_VERSION ")";
  if (d.abi_minor > AR_ABI_VERSION_MINOR)
    return "was built for plugin ABI " + abi + ", newer than this agent-runner's ABI " + host_abi +
           " (upgrade agent-runner, or rebuild the plugin against SDK " AR_SDK_VERSION ")";
  // A 1.0 descriptor ends at the last operation slot; 1.1 appends the plugin-level slots. The
  // copy zero-fills whatever an older plugin does not have.
  const size_t min_size =
      d.abi_minor == 0 ? AR_DESCRIPTOR_MIN_SIZE_1_0 : AR_DESCRIPTOR_MIN_SIZE_1_1;
  if (d.struct_size < min_size)
    return "descriptor is " + std::to_string(d.struct_size) + " bytes, ABI " + abi +
           " needs at least " + std::to_string(min_size);
  if (!d.sandbox_type || d.sandbox_type->empty() || !d.name || d.name->empty())
    return std::string("descriptor has no name or sandbox type");
  if (!d.has_create || !d.has_release || !d.has_free_result)
    return std::string("descriptor lacks create, release or free_result");
  return std::nullopt;
}

std::string encode_descriptor(const DescriptorInfo& d) {
  std::string out;
  put(out, d.struct_size);
  put(out, d.abi_major);
  put(out, d.abi_minor);
  put(out, d.capabilities);
  put<uint8_t>(out, (d.has_create ? 1 : 0) | (d.has_release ? 2 : 0) | (d.has_free_result ? 4 : 0));
  for (const auto* s : {&d.name, &d.sandbox_type, &d.plugin_version, &d.sdk_version})
    put_string(out, *s);
  put_string(out, d.config_schema);
  return out;
}

std::optional<DescriptorInfo> decode_descriptor(std::string_view in, std::string& error) {
  DescriptorInfo d;
  uint8_t flags = 0;
  bool ok = take(in, d.struct_size) && take(in, d.abi_major) && take(in, d.abi_minor) &&
            take(in, d.capabilities) && take(in, flags) && flags <= 7;
  for (auto* s : {&d.name, &d.sandbox_type, &d.plugin_version, &d.sdk_version})
    ok = ok && take_string(in, *s, kMaxDescriptorName);
  ok = ok && take_string(in, d.config_schema, kMaxDescriptorSchema) && in.empty();
  if (!ok) {
    error = "the process that read its descriptor sent a malformed reply";
    return std::nullopt;
  }
  d.has_create = flags & 1;
  d.has_release = flags & 2;
  d.has_free_result = flags & 4;
  return d;
}

ProbeOutcome probe_plugin(const std::filesystem::path& file, std::chrono::milliseconds timeout) {
  ProbeOutcome out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    out.error = std::string("cannot be checked: pipe: ") + std::strerror(errno);
    return out;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    out.error = std::string("cannot be checked: fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return out;
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(file.c_str(), fds[1]);
  }
  ::close(fds[1]);

  const auto deadline = Clock::now() + timeout;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return std::max<long long>(0, left.count());
  };
  std::string reply;
  bool eof = false, timed_out = false, flooded = false;
  while (!eof) {
    const long long left = remaining_ms();
    if (left == 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{fds[0], POLLIN, 0};
    const int pr = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxReplyBytes) {
      flooded = true;
      break;
    }
  }
  ::close(fds[0]);
  // The child closed its end; it may still be exiting (or, if hostile, have closed the pipe and
  // gone on spinning): wait for it within the same deadline, then kill it.
  int status = 0;
  bool reaped = false;
  while (!timed_out && !flooded) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      reaped = true;
      break;
    }
    if (r < 0 && errno != EINTR) break;
    if (remaining_ms() == 0) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!reaped) {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }

  // What the child got to, and what it found.
  char phase = 0, result = 0;
  std::string payload;
  std::string_view rest = reply;
  while (!rest.empty()) {
    const char tag = rest.front();
    rest.remove_prefix(1);
    uint32_t len = 0;
    if (!take(rest, len) || len > rest.size()) break;
    if (tag == kLoaded || tag == kEntered) {
      phase = tag;
    } else {
      result = tag;
      payload = std::string(rest.substr(0, len));
    }
    rest.remove_prefix(len);
  }
  const char* where = phase == kEntered  ? "while its descriptor was read"
                      : phase == kLoaded ? "in its entry function " AR_PLUGIN_ENTRY_SYMBOL
                                         : "while it was loaded (in its constructors)";
  if (flooded) {
    out.error = "the process that read its descriptor sent more than " +
                std::to_string(kMaxReplyBytes) + " bytes";
  } else if (timed_out) {
    out.error = "timed out after " + seconds(timeout) + " " + where +
                "; the process was killed (a plugin must return its descriptor at once)";
  } else if (WIFSIGNALED(status)) {
    out.error = std::string("crashed with ") + signal_name(WTERMSIG(status)) + " " + where;
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !result) {
    out.error = "the process that loaded it exited with status " +
                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + " " + where;
  } else if (result == kDlError) {
    out.error = "could not be loaded: " + payload;
  } else if (result == kNoEntry) {
    out.error = "does not export the entry symbol " AR_PLUGIN_ENTRY_SYMBOL
                " (not an agent-runner plugin, or built without the SDK macro)";
  } else if (result == kNull) {
    out.error = AR_PLUGIN_ENTRY_SYMBOL " returned no descriptor";
  } else if (result == kOversized) {
    out.error =
        "descriptor field " + payload + " is longer than " +
        std::to_string(payload == "config_schema" ? kMaxDescriptorSchema : kMaxDescriptorName) +
        " bytes (or not terminated)";
  } else if (result == kDescriptor) {
    out.descriptor = decode_descriptor(payload, out.error);
  } else {
    out.error = "the process that read its descriptor sent a malformed reply";
  }
  return out;
}

}  // namespace agent_runner
