/*
 * Executors (contract section 5): the child process that runs one
 * execution (exec.c), the built-in executors registered by (type,
 * definition) (exec_builtin.c), and external programs found under the
 * handlers directory (exec_external.c).  The child never uses the
 * database; everything it needs travels in struct exec_input.
 */
#ifndef LEDGEROPS_EXEC_H
#define LEDGEROPS_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "conf.h"

/* The execution as an executor sees it. */
struct exec_input {
	const char *type;
	const char *definition;
	const char *name;
	const char *address; /* "type/definition/name", path-encoded */
	int64_t ordinal;
	json_object *parameters; /* object of strings */
	json_object *roles;      /* array of strings */
	const char *json;        /* the execution as JSON, for stdin */
	const struct conf *conf;
};

/*
 * A built-in executor runs in the child process.  It writes its result
 * (a JSON object) to standard output and returns an exit status; codes,
 * when not NULL, names the response code of each status below ncodes (a
 * NULL entry keeps the number).  Status 0 is SUCCEEDED; success, when
 * not NULL, is its response code (e.g. "MATCHED") instead of "0".
 */
struct exec_builtin {
	const char *type;
	const char *definition;
	int (*run)(const struct exec_input *in);
	const char *const *codes;
	int ncodes;
	const char *success;
};

/* The registered built-in for (type, definition), or NULL. */
const struct exec_builtin *exec_builtin_find(
    const char *type, const char *definition);

/* Appends the definitions built in for type to array; 0 or -1 (ENOMEM). */
int exec_builtin_list(const char *type, json_object *array);

/* 1 when definition may name a file: [A-Za-z0-9._-]+, no leading dot. */
int exec_definition_ok(const char *definition);

/*
 * The external program for (type, definition):
 * <handlers_dir>/<type in lower case>/<definition>, when it is an
 * executable regular file.  Returns a new string (caller frees) or NULL.
 */
char *exec_external_resolve(
    const char *handlers_dir, const char *type, const char *definition);

/* The result of a NO_EXECUTOR failure: what is available for type, built
 * in and under handlers_dir.  A new object, or NULL on ENOMEM. */
json_object *exec_external_available(
    const char *handlers_dir, const char *type);

/* Writes "LEDGEROPS_PARAM_" + key upper-cased, non-alphanumerics as '_',
 * into out (truncated to len). */
void exec_env_key(const char *key, char *out, size_t len);

/* The whole environment of an external program, NULL-terminated; NULL on
 * ENOMEM.  Free with exec_env_free(). */
char **exec_env_build(const struct exec_input *in);
void exec_env_free(char **env);

/* One output stream of the child, kept up to a limit. */
struct exec_buf {
	char *data;
	size_t len;
	size_t cap;
	int truncated;
};

/* A running child: its process group has the child's pid as id. */
struct exec_child {
	pid_t pid;
	int fd[2]; /* stdout, stderr read ends (non-blocking); -1 at EOF */
	struct exec_buf buf[2];
	size_t limit;
	int wstatus;
	int reaped;
};

/*
 * Starts the child: its own process group, killed with the parent
 * (PR_SET_PDEATHSIG), stdin holding in->json, stdout and stderr on pipes,
 * no other descriptor.  It runs builtin when not NULL, else execve()s
 * path with env.  Returns 0, or -1 with errno set (c holds nothing).
 */
int exec_start(struct exec_child *c, const struct exec_input *in,
    const struct exec_builtin *builtin, const char *path, char *const *env,
    size_t limit);

/* Reads what stream i (0 stdout, 1 stderr) has; closes it at EOF. */
void exec_read(struct exec_child *c, int i);

/*
 * Reaps the child if it has exited, after killing what is left of its
 * process group and draining its pipes.  Returns 1 when reaped (or
 * already), 0 while it runs.
 */
int exec_reap(struct exec_child *c);

/* Sends sig to the child's process group (until it is reaped). */
void exec_signal(struct exec_child *c, int sig);

/* The response code of a reaped child: "0", "3", "SIGKILL", or the
 * built-in's name for its exit status. */
void exec_response_code(const struct exec_child *c,
    const struct exec_builtin *builtin, char *out, size_t len);

/* The result: stdout when it is one JSON object, else {"stdout": ...,
 * "stderr": ...}.  A new object, or NULL on ENOMEM. */
json_object *exec_result(const struct exec_child *c);

/* Closes the pipes and frees the buffers (does not touch the process). */
void exec_free(struct exec_child *c);

#endif
