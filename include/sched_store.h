/*
 * The scheduler's SQL: claiming due jobs under a lease, renewing leases,
 * finishing executions with the job's next due time, and closing the
 * executions of dead schedulers.  Its statements are a table of SQL texts
 * prepared once on the connection of a struct db.  Functions return 0, or
 * -1 after logging the SQLite failure (the caller retries on a later
 * tick); every write is one BEGIN IMMEDIATE transaction.
 */
#ifndef LEDGEROPS_SCHED_STORE_H
#define LEDGEROPS_SCHED_STORE_H

#include <stdint.h>

#include <sqlite3.h>

#include "model.h"

enum sched_stmt {
	SCHED_DATA_VERSION,
	SCHED_NEXT_DUE,
	SCHED_CLAIM_SELECT,
	SCHED_JOB_TAKE,
	SCHED_EXEC_INSERT,
	SCHED_CHECK,
	SCHED_RENEW,
	SCHED_EXPIRED,
	SCHED_EXEC_FINISH,
	SCHED_JOB_POLICY,
	SCHED_JOB_RESCHEDULE,
	SCHED_STMT__MAX
};

struct sched_store {
	sqlite3 *handle; /* borrowed from a struct db */
	sqlite3_stmt *stmt[SCHED_STMT__MAX];
};

/* One execution as the scheduler knows it; strings are owned. */
struct sched_exec {
	int64_t id;
	int64_t job_id;
	int64_t ordinal;
	int64_t revision;
	int64_t due_at;     /* UTC ms, when the job was due */
	int64_t started_at; /* UTC ms */
	int64_t timeout_ms; /* 0: the configured default */
	char *type;
	char *definition;
	char *name;
	char *parameters; /* JSON text of the snapshot */
	char *roles;      /* JSON text of the snapshot */
	enum exec_status status;
};

/* How an execution ended, for sched_store_finish(). */
struct sched_outcome {
	enum exec_status status;
	const char *response_code;
	const char *result; /* JSON text, or NULL */
	int64_t stopped_at;
};

/* What a running execution should do after sched_store_check(). */
enum sched_check {
	SCHED_CHECK_RUN,    /* carry on */
	SCHED_CHECK_CANCEL, /* its job was stopped or deleted */
	SCHED_CHECK_LOST    /* another scheduler closed it */
};

/* Prepares every statement on handle.  Returns 0 or -1. */
int sched_store_open(struct sched_store *s, sqlite3 *handle);

/* Finalizes the statements; the handle stays open. */
void sched_store_close(struct sched_store *s);

/* PRAGMA data_version: changes when another connection commits. */
int sched_store_data_version(struct sched_store *s, int64_t *version);

/* The earliest due time of an EXECUTING job, INT64_MAX when none. */
int sched_store_next_due(struct sched_store *s, int64_t *due);

/*
 * Claims up to max due EXECUTING jobs that have no STARTED execution, in
 * one transaction: each gets a STARTED execution (the next ordinal, the
 * job's parameters, roles and revision, its due time) leased to owner
 * until now + lease_ms, and loses its due time until it finishes.  Fills
 * out[0..*n); release each with sched_exec_free().
 */
int sched_store_claim(struct sched_store *s, const char *owner, int64_t now,
    int64_t lease_ms, int max, struct sched_exec *out, int *n);

/* Whether execution id should go on running under owner. */
int sched_store_check(struct sched_store *s, int64_t id, const char *owner,
    enum sched_check *check);

/* Extends the leases of ids[0..n) held by owner to expires, in one
 * transaction; held[i] is set to 0 for a lease no longer held. */
int sched_store_renew(struct sched_store *s, const char *owner, int64_t expires,
    const int64_t *ids, int n, int *held);

/*
 * Up to max STARTED executions of other schedulers whose lease expired
 * before now.  A scheduler's own runs are never taken for dead: their
 * leases are renew's business, and a stall or a clock step must not
 * close a run whose child is still going (the job could then start a
 * second, overlapping run).
 */
int sched_store_expired(struct sched_store *s, const char *owner, int64_t now,
    struct sched_exec *out, int max, int *n);

/*
 * Closes execution x with o and, in the same transaction, gives its job
 * the delay after success (SUCCEEDED) or failure (anything else) of its
 * effective backoff and, if the job is still EXECUTING, the due time
 * stopped_at + delay.  With owner it closes only x leased to owner (or
 * expired); with owner NULL only when the lease expired before
 * o->stopped_at.  *applied is 1 when the row was closed here.
 */
int sched_store_finish(struct sched_store *s, const struct sched_exec *x,
    const char *owner, const struct sched_outcome *o, int *applied);

/* Frees the strings of x. */
void sched_exec_free(struct sched_exec *x);

#endif
