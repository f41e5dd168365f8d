/*
 * The SQLite database both programs share (contract section 6): opening
 * with the required pragmas, migrations, a table of prepared statements,
 * transactions, and the mapping of SQLite failures to enum err.
 */
#ifndef LEDGEROPS_DB_H
#define LEDGEROPS_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "backoff.h"
#include "conf.h"
#include "error.h"

/* The numbered migrations from sql/, compiled in (src/migrations.c). */
extern const char *const db_migrations[];
extern const int db_migration_count;

/*
 * The columns that store.c turns into elements, so that single-resource
 * statements and list queries read rows the same way.  Jobs are selected
 * from "job j JOIN operation o", executions from "execution e JOIN job j
 * JOIN operation o".
 */
#define DB_OPERATION_COLUMNS                                                   \
	"o.id, o.type, o.definition, o.info, o.backoff, o.created_at, "        \
	"o.updated_at"
#define DB_JOB_COLUMNS                                                         \
	"j.id, j.revision, j.status, j.info, j.created_at, j.updated_at, "     \
	"j.current_delay_ms, j.name, " DB_OPERATION_COLUMNS
/* A listed job: its operation is read by id, once per page. */
#define DB_JOB_LIST_COLUMNS                                                    \
	"j.id, j.revision, j.status, j.info, j.created_at, j.updated_at, "     \
	"j.current_delay_ms, j.name, j.operation_id"
#define DB_EXECUTION_COLUMNS                                                   \
	"e.id, e.ordinal, e.revision, e.status, e.parameters, e.roles, "       \
	"e.response_code, e.result, e.created_at, e.started_at, "              \
	"e.stopped_at, e.updated_at, o.type, o.definition, j.name"
#define DB_EXECUTION_FROM                                                      \
	" FROM execution e JOIN job j ON j.id = e.job_id "                     \
	"JOIN operation o ON o.id = j.operation_id"

/* Statements prepared once per process, by index. */
enum db_stmt {
	DB_OPERATION_GET,
	DB_OPERATION_GET_BY_ID,
	DB_OPERATION_INSERT,
	DB_OPERATION_UPDATE,
	DB_OPERATION_DELETE,
	DB_OPERATION_HAS_JOBS,
	DB_OPERATION_CLAMP_JOBS,
	DB_JOB_GET,
	DB_JOB_INSERT,
	DB_JOB_UPDATE,
	DB_JOB_DELETE,
	DB_JOB_SET_STATUS,
	DB_JOB_ROLE_INSERT,
	DB_JOB_ROLE_DELETE,
	DB_JOB_PARAMETER_INSERT,
	DB_JOB_PARAMETER_DELETE,
	DB_EXECUTION_RECENT,
	DB_BEGIN_READ,
	DB_BEGIN_WRITE,
	DB_COMMIT,
	DB_ROLLBACK,
	DB_SAVEPOINT,
	DB_RELEASE,
	DB_ROLLBACK_TO,
	DB_STMT__MAX
};

/* Statements whose text is built per request (filtered lists) are kept
 * by text in a few slots, so that a client repeating a query does not
 * pay for preparing it again. */
#define DB_CACHE_SLOTS 16

struct db_cached {
	char *sql;
	sqlite3_stmt *stmt;
	uint64_t used; /* tick of the last use, for eviction */
};

struct db {
	sqlite3 *handle;
	sqlite3_stmt *stmt[DB_STMT__MAX];
	struct db_cached cache[DB_CACHE_SLOTS];
	uint64_t cache_tick;
	int64_t busy_timeout_ms;
	int64_t busy_since_ns; /* CLOCK_MONOTONIC of the first retry */
	int checkpointing;     /* waits are short while restarting the log */
	int grouped; /* inside a group commit: transactions are savepoints */
	int64_t
	    waiting_since_ns; /* when set, the busy timeout counts from it */
	/* The last operation backoff a job write parsed, by its stored
	 * text: writes in a row are mostly to jobs of one operation. */
	char *backoff_text;
	struct backoff backoff;
};

/*
 * Opens (creating if needed) the database at conf->db_path, sets WAL,
 * busy timeout, foreign keys and synchronous, and applies missing
 * migrations under BEGIN IMMEDIATE, so that several processes starting
 * at once apply each exactly once.  Refuses a database whose schema is
 * newer than this program.  Returns 0, or -1 with a message in err.
 */
int db_open(struct db *db, const struct conf *conf, char *err, size_t len);

/* CLOCK_MONOTONIC in nanoseconds, the clock of busy timeouts. */
int64_t db_monotonic_ns(void);

/* Caps the connection's page cache at kib KiB (SQLite's default is
 * 2 MiB); 0 or -1 with a message in err. */
int db_set_cache_kib(struct db *db, int64_t kib, char *err, size_t len);

/* Finalizes every statement and closes the handle; db may be zeroed. */
void db_close(struct db *db);

/* Returns the statement, preparing it on first use; NULL on failure (the
 * reason is logged).  The caller resets it when done (db_reset). */
sqlite3_stmt *db_stmt(struct db *db, enum db_stmt id);

/*
 * Returns a prepared statement for sql, reusing a cached one with the
 * same text (reset, bindings cleared) or preparing and caching it,
 * evicting the least recently used.  Returns NULL with *rc set when
 * preparing fails.  The statement stays owned by db.
 */
sqlite3_stmt *db_stmt_for(struct db *db, const char *sql, int *rc);

/* Resets and clears bindings of every cached statement, so that no read
 * transaction or bound pointer outlives a request. */
void db_reset_all(struct db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK.  begin and commit map failures
 * through db_fail().  While db->grouped (group_commit.h) they are
 * SAVEPOINT / RELEASE / ROLLBACK TO inside the group's transaction, and
 * a read transaction is the group's. */
enum err db_begin(struct db *db, char *detail, size_t len);

/* A read transaction, so that several statements see one snapshot;
 * db_end_read() finishes it. */
enum err db_begin_read(struct db *db, char *detail, size_t len);
void db_end_read(struct db *db);
enum err db_commit(struct db *db, char *detail, size_t len);
void db_rollback(struct db *db);

/*
 * Maps a failing SQLite result code: SQLITE_BUSY / SQLITE_LOCKED to
 * ERR_BUSY, anything else to ERR_INTERNAL.  Logs the SQLite message with
 * what (the caller's step); detail gets a message safe to show users.
 */
enum err db_fail(
    struct db *db, int rc, const char *what, char *detail, size_t len);

/*
 * Runs a statement that returns no rows to its end.  bind_rc is what
 * binding its parameters returned: when nonzero the statement is not run
 * and the call fails.  The statement is reset and its bindings cleared on
 * every path, so no parameter pointer outlives the call.
 */
enum err db_run(struct db *db, sqlite3_stmt *st, int bind_rc, const char *what,
    char *detail, size_t len);

#endif
