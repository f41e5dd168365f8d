/*
 * Tests of path routing: the base path, mount prefixes, each route kind,
 * trailing slashes, percent-decoding per segment, wildcards, every kind
 * of bad segment, and the methods each kind allows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

/* Matches path, expecting ERR_OK and kind, and the three segments. */
static void
check_route(const char *path, enum route_kind kind, const char *t,
    const char *d, const char *n, int wildcard)
{
	struct route r;
	char detail[256] = "";
	const char *want[3] = { t, d, n };
	int i;

	assert_int_equal(route_match(path, &r, detail, sizeof detail), ERR_OK);
	assert_int_equal(r.kind, kind);
	assert_int_equal(r.wildcard, wildcard);
	for (i = 0; i < 3; i++) {
		if (want[i] == NULL)
			assert_null(r.segment[i]);
		else
			assert_string_equal(r.segment[i], want[i]);
	}
	route_free(&r);
}

/* Matches path expecting the error code and, when not NULL, a detail
 * containing part. */
static void
check_route_error(const char *path, enum err code, const char *part)
{
	struct route r;
	char detail[256] = "";

	assert_int_equal(route_match(path, &r, detail, sizeof detail), code);
	assert_true(detail[0] != '\0');
	if (part != NULL && strstr(detail, part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, part);
	route_free(&r);
}

static void
test_route_base_path(void **state)
{
	(void)state;
	check_route("/api/v1/operation", ROUTE_OPERATIONS, NULL, NULL, NULL, 0);
	check_route(
	    "/api/v1/operation/", ROUTE_OPERATIONS, NULL, NULL, NULL, 0);
}

static void
test_route_mount_prefix(void **state)
{
	(void)state;
	check_route(
	    "/ledger/api/v1/operation/", ROUTE_OPERATIONS, NULL, NULL, NULL, 0);
	check_route("/ledger/api/v1/operation/REPORT/x", ROUTE_OPERATION,
	    "REPORT", "x", NULL, 0);
	check_route("/a/b/api/v1/operation/REPORT/x/", ROUTE_JOBS, "REPORT",
	    "x", NULL, 0);
}

static void
test_route_kinds(void **state)
{
	(void)state;
	check_route("/api/v1/operation/REPORT/monthly", ROUTE_OPERATION,
	    "REPORT", "monthly", NULL, 0);
	check_route("/api/v1/operation/REPORT/monthly/", ROUTE_JOBS, "REPORT",
	    "monthly", NULL, 0);
	check_route("/api/v1/operation/REPORT/monthly/eu", ROUTE_JOB, "REPORT",
	    "monthly", "eu", 0);
	check_route("/api/v1/operation/REPORT/monthly/eu/", ROUTE_EXECUTIONS,
	    "REPORT", "monthly", "eu", 0);
}

/* The route does not judge the type: that is the handlers' business. */
static void
test_route_any_type_text(void **state)
{
	(void)state;
	check_route(
	    "/api/v1/operation/NOPE/d", ROUTE_OPERATION, "NOPE", "d", NULL, 0);
}

static void
test_route_trailing_slash(void **state)
{
	(void)state;
	/* A type alone, with or without a slash, is not a resource. */
	check_route_error(
	    "/api/v1/operation/REPORT", ERR_NOT_FOUND, "definition");
	check_route_error(
	    "/api/v1/operation/REPORT/", ERR_NOT_FOUND, "definition");
	/* A doubled slash is an empty segment. */
	check_route_error("/api/v1/operation/REPORT/d//", ERR_BAD_PATH, "name");
	check_route_error("/api/v1/operation//", ERR_BAD_PATH, "type");
	check_route_error(
	    "/api/v1/operation/REPORT/d/n//", ERR_NOT_FOUND, NULL);
}

static void
test_route_outside_api(void **state)
{
	(void)state;
	check_route_error("/", ERR_NOT_FOUND, NULL);
	check_route_error("/api/v1/operations", ERR_NOT_FOUND, NULL);
	check_route_error("/api/v1/operationX/a/b", ERR_NOT_FOUND, NULL);
	check_route_error("/api/v2/operation/", ERR_NOT_FOUND, NULL);
	check_route_error("", ERR_NOT_FOUND, NULL);
}

static void
test_route_four_segments(void **state)
{
	(void)state;
	check_route_error(
	    "/api/v1/operation/REPORT/d/n/x", ERR_NOT_FOUND, NULL);
	check_route_error(
	    "/api/v1/operation/REPORT/d/n/x/", ERR_NOT_FOUND, NULL);
}

static void
test_route_decodes_slash(void **state)
{
	(void)state;
	check_route("/api/v1/operation/REPORT/a%2Fb/c%2fd", ROUTE_JOB, "REPORT",
	    "a/b", "c/d", 0);
	check_route("/api/v1/operation/REPORT/%20x%C3%A9", ROUTE_OPERATION,
	    "REPORT", " x\xc3\xa9", NULL, 0);
	/* '+' is not a space in a path. */
	check_route("/api/v1/operation/REPORT/a+b", ROUTE_OPERATION, "REPORT",
	    "a+b", NULL, 0);
}

static void
test_route_wildcards(void **state)
{
	(void)state;
	check_route("/api/v1/operation/*/*/", ROUTE_JOBS, "*", "*", NULL, 1);
	check_route("/api/v1/operation/*/*/*", ROUTE_JOB, "*", "*", "*", 1);
	check_route("/api/v1/operation/REPORT/*", ROUTE_OPERATION, "REPORT",
	    "*", NULL, 1);
	check_route("/api/v1/operation/REPORT/d/*/", ROUTE_EXECUTIONS, "REPORT",
	    "d", "*", 1);
}

/*
 * "%2A" decodes to '*', which is not the wildcard (only a literal whole
 * segment is) and not allowed inside a value: the contract forbids '*'
 * in values, so it is a bad path.  A '*' inside a longer segment too.
 */
static void
test_route_star_escape_rejected(void **state)
{
	(void)state;
	check_route_error(
	    "/api/v1/operation/REPORT/%2A", ERR_BAD_PATH, "definition");
	check_route_error(
	    "/api/v1/operation/REPORT/%2a/", ERR_BAD_PATH, "definition");
	check_route_error(
	    "/api/v1/operation/REPORT/d/a*", ERR_BAD_PATH, "name");
	check_route_error("/api/v1/operation/**/d", ERR_BAD_PATH, "type");
}

static void
test_route_bad_escapes(void **state)
{
	(void)state;
	check_route_error(
	    "/api/v1/operation/REPORT/%G1", ERR_BAD_PATH, "percent-escape");
	check_route_error(
	    "/api/v1/operation/REPORT/ab%", ERR_BAD_PATH, "percent-escape");
	check_route_error(
	    "/api/v1/operation/REPORT/ab%4", ERR_BAD_PATH, "percent-escape");
	check_route_error(
	    "/api/v1/operation/REPORT/ab%4/", ERR_BAD_PATH, "definition");
	check_route_error("/api/v1/operation/%/d", ERR_BAD_PATH, "type");
}

static void
test_route_control_chars(void **state)
{
	(void)state;
	check_route_error(
	    "/api/v1/operation/REPORT/a%0Ab", ERR_BAD_PATH, "definition");
	check_route_error(
	    "/api/v1/operation/REPORT/d/%00", ERR_BAD_PATH, "name");
	check_route_error(
	    "/api/v1/operation/REPORT/d/%7F", ERR_BAD_PATH, "name");
	/* Invalid UTF-8 is rejected as well. */
	check_route_error(
	    "/api/v1/operation/REPORT/%FF", ERR_BAD_PATH, "definition");
}

static void
test_route_empty_segment(void **state)
{
	(void)state;
	check_route_error("/api/v1/operation//d", ERR_BAD_PATH, "type");
	check_route_error(
	    "/api/v1/operation/REPORT//n", ERR_BAD_PATH, "definition");
}

/* Builds the path of a definition of n bytes 'a' (or escaped). */
static void
long_path(char *buf, size_t len, size_t n, int escaped)
{
	size_t used = (size_t)snprintf(buf, len, "/api/v1/operation/REPORT/");
	size_t i;

	for (i = 0; i < n; i++)
		used += (size_t)snprintf(
		    buf + used, len - used, "%s", escaped ? "%61" : "a");
}

static void
test_route_segment_length(void **state)
{
	char path[1024];

	(void)state;
	long_path(path, sizeof path, 255, 0);
	check_route(path, ROUTE_OPERATION, "REPORT", path + 25, NULL, 0);
	long_path(path, sizeof path, 256, 0);
	check_route_error(path, ERR_BAD_PATH, "definition");
	/* The limit applies to decoded bytes. */
	long_path(path, sizeof path, 255, 1);
	{
		struct route r;

		assert_int_equal(route_match(path, &r, NULL, 0), ERR_OK);
		assert_int_equal(strlen(r.segment[1]), 255);
		route_free(&r);
	}
	long_path(path, sizeof path, 256, 1);
	check_route_error(path, ERR_BAD_PATH, "definition");
}

/* A NULL detail buffer is allowed. */
static void
test_route_null_detail(void **state)
{
	struct route r;

	(void)state;
	assert_int_equal(route_match("/x", &r, NULL, 0), ERR_NOT_FOUND);
	route_free(&r);
	assert_int_equal(
	    route_match("/api/v1/operation/%G/d", &r, NULL, 0), ERR_BAD_PATH);
	route_free(&r);
}

/* Per kind, 'y' or '-' for GET, HEAD, PUT, POST, DELETE and others. */
static void
test_route_allows(void **state)
{
	static const char *const expect[ROUTE__MAX] = {
		[ROUTE_OPERATIONS] = "yyy---",
		[ROUTE_OPERATION] = "yyy-y-",
		[ROUTE_JOBS] = "yy----",
		[ROUTE_JOB] = "yy-yy-",
		[ROUTE_EXECUTIONS] = "yy----",
	};
	int k, m;

	(void)state;
	for (k = 0; k < ROUTE__MAX; k++)
		for (m = 0; m < HTTP_METHOD__MAX; m++) {
			int want = expect[k][m] == 'y';

			if (route_allows((enum route_kind)k,
			        (enum http_method)m) != want)
				fail_msg(
				    "kind %d method %d: want %d", k, m, want);
		}
}

static void
test_route_allow_header(void **state)
{
	(void)state;
	assert_string_equal(
	    route_allow_header(ROUTE_OPERATIONS), "GET, HEAD, PUT");
	assert_string_equal(
	    route_allow_header(ROUTE_OPERATION), "GET, HEAD, PUT, DELETE");
	assert_string_equal(route_allow_header(ROUTE_JOBS), "GET, HEAD");
	assert_string_equal(
	    route_allow_header(ROUTE_JOB), "GET, HEAD, POST, DELETE");
	assert_string_equal(route_allow_header(ROUTE_EXECUTIONS), "GET, HEAD");
}

/* Every method route_allows() accepts appears in the Allow header and
 * no other. */
static void
test_route_allow_header_consistent(void **state)
{
	static const char *const names[HTTP_OTHER] = { "GET", "HEAD", "PUT",
		"POST", "DELETE" };
	int k, m;

	(void)state;
	for (k = 0; k < ROUTE__MAX; k++) {
		const char *allow = route_allow_header((enum route_kind)k);

		assert_false(route_allows((enum route_kind)k, HTTP_OTHER));
		for (m = 0; m < HTTP_OTHER; m++)
			assert_int_equal(route_allows((enum route_kind)k,
			                     (enum http_method)m),
			    strstr(allow, names[m]) != NULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_base_path),
		cmocka_unit_test(test_route_mount_prefix),
		cmocka_unit_test(test_route_kinds),
		cmocka_unit_test(test_route_any_type_text),
		cmocka_unit_test(test_route_trailing_slash),
		cmocka_unit_test(test_route_outside_api),
		cmocka_unit_test(test_route_four_segments),
		cmocka_unit_test(test_route_decodes_slash),
		cmocka_unit_test(test_route_wildcards),
		cmocka_unit_test(test_route_star_escape_rejected),
		cmocka_unit_test(test_route_bad_escapes),
		cmocka_unit_test(test_route_control_chars),
		cmocka_unit_test(test_route_empty_segment),
		cmocka_unit_test(test_route_segment_length),
		cmocka_unit_test(test_route_null_detail),
		cmocka_unit_test(test_route_allows),
		cmocka_unit_test(test_route_allow_header),
		cmocka_unit_test(test_route_allow_header_consistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
