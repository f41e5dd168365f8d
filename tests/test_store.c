/*
 * Tests of the database layer against a temporary SQLite file: opening
 * and migrations, operations, jobs (revisions, If-Match, status), the
 * execution list and recent executions, deletion, and busy handling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "conf.h"
#include "db.h"
#include "http.h"
#include "store.h"

#define BACKOFF_JSON(i, lo, hi)                                                \
	"{\"initial_delay_in_millis\": " #i                                    \
	", \"minimum_delay_in_millis\": " #lo                                  \
	", \"maximum_delay_in_millis\": " #hi ", \"delay_increase\": 2, "      \
	"\"delay_decrease\": 2}"

static const char conf_text[] = "[database]\n"
                                "path = test.db\n"
                                "busy_timeout_ms = 100\n"
                                "synchronous = NORMAL\n"
                                "[backoff]\n"
                                "initial_delay_in_millis = 2000\n"
                                "[backoff.REPORT]\n"
                                "initial_delay_in_millis = 3000\n"
                                "maximum_delay_in_millis = 60000\n";

struct fixture {
	char dir[64];
	char conf_path[96];
	struct conf conf;
	struct db db;
	char detail[512];
};

static void
remove_dir(const char *dir)
{
	static const char *const files[] = { "ledgerops.conf", "test.db",
		"test.db-wal", "test.db-shm", "other.db", "other.db-wal",
		"other.db-shm", "fresh.db", "fresh.db-wal", "fresh.db-shm" };
	char path[160];
	size_t i;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char err[512];
	FILE *f;

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/test_store.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		goto fail;
	snprintf(
	    fx->conf_path, sizeof fx->conf_path, "%s/ledgerops.conf", fx->dir);
	f = fopen(fx->conf_path, "w");
	if (f == NULL)
		goto fail;
	fputs(conf_text, f);
	fclose(f);
	if (conf_load(&fx->conf, fx->conf_path, err, sizeof err) != 0 ||
	    db_open(&fx->db, &fx->conf, err, sizeof err) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		conf_free(&fx->conf);
		goto fail;
	}
	*state = fx;
	return 0;
fail:
	remove_dir(fx->dir);
	free(fx);
	return -1;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	db_close(&fx->db);
	conf_free(&fx->conf);
	remove_dir(fx->dir);
	free(fx);
	return 0;
}

/* --- helpers --- */

static void
sql_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->handle, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fail_msg("%s: %s", sql, msg);
		sqlite3_free(msg);
	}
}

/* The first column of the single row of sql; -1 for NULL. */
static int64_t
sql_int(struct db *db, const char *fmt, ...)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	va_list ap;
	int64_t v;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof sql, fmt, ap);
	va_end(ap);
	assert_int_equal(
	    sqlite3_prepare_v2(db->handle, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_type(st, 0) == SQLITE_NULL
	        ? -1
	        : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static json_object *
parse(const char *text)
{
	json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static int64_t
get_int(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s", key);
	return json_object_get_int64(v);
}

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s", key);
	return json_object_get_string(v);
}

static json_object *
get_obj(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no key %s", key);
	return v;
}

/* The element as a client sees it: serialized and parsed again, so that
 * tests do not depend on how the store builds it in memory. */
#define STORE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void
wire(json_object **o)
{
	json_object *parsed;

	assert_non_null(*o);
	parsed = json_tokener_parse(
	    json_object_to_json_string_ext(*o, JSON_C_TO_STRING_PLAIN));
	assert_non_null(parsed);
	json_object_put(*o);
	*o = parsed;
}

/* Creates or updates operation type/def; backoff is JSON or NULL. */
static enum err
op_put(struct fixture *fx, const char *type, const char *def,
    const char *backoff, json_object **elem)
{
	char text[512];
	json_object *info;
	enum err e;

	snprintf(text, sizeof text,
	    "{\"@type\": \"" MODEL_OPERATION_INFO_TYPE "\", \"type\": \"%s\", "
	    "\"definition\": \"%s\"%s%s}",
	    type, def, backoff ? ", \"backoff\": " : "",
	    backoff ? backoff : "");
	info = parse(text);
	*elem = NULL;
	e = store_operation_put(
	    &fx->db, &fx->conf, info, elem, fx->detail, sizeof fx->detail);
	json_object_put(info);
	if (e == ERR_OK)
		wire(elem);
	return e;
}

static void
op_make(
    struct fixture *fx, const char *type, const char *def, const char *backoff)
{
	json_object *elem;

	assert_int_equal(op_put(fx, type, def, backoff, &elem), ERR_OK);
	json_object_put(elem);
}

/* Creates or updates job name in type/def; extra is appended to the
 * info object (", \"key\": value ..."). */
/* A put answers with the element of the job as it is stored, though an
 * update builds it from what it changed rather than reading it back. */
static void
assert_job_reads_as(struct fixture *fx, const char *type, const char *def,
    const char *name, json_object *elem)
{
	struct store_address a = { type, def, name };
	json_object *stored = NULL;
	int64_t rev = -1;

	assert_int_equal(store_job_get(&fx->db, &a, 0, &stored, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	assert_string_equal(json_object_to_json_string_ext(elem, STORE_FLAGS),
	    json_object_to_json_string_ext(stored, STORE_FLAGS));
	json_object_put(stored);
}

static enum err
job_put(struct fixture *fx, const char *type, const char *def, const char *name,
    const char *extra, const char *if_match, int64_t *revision)
{
	struct store_address a = { type, def, NULL };
	char text[1024];
	json_object *info, *elem = NULL;
	int64_t rev = -1;
	enum err e;

	snprintf(text, sizeof text,
	    "{\"@type\": \"" MODEL_JOB_INFO_TYPE "\", \"name\": \"%s\", "
	    "\"roles\": []%s}",
	    name, extra ? extra : "");
	info = parse(text);
	e = store_job_put(&fx->db, &a, info, if_match, &elem, &rev, fx->detail,
	    sizeof fx->detail);
	json_object_put(info);
	if (e == ERR_OK) {
		assert_non_null(elem);
		assert_int_equal(get_int(elem, "revision"), rev);
		assert_job_reads_as(fx, type, def, name, elem);
	}
	json_object_put(elem);
	if (revision != NULL)
		*revision = rev;
	return e;
}

static void
job_make(struct fixture *fx, const char *type, const char *def,
    const char *name, const char *extra)
{
	assert_int_equal(
	    job_put(fx, type, def, name, extra, NULL, NULL), ERR_OK);
}

static int64_t
job_id(struct fixture *fx, const char *name)
{
	return sql_int(&fx->db, "SELECT id FROM job WHERE name = '%s'", name);
}

/* Inserts n executions of job id directly, ordinals from 1. */
static void
add_executions(struct fixture *fx, int64_t id, int n, const char *status)
{
	char sql[512];
	int i;

	for (i = 1; i <= n; i++) {
		snprintf(sql, sizeof sql,
		    "INSERT INTO execution (job_id, ordinal, revision, status, "
		    "parameters, roles, response_code, result, created_at, "
		    "started_at, stopped_at, updated_at) VALUES (%lld, %d, 1, "
		    "'%s', '{}', '[]', '0', '{}', %d, %d, %d, %d)",
		    (long long)id, i, status, 1000 * i, 1000 * i, 1000 * i + 5,
		    1000 * i + 5);
		sql_exec(&fx->db, sql);
	}
	snprintf(sql, sizeof sql,
	    "UPDATE job SET last_ordinal = %d WHERE id = %lld", n,
	    (long long)id);
	sql_exec(&fx->db, sql);
}

static void
check_detail(struct fixture *fx, const char *part)
{
	if (strstr(fx->detail, part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", fx->detail, part);
}

/* --- db_open --- */

static void
test_store_db_open_migrations(void **state)
{
	struct fixture *fx = *state;

	assert_true(db_migration_count >= 1);
	assert_int_equal(
	    sql_int(&fx->db, "PRAGMA user_version"), db_migration_count);
	assert_int_equal(sql_int(&fx->db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(sql_int(&fx->db, "PRAGMA synchronous"), 1);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT count(*) FROM sqlite_master WHERE "
	                     "name IN ('operation', 'job', 'execution')"),
	    3);
	assert_int_equal(sql_int(&fx->db, "SELECT journal_mode = 'wal' FROM "
	                                  "pragma_journal_mode"),
	    1);
}

/* A second connection, and a reopen, find nothing left to migrate. */
static void
test_store_db_open_twice(void **state)
{
	struct fixture *fx = *state;
	struct db second;
	char err[256];

	assert_int_equal(db_open(&second, &fx->conf, err, sizeof err), 0);
	assert_int_equal(
	    sql_int(&second, "PRAGMA user_version"), db_migration_count);
	op_make(fx, "REPORT", "seen-by-both", NULL);
	assert_int_equal(sql_int(&second, "SELECT count(*) FROM operation"), 1);
	db_close(&second);
	db_close(&fx->db);
	assert_int_equal(db_open(&fx->db, &fx->conf, err, sizeof err), 0);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM operation"), 1);
}

/* Several processes opening a fresh file at once all succeed and the
 * schema is created once. */
static void
test_store_db_open_concurrent(void **state)
{
	struct fixture *fx = *state;
	struct conf c = fx->conf;
	char path[160];
	pid_t pids[4];
	struct db db;
	int i, status;

	snprintf(path, sizeof path, "%s/fresh.db", fx->dir);
	c.db_path = path;
	c.busy_timeout_ms = 5000;
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char err[256];
			struct db child;
			int rc = db_open(&child, &c, err, sizeof err);

			if (rc != 0)
				fprintf(stderr, "child: %s\n", err);
			db_close(&child);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(db_open(&db, &c, path, sizeof path), 0);
	assert_int_equal(
	    sql_int(&db, "PRAGMA user_version"), db_migration_count);
	db_close(&db);
}

static void
test_store_db_open_newer_refused(void **state)
{
	struct fixture *fx = *state;
	struct conf c = fx->conf;
	char path[160], sql[64], err[256] = "";
	sqlite3 *h;
	struct db db;

	snprintf(path, sizeof path, "%s/other.db", fx->dir);
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
	    db_migration_count + 1);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);

	c.db_path = path;
	assert_int_equal(db_open(&db, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "newer"));
	assert_null(db.handle);
}

static void
test_store_db_open_bad_path(void **state)
{
	struct fixture *fx = *state;
	struct conf c = fx->conf;
	char path[160], err[256] = "";
	struct db db;

	snprintf(path, sizeof path, "%s/no/such/dir/x.db", fx->dir);
	c.db_path = path;
	assert_int_equal(db_open(&db, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
}

/* --- operations --- */

static void
test_store_operation_insert_default_backoff(void **state)
{
	struct fixture *fx = *state;
	json_object *elem, *b, *info;

	assert_int_equal(op_put(fx, "REPORT", "monthly", NULL, &elem), ERR_OK);
	assert_string_equal(get_str(elem, "@type"), MODEL_OPERATION_ELEM_TYPE);
	assert_true(get_int(elem, "id") > 0);
	assert_int_equal(
	    strlen(get_str(elem, "created_at")), MODEL_TIME_LEN - 1);
	b = get_obj(elem, "backoff");
	assert_int_equal(get_int(b, "initial_delay_in_millis"), 3000);
	assert_int_equal(get_int(b, "minimum_delay_in_millis"), 1000);
	assert_int_equal(get_int(b, "maximum_delay_in_millis"), 60000);
	info = get_obj(elem, "info");
	assert_string_equal(get_str(info, "definition"), "monthly");
	assert_false(json_object_object_get_ex(info, "backoff", NULL));
	json_object_put(elem);

	/* Another type gets [backoff] only. */
	assert_int_equal(op_put(fx, "PUBLISH", "events", NULL, &elem), ERR_OK);
	b = get_obj(elem, "backoff");
	assert_int_equal(get_int(b, "initial_delay_in_millis"), 2000);
	assert_int_equal(get_int(b, "maximum_delay_in_millis"), 300000);
	json_object_put(elem);
}

static void
test_store_operation_update(void **state)
{
	struct fixture *fx = *state;
	json_object *elem, *b;
	int64_t id;

	assert_int_equal(
	    op_put(fx, "REPORT", "m", BACKOFF_JSON(5, 1, 9), &elem), ERR_OK);
	id = get_int(elem, "id");
	b = get_obj(elem, "backoff");
	assert_int_equal(get_int(b, "initial_delay_in_millis"), 5);
	assert_int_equal(get_int(b, "maximum_delay_in_millis"), 9);
	json_object_put(elem);

	/* An update keeps the id; without a backoff, the default. */
	assert_int_equal(op_put(fx, "REPORT", "m", NULL, &elem), ERR_OK);
	assert_int_equal(get_int(elem, "id"), id);
	b = get_obj(elem, "backoff");
	assert_int_equal(get_int(b, "initial_delay_in_millis"), 3000);
	json_object_put(elem);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM operation"), 1);

	/* Same definition, other type: another operation. */
	assert_int_equal(op_put(fx, "DETECT", "m", NULL, &elem), ERR_OK);
	assert_true(get_int(elem, "id") != id);
	json_object_put(elem);
}

/* Changing an operation's backoff clamps the delay of the jobs that
 * inherit it, and only those. */
static void
test_store_operation_backoff_clamps_jobs(void **state)
{
	struct fixture *fx = *state;

	op_make(fx, "REPORT", "r", BACKOFF_JSON(1000, 1000, 300000));
	job_make(fx, "REPORT", "r", "inherits", NULL);
	job_make(fx, "REPORT", "r", "own",
	    ", \"backoff\": " BACKOFF_JSON(1000, 1000, 300000));
	sql_exec(&fx->db, "UPDATE job SET current_delay_ms = 200000");

	op_make(fx, "REPORT", "r", BACKOFF_JSON(1000, 1000, 50000));
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job WHERE "
	                     "name = 'inherits'"),
	    50000);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job WHERE "
	                     "name = 'own'"),
	    200000);

	/* The inheriting job's info changed with it: a new revision; the
	 * same backoff again changes nothing. */
	assert_int_equal(sql_int(&fx->db, "SELECT revision FROM job WHERE "
	                                  "name = 'inherits'"),
	    2);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT revision FROM job WHERE name = 'own'"), 1);
	op_make(fx, "REPORT", "r", BACKOFF_JSON(1000, 1000, 50000));
	assert_int_equal(sql_int(&fx->db, "SELECT revision FROM job WHERE "
	                                  "name = 'inherits'"),
	    2);

	sql_exec(&fx->db, "UPDATE job SET current_delay_ms = 10");
	op_make(fx, "REPORT", "r", BACKOFF_JSON(4000, 2000, 50000));
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job WHERE "
	                     "name = 'inherits'"),
	    2000);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job WHERE "
	                     "name = 'own'"),
	    10);
}

static void
test_store_operation_get(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "a/b", NULL };
	json_object *elem = NULL;

	assert_int_equal(store_operation_get(
	                     &fx->db, &a, &elem, fx->detail, sizeof fx->detail),
	    ERR_OPERATION_NOT_FOUND);
	check_detail(fx, "REPORT/a/b does not exist");
	assert_null(elem);
	op_make(fx, "REPORT", "a/b", NULL);
	assert_int_equal(store_operation_get(
	                     &fx->db, &a, &elem, fx->detail, sizeof fx->detail),
	    ERR_OK);
	wire(&elem);
	assert_string_equal(
	    get_str(get_obj(elem, "info"), "definition"), "a/b");
	json_object_put(elem);
}

/* Integers printed without snprintf read as json-c prints them. */
static void
test_store_int_prints_like_json_c(void **state)
{
	static const int64_t values[] = { 0, 7, -1, 42, 1000000007, INT64_MAX,
		INT64_MIN, -9876543210 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof values / sizeof values[0]; i++) {
		json_object *ours = store_int(values[i]);
		json_object *theirs = json_object_new_int64(values[i]);

		assert_non_null(ours);
		assert_string_equal(json_object_to_json_string(ours),
		    json_object_to_json_string(theirs));
		assert_int_equal(json_object_get_int64(ours), values[i]);
		json_object_put(ours);
		json_object_put(theirs);
	}
}

static void
test_store_operation_delete(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", NULL };
	struct store_address j = { "REPORT", "d", "j" };
	json_object *elem = NULL;
	int64_t rev = 0;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	assert_int_equal(store_operation_delete(
	                     &fx->db, &a, &elem, fx->detail, sizeof fx->detail),
	    ERR_OPERATION_HAS_JOBS);
	assert_int_equal(http_status_of(ERR_OPERATION_HAS_JOBS), 409);
	check_detail(fx, "still has jobs");
	assert_null(elem);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM operation"), 1);

	assert_int_equal(store_job_delete(&fx->db, &j, NULL, &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	json_object_put(elem);
	assert_int_equal(store_operation_delete(
	                     &fx->db, &a, &elem, fx->detail, sizeof fx->detail),
	    ERR_OK);
	wire(&elem);
	assert_non_null(elem);
	assert_string_equal(get_str(get_obj(elem, "info"), "definition"), "d");
	json_object_put(elem);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM operation"), 0);
	elem = NULL;
	assert_int_equal(store_operation_delete(
	                     &fx->db, &a, &elem, fx->detail, sizeof fx->detail),
	    ERR_OPERATION_NOT_FOUND);
	assert_null(elem);
}

static void
test_store_operation_list(void **state)
{
	struct fixture *fx = *state;
	const char *filter4[4] = { "info.type==REPORT", "-info.definition",
		NULL, NULL };
	json_object *page, *data;

	op_make(fx, "REPORT", "a", NULL);
	op_make(fx, "REPORT", "b", NULL);
	op_make(fx, "DETECT", "c", NULL);
	assert_int_equal(store_operation_list(&fx->db, filter4, &page,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	wire(&page);
	data = get_obj(page, "data");
	assert_int_equal(json_object_array_length(data), 2);
	assert_string_equal(
	    get_str(get_obj(json_object_array_get_idx(data, 0), "info"),
	        "definition"),
	    "b");
	assert_int_equal(get_int(get_obj(page, "page"), "total_elements"), 2);
	json_object_put(page);
}

/* --- jobs --- */

static void
test_store_job_insert(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "j" };
	json_object *elem, *info;
	int64_t rev = 0, id;

	assert_int_equal(job_put(fx, "REPORT", "d", "j", NULL, NULL, NULL),
	    ERR_OPERATION_NOT_FOUND);
	check_detail(fx, "REPORT/d does not exist");
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM job"), 0);

	op_make(fx, "REPORT", "d", NULL);
	assert_int_equal(
	    job_put(fx, "REPORT", "d", "j", NULL, NULL, &rev), ERR_OK);
	assert_int_equal(rev, 1);
	id = job_id(fx, "j");
	assert_int_equal(sql_int(&fx->db,
	                     "SELECT due_at - created_at FROM job "
	                     "WHERE id = %lld",
	                     (long long)id),
	    3000);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job WHERE id = %lld",
	        (long long)id),
	    3000);

	assert_int_equal(store_job_get(&fx->db, &a, 0, &elem, &rev, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	wire(&elem);
	assert_int_equal(rev, 1);
	assert_string_equal(get_str(elem, "@type"), MODEL_JOB_ELEM_TYPE);
	assert_string_equal(get_str(elem, "status"), "EXECUTING");
	assert_int_equal(get_int(elem, "revision"), 1);
	assert_int_equal(get_int(elem, "id"), id);
	info = get_obj(elem, "info");
	/* The inherited backoff is filled in on read. */
	assert_int_equal(
	    get_int(get_obj(info, "backoff"), "initial_delay_in_millis"), 3000);
	assert_string_equal(
	    get_str(get_obj(get_obj(elem, "operation"), "info"), "definition"),
	    "d");
	assert_false(json_object_object_get_ex(elem, "executions", NULL));
	json_object_put(elem);

	/* A job's own backoff decides its first delay. */
	job_make(fx, "REPORT", "d", "own",
	    ", \"backoff\": " BACKOFF_JSON(700, 100, 900));
	assert_int_equal(sql_int(&fx->db, "SELECT due_at - created_at FROM job "
	                                  "WHERE name = 'own'"),
	    700);
}

static void
test_store_job_update_revision(void **state)
{
	struct fixture *fx = *state;
	int64_t rev = 0;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", ", \"timeout_in_millis\": 5");
	assert_int_equal(job_put(fx, "REPORT", "d", "j",
	                     ", \"timeout_in_millis\": 5", NULL, &rev),
	    ERR_OK);
	assert_int_equal(rev, 1);
	assert_int_equal(job_put(fx, "REPORT", "d", "j",
	                     ", \"timeout_in_millis\": 6", NULL, &rev),
	    ERR_OK);
	assert_int_equal(rev, 2);
	assert_int_equal(
	    job_put(fx, "REPORT", "d", "j", NULL, NULL, &rev), ERR_OK);
	assert_int_equal(rev, 3);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM job"), 1);
}

/* Changing a job's own backoff clamps its current delay. */
static void
test_store_job_update_clamps(void **state)
{
	struct fixture *fx = *state;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	sql_exec(&fx->db, "UPDATE job SET current_delay_ms = 59000");
	job_make(fx, "REPORT", "d", "j",
	    ", \"backoff\": " BACKOFF_JSON(10, 10, 500));
	assert_int_equal(
	    sql_int(&fx->db, "SELECT current_delay_ms FROM job"), 500);
}

static void
test_store_job_if_match(void **state)
{
	static const struct {
		const char *if_match;
		enum err want;
	} cases[] = {
		{ "\"2\"", ERR_OK },
		{ "2", ERR_OK },
		{ "W/\"2\"", ERR_OK },
		{ "*", ERR_OK },
		{ "\"1\", \"2\"", ERR_OK },
		{ "\"1\",\"2\"", ERR_OK },
		{ " W/\"5\" , \"2\"", ERR_OK },
		{ "\"1\"", ERR_REVISION_MISMATCH },
		{ "\"22\"", ERR_REVISION_MISMATCH },
		{ "\"1\", \"3\"", ERR_REVISION_MISMATCH },
		{ "", ERR_REVISION_MISMATCH },
		{ "x2", ERR_REVISION_MISMATCH },
		/* Malformed lists match nothing, whatever they hold. */
		{ "\"*\"", ERR_REVISION_MISMATCH },
		{ "\"2", ERR_REVISION_MISMATCH },
		{ "2\"", ERR_REVISION_MISMATCH },
		{ "\"2\"x", ERR_REVISION_MISMATCH },
		{ "W/ \"2\"", ERR_REVISION_MISMATCH },
		{ "W/2", ERR_REVISION_MISMATCH },
		{ "\"2\";\"3\"", ERR_REVISION_MISMATCH },
		{ "\"x\", \"2\"", ERR_REVISION_MISMATCH },
		{ "**", ERR_REVISION_MISMATCH },
		{ "\"\"", ERR_REVISION_MISMATCH },
		{ "\"1\"\t\"2\"", ERR_OK },
		{ "\"2\", x", ERR_REVISION_MISMATCH },
		{ "\"2\" x", ERR_REVISION_MISMATCH },
		{ "2,x", ERR_REVISION_MISMATCH },
		{ "\"1\", *", ERR_REVISION_MISMATCH },
		{ "*, \"1\"", ERR_REVISION_MISMATCH },
		{ "* ,*", ERR_REVISION_MISMATCH },
		{ " * ", ERR_OK },
		{ "\"02\"", ERR_REVISION_MISMATCH },
	};
	struct fixture *fx = *state;
	int64_t rev;
	size_t i;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	job_make(fx, "REPORT", "d", "j", ", \"timeout_in_millis\": 1");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* The same info: revision stays 2 when it matches. */
		if (job_put(fx, "REPORT", "d", "j",
		        ", \"timeout_in_millis\": 1", cases[i].if_match,
		        &rev) != cases[i].want)
			fail_msg("If-Match %s: want %d", cases[i].if_match,
			    cases[i].want);
		if (cases[i].want == ERR_OK)
			assert_int_equal(rev, 2);
		else
			check_detail(fx, "revision 2");
	}
	/* A mismatch changes nothing. */
	assert_int_equal(job_put(fx, "REPORT", "d", "j", NULL, "\"1\"", &rev),
	    ERR_REVISION_MISMATCH);
	assert_int_equal(http_status_of(ERR_REVISION_MISMATCH), 412);
	assert_int_equal(sql_int(&fx->db, "SELECT revision FROM job"), 2);
	assert_int_equal(
	    job_put(fx, "REPORT", "d", "j", NULL, "\"2\"", &rev), ERR_OK);
	assert_int_equal(rev, 3);
}

/* If-Match on a job that does not exist fails, even "*". */
static void
test_store_job_if_match_missing(void **state)
{
	struct fixture *fx = *state;

	op_make(fx, "REPORT", "d", NULL);
	assert_int_equal(job_put(fx, "REPORT", "d", "new", NULL, "\"1\"", NULL),
	    ERR_REVISION_MISMATCH);
	check_detail(fx, "does not exist");
	assert_int_equal(job_put(fx, "REPORT", "d", "new", NULL, "*", NULL),
	    ERR_REVISION_MISMATCH);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM job"), 0);
}

/* Puts the job into status from (through the store), sets a marker
 * delay and updated_at, then asks for to. */
static void
check_transition(struct fixture *fx, enum job_status from, enum job_status to)
{
	struct store_address a = { "REPORT", "a/b", "j k" };
	json_object *answer = NULL;
	int64_t before;

	assert_int_equal(store_job_set_status(&fx->db, &a, from, &answer,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	json_object_put(answer);
	sql_exec(&fx->db, "UPDATE job SET current_delay_ms = 12345, "
	                  "updated_at = 1");
	before = sql_int(&fx->db, "SELECT due_at FROM job");
	assert_int_equal(store_job_set_status(&fx->db, &a, to, &answer,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	assert_string_equal(get_str(answer, "address"), "REPORT/a%2Fb/j%20k");
	assert_string_equal(
	    get_str(answer, "previous_status"), job_status_names[from]);
	assert_string_equal(
	    get_str(answer, "current_status"), job_status_names[to]);
	json_object_put(answer);
	assert_int_equal(sql_int(&fx->db, "SELECT status = '%s' FROM job",
	                     job_status_names[to]),
	    1);
	if (from == to) {
		assert_int_equal(
		    sql_int(&fx->db, "SELECT updated_at FROM job"), 1);
		assert_int_equal(
		    sql_int(&fx->db, "SELECT current_delay_ms FROM job"),
		    12345);
		assert_int_equal(
		    sql_int(&fx->db, "SELECT due_at FROM job"), before);
	} else if (to == JOB_EXECUTING) {
		assert_int_equal(
		    sql_int(&fx->db, "SELECT current_delay_ms FROM job"), 3000);
		assert_int_equal(
		    sql_int(&fx->db, "SELECT due_at - updated_at FROM job"),
		    3000);
	} else {
		assert_int_equal(
		    sql_int(&fx->db, "SELECT due_at FROM job"), -1);
		assert_int_equal(
		    sql_int(&fx->db, "SELECT current_delay_ms FROM job"),
		    12345);
		assert_true(sql_int(&fx->db, "SELECT updated_at FROM job") > 1);
	}
}

static void
test_store_job_set_status_transitions(void **state)
{
	struct fixture *fx = *state;
	int from, to;

	op_make(fx, "REPORT", "a/b", NULL);
	job_make(fx, "REPORT", "a/b", "j k", NULL);
	for (from = 0; from < JOB_STATUS__MAX; from++)
		for (to = 0; to < JOB_STATUS__MAX; to++)
			check_transition(
			    fx, (enum job_status)from, (enum job_status)to);
	/* A status change is not an info change. */
	assert_int_equal(sql_int(&fx->db, "SELECT revision FROM job"), 1);
}

static void
test_store_job_set_status_missing(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "nope" };
	json_object *answer = NULL;

	op_make(fx, "REPORT", "d", NULL);
	assert_int_equal(store_job_set_status(&fx->db, &a, JOB_PAUSED, &answer,
	                     fx->detail, sizeof fx->detail),
	    ERR_JOB_NOT_FOUND);
	check_detail(fx, "REPORT/d/nope does not exist");
	assert_null(answer);
}

static void
test_store_job_get_executions(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "j" };
	json_object *elem, *list, *first;
	int64_t rev = 0;
	size_t i;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	job_make(fx, "REPORT", "d", "other", NULL);
	assert_int_equal(store_job_get(&fx->db, &a, 1, &elem, &rev, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	wire(&elem);
	assert_string_equal(get_str(elem, "@type"), MODEL_JOB_DATA_TYPE);
	assert_int_equal(
	    json_object_array_length(get_obj(elem, "executions")), 0);
	json_object_put(elem);

	add_executions(fx, job_id(fx, "j"), 25, "SUCCEEDED");
	add_executions(fx, job_id(fx, "other"), 3, "FAILED");
	assert_int_equal(store_job_get(&fx->db, &a, 1, &elem, &rev, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	wire(&elem);
	assert_int_equal(rev, 1);
	list = get_obj(elem, "executions");
	assert_int_equal(json_object_array_length(list), 20);
	for (i = 0; i < 20; i++) {
		json_object *e = json_object_array_get_idx(list, i);

		assert_int_equal(get_int(e, "ordinal"), 25 - (int64_t)i);
		assert_string_equal(get_str(e, "status"), "SUCCEEDED");
		assert_string_equal(get_str(e, "address"), "REPORT/d/j");
	}
	first = json_object_array_get_idx(list, 0);
	assert_string_equal(get_str(first, "response_code"), "0");
	assert_string_equal(
	    get_str(first, "started_at"), "1970-01-01T00:00:25.000Z");
	assert_string_equal(
	    get_str(first, "stopped_at"), "1970-01-01T00:00:25.005Z");
	json_object_put(elem);
}

static void
test_store_job_get_missing(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "j" };
	json_object *elem = (json_object *)&elem;

	assert_int_equal(store_job_get(&fx->db, &a, 1, &elem, NULL, fx->detail,
	                     sizeof fx->detail),
	    ERR_JOB_NOT_FOUND);
	assert_null(elem);
}

/* Two operations with jobs a1, a2 / b1 and executions for the lists. */
static void
make_list_data(struct fixture *fx)
{
	op_make(fx, "REPORT", "one", NULL);
	op_make(fx, "DETECT", "two", NULL);
	job_make(fx, "REPORT", "one", "a1", NULL);
	job_make(fx, "REPORT", "one", "a2", NULL);
	job_make(fx, "DETECT", "two", "b1", NULL);
	add_executions(fx, job_id(fx, "a1"), 2, "SUCCEEDED");
	add_executions(fx, job_id(fx, "a2"), 1, "FAILED");
	add_executions(fx, job_id(fx, "b1"), 3, "FAILED");
}

/* Lists jobs (or executions) at a with filter; returns total. */
static int64_t
list_total(struct fixture *fx, int executions, const char *t, const char *d,
    const char *n, const char *filter, enum err want)
{
	struct store_address a = { t, d, n };
	const char *filter4[4] = { filter, NULL, NULL, NULL };
	json_object *page = NULL;
	int64_t total = -1;
	enum err e;

	e = executions ? store_execution_list(&fx->db, &a, filter4, &page,
	                     fx->detail, sizeof fx->detail)
	               : store_job_list(&fx->db, &a, filter4, &page, fx->detail,
	                     sizeof fx->detail);
	assert_int_equal(e, want);
	if (e != ERR_OK) {
		assert_null(page);
		return -1;
	}
	total = get_int(get_obj(page, "page"), "total_elements");
	assert_int_equal(
	    json_object_array_length(get_obj(page, "data")), total);
	json_object_put(page);
	return total;
}

static void
test_store_job_list(void **state)
{
	struct fixture *fx = *state;

	make_list_data(fx);
	assert_int_equal(list_total(fx, 0, "*", "*", NULL, NULL, ERR_OK), 3);
	assert_int_equal(list_total(fx, 0, NULL, NULL, NULL, NULL, ERR_OK), 3);
	assert_int_equal(
	    list_total(fx, 0, "REPORT", "one", NULL, NULL, ERR_OK), 2);
	assert_int_equal(
	    list_total(fx, 0, "REPORT", "*", NULL, NULL, ERR_OK), 2);
	assert_int_equal(list_total(fx, 0, "*", "two", NULL, NULL, ERR_OK), 1);
	assert_int_equal(
	    list_total(fx, 0, "REPORT", "two", NULL, NULL, ERR_OK), 0);
	assert_int_equal(
	    list_total(fx, 0, "*", "*", NULL, "info.name==a*", ERR_OK), 2);
	assert_int_equal(
	    list_total(fx, 0, "REPORT", "one", NULL, "info.name==a2", ERR_OK),
	    1);
	assert_int_equal(list_total(fx, 0, "*", "*", NULL,
	                     "operation.info.type==DETECT", ERR_OK),
	    1);
	list_total(fx, 0, "*", "*", NULL, "info.name==", ERR_BAD_FILTER);
	list_total(fx, 0, "*", "*", NULL, "nope==1", ERR_BAD_FILTER);
	check_detail(fx, "nope");
}

static void
test_store_job_list_sort_page(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "*", "*", NULL };
	const char *bad_sort[4] = { NULL, "bogus", NULL, NULL };
	const char *bad_page[4] = { NULL, NULL, "0", NULL };
	const char *paged[4] = { NULL, "-info.name", "2", "2" };
	json_object *page = NULL, *data;

	make_list_data(fx);
	assert_int_equal(store_job_list(&fx->db, &a, bad_sort, &page,
	                     fx->detail, sizeof fx->detail),
	    ERR_BAD_SORT);
	assert_null(page);
	assert_int_equal(store_job_list(&fx->db, &a, bad_page, &page,
	                     fx->detail, sizeof fx->detail),
	    ERR_BAD_PARAMETER);
	assert_null(page);
	assert_int_equal(store_job_list(&fx->db, &a, paged, &page, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	wire(&page);
	data = get_obj(page, "data");
	assert_int_equal(json_object_array_length(data), 1);
	assert_string_equal(
	    get_str(
	        get_obj(json_object_array_get_idx(data, 0), "info"), "name"),
	    "a1");
	assert_int_equal(get_int(get_obj(page, "page"), "total_pages"), 2);
	json_object_put(page);
}

/* A listed job is printed from its row rather than built as objects;
 * it must print exactly as the element the rest of the API builds, for
 * jobs changed since their creation or not, of two operations, whose
 * info needs escaping. */
static void
test_store_job_list_prints_elem(void **state)
{
	struct fixture *fx = *state;
	struct store_address all = { "*", "*", NULL };
	const char *filter4[4] = { NULL, NULL, NULL, NULL };
	json_object *page = NULL, *data, *elem = NULL;
	size_t i;

	make_list_data(fx);
	job_make(fx, "REPORT", "one", "a2",
	    ", \"parameters\": {\"q\": \"\\\"/\\u00e9\\n\"}");
	sql_exec(&fx->db,
	    "UPDATE job SET updated_at = created_at + 1500 WHERE name = 'a2'");
	assert_int_equal(store_job_list(&fx->db, &all, filter4, &page,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	data = get_obj(page, "data");
	assert_int_equal(json_object_array_length(data), 3);
	for (i = 0; i < 3; i++) {
		json_object *listed = json_object_array_get_idx(data, i);
		json_object *parsed = json_tokener_parse(
		    json_object_to_json_string_ext(listed, STORE_FLAGS));
		struct store_address a = { NULL, NULL, NULL };
		int64_t rev;

		assert_non_null(parsed);
		a.type = get_str(
		    get_obj(get_obj(parsed, "operation"), "info"), "type");
		a.definition =
		    get_str(get_obj(get_obj(parsed, "operation"), "info"),
		        "definition");
		a.name = get_str(get_obj(parsed, "info"), "name");
		assert_int_equal(store_job_get(&fx->db, &a, 0, &elem, &rev,
		                     fx->detail, sizeof fx->detail),
		    ERR_OK);
		assert_string_equal(
		    json_object_to_json_string_ext(listed, STORE_FLAGS),
		    json_object_to_json_string_ext(elem, STORE_FLAGS));
		json_object_put(elem);
		json_object_put(parsed);
	}
	json_object_put(page);
}

static void
test_store_execution_list(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "one", "a1" };
	const char *filter4[4] = { NULL, "-ordinal", NULL, NULL };
	json_object *page, *e;

	make_list_data(fx);
	assert_int_equal(list_total(fx, 1, "*", "*", "*", NULL, ERR_OK), 6);
	assert_int_equal(
	    list_total(fx, 1, "REPORT", "one", "a1", NULL, ERR_OK), 2);
	assert_int_equal(
	    list_total(fx, 1, "REPORT", "one", "*", NULL, ERR_OK), 3);
	assert_int_equal(list_total(fx, 1, "*", "*", "b1", NULL, ERR_OK), 3);
	assert_int_equal(
	    list_total(fx, 1, "REPORT", "one", "b1", NULL, ERR_OK), 0);
	assert_int_equal(
	    list_total(fx, 1, "*", "*", "*", "status==FAILED", ERR_OK), 4);
	assert_int_equal(
	    list_total(fx, 1, "*", "*", "*",
	        "status==FAILED;operation.info.type==REPORT", ERR_OK),
	    1);
	list_total(fx, 1, "*", "*", "*", "status==NOPE", ERR_BAD_FILTER);

	assert_int_equal(store_execution_list(&fx->db, &a, filter4, &page,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	wire(&page);
	e = json_object_array_get_idx(get_obj(page, "data"), 0);
	assert_int_equal(get_int(e, "ordinal"), 2);
	assert_string_equal(get_str(e, "address"), "REPORT/one/a1");
	json_object_put(page);
}

static void
test_store_job_delete(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "j" };
	json_object *elem = NULL;
	int64_t rev = 0;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	job_make(fx, "REPORT", "d", "keep", NULL);
	add_executions(fx, job_id(fx, "j"), 4, "SUCCEEDED");
	add_executions(fx, job_id(fx, "keep"), 2, "SUCCEEDED");

	assert_int_equal(store_job_delete(&fx->db, &a, "\"2\"", &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_REVISION_MISMATCH);
	assert_null(elem);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM execution"), 6);

	assert_int_equal(store_job_delete(&fx->db, &a, "\"1\"", &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_OK);
	assert_int_equal(rev, 1);
	wire(&elem);
	assert_non_null(elem);
	assert_string_equal(get_str(get_obj(elem, "info"), "name"), "j");
	json_object_put(elem);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM job"), 1);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM execution"), 2);

	assert_int_equal(store_job_delete(&fx->db, &a, NULL, &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_JOB_NOT_FOUND);
	assert_null(elem);
	/* With If-Match, a missing job is still 404 on delete. */
	assert_int_equal(store_job_delete(&fx->db, &a, "*", &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_JOB_NOT_FOUND);
}

/* Another connection holding the write lock makes writers ERR_BUSY
 * after the busy timeout; readers still work in WAL mode. */
static void
test_store_busy(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", "j" };
	struct db other;
	json_object *elem = NULL;
	char err[256];

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "j", NULL);
	assert_int_equal(db_open(&other, &fx->conf, err, sizeof err), 0);
	sql_exec(&other, "BEGIN IMMEDIATE");

	assert_int_equal(op_put(fx, "REPORT", "x", NULL, &elem), ERR_BUSY);
	check_detail(fx, "retry");
	assert_null(elem);
	assert_int_equal(store_job_set_status(&fx->db, &a, JOB_PAUSED, &elem,
	                     fx->detail, sizeof fx->detail),
	    ERR_BUSY);
	assert_int_equal(store_job_get(&fx->db, &a, 1, &elem, NULL, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	json_object_put(elem);

	sql_exec(&other, "COMMIT");
	db_close(&other);
	assert_int_equal(op_put(fx, "REPORT", "x", NULL, &elem), ERR_OK);
	json_object_put(elem);
}

static void
test_store_address_where(void **state)
{
	struct store_address all = { "*", NULL, "*" };
	struct store_address some = { "REPORT", "*", "n" };
	const char *binds[3];
	char where[96];

	(void)state;
	assert_int_equal(
	    store_address_where(&all, where, sizeof where, binds), 0);
	assert_string_equal(where, "");
	assert_int_equal(
	    store_address_where(&some, where, sizeof where, binds), 2);
	assert_string_equal(where, " AND o.type = ? AND j.name = ?");
	assert_string_equal(binds[0], "REPORT");
	assert_string_equal(binds[1], "n");
}

/* Callers validate info first; unvalidated info is a fault of the
 * service, never stored. */
static void
test_store_unvalidated_info(void **state)
{
	struct fixture *fx = *state;
	struct store_address a = { "REPORT", "d", NULL };
	json_object *bad = parse("{\"type\": \"REPORT\"}");
	json_object *elem = NULL;
	int64_t rev = 0;

	assert_int_equal(store_operation_put(&fx->db, &fx->conf, bad, &elem,
	                     fx->detail, sizeof fx->detail),
	    ERR_INTERNAL);
	assert_null(elem);
	op_make(fx, "REPORT", "d", NULL);
	assert_int_equal(store_job_put(&fx->db, &a, bad, NULL, &elem, &rev,
	                     fx->detail, sizeof fx->detail),
	    ERR_INTERNAL);
	assert_null(elem);
	json_object_put(bad);
	assert_int_equal(sql_int(&fx->db, "SELECT count(*) FROM job"), 0);
	/* The failed put left no transaction open. */
	op_make(fx, "REPORT", "e", NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* Counts full-scan steps of the statements a job update runs. */
static const enum db_stmt update_stmts[] = { DB_JOB_UPDATE, DB_JOB_ROLE_INSERT,
	DB_JOB_ROLE_DELETE, DB_JOB_PARAMETER_INSERT, DB_JOB_PARAMETER_DELETE };

static int
update_fullscan_steps(struct fixture *fx, int reset)
{
	size_t i;
	int steps = 0;

	for (i = 0; i < sizeof update_stmts / sizeof update_stmts[0]; i++) {
		sqlite3_stmt *st = db_stmt(&fx->db, update_stmts[i]);

		assert_non_null(st);
		steps += sqlite3_stmt_status(
		    st, SQLITE_STMTSTATUS_FULLSCAN_STEP, reset);
	}
	return steps;
}

/* A job update must find the role and parameter rows it changes through
 * the primary key: a scan of either table on every job update made each
 * PUT cost milliseconds once there were many jobs. */
static void
test_store_job_update_uses_index(void **state)
{
	struct fixture *fx = *state;
	char name[32];
	int i;

	op_make(fx, "REPORT", "d", NULL);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "j%d", i);
		job_make(fx, "REPORT", "d", name,
		    ", \"parameters\": {\"source\": \"sales\"}");
	}
	job_make(fx, "REPORT", "d", "edited",
	    ", \"roles\": [\"a\"], \"parameters\": {\"run\": \"1\"}");

	update_fullscan_steps(fx, 1);
	job_make(fx, "REPORT", "d", "edited",
	    ", \"roles\": [\"b\"], \"parameters\": {\"run\": \"2\"}");
	assert_int_equal(update_fullscan_steps(fx, 0), 0);
	assert_int_equal(
	    sql_int(&fx->db,
	        "SELECT count(*) FROM job_parameter WHERE key = 'run'"),
	    1);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT count(*) FROM job_role WHERE role = 'b'"),
	    1);
	assert_int_equal(
	    sql_int(&fx->db, "SELECT count(*) FROM job_role WHERE role = 'a'"),
	    0);
}

/* Rows of job_role and job_parameter that differ from what the jobs'
 * info documents say, either way. */
#define ROLES_OF_INFO                                                          \
	"SELECT r.value, job.id FROM job, json_each(job.info, '$.roles') r"
#define ROLE_ROWS "SELECT role, job_id FROM job_role"
#define PARAMETERS_OF_INFO                                                     \
	"SELECT p.key, p.value, job.id FROM job, "                             \
	"json_each(job.info, '$.parameters') p"
#define PARAMETER_ROWS "SELECT key, value, job_id FROM job_parameter"

static int64_t
index_drift(struct fixture *fx)
{
	return sql_int(&fx->db, "SELECT count(*) FROM (%s EXCEPT %s)",
	           ROLE_ROWS, ROLES_OF_INFO) +
	       sql_int(&fx->db, "SELECT count(*) FROM (%s EXCEPT %s)",
	           ROLES_OF_INFO, ROLE_ROWS) +
	       sql_int(&fx->db, "SELECT count(*) FROM (%s EXCEPT %s)",
	           PARAMETER_ROWS, PARAMETERS_OF_INFO) +
	       sql_int(&fx->db, "SELECT count(*) FROM (%s EXCEPT %s)",
	           PARAMETERS_OF_INFO, PARAMETER_ROWS);
}

/* Updates keep the role and parameter rows equal to the info through
 * every kind of change: roles and keys added, removed, kept, renamed,
 * values changed and swapped between keys, and all of them dropped. */
static void
test_store_job_update_keeps_index(void **state)
{
	static const char *const infos[] = {
		", \"roles\": [\"a\", \"b\"], \"parameters\": "
		"{\"k\": \"1\", \"m\": \"2\"}",
		", \"roles\": [\"b\", \"c\"], \"parameters\": "
		"{\"k\": \"1\", \"m\": \"3\", \"n\": \"4\"}",
		", \"roles\": [\"c\", \"b\"], \"parameters\": "
		"{\"m\": \"1\", \"k\": \"3\"}",
		", \"roles\": [\"c\"]",
		", \"roles\": [\"a\"], \"parameters\": {\"k\": \"1\"}",
		", \"roles\": [\"a\"], \"parameters\": {}",
		", \"roles\": [\"x\", \"y\", \"z\"], \"parameters\": "
		"{\"k\": \"k\", \"x\": \"\"}",
	};
	struct fixture *fx = *state;
	size_t i;

	op_make(fx, "REPORT", "d", NULL);
	job_make(fx, "REPORT", "d", "other", infos[0]);
	for (i = 0; i < sizeof infos / sizeof infos[0]; i++) {
		job_make(fx, "REPORT", "d", "edited", infos[i]);
		assert_int_equal(index_drift(fx), 0);
	}
	assert_int_equal(
	    sql_int(&fx->db, "SELECT count(*) FROM job_role WHERE role = 'a'"),
	    1);
}

/* One page of a list: its row count and the total it reports. */
static void
page_of(struct fixture *fx, const char *number, const char *size,
    int64_t want_rows, int64_t want_total)
{
	struct store_address a = { "REPORT", "d", NULL };
	const char *filter4[4] = { NULL, NULL, number, size };
	json_object *page = NULL;

	assert_int_equal(store_job_list(&fx->db, &a, filter4, &page, fx->detail,
	                     sizeof fx->detail),
	    ERR_OK);
	assert_int_equal(
	    json_object_array_length(get_obj(page, "data")), want_rows);
	assert_int_equal(
	    get_int(get_obj(page, "page"), "total_elements"), want_total);
	json_object_put(page);
}

/* The last page takes its total from its own rows and the others from a
 * count; every page must report the same total either way. */
static void
test_store_list_totals(void **state)
{
	struct fixture *fx = *state;
	char name[16];
	int i;

	op_make(fx, "REPORT", "d", NULL);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof name, "j%d", i);
		job_make(fx, "REPORT", "d", name, NULL);
	}
	page_of(fx, "1", "5", 5, 5); /* exactly full, nothing after */
	page_of(fx, "1", "4", 4, 5); /* rows follow: counted */
	page_of(fx, "2", "4", 1, 5); /* the last, partial page */
	page_of(fx, "3", "2", 1, 5);
	page_of(fx, "4", "2", 0, 5); /* past the end: counted */
	page_of(fx, "2", "5", 0, 5);
	page_of(fx, "1", "20", 5, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_db_open_migrations),
		T(test_store_db_open_twice),
		T(test_store_db_open_concurrent),
		T(test_store_db_open_newer_refused),
		T(test_store_db_open_bad_path),
		T(test_store_operation_insert_default_backoff),
		T(test_store_operation_update),
		T(test_store_operation_backoff_clamps_jobs),
		T(test_store_operation_get),
		T(test_store_operation_delete),
		cmocka_unit_test(test_store_int_prints_like_json_c),
		T(test_store_operation_list),
		T(test_store_job_insert),
		T(test_store_job_update_revision),
		T(test_store_job_update_clamps),
		T(test_store_job_if_match),
		T(test_store_job_if_match_missing),
		T(test_store_job_set_status_transitions),
		T(test_store_job_set_status_missing),
		T(test_store_job_get_executions),
		T(test_store_job_get_missing),
		T(test_store_job_list),
		T(test_store_job_list_sort_page),
		T(test_store_job_list_prints_elem),
		T(test_store_execution_list),
		T(test_store_job_delete),
		T(test_store_busy),
		T(test_store_address_where),
		T(test_store_unvalidated_info),
		T(test_store_job_update_uses_index),
		T(test_store_job_update_keeps_index),
		T(test_store_list_totals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
