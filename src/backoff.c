/*
 * Backoff policy arithmetic (contract section 3).  Every function here is
 * pure, so the scheduler and the tests can reason about them as tables.
 */
#include <assert.h>
#include <stddef.h>

#include "backoff.h"

/* Keeps d inside [0, BACKOFF_MAX_MS] so that no input can overflow below. */
static int64_t
delay_sane(int64_t d)
{
	if (d < 0)
		return 0;
	if (d > BACKOFF_MAX_MS)
		return BACKOFF_MAX_MS;
	return d;
}

int
backoff_is_valid(const struct backoff *b)
{
	if (b == NULL)
		return 0;

	/* The factors divide and multiply delays: zero would be meaningless. */
	if (b->increase < 1 || b->increase > BACKOFF_MAX_MS)
		return 0;
	if (b->decrease < 1 || b->decrease > BACKOFF_MAX_MS)
		return 0;

	return 0 <= b->minimum_ms && b->minimum_ms <= b->initial_ms &&
	       b->initial_ms <= b->maximum_ms &&
	       b->maximum_ms <= BACKOFF_MAX_MS;
}

int64_t
backoff_after_success(const struct backoff *b, int64_t d)
{
	int64_t next;

	assert(backoff_is_valid(b));

	next = delay_sane(d) / b->decrease;
	return next < b->minimum_ms ? b->minimum_ms : next;
}

int64_t
backoff_after_failure(const struct backoff *b, int64_t d)
{
	assert(backoff_is_valid(b));

	/* Compare before multiplying so that the product never overflows. */
	d = delay_sane(d);
	if (d > b->maximum_ms / b->increase)
		return b->maximum_ms;
	return d * b->increase;
}

int64_t
backoff_clamp(const struct backoff *b, int64_t d)
{
	assert(backoff_is_valid(b));

	if (d < b->minimum_ms)
		return b->minimum_ms;
	if (d > b->maximum_ms)
		return b->maximum_ms;
	return d;
}
