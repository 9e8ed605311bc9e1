// SPDX-License-Identifier: Apache-2.0
// Directories a sandbox creates and removes again (the ephemeral workspace .ephemeral-<hex> and
// the private TMPDIR agent-runner-fs-<x>) are left behind when agent-runner is killed with -9.
// Each one in use is claimed with an exclusive flock(2) on the directory itself, held for the
// sandbox's life; at start, directories of those names owned by this user whose lock can be
// taken are leftovers and are removed. The lock dies with its last holder, so a killed process
// releases it, and one held by a live process is never swept.
// An older agent-runner took no lock, so an unlocked directory may still be in use by one: a
// directory is only swept when the pid its name records (prefix<pid>-...) is gone, or, for a name
// without one, when it has not been modified for an hour.
#pragma once

#include "paths.hpp"

#include <string>
#include <string_view>

namespace agent_runner::fs_plugin {

// Claims `name` beneath `parent_fd` (just created by the caller): opens it and takes the lock.
// Returns no fd when a sweep got there first (the directory is gone or about to be); the caller
// then creates another.
Fd claim_dir(int parent_fd, const std::string& name);

// The start of a new directory's name: `prefix` and this process's pid ("agent-runner-fs-123-"),
// so that a sweep can tell whether its creator still runs.
std::string leftover_name(std::string_view prefix);

// Removes this user's unlocked directories named `prefix`* in `parent` whose creator is gone (see
// above), once per process and directory. Best effort: what cannot be removed is left alone.
void sweep_leftovers(const std::string& parent, std::string_view prefix);

}  // namespace agent_runner::fs_plugin
