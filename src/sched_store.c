#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backoff.h"
#include "log.h"
#include "sched_store.h"

#define SCHED_JOB_FROM " FROM job j JOIN operation o ON o.id = j.operation_id"

/* The SQL of each statement of enum sched_stmt. */
static const char *const sched_sql[SCHED_STMT__MAX] = {
	[SCHED_DATA_VERSION] = "PRAGMA data_version",
	[SCHED_NEXT_DUE] = "SELECT min(due_at) FROM job "
	                   "WHERE status = 'EXECUTING'",
	[SCHED_CLAIM_SELECT] =
	    "SELECT j.id, j.revision, j.last_ordinal + 1, j.due_at, o.type, "
	    "o.definition, j.name, "
	    "coalesce(json_extract(j.info, '$.parameters'), '{}'), "
	    "coalesce(json_extract(j.info, '$.roles'), '[]'), "
	    "coalesce(json_extract(j.info, '$.timeout_in_millis'), "
	    "0)" SCHED_JOB_FROM
	    " WHERE j.status = 'EXECUTING' AND j.due_at <= ?1 AND NOT EXISTS "
	    "(SELECT 1 FROM execution e WHERE e.job_id = j.id AND "
	    "e.status = 'STARTED') ORDER BY j.due_at LIMIT ?2",
	[SCHED_JOB_TAKE] = "UPDATE job SET last_ordinal = ?2, due_at = NULL "
	                   "WHERE id = ?1 AND last_ordinal = ?2 - 1",
	[SCHED_EXEC_INSERT] =
	    "INSERT INTO execution (job_id, ordinal, revision, status, "
	    "parameters, roles, due_at, lease_owner, lease_expires_at, "
	    "created_at, started_at, updated_at) "
	    "VALUES (?1, ?2, ?3, 'STARTED', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?9)",
	[SCHED_CHECK] = "SELECT e.status, e.lease_owner, j.status "
	                "FROM execution e JOIN job j ON j.id = e.job_id "
	                "WHERE e.id = ?1",
	[SCHED_RENEW] = "UPDATE execution SET lease_expires_at = ?1 "
	                "WHERE id = ?2 AND status = 'STARTED' AND "
	                "lease_owner = ?3",
	[SCHED_EXPIRED] =
	    "SELECT e.id, e.job_id, e.ordinal, e.revision, e.due_at, "
	    "e.started_at, o.type, o.definition, j.name "
	    "FROM execution e JOIN job j ON j.id = e.job_id "
	    "JOIN operation o ON o.id = j.operation_id "
	    "WHERE e.status = 'STARTED' AND e.lease_expires_at < ?1 "
	    "AND e.lease_owner IS NOT ?3 LIMIT ?2",
	[SCHED_EXEC_FINISH] =
	    "UPDATE execution SET status = ?1, response_code = ?2, "
	    "result = ?3, stopped_at = ?4, updated_at = ?4, "
	    "lease_owner = NULL, lease_expires_at = NULL "
	    "WHERE id = ?5 AND status = 'STARTED' AND "
	    "(lease_owner = ?6 OR lease_expires_at < ?4)",
	[SCHED_JOB_POLICY] = "SELECT j.current_delay_ms, "
	                     "coalesce(json_extract(j.info, '$.backoff'), "
	                     "o.backoff)" SCHED_JOB_FROM " WHERE j.id = ?1",
	[SCHED_JOB_RESCHEDULE] =
	    "UPDATE job SET current_delay_ms = ?2, due_at = CASE "
	    "WHEN status = 'EXECUTING' THEN ?3 END WHERE id = ?1",
};

/* Logs a failing step and returns -1. */
static int
sched_store_fail(struct sched_store *s, int rc, const char *step)
{
	log_warnx("event=sqlite_error step=%s rc=%d sqlite=\"%s\"", step, rc,
	    sqlite3_errmsg(s->handle));
	return -1;
}

int
sched_store_open(struct sched_store *s, sqlite3 *handle)
{
	int i, rc;

	memset(s, 0, sizeof *s);
	s->handle = handle;
	for (i = 0; i < SCHED_STMT__MAX; i++) {
		rc = sqlite3_prepare_v3(handle, sched_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			sched_store_fail(s, rc, "prepare");
			sched_store_close(s);
			return -1;
		}
	}
	return 0;
}

void
sched_store_close(struct sched_store *s)
{
	int i;

	for (i = 0; i < SCHED_STMT__MAX; i++)
		sqlite3_finalize(s->stmt[i]);
	memset(s->stmt, 0, sizeof s->stmt);
}

/* The statement, reset and with bindings cleared, ready to bind. */
static sqlite3_stmt *
sched_stmt(struct sched_store *s, enum sched_stmt id)
{
	sqlite3_reset(s->stmt[id]);
	sqlite3_clear_bindings(s->stmt[id]);
	return s->stmt[id];
}

static int
sched_begin(struct sched_store *s)
{
	int rc = sqlite3_exec(s->handle, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sched_store_fail(s, rc, "begin");
}

/* Commits, or rolls back after failed (or a failing commit). */
static int
sched_end(struct sched_store *s, int failed)
{
	int rc, i;

	for (i = 0; i < SCHED_STMT__MAX; i++)
		sqlite3_reset(s->stmt[i]);
	if (!failed) {
		rc = sqlite3_exec(s->handle, "COMMIT", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			return 0;
		sched_store_fail(s, rc, "commit");
	}
	if (!sqlite3_get_autocommit(s->handle))
		sqlite3_exec(s->handle, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* One integer from a statement that returns a single row. */
static int
sched_int_query(
    struct sched_store *s, enum sched_stmt id, int64_t *v, int64_t if_null)
{
	sqlite3_stmt *st = sched_stmt(s, id);
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return sched_store_fail(s, rc, "query");
	}
	*v = sqlite3_column_type(st, 0) == SQLITE_NULL
	         ? if_null
	         : sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int
sched_store_data_version(struct sched_store *s, int64_t *version)
{
	return sched_int_query(s, SCHED_DATA_VERSION, version, 0);
}

int
sched_store_next_due(struct sched_store *s, int64_t *due)
{
	return sched_int_query(s, SCHED_NEXT_DUE, due, INT64_MAX);
}

static char *
sched_text(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return strdup(t ? t : "");
}

void
sched_exec_free(struct sched_exec *x)
{
	free(x->type);
	free(x->definition);
	free(x->name);
	free(x->parameters);
	free(x->roles);
	x->type = x->definition = x->name = x->parameters = x->roles = NULL;
}

/* Reads the due jobs; the rows are copied out before any write, since
 * SQLite leaves it undefined whether a running SELECT sees them. */
static int
sched_claim_read(
    struct sched_store *s, int64_t now, int max, struct sched_exec *out, int *n)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_CLAIM_SELECT);
	struct sched_exec *x;
	int rc;

	if (sqlite3_bind_int64(st, 1, now) || sqlite3_bind_int(st, 2, max))
		return sched_store_fail(s, SQLITE_ERROR, "claim_bind");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		x = &out[(*n)++];
		memset(x, 0, sizeof *x);
		x->job_id = sqlite3_column_int64(st, 0);
		x->revision = sqlite3_column_int64(st, 1);
		x->ordinal = sqlite3_column_int64(st, 2);
		x->due_at = sqlite3_column_int64(st, 3);
		x->type = sched_text(st, 4);
		x->definition = sched_text(st, 5);
		x->name = sched_text(st, 6);
		x->parameters = sched_text(st, 7);
		x->roles = sched_text(st, 8);
		x->timeout_ms = sqlite3_column_int64(st, 9);
		x->started_at = now;
		x->status = EXEC_STARTED;
		if (!x->type || !x->definition || !x->name || !x->parameters ||
		    !x->roles)
			return sched_store_fail(s, SQLITE_NOMEM, "claim_copy");
	}
	return rc == SQLITE_DONE ? 0 : sched_store_fail(s, rc, "claim_select");
}

/* Writes the STARTED row of x and advances its job's last ordinal. */
static int
sched_claim_one(struct sched_store *s, const char *owner, int64_t expires,
    struct sched_exec *x)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_JOB_TAKE);
	int rc;

	if (sqlite3_bind_int64(st, 1, x->job_id) ||
	    sqlite3_bind_int64(st, 2, x->ordinal))
		return sched_store_fail(s, SQLITE_ERROR, "take_bind");
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return sched_store_fail(s, rc, "job_take");
	if (sqlite3_changes(s->handle) != 1)
		return sched_store_fail(s, SQLITE_ERROR, "job_take_changed");

	st = sched_stmt(s, SCHED_EXEC_INSERT);
	if (sqlite3_bind_int64(st, 1, x->job_id) ||
	    sqlite3_bind_int64(st, 2, x->ordinal) ||
	    sqlite3_bind_int64(st, 3, x->revision) ||
	    sqlite3_bind_text(st, 4, x->parameters, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 5, x->roles, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 6, x->due_at) ||
	    sqlite3_bind_text(st, 7, owner, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 8, expires) ||
	    sqlite3_bind_int64(st, 9, x->started_at))
		return sched_store_fail(s, SQLITE_ERROR, "insert_bind");
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return sched_store_fail(s, rc, "execution_insert");
	x->id = sqlite3_last_insert_rowid(s->handle);
	return 0;
}

int
sched_store_claim(struct sched_store *s, const char *owner, int64_t now,
    int64_t lease_ms, int max, struct sched_exec *out, int *n)
{
	int failed, i;

	*n = 0;
	if (max <= 0)
		return 0;
	if (sched_begin(s) != 0)
		return -1;
	failed = sched_claim_read(s, now, max, out, n) != 0;
	for (i = 0; !failed && i < *n; i++)
		failed = sched_claim_one(s, owner, now + lease_ms, &out[i]);
	if (sched_end(s, failed) == 0)
		return 0;
	for (i = 0; i < *n; i++)
		sched_exec_free(&out[i]);
	*n = 0;
	return -1;
}

int
sched_store_check(struct sched_store *s, int64_t id, const char *owner,
    enum sched_check *check)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_CHECK);
	const char *estatus, *lease, *jstatus;
	int rc;

	if (sqlite3_bind_int64(st, 1, id))
		return sched_store_fail(s, SQLITE_ERROR, "check_bind");
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		/* The job was deleted: its executions went with it. */
		*check = SCHED_CHECK_CANCEL;
	} else if (rc == SQLITE_ROW) {
		estatus = (const char *)sqlite3_column_text(st, 0);
		lease = (const char *)sqlite3_column_text(st, 1);
		jstatus = (const char *)sqlite3_column_text(st, 2);
		if (estatus == NULL || strcmp(estatus, "STARTED") != 0 ||
		    lease == NULL || strcmp(lease, owner) != 0)
			*check = SCHED_CHECK_LOST;
		else if (jstatus != NULL && strcmp(jstatus, "STOPPED") == 0)
			*check = SCHED_CHECK_CANCEL;
		else
			*check = SCHED_CHECK_RUN;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW
	           ? 0
	           : sched_store_fail(s, rc, "check");
}

int
sched_store_renew(struct sched_store *s, const char *owner, int64_t expires,
    const int64_t *ids, int n, int *held)
{
	sqlite3_stmt *st;
	int failed = 0, i, rc;

	if (n == 0)
		return 0;
	if (sched_begin(s) != 0)
		return -1;
	for (i = 0; !failed && i < n; i++) {
		st = sched_stmt(s, SCHED_RENEW);
		if (sqlite3_bind_int64(st, 1, expires) ||
		    sqlite3_bind_int64(st, 2, ids[i]) ||
		    sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC))
			rc = SQLITE_ERROR;
		else
			rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			failed = sched_store_fail(s, rc, "renew");
		held[i] = sqlite3_changes(s->handle) == 1;
	}
	return sched_end(s, failed);
}

int
sched_store_expired(struct sched_store *s, const char *owner, int64_t now,
    struct sched_exec *out, int max, int *n)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_EXPIRED);
	struct sched_exec *x;
	int rc;

	*n = 0;
	if (sqlite3_bind_int64(st, 1, now) || sqlite3_bind_int(st, 2, max) ||
	    sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC))
		return sched_store_fail(s, SQLITE_ERROR, "expired_bind");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		x = &out[(*n)++];
		memset(x, 0, sizeof *x);
		x->id = sqlite3_column_int64(st, 0);
		x->job_id = sqlite3_column_int64(st, 1);
		x->ordinal = sqlite3_column_int64(st, 2);
		x->revision = sqlite3_column_int64(st, 3);
		x->due_at = sqlite3_column_int64(st, 4);
		x->started_at = sqlite3_column_int64(st, 5);
		x->type = sched_text(st, 6);
		x->definition = sched_text(st, 7);
		x->name = sched_text(st, 8);
		x->status = EXEC_STARTED;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sched_store_fail(s, rc, "expired");
}

/* The job's next delay from its current one and effective backoff; a
 * backoff that does not parse keeps the delay (and is logged). */
static int
sched_next_delay(
    struct sched_store *s, int64_t job_id, int success, int64_t *delay)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_JOB_POLICY);
	struct model_field_error fe;
	json_object *obj = NULL;
	struct backoff b;
	int rc;

	if (sqlite3_bind_int64(st, 1, job_id))
		return sched_store_fail(s, SQLITE_ERROR, "policy_bind");
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		return sched_store_fail(s, rc, "policy");
	*delay = sqlite3_column_int64(st, 0);
	obj = json_tokener_parse((const char *)sqlite3_column_text(st, 1));
	if (obj != NULL &&
	    model_backoff_from_json(obj, "backoff", &b, &fe) == ERR_OK)
		*delay = success ? backoff_after_success(&b, *delay)
		                 : backoff_after_failure(&b, *delay);
	else
		log_warnx("event=bad_backoff job_id=%lld", (long long)job_id);
	json_object_put(obj);
	sqlite3_reset(st);
	return 0;
}

static int
sched_reschedule(
    struct sched_store *s, int64_t job_id, int success, int64_t stopped_at)
{
	sqlite3_stmt *st;
	int64_t delay;
	int rc;

	if (sched_next_delay(s, job_id, success, &delay) != 0)
		return -1;
	st = sched_stmt(s, SCHED_JOB_RESCHEDULE);
	if (sqlite3_bind_int64(st, 1, job_id) ||
	    sqlite3_bind_int64(st, 2, delay) ||
	    sqlite3_bind_int64(st, 3, stopped_at + delay))
		return sched_store_fail(s, SQLITE_ERROR, "reschedule_bind");
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return sched_store_fail(s, rc, "reschedule");
	return 0;
}

/* The UPDATE of the execution row; *applied says whether it matched. */
static int
sched_finish_row(struct sched_store *s, const struct sched_exec *x,
    const char *owner, const struct sched_outcome *o, int *applied)
{
	sqlite3_stmt *st = sched_stmt(s, SCHED_EXEC_FINISH);
	int rc;

	if (sqlite3_bind_text(
	        st, 1, exec_status_names[o->status], -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, o->response_code, -1, SQLITE_STATIC) ||
	    (o->result ? sqlite3_bind_text(st, 3, o->result, -1, SQLITE_STATIC)
	               : sqlite3_bind_null(st, 3)) ||
	    sqlite3_bind_int64(st, 4, o->stopped_at) ||
	    sqlite3_bind_int64(st, 5, x->id) ||
	    (owner ? sqlite3_bind_text(st, 6, owner, -1, SQLITE_STATIC)
	           : sqlite3_bind_null(st, 6)))
		return sched_store_fail(s, SQLITE_ERROR, "finish_bind");
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return sched_store_fail(s, rc, "finish");
	*applied = sqlite3_changes(s->handle) == 1;
	return 0;
}

int
sched_store_finish(struct sched_store *s, const struct sched_exec *x,
    const char *owner, const struct sched_outcome *o, int *applied)
{
	int failed;

	*applied = 0;
	if (sched_begin(s) != 0)
		return -1;
	failed = sched_finish_row(s, x, owner, o, applied) != 0;
	if (!failed && *applied)
		failed = sched_reschedule(s, x->job_id,
		             o->status == EXEC_SUCCEEDED, o->stopped_at) != 0;
	if (sched_end(s, failed) != 0) {
		*applied = 0;
		return -1;
	}
	return 0;
}
