/*
 * Group commit for the threads of one responder.
 *
 * Each acknowledged write must be on disk, so a commit costs a sync of
 * the log, and SQLite lets one connection at a time write.  When several
 * threads of a process have writes ready, the first becomes the leader:
 * it runs all of them, each in a savepoint of its own, in one
 * transaction on its connection, and commits them with one sync.  Writes
 * that arrive meanwhile queue up and form the next group.  Nobody waits
 * for a group to fill: a lone write is committed at once.
 *
 * The leaders of the processes sharing a database take turns (turn.h),
 * so that the next leader starts the moment the previous one has
 * committed, where SQLite's own lock would have it sleep and retry;
 * meanwhile its process's writes gather into its group.
 */
#ifndef LEDGEROPS_GROUP_COMMIT_H
#define LEDGEROPS_GROUP_COMMIT_H

#include <pthread.h>
#include <stddef.h>

#include "db.h"
#include "error.h"
#include "turn.h"

/*
 * One write: it runs its statements on db between db_begin() and
 * db_commit() or db_rollback() (store.h functions do), which become a
 * savepoint inside the group's transaction.  It may run on another
 * thread's connection, so it touches no connection but db.
 */
typedef enum err group_write_fn(
    struct db *db, void *arg, char *detail, size_t len);

struct group_write;

struct group_commit {
	pthread_mutex_t lock;
	pthread_cond_t finished; /* a group was committed or failed */
	struct group_write *queue, **queue_end;
	int leading;                  /* a leader is running a group */
	struct turn turn;             /* between the processes (turn.h) */
	unsigned long groups, writes; /* counters for the log at exit */
};

/*
 * Returns 0, or -1 when the mutex or condition cannot be created.
 * lock_path is the lock file the processes take turns on (created if
 * needed); without it, or when it cannot be opened (logged), writers
 * wait for SQLite's lock alone, which is slower but as safe.
 */
int group_commit_init(struct group_commit *g, const char *lock_path);
void group_commit_destroy(struct group_commit *g);

/*
 * Runs fn(db, arg) as one write of a group and returns once the group's
 * commit is durable, or has failed: then every write of the group gets
 * the commit's error, even one whose own statements succeeded.  db is
 * the caller's connection, used if the caller leads.  With g NULL the
 * write runs alone in a transaction of its own.
 */
enum err group_commit_run(struct group_commit *g, struct db *db,
    group_write_fn *fn, void *arg, char *detail, size_t len);

/* How many writes wait for the next group (for tests and diagnostics). */
size_t group_commit_queued(struct group_commit *g);

#endif
