#include <stdio.h>
#include <string.h>

#include "store.h"

/* Fields of the execution lists (documented in docs/API.md). */
static const struct query_field store_execution_fields[] = {
	{ "id", "e.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "ordinal", "e.ordinal", QUERY_INTEGER, 1, NULL, 0 },
	{ "revision", "e.revision", QUERY_INTEGER, 1, NULL, 0 },
	{ "status", "e.status", QUERY_TEXT, 1, exec_status_names,
	    EXEC_STATUS__MAX },
	{ "response_code", "e.response_code", QUERY_TEXT, 1, NULL, 0 },
	{ "created_at", "e.created_at", QUERY_TIME, 1, NULL, 0 },
	{ "started_at", "e.started_at", QUERY_TIME, 1, NULL, 0 },
	{ "stopped_at", "e.stopped_at", QUERY_TIME, 1, NULL, 0 },
	{ "updated_at", "e.updated_at", QUERY_TIME, 1, NULL, 0 },
	{ "roles", "EXISTS (SELECT 1 FROM json_each(e.roles) WHERE value",
	    QUERY_ROLES, 0, NULL, 0 },
	{ "parameters",
	    "EXISTS (SELECT 1 FROM json_each(e.parameters) WHERE key = ? AND "
	    "value",
	    QUERY_PARAMETERS, 0, NULL, 0 },
	{ "job.id", "j.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "job.info.name", "j.name", QUERY_TEXT, 1, NULL, 0 },
	{ "operation.info.type", "o.type", QUERY_TEXT, 1, op_type_names,
	    OP_TYPE__MAX },
	{ "operation.info.definition", "o.definition", QUERY_TEXT, 1, NULL, 0 },
};

static const struct query_spec store_execution_spec = {
	store_execution_fields,
	sizeof store_execution_fields / sizeof store_execution_fields[0],
	"e.id",
};

enum err
store_execution_list(struct db *db, const struct store_address *a,
    const char *const *filter4, json_object **page, char *detail, size_t len)
{
	char from[256];
	char narrow[96];
	const char *binds[3];
	int n = store_address_where(a, narrow, sizeof narrow, binds);

	snprintf(from, sizeof from, "%s WHERE 1%s", DB_EXECUTION_FROM, narrow);
	return store_list(db, &store_execution_spec, DB_EXECUTION_COLUMNS, from,
	    binds, n, filter4, store_execution_elem, page, detail, len);
}

enum err
store_execution_recent(
    struct db *db, int64_t job_id, json_object **list, char *detail, size_t len)
{
	sqlite3_stmt *st = db_stmt(db, DB_EXECUTION_RECENT);
	json_object *arr = json_object_new_array();
	enum err e = ERR_OK;
	int rc;

	*list = NULL;
	if (st == NULL || arr == NULL) {
		json_object_put(arr);
		return db_fail(db, SQLITE_NOMEM, "recent", detail, len);
	}
	rc = sqlite3_bind_int64(st, 1, job_id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *item = store_execution_elem(st, 0, NULL);

		if (item == NULL || json_object_array_add(arr, item) != 0) {
			json_object_put(item);
			e = err_set(detail, len, ERR_INTERNAL, "out of memory");
			break;
		}
		rc = SQLITE_OK;
	}
	if (e == ERR_OK && rc != SQLITE_DONE)
		e = db_fail(db, rc, "recent", detail, len);
	sqlite3_reset(st);
	if (e != ERR_OK) {
		json_object_put(arr);
		return e;
	}
	*list = arr;
	return ERR_OK;
}
