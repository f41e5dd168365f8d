/*
 * Operations, jobs and executions in the database, as the API needs
 * them: every function works in its own transaction (BEGIN IMMEDIATE when
 * it writes) and returns finished JSON elements.  Returned objects belong
 * to the caller (json_object_put).  Errors come back as enum err with a
 * user-facing detail.
 */
#ifndef LEDGEROPS_STORE_H
#define LEDGEROPS_STORE_H

#include <stdint.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "conf.h"
#include "db.h"
#include "model.h"
#include "query.h"

/* A type/definition/name triple; NULL or "*" in a list means any. */
struct store_address {
	const char *type;
	const char *definition;
	const char *name;
};

/* --- operations (store_operation.c) --- */

enum err store_operation_get(struct db *db, const struct store_address *a,
    json_object **elem, char *detail, size_t len);

/* Creates or updates the operation that info names (already validated by
 * model_operation_info_check). */
enum err store_operation_put(struct db *db, const struct conf *conf,
    json_object *info, json_object **elem, char *detail, size_t len);

/* Deletes an operation that has no jobs; ERR_OPERATION_HAS_JOBS if not. */
enum err store_operation_delete(struct db *db, const struct store_address *a,
    json_object **elem, char *detail, size_t len);

enum err store_operation_list(struct db *db, const char *const *filter4,
    json_object **page, char *detail, size_t len);

/* --- jobs (store_job.c) --- */

/* The job element; *revision is set when not NULL.  With
 * with_executions, the answer is the job data with its 20 newest
 * executions. */
enum err store_job_get(struct db *db, const struct store_address *a,
    int with_executions, json_object **elem, int64_t *revision, char *detail,
    size_t len);

/* Creates or updates the job that info names in operation a; if_match,
 * when not NULL, must equal the current revision. */
enum err store_job_put(struct db *db, const struct store_address *a,
    json_object *info, const char *if_match, json_object **elem,
    int64_t *revision, char *detail, size_t len);

/* Deletes the job (its executions with it); *elem is the job as it was
 * and *revision its last revision. */
enum err store_job_delete(struct db *db, const struct store_address *a,
    const char *if_match, json_object **elem, int64_t *revision, char *detail,
    size_t len);

enum err store_job_set_status(struct db *db, const struct store_address *a,
    enum job_status status, json_object **answer, char *detail, size_t len);

enum err store_job_list(struct db *db, const struct store_address *a,
    const char *const *filter4, json_object **page, char *detail, size_t len);

/* Appends " AND o.type = ?" etc. to where for each fixed segment of a
 * and the values to binds (room for 3); returns how many. */
int store_address_where(
    const struct store_address *a, char *where, size_t len, const char **binds);

/* --- executions (store_execution.c) --- */

enum err store_execution_list(struct db *db, const struct store_address *a,
    const char *const *filter4, json_object **page, char *detail, size_t len);

/* The 20 newest executions of job_id, newest first, as a new array. */
enum err store_execution_recent(struct db *db, int64_t job_id,
    json_object **list, char *detail, size_t len);

/* --- shared row readers and list runner (store.c) --- */

/*
 * What the elements of one list page share: the printed elements of the
 * operations its jobs embed (each read once per page, in the page's
 * snapshot) and a buffer to print jobs into.  Filled by store_list.
 */
struct store_memo_op {
	int64_t id;
	json_object *printed;
};

struct store_memo {
	struct db *db; /* the page's connection */
	struct store_memo_op *ops;
	size_t n_ops, cap_ops;
	struct printbuf *pb; /* store_job_list_elem's, reused for each job */
};

void store_memo_clear(struct store_memo *memo);

/* Element builders reading the DB_*_COLUMNS of st from column col; memo
 * may be NULL.  A new object, or NULL on ENOMEM. */
typedef json_object *store_elem_fn(
    sqlite3_stmt *st, int col, struct store_memo *memo);
store_elem_fn store_operation_elem;
store_elem_fn store_job_elem;
store_elem_fn store_execution_elem;
/* Brings a job's element built before an update to what reading the job
 * after it would build: the new revision, info (printed) and update
 * time.  0, or -1 on ENOMEM with elem unchanged or partly updated. */
int store_job_elem_revise(
    json_object *elem, int64_t revision, const char *info, int64_t updated_at);

/* A job as store_job_elem builds it, but printed once into a raw value
 * for a page: not to be read as an object.  memo must not be NULL. */
store_elem_fn store_job_list_elem;

/* An integer that prints without snprintf. */
json_object *store_int(int64_t v);

/* Parses stored JSON text (or NULL) into an object; NULL on failure. */
json_object *store_json_column(sqlite3_stmt *st, int col);

/*
 * A column holding a JSON document that this program validated and
 * serialised before storing it, wrapped so that json-c prints the text
 * verbatim instead of parsing and printing it again; JSON null for SQL
 * NULL.  Only for output: the wrapper is a string to anything but the
 * serialiser.
 */
json_object *store_raw_column(sqlite3_stmt *st, int col);

/* "2025-...Z" for a ms column, JSON null for SQL NULL. */
json_object *store_time_column(sqlite3_stmt *st, int col);

/* The path-encoded "type/definition/name" address; new string. */
char *store_address_string(
    const char *type, const char *definition, const char *name);

/*
 * Runs a list: SELECT columns FROM_where AND (filter) ORDER BY ... with
 * paging, plus the matching count, into {"data": [...], "page": {...}}.
 * base_binds (n of them, text) are bound first, in order; elem builds
 * each element from column 0.  filter4 holds filter, sort, page[number],
 * page[size] (each may be NULL).
 */
enum err store_list(struct db *db, const struct query_spec *spec,
    const char *columns, const char *from_where, const char *const *base_binds,
    int nbase, const char *const *filter4, store_elem_fn *elem,
    json_object **page, char *detail, size_t len);

#endif
