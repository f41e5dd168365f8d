/*
 * Executors: the environment of external programs, the definition name
 * rule, resolution, and one real child (its descriptors and result).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "exec.h"

struct key_case {
	const char *key;
	const char *name;
};

static const struct key_case key_cases[] = {
	{ "source", "LEDGEROPS_PARAM_SOURCE" },
	{ "eu-invoices.v2", "LEDGEROPS_PARAM_EU_INVOICES_V2" },
	{ "MixedCase9", "LEDGEROPS_PARAM_MIXEDCASE9" },
	{ "a b/c", "LEDGEROPS_PARAM_A_B_C" },
	{ "\xc3\xa9t\xc3\xa9", "LEDGEROPS_PARAM___T__" },
};

static void
test_exec_env_key(void **state)
{
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof key_cases / sizeof key_cases[0]; i++) {
		exec_env_key(key_cases[i].key, out, sizeof out);
		assert_string_equal(out, key_cases[i].name);
	}
	exec_env_key("abcdefgh", out, 20);
	assert_string_equal(out, "LEDGEROPS_PARAM_ABC");
}

static int
env_has(char **env, const char *pair)
{
	for (; *env != NULL; env++)
		if (strcmp(*env, pair) == 0)
			return 1;
	return 0;
}

static void
test_exec_env_build(void **state)
{
	json_object *params = json_tokener_parse(
	    "{\"source\": \"sales\", \"a-b\": \"1\", \"a_b\": \"2\"}");
	json_object *roles = json_tokener_parse("[\"reporting\", \"audit\"]");
	struct exec_input in = { "REPORT", "sql", "eu", "REPORT/sql/eu", 7,
		params, roles, "{}", NULL };
	char **env = exec_env_build(&in);
	size_t n = 0;

	(void)state;
	assert_non_null(env);
	while (env[n] != NULL)
		n++;
	/* Keys that mangle alike give one variable: the first. */
	assert_int_equal(n, 5);
	assert_true(env_has(env, "LEDGEROPS_ADDRESS=REPORT/sql/eu"));
	assert_true(env_has(env, "LEDGEROPS_ORDINAL=7"));
	assert_true(env_has(env, "LEDGEROPS_ROLES=reporting,audit"));
	assert_true(env_has(env, "LEDGEROPS_PARAM_SOURCE=sales"));
	assert_true(env_has(env, "LEDGEROPS_PARAM_A_B=1"));
	exec_env_free(env);
	json_object_put(params);
	json_object_put(roles);
}

static void
test_exec_env_empty_roles(void **state)
{
	json_object *roles = json_object_new_array();
	struct exec_input in = { "REPORT", "sql", "eu", "a", 1, NULL, roles,
		"{}", NULL };
	char **env = exec_env_build(&in);

	(void)state;
	assert_non_null(env);
	assert_true(env_has(env, "LEDGEROPS_ROLES="));
	assert_null(env[3]);
	exec_env_free(env);
	json_object_put(roles);
}

static void
test_exec_definition_rule(void **state)
{
	(void)state;
	assert_true(exec_definition_ok("ok"));
	assert_true(exec_definition_ok("fail-3"));
	assert_true(exec_definition_ok("a.b_c-D9"));
	assert_false(exec_definition_ok(""));
	assert_false(exec_definition_ok(".hidden"));
	assert_false(exec_definition_ok(".."));
	assert_false(exec_definition_ok("../x"));
	assert_false(exec_definition_ok("a/b"));
	assert_false(exec_definition_ok("a b"));
}

static const char *
handlers_dir(void)
{
	const char *src = getenv("top_srcdir");
	static char buf[4096];

	snprintf(buf, sizeof buf, "%s/tests/handlers", src ? src : ".");
	return buf;
}

static void
test_exec_resolve(void **state)
{
	char *p;
	json_object *a;

	(void)state;
	p = exec_external_resolve(handlers_dir(), "PUBLISH", "ok");
	assert_non_null(p);
	assert_non_null(strstr(p, "/publish/ok"));
	free(p);
	assert_null(exec_external_resolve(handlers_dir(), "PUBLISH", "nope"));
	assert_null(exec_external_resolve(handlers_dir(), "PUBLISH", "../x"));
	assert_null(exec_external_resolve(handlers_dir(), "REPORT", "ok"));
	assert_null(exec_builtin_find("PUBLISH", "ok"));

	a = exec_external_available(handlers_dir(), "PUBLISH");
	assert_non_null(a);
	assert_non_null(strstr(json_object_to_json_string(a), "\"ok\""));
	json_object_put(a);
}

/* Runs a handler to the end and returns its result as text (static);
 * params, if not NULL, is taken over. */
static const char *
run_child_with(const char *definition, json_object *params, char code[32])
{
	static char text[65536];
	json_object *roles = json_object_new_array();
	struct exec_input in = { "PUBLISH", definition, "t", "PUBLISH/x/t", 1,
		params, roles, "{\"hello\": 1}", NULL };
	char *path =
	    exec_external_resolve(handlers_dir(), "PUBLISH", definition);
	char **env = exec_env_build(&in);
	struct exec_child c;
	json_object *r;

	assert_non_null(path);
	assert_int_equal(exec_start(&c, &in, NULL, path, env, 1000), 0);
	while (!exec_reap(&c)) {
		struct pollfd p[2] = { { c.fd[0], POLLIN, 0 },
			{ c.fd[1], POLLIN, 0 } };

		poll(p, 2, 50);
		exec_read(&c, 0);
		exec_read(&c, 1);
	}
	exec_response_code(&c, NULL, code, 32);
	r = exec_result(&c);
	assert_non_null(r);
	snprintf(text, sizeof text, "%s", json_object_to_json_string(r));
	json_object_put(r);
	exec_free(&c);
	exec_env_free(env);
	free(path);
	json_object_put(params);
	json_object_put(roles);
	return text;
}

static const char *
run_child(const char *definition, char code[32])
{
	return run_child_with(definition, json_object_new_object(), code);
}

static void
test_exec_child_fds(void **state)
{
	char code[32];
	const char *r;

	(void)state;
	/* fds lists /proc/self/fd: only 0, 1 and 2 may be open. */
	r = run_child("fds", code);
	assert_string_equal(code, "0");
	assert_string_equal(r, "{ \"extra\": \"\" }");
}

/* A program that cannot be started says why on stderr: here a parameter
 * over the kernel's 128 KiB limit for one environment string. */
static void
test_exec_child_cannot_start(void **state)
{
	static char big[200000];
	json_object *params = json_object_new_object();
	char code[32];
	const char *r;

	(void)state;
	memset(big, 'x', sizeof big - 1);
	json_object_object_add(params, "big", json_object_new_string(big));
	r = run_child_with("print-json", params, code);
	assert_string_equal(code, "127");
	if (strstr(r, "Argument list too long") == NULL)
		fail_msg("no reason in %.300s", r);
}

static void
test_exec_child_outcomes(void **state)
{
	char code[32];
	const char *r;

	(void)state;
	r = run_child("fail-3", code);
	assert_string_equal(code, "3");
	assert_non_null(strstr(r, "\"stderr\": \"failing\\n\""));
	r = run_child("print-json", code);
	assert_string_equal(code, "0");
	assert_non_null(strstr(r, "\"stdin\""));
	r = run_child("self-kill", code);
	assert_string_equal(code, "SIGKILL");

	/* Output past the limit (1000 here) is cut and kept as text. */
	r = run_child("big-output", code);
	assert_string_equal(code, "0");
	assert_true(strlen(r) > 1000 && strlen(r) < 1100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_env_key),
		cmocka_unit_test(test_exec_env_build),
		cmocka_unit_test(test_exec_env_empty_roles),
		cmocka_unit_test(test_exec_definition_rule),
		cmocka_unit_test(test_exec_resolve),
		cmocka_unit_test(test_exec_child_fds),
		cmocka_unit_test(test_exec_child_outcomes),
		cmocka_unit_test(test_exec_child_cannot_start),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
