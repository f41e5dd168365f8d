/*
 * VALIDATE/sqlite-check: PRAGMA integrity_check (or quick_check),
 * PRAGMA foreign_key_check, and assertion queries (parameters
 * "assert.NAME") that must return no rows.  Each check is listed with
 * up to limit offending rows.
 */
#include <stdio.h>
#include <string.h>

#include "exec_sqlite.h"

#define ASSERT_PREFIX "assert."

/* What one validation run holds. */
struct validate {
	const struct conf_place *src;
	sqlite3 *db;
	int64_t limit;
	json_object *checks, *failed;
};

/* One check: the columns, the first rows and the count of all of them. */
struct check {
	const char *name;
	sqlite3_stmt *st;
	int integrity; /* a single "ok" row passes */
	int64_t count;
	json_object *rows;
	int ok_row;
};

/* Reads every row of c->st; keeps up to the limit. */
static int
check_rows(struct xjob *j, struct validate *v, struct check *c)
{
	const unsigned char *text;
	json_object *row;
	int step;

	while ((step = xjob_step(j, c->st, c->name)) == 1) {
		text = sqlite3_column_text(c->st, 0);
		if (c->integrity && c->count == 0 && text != NULL &&
		    strcmp((const char *)text, "ok") == 0)
			c->ok_row = 1;
		c->count++;
		if (c->count > v->limit)
			continue;
		row = xjob_row(c->st);
		if (row == NULL || json_object_array_add(c->rows, row) != 0) {
			json_object_put(row);
			return xjob_fail(j, XS_INTERNAL, "out of memory");
		}
	}
	return step == 0 ? XS_OK : XS_SQL_ERROR;
}

/* Adds the entry of check c to result.checks, and its name to failed. */
static int
check_report(struct xjob *j, struct validate *v, struct check *c)
{
	int passed = c->integrity ? c->ok_row && c->count == 1 : c->count == 0;
	json_object *o = json_object_new_object();
	int rc;

	/* A passing integrity check says "ok"; nothing to list. */
	if (passed && c->integrity)
		json_object_array_del_idx(
		    c->rows, 0, json_object_array_length(c->rows));
	if ((rc = xjob_put(j, o, "name", json_object_new_string(c->name))) ||
	    (rc = xjob_put(j, o, "passed", json_object_new_boolean(passed))) ||
	    (rc = xjob_put(j, o, "count",
	         json_object_new_int64(passed ? 0 : c->count))) ||
	    (rc = xjob_put(j, o, "columns", xjob_columns(c->st))) ||
	    (rc = xjob_put(j, o, "rows", json_object_get(c->rows))) ||
	    (rc = xjob_put(j, o, "truncated",
	         json_object_new_boolean(c->count > v->limit && !passed)))) {
		json_object_put(o);
		return rc;
	}
	if (json_object_array_add(v->checks, o) != 0) {
		json_object_put(o);
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	}
	if (!passed &&
	    json_object_array_add(v->failed, json_object_new_string(c->name)))
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	return XS_OK;
}

/* Runs one check with the statement sql. */
static int
validate_one(struct xjob *j, struct validate *v, const char *name,
    const char *sql, int integrity)
{
	struct check c;
	int rc;

	memset(&c, 0, sizeof c);
	c.name = name;
	c.integrity = integrity;
	if ((c.rows = json_object_new_array()) == NULL)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	rc = xjob_prepare(j, v->db, sql, name, &c.st);
	if (rc == XS_OK)
		rc = check_rows(j, v, &c);
	if (rc == XS_OK)
		rc = check_report(j, v, &c);
	sqlite3_finalize(c.st);
	json_object_put(c.rows);
	return rc;
}

/* The assertions, in the order of the parameters. */
static int
validate_assertions(struct xjob *j, struct validate *v)
{
	const char *sql;
	int rc;

	if (j->in->parameters == NULL)
		return XS_OK;
	json_object_object_foreach(j->in->parameters, key, val)
	{
		if (strncmp(key, ASSERT_PREFIX, strlen(ASSERT_PREFIX)) != 0)
			continue;
		if (key[strlen(ASSERT_PREFIX)] == '\0' ||
		    !json_object_is_type(val, json_type_string))
			return xjob_fail(j, XS_BAD_PARAMETERS,
			    "parameter \"%s\" needs a name after \"%s\"", key,
			    ASSERT_PREFIX);
		sql = json_object_get_string(val);
		if ((rc = validate_one(j, v, key, sql, 0)) != XS_OK)
			return rc;
	}
	return XS_OK;
}

/* Which integrity pragma, from the check parameter. */
static int
validate_mode(struct xjob *j, const char **sql)
{
	const char *mode = xjob_param(j, "check");

	*sql = "PRAGMA integrity_check";
	if (mode == NULL || strcmp(mode, "integrity") == 0)
		return XS_OK;
	if (strcmp(mode, "quick") == 0) {
		*sql = "PRAGMA quick_check";
		return XS_OK;
	}
	if (strcmp(mode, "none") == 0) {
		*sql = NULL;
		return XS_OK;
	}
	return xjob_fail(j, XS_BAD_PARAMETERS,
	    "parameter \"check\" must be integrity, quick or none");
}

/* Whether to run foreign_key_check, from the foreign_keys parameter. */
static int
validate_fk(struct xjob *j, int *on)
{
	const char *s = xjob_param(j, "foreign_keys");

	*on = 1;
	if (s == NULL || strcmp(s, "true") == 0)
		return XS_OK;
	if (strcmp(s, "false") == 0) {
		*on = 0;
		return XS_OK;
	}
	return xjob_fail(j, XS_BAD_PARAMETERS,
	    "parameter \"foreign_keys\" must be true or false");
}

static int
validate_run(struct xjob *j, struct validate *v)
{
	static const char *const known[] = { "source", "check", "foreign_keys",
		"limit", NULL };
	const char *integrity;
	int rc, fk;
	if ((rc = xjob_check_params(j, known, ASSERT_PREFIX)) != XS_OK)
		return rc;

	if ((rc = xjob_place(j, 0, "source", &v->src)) != XS_OK ||
	    (rc = xjob_param_int(j, "limit", 20, 0, 1000, &v->limit)) ||
	    (rc = validate_mode(j, &integrity)) || (rc = validate_fk(j, &fk)))
		return rc;
	if ((v->checks = json_object_new_array()) == NULL ||
	    (v->failed = json_object_new_array()) == NULL)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	if ((rc = xjob_open(j, v->src, &v->db)) != XS_OK)
		return rc;

	if (integrity != NULL &&
	    (rc = validate_one(j, v, integrity + 7, integrity, 1)) != XS_OK)
		return rc;
	if (fk && (rc = validate_one(j, v, "foreign_key_check",
	               "PRAGMA foreign_key_check", 0)) != XS_OK)
		return rc;
	if ((rc = validate_assertions(j, v)) != XS_OK)
		return rc;

	if ((rc = xjob_put(j, j->result, "source",
	         json_object_new_string(v->src->name))) ||
	    (rc = xjob_put(j, j->result, "passed",
	         json_object_new_boolean(
	             json_object_array_length(v->failed) == 0))) ||
	    (rc = xjob_put(
	         j, j->result, "failed", json_object_get(v->failed))) ||
	    (rc = xjob_put(j, j->result, "checks", json_object_get(v->checks))))
		return rc;
	return json_object_array_length(v->failed) == 0 ? XS_OK
	                                                : XS_CHECK_FAILED;
}

int
exec_validate_check(const struct exec_input *in)
{
	struct validate v;
	struct xjob j;
	int rc;

	memset(&v, 0, sizeof v);
	xjob_init(&j, in);
	rc = j.result ? validate_run(&j, &v) : XS_INTERNAL;

	json_object_put(v.checks);
	json_object_put(v.failed);
	sqlite3_close(v.db);
	return xjob_finish(&j, rc);
}
