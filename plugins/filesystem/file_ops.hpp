// SPDX-License-Identifier: Apache-2.0
// The file operations of the filesystem sandbox (request and result shapes: sdk/README.md).
#pragma once

#include "deferred_release.hpp"
#include "paths.hpp"
#include "sandbox_files.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>

#include <cstdint>
#include <string>

namespace agent_runner::fs_plugin {

struct FileContext {
  const SandboxFiles& files;
  uint64_t max_file_bytes;
  // Entries glob and grep look at before they stop and say truncated (sandbox.max_search_entries).
  uint64_t max_search_entries = 1000000;
  // Where a write hands the file it replaced, to be freed after the answer (null: on the spot).
  DeferredRelease* replaced = nullptr;
};

sdk::Result op_ls(const FileContext& ctx, sdk::Call& call);
sdk::Result op_read(const FileContext& ctx, sdk::Call& call);
sdk::Result op_write(const FileContext& ctx, sdk::Call& call);
sdk::Result op_edit(const FileContext& ctx, sdk::Call& call);
sdk::Result op_upload(const FileContext& ctx, sdk::Call& call);
sdk::Result op_download(const FileContext& ctx, sdk::Call& call);
sdk::Result op_delete(const FileContext& ctx, sdk::Call& call);
sdk::Result op_glob(const FileContext& ctx, sdk::Call& call);
sdk::Result op_grep(const FileContext& ctx, sdk::Call& call);

// Helpers shared by the operations.
// Reads a whole regular file from `fd`, at most `max` bytes (else too_large).
std::string read_all(int fd, uint64_t max, const std::string& path);
// Removes everything inside the directory `dfd` (not `dfd` itself), never following a symlink.
void remove_tree(int dfd, const std::string& shown);

struct WriteMode {
  bool overwrite = false;   // replace an existing file (else already_exists)
  bool must_exist = false;  // the file must be there already (edit)
  int mode = -1;            // permission bits for the file (07777), -1 = keep / 0644 for new
};
// Writes `content` to `p` whole or not at all: into a new file beside it, flushed to disk, then
// renamed over it. On any failure the old file is as it was and the new one is gone; a full disk
// is no_space. Creates missing parent directories. A symlink at `p` is followed (inside the
// sandbox's files) and what it points to is replaced. An existing file keeps its permission bits
// (and owner, where allowed) unless `mode` says otherwise. `action` names the operation in errors.
// Returns whether the file was created.
bool write_file(const FileContext& ctx, const SandboxPath& p, std::string_view content,
                const WriteMode& how, std::string_view action);

}  // namespace agent_runner::fs_plugin
