#include "app.hpp"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  try {
    return agent_runner::cli_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "agent-runner: internal error: " << e.what() << "\n";
    return 1;
  }
}
