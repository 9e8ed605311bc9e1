// `agent-runner serve`: not built yet (see the open issues).
#include "app.hpp"

#include <iostream>

namespace agent_runner {

int cmd_serve(App&, const std::vector<std::string>&) {
  std::cerr << "agent-runner serve: this command is not built yet in this version\n";
  return kExitUsage;
}

}  // namespace agent_runner
