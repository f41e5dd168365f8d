/*
 * Tests of the group commit with real threads, each with its own
 * connection to a temporary database: a group really carries several
 * writes in one commit, a write that fails leaves the rest of its group
 * alone, and a write that ends the transaction fails the whole group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "conf.h"
#include "db.h"
#include "group_commit.h"

#define WRITERS 4 /* the first leads a group alone, the others form one */

struct fixture {
	char dir[64];
	char path[128];
	struct conf conf;
	struct group_commit group;
};

/* One writer thread: its connection, what it writes, what it got. */
struct writer {
	struct fixture *fx;
	struct db db;
	group_write_fn *fn;
	const char *value;
	enum err result;
	char detail[512];
	pthread_t thread;
};

static void
pause_ms(void)
{
	struct timespec ts = { 0, 1000000 };

	nanosleep(&ts, NULL);
}

static void
remove_dir(const char *dir)
{
	static const char *const files[] = { "ledgerops.conf", "test.db",
		"test.db-wal", "test.db-shm", "test.db-lock" };
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
	char err[512], conf_path[128], lock_path[160];
	struct db db;
	FILE *f;

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/test_group.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(conf_path, sizeof conf_path, "%s/ledgerops.conf", fx->dir);
	f = fopen(conf_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "[database]\npath = test.db\nsynchronous = NORMAL\n");
	fclose(f);
	snprintf(lock_path, sizeof lock_path, "%s/test.db-lock", fx->dir);
	if (conf_load(&fx->conf, conf_path, err, sizeof err) != 0 ||
	    db_open(&db, &fx->conf, err, sizeof err) != 0 ||
	    sqlite3_exec(db.handle, "CREATE TABLE t (v TEXT PRIMARY KEY)", NULL,
	        NULL, NULL) ||
	    group_commit_init(&fx->group, lock_path) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	db_close(&db);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	group_commit_destroy(&fx->group);
	conf_free(&fx->conf);
	remove_dir(fx->dir);
	free(fx);
	return 0;
}

/* Inserts the value as one write; a duplicate undoes only itself. */
static enum err
write_insert(struct db *db, void *arg, char *detail, size_t len)
{
	struct writer *w = arg;
	sqlite3_stmt *st = NULL;
	enum err e;
	int rc;

	e = db_begin(db, detail, len);
	if (e != ERR_OK)
		return e;
	rc = sqlite3_prepare_v2(
	    db->handle, "INSERT INTO t (v) VALUES (?)", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(st, 1, w->value, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_rollback(db);
		return err_set(
		    detail, len, ERR_VALIDATION, "duplicate %s", w->value);
	}
	return db_commit(db, detail, len);
}

/* The first writer holds its group open until the others have queued
 * behind it, so that they must share the next group. */
static enum err
write_after_others_queue(struct db *db, void *arg, char *detail, size_t len)
{
	struct writer *w = arg;
	int i;

	for (i = 0; i < 5000; i++) {
		if (group_commit_queued(&w->fx->group) == WRITERS - 1)
			break;
		pause_ms();
	}
	return write_insert(db, arg, detail, len);
}

/* A write that ends the whole transaction, as a full disk would. */
static enum err
write_abort(struct db *db, void *arg, char *detail, size_t len)
{
	(void)arg;
	(void)detail;
	(void)len;
	sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
	return ERR_OK;
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	w->result = group_commit_run(
	    &w->fx->group, &w->db, w->fn, w, w->detail, sizeof w->detail);
	return NULL;
}

static int
is_leading(struct group_commit *g)
{
	int leading;

	pthread_mutex_lock(&g->lock);
	leading = g->leading;
	pthread_mutex_unlock(&g->lock);
	return leading;
}

/* Runs writer 0 with first, waits until it leads, then the others with
 * rest[i]; joins them all. */
static void
run_writers(struct fixture *fx, struct writer *w, group_write_fn *first,
    group_write_fn *const *rest, const char *const *values)
{
	char err[512];
	int i;

	for (i = 0; i < WRITERS; i++) {
		w[i].fx = fx;
		w[i].fn = i == 0 ? first : rest[i - 1];
		w[i].value = values[i];
		assert_int_equal(
		    db_open(&w[i].db, &fx->conf, err, sizeof err), 0);
	}
	assert_int_equal(
	    pthread_create(&w[0].thread, NULL, writer_main, &w[0]), 0);
	for (i = 0; i < 5000 && !is_leading(&fx->group); i++)
		pause_ms();
	for (i = 1; i < WRITERS; i++)
		assert_int_equal(
		    pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
	for (i = 0; i < WRITERS; i++) {
		pthread_join(w[i].thread, NULL);
		db_close(&w[i].db);
	}
}

/* Whether value is committed, seen from a connection of its own. */
static int
committed(struct fixture *fx, const char *value)
{
	char err[512], sql[128];
	sqlite3_stmt *st = NULL;
	struct db db;
	int found;

	assert_int_equal(db_open(&db, &fx->conf, err, sizeof err), 0);
	snprintf(
	    sql, sizeof sql, "SELECT count(*) FROM t WHERE v = '%s'", value);
	assert_int_equal(
	    sqlite3_prepare_v2(db.handle, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	found = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	db_close(&db);
	return found;
}

static void
test_group_carries_several_writes(void **state)
{
	struct fixture *fx = *state;
	static group_write_fn *const rest[] = { write_insert, write_insert,
		write_insert };
	static const char *const values[] = { "a", "b", "c", "d" };
	struct writer w[WRITERS];
	int i;

	memset(w, 0, sizeof w);
	run_writers(fx, w, write_after_others_queue, rest, values);
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(w[i].result, ERR_OK);
		assert_int_equal(committed(fx, values[i]), 1);
	}
	/* the first alone, then the three that queued behind it */
	assert_int_equal(fx->group.groups, 2);
	assert_int_equal(fx->group.writes, WRITERS);
}

static void
test_failed_write_leaves_its_group(void **state)
{
	struct fixture *fx = *state;
	static group_write_fn *const rest[] = { write_insert, write_insert,
		write_insert };
	/* "a" again: a duplicate of the first writer's, in the second group */
	static const char *const values[] = { "a", "b", "a", "d" };
	struct writer w[WRITERS];

	memset(w, 0, sizeof w);
	run_writers(fx, w, write_after_others_queue, rest, values);
	assert_int_equal(w[0].result, ERR_OK);
	assert_int_equal(w[1].result, ERR_OK);
	assert_int_equal(w[2].result, ERR_VALIDATION);
	assert_string_equal(w[2].detail, "duplicate a");
	assert_int_equal(w[3].result, ERR_OK);
	assert_int_equal(committed(fx, "a"), 1);
	assert_int_equal(committed(fx, "b"), 1);
	assert_int_equal(committed(fx, "d"), 1);
	assert_int_equal(fx->group.groups, 2);
}

static void
test_ended_transaction_fails_group(void **state)
{
	struct fixture *fx = *state;
	static group_write_fn *const rest[] = { write_insert, write_abort,
		write_insert };
	static const char *const values[] = { "a", "b", "x", "d" };
	struct writer w[WRITERS];

	memset(w, 0, sizeof w);
	run_writers(fx, w, write_after_others_queue, rest, values);
	assert_int_equal(w[0].result, ERR_OK);
	assert_int_equal(committed(fx, "a"), 1);
	/* nothing of the second group is committed, and all of it says so */
	assert_int_equal(w[1].result, ERR_INTERNAL);
	assert_int_equal(w[2].result, ERR_INTERNAL);
	assert_int_equal(w[3].result, ERR_INTERNAL);
	assert_int_equal(committed(fx, "b"), 0);
	assert_int_equal(committed(fx, "d"), 0);
}

/* Without a group (g NULL) a write is its own transaction. */
static void
test_no_group_commits_alone(void **state)
{
	struct fixture *fx = *state;
	struct writer w;
	char err[512];

	memset(&w, 0, sizeof w);
	w.fx = fx;
	w.value = "solo";
	assert_int_equal(db_open(&w.db, &fx->conf, err, sizeof err), 0);
	assert_int_equal(group_commit_run(NULL, &w.db, write_insert, &w,
	                     w.detail, sizeof w.detail),
	    ERR_OK);
	assert_int_equal(group_commit_run(NULL, &w.db, write_insert, &w,
	                     w.detail, sizeof w.detail),
	    ERR_VALIDATION);
	db_close(&w.db);
	assert_int_equal(committed(fx, "solo"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_group_carries_several_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_failed_write_leaves_its_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ended_transaction_fails_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_group_commits_alone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
