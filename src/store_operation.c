#include <string.h>

#include "log.h"
#include "store.h"

#define STORE_JSON_FLAGS                                                       \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Steps the statement for one row and builds the element from it. */
static enum err
store_operation_read(struct db *db, sqlite3_stmt *st, json_object **elem,
    int64_t *id, const struct store_address *a, char *detail, size_t len)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE)
		return err_set(detail, len, ERR_OPERATION_NOT_FOUND,
		    "operation %.255s/%.255s does not exist", a->type,
		    a->definition);
	if (rc != SQLITE_ROW)
		return db_fail(db, rc, "operation_get", detail, len);
	if (id != NULL)
		*id = sqlite3_column_int64(st, 0);
	if (elem == NULL)
		return ERR_OK;
	*elem = store_operation_elem(st, 0, NULL);
	if (*elem == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	return ERR_OK;
}

/* Looks the operation up by type and definition; *elem may be NULL. */
static enum err
store_operation_find(struct db *db, const struct store_address *a,
    json_object **elem, int64_t *id, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_GET);
	enum err e;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	if (sqlite3_bind_text(st, 1, a->type, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, a->definition, -1, SQLITE_STATIC))
		e = db_fail(db, SQLITE_ERROR, "bind", detail, len);
	else
		e = store_operation_read(db, st, elem, id, a, detail, len);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return e;
}

enum err
store_operation_get(struct db *db, const struct store_address *a,
    json_object **elem, char *detail, size_t len)
{
	return store_operation_find(db, a, elem, NULL, detail, len);
}

static enum err
store_operation_by_id(struct db *db, int64_t id, json_object **elem,
    const struct store_address *a, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_GET_BY_ID);
	enum err e;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	if (sqlite3_bind_int64(st, 1, id))
		e = db_fail(db, SQLITE_ERROR, "bind", detail, len);
	else
		e = store_operation_read(db, st, elem, NULL, a, detail, len);
	sqlite3_reset(st);
	return e;
}

static enum err
store_operation_insert(struct db *db, const struct store_address *a,
    const char *info, const char *backoff, int64_t *id, char *detail,
    size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_INSERT);
	int64_t now = model_now_ms();
	enum err e;

	if (st == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	e = db_run(db, st,
	    sqlite3_bind_text(st, 1, a->type, -1, SQLITE_STATIC) ||
	        sqlite3_bind_text(st, 2, a->definition, -1, SQLITE_STATIC) ||
	        sqlite3_bind_text(st, 3, info, -1, SQLITE_STATIC) ||
	        sqlite3_bind_text(st, 4, backoff, -1, SQLITE_STATIC) ||
	        sqlite3_bind_int64(st, 5, now) ||
	        sqlite3_bind_int64(st, 6, now),
	    "operation_insert", detail, len);
	*id = sqlite3_last_insert_rowid(db->handle);
	return e;
}

/* Updates the operation; the jobs that inherit its backoff take the new
 * one into their info and clamp their current delay into its bounds. */
static enum err
store_operation_update(struct db *db, int64_t id, const char *info,
    const char *backoff_text, const struct backoff *b, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_UPDATE);
	sqlite3_stmt *clamp = db_stmt(db, DB_OPERATION_CLAMP_JOBS);
	enum err e;

	if (st == NULL || clamp == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	if (sqlite3_bind_text(st, 1, info, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(st, 2, backoff_text, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(st, 3, model_now_ms()) ||
	    sqlite3_bind_int64(st, 4, id) ||
	    sqlite3_bind_int64(clamp, 1, b->minimum_ms) ||
	    sqlite3_bind_int64(clamp, 2, b->maximum_ms) ||
	    sqlite3_bind_int64(clamp, 3, id) ||
	    sqlite3_bind_text(clamp, 4, backoff_text, -1, SQLITE_STATIC) ||
	    sqlite3_bind_int64(clamp, 5, model_now_ms())) {
		db_reset_all(db);
		return db_fail(db, SQLITE_ERROR, "bind", detail, len);
	}
	e = db_run(db, st, SQLITE_OK, "operation_update", detail, len);
	if (e == ERR_OK)
		e = db_run(
		    db, clamp, SQLITE_OK, "operation_clamp", detail, len);
	else
		db_reset_all(db);
	return e;
}

enum err
store_operation_put(struct db *db, const struct conf *conf, json_object *info,
    json_object **elem, char *detail, size_t len)
{
	struct store_address a = { 0 };
	struct backoff b;
	enum op_type type;
	json_object *bj = NULL;
	int has_backoff = 0;
	int64_t id = 0;
	enum err e;

	if (model_operation_info_check(
	        info, &type, &a.definition, &has_backoff, &b, NULL) != ERR_OK)
		return err_set(
		    detail, len, ERR_INTERNAL, "unvalidated operation info");
	a.type = op_type_names[type];
	if (!has_backoff)
		b = conf->backoff[type];
	bj = model_backoff_to_json(&b);
	if (bj == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");

	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		goto out;
	e = store_operation_find(db, &a, NULL, &id, detail, len);
	if (e == ERR_OPERATION_NOT_FOUND)
		e = store_operation_insert(db, &a,
		    json_object_to_json_string_ext(info, STORE_JSON_FLAGS),
		    json_object_to_json_string_ext(bj, STORE_JSON_FLAGS), &id,
		    detail, len);
	else if (e == ERR_OK)
		e = store_operation_update(db, id,
		    json_object_to_json_string_ext(info, STORE_JSON_FLAGS),
		    json_object_to_json_string_ext(bj, STORE_JSON_FLAGS), &b,
		    detail, len);
	if (e == ERR_OK)
		e = store_operation_by_id(db, id, elem, &a, detail, len);
	if (e == ERR_OK)
		e = db_commit(db, detail, len);
	else
		db_rollback(db);
out:
	json_object_put(bj);
	return e;
}

enum err
store_operation_delete(struct db *db, const struct store_address *a,
    json_object **elem, char *detail, size_t len)
{
	sqlite3_stmt *has = db_stmt(db, DB_OPERATION_HAS_JOBS);
	sqlite3_stmt *del = db_stmt(db, DB_OPERATION_DELETE);
	int64_t id = 0;
	enum err e;

	if (has == NULL || del == NULL)
		return db_fail(db, SQLITE_ERROR, "prepare", detail, len);
	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		return e;
	e = store_operation_find(db, a, elem, &id, detail, len);
	if (e != ERR_OK)
		goto fail;
	if (sqlite3_bind_int64(has, 1, id) || sqlite3_step(has) != SQLITE_ROW) {
		e = db_fail(
		    db, sqlite3_errcode(db->handle), "has_jobs", detail, len);
		goto fail;
	}
	if (sqlite3_column_int(has, 0)) {
		e = err_set(detail, len, ERR_OPERATION_HAS_JOBS,
		    "operation %.255s/%.255s still has jobs; delete them "
		    "first",
		    a->type, a->definition);
		goto fail;
	}
	sqlite3_reset(has);
	e = db_run(db, del, sqlite3_bind_int64(del, 1, id), "operation_delete",
	    detail, len);
	if (e != ERR_OK)
		goto fail;
	return db_commit(db, detail, len);
fail:
	db_reset_all(db);
	db_rollback(db);
	if (elem != NULL) {
		json_object_put(*elem);
		*elem = NULL;
	}
	return e;
}

/* Fields of the operation list (documented in docs/API.md). */
static const struct query_field store_operation_fields[] = {
	{ "id", "o.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "info.type", "o.type", QUERY_TEXT, 1, op_type_names, OP_TYPE__MAX },
	{ "info.definition", "o.definition", QUERY_TEXT, 1, NULL, 0 },
	{ "created_at", "o.created_at", QUERY_TIME, 1, NULL, 0 },
	{ "updated_at", "o.updated_at", QUERY_TIME, 1, NULL, 0 },
};

static const struct query_spec store_operation_spec = {
	store_operation_fields,
	sizeof store_operation_fields / sizeof store_operation_fields[0],
	"o.id",
};

enum err
store_operation_list(struct db *db, const char *const *filter4,
    json_object **page, char *detail, size_t len)
{
	return store_list(db, &store_operation_spec, DB_OPERATION_COLUMNS,
	    " FROM operation o WHERE 1", NULL, 0, filter4, store_operation_elem,
	    page, detail, len);
}
