/*
 * The scheduler (contract section 5): claims due jobs under a lease,
 * runs each execution in a child process (exec.h), renews the leases,
 * records how each ended, reschedules its job, and closes the executions
 * of schedulers that died.  Its SQL lives in sched_store.c.
 */
#ifndef LEDGEROPS_SCHED_H
#define LEDGEROPS_SCHED_H

#include "conf.h"

/*
 * Runs until SIGTERM or SIGINT, then lets running executions finish for
 * up to conf->shutdown_grace_ms and cancels the rest.  SIGHUP reloads
 * conf from conf->file.  Takes ownership of *conf (the struct itself is
 * the caller's and is rewritten on reload).  Returns the exit status: 0,
 * or 1 when the database or the signal set-up failed at start.
 */
int sched_main(struct conf *conf);

#endif
