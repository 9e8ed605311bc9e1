// `agent-runner run`: not built yet (see the open issues).
#include "app.hpp"

#include <iostream>

namespace agent_runner {

int cmd_run(App&, const std::vector<std::string>&) {
  std::cerr << "agent-runner run: this command is not built yet in this version\n";
  return kExitUsage;
}

}  // namespace agent_runner
