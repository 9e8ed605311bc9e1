// The labels this plugin puts on the sandboxes it creates: how it finds a session's sandbox again
// (lifecycle.cpp) and lists sessions (sessions.cpp).
#pragma once

namespace agent_runner::daytona {

// The session key of a persistent sandbox.
inline constexpr const char* kSessionLabel = "agent-runner.session";
// "true" on an ephemeral sandbox (deleted on release).
inline constexpr const char* kEphemeralLabel = "agent-runner.ephemeral";
// One value per creation, the same on every attempt of it: how a create that failed after the
// server acted on it is found again.
inline constexpr const char* kCreateTokenLabel = "agent-runner.create-token";

}  // namespace agent_runner::daytona
