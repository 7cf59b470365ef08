/*
 * offload plugin ABI, major version 1.
 *
 * A plugin is a shared library exporting ONE function:
 *
 *     OFFLOAD_EXPORT const offload_plugin_entry *offload_plugin_entry_v1(void);
 *
 * The major version is part of the symbol name, so a library built for
 * another major is refused before anything in it is called, and one library
 * may export several majors side by side. Everything else is reached through
 * the returned descriptor: init/deinit and a lookup of factories by versioned
 * string id ("offload.framework/1", "offload.provider/1", "com.acme.thing/1").
 *
 * Rules (see docs/plugin-abi.md for the full reference):
 *  - C99. Every struct that may grow starts with `uint32_t struct_size` and
 *    only ever grows at the end; readers check OFFLOAD_HAS_FIELD before
 *    reading a field. Function tables are frozen per id revision: a new
 *    function means a new id ("offload.provider/2") or a new extension.
 *  - Enums are fixed-width integers (int32_t typedefs).
 *  - Nothing is freed across the boundary. Strings and arrays passed IN are
 *    borrowed for the duration of the call: copy what you keep. Results flow
 *    back through sinks/receivers provided by the caller, which copy.
 *  - Errors: an offload_status plus a message written to an error sink owned
 *    by the caller. No C++ exception may cross the boundary.
 *  - Threads: each function says which threads may call it.
 *    [host-thread]  the host's event-loop thread (one thread per run).
 *    [any-thread]   any thread, concurrently.
 *  - Asynchronous provider operations take a completion that the plugin calls
 *    EXACTLY ONCE, from any thread, possibly before the call returns. After
 *    calling it the plugin must not touch the request's borrowed data.
 *
 * Changelog
 *  1.0  first version (offload_prepare_request grew its image fields before
 *       the first release; nothing was published without them).
 *  1.1  in-process retries: offload_run_request.in_process_retries (echoed
 *       in offload_run_output), offload_test_result.attempt, offload_framework.capabilities with
 *       OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES (appended; 1.0 plugins and hosts
 *       keep working, see OFFLOAD_HAS_FIELD).
 */
#ifndef OFFLOAD_PLUGIN_H
#define OFFLOAD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OFFLOAD_ABI_MAJOR 1
#define OFFLOAD_ABI_MINOR 1

#if defined(_WIN32)
#define OFFLOAD_EXPORT __declspec(dllexport)
#else
#define OFFLOAD_EXPORT __attribute__((visibility("default")))
#endif

/* Name of the entry symbol for this major version. */
#define OFFLOAD_ENTRY_SYMBOL "offload_plugin_entry_v1"

/* Factory / extension ids understood by this header. */
#define OFFLOAD_FRAMEWORK_FACTORY_ID "offload.framework/1"
#define OFFLOAD_PROVIDER_FACTORY_ID "offload.provider/1"
#define OFFLOAD_HOST_LOG_ID "offload.host.log/1"
#define OFFLOAD_HOST_PROCESS_ID "offload.host.process/1"
#define OFFLOAD_HOST_JUNIT_ID "offload.host.junit/1"

/* True when struct pointer P (of type T) is large enough to hold field F. */
#define OFFLOAD_HAS_FIELD(P, T, F) \
  ((P) != NULL && (P)->struct_size >= offsetof(T, F) + sizeof(((T *)0)->F))

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                   */
/* ------------------------------------------------------------------------ */

typedef int32_t offload_status;
enum {
  OFFLOAD_OK = 0,
  OFFLOAD_E_INVALID = 1,     /* bad argument or configuration */
  OFFLOAD_E_UNSUPPORTED = 2, /* operation not offered by this plugin */
  OFFLOAD_E_IO = 3,          /* file, network or process failure */
  OFFLOAD_E_TIMEOUT = 4,
  OFFLOAD_E_CANCELLED = 5,
  OFFLOAD_E_PARSE = 6,       /* output that could not be understood */
  OFFLOAD_E_PLUGIN = 7,      /* internal plugin error (e.g. a caught exception) */
  OFFLOAD_E_TRANSIENT = 8    /* worth retrying (rate limit, flaky network) */
};

/* Caller-owned receiver for an error message. set() copies msg; calling it
 * more than once keeps the last message. [any-thread] */
typedef struct offload_error_sink {
  uint32_t struct_size;
  void *ctx;
  void (*set)(const struct offload_error_sink *sink, offload_status code, const char *msg);
} offload_error_sink;

/* A borrowed byte string (not necessarily NUL-terminated). */
typedef struct offload_bytes {
  const char *data;
  size_t size;
} offload_bytes;

/* ------------------------------------------------------------------------ */
/* Host                                                                      */
/* ------------------------------------------------------------------------ */

/* Given to init(); lives until deinit() returns. */
typedef struct offload_host {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char *host_version; /* e.g. "0.1.0" */
  void *host_data;          /* host-private */
  /* Returns a host extension table by id (see OFFLOAD_HOST_*_ID), or NULL.
   * The table lives as long as the host. [any-thread] */
  const void *(*get_extension)(const struct offload_host *host, const char *id);
} offload_host;

/* "offload.host.log/1": the host's logger. Messages are copied. [any-thread] */
typedef int32_t offload_log_level;
enum {
  OFFLOAD_LOG_DEBUG = 0,
  OFFLOAD_LOG_INFO = 1,
  OFFLOAD_LOG_WARN = 2,
  OFFLOAD_LOG_ERROR = 3
};
typedef struct offload_host_log {
  uint32_t struct_size;
  void (*log)(const offload_host *host, offload_log_level level, const char *msg);
} offload_host_log;

/* "offload.host.process/1": the host's process runner. Every child runs in
 * its own process group; timeout and cancel kill the whole group. */
typedef struct offload_env_var {
  const char *name;
  const char *value;
} offload_env_var;

typedef struct offload_process_spec {
  uint32_t struct_size;
  const char *const *argv;    /* argv[0] is looked up in PATH when it has no '/' */
  size_t argc;
  const offload_env_var *env; /* set on top of the host's environment */
  size_t env_count;
  const char *cwd;            /* NULL: the host's cwd */
  const char *stdout_path;    /* NULL: not written to a file */
  const char *stderr_path;    /* NULL: not written to a file */
  int32_t append;             /* non-zero: append to the files */
  uint64_t timeout_ms;        /* 0: none */
  uint64_t capture_limit;     /* bytes of stdout/stderr to keep for on_exit (0: none) */
  const char *stdin_data;     /* NULL: stdin is /dev/null */
  size_t stdin_size;
} offload_process_spec;

typedef struct offload_process_result {
  uint32_t struct_size;
  int32_t exit_code;   /* valid when term_signal == 0 */
  int32_t term_signal; /* terminating signal or 0 */
  int32_t timed_out;
  int32_t cancelled;
  uint64_t duration_ms;
  offload_bytes out;   /* captured stdout (capture_limit); borrowed for the callback */
  offload_bytes err;   /* captured stderr */
  const char *describe; /* "exit code 1", "killed by signal 9 (SIGKILL)", ...; borrowed */
} offload_process_result;

typedef struct offload_process_callbacks {
  uint32_t struct_size;
  void *ctx;
  /* Output as it arrives; may be NULL. stream is 1 (stdout) or 2 (stderr). [host-thread] */
  void (*on_output)(void *ctx, int32_t stream, const char *data, size_t size);
  /* Called exactly once when the process ended (or failed to start: status
   * != OFFLOAD_OK, message says why, result is NULL). [host-thread] */
  void (*on_exit)(void *ctx, offload_status status, const offload_process_result *result, const char *message);
} offload_process_callbacks;

typedef uint64_t offload_op_id;

typedef struct offload_host_process {
  uint32_t struct_size;
  /* Start a process. spec and callbacks are copied. Returns an id (never 0).
   * on_exit always comes later, never inside spawn. [any-thread] */
  offload_op_id (*spawn)(const offload_host *host, const offload_process_spec *spec,
                         const offload_process_callbacks *callbacks);
  /* Kill the process group; on_exit follows with cancelled set. Unknown or
   * finished ids are ignored. [any-thread] */
  void (*cancel)(const offload_host *host, offload_op_id id);
} offload_host_process;

/* "offload.host.junit/1": the host's JUnit XML parser, so framework plugins
 * need no XML library. */
typedef int32_t offload_test_status;
enum {
  OFFLOAD_TEST_PASSED = 0,
  OFFLOAD_TEST_FAILED = 1,
  OFFLOAD_TEST_ERROR = 2,
  OFFLOAD_TEST_SKIPPED = 3,
  OFFLOAD_TEST_NOT_RUN = 4
};

typedef struct offload_junit_case {
  uint32_t struct_size;
  const char *name;
  const char *classname;
  const char *file;      /* "" when absent */
  double time_secs;
  offload_test_status status;
  const char *message;
  const char *type;
  const char *text;      /* failure/error body */
  const char *system_out;
  const char *system_err;
} offload_junit_case;

typedef struct offload_host_junit {
  uint32_t struct_size;
  /* Parse a JUnit XML document; each testcase is passed to on_case (borrowed
   * for that call). Returns OFFLOAD_E_PARSE with a message on malformed input
   * (cases seen before the error may already have been delivered).
   * [any-thread] */
  offload_status (*parse)(const offload_host *host, offload_bytes xml, void *ctx,
                          void (*on_case)(void *ctx, const offload_junit_case *c),
                          const offload_error_sink *err);
} offload_host_junit;

/* ------------------------------------------------------------------------ */
/* Sinks the host passes to plugins                                          */
/* ------------------------------------------------------------------------ */

/* A command to run: argv plus extra environment and an optional working
 * directory. Framework plugins produce commands; providers run them. */
typedef struct offload_command {
  uint32_t struct_size;
  const char *const *argv;
  size_t argc;
  const offload_env_var *env;
  size_t env_count;
  const char *cwd; /* NULL: the provider's project root */
} offload_command;

/* Receives one command (copied). [host-thread] */
typedef struct offload_command_sink {
  uint32_t struct_size;
  void *ctx;
  void (*set)(const struct offload_command_sink *sink, const offload_command *cmd);
} offload_command_sink;

/* A discovered test. */
typedef struct offload_test_desc {
  uint32_t struct_size;
  const char *id;   /* canonical test ID: unique, any bytes but NUL */
  const char *name; /* display name (may equal id) */
  const char *file; /* source file relative to the project root, or NULL */
  int32_t line;     /* 0 when unknown */
} offload_test_desc;

/* Receives discovered tests (copied). Returns 0 to ask the plugin to stop. [host-thread] */
typedef struct offload_test_sink {
  uint32_t struct_size;
  void *ctx;
  int32_t (*add)(const struct offload_test_sink *sink, const offload_test_desc *test);
} offload_test_sink;

/* One test's result from a batch. */
typedef struct offload_test_result {
  uint32_t struct_size;
  const char *id;            /* must be one of the batch's IDs */
  offload_test_status status;
  double duration_secs;
  const char *message;
  const char *type;
  const char *text;          /* failure body / traceback */
  const char *system_out;
  const char *system_err;
  const char *name;          /* as the framework reported it (display), may be NULL */
  const char *classname;     /* may be NULL */
  /* Added in 1.1 (check with OFFLOAD_HAS_FIELD). 0: the batch ran this test
   * once (the usual case). 1, 2, ...: the framework reran the test inside the
   * batch's process (see offload_run_request.in_process_retries) and this is
   * attempt N; report every attempt, each with its own number. Every attempt
   * but the last one reported for an ID must have failed or errored. */
  uint32_t attempt;
} offload_test_result;

/* Receives results (copied). Returns 0 to ask the plugin to stop. [host-thread] */
typedef struct offload_result_sink {
  uint32_t struct_size;
  void *ctx;
  int32_t (*add)(const struct offload_result_sink *sink, const offload_test_result *result);
} offload_result_sink;

/* ------------------------------------------------------------------------ */
/* Framework plugins ("offload.framework/1")                                 */
/*                                                                           */
/* Frameworks TRANSLATE: they build commands and parse outputs; they never   */
/* run processes, so every framework works on every provider.               */
/* All functions: [host-thread], never concurrently on one instance.         */
/* ------------------------------------------------------------------------ */

typedef struct offload_discover_request {
  uint32_t struct_size;
  const char *group;       /* group name */
  const char *filters;     /* the group's filter string ("" when none) */
  const char *project_dir; /* local directory discovery runs in */
} offload_discover_request;

/* Output of the discovery command, run locally by the host. */
typedef struct offload_discover_output {
  uint32_t struct_size;
  int32_t exit_code;
  int32_t term_signal;
  offload_bytes out;
  offload_bytes err;
} offload_discover_output;

typedef struct offload_run_request {
  uint32_t struct_size;
  const char *const *ids;  /* the batch's test IDs, as discovered */
  size_t count;
  const char *result_path; /* where the command must write its result file (in the sandbox) */
  int32_t fail_fast;
  uint32_t batch_index;
  const char *project_dir; /* the project root where the command will run (sandbox path) */
  /* Added in 1.1 (check with OFFLOAD_HAS_FIELD). How many times the command
   * may rerun a failed test immediately, in the same test process, before
   * moving on (as pytest-rerunfailures does); 0: never. Each run is reported
   * as its own attempt (offload_test_result.attempt). Reruns are part of the
   * group's retry_count, so the host retries on other sandboxes only what is
   * left. A framework that cannot rerun in-process ignores this field and
   * the host retries elsewhere as before. */
  uint32_t in_process_retries;
} offload_run_request;

/* What came back from one batch. */
typedef struct offload_run_output {
  uint32_t struct_size;
  const char *const *ids;  /* the batch's test IDs */
  size_t count;
  int32_t exit_code;
  int32_t term_signal;
  int32_t timed_out;
  offload_bytes result;    /* contents of the result file (size 0 and data NULL when missing) */
  int32_t result_present;  /* non-zero when the result file was retrieved */
  const char *stdout_path; /* local file holding the batch's stdout */
  const char *stderr_path;
  const char *project_dir; /* the project root the command ran in (sandbox path) */
  /* Added in 1.1 (check with OFFLOAD_HAS_FIELD): the in_process_retries the
   * batch's offload_run_request carried, so a parser need not remember it. */
  uint32_t in_process_retries;
} offload_run_output;

typedef struct offload_framework offload_framework;
struct offload_framework {
  uint32_t struct_size;
  void *plugin_data;

  /* Free the instance. Called once, after every other call returned. */
  void (*destroy)(offload_framework *fw);

  /* The command that lists the tests of one group. */
  offload_status (*discover_command)(offload_framework *fw, const offload_discover_request *req,
                                     const offload_command_sink *out, const offload_error_sink *err);

  /* Turn the discovery command's output into tests. A non-zero exit code is
   * for the plugin to judge (pytest exits 5 when nothing matched). */
  offload_status (*parse_discovery)(offload_framework *fw, const offload_discover_request *req,
                                    const offload_discover_output *output, const offload_test_sink *tests,
                                    const offload_error_sink *err);

  /* The command that runs exactly the batch's tests and writes result_path. */
  offload_status (*run_command)(offload_framework *fw, const offload_run_request *req,
                                const offload_command_sink *out, const offload_error_sink *err);

  /* Turn a batch's result into per-test results. Report only what the
   * output says; IDs the output does not mention are accounted for by the
   * host (not run, with a cause). */
  offload_status (*parse_results)(offload_framework *fw, const offload_run_output *output,
                                  const offload_result_sink *results, const offload_error_sink *err);

  /* Added in 1.1 (the host checks OFFLOAD_HAS_FIELD): what the framework can
   * do beyond the 1.0 contract, a set of OFFLOAD_FRAMEWORK_* bits. Set once in
   * create; the host reads it after create returns. */
  uint32_t capabilities;
};

/* The command reruns failed tests in-process as offload_run_request.
 * in_process_retries allows and reports each run (offload_test_result.attempt).
 * The host then plans for it: it does not start history-based extra
 * attempts (pretries) on other sandboxes for such tests. */
#define OFFLOAD_FRAMEWORK_IN_PROCESS_RETRIES 0x1u

typedef struct offload_framework_factory {
  uint32_t struct_size;
  /* Comma-separated framework type names this factory serves ("pytest"). */
  const char *types;
  /* Create an instance for the [framework] table (config_json, borrowed)
   * whose type is `type`. On failure return NULL and set err. [host-thread] */
  offload_framework *(*create)(const offload_host *host, const char *type, const char *config_json,
                               const offload_error_sink *err);
} offload_framework_factory;

/* ------------------------------------------------------------------------ */
/* Provider plugins ("offload.provider/1")                                   */
/*                                                                           */
/* Providers are ASYNCHRONOUS: each operation returns at once and calls its  */
/* completion exactly once later (or inside the call), from any thread.      */
/* The host drives hundreds of sandboxes from one thread, so operations must */
/* not block. Functions may be called from the host thread only, but        */
/* operations on different sandboxes overlap.                                */
/* ------------------------------------------------------------------------ */

typedef struct offload_sandbox offload_sandbox; /* opaque, plugin-owned */

/* Completion of prepare: the image id (borrowed for the call). */
typedef struct offload_prepare_done {
  uint32_t struct_size;
  void *ctx;
  void (*done)(void *ctx, offload_status status, const char *image_id, const char *message);
} offload_prepare_done;

/* Completion of create: the sandbox handle and its display id. */
typedef struct offload_create_done {
  uint32_t struct_size;
  void *ctx;
  void (*done)(void *ctx, offload_status status, offload_sandbox *sandbox, const char *sandbox_id,
               const char *message);
} offload_create_done;

/* Completion of destroy/download and other status-only operations. */
typedef struct offload_status_done {
  uint32_t struct_size;
  void *ctx;
  void (*done)(void *ctx, offload_status status, const char *message);
} offload_status_done;

typedef struct offload_exec_result {
  uint32_t struct_size;
  int32_t exit_code;
  int32_t term_signal;
  int32_t timed_out;
  uint64_t duration_ms;
} offload_exec_result;

typedef struct offload_exec_done {
  uint32_t struct_size;
  void *ctx;
  /* status OFFLOAD_OK means the command ran (whatever its exit code);
   * anything else means the sandbox could not run it. */
  void (*done)(void *ctx, offload_status status, const offload_exec_result *result, const char *message);
} offload_exec_done;

/* What to build. Two shapes:
 *  - a full image: base_image_id is NULL; copy context_dir (the project as of
 *    the base commit, or the working tree) and copy_dirs in, run
 *    sandbox_init_cmd in the project root;
 *  - a thin image derived from a cached one: base_image_id is set; apply
 *    patch_file (a `git diff --binary` patch, may be NULL when there are no
 *    changes) in the project root, then run post_patch_cmd with
 *    OFFLOAD_PATCH_FILE set to the patch's path inside the image. */
typedef struct offload_prepare_request {
  uint32_t struct_size;
  int32_t no_cache;
  const char *const *copy_dirs; /* "local:remote" entries */
  size_t copy_dir_count;
  const char *base_image_id;    /* NULL: build a full image */
  const char *patch_file;       /* local path of the thin-diff patch, or NULL */
  const char *context_dir;      /* local directory to copy into a full image, or NULL (the working tree) */
  const char *sandbox_init_cmd; /* NULL when none */
  const char *post_patch_cmd;   /* NULL when none */
} offload_prepare_request;

typedef struct offload_sandbox_spec {
  uint32_t struct_size;
  uint32_t index;           /* 0..max_parallel-1 */
  const char *image_id;     /* from prepare, or NULL */
  const offload_env_var *env;
  size_t env_count;
} offload_sandbox_spec;

typedef struct offload_exec_request {
  uint32_t struct_size;
  const offload_command *command;
  const char *stdout_path;  /* LOCAL file to receive the command's stdout */
  const char *stderr_path;  /* LOCAL file to receive the command's stderr */
  uint64_t timeout_ms;      /* 0: none; on expiry kill and report timed_out */
} offload_exec_request;

typedef struct offload_path_pair {
  const char *remote;
  const char *local;
} offload_path_pair;

typedef struct offload_download_request {
  uint32_t struct_size;
  const offload_path_pair *paths;
  size_t count;
} offload_download_request;

typedef struct offload_provider offload_provider;
struct offload_provider {
  uint32_t struct_size;
  void *plugin_data;

  /* Free the instance. Called once, after every operation completed. */
  void (*destroy)(offload_provider *p);

  /* Build or look up the sandbox image. May be NULL (nothing to prepare). */
  offload_op_id (*prepare)(offload_provider *p, const offload_prepare_request *req,
                           const offload_prepare_done *done);

  /* Create one sandbox. */
  offload_op_id (*create_sandbox)(offload_provider *p, const offload_sandbox_spec *spec,
                                  const offload_create_done *done);

  /* Run a command in a sandbox. One exec at a time per sandbox. */
  offload_op_id (*exec)(offload_provider *p, offload_sandbox *sb, const offload_exec_request *req,
                        const offload_exec_done *done);

  /* Copy files out of a sandbox. A remote path that does not exist is not an
   * error of the operation: the local file is simply absent afterwards. */
  offload_op_id (*download)(offload_provider *p, offload_sandbox *sb, const offload_download_request *req,
                            const offload_status_done *done);

  /* Destroy a sandbox; the handle is invalid once done is called. */
  offload_op_id (*destroy_sandbox)(offload_provider *p, offload_sandbox *sb, const offload_status_done *done);

  /* Cancel an operation; its completion then reports OFFLOAD_E_CANCELLED
   * (or its real result if it had already finished). Unknown ids are ignored. */
  void (*cancel)(offload_provider *p, offload_op_id op);

  /* Directory in the sandbox where commands run (OFFLOAD_ROOT) and result
   * files may be written: a borrowed string valid until destroy. */
  const char *(*project_dir)(offload_provider *p);
};

typedef struct offload_provider_config {
  uint32_t struct_size;
  const char *type;             /* [provider] type */
  const char *config_json;      /* the [provider] table as JSON */
  const char *offload_json;     /* the [offload] table as JSON (roots, init commands) */
  const char *config_dir;       /* directory of offload.toml */
  const char *output_dir;       /* report directory (absolute) */
} offload_provider_config;

typedef struct offload_provider_factory {
  uint32_t struct_size;
  const char *types; /* comma-separated provider type names ("local") */
  offload_provider *(*create)(const offload_host *host, const offload_provider_config *cfg,
                              const offload_error_sink *err);
} offload_provider_factory;

/* ------------------------------------------------------------------------ */
/* Entry                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct offload_plugin_entry {
  uint32_t struct_size;
  uint32_t abi_major;  /* must be OFFLOAD_ABI_MAJOR */
  uint32_t abi_minor;
  const char *id;      /* reverse-DNS id, e.g. "dev.offload.pytest" */
  const char *version; /* plugin version, e.g. "1.2.0" */
  const char *description;
  /* Called once after loading, before anything else. Returns 0 on failure
   * (message via err). host lives until deinit. [host-thread] */
  int32_t (*init)(const offload_host *host, const char *plugin_path, const offload_error_sink *err);
  /* Called once before unloading, after every instance was destroyed. */
  void (*deinit)(void);
  /* Factory by id (OFFLOAD_*_FACTORY_ID) or NULL. The table lives until deinit. */
  const void *(*get_factory)(const char *factory_id);
} offload_plugin_entry;

typedef const offload_plugin_entry *(*offload_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* OFFLOAD_PLUGIN_H */
