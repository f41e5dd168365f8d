/*
 * The built-in executors run in this process with standard output
 * redirected to a file: REPORT/sql with its CSV file, RECONCILE/sql,
 * REPLICATE/sqlite-backup, VALIDATE/sqlite-check, and what they refuse.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exec.h"
#include "exec_sqlite.h"

/* A source "books" (roles audit, reporting), a source "secret" (role
 * boss) and a target "out" (role reporting), in a temporary directory. */
struct fixture {
	char dir[64];
	char db[128];
	char outdir[128];
	struct conf conf;
	struct conf_place sources[2], targets[1];
	char *src_roles[2], *boss_roles[1], *out_roles[1];
};

static struct fixture fx;

static const char *const books_sql =
    "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT);"
    "CREATE TABLE invoice(id INTEGER PRIMARY KEY, customer_id INTEGER "
    "  REFERENCES customer(id), total REAL, note TEXT);"
    "CREATE TABLE line(invoice_id INTEGER REFERENCES invoice(id), "
    "  amount REAL);"
    "INSERT INTO customer VALUES (1, 'Ada'), (2, 'Bob, \"the\" builder');"
    "INSERT INTO invoice VALUES (1, 1, 10.5, 'plain'),"
    "  (2, 1, 3.25, 'comma, here'), (3, 2, 7, 'line\nbreak'),"
    "  (4, 2, 1, NULL);"
    "INSERT INTO line VALUES (1, 10.5), (2, 3.0), (2, 0.25), (3, 7),"
    "  (4, 2);";

static void
fx_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int
setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof fx);
	snprintf(fx.dir, sizeof fx.dir, "/tmp/ledgerops-xb-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.db, sizeof fx.db, "%s/books.db", fx.dir);
	snprintf(fx.outdir, sizeof fx.outdir, "%s/out", fx.dir);
	if (mkdir(fx.outdir, 0755) != 0)
		return -1;
	fx_exec(fx.db, books_sql);

	fx.src_roles[0] = "audit";
	fx.src_roles[1] = "reporting";
	fx.boss_roles[0] = "boss";
	fx.out_roles[0] = "reporting";
	fx.sources[0] = (struct conf_place){ "books", fx.db, fx.src_roles, 2 };
	fx.sources[1] =
	    (struct conf_place){ "secret", fx.db, fx.boss_roles, 1 };
	fx.targets[0] =
	    (struct conf_place){ "out", fx.outdir, fx.out_roles, 1 };
	fx.conf.sources = fx.sources;
	fx.conf.nsources = 2;
	fx.conf.targets = fx.targets;
	fx.conf.ntargets = 1;
	fx.conf.busy_timeout_ms = 1000;
	fx.conf.output_limit_bytes = 65536;
	fx.conf.report_row_limit = 1000;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The input of execution 7 of REPORT/sql/monthly revenue. */
static void
input_for(struct exec_input *in, json_object *params, json_object *roles)
{
	memset(in, 0, sizeof *in);
	in->type = "REPORT";
	in->definition = "sql";
	in->name = "monthly revenue";
	in->address = "REPORT/sql/monthly%20revenue";
	in->ordinal = 7;
	in->parameters = params;
	in->roles = roles;
	in->json = "{}";
	in->conf = &fx.conf;
}

/* Runs fn with params (JSON text) and roles, stdout caught; returns the
 * parsed result and the status in *status. */
static json_object *
run(int (*fn)(const struct exec_input *), const char *params, const char *roles,
    int *status)
{
	struct exec_input in;
	json_object *p = json_tokener_parse(params);
	json_object *r = json_tokener_parse(roles), *out;
	FILE *tmp = tmpfile();
	char buf[200000];
	size_t n;
	int saved;

	assert_non_null(p);
	assert_non_null(r);
	assert_non_null(tmp);
	input_for(&in, p, r);

	fflush(stdout);
	saved = dup(1);
	assert_true(dup2(fileno(tmp), 1) == 1);
	*status = fn(&in);
	fflush(stdout);
	assert_true(dup2(saved, 1) == 1);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof buf - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	json_object_put(p);
	json_object_put(r);
	out = json_tokener_parse(buf);
	if (out == NULL)
		fail_msg("not JSON: %s", buf);
	return out;
}

static json_object *
get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no %s in %s", key, json_object_to_json_string(o));
	return v;
}

static int64_t
get_int(json_object *o, const char *key)
{
	return json_object_get_int64(get(o, key));
}

static const char *
get_str(json_object *o, const char *key)
{
	return json_object_get_string(get(o, key));
}

static void
test_exec_builtin_registry(void **state)
{
	const struct exec_builtin *b;
	struct exec_child c;
	char code[32];

	(void)state;
	b = exec_builtin_find("RECONCILE", "sql");
	assert_non_null(b);
	memset(&c, 0, sizeof c);
	c.wstatus = 0;
	exec_response_code(&c, b, code, sizeof code);
	assert_string_equal(code, "MATCHED");
	c.wstatus = XS_MISMATCH << 8;
	exec_response_code(&c, b, code, sizeof code);
	assert_string_equal(code, "MISMATCH");
	b = exec_builtin_find("REPORT", "sql");
	assert_non_null(b);
	c.wstatus = 0;
	exec_response_code(&c, b, code, sizeof code);
	assert_string_equal(code, "0");
	c.wstatus = XS_FORBIDDEN << 8;
	exec_response_code(&c, b, code, sizeof code);
	assert_string_equal(code, "FORBIDDEN");
	assert_non_null(exec_builtin_find("REPLICATE", "sqlite-backup"));
	assert_non_null(exec_builtin_find("VALIDATE", "sqlite-check"));
	assert_null(exec_builtin_find("VALIDATE", "sql"));
}

static void
test_exec_builtin_file_name(void **state)
{
	struct exec_input in;
	char out[64];

	(void)state;
	memset(&in, 0, sizeof in);
	in.address = "REPORT/sql/a%20b..c$";
	in.ordinal = 12;
	xjob_file_name(&in, ".csv", out, sizeof out);
	assert_string_equal(out, "REPORT_sql_a_20b..c_.12.csv");
	in.address = "..x";
	xjob_file_name(&in, ".csv", out, sizeof out);
	assert_string_equal(out, "__x.12.csv");
}

static void
test_exec_builtin_report_rows(void **state)
{
	json_object *res, *rows;
	int st;

	(void)state;
	res = run(exec_report_sql,
	    "{\"source\": \"books\", \"row_limit\": \"2\", \"query\": "
	    "\"SELECT id, total, note FROM invoice ORDER BY id;\"}",
	    "[\"reporting\"]", &st);
	assert_int_equal(st, XS_OK);
	assert_int_equal(get_int(res, "row_count"), 4);
	assert_int_equal(get_int(res, "row_limit"), 2);
	assert_true(json_object_get_boolean(get(res, "truncated")));
	rows = get(res, "rows");
	assert_int_equal(json_object_array_length(rows), 2);
	assert_string_equal(
	    json_object_to_json_string_ext(rows, JSON_C_TO_STRING_PLAIN),
	    "[[1,10.5,\"plain\"],[2,3.25,\"comma, here\"]]");
	assert_string_equal(json_object_to_json_string_ext(
	                        get(res, "columns"), JSON_C_TO_STRING_PLAIN),
	    "[\"id\",\"total\",\"note\"]");
	json_object_put(res);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
test_exec_builtin_report_csv(void **state)
{
	json_object *res, *csv;
	char path[256];
	size_t len;
	char *text;
	int st;

	(void)state;
	res = run(exec_report_sql,
	    "{\"source\": \"books\", \"target\": \"out\", \"query\": "
	    "\"SELECT i.id, c.name, i.note, x'00ff' AS b FROM invoice i "
	    "JOIN customer c ON c.id = i.customer_id ORDER BY i.id\"}",
	    "[\"x\", \"reporting\"]", &st);
	assert_int_equal(st, XS_OK);
	csv = get(res, "csv");
	assert_string_equal(get_str(csv, "target"), "out");
	assert_string_equal(
	    get_str(csv, "file"), "REPORT_sql_monthly_20revenue.7.csv");
	snprintf(path, sizeof path, "%s/%s", fx.outdir, get_str(csv, "file"));
	text = slurp(path, &len);
	assert_int_equal((int64_t)len, get_int(csv, "bytes"));
	assert_string_equal(text,
	    "id,name,note,b\r\n"
	    "1,Ada,plain,00ff\r\n"
	    "2,Ada,\"comma, here\",00ff\r\n"
	    "3,\"Bob, \"\"the\"\" builder\",\"line\nbreak\",00ff\r\n"
	    "4,\"Bob, \"\"the\"\" builder\",,00ff\r\n");
	free(text);
	json_object_put(res);
}

/* Statements a report must refuse, and the code for each. */
static const struct {
	const char *query;
	int status;
} refused[] = {
	{ "SELECT 1; SELECT 2", XS_REFUSED },
	{ "SELECT 1; DELETE FROM invoice", XS_REFUSED },
	{ "DELETE FROM invoice", XS_REFUSED },
	{ "UPDATE invoice SET total = 0", XS_REFUSED },
	{ "ATTACH '/tmp/ledgerops-xb-attach.db' AS x", XS_REFUSED },
	{ "PRAGMA user_version = 5", XS_REFUSED },
	{ "PRAGMA query_only = 0", XS_REFUSED },
	{ "PRAGMA journal_mode = WAL", XS_REFUSED },
	{ "VACUUM INTO '/tmp/ledgerops-xb-vacuum.db'", XS_REFUSED },
	{ "CREATE TEMP TABLE t(x)", XS_REFUSED },
	{ "BEGIN", XS_REFUSED },
	{ "  -- nothing", XS_REFUSED },
	{ "SELECT load_extension('x')", XS_REFUSED },
	/* Reads, then overwrites, a pointer inside SQLite. */
	{ "SELECT fts3_tokenizer('simple')", XS_REFUSED },
	{ "SELECT fts3_tokenizer('simple', x'4141414141414141')", XS_REFUSED },
	{ "SELEC 1", XS_SQL_ERROR },
};

static void
test_exec_builtin_report_refused(void **state)
{
	json_object *params, *res;
	size_t i, before_len, after_len;
	char *before, *after;
	int st;

	(void)state;
	before = slurp(fx.db, &before_len);
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		params = json_object_new_object();
		json_object_object_add(
		    params, "source", json_object_new_string("books"));
		json_object_object_add(
		    params, "query", json_object_new_string(refused[i].query));
		res = run(exec_report_sql, json_object_to_json_string(params),
		    "[\"audit\"]", &st);
		if (st != refused[i].status)
			fail_msg("%s: %d %s", refused[i].query, st,
			    json_object_to_json_string(res));
		assert_non_null(strstr(get_str(res, "error"), "query"));
		json_object_put(res);
		json_object_put(params);
	}
	after = slurp(fx.db, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	assert_int_equal(access("/tmp/ledgerops-xb-vacuum.db", F_OK), -1);
	assert_int_equal(access("/tmp/ledgerops-xb-attach.db", F_OK), -1);
	free(before);
	free(after);
}

static const struct {
	const char *params;
	const char *roles;
	int status;
	const char *error;
} bad[] = {
	{ "{\"query\": \"SELECT 1\"}", "[\"audit\"]", XS_BAD_PARAMETERS,
	    "missing parameter \"source\"" },
	{ "{\"source\": \"books\"}", "[\"audit\"]", XS_BAD_PARAMETERS,
	    "missing parameter \"query\"" },
	{ "{\"source\": \"nope\", \"query\": \"SELECT 1\"}", "[\"audit\"]",
	    XS_BAD_PARAMETERS, "no source named \"nope\"" },
	{ "{\"source\": \"books\", \"query\": \"SELECT 1\", \"x\": \"1\"}",
	    "[\"audit\"]", XS_BAD_PARAMETERS, "unknown parameter \"x\"" },
	{ "{\"source\": \"books\", \"query\": \"SELECT 1\", "
	  "\"row_limit\": \"1001\"}",
	    "[\"audit\"]", XS_BAD_PARAMETERS, "row_limit" },
	{ "{\"source\": \"secret\", \"query\": \"SELECT 1\"}", "[\"audit\"]",
	    XS_FORBIDDEN, "source \"secret\"" },
	{ "{\"source\": \"books\", \"query\": \"SELECT 1\"}", "[]",
	    XS_FORBIDDEN, "source \"books\"" },
	{ "{\"source\": \"books\", \"query\": \"SELECT 1\", "
	  "\"target\": \"out\"}",
	    "[\"audit\"]", XS_FORBIDDEN, "target \"out\"" },
};

static void
test_exec_builtin_report_bad(void **state)
{
	json_object *res;
	size_t i;
	int st;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		res = run(exec_report_sql, bad[i].params, bad[i].roles, &st);
		assert_int_equal(st, bad[i].status);
		if (strstr(get_str(res, "error"), bad[i].error) == NULL)
			fail_msg(
			    "%s: %s", bad[i].params, get_str(res, "error"));
		assert_null(strstr(get_str(res, "error"), fx.db));
		json_object_put(res);
	}
}

static void
test_exec_builtin_report_output_limit(void **state)
{
	json_object *res;
	int st;

	(void)state;
	fx.conf.output_limit_bytes = 2000;
	res = run(exec_report_sql,
	    "{\"source\": \"books\", \"query\": \"WITH RECURSIVE n(i) AS "
	    "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
	    "SELECT i, 'some text' FROM n\"}",
	    "[\"audit\"]", &st);
	fx.conf.output_limit_bytes = 65536;
	assert_int_equal(st, XS_OK);
	assert_int_equal(get_int(res, "row_count"), 500);
	assert_true(json_object_get_boolean(get(res, "truncated")));
	assert_string_equal(get_str(res, "truncated_by"), "output_limit_bytes");
	assert_true(json_object_array_length(get(res, "rows")) > 10);
	assert_true(json_object_array_length(get(res, "rows")) < 500);
	assert_true(strlen(json_object_to_json_string_ext(
	                res, JSON_C_TO_STRING_PLAIN)) < 2000);
	json_object_put(res);
}

static void
test_exec_builtin_reconcile(void **state)
{
	json_object *res, *d;
	int st;

	(void)state;
	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"left_query\": \"SELECT id, total "
	    "FROM invoice\", \"right_query\": \"SELECT invoice_id, sum(amount) "
	    "FROM line GROUP BY 1\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_MISMATCH);
	assert_int_equal(get_int(res, "matched"), 3);
	assert_int_equal(get_int(res, "differing"), 1);
	assert_int_equal(get_int(res, "missing_left"), 0);
	d = json_object_array_get_idx(get(res, "differing_rows"), 0);
	assert_int_equal(get_int(d, "key"), 4);
	assert_string_equal(
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN),
	    "{\"key\":4,\"left\":{\"total\":1.0},\"right\":{\"sum(amount)\":"
	    "2.0},\"columns\":[\"total\"]}");
	json_object_put(res);

	/* Within the tolerance, with a key missing on each side and one
	 * repeated. */
	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"right_source\": \"books\", "
	    "\"tolerance\": \"1\", \"left_query\": \"SELECT id, total FROM "
	    "invoice WHERE id < 4 UNION ALL SELECT 9, 0\", \"right_query\": "
	    "\"SELECT invoice_id, sum(amount) FROM line GROUP BY 1 UNION ALL "
	    "SELECT 1, 10.5\"}",
	    "[\"reporting\"]", &st);
	assert_int_equal(st, XS_MISMATCH);
	assert_int_equal(get_int(res, "matched"), 3);
	assert_int_equal(get_int(res, "missing_left"), 1);
	assert_int_equal(get_int(res, "missing_right"), 1);
	assert_int_equal(get_int(res, "duplicates"), 1);
	assert_int_equal(
	    get_int(json_object_array_get_idx(get(res, "missing_left_rows"), 0),
	        "key"),
	    4);
	assert_int_equal(get_int(json_object_array_get_idx(
	                             get(res, "missing_right_rows"), 0),
	                     "key"),
	    9);
	json_object_put(res);

	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"tolerance\": \"0.001\", "
	    "\"left_query\": \"SELECT id, total FROM invoice WHERE id < 4\", "
	    "\"right_query\": \"SELECT invoice_id, sum(amount) FROM line "
	    "WHERE invoice_id < 4 GROUP BY 1\"}",
	    "[\"reporting\"]", &st);
	assert_int_equal(st, XS_OK);
	assert_int_equal(get_int(res, "matched"), 3);
	json_object_put(res);
}

static void
test_exec_builtin_reconcile_bad(void **state)
{
	json_object *res;
	int st;

	(void)state;
	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"left_query\": \"SELECT 1, 2\", "
	    "\"right_query\": \"SELECT 1\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_BAD_PARAMETERS);
	json_object_put(res);
	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"left_query\": \"SELECT 1, 2\", "
	    "\"right_source\": \"secret\", \"right_query\": \"SELECT 1, 2\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_FORBIDDEN);
	json_object_put(res);
	res = run(exec_reconcile_sql,
	    "{\"left_source\": \"books\", \"left_query\": \"SELECT 1, 2\", "
	    "\"right_query\": \"SELECT 1, 2; DROP TABLE line\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_REFUSED);
	json_object_put(res);
}

static void
test_exec_builtin_replicate(void **state)
{
	json_object *res;
	char path[256];
	sqlite3 *db;
	sqlite3_stmt *s;
	int st;

	(void)state;
	res = run(exec_replicate_backup,
	    "{\"source\": \"books\", \"target\": \"out\", "
	    "\"pages_per_step\": \"1\", \"file_name\": \"books-copy.db\"}",
	    "[\"reporting\"]", &st);
	assert_int_equal(st, XS_OK);
	assert_string_equal(get_str(res, "file"), "books-copy.db");
	assert_true(get_int(res, "pages") >= 4);
	assert_int_equal(get_int(res, "bytes"),
	    get_int(res, "pages") * get_int(res, "page_size"));
	assert_true(get_int(res, "steps") >= get_int(res, "pages"));
	snprintf(path, sizeof path, "%s/books-copy.db", fx.outdir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM line", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 5);
	sqlite3_finalize(s);
	sqlite3_close(db);
	json_object_put(res);

	res = run(exec_replicate_backup,
	    "{\"source\": \"books\", \"target\": \"out\", "
	    "\"file_name\": \"../escape.db\"}",
	    "[\"reporting\"]", &st);
	assert_int_equal(st, XS_BAD_PARAMETERS);
	json_object_put(res);
	res = run(exec_replicate_backup,
	    "{\"source\": \"books\", \"target\": \"out\"}", "[\"audit\"]", &st);
	assert_int_equal(st, XS_FORBIDDEN);
	json_object_put(res);
}

static void
test_exec_builtin_validate(void **state)
{
	json_object *res, *checks, *fk;
	int st;

	(void)state;
	res = run(
	    exec_validate_check, "{\"source\": \"books\"}", "[\"audit\"]", &st);
	assert_int_equal(st, XS_OK);
	assert_true(json_object_get_boolean(get(res, "passed")));
	checks = get(res, "checks");
	assert_int_equal(json_object_array_length(checks), 2);
	assert_string_equal(
	    get_str(json_object_array_get_idx(checks, 0), "name"),
	    "integrity_check");
	json_object_put(res);

	fx_exec(fx.db, "INSERT INTO line VALUES (99, 1), (98, 2)");
	res = run(exec_validate_check,
	    "{\"source\": \"books\", \"check\": \"quick\", \"limit\": \"1\", "
	    "\"assert.positive\": \"SELECT id FROM invoice WHERE total <= 0\","
	    "\"assert.small\": \"SELECT id FROM invoice WHERE total > 10\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_CHECK_FAILED);
	assert_string_equal(json_object_to_json_string_ext(
	                        get(res, "failed"), JSON_C_TO_STRING_PLAIN),
	    "[\"foreign_key_check\",\"assert.small\"]");
	checks = get(res, "checks");
	assert_string_equal(
	    get_str(json_object_array_get_idx(checks, 0), "name"),
	    "quick_check");
	fk = json_object_array_get_idx(checks, 1);
	assert_int_equal(get_int(fk, "count"), 2);
	assert_int_equal(json_object_array_length(get(fk, "rows")), 1);
	assert_true(json_object_get_boolean(get(fk, "truncated")));
	assert_string_equal(
	    json_object_get_string(json_object_array_get_idx(
	        json_object_array_get_idx(get(fk, "rows"), 0), 0)),
	    "line");
	json_object_put(res);
	fx_exec(fx.db, "DELETE FROM line WHERE invoice_id > 90");

	res = run(exec_validate_check,
	    "{\"source\": \"books\", \"assert.bad\": \"DELETE FROM line\"}",
	    "[\"audit\"]", &st);
	assert_int_equal(st, XS_REFUSED);
	json_object_put(res);
	res = run(exec_validate_check,
	    "{\"source\": \"books\", \"check\": \"slow\"}", "[\"audit\"]", &st);
	assert_int_equal(st, XS_BAD_PARAMETERS);
	json_object_put(res);
}

/* The scheduler forks built-ins with its own connection to its database
 * open, and SQLite cannot use that file again in the child: a job naming
 * it as a source is refused with a reason, not left to a locking error. */
static void
test_exec_builtin_own_database_refused(void **state)
{
	json_object *res;
	int st;

	(void)state;
	fx.conf.db_path = fx.db;
	res = run(exec_report_sql,
	    "{\"source\": \"books\", \"query\": \"SELECT 1\"}", "[\"audit\"]",
	    &st);
	fx.conf.db_path = NULL;
	assert_int_equal(st, XS_REFUSED);
	assert_non_null(strstr(get_str(res, "error"), "ledgerops database"));
	json_object_put(res);
}

/* Runs fn with params and roles in a child process with standard output
 * on /dev/null, as the scheduler does; returns its pid. */
static pid_t
start_in_child(
    int (*fn)(const struct exec_input *), const char *params, const char *roles)
{
	struct exec_input in;
	pid_t pid = fork();
	int null;

	assert_true(pid != -1);
	if (pid > 0)
		return pid;

	/* A run the test fails to stop ends anyway. */
	alarm(60);
	null = open("/dev/null", O_WRONLY);
	if (null == -1 || dup2(null, 1) != 1)
		_exit(100);
	input_for(&in, json_tokener_parse(params), json_tokener_parse(roles));
	_exit(fn(&in));
}

/* How many entries dir holds, "." and ".." aside; first gets the name of
 * one of them. */
static int
dir_entries(const char *dir, char *first, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ == 0)
			snprintf(first, len, "%s", e->d_name);
	}
	closedir(d);
	return n;
}

/* The scheduler ends a cancelled or timed-out run with SIGTERM: the CSV
 * file it was writing must not stay behind under its temporary name. */
static void
test_exec_builtin_report_sigterm_removes_file(void **state)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	char name[256] = "";
	pid_t pid;
	int i, st;

	(void)state;
	assert_int_equal(dir_entries(fx.outdir, name, sizeof name), 0);
	pid = start_in_child(exec_report_sql,
	    "{\"source\": \"books\", \"target\": \"out\", \"query\": "
	    "\"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
	    "FROM c) SELECT count(*) FROM c\"}",
	    "[\"reporting\"]");

	/* The file is created before the first row is read. */
	for (i = 0; i < 1000 && dir_entries(fx.outdir, name, sizeof name) == 0;
	     i++)
		nanosleep(&tick, NULL);
	assert_int_equal(dir_entries(fx.outdir, name, sizeof name), 1);
	assert_non_null(strstr(name, ".tmp."));

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
	if (dir_entries(fx.outdir, name, sizeof name) != 0)
		fail_msg("left behind: %s", name);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_builtin_registry),
		cmocka_unit_test(test_exec_builtin_file_name),
		cmocka_unit_test(test_exec_builtin_report_rows),
		cmocka_unit_test(test_exec_builtin_report_sigterm_removes_file),
		cmocka_unit_test(test_exec_builtin_report_csv),
		cmocka_unit_test(test_exec_builtin_report_refused),
		cmocka_unit_test(test_exec_builtin_own_database_refused),
		cmocka_unit_test(test_exec_builtin_report_bad),
		cmocka_unit_test(test_exec_builtin_report_output_limit),
		cmocka_unit_test(test_exec_builtin_reconcile),
		cmocka_unit_test(test_exec_builtin_reconcile_bad),
		cmocka_unit_test(test_exec_builtin_replicate),
		cmocka_unit_test(test_exec_builtin_validate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
