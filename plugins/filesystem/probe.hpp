// SPDX-License-Identifier: Apache-2.0
// The plugin's answer to the ABI 1.1 `probe` call: what this machine lets it enforce, as JSON
// (shape in README.md, "What this machine enforces"), computed once per process.
#pragma once

#include <boost/json/object.hpp>

namespace agent_runner::fs_plugin {

const boost::json::object& probe_report();

}  // namespace agent_runner::fs_plugin
