#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

#define STORE_JSON_FLAGS                                                       \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* What the job statements read besides the element. */
struct store_job_row {
	int64_t id;
	int64_t revision;
	int64_t delay_ms;
	enum job_status status;
	char *info; /* stored info text, owned */
};

/* Columns of DB_JOB_COLUMNS that the writers need. */
enum {
	COL_ID = 0,
	COL_REVISION = 1,
	COL_STATUS = 2,
	COL_INFO = 3,
	COL_DELAY = 6
};

/* The backoff in effect: the stored info always holds it, the job's own
 * or the one it inherits from its operation.  Parsed only by the writers
 * that need it, not on every read. */
static int
store_job_backoff(const char *info_text, struct backoff *b)
{
	json_object *info = json_tokener_parse(info_text);
	json_object *bj = NULL;
	int rc = -1;

	if (info != NULL && json_object_object_get_ex(info, "backoff", &bj))
		rc = model_backoff_from_json(bj, "backoff", b, NULL) == ERR_OK
		         ? 0
		         : -1;
	json_object_put(info);
	return rc;
}

static enum err
store_job_read_row(struct db *db, sqlite3_stmt *st, struct store_job_row *row,
    json_object **elem, char *detail, size_t len)
{
	const char *status = (const char *)sqlite3_column_text(st, COL_STATUS);

	row->id = sqlite3_column_int64(st, COL_ID);
	row->revision = sqlite3_column_int64(st, COL_REVISION);
	row->delay_ms = sqlite3_column_int64(st, COL_DELAY);
	row->status = (enum job_status)model_lookup(
	    job_status_names, JOB_STATUS__MAX, status ? status : "");
	row->info = strdup((const char *)sqlite3_column_text(st, COL_INFO));
	if (row->info == NULL)
		return db_fail(db, SQLITE_CORRUPT, "job_row", detail, len);
	if (elem != NULL && (*elem = store_job_elem(st, 0, NULL)) == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	return ERR_OK;
}

/* Finds the job at address a; row and elem may be NULL. */
static enum err
store_job_find(struct db *db, const struct store_address *a,
    struct store_job_row *row, json_object **elem, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_JOB_GET);
	struct store_job_row scratch;
	enum err e = ERR_OK;
	int rc;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	memset(row ? row : &scratch, 0, sizeof scratch);
	if (sqlite3_bind_text(st, 1, a->type, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, a->definition, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 3, a->name, -1, SQLITE_STATIC))
		rc = SQLITE_ERROR;
	else
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		e = store_job_read_row(
		    db, st, row ? row : &scratch, elem, detail, len);
	else if (rc == SQLITE_DONE)
		e = err_set(detail, len, ERR_JOB_NOT_FOUND,
		    "job %.255s/%.255s/%.255s does not exist", a->type,
		    a->definition, a->name);
	else
		e = db_fail(db, rc, "job_get", detail, len);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (row == NULL)
		free(scratch.info);
	return e;
}

/* Whether c ends an entry of an If-Match list. */
static int
store_etag_end(char c)
{
	return c == '\0' || c == ',' || c == ' ' || c == '\t';
}

/*
 * Reads one entity tag at *p: "3", W/"3" or 3.  Returns 0 when it is
 * malformed; else points *digits at the revision it names, *n long, and
 * moves *p past it.
 */
static int
store_etag_next(const char **p, const char **digits, size_t *n)
{
	const char *s = *p;
	int quoted;

	if (strncmp(s, "W/", 2) == 0 && *(s += 2) != '"')
		return 0;
	quoted = *s == '"';
	s += quoted;
	*digits = s;
	*n = strspn(s, "0123456789");
	s += *n;
	if (*n == 0 || (quoted && *s++ != '"') || !store_etag_end(*s))
		return 0;
	*p = s;
	return 1;
}

/*
 * Whether an If-Match value accepts revision: a bare *, or a list of
 * entity tags one of which is the revision.  A malformed list matches
 * nothing, whatever it holds besides; "*" in quotes is a tag, not the
 * wildcard (RFC 9110, 13.1.1).
 */
static int
store_if_match(const char *if_match, int64_t revision, int exists)
{
	const char *p = if_match, *digits;
	char want[32];
	size_t n;
	int entries = 0, any = 0, match = 0;

	if (if_match == NULL)
		return 1;
	if (!exists)
		return 0;
	snprintf(want, sizeof want, "%lld", (long long)revision);

	/* The whole list is read first: one bad entry spoils it all. */
	while (*(p += strspn(p, " \t,")) != '\0') {
		entries++;
		if (*p == '*' && store_etag_end(p[1])) {
			any = 1;
			p++;
			continue;
		}
		if (!store_etag_next(&p, &digits, &n))
			return 0;
		if (n == strlen(want) && memcmp(digits, want, n) == 0)
			match = 1;
	}

	/* RFC 9110: "*" stands alone; in a list it is malformed. */
	if (any)
		return entries == 1;
	return match;
}

static enum err
store_job_precondition(const char *if_match, int64_t revision, int exists,
    char *detail, size_t len)
{
	if (store_if_match(if_match, revision, exists))
		return ERR_OK;
	if (!exists)
		return err_set(detail, len, ERR_REVISION_MISMATCH,
		    "If-Match was given but the job does not exist");
	return err_set(detail, len, ERR_REVISION_MISMATCH,
	    "If-Match %.40s does not match the job's revision %lld", if_match,
	    (long long)revision);
}

/* The backoff stored in column col of an operation row; the text is
 * parsed only when it differs from the last one this connection parsed. */
static int
store_operation_backoff(
    struct db *db, sqlite3_stmt *st, int col, struct backoff *b)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_object *bj;
	char *copy;
	int rc;

	if (text == NULL)
		return -1;
	if (db->backoff_text != NULL && strcmp(db->backoff_text, text) == 0) {
		*b = db->backoff;
		return 0;
	}
	bj = json_tokener_parse(text);
	rc = model_backoff_from_json(bj, "backoff", b, NULL) == ERR_OK ? 0 : -1;
	json_object_put(bj);
	/* Without memory for the copy the next write parses again. */
	if (rc == 0 && (copy = strdup(text)) != NULL) {
		free(db->backoff_text);
		db->backoff_text = copy;
		db->backoff = *b;
	}
	return rc;
}

/* Finds the operation's id and, when op_backoff is not NULL, its
 * backoff, for a job that inherits it. */
static enum err
store_job_operation(struct db *db, const struct store_address *a,
    int64_t *op_id, struct backoff *op_backoff, char *detail, size_t len)
{
	/* op_backoff NULL: the job has its own, so skip parsing this one. */
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_GET);
	enum err e = ERR_OK;
	int rc;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	if (sqlite3_bind_text(st, 1, a->type, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, a->definition, -1, SQLITE_STATIC))
		rc = SQLITE_ERROR;
	else
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*op_id = sqlite3_column_int64(st, 0);
		if (op_backoff != NULL &&
		    store_operation_backoff(db, st, 4, op_backoff) != 0)
			e = db_fail(
			    db, SQLITE_CORRUPT, "op_backoff", detail, len);
	} else if (rc == SQLITE_DONE) {
		e = err_set(detail, len, ERR_OPERATION_NOT_FOUND,
		    "operation %.255s/%.255s does not exist", a->type,
		    a->definition);
	} else {
		e = db_fail(db, rc, "operation_get", detail, len);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return e;
}

static enum err
store_job_insert(struct db *db, int64_t op_id, const char *name,
    const char *info, const struct backoff *b, int own, char *detail,
    size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_JOB_INSERT);
	int64_t now = model_now_ms();

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	return db_run(db, st,
	    sqlite3_bind_int64(st, 1, op_id) ||
	        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) ||
	        sqlite3_bind_text(st, 3, info, -1, SQLITE_STATIC) ||
	        sqlite3_bind_int64(st, 4, b->initial_ms) ||
	        sqlite3_bind_int64(st, 5, now + b->initial_ms) ||
	        sqlite3_bind_int64(st, 6, now) ||
	        sqlite3_bind_int64(st, 7, now) || sqlite3_bind_int(st, 8, own),
	    "job_insert", detail, len);
}

/* Runs one of the role and parameter row statements: each binds its
 * text values first and the job's id last. */
static enum err
store_job_index_row(struct db *db, enum db_stmt which, const char *a,
    const char *b, int64_t job_id, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, which);
	int col = 1;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	return db_run(db, st,
	    sqlite3_bind_text(st, col++, a, -1, SQLITE_STATIC) ||
	        (b != NULL &&
	            sqlite3_bind_text(st, col++, b, -1, SQLITE_STATIC)) ||
	        sqlite3_bind_int64(st, col, job_id),
	    "job_index", detail, len);
}

/* The roles of an info, or NULL; validated info always has them. */
static json_object *
store_job_roles(json_object *info)
{
	json_object *roles = NULL;

	json_object_object_get_ex(info, "roles", &roles);
	return json_object_is_type(roles, json_type_array) ? roles : NULL;
}

/* Whether the roles array holds role. */
static int
store_has_role(json_object *roles, const char *role)
{
	size_t i, n = roles ? json_object_array_length(roles) : 0;

	for (i = 0; i < n; i++)
		if (strcmp(json_object_get_string(
		               json_object_array_get_idx(roles, i)),
		        role) == 0)
			return 1;
	return 0;
}

/* Rows for the roles of from that to lacks: deleted, or inserted. */
static enum err
store_job_roles_diff(struct db *db, enum db_stmt which, json_object *from,
    json_object *to, int64_t job_id, char *detail, size_t len)
{
	json_object *from_roles = store_job_roles(from);
	json_object *to_roles = store_job_roles(to);
	size_t i, n = from_roles ? json_object_array_length(from_roles) : 0;
	enum err e = ERR_OK;

	for (i = 0; i < n && e == ERR_OK; i++) {
		const char *role = json_object_get_string(
		    json_object_array_get_idx(from_roles, i));

		if (!store_has_role(to_roles, role))
			e = store_job_index_row(
			    db, which, role, NULL, job_id, detail, len);
	}
	return e;
}

/* Rows for the parameters of from that to lacks or holds with another
 * value: deleted, or inserted. */
static enum err
store_job_parameters_diff(struct db *db, enum db_stmt which, json_object *from,
    json_object *to, int64_t job_id, char *detail, size_t len)
{
	json_object *from_params = NULL, *to_params = NULL, *other;
	enum err e = ERR_OK;

	json_object_object_get_ex(from, "parameters", &from_params);
	json_object_object_get_ex(to, "parameters", &to_params);
	if (!json_object_is_type(from_params, json_type_object))
		return ERR_OK;
	if (!json_object_is_type(to_params, json_type_object))
		to_params = NULL;
	json_object_object_foreach(from_params, key, value)
	{
		const char *text = json_object_get_string(value);

		if (to_params != NULL &&
		    json_object_object_get_ex(to_params, key, &other) &&
		    strcmp(json_object_get_string(other), text) == 0)
			continue;
		e = store_job_index_row(
		    db, which, key, text, job_id, detail, len);
		if (e != ERR_OK)
			break;
	}
	return e;
}

/*
 * Keeps job_role and job_parameter equal to the job's info after an
 * update: old rows the new info lacks go, new ones come.  Both documents
 * are already parsed here, where the triggers this replaces (sql/003)
 * parsed them again for every row they compared.
 */
static enum err
store_job_reindex(struct db *db, int64_t job_id, json_object *old_info,
    json_object *new_info, char *detail, size_t len)
{
	enum err e;

	e = store_job_roles_diff(
	    db, DB_JOB_ROLE_DELETE, old_info, new_info, job_id, detail, len);
	if (e == ERR_OK)
		e = store_job_roles_diff(db, DB_JOB_ROLE_INSERT, new_info,
		    old_info, job_id, detail, len);
	if (e == ERR_OK)
		e = store_job_parameters_diff(db, DB_JOB_PARAMETER_DELETE,
		    old_info, new_info, job_id, detail, len);
	if (e == ERR_OK)
		e = store_job_parameters_diff(db, DB_JOB_PARAMETER_INSERT,
		    new_info, old_info, job_id, detail, len);
	return e;
}

static enum err
store_job_update_row(struct db *db, const struct store_job_row *row,
    const char *info, const struct backoff *b, int own, int64_t now,
    char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_JOB_UPDATE);

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	return db_run(db, st,
	    sqlite3_bind_text(st, 1, info, -1, SQLITE_STATIC) ||
	        sqlite3_bind_int64(st, 2, backoff_clamp(b, row->delay_ms)) ||
	        sqlite3_bind_int64(st, 3, now) ||
	        sqlite3_bind_int(st, 4, own) ||
	        sqlite3_bind_int64(st, 5, row->id),
	    "job_update", detail, len);
}

/* Replaces the info of an existing job; the revision grows only when
 * the info really changes (JSON objects are unordered: the same members
 * in another order are the same info), and the current delay is clamped
 * into the (possibly new) backoff bounds.  *updated_at is the time of
 * the change, or 0 when there was none. */
static enum err
store_job_update(struct db *db, const struct store_job_row *row,
    json_object *info_obj, const char *info, const struct backoff *b, int own,
    int64_t *updated_at, char *detail, size_t len)
{
	json_object *old = json_tokener_parse(row->info);
	int64_t now = model_now_ms();
	enum err e;

	*updated_at = 0;
	if (old == NULL)
		return db_fail(db, SQLITE_CORRUPT, "job_info", detail, len);
	if (json_object_equal(old, info_obj)) {
		json_object_put(old);
		return ERR_OK;
	}
	e = store_job_update_row(db, row, info, b, own, now, detail, len);
	if (e == ERR_OK)
		e = store_job_reindex(db, row->id, old, info_obj, detail, len);
	json_object_put(old);
	if (e == ERR_OK)
		*updated_at = now;
	return e;
}

/*
 * A job without a backoff of its own takes its operation's, written into
 * the stored info so that reading a job never needs to merge documents;
 * an operation's backoff change rewrites it (DB_OPERATION_CLAMP_JOBS).
 */
static enum err
store_job_fill_backoff(json_object *info, int has_own,
    const struct backoff *op_backoff, char *detail, size_t len)
{
	json_object *bj;

	if (has_own)
		return ERR_OK;
	bj = model_backoff_to_json(op_backoff);
	if (bj == NULL || json_object_object_add(info, "backoff", bj) != 0) {
		json_object_put(bj);
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	}
	return ERR_OK;
}

/* Inserts the job at a; its element is read back. */
static enum err
store_job_create(struct db *db, struct store_address *a, int64_t op_id,
    const char *text, const struct backoff *b, int own, const char *if_match,
    json_object **elem, int64_t *revision, char *detail, size_t len)
{
	struct store_job_row row = { 0 };
	enum err e;

	e = store_job_precondition(if_match, 0, 0, detail, len);
	if (e == ERR_OK)
		e = store_job_insert(
		    db, op_id, a->name, text, b, own, detail, len);
	if (e == ERR_OK)
		e = store_job_find(db, a, &row, elem, detail, len);
	*revision = row.revision;
	free(row.info);
	return e;
}

/*
 * Updates the job found as row, whose element (built before the update)
 * is *elem: after a change the element takes the new revision, info and
 * time, which is all an update changes in it, rather than reading the
 * job again inside the write transaction.
 */
static enum err
store_job_revise(struct db *db, const struct store_job_row *row,
    json_object *info, const char *text, const struct backoff *b, int own,
    const char *if_match, json_object *elem, int64_t *revision, char *detail,
    size_t len)
{
	int64_t updated_at = 0;
	enum err e;

	*revision = row->revision;
	e = store_job_precondition(if_match, row->revision, 1, detail, len);
	if (e == ERR_OK)
		e = store_job_update(
		    db, row, info, text, b, own, &updated_at, detail, len);
	if (e != ERR_OK || updated_at == 0)
		return e;
	*revision = row->revision + 1;
	if (store_job_elem_revise(elem, *revision, text, updated_at) != 0)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	return ERR_OK;
}

/* The job's element and revision after the put, in *elem (NULL on
 * failure) and *revision. */
static enum err
store_job_upsert(struct db *db, struct store_address *a, json_object *info,
    const char *if_match, json_object **elem, int64_t *revision, char *detail,
    size_t len)
{
	struct store_job_row row = { 0 };
	struct backoff own, op_backoff;
	const struct backoff *b;
	const char *text;
	int has_own = 0;
	int64_t op_id = 0, timeout = 0;
	enum err e;

	*elem = NULL;
	if (model_job_info_check(
	        info, &a->name, &has_own, &own, &timeout, NULL) != ERR_OK)
		return err_set(detail, len, ERR_INTERNAL, "unvalidated job");
	e = store_job_operation(
	    db, a, &op_id, has_own ? NULL : &op_backoff, detail, len);
	if (e == ERR_OK)
		e = store_job_fill_backoff(
		    info, has_own, &op_backoff, detail, len);
	if (e != ERR_OK)
		return e;
	text = json_object_to_json_string_ext(info, STORE_JSON_FLAGS);
	if (text == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	b = has_own ? &own : &op_backoff;

	e = store_job_find(db, a, &row, elem, detail, len);
	if (e == ERR_JOB_NOT_FOUND)
		e = store_job_create(db, a, op_id, text, b, has_own, if_match,
		    elem, revision, detail, len);
	else if (e == ERR_OK)
		e = store_job_revise(db, &row, info, text, b, has_own, if_match,
		    *elem, revision, detail, len);
	free(row.info);
	if (e != ERR_OK) {
		json_object_put(*elem);
		*elem = NULL;
	}
	return e;
}

enum err
store_job_put(struct db *db, const struct store_address *addr,
    json_object *info, const char *if_match, json_object **elem,
    int64_t *revision, char *detail, size_t len)
{
	struct store_address a = *addr;
	enum err e;

	*elem = NULL;
	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		return e;
	e = store_job_upsert(
	    db, &a, info, if_match, elem, revision, detail, len);
	if (e != ERR_OK) {
		db_rollback(db);
		return e;
	}
	e = db_commit(db, detail, len);
	if (e != ERR_OK) {
		json_object_put(*elem);
		*elem = NULL;
	}
	return e;
}

static enum err
store_job_with_executions(
    struct db *db, int64_t job_id, json_object *elem, char *detail, size_t len)
{
	json_object *list = NULL;
	enum err e;

	e = store_execution_recent(db, job_id, &list, detail, len);
	if (e != ERR_OK)
		return e;
	if (json_object_object_add(elem, "executions", list) != 0 ||
	    json_object_object_add(elem, "@type",
	        json_object_new_string(MODEL_JOB_DATA_TYPE)) != 0)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	return ERR_OK;
}

enum err
store_job_get(struct db *db, const struct store_address *a, int with_executions,
    json_object **elem, int64_t *revision, char *detail, size_t len)
{
	struct store_job_row row = { 0 };
	enum err e;

	/* The job and its executions come from one snapshot. */
	e = db_begin_read(db, detail, len);
	if (e != ERR_OK)
		return e;
	*elem = NULL;
	e = store_job_find(db, a, &row, elem, detail, len);
	if (e == ERR_OK && with_executions)
		e = store_job_with_executions(db, row.id, *elem, detail, len);
	db_end_read(db);
	if (e != ERR_OK) {
		json_object_put(*elem);
		*elem = NULL;
	}
	if (revision != NULL)
		*revision = row.revision;
	free(row.info);
	return e;
}

enum err
store_job_delete(struct db *db, const struct store_address *a,
    const char *if_match, json_object **elem, int64_t *revision, char *detail,
    size_t len)
{
	struct store_job_row row = { 0 };
	sqlite3_stmt *st = db_stmt(db, DB_JOB_DELETE);
	enum err e;
	int rc;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	*elem = NULL;
	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		return e;
	e = store_job_find(db, a, &row, elem, detail, len);
	if (e == ERR_OK)
		e = store_job_precondition(
		    if_match, row.revision, 1, detail, len);
	if (e == ERR_OK) {
		rc = sqlite3_bind_int64(st, 1, row.id) ? SQLITE_ERROR
		                                       : sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			e = db_fail(db, rc, "job_delete", detail, len);
	}
	free(row.info);
	*revision = row.revision;
	if (e == ERR_OK)
		e = db_commit(db, detail, len);
	else
		db_rollback(db);
	if (e != ERR_OK) {
		json_object_put(*elem);
		*elem = NULL;
	}
	return e;
}

/* Starting or resuming resets the delay to initial and makes the first
 * run due that much later; pausing and stopping unschedule the job. */
static enum err
store_job_write_status(struct db *db, const struct store_job_row *row,
    enum job_status status, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_JOB_SET_STATUS);
	int64_t now = model_now_ms();
	int executing = status == JOB_EXECUTING;
	struct backoff b = { 0, 0, 0, 1, 1 };

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	if (executing && store_job_backoff(row->info, &b) != 0)
		return db_fail(db, SQLITE_CORRUPT, "job_backoff", detail, len);
	return db_run(db, st,
	    sqlite3_bind_text(
	        st, 1, job_status_names[status], -1, SQLITE_STATIC) ||
	        sqlite3_bind_int64(
	            st, 2, executing ? b.initial_ms : row->delay_ms) ||
	        (executing ? sqlite3_bind_int64(st, 3, now + b.initial_ms)
	                   : sqlite3_bind_null(st, 3)) ||
	        sqlite3_bind_int64(st, 4, now) ||
	        sqlite3_bind_int64(st, 5, row->id),
	    "job_status", detail, len);
}

static json_object *
store_status_answer(const struct store_address *a, enum job_status before,
    enum job_status after)
{
	char *address = store_address_string(a->type, a->definition, a->name);
	json_object *o = json_object_new_object();

	if (address == NULL || o == NULL ||
	    json_object_object_add(
	        o, "address", json_object_new_string(address)) ||
	    json_object_object_add(o, "previous_status",
	        json_object_new_string(job_status_names[before])) ||
	    json_object_object_add(o, "current_status",
	        json_object_new_string(job_status_names[after]))) {
		json_object_put(o);
		o = NULL;
	}
	free(address);
	return o;
}

enum err
store_job_set_status(struct db *db, const struct store_address *a,
    enum job_status status, json_object **answer, char *detail, size_t len)
{
	struct store_job_row row = { 0 };
	enum err e;

	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		return e;
	e = store_job_find(db, a, &row, NULL, detail, len);
	if (e == ERR_OK && row.status != status)
		e = store_job_write_status(db, &row, status, detail, len);
	if (e == ERR_OK)
		e = db_commit(db, detail, len);
	else
		db_rollback(db);
	free(row.info);
	if (e != ERR_OK)
		return e;
	*answer = store_status_answer(a, row.status, status);
	if (*answer == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	return ERR_OK;
}

/* Fields of the job list (documented in docs/API.md). */
static const struct query_field store_job_fields[] = {
	{ "id", "j.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "revision", "j.revision", QUERY_INTEGER, 1, NULL, 0 },
	{ "status", "j.status", QUERY_TEXT, 1, job_status_names,
	    JOB_STATUS__MAX },
	{ "created_at", "j.created_at", QUERY_TIME, 1, NULL, 0 },
	{ "updated_at", "j.updated_at", QUERY_TIME, 1, NULL, 0 },
	{ "info.name", "j.name", QUERY_TEXT, 1, NULL, 0 },
	{ "info.timeout_in_millis",
	    "json_extract(j.info, '$.timeout_in_millis')", QUERY_INTEGER, 1,
	    NULL, 0 },
	/* job_role and job_parameter are kept from info by triggers
	 * (sql/002), so these filters are index lookups, not JSON scans.
	 * A parameter test can drive the query from its index (parameter
	 * values tend to be selective); a role test is a key lookup per
	 * candidate job (few roles, each shared by many jobs). */
	{ "info.roles",
	    "EXISTS (SELECT 1 FROM job_role WHERE job_id = j.id AND role",
	    QUERY_ROLES, 0, NULL, 0 },
	{ "info.parameters",
	    "j.id IN (SELECT job_id FROM job_parameter WHERE key = ? AND "
	    "value",
	    QUERY_PARAMETERS, 0, NULL, 0 },
	{ "operation.id", "o.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "operation.info.type", "o.type", QUERY_TEXT, 1, op_type_names,
	    OP_TYPE__MAX },
	{ "operation.info.definition", "o.definition", QUERY_TEXT, 1, NULL, 0 },
};

static const struct query_spec store_job_spec = {
	store_job_fields,
	sizeof store_job_fields / sizeof store_job_fields[0],
	"j.id",
};

/* Narrows a list to the address's fixed segments; "*" matches any. */
int
store_address_where(
    const struct store_address *a, char *where, size_t len, const char **binds)
{
	int n = 0;

	snprintf(where, len, "%s", "");
	if (a->type != NULL && strcmp(a->type, "*") != 0) {
		strncat(where, " AND o.type = ?", len - strlen(where) - 1);
		binds[n++] = a->type;
	}
	if (a->definition != NULL && strcmp(a->definition, "*") != 0) {
		strncat(
		    where, " AND o.definition = ?", len - strlen(where) - 1);
		binds[n++] = a->definition;
	}
	if (a->name != NULL && strcmp(a->name, "*") != 0) {
		strncat(where, " AND j.name = ?", len - strlen(where) - 1);
		binds[n++] = a->name;
	}
	return n;
}

enum err
store_job_list(struct db *db, const struct store_address *a,
    const char *const *filter4, json_object **page, char *detail, size_t len)
{
	char from[256];
	char narrow[96];
	const char *binds[3];
	int n = store_address_where(a, narrow, sizeof narrow, binds);

	snprintf(from, sizeof from,
	    " FROM job j JOIN operation o ON o.id = j.operation_id WHERE 1%s",
	    narrow);
	return store_list(db, &store_job_spec, DB_JOB_LIST_COLUMNS, from, binds,
	    n, filter4, store_job_list_elem, page, detail, len);
}
