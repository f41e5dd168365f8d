/*
 * The built-in executors on SQLite sources (docs/executors.md) and what
 * they share: parameters, sources and targets resolved by name with the
 * role check, read-only connections that accept exactly one read-only
 * statement, values as JSON and CSV, files written under a temporary
 * name and renamed, and the result printed on standard output.  All of
 * it runs in the child process of one execution.
 */
#ifndef LEDGEROPS_EXEC_SQLITE_H
#define LEDGEROPS_EXEC_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "conf.h"
#include "exec.h"

/* Exit statuses of the built-ins; exec_sqlite_codes names them. */
enum exec_status_code {
	XS_OK = 0,
	XS_BAD_PARAMETERS, /* missing or malformed parameter, no such place */
	XS_FORBIDDEN,      /* none of the job's roles is allowed */
	XS_REFUSED,        /* not exactly one read-only statement */
	XS_SQL_ERROR,      /* the database could not answer */
	XS_IO_ERROR,       /* a file in a target could not be written */
	XS_MISMATCH,       /* RECONCILE: the two sides differ */
	XS_CHECK_FAILED,   /* VALIDATE: a check found something */
	XS_INTERNAL,       /* out of memory and the like */
	XS__MAX
};

/* Response codes by exit status; [0] is NULL ("0"), or "MATCHED" in the
 * reconcile table. */
extern const char *const exec_sqlite_codes[XS__MAX];

/* The run() functions of the table in exec_builtin.c. */
int exec_report_sql(const struct exec_input *in);
int exec_reconcile_sql(const struct exec_input *in);
int exec_replicate_backup(const struct exec_input *in);
int exec_validate_check(const struct exec_input *in);

/* One run of a built-in: its input, the result being built, and the
 * first error, which becomes result.error. */
struct xjob {
	const struct exec_input *in;
	json_object *result;
	char error[512];
};

/*
 * Starts a run; result is a new empty object (NULL on ENOMEM, which
 * xjob_finish() reports).
 */
void xjob_init(struct xjob *j, const struct exec_input *in);

/*
 * Adds result.error when there was one, prints the result on standard
 * output (replaced by a short error when it would pass the configured
 * output limit), frees it and returns status for the child to exit with.
 */
int xjob_finish(struct xjob *j, int status);

/* Records the first error (printf format) and returns status. */
int xjob_fail(struct xjob *j, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds key to the result (taking v); XS_OK, or XS_INTERNAL when v is NULL
 * or the object cannot grow. */
int xjob_put(struct xjob *j, json_object *obj, const char *key, json_object *v);

/*
 * Refuses parameters other than the NULL-terminated known names and, when
 * prefix is not NULL, names starting with it; and any that is not a
 * string.  XS_OK or XS_BAD_PARAMETERS.
 */
int xjob_check_params(
    struct xjob *j, const char *const *known, const char *prefix);

/* The string parameter key, or NULL when the job does not have it. */
const char *xjob_param(const struct xjob *j, const char *key);

/* The parameter key, required; XS_OK, or XS_BAD_PARAMETERS. */
int xjob_param_required(struct xjob *j, const char *key, const char **out);

/* An integer parameter within [min, max], def when absent. */
int xjob_param_int(struct xjob *j, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out);

/*
 * The source (is_target 0) or target (1) named by parameter key, checked
 * against the job's roles.  XS_OK, XS_BAD_PARAMETERS (missing, unknown)
 * or XS_FORBIDDEN.
 */
int xjob_place(struct xjob *j, int is_target, const char *key,
    const struct conf_place **out);

/*
 * Opens a source read-only, with query_only on, no ATTACH, no writing
 * PRAGMA, no extension loading, and the configured busy timeout.
 * XS_OK or XS_SQL_ERROR; *db is NULL on error.
 */
int xjob_open(struct xjob *j, const struct conf_place *src, sqlite3 **db);

/*
 * Prepares sql as exactly one read-only statement that returns columns;
 * what names it in errors ("query", "left_query").  XS_OK, XS_REFUSED
 * or XS_SQL_ERROR; *st is NULL on error.
 */
int xjob_prepare(struct xjob *j, sqlite3 *db, const char *sql, const char *what,
    sqlite3_stmt **st);

/* Steps st once: 1 row, 0 done, -1 error (recorded as XS_SQL_ERROR). */
int xjob_step(struct xjob *j, sqlite3_stmt *st, const char *what);

/* The column value i of the current row as JSON: integer, double, text
 * (invalid UTF-8 as '?'), blob as hex text, or NULL for SQL NULL and
 * non-finite numbers.  *ok is 0 on ENOMEM. */
json_object *xjob_value(sqlite3_stmt *st, int i, int *ok);

/* The same for a value (of a row kept with sqlite3_value_dup). */
json_object *xjob_sqlvalue(sqlite3_value *v, int *ok);

/* The current row as a new array of values; NULL on ENOMEM. */
json_object *xjob_row(sqlite3_stmt *st);

/* The column names of st as a new array; NULL on ENOMEM. */
json_object *xjob_columns(sqlite3_stmt *st);

/*
 * The file name of an execution's output: address and ordinal with every
 * byte outside [A-Za-z0-9._-] as '_', then suffix (".csv").
 */
void xjob_file_name(
    const struct exec_input *in, const char *suffix, char *out, size_t len);

/* A file written in a target directory under a temporary name. */
struct xfile {
	int dirfd;
	int fd;        /* -1 unless asked for */
	char tmp[300]; /* ".NAME.tmp.PID", in the directory */
	char name[256];
	char path[4096]; /* directory + "/" + tmp, for SQLite */
};

/* Creates the temporary file for name in dir, and keeps a descriptor on
 * it when want_fd; XS_OK or XS_IO_ERROR.  Until xfile_abort, a SIGTERM
 * removes the file (and its SQLite journal) before it ends the process. */
int xfile_open(struct xjob *j, struct xfile *f, const char *dir,
    const char *name, int want_fd);

/* Syncs and renames the file to its name; XS_OK or XS_IO_ERROR.  The
 * descriptor, if any, is closed first. */
int xfile_commit(struct xjob *j, struct xfile *f);

/* Removes what is left of an uncommitted file and of its SQLite journal,
 * and closes everything. */
void xfile_abort(struct xfile *f);

#endif
