/*
 * Backoff arithmetic over tables of cases (contract section 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define MAX BACKOFF_MAX_MS

/* One step from delay d, after a success and after a failure. */
struct step_case {
	struct backoff b; /* initial, minimum, maximum, increase, decrease */
	int64_t d;
	int64_t after_success;
	int64_t after_failure;
};

static const struct step_case step_cases[] = {
	/* A factor of 1 keeps the delay constant either way. */
	{ { 1000, 1000, 300000, 1, 1 }, 1000, 1000, 1000 },
	{ { 5000, 0, MAX, 1, 1 }, 5000, 5000, 5000 },
	/* The contract's example policy. */
	{ { 1000, 1000, 300000, 2, 2 }, 1000, 1000, 2000 },
	{ { 1000, 1000, 300000, 2, 2 }, 8000, 4000, 16000 },
	{ { 1000, 1000, 300000, 2, 2 }, 200000, 100000, 300000 },
	{ { 1000, 1000, 300000, 2, 2 }, 300000, 150000, 300000 },
	/* Integer division rounds down, then the minimum applies. */
	{ { 1000, 1000, 300000, 3, 3 }, 3001, 1000, 9003 },
	{ { 10, 3, 100, 3, 3 }, 10, 3, 30 },
	{ { 10, 3, 100, 3, 3 }, 11, 3, 33 },
	/* A zero delay stays zero when the minimum allows it. */
	{ { 0, 0, 100, 2, 2 }, 0, 0, 0 },
	/* Big factors at the top of the range must not overflow. */
	{ { 1, 1, MAX, MAX, MAX }, 1, 1, MAX },
	{ { 1, 1, MAX, MAX, MAX }, MAX, 1, MAX },
	{ { 1, 0, MAX, MAX, MAX }, MAX - 1, 0, MAX },
	{ { 1, 1, MAX, 2, 2 }, MAX / 2, MAX / 4, MAX - 1 },
	{ { 1, 1, MAX, 2, 2 }, MAX / 2 + 1, 536870912, MAX },
	{ { 1, 1, MAX - 1, 2, 2 }, MAX / 2, MAX / 4, MAX - 1 },
	{ { MAX, MAX, MAX, MAX, MAX }, MAX, MAX, MAX },
	/* Out-of-range delays are brought back into [0, 2^31-1] first. */
	{ { 1, 1, MAX, MAX, 1 }, INT64_MAX, MAX, MAX },
	{ { 1, 0, MAX, MAX, 1 }, -5, 0, 0 },
};

static void
test_backoff_step_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(step_cases) / sizeof(step_cases[0]); i++) {
		const struct step_case *c = &step_cases[i];

		print_message("case %zu\n", i);
		assert_true(backoff_is_valid(&c->b));
		assert_int_equal(
		    backoff_after_success(&c->b, c->d), c->after_success);
		assert_int_equal(
		    backoff_after_failure(&c->b, c->d), c->after_failure);
	}
}

static void
test_backoff_factor_one_constant(void **state)
{
	const struct backoff b = { 7000, 1000, 60000, 1, 1 };
	int64_t d = b.initial_ms;
	int i;

	(void)state;

	/* Any mix of outcomes leaves the delay where it started. */
	for (i = 0; i < 50; i++) {
		d = (i % 3 == 0) ? backoff_after_success(&b, d)
		                 : backoff_after_failure(&b, d);
		assert_int_equal(d, 7000);
	}
}

static void
test_backoff_success_decreases_to_minimum(void **state)
{
	const struct backoff b = { 1000, 100, 300000, 2, 3 };
	static const int64_t want[] = { 80000, 26666, 8888, 2962, 987, 329, 109,
		100, 100 };
	int64_t d = 240000;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		d = backoff_after_success(&b, d);
		assert_int_equal(d, want[i]);
	}
}

static void
test_backoff_failure_grows_to_maximum(void **state)
{
	const struct backoff b = { 1000, 1000, 300000, 2, 2 };
	static const int64_t want[] = { 2000, 4000, 8000, 16000, 32000, 64000,
		128000, 256000, 300000, 300000 };
	int64_t d = b.initial_ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		d = backoff_after_failure(&b, d);
		assert_int_equal(d, want[i]);
	}

	/* And it recovers geometrically once it succeeds again. */
	assert_int_equal(backoff_after_success(&b, d), 150000);
}

static void
test_backoff_failure_overflow(void **state)
{
	const struct backoff b = { 1, 1, MAX, MAX, MAX };
	int64_t d = 1;
	int i;

	(void)state;

	/* d * increase would exceed int64 after two steps without care. */
	for (i = 0; i < 5; i++) {
		d = backoff_after_failure(&b, d);
		assert_int_equal(d, MAX);
	}
	assert_int_equal(backoff_after_success(&b, d), 1);
}

/* A delay under an old policy, clamped into a new one. */
struct clamp_case {
	struct backoff b;
	int64_t d;
	int64_t want;
};

static const struct clamp_case clamp_cases[] = {
	{ { 1000, 1000, 5000, 2, 2 }, 300000, 5000 },
	{ { 1000, 1000, 5000, 2, 2 }, 10, 1000 },
	{ { 1000, 1000, 5000, 2, 2 }, 3000, 3000 },
	{ { 1000, 1000, 5000, 2, 2 }, 1000, 1000 },
	{ { 1000, 1000, 5000, 2, 2 }, 5000, 5000 },
	{ { 0, 0, 0, 1, 1 }, 12345, 0 },
	{ { 0, 0, MAX, 1, 1 }, MAX, MAX },
	{ { 0, 0, MAX, 1, 1 }, -1, 0 },
	{ { 7, 7, 7, 1, 1 }, INT64_MAX, 7 },
};

static void
test_backoff_clamp_after_change(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(clamp_cases) / sizeof(clamp_cases[0]); i++) {
		const struct clamp_case *c = &clamp_cases[i];

		print_message("case %zu\n", i);
		assert_int_equal(backoff_clamp(&c->b, c->d), c->want);
	}
}

struct valid_case {
	struct backoff b;
	int valid;
};

static const struct valid_case valid_cases[] = {
	{ { 1000, 1000, 300000, 2, 2 }, 1 },
	{ { 0, 0, 0, 1, 1 }, 1 },
	{ { MAX, MAX, MAX, MAX, MAX }, 1 },
	{ { 0, 0, MAX, 1, 1 }, 1 },
	/* Ordering of the delays. */
	{ { 999, 1000, 300000, 2, 2 }, 0 },
	{ { 300001, 1000, 300000, 2, 2 }, 0 },
	{ { 1000, 2000, 1500, 2, 2 }, 0 },
	/* Ranges of the delays. */
	{ { 0, -1, 10, 2, 2 }, 0 },
	{ { MAX + 1, 0, MAX + 1, 2, 2 }, 0 },
	{ { 0, 0, MAX + 1, 2, 2 }, 0 },
	{ { 0, 0, INT64_MAX, 2, 2 }, 0 },
	{ { 0, INT64_MIN, 0, 2, 2 }, 0 },
	/* Ranges of the factors. */
	{ { 0, 0, 0, 0, 1 }, 0 },
	{ { 0, 0, 0, 1, 0 }, 0 },
	{ { 0, 0, 0, -2, 1 }, 0 },
	{ { 0, 0, 0, 1, -2 }, 0 },
	{ { 0, 0, 0, MAX + 1, 1 }, 0 },
	{ { 0, 0, 0, 1, MAX + 1 }, 0 },
};

static void
test_backoff_validity(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(
		    backoff_is_valid(&valid_cases[i].b), valid_cases[i].valid);
	}
	assert_false(backoff_is_valid(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_step_table),
		cmocka_unit_test(test_backoff_factor_one_constant),
		cmocka_unit_test(test_backoff_success_decreases_to_minimum),
		cmocka_unit_test(test_backoff_failure_grows_to_maximum),
		cmocka_unit_test(test_backoff_failure_overflow),
		cmocka_unit_test(test_backoff_clamp_after_change),
		cmocka_unit_test(test_backoff_validity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
