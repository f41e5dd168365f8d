/*
 * The registry of built-in executors, looked up by (type, definition)
 * before the handlers directory.  Adding one is one entry in the table.
 */
#include <stddef.h>
#include <string.h>

#include "exec.h"
#include "exec_sqlite.h"

static const struct exec_builtin exec_builtins[] = {
	{ "REPORT", "sql", exec_report_sql, exec_sqlite_codes, XS__MAX, NULL },
	{ "RECONCILE", "sql", exec_reconcile_sql, exec_sqlite_codes, XS__MAX,
	    "MATCHED" },
	{ "REPLICATE", "sqlite-backup", exec_replicate_backup,
	    exec_sqlite_codes, XS__MAX, NULL },
	{ "VALIDATE", "sqlite-check", exec_validate_check, exec_sqlite_codes,
	    XS__MAX, NULL },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};

const struct exec_builtin *
exec_builtin_find(const char *type, const char *definition)
{
	const struct exec_builtin *b;

	for (b = exec_builtins; b->type != NULL; b++)
		if (strcmp(b->type, type) == 0 &&
		    strcmp(b->definition, definition) == 0)
			return b;
	return NULL;
}

int
exec_builtin_list(const char *type, json_object *array)
{
	const struct exec_builtin *b;
	json_object *s;

	for (b = exec_builtins; b->type != NULL; b++) {
		if (strcmp(b->type, type) != 0)
			continue;
		if ((s = json_object_new_string(b->definition)) == NULL)
			return -1;
		if (json_object_array_add(array, s) != 0) {
			json_object_put(s);
			return -1;
		}
	}
	return 0;
}
