/*
 * The configuration file shared by both programs (contract section 7),
 * read with libinih.  Unknown sections and keys and out-of-range values
 * are errors that name the line.
 */
#ifndef LEDGEROPS_CONF_H
#define LEDGEROPS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "model.h"

/* The most executions one scheduler runs at once: it polls two pipes of
 * each and renews their leases in one statement, both sized by this. */
#define CONF_MAX_RUNNING 256

/* The most threads one responder runs, each with a connection. */
#define CONF_MAX_THREADS 64

/* A named data source or target and the roles allowed to use it. */
struct conf_place {
	char *name;
	char *path; /* absolute, or relative to the working dir */
	char **roles;
	size_t nroles;
};

struct conf {
	char *file; /* the file read, for messages */

	char *db_path;
	int64_t busy_timeout_ms;
	int synchronous_full; /* 1: FULL, 0: NORMAL */

	int require_headers;
	int64_t max_body_bytes;
	int64_t threads; /* requests one responder serves at once */

	int64_t poll_interval_ms;
	int64_t max_running;
	int64_t lease_ms;
	int64_t default_timeout_ms;
	int64_t kill_grace_ms;
	char *handlers_dir;
	int64_t output_limit_bytes;
	int64_t report_row_limit;
	int64_t shutdown_grace_ms;

	/* The default backoff of each operation type, [backoff] overlaid
	 * with [backoff.TYPE]. */
	struct backoff backoff[OP_TYPE__MAX];

	struct conf_place *sources;
	size_t nsources;
	struct conf_place *targets;
	size_t ntargets;
};

/*
 * Chooses the file to read: arg (from -c) when not NULL, else
 * $LEDGEROPS_CONF, else SYSCONFDIR "/ledgerops.conf".
 */
const char *conf_choose_path(const char *arg);

/*
 * Reads path into c, which it first fills with the defaults.  Returns 0,
 * or -1 with a message ("FILE:LINE: ...") in err; c is freed then.
 */
int conf_load(struct conf *c, const char *path, char *err, size_t err_len);

/* Releases everything conf_load() allocated. */
void conf_free(struct conf *c);

/* Finds a source or target by name; NULL when there is none. */
const struct conf_place *conf_find_source(
    const struct conf *c, const char *name);
const struct conf_place *conf_find_target(
    const struct conf *c, const char *name);

#endif
