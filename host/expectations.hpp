// SPDX-License-Identifier: Apache-2.0
// A workload step's `expect:` checked against what the step did.
#pragma once

#include "workload.hpp"

#include <boost/json.hpp>

#include <string>

namespace agent_runner {

// A step that succeeded: "" when its result meets the expectations, else why not. execute steps
// expect exit code 0 unless `expect` says otherwise.
std::string check_expect(const WorkloadStep& step, const boost::json::object& result);

// A step that failed with `error` ({"code","message"}): "" when `expect.error` names that code,
// else the error as text.
std::string check_expected_error(const WorkloadStep& step, const boost::json::object& error);

}  // namespace agent_runner
