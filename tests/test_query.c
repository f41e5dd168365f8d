/*
 * Tests of the list query language: the SQL text and binds generated for
 * each operator and field kind, every error with its message, the bounds,
 * page and sort parsing, and real execution against an in-memory SQLite
 * database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "query.h"

static const char *const statuses[] = { "EXECUTING", "PAUSED", "STOPPED" };

/* Membership openings as the store's job list uses them, over JSON here
 * so that the tests need no trigger-kept tables. */
#define ROLES_SQL                                                              \
	"EXISTS (SELECT 1 FROM json_each(j.info, '$.roles') WHERE value"
#define PARAM_SQL                                                              \
	"EXISTS (SELECT 1 FROM json_each(j.info, '$.parameters') WHERE key = " \
	"? AND value"

/* Resembles the jobs list: j is the job, o its operation. */
static const struct query_field job_fields[] = {
	{ "id", "j.id", QUERY_INTEGER, 1, NULL, 0 },
	{ "status", "j.status", QUERY_TEXT, 1, statuses, 3 },
	{ "info.name", "j.name", QUERY_TEXT, 1, NULL, 0 },
	{ "created_at", "j.created_at", QUERY_TIME, 1, NULL, 0 },
	{ "info.roles", ROLES_SQL, QUERY_ROLES, 0, NULL, 0 },
	{ "info.parameters", PARAM_SQL, QUERY_PARAMETERS, 0, NULL, 0 },
	{ "operation.info.type", "o.type", QUERY_TEXT, 1, NULL, 0 },
};

static const struct query_spec spec = { job_fields,
	sizeof(job_fields) / sizeof(job_fields[0]), "j.id" };

/* Formats q's binds as "1 'text' ..." for comparison. */
static void
format_binds(const struct query *q, char *buf, size_t len)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < q->nbinds && used < len; i++) {
		if (q->binds[i].kind == QUERY_BIND_INT)
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%lld", i ? " " : "", (long long)q->binds[i].i);
		else
			used += (size_t)snprintf(buf + used, len - used,
			    "%s'%s'", i ? " " : "", q->binds[i].s);
	}
}

/* Asserts that filter compiles to where with binds. */
static void
check_filter(const char *filter, const char *where, const char *binds)
{
	struct query q;
	char detail[256] = "", got[1024];

	assert_int_equal(query_compile(&q, &spec, filter, NULL, NULL, NULL,
	                     detail, sizeof(detail)),
	    ERR_OK);
	assert_string_equal(q.where, where);
	format_binds(&q, got, sizeof(got));
	assert_string_equal(got, binds);
	query_free(&q);
}

/* Asserts that compiling fails with code and exactly detail. */
static void
check_error(const char *filter, const char *sort, const char *number,
    const char *size, enum err code, const char *detail)
{
	struct query q;
	char got[512] = "";

	assert_int_equal(query_compile(&q, &spec, filter, sort, number, size,
	                     got, sizeof(got)),
	    code);
	assert_null(q.where);
	assert_null(q.order_by);
	assert_null(q.binds);
	if (detail != NULL)
		assert_string_equal(got, detail);
}

static void
check_filter_error(const char *filter, const char *detail)
{
	check_error(filter, NULL, NULL, NULL, ERR_BAD_FILTER, detail);
}

static void
test_query_defaults(void **state)
{
	struct query q;
	char detail[128];

	(void)state;
	assert_int_equal(query_compile(&q, &spec, NULL, NULL, NULL, NULL,
	                     detail, sizeof(detail)),
	    ERR_OK);
	assert_string_equal(q.where, "1");
	assert_string_equal(q.order_by, "j.id ASC");
	assert_int_equal(q.nbinds, 0);
	assert_int_equal(q.page_number, 1);
	assert_int_equal(q.page_size, 20);
	query_free(&q);
	query_free(&q);
}

static void
test_query_integer_operators(void **state)
{
	(void)state;
	check_filter("id==5", "j.id = ?", "5");
	check_filter("id!=-5", "j.id <> ?", "-5");
	check_filter("id=lt=1", "j.id < ?", "1");
	check_filter("id<1", "j.id < ?", "1");
	check_filter("id=le=1", "j.id <= ?", "1");
	check_filter("id<=1", "j.id <= ?", "1");
	check_filter("id=gt=1", "j.id > ?", "1");
	check_filter("id>1", "j.id > ?", "1");
	check_filter("id=ge=1", "j.id >= ?", "1");
	check_filter("id>=1", "j.id >= ?", "1");
	check_filter("id=in=(1,2, 3)", "j.id IN (?,?,?)", "1 2 3");
	check_filter("id=out=(7)", "j.id NOT IN (?)", "7");
	check_filter(
	    "id==9223372036854775807", "j.id = ?", "9223372036854775807");
	check_filter(
	    "id==-9223372036854775808", "j.id = ?", "-9223372036854775808");
	check_filter("id=='12'", "j.id = ?", "12");
}

static void
test_query_integer_errors(void **state)
{
	(void)state;
	check_filter_error("id==abc",
	    "filter: id: expected an integer, got \"abc\" at position 5");
	check_filter_error("id==9223372036854775808",
	    "filter: id: expected an integer, got \"9223372036854775808\" at "
	    "position 5");
	check_filter_error("id==1*", NULL);
	check_filter_error("id==+1", NULL);
	check_filter_error("id==''", NULL);
	check_filter_error("id=in=(1,x)",
	    "filter: id: expected an integer, got \"x\" at position 10");
}

static void
test_query_text_operators(void **state)
{
	(void)state;
	check_filter("info.name==a", "j.name = ?", "'a'");
	check_filter("info.name!=a", "j.name <> ?", "'a'");
	check_filter("info.name=lt=b", "j.name < ?", "'b'");
	check_filter("info.name>=b", "j.name >= ?", "'b'");
	check_filter("info.name=in=(a,'b c')", "j.name IN (?,?)", "'a' 'b c'");
	check_filter("info.name=out=(a)", "j.name NOT IN (?)", "'a'");
	check_filter("operation.info.type==REPORT", "o.type = ?", "'REPORT'");
}

static void
test_query_text_wildcards(void **state)
{
	(void)state;
	check_filter("info.name==eu-*", "j.name GLOB ?", "'eu-*'");
	check_filter("info.name!=*x*", "j.name NOT GLOB ?", "'*x*'");

	/* Literal ?, [ and escaped * are bracketed in the pattern. */
	check_filter("info.name=='a?[*\\*'", "j.name GLOB ?", "'a[?][[]*[*]'");

	/* Without an unescaped star the value is compared literally. */
	check_filter("info.name=='a\\*?['", "j.name = ?", "'a*?['");

	/* Stars are wildcards only for == and !=. */
	check_filter("info.name=lt=a*", "j.name < ?", "'a*'");
	check_filter("info.name=in=(a*)", "j.name IN (?)", "'a*'");
}

static void
test_query_enum(void **state)
{
	(void)state;
	check_filter("status==PAUSED", "j.status = ?", "'PAUSED'");
	check_filter("status=in=(PAUSED,STOPPED)", "j.status IN (?,?)",
	    "'PAUSED' 'STOPPED'");
	check_filter("status=gt=PAUSED", "j.status > ?", "'PAUSED'");
	check_filter("status==P*", "j.status GLOB ?", "'P*'");
	check_filter_error("status==paused",
	    "filter: status: expected one of EXECUTING, PAUSED, STOPPED, got "
	    "\"paused\" at position 9");
	check_filter_error("status=out=(PAUSED,X)",
	    "filter: status: expected one of EXECUTING, PAUSED, STOPPED, got "
	    "\"X\" at position 20");
}

static void
test_query_time(void **state)
{
	(void)state;
	check_filter("created_at>=2025-12-06T05:37:26.996Z",
	    "j.created_at >= ?", "1764999446996");
	check_filter("created_at=in=(2025-01-01,'2025-06-01')",
	    "j.created_at IN (?,?)", "1735689600000 1748736000000");
	check_filter_error("created_at==yesterday",
	    "filter: created_at: expected an ISO 8601 UTC timestamp such as "
	    "2025-12-06T05:37:26.996Z, got \"yesterday\" at position 13");
	check_filter_error("created_at==2025-*", NULL);
}

static void
test_query_roles(void **state)
{
	(void)state;
	check_filter("info.roles==admin", ROLES_SQL " = ?)", "'admin'");
	check_filter("info.roles!=admin", "NOT " ROLES_SQL " = ?)", "'admin'");
	check_filter("info.roles==ad*", ROLES_SQL " GLOB ?)", "'ad*'");
	check_filter("info.roles!=ad*", "NOT " ROLES_SQL " GLOB ?)", "'ad*'");
	check_filter("info.roles=in=(a,b)", ROLES_SQL " IN (?,?))", "'a' 'b'");
	check_filter("info.roles=out=(a)", "NOT " ROLES_SQL " IN (?))", "'a'");
	check_filter_error("info.roles=lt=x",
	    "filter: info.roles supports only ==, !=, =in=, =out=, at "
	    "position 1");
	check_filter_error("info.roles.x==y",
	    "filter: unknown field \"info.roles.x\" at position 1");
}

static void
test_query_parameters(void **state)
{
	(void)state;
	check_filter(
	    "info.parameters.source==s3", PARAM_SQL " = ?)", "'source' 's3'");
	check_filter("info.parameters.source==s*", PARAM_SQL " GLOB ?)",
	    "'source' 's*'");
	check_filter(
	    "info.parameters.source>a", PARAM_SQL " > ?)", "'source' 'a'");
	check_filter("info.parameters.source=in=(a,b)", PARAM_SQL " IN (?,?))",
	    "'source' 'a' 'b'");

	/* Negations match jobs without the key, whose subquery is NULL. */
	check_filter("info.parameters.source!=s3", "NOT " PARAM_SQL " = ?)",
	    "'source' 's3'");
	check_filter("info.parameters.source!=s*", "NOT " PARAM_SQL " GLOB ?)",
	    "'source' 's*'");
	check_filter("info.parameters.source=out=(a)",
	    "NOT " PARAM_SQL " IN (?))", "'source' 'a'");

	/* The key is bound too, quotes and dots included. */
	check_filter(
	    "info.parameters.it's.a==1", PARAM_SQL " = ?)", "'it's.a' '1'");
}

static void
test_query_parameter_errors(void **state)
{
	(void)state;
	check_filter_error("info.parameters==x",
	    "filter: info.parameters needs a parameter name, as in "
	    "info.parameters.KEY, at position 1");
	check_filter_error("info.parameters.==x",
	    "filter: a parameter name in info.parameters.KEY is 1 to 128 "
	    "bytes, at position 1");
	check_filter_error("x==1;info.parameters.==x",
	    "filter: unknown field \"x\" at position 1");
}

static void
test_query_parameter_key_length(void **state)
{
	char filter[256], key[130];
	struct query q;
	char detail[256];

	(void)state;
	memset(key, 'k', 128);
	key[128] = '\0';
	snprintf(filter, sizeof(filter), "info.parameters.%s==x", key);
	assert_int_equal(query_compile(&q, &spec, filter, NULL, NULL, NULL,
	                     detail, sizeof(detail)),
	    ERR_OK);
	assert_string_equal(q.binds[0].s, key);
	query_free(&q);

	snprintf(filter, sizeof(filter), "info.parameters.%sk==x", key);
	check_filter_error(filter,
	    "filter: a parameter name in info.parameters.KEY is 1 to 128 "
	    "bytes, at position 1");
}

static void
test_query_precedence(void **state)
{
	(void)state;
	check_filter("id==1;id==2,id==3",
	    "((j.id = ? AND j.id = ?) OR j.id = ?)", "1 2 3");
	check_filter("id==1,id==2;id==3",
	    "(j.id = ? OR (j.id = ? AND j.id = ?))", "1 2 3");
	check_filter("id==1;(id==2,id==3)",
	    "(j.id = ? AND (j.id = ? OR j.id = ?))", "1 2 3");
	check_filter("id==1;id==2;id==3",
	    "(j.id = ? AND j.id = ? AND j.id = ?)", "1 2 3");
	check_filter("((id==1))", "j.id = ?", "1");
}

static void
test_query_keywords(void **state)
{
	(void)state;
	check_filter("id==1 and id==2 or id==3",
	    "((j.id = ? AND j.id = ?) OR j.id = ?)", "1 2 3");
	check_filter(" ( id == 1 ) or\tid =in= ( 2 , 3 ) ",
	    "(j.id = ? OR j.id IN (?,?))", "1 2 3");
	check_filter("info.name==and and info.name==or",
	    "(j.name = ? AND j.name = ?)", "'and' 'or'");

	/* Keywords need whitespace on both sides. */
	check_filter_error("id==1 and(id==2)",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 7");
	check_filter_error("(id==1)or id==2",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 8");
	check_filter_error("id==1 and",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 7");
	check_filter_error(
	    "id==1 and ", "filter: expected a field name at position 11");
	check_filter_error("id==1 AND id==2", NULL);
}

static void
test_query_quoting(void **state)
{
	(void)state;
	check_filter("info.name==\"a b\"", "j.name = ?", "'a b'");
	check_filter("info.name=='say \"hi\"'", "j.name = ?", "'say \"hi\"'");
	check_filter("info.name=='it\\'s'", "j.name = ?", "'it's'");
	check_filter("info.name==\"\\\\\\\"\\n\"", "j.name = ?", "'\\\"n'");
	check_filter("info.name==''", "j.name = ?", "''");
	check_filter("info.name=='(;,=!<>)'", "j.name = ?", "'(;,=!<>)'");
	check_filter("info.name==a\\b", "j.name = ?", "'a\\b'");
	check_filter("info.name==é", "j.name = ?", "'é'");
}

static void
test_query_syntax_errors(void **state)
{
	(void)state;
	check_filter_error("", "filter: must not be empty");
	check_filter_error(
	    "   ", "filter: expected a field name at position 4");
	check_filter_error("id==", "filter: expected a value at position 5");
	check_filter_error(
	    "id=1", "filter: expected a comparison operator at position 3");
	check_filter_error(
	    "==1", "filter: expected a field name at position 1");
	check_filter_error("(id==1", "filter: expected ')' at position 7");
	check_filter_error("id==1)",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 6");
	check_filter_error(
	    "id==1;", "filter: expected a field name at position 7");
	check_filter_error(
	    "id==1,,id==2", "filter: expected a field name at position 7");
	check_filter_error("id==1 xor id==2",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 7");
	check_filter_error("info.name=='abc",
	    "filter: expected a closing \"'\" at position 16");
	check_filter_error("info.name==\"ab\\",
	    "filter: expected a closing '\"' at position 16");
	check_filter_error("id=in=1",
	    "filter: expected '(' opening a list of values at position 7");
	check_filter_error(
	    "id==(1,2)", "filter: expected a value at position 5");
	check_filter_error(
	    "id=in=(1,2", "filter: expected ',' or ')' at position 11");
	check_filter_error(
	    "id=in=()", "filter: expected a value at position 8");
	check_filter_error("info.name==a b",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 14");
	check_filter_error("info.name==a=b", NULL);
	check_filter_error("()", "filter: expected a field name at position 2");

	/* Positions count characters, not bytes: é is two bytes. */
	check_filter_error("info.name==é x",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 14");
}

static void
test_query_unknown_field(void **state)
{
	(void)state;
	check_filter_error(
	    "id==1;nope==2", "filter: unknown field \"nope\" at position 7");
	check_filter_error(
	    "info==2", "filter: unknown field \"info\" at position 1");
	check_filter_error("ID==2", NULL);
}

static void
test_query_sql_injection(void **state)
{
	(void)state;
	check_filter(
	    "info.name==\"x' OR 1=1 --\"", "j.name = ?", "'x' OR 1=1 --'");
	check_filter_error("info.name==x' OR 1=1 --",
	    "filter: expected ';', ',', 'and', 'or' or the end at position 13");
	check_filter_error(
	    "j.id==1 OR 1=1", "filter: unknown field \"j.id\" at position 1");
}

/* Builds "(((...id==1...)))" with n parentheses. */
static char *
nested(int n)
{
	char *s = malloc((size_t)n * 2 + 8);

	assert_non_null(s);
	memset(s, '(', (size_t)n);
	strcpy(s + n, "id==1");
	memset(s + n + 5, ')', (size_t)n);
	s[n * 2 + 5] = '\0';
	return s;
}

static void
test_query_bound_depth(void **state)
{
	char *s;

	(void)state;
	s = nested(QUERY_MAX_DEPTH);
	check_filter(s, "j.id = ?", "1");
	free(s);

	s = nested(QUERY_MAX_DEPTH + 1);
	check_filter_error(s, "filter: at most 16 nested parentheses are "
	                      "allowed; more at position 17");
	free(s);

	/* Far deeper than any stack would allow is still a plain 400. */
	s = nested(2000);
	check_filter_error(s, NULL);
	free(s);
}

/* Builds "id==1;id==1;..." with n comparisons. */
static char *
terms(int n)
{
	char *s = malloc((size_t)n * 6 + 1);
	int i;

	assert_non_null(s);
	s[0] = '\0';
	for (i = 0; i < n; i++)
		strcat(s, i ? ";id==1" : "id==1");
	return s;
}

static void
test_query_bound_terms(void **state)
{
	struct query q;
	char detail[256], *s;

	(void)state;
	s = terms(QUERY_MAX_TERMS);
	assert_int_equal(query_compile(&q, &spec, s, NULL, NULL, NULL, detail,
	                     sizeof(detail)),
	    ERR_OK);
	assert_int_equal(q.nbinds, QUERY_MAX_TERMS);
	query_free(&q);
	free(s);

	s = terms(QUERY_MAX_TERMS + 1);
	check_filter_error(s, "filter: at most 64 comparisons are allowed; "
	                      "more at position 385");
	free(s);
}

/* Builds "id=in=(1,1,...)" with n values. */
static char *
list(int n)
{
	char *s = malloc((size_t)n * 2 + 16);
	int i;

	assert_non_null(s);
	strcpy(s, "id=in=(");
	for (i = 0; i < n; i++)
		strcat(s, i ? ",1" : "1");
	strcat(s, ")");
	return s;
}

static void
test_query_bound_values(void **state)
{
	struct query q;
	char detail[256], *s;

	(void)state;
	s = list(QUERY_MAX_VALUES);
	assert_int_equal(query_compile(&q, &spec, s, NULL, NULL, NULL, detail,
	                     sizeof(detail)),
	    ERR_OK);
	assert_int_equal(q.nbinds, QUERY_MAX_VALUES);
	query_free(&q);
	free(s);

	s = list(QUERY_MAX_VALUES + 1);
	check_filter_error(s, "filter: a list holds at most 100 values; more "
	                      "at position 208");
	free(s);
}

static void
test_query_bound_length(void **state)
{
	char s[QUERY_MAX_FILTER_BYTES + 2];
	struct query q;
	char detail[256];

	(void)state;

	/* A quoted value padded to exactly the limit still compiles. */
	memset(s, 'a', sizeof(s));
	memcpy(s, "info.name=='", 12);
	s[QUERY_MAX_FILTER_BYTES - 1] = '\'';
	s[QUERY_MAX_FILTER_BYTES] = '\0';
	assert_int_equal(query_compile(&q, &spec, s, NULL, NULL, NULL, detail,
	                     sizeof(detail)),
	    ERR_OK);
	assert_int_equal(strlen(q.binds[0].s), QUERY_MAX_FILTER_BYTES - 13);
	query_free(&q);

	s[QUERY_MAX_FILTER_BYTES - 1] = 'a';
	s[QUERY_MAX_FILTER_BYTES] = '\'';
	s[QUERY_MAX_FILTER_BYTES + 1] = '\0';
	check_filter_error(s, "filter: longer than 4096 bytes");
}

/* Asserts the page numbers and sizes that compile. */
static void
check_page(const char *number, const char *size, int64_t want_number,
    int64_t want_size)
{
	struct query q;
	char detail[256];

	assert_int_equal(query_compile(&q, &spec, NULL, NULL, number, size,
	                     detail, sizeof(detail)),
	    ERR_OK);
	assert_int_equal(q.page_number, want_number);
	assert_int_equal(q.page_size, want_size);
	query_free(&q);
}

static void
test_query_page_valid(void **state)
{
	(void)state;
	check_page(NULL, NULL, 1, 20);
	check_page("1", "1", 1, 1);
	check_page("7", "1000", 7, 1000);
	check_page("007", "020", 7, 20);
	check_page("9223372036854775", NULL, 9223372036854775LL, 20);
}

static void
test_query_page_invalid(void **state)
{
	static const char *const bad[] = { "0", "-1", "+1", "1x", "", " 1",
		"1 ", "1.0", "0x10", "99999999999999999999999",
		"18446744073709551617" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		check_error(NULL, NULL, bad[i], NULL, ERR_BAD_PARAMETER, NULL);
		check_error(NULL, NULL, NULL, bad[i], ERR_BAD_PARAMETER, NULL);
	}
	check_error(NULL, NULL, NULL, "1001", ERR_BAD_PARAMETER,
	    "page[size] must be an integer from 1 to 1000, got \"1001\"");
	check_error(NULL, NULL, NULL, "abc", ERR_BAD_PARAMETER,
	    "page[size] must be an integer from 1 to 1000, got \"abc\"");
	check_error(NULL, NULL, "0", NULL, ERR_BAD_PARAMETER,
	    "page[number] must be an integer from 1 to 9223372036854775, got "
	    "\"0\"");

	/* A larger page number would overflow the OFFSET. */
	check_error(
	    NULL, NULL, "9223372036854776", NULL, ERR_BAD_PARAMETER, NULL);
}

static void
check_sort(const char *sort, const char *order_by)
{
	struct query q;
	char detail[256] = "";

	assert_int_equal(query_compile(&q, &spec, NULL, sort, NULL, NULL,
	                     detail, sizeof(detail)),
	    ERR_OK);
	assert_string_equal(q.order_by, order_by);
	query_free(&q);
}

static void
test_query_sort_valid(void **state)
{
	(void)state;
	check_sort(
	    "-created_at,info.name", "j.created_at DESC, j.name ASC, j.id ASC");
	check_sort("-id", "j.id DESC");
	check_sort("status,id", "j.status ASC, j.id ASC");
	check_sort("id,-status", "j.id ASC, j.status DESC");
	check_sort("operation.info.type", "o.type ASC, j.id ASC");
}

static void
test_query_sort_invalid(void **state)
{
	static const char *const empty[] = { "", "-", "id,", ",id",
		"id,,status", "id,-" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		check_error(NULL, empty[i], NULL, NULL, ERR_BAD_SORT,
		    "sort: empty field name");
	check_error(NULL, "foo", NULL, NULL, ERR_BAD_SORT,
	    "sort: cannot sort by \"foo\"; sortable fields are id, status, "
	    "info.name, created_at, operation.info.type");
	check_error(NULL, "id,-info.roles", NULL, NULL, ERR_BAD_SORT,
	    "sort: cannot sort by \"info.roles\"; sortable fields are id, "
	    "status, info.name, created_at, operation.info.type");
	check_error(NULL, "+id", NULL, NULL, ERR_BAD_SORT, NULL);
	check_error(NULL, " id", NULL, NULL, ERR_BAD_SORT, NULL);
	check_error(NULL, "--id", NULL, NULL, ERR_BAD_SORT, NULL);
	check_error(NULL, "id,status,-id", NULL, NULL, ERR_BAD_SORT,
	    "sort: id appears more than once");
	check_error(NULL, "a,b,c,d,e,f,g,h,i", NULL, NULL, ERR_BAD_SORT,
	    "sort: at most 8 fields are allowed, got 9");
}

static const char schema[] =
    "CREATE TABLE o (id INTEGER PRIMARY KEY, type TEXT NOT NULL);"
    "CREATE TABLE j (id INTEGER PRIMARY KEY, operation_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, status TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, info TEXT NOT NULL);"
    "INSERT INTO o VALUES (1, 'REPORT'), (2, 'EXPORT');"
    "INSERT INTO j VALUES"
    " (1, 1, 'eu-invoices', 'EXECUTING', 1735689600000,"
    "  '{\"roles\":[\"admin\",\"ops\"],"
    "    \"parameters\":{\"source\":\"s3\",\"it''s.key\":\"yes\"}}'),"
    " (2, 1, 'eu-*star', 'PAUSED', 1748736000000,"
    "  '{\"roles\":[\"ops\"],\"parameters\":{\"source\":\"ftp\"}}'),"
    " (3, 2, 'us-invoices', 'STOPPED', 1764999446996,"
    "  '{\"roles\":[],\"parameters\":{}}'),"
    " (4, 2, 'x'' OR 1=1 --', 'EXECUTING', 1767225600000,"
    "  '{\"roles\":[\"a?b\"],\"parameters\":{\"source\":\"s3\"}}'),"
    " (5, 1, 'eu-[x]', 'PAUSED', 1700000000000, '{}');";

static int
db_setup(void **state)
{
	sqlite3 *db;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return -1;
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	*state = db;
	return 0;
}

static int
db_teardown(void **state)
{
	sqlite3_close(*state);
	return 0;
}

/*
 * Runs the compiled filter and sort over the jobs and returns the ids
 * found as "1,2" in ids.  A leading "j.id > ?" bound first checks that
 * query_bind() starts where it is told.
 */
static void
run(sqlite3 *db, const char *filter, const char *sort, char *ids, size_t len)
{
	static const char fmt[] = "SELECT j.id FROM j JOIN o ON "
	                          "o.id = j.operation_id WHERE j.id > ? AND "
	                          "(%s) ORDER BY %s";
	struct query q;
	sqlite3_stmt *st;
	char detail[256] = "", *sql;
	size_t n, used = 0;

	assert_int_equal(query_compile(&q, &spec, filter, sort, NULL, NULL,
	                     detail, sizeof(detail)),
	    ERR_OK);
	n = sizeof(fmt) + strlen(q.where) + strlen(q.order_by);
	assert_non_null(sql = malloc(n));
	snprintf(sql, n, fmt, q.where, q.order_by);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	free(sql);

	assert_int_equal(sqlite3_bind_int64(st, 1, 0), SQLITE_OK);
	assert_int_equal(
	    query_bind(&q, st, 2), sqlite3_bind_parameter_count(st) + 1);
	ids[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW)
		used += (size_t)snprintf(ids + used, len - used, "%s%lld",
		    used ? "," : "", sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	query_free(&q);
}

static void
check_run(sqlite3 *db, const char *filter, const char *sort, const char *want)
{
	char ids[128];

	run(db, filter, sort, ids, sizeof(ids));
	assert_string_equal(ids, want);
}

static void
test_query_run_roles(void **state)
{
	sqlite3 *db = *state;

	check_run(db, "info.roles==ops", NULL, "1,2");
	check_run(db, "info.roles!=ops", NULL, "3,4,5");
	check_run(db, "info.roles=in=(admin,'a?b')", NULL, "1,4");
	check_run(db, "info.roles=out=(ops,admin)", NULL, "3,4,5");
	check_run(db, "info.roles==a*", NULL, "1,4");
	check_run(db, "info.roles==a?b", NULL, "4");
	check_run(db, "info.roles=='a?*'", NULL, "4");
	check_run(db, "info.roles==?", NULL, "");
}

static void
test_query_run_parameters(void **state)
{
	sqlite3 *db = *state;

	check_run(db, "info.parameters.source==s3", NULL, "1,4");
	check_run(db, "info.parameters.source!=s3", NULL, "2,3,5");
	check_run(db, "info.parameters.source=in=(ftp,x)", NULL, "2");
	check_run(db, "info.parameters.source=out=(s3,ftp)", NULL, "3,5");
	check_run(db, "info.parameters.source==*", NULL, "1,2,4");
	check_run(db, "info.parameters.source!=s*", NULL, "2,3,5");
	check_run(db, "info.parameters.source>g", NULL, "1,4");
	check_run(db, "info.parameters.it's.key==yes", NULL, "1");
	check_run(db, "info.parameters.it's.key!=yes", NULL, "2,3,4,5");
	check_run(db, "info.parameters.it==yes", NULL, "");
}

static void
test_query_run_text(void **state)
{
	sqlite3 *db = *state;

	check_run(db, "info.name==eu-*", NULL, "1,2,5");
	check_run(db, "info.name!=*invoices", NULL, "2,4,5");
	check_run(db, "info.name=='eu-\\*star'", NULL, "2");
	check_run(db, "info.name=='eu-\\**'", NULL, "2");
	check_run(db, "info.name=='eu-[x]'", NULL, "5");
	check_run(db, "info.name=='eu-[*'", NULL, "5");
	check_run(db, "info.name=='EU-*'", NULL, "");
	check_run(db, "info.name==\"x' OR 1=1 --\"", NULL, "4");
	check_run(db, "info.name=='x\\' OR 1=1 --'", NULL, "4");
	check_run(
	    db, "status==EXECUTING;operation.info.type==EXPORT", NULL, "4");
	check_run(db,
	    "status=in=(PAUSED,STOPPED) and operation.info.type=="
	    "REPORT",
	    NULL, "2,5");
}

static void
test_query_run_integer_and_time(void **state)
{
	sqlite3 *db = *state;

	check_run(db, "id=out=(1,3)", NULL, "2,4,5");
	check_run(db, "id>=2;id<4,id==5", NULL, "2,3,5");
	check_run(
	    db, "created_at=ge=2025-06-01;created_at<2026-01-01", NULL, "2,3");
	check_run(db, "created_at==2025-12-06T05:37:26.996Z", NULL, "3");
}

static void
test_query_run_sort(void **state)
{
	sqlite3 *db = *state;

	check_run(db, NULL, NULL, "1,2,3,4,5");
	check_run(db, NULL, "-created_at", "4,3,2,1,5");
	check_run(db, NULL, "status,-id", "4,1,5,2,3");
	check_run(db, NULL, "-operation.info.type,info.name", "2,5,1,3,4");
	check_run(db, "id>1", "-id", "5,4,3,2");
}

static void
test_query_bind_failure(void **state)
{
	sqlite3 *db = *state;
	sqlite3_stmt *st;
	struct query q;
	char detail[256];

	assert_int_equal(query_compile(&q, &spec, "id==1;info.name==x", NULL,
	                     NULL, NULL, detail, sizeof(detail)),
	    ERR_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT ?", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(query_bind(&q, st, 1), -1);
	sqlite3_finalize(st);
	query_free(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_defaults),
		cmocka_unit_test(test_query_integer_operators),
		cmocka_unit_test(test_query_integer_errors),
		cmocka_unit_test(test_query_text_operators),
		cmocka_unit_test(test_query_text_wildcards),
		cmocka_unit_test(test_query_enum),
		cmocka_unit_test(test_query_time),
		cmocka_unit_test(test_query_roles),
		cmocka_unit_test(test_query_parameters),
		cmocka_unit_test(test_query_parameter_errors),
		cmocka_unit_test(test_query_parameter_key_length),
		cmocka_unit_test(test_query_precedence),
		cmocka_unit_test(test_query_keywords),
		cmocka_unit_test(test_query_quoting),
		cmocka_unit_test(test_query_syntax_errors),
		cmocka_unit_test(test_query_unknown_field),
		cmocka_unit_test(test_query_sql_injection),
		cmocka_unit_test(test_query_bound_depth),
		cmocka_unit_test(test_query_bound_terms),
		cmocka_unit_test(test_query_bound_values),
		cmocka_unit_test(test_query_bound_length),
		cmocka_unit_test(test_query_page_valid),
		cmocka_unit_test(test_query_page_invalid),
		cmocka_unit_test(test_query_sort_valid),
		cmocka_unit_test(test_query_sort_invalid),
		cmocka_unit_test_setup_teardown(
		    test_query_run_roles, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    test_query_run_parameters, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    test_query_run_text, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    test_query_run_integer_and_time, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    test_query_run_sort, db_setup, db_teardown),
		cmocka_unit_test_setup_teardown(
		    test_query_bind_failure, db_setup, db_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
