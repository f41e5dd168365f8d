#include <stdio.h>
#include <string.h>

#include "group_commit.h"
#include "log.h"

struct group_write {
	group_write_fn *fn;
	void *arg;
	char *detail;
	size_t len;
	enum err result;
	int done;
	int64_t queued_ns; /* CLOCK_MONOTONIC when it joined the queue */
	struct group_write *next;
};

int
group_commit_init(struct group_commit *g, const char *lock_path)
{
	memset(g, 0, sizeof *g);
	g->queue_end = &g->queue;
	if (pthread_mutex_init(&g->lock, NULL) != 0)
		return -1;
	if (pthread_cond_init(&g->finished, NULL) != 0) {
		pthread_mutex_destroy(&g->lock);
		return -1;
	}
	g->turn.file = NULL;
	g->turn.fd = -1;
	if (lock_path != NULL)
		turn_open(&g->turn, lock_path);
	return 0;
}

void
group_commit_destroy(struct group_commit *g)
{
	turn_close(&g->turn);
	pthread_cond_destroy(&g->finished);
	pthread_mutex_destroy(&g->lock);
}

/* Gives every write of the group that had succeeded the group's error. */
static void
group_fail(struct group_write *w, enum err e, const char *detail)
{
	for (; w != NULL; w = w->next) {
		if (w->result != ERR_OK)
			continue;
		w->result = e;
		snprintf(w->detail, w->len, "%s", detail);
	}
}

/*
 * Runs one group in one transaction on the leader's connection.  A
 * write that fails has rolled back its savepoint and leaves the others
 * alone; a failure that ends the transaction (the disk is full, say)
 * fails the whole group, since nothing of it is committed then.
 */
static void
group_run(struct db *db, struct group_write *group)
{
	char detail[512];
	struct group_write *w;
	enum err e;

	for (w = group; w != NULL; w = w->next)
		w->result = ERR_OK;

	/* No write leaves a transaction open, but if one ever did, the
	 * group must not fail for it. */
	if (!sqlite3_get_autocommit(db->handle)) {
		log_warnx("event=transaction_left_open");
		db_rollback(db);
		db_reset_all(db);
	}
	e = db_begin(db, detail, sizeof detail);
	if (e != ERR_OK) {
		group_fail(group, e, detail);
		return;
	}

	db->grouped = 1;
	for (w = group; w != NULL; w = w->next) {
		if (sqlite3_get_autocommit(db->handle))
			break;
		w->result = w->fn(db, w->arg, w->detail, w->len);
	}
	db->grouped = 0;

	if (sqlite3_get_autocommit(db->handle)) {
		log_warnx("event=group_aborted msg=\"a write ended the "
		          "transaction; its whole group fails\"");
		e = err_set(detail, sizeof detail, ERR_INTERNAL,
		    "the service failed to complete the request");
		for (; w != NULL; w = w->next)
			w->result = ERR_OK; /* not run: fail them below */
		group_fail(group, e, detail);
		return;
	}
	e = db_commit(db, detail, sizeof detail);
	if (e != ERR_OK)
		group_fail(group, e, detail);
	db_reset_all(db);
}

/* Takes the whole queue as the next group; called with the lock held. */
static struct group_write *
group_take(struct group_commit *g)
{
	struct group_write *group = g->queue;

	g->queue = NULL;
	g->queue_end = &g->queue;
	return group;
}

/*
 * Waits for the processes' turn, takes the queue as its group (writes
 * that arrived meanwhile join it) and runs it.  The busy timeout counts
 * from since, when the longest waiting write of the group joined the
 * queue, and covers the wait for the turn and for SQLite's lock, so that
 * writes behind a stuck one get 503 in time.
 */
static struct group_write *
group_lead(struct group_commit *g, struct db *db, int64_t since)
{
	struct group_write *group;
	int turn;

	turn = turn_take(&g->turn, since + db->busy_timeout_ms * 1000000);
	pthread_mutex_lock(&g->lock);
	group = group_take(g);
	pthread_mutex_unlock(&g->lock);

	if (turn != 0) {
		group_fail(group, ERR_BUSY,
		    "the database stayed locked past the busy timeout; "
		    "retry shortly");
		return group;
	}
	db->waiting_since_ns = since;
	group_run(db, group);
	db->waiting_since_ns = 0;
	turn_give(&g->turn);
	return group;
}

enum err
group_commit_run(struct group_commit *g, struct db *db, group_write_fn *fn,
    void *arg, char *detail, size_t len)
{
	struct group_write me = { fn, arg, detail, len, ERR_OK, 0,
		db_monotonic_ns(), NULL };
	struct group_write *group, *w;
	int64_t since;

	if (g == NULL)
		return fn(db, arg, detail, len);

	pthread_mutex_lock(&g->lock);
	*g->queue_end = &me;
	g->queue_end = &me.next;
	while (!me.done) {
		if (g->leading) {
			pthread_cond_wait(&g->finished, &g->lock);
			continue;
		}
		g->leading = 1;
		since = g->queue->queued_ns; /* the longest waiting */
		pthread_mutex_unlock(&g->lock);

		group = group_lead(g, db, since);

		pthread_mutex_lock(&g->lock);
		g->groups++;
		for (w = group; w != NULL; w = w->next) {
			w->done = 1;
			g->writes++;
		}
		g->leading = 0;
		pthread_cond_broadcast(&g->finished);
	}
	pthread_mutex_unlock(&g->lock);
	return me.result;
}

size_t
group_commit_queued(struct group_commit *g)
{
	struct group_write *w;
	size_t n = 0;

	pthread_mutex_lock(&g->lock);
	for (w = g->queue; w != NULL; w = w->next)
		n++;
	pthread_mutex_unlock(&g->lock);
	return n;
}
