/*
 * The scheduler's SQL on a real database file: claiming (two connections,
 * one wins), one execution per job at a time, ordinals, finishing with
 * the job's next due time, and lease expiry closing as ABANDONED.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "sched_store.h"

#define BACKOFF                                                                \
	"{\"initial_delay_in_millis\": 1000, "                                 \
	"\"minimum_delay_in_millis\": 500, "                                   \
	"\"maximum_delay_in_millis\": 3000, "                                  \
	"\"delay_increase\": 2, \"delay_decrease\": 2}"

struct fixture {
	char path[64];
	struct conf conf;
	struct db db[2];
	struct sched_store st[2];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[256];
	int fd, i;

	assert_non_null(f);
	snprintf(f->path, sizeof f->path, "/tmp/test_sched_XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	f->conf.db_path = f->path;
	f->conf.busy_timeout_ms = 5000;
	for (i = 0; i < 2; i++) {
		assert_int_equal(
		    db_open(&f->db[i], &f->conf, err, sizeof err), 0);
		assert_int_equal(
		    sched_store_open(&f->st[i], f->db[i].handle), 0);
	}
	assert_int_equal(
	    sqlite3_exec(f->db[0].handle,
	        "INSERT INTO operation VALUES (1, 'PUBLISH', 'ok', "
	        "'{}', '" BACKOFF "', 0, 0);"
	        "INSERT INTO job (id, operation_id, name, revision, "
	        "status, info, own_backoff, current_delay_ms, due_at, "
	        "created_at, updated_at) VALUES (1, 1, 'j', 3, "
	        "'EXECUTING', '{\"roles\": [\"a\"], "
	        "\"parameters\": {\"k\": \"v\"}}', 0, 1000, 10, 0, 0)",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 2; i++) {
		sched_store_close(&f->st[i]);
		db_close(&f->db[i]);
	}
	unlink(f->path);
	free(f);
	return 0;
}

static int64_t
query_int(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(
	    sqlite3_prepare_v2(f->db[0].handle, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL
		        ? -2
		        : sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_sched_store_claim_once(void **state)
{
	struct fixture *f = *state;
	struct sched_exec x[4], y[4];
	int n = -1, m = -1;

	assert_int_equal(
	    sched_store_claim(&f->st[0], "a", 100, 1000, 4, x, &n), 0);
	assert_int_equal(
	    sched_store_claim(&f->st[1], "b", 100, 1000, 4, y, &m), 0);
	assert_int_equal(n, 1);
	assert_int_equal(m, 0);
	assert_int_equal(x[0].ordinal, 1);
	assert_int_equal(x[0].revision, 3);
	assert_int_equal(x[0].due_at, 10);
	assert_string_equal(x[0].parameters, "{\"k\":\"v\"}");
	assert_string_equal(x[0].roles, "[\"a\"]");
	assert_int_equal(query_int(f, "SELECT last_ordinal FROM job"), 1);
	assert_int_equal(query_int(f, "SELECT due_at FROM job"), -2);
	assert_int_equal(query_int(f, "SELECT lease_expires_at FROM "
	                              "execution"),
	    1100);
	sched_exec_free(&x[0]);
}

static void
test_sched_store_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	struct sched_outcome o = { EXEC_SUCCEEDED, "0", "{}", 200 };
	struct sched_exec x[2];
	int n, applied;

	assert_int_equal(
	    sched_store_claim(&f->st[0], "a", 100, 1000, 2, x, &n), 0);
	assert_int_equal(n, 1);
	/* Due again while it runs (resumed, say): still not claimable. */
	sqlite3_exec(
	    f->db[0].handle, "UPDATE job SET due_at = 0", NULL, NULL, NULL);
	assert_int_equal(
	    sched_store_claim(&f->st[1], "b", 150, 1000, 2, &x[1], &n), 0);
	assert_int_equal(n, 0);

	/* Success halves the delay (1000 -> 500) and sets the due time. */
	assert_int_equal(
	    sched_store_finish(&f->st[0], &x[0], "a", &o, &applied), 0);
	assert_true(applied);
	assert_int_equal(query_int(f, "SELECT current_delay_ms FROM job"), 500);
	assert_int_equal(query_int(f, "SELECT due_at FROM job"), 700);
	assert_int_equal(query_int(f, "SELECT count(*) FROM execution WHERE "
	                              "status = 'SUCCEEDED'"),
	    1);
	/* A second finish of the same execution changes nothing. */
	assert_int_equal(
	    sched_store_finish(&f->st[0], &x[0], "a", &o, &applied), 0);
	assert_false(applied);
	sched_exec_free(&x[0]);

	assert_int_equal(
	    sched_store_claim(&f->st[1], "b", 700, 1000, 2, x, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(x[0].ordinal, 2);
	sched_exec_free(&x[0]);
}

static void
test_sched_store_lease_expiry(void **state)
{
	struct fixture *f = *state;
	struct sched_outcome o = { EXEC_ABANDONED, "ABANDONED", NULL, 0 };
	struct sched_exec x[2], e[4];
	enum sched_check c;
	int64_t id;
	int n, applied, held = 1;

	assert_int_equal(
	    sched_store_claim(&f->st[0], "a", 100, 1000, 2, x, &n), 0);
	assert_int_equal(n, 1);
	id = x[0].id;
	sched_exec_free(&x[0]);

	/* Renewed to 1500; not expired at 1400, expired at 1600. */
	assert_int_equal(
	    sched_store_renew(&f->st[0], "a", 1500, &id, 1, &held), 0);
	assert_true(held);
	assert_int_equal(
	    sched_store_expired(&f->st[1], "b", 1400, e, 4, &n), 0);
	assert_int_equal(n, 0);

	/* Its own runs are never the owner's to abandon, however late. */
	assert_int_equal(
	    sched_store_expired(&f->st[0], "a", 1600, e, 4, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(
	    sched_store_expired(&f->st[1], "b", 1600, e, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, id);
	o.stopped_at = 1600;
	assert_int_equal(
	    sched_store_finish(&f->st[1], &e[0], NULL, &o, &applied), 0);
	assert_true(applied);
	sched_exec_free(&e[0]);

	/* As after a failure: 1000 * 2, due from the stop. */
	assert_int_equal(
	    query_int(f, "SELECT current_delay_ms FROM job"), 2000);
	assert_int_equal(query_int(f, "SELECT due_at FROM job"), 3600);
	assert_int_equal(query_int(f, "SELECT count(*) FROM execution WHERE "
	                              "status = 'ABANDONED' AND "
	                              "response_code = 'ABANDONED'"),
	    1);
	/* The old owner learns it lost the lease. */
	assert_int_equal(
	    sched_store_renew(&f->st[0], "a", 5000, &id, 1, &held), 0);
	assert_false(held);
	assert_int_equal(sched_store_check(&f->st[0], id, "a", &c), 0);
	assert_int_equal(c, SCHED_CHECK_LOST);
}

static void
test_sched_store_check_stop_delete(void **state)
{
	struct fixture *f = *state;
	struct sched_outcome o = { EXEC_CANCELLED, "SIGTERM", NULL, 300 };
	struct sched_exec x[1];
	enum sched_check c;
	int n, applied;

	assert_int_equal(
	    sched_store_claim(&f->st[0], "a", 100, 1000, 1, x, &n), 0);
	assert_int_equal(sched_store_check(&f->st[0], x[0].id, "a", &c), 0);
	assert_int_equal(c, SCHED_CHECK_RUN);
	sqlite3_exec(f->db[1].handle, "UPDATE job SET status = 'STOPPED'", NULL,
	    NULL, NULL);
	assert_int_equal(sched_store_check(&f->st[0], x[0].id, "a", &c), 0);
	assert_int_equal(c, SCHED_CHECK_CANCEL);
	/* A stopped job gets no due time back. */
	assert_int_equal(
	    sched_store_finish(&f->st[0], &x[0], "a", &o, &applied), 0);
	assert_true(applied);
	assert_int_equal(query_int(f, "SELECT due_at FROM job"), -2);

	sqlite3_exec(f->db[1].handle, "DELETE FROM job", NULL, NULL, NULL);
	assert_int_equal(sched_store_check(&f->st[0], x[0].id, "a", &c), 0);
	assert_int_equal(c, SCHED_CHECK_CANCEL);
	sched_exec_free(&x[0]);
}

static void
test_sched_store_next_due(void **state)
{
	struct fixture *f = *state;
	int64_t due, v0, v1;

	assert_int_equal(sched_store_next_due(&f->st[0], &due), 0);
	assert_int_equal(due, 10);
	assert_int_equal(sched_store_data_version(&f->st[0], &v0), 0);
	sqlite3_exec(f->db[1].handle,
	    "UPDATE job SET status = 'PAUSED', "
	    "due_at = NULL",
	    NULL, NULL, NULL);
	assert_int_equal(sched_store_data_version(&f->st[0], &v1), 0);
	assert_true(v0 != v1);
	assert_int_equal(sched_store_next_due(&f->st[0], &due), 0);
	assert_true(due == INT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_sched_store_claim_once, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sched_store_one_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sched_store_lease_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sched_store_check_stop_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sched_store_next_due, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
