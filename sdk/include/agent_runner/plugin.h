/*
 * agent-runner plugin SDK: the C ABI between the host and a sandbox plugin.
 *
 * This header is the whole contract. It compiles as C11 and as C++. Nothing but C types crosses
 * the dlopen boundary: no C++ classes, exceptions or STL containers.
 *
 * A plugin exports exactly one symbol, AR_PLUGIN_ENTRY_SYMBOL, a function that returns a pointer
 * to a constant descriptor. Everything else is reached through the descriptor's function table.
 *
 * Data:
 *  - Config and requests go in as UTF-8 JSON text (pointer + length, not NUL-terminated).
 *  - Results come back in an ar_result: a status, a UTF-8 JSON text and optional raw byte buffers
 *    (file contents). The result's memory belongs to the plugin and is given back with the
 *    descriptor's free_result. Inputs are borrowed: valid only during the call.
 *  - On success the JSON is the operation's result object; on failure it is
 *    {"code": "<status name>", "message": "<human text>"}.
 *
 * Threading: operations on one sandbox may be called concurrently from several host threads
 * (for example a long execute and a short read). create/release are never concurrent with
 * operations on the same sandbox.
 *
 * Operations and their JSON shapes are documented in sdk/README.md.
 */
#ifndef AGENT_RUNNER_PLUGIN_H
#define AGENT_RUNNER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AR_ABI_VERSION_MAJOR 1
#define AR_ABI_VERSION_MINOR 1
#define AR_SDK_VERSION_PATCH 0
#define AR_SDK_VERSION "1.1.0"
/* major*10000 + minor*100 + patch */
#define AR_SDK_VERSION_NUMBER \
  (AR_ABI_VERSION_MAJOR * 10000 + AR_ABI_VERSION_MINOR * 100 + AR_SDK_VERSION_PATCH)

/* The one symbol a plugin exports. */
#define AR_PLUGIN_ENTRY_SYMBOL "agent_runner_plugin_entry"

#if defined(_WIN32)
#define AR_PLUGIN_EXPORT __declspec(dllexport)
#else
#define AR_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Status codes: a closed set. Names (ar_status_name) are what JSON errors carry. */
typedef enum ar_status {
  AR_OK = 0,
  AR_ERR_FILE_NOT_FOUND = 1,
  AR_ERR_PERMISSION_DENIED = 2,
  AR_ERR_IS_DIRECTORY = 3,
  AR_ERR_NOT_A_DIRECTORY = 4,
  AR_ERR_INVALID_PATH = 5,
  AR_ERR_ALREADY_EXISTS = 6,
  AR_ERR_NOT_FOUND = 7, /* edit: old string not found; lifecycle: sandbox not found */
  AR_ERR_AMBIGUOUS = 8, /* edit: old string matched more than once without replace_all */
  AR_ERR_TOO_LARGE = 9,
  AR_ERR_TIMEOUT = 10,
  AR_ERR_UNAVAILABLE = 11, /* backend unreachable or not ready; may succeed later */
  AR_ERR_UNSUPPORTED = 12, /* the plugin does not implement this operation or option */
  AR_ERR_INTERNAL = 13,
  AR_ERR_INVALID_ARGUMENT = 14, /* malformed request: bad regex, missing member, wrong type */
  AR_ERR_INVALID_CONFIG = 15,   /* sandbox config rejected at create */
  AR_ERR_CANCELLED = 16,
  AR_ERR_CONFLICT = 17,
  AR_ERR_UNAUTHORIZED = 18, /* credentials wrong or lacking access */
  /* --- ABI 1.1 --- */
  AR_ERR_NO_SPACE = 19, /* the sandbox's disk (or quota) is full; nothing was changed */
  AR_STATUS_COUNT_ = 20,
  /* Forces a default: branch in every switch; never returned. */
  AR_STATUS_RESERVED_DO_NOT_USE_ = 0x7fffffff
} ar_status;

static inline const char* ar_status_name(ar_status s) {
  switch (s) {
    case AR_OK:
      return "ok";
    case AR_ERR_FILE_NOT_FOUND:
      return "file_not_found";
    case AR_ERR_PERMISSION_DENIED:
      return "permission_denied";
    case AR_ERR_IS_DIRECTORY:
      return "is_directory";
    case AR_ERR_NOT_A_DIRECTORY:
      return "not_a_directory";
    case AR_ERR_INVALID_PATH:
      return "invalid_path";
    case AR_ERR_ALREADY_EXISTS:
      return "already_exists";
    case AR_ERR_NOT_FOUND:
      return "not_found";
    case AR_ERR_AMBIGUOUS:
      return "ambiguous";
    case AR_ERR_TOO_LARGE:
      return "too_large";
    case AR_ERR_TIMEOUT:
      return "timeout";
    case AR_ERR_UNAVAILABLE:
      return "unavailable";
    case AR_ERR_UNSUPPORTED:
      return "unsupported";
    case AR_ERR_INTERNAL:
      return "internal";
    case AR_ERR_INVALID_ARGUMENT:
      return "invalid_argument";
    case AR_ERR_INVALID_CONFIG:
      return "invalid_config";
    case AR_ERR_CANCELLED:
      return "cancelled";
    case AR_ERR_CONFLICT:
      return "conflict";
    case AR_ERR_UNAUTHORIZED:
      return "unauthorized";
    case AR_ERR_NO_SPACE:
      return "no_space";
    default:
      return "internal";
  }
}

/* Capability bits (unknown bits are ignored by the host). */
#define AR_CAP_EXECUTE (1ull << 0)
#define AR_CAP_STREAMING (1ull << 1)  /* emits output chunks while a command runs */
#define AR_CAP_TIMEOUT (1ull << 2)    /* per-call timeout */
#define AR_CAP_TREE_KILL (1ull << 3)  /* timeout/cancel kill the whole process tree */
#define AR_CAP_OUTPUT_CAP (1ull << 4) /* bounded output with truncated flag */
#define AR_CAP_ENV (1ull << 5)        /* per-call environment */
#define AR_CAP_FILES (1ull << 6)      /* ls read write edit delete */
#define AR_CAP_SEARCH (1ull << 7)     /* glob grep */
#define AR_CAP_TRANSFER (1ull << 8)   /* upload download */
#define AR_CAP_SESSIONS (1ull << 9)   /* persistent sandboxes keyed by session */
#define AR_CAP_CANCEL (1ull << 10)    /* honours is_cancelled */
#define AR_CAP_ISOLATION (1ull << 11) /* filesystem confinement of commands */
#define AR_CAP_NETWORK_POLICY (1ull << 12)
#define AR_CAP_RESOURCE_LIMITS (1ull << 13)
#define AR_CAP_REMOTE (1ull << 14) /* sandbox runs on another machine */
#define AR_CAP_KNOWN_COUNT_ 15

/*
 * The operation catalogue: one line per sandbox operation, in descriptor slot order. The
 * descriptor's slots, the C++ helper's virtual methods and export macro, the host's dispatch,
 * the workload step kinds and the MCP tools are all generated from this list. Append only: the
 * order is the ABI.
 *   X(slot, name, tool, capability)
 *   slot        the descriptor member and the C++ helper's method
 *   name        the operation's name in messages ("delete" for the remove slot)
 *   tool        the workload step kind and MCP tool name
 *   capability  the AR_CAP_* bit a plugin sets when it implements the operation
 */
#define AR_OPERATIONS(X)                               \
  X(execute, "execute", "execute", AR_CAP_EXECUTE)     \
  X(ls, "ls", "ls", AR_CAP_FILES)                      \
  X(read, "read", "read_file", AR_CAP_FILES)           \
  X(write, "write", "write_file", AR_CAP_FILES)        \
  X(edit, "edit", "edit_file", AR_CAP_FILES)           \
  X(glob, "glob", "glob", AR_CAP_SEARCH)               \
  X(grep, "grep", "grep", AR_CAP_SEARCH)               \
  X(upload, "upload", "upload", AR_CAP_TRANSFER)       \
  X(download, "download", "download", AR_CAP_TRANSFER) \
  X(remove, "delete", "delete", AR_CAP_FILES)

typedef enum ar_log_level {
  AR_LOG_TRACE = 0,
  AR_LOG_DEBUG = 1,
  AR_LOG_INFO = 2,
  AR_LOG_WARN = 3,
  AR_LOG_ERROR = 4
} ar_log_level;

typedef enum ar_stream { AR_STREAM_STDOUT = 1, AR_STREAM_STDERR = 2 } ar_stream;

/* A borrowed byte range. */
typedef struct ar_bytes {
  const uint8_t* data;
  size_t size;
} ar_bytes;

/*
 * Services the host offers the plugin. Given at create; valid until release returns.
 * call_ctx is the value from ar_call.host_call_ctx of the operation in progress.
 */
typedef struct ar_host_services {
  uint32_t struct_size;
  void* host_data;
  /* Log a message into the host's logger (tagged with the plugin name). Never pass secrets. */
  void (*log)(void* host_data, ar_log_level level, const char* msg, size_t len);
  /* An output chunk of a running command (execute only). */
  void (*emit_output)(void* call_ctx, ar_stream stream, const char* data, size_t len);
  /* Non-zero once the host wants this operation to stop (kill the command, return cancelled). */
  int (*is_cancelled)(void* call_ctx);
} ar_host_services;

/* One operation call. */
typedef struct ar_call {
  uint32_t struct_size;
  const char* request_json; /* UTF-8 JSON object */
  size_t request_len;
  const ar_bytes* inputs; /* write: [content]; upload: one per file; else none */
  size_t input_count;
  void* host_call_ctx; /* pass to emit_output / is_cancelled */
} ar_call;

/* What an operation gives back. Filled by the plugin, released with free_result. */
typedef struct ar_result {
  ar_status status;
  char* json; /* NUL-terminated UTF-8 JSON; may be NULL for an empty object */
  size_t json_len;
  ar_bytes* buffers; /* read: [content]; download: one per file (see JSON "buffer" index) */
  size_t buffer_count;
  void* plugin_data; /* plugin-private, for free_result */
} ar_result;

/* Opaque sandbox instance owned by the plugin. */
typedef struct ar_sandbox ar_sandbox;

typedef ar_status (*ar_op_fn)(ar_sandbox* sandbox, const ar_call* call, ar_result* result);

/*
 * A plugin-level call (ABI 1.1): no sandbox is open. config is the generated sandbox config, as
 * create receives it; call carries the request JSON and the per-call context (log, cancel).
 */
typedef ar_status (*ar_plugin_fn)(const ar_host_services* services, const char* config_json,
                                  size_t config_len, const ar_call* call, ar_result* result);

typedef struct ar_plugin_descriptor {
  /* --- header: never moves --- */
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
  const char* name;           /* plugin name, e.g. "filesystem" */
  const char* sandbox_type;   /* the type the config selects, e.g. "filesystem" */
  const char* plugin_version; /* the plugin's own version */
  const char* sdk_version;    /* AR_SDK_VERSION the plugin was built with */
  uint64_t capabilities;      /* AR_CAP_* */
  const char* config_schema;  /* JSON Schema (draft 2020-12 subset) of the plugin config */

  /* --- lifecycle --- */
  /* Create (or attach to, when session is non-empty) a sandbox. config is the generated sandbox
   * config (JSON object). On success *out is set and result JSON is
   * {"sandbox_id": "...", "session": null|"...", "persistent": bool, ...}. */
  ar_status (*create)(const ar_host_services* services, const char* config_json, size_t config_len,
                      const char* session, size_t session_len, ar_sandbox** out, ar_result* result);
  /* Release a sandbox: an ephemeral one is removed, a persistent one kept. Always frees it. */
  ar_status (*release)(ar_sandbox* sandbox, ar_result* result);
  /* Give back the memory of a result filled by this plugin. */
  void (*free_result)(ar_result* result);

  /* --- operations (NULL = unsupported): one slot per AR_OPERATIONS line, in its order ---
   * execute ls read write edit glob grep upload download remove ("delete") */
#define AR_OPERATION_SLOT_(slot, name, tool, capability) ar_op_fn slot;
  AR_OPERATIONS(AR_OPERATION_SLOT_)
#undef AR_OPERATION_SLOT_

  /* --- ABI 1.1: appended. The host reads these only when struct_size covers them (a 1.0
   * descriptor ends at `remove`); NULL = unsupported. Each takes the generated sandbox config
   * and needs no open sandbox. --- */
  /* What this plugin can enforce on this machine. Request {}; result: a JSON object of the
   * plugin's own shape, {"summary": str, "checks": [{"name", "ok", "detail"}...], ...}. */
  ar_plugin_fn probe;
  /* The persistent sandboxes (sessions) that exist. Request {"session"?: str (only that one)};
   * result {"sessions": [{"session", "sandbox_id", "state", "in_use", "created_at",
   * "last_used_at", "idle_s", "size_bytes", "labels", ...}]} (sdk/README.md "Sessions"). */
  ar_plugin_fn list_sessions;
  /* Remove one session's sandbox. Request {"session": str, "force"?: bool, "idle_s"?: int};
   * result {"session": str, "destroyed": bool, "reason"?: str, "cancelled"?: int}. No such
   * session: `not_found`. In use (a command of any process runs in it): `conflict`, unless force,
   * which cancels those commands first (their execute calls end `cancelled`). idle_s: remove it
   * only if still unused for that many seconds, else destroyed: false with the reason. */
  ar_plugin_fn destroy_session;
} ar_plugin_descriptor;

/* The smallest descriptor an ABI 1.0 plugin may hand out. */
#define AR_DESCRIPTOR_MIN_SIZE_1_0 (offsetof(ar_plugin_descriptor, remove) + sizeof(ar_op_fn))
/* The smallest descriptor an ABI 1.1 plugin may hand out. */
#define AR_DESCRIPTOR_MIN_SIZE_1_1 \
  (offsetof(ar_plugin_descriptor, destroy_session) + sizeof(ar_plugin_fn))

typedef const ar_plugin_descriptor* (*ar_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AGENT_RUNNER_PLUGIN_H */
