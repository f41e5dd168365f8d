#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"

#define DB_CHECKPOINT_FRAMES 1000 /* as SQLite's own default */
#define DB_CHECKPOINT_WAIT_MS 50  /* for readers of old frames */

/* The SQL of each statement of enum db_stmt. */
static const char *const db_sql[DB_STMT__MAX] = {
	[DB_OPERATION_GET] = "SELECT " DB_OPERATION_COLUMNS " FROM operation o "
	                     "WHERE o.type = ? AND o.definition = ?",
	[DB_OPERATION_GET_BY_ID] =
	    "SELECT " DB_OPERATION_COLUMNS " FROM operation o WHERE o.id = ?",
	[DB_OPERATION_INSERT] = "INSERT INTO operation (type, definition, "
	                        "info, backoff, created_at, updated_at) "
	                        "VALUES (?, ?, ?, ?, ?, ?)",
	[DB_OPERATION_UPDATE] = "UPDATE operation SET info = ?, backoff = ?, "
	                        "updated_at = ? WHERE id = ?",
	[DB_OPERATION_DELETE] = "DELETE FROM operation WHERE id = ?",
	[DB_OPERATION_HAS_JOBS] = "SELECT EXISTS (SELECT 1 FROM job "
	                          "WHERE operation_id = ?)",
	/* A job that inherits the backoff shows it in its info, so a new
	 * one is a change of that info: a new revision. */
	[DB_OPERATION_CLAMP_JOBS] = "UPDATE job SET current_delay_ms = "
	                            "max(?1, min(?2, current_delay_ms)), "
	                            "info = json_set(info, '$.backoff', "
	                            "json(?4)), revision = revision + 1, "
	                            "updated_at = ?5 "
	                            "WHERE operation_id = ?3 AND "
	                            "own_backoff = 0 AND "
	                            "json_extract(info, '$.backoff') "
	                            "IS NOT json(?4)",
	[DB_JOB_GET] = "SELECT " DB_JOB_COLUMNS " FROM job j "
	               "JOIN operation o ON o.id = j.operation_id "
	               "WHERE o.type = ? AND o.definition = ? AND j.name = ?",
	[DB_JOB_INSERT] = "INSERT INTO job (operation_id, name, revision, "
	                  "status, info, current_delay_ms, due_at, "
	                  "created_at, updated_at, own_backoff) "
	                  "VALUES (?, ?, 1, 'EXECUTING', ?, ?, ?, ?, ?, ?)",
	[DB_JOB_UPDATE] = "UPDATE job SET info = ?, revision = revision + 1, "
	                  "current_delay_ms = ?, updated_at = ?, "
	                  "own_backoff = ? WHERE id = ?",
	[DB_JOB_DELETE] = "DELETE FROM job WHERE id = ?",
	[DB_JOB_SET_STATUS] = "UPDATE job SET status = ?, "
	                      "current_delay_ms = ?, due_at = ?, "
	                      "updated_at = ? WHERE id = ?",
	/* An update's changes to the role and parameter rows (sql/003). */
	[DB_JOB_ROLE_INSERT] = "INSERT OR IGNORE INTO job_role (role, job_id) "
	                       "VALUES (?, ?)",
	[DB_JOB_ROLE_DELETE] = "DELETE FROM job_role "
	                       "WHERE role = ? AND job_id = ?",
	[DB_JOB_PARAMETER_INSERT] = "INSERT OR IGNORE INTO job_parameter "
	                            "(key, value, job_id) VALUES (?, ?, ?)",
	[DB_JOB_PARAMETER_DELETE] = "DELETE FROM job_parameter WHERE key = ? "
	                            "AND value = ? AND job_id = ?",
	[DB_EXECUTION_RECENT] = "SELECT " DB_EXECUTION_COLUMNS DB_EXECUTION_FROM
	                        " WHERE e.job_id = ? "
	                        "ORDER BY e.id DESC LIMIT 20",
	/* Prepared like the rest: parsing them per request shows up. */
	[DB_BEGIN_READ] = "BEGIN",
	[DB_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[DB_COMMIT] = "COMMIT",
	[DB_ROLLBACK] = "ROLLBACK",
	[DB_SAVEPOINT] = "SAVEPOINT write",
	[DB_RELEASE] = "RELEASE write",
	[DB_ROLLBACK_TO] = "ROLLBACK TO write",
};

/* Runs one pragma or statement without rows; logs and returns rc. */
static int
db_exec(struct db *db, const char *sql, char *err, size_t len)
{
	char *msg = NULL;
	int rc;

	rc = sqlite3_exec(db->handle, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		snprintf(
		    err, len, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

/*
 * Switching to WAL needs a moment of exclusive access; when several
 * responders start at once the busy handler is not always consulted for
 * it, so retry for about the busy timeout.
 */
static int
db_set_wal(struct db *db, const struct conf *conf, char *err, size_t len)
{
	int64_t waited;
	int rc = SQLITE_BUSY;

	for (waited = 0; waited <= conf->busy_timeout_ms; waited += 10) {
		rc = db_exec(db, "PRAGMA journal_mode = WAL", err, len);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			return rc;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	return rc;
}

int64_t
db_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * SQLite's own busy handler sleeps up to 100 ms between tries, so a
 * writer queued behind a transaction of a millisecond may idle for far
 * longer than it needs to.  Try again soon instead: 50 us at first,
 * growing to 1 ms, until the configured timeout has passed.
 */
static int
db_busy(void *ctx, int count)
{
	struct db *db = ctx;
	int64_t now = db_monotonic_ns();
	long pause_ns = 50000L * (count < 20 ? count + 1 : 20);
	int64_t limit_ms =
	    db->checkpointing ? DB_CHECKPOINT_WAIT_MS : db->busy_timeout_ms;

	/* A group's leader has been waiting since it asked for its turn. */
	if (count == 0)
		db->busy_since_ns =
		    db->waiting_since_ns != 0 ? db->waiting_since_ns : now;
	if (now - db->busy_since_ns >= limit_ms * 1000000)
		return 0;
	nanosleep(&(struct timespec){ 0, pause_ns }, NULL);
	return 1;
}

/*
 * Replaces SQLite's automatic checkpoint (PASSIVE, at 1000 frames).
 * With several processes writing in turn, some of them are always
 * inside a transaction, a passive checkpoint never gets to the end of
 * the log, the log is never started over and grows without bound, and
 * every commit then also extends the file, which makes its sync about
 * twice as slow.  RESTART waits (through the busy handler) for the
 * readers of old frames, so that the next writer starts the log from
 * its beginning again.
 */
static int
db_wal_hook(void *ctx, sqlite3 *handle, const char *name, int frames)
{
	struct db *db = ctx;

	/* A slow reader may hold the log; waiting long for it would stall
	 * this answer and every writer, so give up soon and let a later
	 * commit try again. */
	if (frames >= DB_CHECKPOINT_FRAMES) {
		db->checkpointing = 1;
		sqlite3_wal_checkpoint_v2(
		    handle, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		db->checkpointing = 0;
	}
	return SQLITE_OK;
}

static int
db_configure(struct db *db, const struct conf *conf, char *err, size_t len)
{
	int rc;

	db->busy_timeout_ms = conf->busy_timeout_ms;
	sqlite3_wal_hook(db->handle, db_wal_hook, db);
	sqlite3_busy_handler(db->handle, db_busy, db);
	sqlite3_extended_result_codes(db->handle, 0);
	rc = db_set_wal(db, conf, err, len);
	if (rc == SQLITE_OK)
		rc = db_exec(db, "PRAGMA foreign_keys = ON", err, len);
	if (rc == SQLITE_OK)
		rc = db_exec(db,
		    conf->synchronous_full ? "PRAGMA synchronous = FULL"
		                           : "PRAGMA synchronous = NORMAL",
		    err, len);
	return rc;
}

static int
db_user_version(struct db *db, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(
	    db->handle, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Applies migrations past the recorded version in one transaction;
 * whoever takes the write lock first does the work, the others find
 * nothing left to do. */
static int
db_migrate(struct db *db, char *err, size_t len)
{
	char pragma[64];
	int version = 0, rc, i;

	rc = db_exec(db, "BEGIN IMMEDIATE", err, len);
	if (rc != SQLITE_OK)
		return rc;
	rc = db_user_version(db, &version);
	if (rc != SQLITE_OK) {
		snprintf(err, len, "cannot read the schema version: %s",
		    sqlite3_errmsg(db->handle));
		goto fail;
	}
	if (version > db_migration_count) {
		snprintf(err, len,
		    "the database has schema version %d, newer "
		    "than this program knows (%d): upgrade ledgerops",
		    version, db_migration_count);
		rc = SQLITE_ERROR;
		goto fail;
	}
	for (i = version; i < db_migration_count; i++) {
		rc = db_exec(db, db_migrations[i], err, len);
		if (rc != SQLITE_OK)
			goto fail;
		log_info("event=migrated version=%d", i + 1);
	}
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d",
	    db_migration_count);
	if ((rc = db_exec(db, pragma, err, len)) != SQLITE_OK ||
	    (rc = db_exec(db, "COMMIT", err, len)) != SQLITE_OK)
		goto fail;
	return SQLITE_OK;
fail:
	sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
db_open(struct db *db, const struct conf *conf, char *err, size_t len)
{
	int rc;

	memset(db, 0, sizeof *db);
	rc = sqlite3_open_v2(conf->db_path, &db->handle,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, len, "%s: %s", conf->db_path,
		    db->handle ? sqlite3_errmsg(db->handle)
		               : sqlite3_errstr(rc));
		goto fail;
	}
	if (db_configure(db, conf, err, len) != SQLITE_OK ||
	    db_migrate(db, err, len) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	db_close(db);
	return -1;
}

int
db_set_cache_kib(struct db *db, int64_t kib, char *err, size_t len)
{
	char pragma[64];

	snprintf(
	    pragma, sizeof pragma, "PRAGMA cache_size = -%lld", (long long)kib);
	return db_exec(db, pragma, err, len) == SQLITE_OK ? 0 : -1;
}

void
db_close(struct db *db)
{
	int i;

	for (i = 0; i < DB_STMT__MAX; i++)
		sqlite3_finalize(db->stmt[i]);
	for (i = 0; i < DB_CACHE_SLOTS; i++) {
		sqlite3_finalize(db->cache[i].stmt);
		free(db->cache[i].sql);
	}
	sqlite3_close(db->handle);
	free(db->backoff_text);
	memset(db, 0, sizeof *db);
}

sqlite3_stmt *
db_stmt(struct db *db, enum db_stmt id)
{
	int rc;

	if (db->stmt[id] != NULL)
		return db->stmt[id];
	rc = sqlite3_prepare_v3(db->handle, db_sql[id], -1,
	    SQLITE_PREPARE_PERSISTENT, &db->stmt[id], NULL);
	if (rc != SQLITE_OK) {
		log_warnx("event=prepare_failed stmt=%d sqlite=\"%s\"", (int)id,
		    sqlite3_errmsg(db->handle));
		db->stmt[id] = NULL;
	}
	return db->stmt[id];
}

static struct db_cached *
db_cache_slot(struct db *db, const char *sql)
{
	struct db_cached *victim = &db->cache[0];
	int i;

	for (i = 0; i < DB_CACHE_SLOTS; i++) {
		struct db_cached *c = &db->cache[i];

		if (c->sql != NULL && strcmp(c->sql, sql) == 0)
			return c;
		if (c->used < victim->used)
			victim = c;
	}
	sqlite3_finalize(victim->stmt);
	free(victim->sql);
	memset(victim, 0, sizeof *victim);
	return victim;
}

sqlite3_stmt *
db_stmt_for(struct db *db, const char *sql, int *rc)
{
	struct db_cached *c = db_cache_slot(db, sql);

	c->used = ++db->cache_tick;
	if (c->stmt != NULL) {
		sqlite3_reset(c->stmt);
		sqlite3_clear_bindings(c->stmt);
		*rc = SQLITE_OK;
		return c->stmt;
	}
	c->sql = strdup(sql);
	if (c->sql == NULL) {
		*rc = SQLITE_NOMEM;
		return NULL;
	}
	*rc = sqlite3_prepare_v3(
	    db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt, NULL);
	if (*rc != SQLITE_OK) {
		free(c->sql);
		memset(c, 0, sizeof *c);
		return NULL;
	}
	return c->stmt;
}

void
db_reset_all(struct db *db)
{
	int i;

	for (i = 0; i < DB_STMT__MAX; i++) {
		if (db->stmt[i] == NULL)
			continue;
		sqlite3_reset(db->stmt[i]);
		sqlite3_clear_bindings(db->stmt[i]);
	}
	for (i = 0; i < DB_CACHE_SLOTS; i++) {
		if (db->cache[i].stmt == NULL)
			continue;
		sqlite3_reset(db->cache[i].stmt);
		sqlite3_clear_bindings(db->cache[i].stmt);
	}
}

enum err
db_fail(struct db *db, int rc, const char *what, char *detail, size_t len)
{
	int primary = rc & 0xff;

	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return err_set(detail, len, ERR_BUSY,
		    "the database stayed locked past the busy timeout; "
		    "retry shortly");
	log_warnx("event=sqlite_error step=%s rc=%d sqlite=\"%s\"", what, rc,
	    sqlite3_errmsg(db->handle));
	return err_set(detail, len, ERR_INTERNAL,
	    "the service failed to complete the request");
}

enum err
db_run(struct db *db, sqlite3_stmt *st, int bind_rc, const char *what,
    char *detail, size_t len)
{
	int rc = bind_rc != SQLITE_OK ? bind_rc : sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, what, detail, len);
	return ERR_OK;
}

/* Steps one of the transaction statements; returns the SQLite code. */
static int
db_step_control(struct db *db, enum db_stmt id)
{
	sqlite3_stmt *st = db_stmt(db, id);
	int rc;

	if (st == NULL)
		return sqlite3_errcode(db->handle);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum err
db_begin(struct db *db, char *detail, size_t len)
{
	int rc =
	    db_step_control(db, db->grouped ? DB_SAVEPOINT : DB_BEGIN_WRITE);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "begin", detail, len);
	return ERR_OK;
}

enum err
db_begin_read(struct db *db, char *detail, size_t len)
{
	int rc;

	if (db->grouped)
		return ERR_OK;
	rc = db_step_control(db, DB_BEGIN_READ);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "begin_read", detail, len);
	return ERR_OK;
}

void
db_end_read(struct db *db)
{
	if (!db->grouped && !sqlite3_get_autocommit(db->handle))
		db_step_control(db, DB_COMMIT);
}

enum err
db_commit(struct db *db, char *detail, size_t len)
{
	int rc = db_step_control(db, db->grouped ? DB_RELEASE : DB_COMMIT);

	if (rc != SQLITE_OK) {
		enum err e = db_fail(db, rc, "commit", detail, len);

		db_rollback(db);
		return e;
	}
	return ERR_OK;
}

void
db_rollback(struct db *db)
{
	if (sqlite3_get_autocommit(db->handle))
		return;
	if (!db->grouped) {
		db_step_control(db, DB_ROLLBACK);
		return;
	}
	/* Undoes this write only; the savepoint itself must go too. */
	db_step_control(db, DB_ROLLBACK_TO);
	db_step_control(db, DB_RELEASE);
}
