// SPDX-License-Identifier: Apache-2.0
#include "local_files.hpp"

#include <agent_runner/fd.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace agent_runner {
namespace fs = std::filesystem;

std::optional<std::string> read_local(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

boost::system::result<std::vector<LocalFile>, std::string> collect_files(const fs::path& root) {
  std::vector<LocalFile> files;
  std::error_code ec;
  auto mode_of = [](const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0644;
    return (st.st_mode & 0111) ? 0755 : 0644;
  };
  if (fs::is_regular_file(root, ec)) {
    files.push_back({root, "", mode_of(root)});
    return files;
  }
  if (!fs::is_directory(root, ec)) return root.string() + " is neither a file nor a directory";
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_symlink(ec))
      return it->path().string() + " is a symbolic link; upload copies regular files only";
    if (it->is_regular_file(ec))
      files.push_back(
          {it->path(), fs::relative(it->path(), root).generic_string(), mode_of(it->path())});
  }
  if (ec) return root.string() + ": " + ec.message();
  std::sort(files.begin(), files.end(),
            [](const LocalFile& a, const LocalFile& b) { return a.rel < b.rel; });
  return files;
}

std::string join_sandbox(const std::string& base, const std::string& rel) {
  if (rel.empty()) return base;
  return (base.empty() || base.back() != '/' ? base + "/" : base) + rel;
}

namespace {

// OpenSSL's EVP digest API (stable across releases, where Boost's sha1 is a detail API), from
// libcrypto opened the first time a skill is hashed rather than linked: resolving libcrypto's
// ~3 000 symbols costs every agent-runner process about 3 ms at start (an empty program linked to
// the host's libraries: 8.6 ms of CPU with libcrypto, 5.6 without), and only workloads with
// skills hash anything. The headers still give the types; the library is the one built against.
struct Sha256Api {
  decltype(&EVP_MD_CTX_new) ctx_new = nullptr;
  decltype(&EVP_MD_CTX_free) ctx_free = nullptr;
  decltype(&EVP_sha256) sha256 = nullptr;
  decltype(&EVP_DigestInit_ex) init = nullptr;
  decltype(&EVP_DigestUpdate) update = nullptr;
  decltype(&EVP_DigestFinal_ex) final = nullptr;
  std::string error;  // non-empty: not available, and why
};

template <typename F>
bool bind(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));  // NOLINT(*-reinterpret-cast): dlsym's contract
  return fn != nullptr;
}

const Sha256Api& sha256_api() {
  static const Sha256Api api = [] {
    Sha256Api a;
    const std::string soname = "libcrypto.so." + std::to_string(OPENSSL_VERSION_MAJOR);
    void* lib = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);  // kept until exit
    if (!lib) {
      const char* why = ::dlerror();
      a.error = "cannot load " + soname + " (OpenSSL, Debian package libssl" +
                std::to_string(OPENSSL_VERSION_MAJOR) + "): " + (why ? why : "unknown error");
      return a;
    }
    if (!bind(lib, "EVP_MD_CTX_new", a.ctx_new) || !bind(lib, "EVP_MD_CTX_free", a.ctx_free) ||
        !bind(lib, "EVP_sha256", a.sha256) || !bind(lib, "EVP_DigestInit_ex", a.init) ||
        !bind(lib, "EVP_DigestUpdate", a.update) || !bind(lib, "EVP_DigestFinal_ex", a.final))
      a.error = soname + " lacks the EVP digest functions";
    return a;
  }();
  return api;
}

}  // namespace

std::string content_hash(const std::vector<LocalFile>& files,
                         const std::vector<std::string>& contents) {
  const Sha256Api& evp = sha256_api();
  if (!evp.error.empty()) throw std::runtime_error("SHA-256 is not available: " + evp.error);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(evp.ctx_new(), evp.ctx_free);
  if (!ctx || evp.init(ctx.get(), evp.sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 is not available from OpenSSL");
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string head = files[i].rel + '\0' + std::to_string(files[i].mode) + '\0' +
                             std::to_string(contents[i].size()) + '\0';
    evp.update(ctx.get(), head.data(), head.size());
    evp.update(ctx.get(), contents[i].data(), contents[i].size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  evp.final(ctx.get(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < 8 && i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string write_local_atomically(const fs::path& target, std::string_view data, int mode) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(target, ec)))
    return target.string() + " is a directory; give a file path";
  fs::create_directories(target.parent_path(), ec);
  if (ec) return "cannot create " + target.parent_path().string() + ": " + ec.message();
  std::string tmp = (target.parent_path() /
                     ("." + target.filename().string() + ".part-" + std::to_string(::getpid())))
                        .string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  static_cast<mode_t>(mode & 0777));
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  if (const int err = sdk::write_all(fd, data)) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return "cannot write " + target.string() + ": " + std::strerror(err);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), target.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot write " + target.string() + ": " + err;
  }
  return "";
}

}  // namespace agent_runner
