/*
 * Backoff policy arithmetic (contract section 3).  Pure functions: no I/O,
 * no clock.  All delays are milliseconds in [0, BACKOFF_MAX_MS].
 */
#ifndef LEDGEROPS_BACKOFF_H
#define LEDGEROPS_BACKOFF_H

#include <stdint.h>

#define BACKOFF_MAX_MS INT64_C(2147483647)

struct backoff {
	int64_t initial_ms;
	int64_t minimum_ms;
	int64_t maximum_ms;
	int64_t increase; /* factor >= 1 */
	int64_t decrease; /* factor >= 1 */
};

/* Returns 1 when b satisfies 0 <= min <= initial <= max <= 2^31-1 and
 * both factors are in [1, 2^31-1]; 0 otherwise. */
int backoff_is_valid(const struct backoff *b);

/* The delay after a successful execution: max(minimum, d / decrease). */
int64_t backoff_after_success(const struct backoff *b, int64_t d);

/* The delay after any other outcome: min(maximum, d * increase), computed
 * without overflow. */
int64_t backoff_after_failure(const struct backoff *b, int64_t d);

/* Clamps d into [minimum, maximum]; used when a job's backoff changes. */
int64_t backoff_clamp(const struct backoff *b, int64_t d);

#endif
