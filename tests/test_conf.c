/*
 * Tests of the configuration file: defaults, every section and key, path
 * resolution, per-type backoff overlays, errors naming FILE:LINE, and the
 * choice of the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"

/* A temporary directory holding the file under test. */
struct fixture {
	char dir[64];
	char path[96];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/test_conf.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof fx->path, "%s/ledgerops.conf", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads text, expecting success. */
static void
load_ok(struct fixture *fx, const char *text, struct conf *c)
{
	char err[512] = "";

	write_file(fx->path, text);
	if (conf_load(c, fx->path, err, sizeof err) != 0)
		fail_msg("conf_load failed: %s", err);
}

/* Loads text, expecting failure with a message starting with the file
 * name, then ":line" when line > 0, and containing part. */
static void
load_fails(struct fixture *fx, const char *text, int line, const char *part)
{
	struct conf c;
	char err[512] = "", prefix[128];

	write_file(fx->path, text);
	assert_int_equal(conf_load(&c, fx->path, err, sizeof err), -1);
	if (line > 0)
		snprintf(prefix, sizeof prefix, "%s:%d: ", fx->path, line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", fx->path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", err, prefix);
	if (part != NULL && strstr(err, part) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, part);
	/* conf_load freed c. */
	assert_null(c.file);
	assert_null(c.sources);
}

static void
check_backoff(const struct backoff *b, int64_t initial, int64_t minimum,
    int64_t maximum, int64_t increase, int64_t decrease)
{
	assert_int_equal(b->initial_ms, initial);
	assert_int_equal(b->minimum_ms, minimum);
	assert_int_equal(b->maximum_ms, maximum);
	assert_int_equal(b->increase, increase);
	assert_int_equal(b->decrease, decrease);
}

static void
test_conf_defaults(void **state)
{
	struct fixture *fx = *state;
	struct conf c;
	char want[160];
	int t;

	load_ok(fx, "; nothing but a comment\n", &c);
	assert_string_equal(c.file, fx->path);
	snprintf(want, sizeof want, "%s/ledgerops.db", fx->dir);
	assert_string_equal(c.db_path, want);
	snprintf(want, sizeof want, "%s/handlers", fx->dir);
	assert_string_equal(c.handlers_dir, want);
	assert_int_equal(c.busy_timeout_ms, 5000);
	assert_int_equal(c.synchronous_full, 1);
	assert_int_equal(c.require_headers, 1);
	assert_int_equal(c.max_body_bytes, 1048576);
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.poll_interval_ms, 100);
	assert_int_equal(c.max_running, 8);
	assert_int_equal(c.lease_ms, 30000);
	assert_int_equal(c.default_timeout_ms, 300000);
	assert_int_equal(c.kill_grace_ms, 5000);
	assert_int_equal(c.output_limit_bytes, 65536);
	assert_int_equal(c.nsources, 0);
	assert_int_equal(c.ntargets, 0);
	for (t = 0; t < OP_TYPE__MAX; t++)
		check_backoff(&c.backoff[t], 1000, 1000, 300000, 2, 2);
	conf_free(&c);
}

static void
test_conf_every_key(void **state)
{
	struct fixture *fx = *state;
	struct conf c;

	load_ok(fx,
	    "[database]\n"
	    "path = /var/lib/x.db\n"
	    "busy_timeout_ms = 250\n"
	    "synchronous = normal ; inline comment\n"
	    "[api]\n"
	    "require_headers = false\n"
	    "max_body_bytes = 4096\n"
	    "threads = 5\n"
	    "[scheduler]\n"
	    "poll_interval_ms = 50\n"
	    "max_running = 3\n"
	    "lease_ms = 1000\n"
	    "default_timeout_ms = 7000\n"
	    "kill_grace_ms = 0\n"
	    "handlers_dir = /opt/h\n"
	    "output_limit_bytes = 100\n"
	    "report_row_limit = 5\n"
	    "shutdown_grace_ms = 9\n"
	    "[backoff]\n"
	    "initial_delay_in_millis = 20\n"
	    "minimum_delay_in_millis = 10\n"
	    "maximum_delay_in_millis = 40\n"
	    "delay_increase = 3\n"
	    "delay_decrease = 1\n",
	    &c);
	assert_string_equal(c.db_path, "/var/lib/x.db");
	assert_int_equal(c.busy_timeout_ms, 250);
	assert_int_equal(c.synchronous_full, 0);
	assert_int_equal(c.require_headers, 0);
	assert_int_equal(c.max_body_bytes, 4096);
	assert_int_equal(c.threads, 5);
	assert_int_equal(c.poll_interval_ms, 50);
	assert_int_equal(c.max_running, 3);
	assert_int_equal(c.lease_ms, 1000);
	assert_int_equal(c.default_timeout_ms, 7000);
	assert_int_equal(c.kill_grace_ms, 0);
	assert_string_equal(c.handlers_dir, "/opt/h");
	assert_int_equal(c.output_limit_bytes, 100);
	assert_int_equal(c.report_row_limit, 5);
	assert_int_equal(c.shutdown_grace_ms, 9);
	check_backoff(&c.backoff[OP_TYPE_REPORT], 20, 10, 40, 3, 1);
	check_backoff(&c.backoff[OP_TYPE_DETECT], 20, 10, 40, 3, 1);
	conf_free(&c);
}

static void
test_conf_booleans(void **state)
{
	static const struct {
		const char *text;
		int value;
	} cases[] = {
		{ "true", 1 },
		{ "TRUE", 1 },
		{ "1", 1 },
		{ "yes", 1 },
		{ "On", 1 },
		{ "false", 0 },
		{ "0", 0 },
		{ "no", 0 },
		{ "OFF", 0 },
	};
	struct fixture *fx = *state;
	char text[128];
	struct conf c;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "[api]\nrequire_headers = %s\n",
		    cases[i].text);
		load_ok(fx, text, &c);
		assert_int_equal(c.require_headers, cases[i].value);
		conf_free(&c);
	}
}

static void
test_conf_bad_booleans(void **state)
{
	struct fixture *fx = *state;

	load_fails(fx, "[api]\nrequire_headers = maybe\n", 2,
	    "[api] require_headers: must be true or false");
	load_fails(fx, "[api]\nrequire_headers = 2\n", 2, "true or false");
	load_fails(fx, "[api]\nrequire_headers =\n", 2, "true or false");
	load_fails(fx, "[database]\nsynchronous = OFF\n", 2, "FULL or NORMAL");
}

static void
test_conf_relative_paths(void **state)
{
	struct fixture *fx = *state;
	struct conf c;
	char want[160];

	load_ok(fx,
	    "[database]\npath = data/x.db\n"
	    "[scheduler]\nhandlers_dir = ../h\n"
	    "[source.sales]\npath = sales.db\n"
	    "[target.reports]\npath = /abs/reports\n",
	    &c);
	snprintf(want, sizeof want, "%s/data/x.db", fx->dir);
	assert_string_equal(c.db_path, want);
	snprintf(want, sizeof want, "%s/../h", fx->dir);
	assert_string_equal(c.handlers_dir, want);
	snprintf(want, sizeof want, "%s/sales.db", fx->dir);
	assert_string_equal(conf_find_source(&c, "sales")->path, want);
	assert_string_equal(
	    conf_find_target(&c, "reports")->path, "/abs/reports");
	conf_free(&c);

	load_fails(fx, "[database]\npath =\n", 2, "must not be empty");
}

/* A file named without a directory resolves against ".". */
static void
test_conf_relative_file(void **state)
{
	struct fixture *fx = *state;
	struct conf c;
	char err[256], cwd[512];

	assert_non_null(getcwd(cwd, sizeof cwd));
	write_file(fx->path, "[database]\npath = x.db\n");
	assert_int_equal(chdir(fx->dir), 0);
	assert_int_equal(conf_load(&c, "ledgerops.conf", err, sizeof err), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(c.db_path, "./x.db");
	conf_free(&c);
}

/* [backoff.REPORT] overrides single keys of [backoff], before or after
 * it; other types keep [backoff]. */
static void
test_conf_backoff_override(void **state)
{
	static const char *const texts[] = {
		"[backoff]\ninitial_delay_in_millis = 2000\n"
		"maximum_delay_in_millis = 9000\n"
		"[backoff.REPORT]\nmaximum_delay_in_millis = 5000\n",
		"[backoff.REPORT]\nmaximum_delay_in_millis = 5000\n"
		"[backoff]\ninitial_delay_in_millis = 2000\n"
		"maximum_delay_in_millis = 9000\n",
	};
	struct fixture *fx = *state;
	struct conf c;
	size_t i;

	for (i = 0; i < 2; i++) {
		load_ok(fx, texts[i], &c);
		check_backoff(
		    &c.backoff[OP_TYPE_REPORT], 2000, 1000, 5000, 2, 2);
		check_backoff(
		    &c.backoff[OP_TYPE_PUBLISH], 2000, 1000, 9000, 2, 2);
		check_backoff(
		    &c.backoff[OP_TYPE_DETECT], 2000, 1000, 9000, 2, 2);
		conf_free(&c);
	}
}

static void
test_conf_backoff_errors(void **state)
{
	struct fixture *fx = *state;

	load_fails(fx, "[backoff.NOPE]\ndelay_increase = 2\n", 2,
	    "unknown operation type");
	load_fails(fx, "[backoff]\ndelay_increase = 0\n", 2,
	    "[backoff] delay_increase");
	load_fails(fx, "[backoff.REPORT]\ndelay_decrease = -1\n", 2,
	    "[backoff.REPORT] delay_decrease");
	load_fails(fx, "[backoff]\ninitial_delay_in_millis = 2147483648\n", 2,
	    "2147483647");
	load_fails(fx, "[backoff]\nbogus = 1\n", 2, "unknown key");
	/* Each key is in range but the result breaks the order. */
	load_fails(fx, "[backoff.REPORT]\nminimum_delay_in_millis = 5000\n", 0,
	    "type REPORT");
	load_fails(fx, "[backoff]\nmaximum_delay_in_millis = 10\n", 0,
	    "minimum <= initial <= maximum");
}

static void
test_conf_unknown_section_key(void **state)
{
	struct fixture *fx = *state;

	load_fails(fx, "[database]\nbusy_timeout_ms = 1\n\n[nope]\nx = 1\n", 5,
	    "[nope] x: unknown section or key");
	load_fails(
	    fx, "[api]\nmax_body_bytes = 1\nbogus = 2\n", 3, "[api] bogus");
	load_fails(fx, "[scheduler]\npath = x\n", 2, "unknown");
	load_fails(
	    fx, "[source.s]\npath = x\ncolour = red\n", 3, "unknown key");
	load_fails(fx, "x = 1\n", 1, "unknown section or key");
	/* Only the first error is reported. */
	load_fails(fx, "[a]\nx = 1\n[b]\ny = 2\n", 2, "[a] x");
}

static void
test_conf_syntax_error(void **state)
{
	struct fixture *fx = *state;

	load_fails(fx, "[api]\nrequire_headers = true\nno equals sign\n", 3,
	    "syntax error");
}

static void
test_conf_out_of_range(void **state)
{
	static const struct {
		const char *text;
		const char *part;
	} cases[] = {
		{ "[database]\nbusy_timeout_ms = -1\n",
		    "from 0 to 2147483647" },
		{ "[database]\nbusy_timeout_ms = 2147483648\n", "2147483648" },
		{ "[api]\nmax_body_bytes = 0\n", "from 1 to 1073741824" },
		{ "[api]\nmax_body_bytes = 1073741825\n", "max_body_bytes" },
		{ "[scheduler]\npoll_interval_ms = 60001\n", "60000" },
		{ "[scheduler]\nmax_running = 0\n", "max_running" },
		{ "[scheduler]\nmax_running = 257\n", "from 1 to 256" },
		{ "[scheduler]\nlease_ms = 99\n", "from 100" },
		{ "[scheduler]\ndefault_timeout_ms = 0\n", "default_timeout" },
		{ "[scheduler]\nkill_grace_ms = -5\n", "kill_grace_ms" },
		{ "[scheduler]\noutput_limit_bytes = 67108865\n", "67108864" },
		{ "[scheduler]\nmax_running = 8x\n", "\"8x\"" },
		{ "[scheduler]\nmax_running = 1.5\n", "max_running" },
		{ "[scheduler]\nmax_running =\n", "max_running" },
		{ "[scheduler]\nmax_running = 99999999999999999999\n",
		    "max_running" },
	};
	struct fixture *fx = *state;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		load_fails(fx, cases[i].text, 2, cases[i].part);
}

static void
test_conf_range_bounds(void **state)
{
	struct fixture *fx = *state;
	struct conf c;

	load_ok(fx,
	    "[database]\nbusy_timeout_ms = 0\n"
	    "[api]\nmax_body_bytes = 1073741824\n"
	    "[scheduler]\nmax_running = 256\nlease_ms = 100\n"
	    "poll_interval_ms = 60000\n",
	    &c);
	assert_int_equal(c.busy_timeout_ms, 0);
	assert_int_equal(c.max_body_bytes, 1073741824);
	assert_int_equal(c.max_running, 256);
	assert_int_equal(c.lease_ms, 100);
	assert_int_equal(c.poll_interval_ms, 60000);
	conf_free(&c);
}

static void
test_conf_places(void **state)
{
	struct fixture *fx = *state;
	const struct conf_place *p;
	struct conf c;

	load_ok(fx,
	    "[source.sales]\npath = /db/sales.db\nroles = a, b ,c\n"
	    "[target.reports]\nroles = reporting\npath = /r\n"
	    "[source.empty]\npath = /e\nroles = , ,\n"
	    "[source.sales]\nroles = x\n",
	    &c);
	assert_int_equal(c.nsources, 2);
	assert_int_equal(c.ntargets, 1);
	p = conf_find_source(&c, "sales");
	assert_non_null(p);
	assert_string_equal(p->name, "sales");
	assert_string_equal(p->path, "/db/sales.db");
	/* A later roles key replaces the earlier list. */
	assert_int_equal(p->nroles, 1);
	assert_string_equal(p->roles[0], "x");
	p = conf_find_target(&c, "reports");
	assert_non_null(p);
	assert_int_equal(p->nroles, 1);
	assert_string_equal(p->roles[0], "reporting");
	p = conf_find_source(&c, "empty");
	assert_non_null(p);
	assert_int_equal(p->nroles, 0);
	assert_null(conf_find_source(&c, "reports"));
	assert_null(conf_find_target(&c, "sales"));
	conf_free(&c);
}

static void
test_conf_roles_list(void **state)
{
	struct fixture *fx = *state;
	const struct conf_place *p;
	struct conf c;

	load_ok(fx, "[source.s]\npath = /s\nroles = a, b ,c\n", &c);
	p = conf_find_source(&c, "s");
	assert_non_null(p);
	assert_int_equal(p->nroles, 3);
	assert_string_equal(p->roles[0], "a");
	assert_string_equal(p->roles[1], "b");
	assert_string_equal(p->roles[2], "c");
	conf_free(&c);

	load_ok(
	    fx, "[target.t]\npath = /t\nroles = \tone two ,, three\t\n", &c);
	p = conf_find_target(&c, "t");
	assert_int_equal(p->nroles, 2);
	assert_string_equal(p->roles[0], "one two");
	assert_string_equal(p->roles[1], "three");
	conf_free(&c);
}

static void
test_conf_place_errors(void **state)
{
	struct fixture *fx = *state;

	load_fails(fx, "[source.s]\nroles = a\n", 0, "needs a path");
	load_fails(fx, "[target.t]\nroles = a\n", 0, "needs a path");
	load_fails(fx, "[source.]\npath = /x\n", 2, "needs a name");
	load_fails(fx, "[target.t]\npath =\n", 2, "must not be empty");
}

static void
test_conf_missing_file(void **state)
{
	struct fixture *fx = *state;
	struct conf c;
	char err[512], path[160];

	snprintf(path, sizeof path, "%s/absent.conf", fx->dir);
	assert_int_equal(conf_load(&c, path, err, sizeof err), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "cannot open"));
}

static void
test_conf_choose_path(void **state)
{
	const char *saved = getenv("LEDGEROPS_CONF");
	char *copy = saved ? strdup(saved) : NULL;

	(void)state;
	assert_int_equal(setenv("LEDGEROPS_CONF", "/env/l.conf", 1), 0);
	assert_string_equal(conf_choose_path("/arg/l.conf"), "/arg/l.conf");
	assert_string_equal(conf_choose_path(NULL), "/env/l.conf");
	assert_int_equal(setenv("LEDGEROPS_CONF", "", 1), 0);
	assert_string_equal(
	    conf_choose_path(NULL), SYSCONFDIR "/ledgerops.conf");
	assert_int_equal(unsetenv("LEDGEROPS_CONF"), 0);
	assert_string_equal(
	    conf_choose_path(NULL), SYSCONFDIR "/ledgerops.conf");
	assert_string_equal(conf_choose_path("rel.conf"), "rel.conf");
	if (copy != NULL)
		setenv("LEDGEROPS_CONF", copy, 1);
	free(copy);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_conf_defaults),
		T(test_conf_every_key),
		T(test_conf_booleans),
		T(test_conf_bad_booleans),
		T(test_conf_relative_paths),
		T(test_conf_relative_file),
		T(test_conf_backoff_override),
		T(test_conf_backoff_errors),
		T(test_conf_unknown_section_key),
		T(test_conf_syntax_error),
		T(test_conf_out_of_range),
		T(test_conf_range_bounds),
		T(test_conf_places),
		T(test_conf_roles_list),
		T(test_conf_place_errors),
		T(test_conf_missing_file),
		T(test_conf_choose_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
