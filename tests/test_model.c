/*
 * The model module: enum tables, timestamps, identifiers, strict JSON and
 * the validation of operation and job info documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define TIME_MIN INT64_C(-62167219200000)
#define TIME_MAX INT64_C(253402300799999)

/*
 * Tables.
 */

static void
test_model_lookup(void **state)
{
	(void)state;
	assert_int_equal(model_lookup(op_type_names, OP_TYPE__MAX, "PUBLISH"),
	    OP_TYPE_PUBLISH);
	assert_int_equal(model_lookup(op_type_names, OP_TYPE__MAX, "DETECT"),
	    OP_TYPE_DETECT);
	assert_int_equal(
	    model_lookup(job_status_names, JOB_STATUS__MAX, "STOPPED"),
	    JOB_STOPPED);
	assert_int_equal(
	    model_lookup(exec_status_names, EXEC_STATUS__MAX, "TIMED_OUT"),
	    EXEC_TIMED_OUT);
	assert_int_equal(
	    model_lookup(op_type_names, OP_TYPE__MAX, "publish"), -1);
	assert_int_equal(model_lookup(op_type_names, OP_TYPE__MAX, ""), -1);
	assert_int_equal(model_lookup(op_type_names, OP_TYPE__MAX, NULL), -1);
}

/*
 * Time.
 */

struct time_case {
	const char *text;
	int64_t ms;
};

/* Formatted forms and their instants, both ways. */
static const struct time_case time_cases[] = {
	{ "1970-01-01T00:00:00.000Z", 0 },
	{ "1970-01-01T00:00:00.001Z", 1 },
	{ "1969-12-31T23:59:59.999Z", -1 },
	{ "2025-12-06T05:37:26.996Z", INT64_C(1764999446996) },
	{ "2000-02-29T00:00:00.000Z", INT64_C(951782400000) },
	{ "2024-02-29T00:00:00.000Z", INT64_C(1709164800000) },
	{ "1900-03-01T00:00:00.000Z", INT64_C(-2203891200000) },
	{ "0001-01-01T00:00:00.000Z", INT64_C(-62135596800000) },
	{ "0000-01-01T00:00:00.000Z", TIME_MIN },
	{ "9999-12-31T23:59:59.999Z", TIME_MAX },
};

static void
test_model_time_format_and_parse(void **state)
{
	char buf[MODEL_TIME_LEN];
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < N(time_cases); i++) {
		model_format_time(time_cases[i].ms, buf);
		assert_string_equal(buf, time_cases[i].text);
		ms = -42;
		assert_int_equal(model_parse_time(time_cases[i].text, &ms), 0);
		assert_int_equal(ms, time_cases[i].ms);
	}
}

static void
test_model_time_round_trip(void **state)
{
	char buf[MODEL_TIME_LEN];
	int64_t ms, back;

	(void)state;

	/* A sweep with an odd step visits many days, months and years. */
	for (ms = TIME_MIN; ms <= TIME_MAX - INT64_C(9876543210987);
	     ms += INT64_C(9876543210987)) {
		model_format_time(ms, buf);
		assert_int_equal(strlen(buf), MODEL_TIME_LEN - 1);
		assert_int_equal(model_parse_time(buf, &back), 0);
		assert_int_equal(back, ms);
	}
}

static void
test_model_time_format_clamps(void **state)
{
	char buf[MODEL_TIME_LEN];

	(void)state;
	model_format_time(INT64_MAX, buf);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	model_format_time(INT64_MIN, buf);
	assert_string_equal(buf, "0000-01-01T00:00:00.000Z");
}

static void
test_model_time_parse_short_forms(void **state)
{
	static const struct time_case cases[] = {
		{ "2025-12-06", INT64_C(1764979200000) },
		{ "2025-12-06T05:37:26Z", INT64_C(1764999446000) },
		{ "2024-02-29", INT64_C(1709164800000) },
		{ "2000-02-29T23:59:59Z", INT64_C(951868799000) },
		{ "1970-01-01", 0 },
	};
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < N(cases); i++) {
		print_message("%s\n", cases[i].text);
		assert_int_equal(model_parse_time(cases[i].text, &ms), 0);
		assert_int_equal(ms, cases[i].ms);
	}
}

static void
test_model_time_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"2023-02-29",
		"1900-02-29",
		"2100-02-29T00:00:00Z",
		"2025-04-31",
		"2025-13-01",
		"2025-00-10",
		"2025-12-00",
		"2025-12-32",
		"2025-12-06T24:00:00Z",
		"2025-12-06T23:60:00Z",
		"2025-12-06T23:59:60Z",
		"2025-12-06T05:37:26",
		"2025-12-06T05:37:26.996",
		"2025-12-06T05:37:26.996z",
		"2025-12-06t05:37:26.996Z",
		"2025-12-06 05:37:26.996Z",
		"2025-12-06T05:37:26.99Z",
		"2025-12-06T05:37:26.9960Z",
		"2025-12-06T05:37Z",
		"2025-12-06T05:37:26+00:00",
		"2025-12-06T05:37:26.996Z ",
		" 2025-12-06",
		"+2025-12-06",
		"-2025-12-06",
		"25-12-06",
		"2025-1-06",
		"2025/12/06",
		"20251206",
		"garbage",
		"",
	};
	int64_t ms = 7;
	size_t i;

	(void)state;
	for (i = 0; i < N(bad); i++) {
		print_message("\"%s\"\n", bad[i]);
		assert_int_equal(model_parse_time(bad[i], &ms), -1);
	}
	assert_int_equal(model_parse_time(NULL, &ms), -1);
	assert_int_equal(ms, 7);
}

static void
test_model_now_ms(void **state)
{
	char buf[MODEL_TIME_LEN];
	int64_t now = model_now_ms(), back;

	(void)state;

	/* After 2024-01-01 and formattable. */
	assert_true(now > INT64_C(1704067200000));
	model_format_time(now, buf);
	assert_int_equal(model_parse_time(buf, &back), 0);
	assert_int_equal(back, now);
}

/*
 * Identifiers.
 */

struct ident_case {
	const char *bytes;
	size_t len;          /* 0: strlen(bytes) */
	const char *message; /* NULL when valid */
};

static const struct ident_case ident_cases[] = {
	{ "monthly-revenue", 0, NULL },
	{ "a", 0, NULL },
	{ "with space and / slash", 0, NULL },
	{ "\xc3\xa9t\xc3\xa9", 0, NULL },        /* été */
	{ "\xe6\x97\xa5\xe6\x9c\xac", 0, NULL }, /* CJK */
	{ "\xf0\x9f\x98\x80", 0, NULL },         /* U+1F600 */
	{ "\xf4\x8f\xbf\xbf", 0, NULL },         /* U+10FFFF */
	{ "\xc2\xa0", 0, NULL },                 /* U+00A0 */
	{ "", 0, "definition must be 1 to 255 bytes of UTF-8" },
	{ "a*b", 0, "definition must not contain '*'" },
	{ "*", 0, "definition must not contain '*'" },
	{ "a\tb", 0,
	    "definition must not contain control characters (U+0009 at byte "
	    "1)" },
	{ "\x1f", 0,
	    "definition must not contain control characters (U+001F at byte "
	    "0)" },
	{ "x\x7f", 0,
	    "definition must not contain control characters (U+007F at byte "
	    "1)" },
	{ "\xc2\x80", 0,
	    "definition must not contain control characters (U+0080 at byte "
	    "0)" },
	{ "ab\xc2\x9f", 0,
	    "definition must not contain control characters (U+009F at byte "
	    "2)" },
	{ "a\0b", 3,
	    "definition must not contain control characters (U+0000 at byte "
	    "1)" },
	{ "\xc0\xaf", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
	{ "\xe0\x80\xaf", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
	{ "ok\xed\xa0\x80", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 2)" },
	{ "\xf4\x90\x80\x80", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
	{ "\xf8\x88\x80\x80\x80", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
	{ "x\xe2\x82", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 1)" },
	{ "\x80", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
	{ "\xff", 0,
	    "definition must be valid UTF-8 (invalid sequence at byte 0)" },
};

static void
test_model_identifier_table(void **state)
{
	char detail[256];
	size_t i, len;
	enum err e;

	(void)state;
	for (i = 0; i < N(ident_cases); i++) {
		const struct ident_case *c = &ident_cases[i];

		print_message("case %zu\n", i);
		len = c->len != 0 ? c->len : strlen(c->bytes);
		detail[0] = '\0';
		e = model_check_identifier(
		    "definition", c->bytes, len, detail, sizeof(detail));
		if (c->message == NULL) {
			assert_int_equal(e, ERR_OK);
			continue;
		}
		assert_int_equal(e, ERR_VALIDATION);
		assert_string_equal(detail, c->message);
	}
}

static void
test_model_identifier_length(void **state)
{
	char s[300], detail[256];

	(void)state;
	memset(s, 'x', sizeof(s));
	assert_int_equal(
	    model_check_identifier("name", s, 255, detail, sizeof(detail)),
	    ERR_OK);
	assert_int_equal(
	    model_check_identifier("name", s, 256, detail, sizeof(detail)),
	    ERR_VALIDATION);
	assert_string_equal(detail, "name must be 1 to 255 bytes of UTF-8");

	/* 253 bytes and a two-byte character: 255 in all. */
	memcpy(s + 253, "\xc3\xa9", 2);
	assert_int_equal(
	    model_check_identifier("name", s, 255, detail, sizeof(detail)),
	    ERR_OK);

	/* A NULL detail buffer is allowed. */
	assert_int_equal(
	    model_check_identifier("name", "", 0, NULL, 0), ERR_VALIDATION);
	assert_int_equal(
	    model_check_identifier("name", NULL, 5, NULL, 0), ERR_VALIDATION);
}

/*
 * Strict JSON.
 */

struct json_case {
	const char *text;
	size_t len;          /* 0: strlen(text) */
	const char *message; /* NULL when valid; else the exact detail */
};

static const struct json_case json_ok[] = {
	{ "{}", 0, NULL },
	{ " \t\r\n{ \"a\" : 1 , \"b\" : [true, false, null, -0.5e+3] }\n", 0,
	    NULL },
	{ "{\"a\":{\"a\":1},\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":2}]}", 0,
	    NULL },
	{ "{\"a:b\":\"c:d\",\"e\":[\":\",\"::\"]}", 0, NULL },
	{ "{\"a\\\":\":\"\\\":x\",\"b\\\\\":\"\\\\\"}", 0, NULL },
	{ "{\"\\u00e9\":\"\\ud83d\\ude00\",\"s\":\"\\/\\b\\f\\n\\r\\t\"}", 0,
	    NULL },
	{ "{\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", 0, NULL },
	{ "{\"n\":[0,-0,1,12,1.5,1e3,1E-2,-1.25e+10]}", 0, NULL },
};

static const struct json_case json_bad[] = {
	{ "", 0, "the body is empty; expected a JSON object" },
	{ " \n\t", 0, "the body is empty; expected a JSON object" },
	{ "{} x", 0, "trailing characters after the JSON value at offset 3" },
	{ "{}{}", 0, "trailing characters after the JSON value at offset 2" },
	{ "{\"a\":1}\n,", 0,
	    "trailing characters after the JSON value at offset 8" },
	{ "{}\f", 0, "trailing characters after the JSON value at offset 2" },
	{ "[1]", 0, "the body must be a JSON object" },
	{ "123", 0, "the body must be a JSON object" },
	{ "\"s\" ", 0, "the body must be a JSON object" },
	{ "null", 0, "the body must be a JSON object" },
	{ "{\"a\":1", 0,
	    "invalid JSON: the body ends at offset 6 inside the value" },
	{ "{\"a\":1,}", 0, "invalid JSON at offset 7: unexpected character" },
	{ "{a:1}", 0,
	    "invalid JSON at offset 1: quoted object property name expected" },
	{ "{\"a\":01}", 0, "invalid JSON at offset 7: number expected" },
	{ "hello", 0, NULL },
	{ "{\"a\":1}\0", 8, "the body contains a NUL byte at offset 7" },
	{ "{\"a\":\"x\0y\"}", 11, "the body contains a NUL byte at offset 7" },
	{ "{\"a\":1,\"a\":2}", 0, "duplicate key \"a\" at offset 7" },
	{ "{\"x\":{\"b\":1,\"c\":2,\"b\":3}}", 0,
	    "duplicate key \"b\" at offset 18" },
	{ "{\"x\":[{\"k\":1},{\"k\":1,\"k\":1}]}", 0,
	    "duplicate key \"k\" at offset 21" },
	{ "{\"a\":\"1\",\"\\u0061\":2}", 0, "duplicate key in a JSON object" },
	{ "{\"a\":NaN}", 0,
	    "invalid JSON at offset 5: expected true, false or "
	    "null" },
	{ "{\"a\":Infinity}", 0,
	    "invalid JSON at offset 5: expected true, "
	    "false or null" },
	{ "{\"a\":-Infinity}", 0, "invalid JSON at offset 5: invalid number" },
	{ "{\"a\":-01}", 0, "invalid JSON at offset 5: invalid number" },
	{ "{\"a\":1.}", 0, "invalid JSON at offset 5: invalid number" },
	{ "{'a':1}", 0, "invalid JSON at offset 1: unexpected character" },
	{ "{\"a\":\"x\ty\"}", 0,
	    "invalid JSON at offset 7: unescaped control "
	    "character in a string" },
	{ "{\"a\":\"\\ud800\"}", 0,
	    "invalid JSON at offset 6: unpaired UTF-16 surrogate" },
	{ "{\"a\":\"\\udc00\\ud800\"}", 0,
	    "invalid JSON at offset 6: unpaired UTF-16 surrogate" },
	{ "{\"a\":\"\xc0\x80\"}", 0,
	    "invalid JSON at offset 6: invalid UTF-8" },
	{ "{\"a\":\"\xed\xa0\x80\"}", 0,
	    "invalid JSON at offset 6: invalid UTF-8" },
	{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0,
	    "invalid JSON at offset 6: invalid UTF-8" },
	{ "/* c */ {}", 0, NULL },
	{ "{\"a\\u0000b\":1}", 0,
	    "invalid JSON at offset 3: \\u0000 in an object key" },
};

static void
test_model_parse_json_accepts(void **state)
{
	json_object *obj;
	char detail[256];
	size_t i;

	(void)state;
	for (i = 0; i < N(json_ok); i++) {
		print_message("%s\n", json_ok[i].text);
		detail[0] = '\0';
		assert_int_equal(
		    model_parse_json(json_ok[i].text, strlen(json_ok[i].text),
		        &obj, detail, sizeof(detail)),
		    ERR_OK);
		assert_non_null(obj);
		assert_true(json_object_is_type(obj, json_type_object));
		json_object_put(obj);
	}
}

static void
test_model_parse_json_rejects(void **state)
{
	json_object *obj;
	char detail[256];
	size_t i, len;

	(void)state;
	for (i = 0; i < N(json_bad); i++) {
		const struct json_case *c = &json_bad[i];

		print_message("case %zu\n", i);
		len = c->len != 0 ? c->len : strlen(c->text);
		obj = (json_object *)&obj;
		detail[0] = '\0';
		assert_int_equal(model_parse_json(c->text, len, &obj, detail,
		                     sizeof(detail)),
		    ERR_BAD_JSON);
		assert_null(obj);
		if (c->message != NULL)
			assert_string_equal(detail, c->message);
		else
			assert_non_null(
			    strstr(detail, "invalid JSON at offset"));
	}
}

static void
test_model_parse_json_invalid_bytes(void **state)
{
	static const char bad[] = "{\"a\":\"\xff\xfe\"}";
	json_object *obj;
	char detail[256];

	(void)state;
	assert_int_equal(model_parse_json(bad, sizeof(bad) - 1, &obj, detail,
	                     sizeof(detail)),
	    ERR_BAD_JSON);
	assert_null(obj);
	assert_string_equal(
	    detail, "invalid JSON at offset 6: invalid utf-8 string");
}

/* {"a": [[...]]} where the object counts as one level. */
static char *
nested(int depth, const char *inner)
{
	char *s = malloc((size_t)depth * 2 + strlen(inner) + 8);
	size_t n = 0;
	int i;

	assert_non_null(s);
	memcpy(s, "{\"a\":", 5);
	n = 5;
	for (i = 1; i < depth; i++)
		s[n++] = '[';
	memcpy(s + n, inner, strlen(inner));
	n += strlen(inner);
	for (i = 1; i < depth; i++)
		s[n++] = ']';
	s[n++] = '}';
	s[n] = '\0';
	return s;
}

static void
test_model_parse_json_depth(void **state)
{
	static const char *const inner[] = { "", "1", "\"x\"", "{}",
		"{\"k\":null}" };
	json_object *obj;
	char detail[256];
	size_t i;
	char *s;

	(void)state;

	/* 64 containers pass whether the innermost is empty or holds a
	 * value; 65 do not. "{}" inside adds the 65th. */
	for (i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		int extra = inner[i][0] == '{';

		s = nested(MODEL_MAX_JSON_DEPTH - extra, inner[i]);
		if (model_parse_json(
		        s, strlen(s), &obj, detail, sizeof(detail)) != ERR_OK)
			fail_msg(
			    "64 levels around \"%s\": %s", inner[i], detail);
		json_object_put(obj);
		free(s);

		s = nested(MODEL_MAX_JSON_DEPTH + 1 - extra, inner[i]);
		assert_int_equal(model_parse_json(s, strlen(s), &obj, detail,
		                     sizeof(detail)),
		    ERR_BAD_JSON);
		assert_null(obj);
		assert_string_equal(
		    detail, "JSON nested deeper than 64 levels");
		free(s);
	}
}

static void
test_model_parse_json_many_keys(void **state)
{
	json_object *obj;
	char detail[256], *s, *p;
	int i;

	(void)state;

	/* Many keys, one repeated at the end: found and named. */
	s = malloc(20000);
	assert_non_null(s);
	p = s + sprintf(s, "{");
	for (i = 0; i < 1000; i++)
		p += sprintf(p, "\"k%d\":%d,", i, i);
	sprintf(p, "\"k500\":0}");
	assert_int_equal(
	    model_parse_json(s, strlen(s), &obj, detail, sizeof(detail)),
	    ERR_BAD_JSON);
	assert_null(obj);
	assert_non_null(strstr(detail, "duplicate key \"k500\" at offset "));

	sprintf(p, "\"k1000\":0}");
	assert_int_equal(
	    model_parse_json(s, strlen(s), &obj, detail, sizeof(detail)),
	    ERR_OK);
	assert_int_equal(json_object_object_length(obj), 1001);
	json_object_put(obj);
	free(s);
}

/*
 * Documents: helpers.
 */

static json_object *
parse(const char *text)
{
	json_object *obj = NULL;
	char detail[256];

	if (model_parse_json(
	        text, strlen(text), &obj, detail, sizeof(detail)) != ERR_OK)
		fail_msg("test JSON does not parse: %s: %s", detail, text);
	return obj;
}

/* A document, and the field error its check must give (NULL: valid). */
struct doc_case {
	const char *text;
	const char *field;
	const char *message;
};

static void
expect_field_error(
    enum err e, const struct model_field_error *fe, const struct doc_case *c)
{
	if (c->field == NULL) {
		if (e != ERR_OK)
			fail_msg("%s: %s: %s", c->text, fe->field, fe->message);
		return;
	}
	assert_int_equal(e, ERR_VALIDATION);
	assert_string_equal(fe->field, c->field);
	assert_string_equal(fe->message, c->message);
}

/*
 * Backoff documents.
 */

#define BO_INIT "\"initial_delay_in_millis\":"
#define BO_MIN "\"minimum_delay_in_millis\":"
#define BO_MAX "\"maximum_delay_in_millis\":"
#define BO_INC "\"delay_increase\":"
#define BO_DEC "\"delay_decrease\":"
#define BO_REST BO_MAX "300000," BO_INC "2," BO_DEC "2"

static const struct doc_case backoff_cases[] = {
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_REST "}", NULL, NULL },
	{ "{" BO_INIT "0," BO_MIN "0," BO_MAX "0," BO_INC "1," BO_DEC "1}",
	    NULL, NULL },
	{ "{" BO_INIT "2147483647," BO_MIN "2147483647," BO_MAX
	  "2147483647," BO_INC "2147483647," BO_DEC "2147483647}",
	    NULL, NULL },
	{ "{" BO_MIN "1000," BO_REST "}", "backoff.initial_delay_in_millis",
	    "is required" },
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_REST ",\"x\":1}", "backoff.x",
	    "unknown field" },
	{ "{" BO_INIT "1.5," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not 1.5" },
	{ "{" BO_INIT "1e3," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not 1e3" },
	{ "{" BO_INIT "\"1000\"," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not \"1000\"" },
	{ "{" BO_INIT "true," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not true" },
	{ "{" BO_INIT "null," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not null" },
	{ "{" BO_INIT "[1]," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not an array" },
	{ "{" BO_INIT "1000," BO_MIN "-1," BO_REST "}",
	    "backoff.minimum_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not -1" },
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_MAX "2147483648," BO_INC
	  "2," BO_DEC "2}",
	    "backoff.maximum_delay_in_millis",
	    "must be an integer from 0 to 2147483647, not 2147483648" },
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_MAX "300000," BO_INC "0," BO_DEC
	  "2}",
	    "backoff.delay_increase",
	    "must be an integer from 1 to 2147483647, not 0" },
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_MAX "300000," BO_INC "2," BO_DEC
	  "99999999999999999999}",
	    "backoff.delay_decrease",
	    "must be an integer from 1 to 2147483647, not "
	    "18446744073709551615" },
	{ "{" BO_INIT "1000," BO_MIN "1000," BO_MAX "300000," BO_INC "2}",
	    "backoff.delay_decrease", "is required" },
	{ "{" BO_INIT "1000," BO_MIN "5000," BO_MAX "4000," BO_INC "2," BO_DEC
	  "2}",
	    "backoff.minimum_delay_in_millis",
	    "must not exceed maximum_delay_in_millis (4000), not 5000" },
	{ "{" BO_INIT "999," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be from minimum_delay_in_millis (1000) to "
	    "maximum_delay_in_millis (300000), not 999" },
	{ "{" BO_INIT "300001," BO_MIN "1000," BO_REST "}",
	    "backoff.initial_delay_in_millis",
	    "must be from minimum_delay_in_millis (1000) to "
	    "maximum_delay_in_millis (300000), not 300001" },
	{ "{\"b\":[]}", "backoff.b", "unknown field" },
};

static void
test_model_backoff_from_json(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	json_object *obj;
	size_t i;

	(void)state;
	for (i = 0; i < N(backoff_cases); i++) {
		print_message("case %zu\n", i);
		obj = parse(backoff_cases[i].text);
		memset(&fe, 0, sizeof(fe));
		expect_field_error(
		    model_backoff_from_json(obj, "backoff", &b, &fe), &fe,
		    &backoff_cases[i]);
		if (backoff_cases[i].field == NULL)
			assert_true(backoff_is_valid(&b));
		json_object_put(obj);
	}
}

static void
test_model_backoff_not_object(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	json_object *v = json_object_new_string("fast");

	(void)state;
	assert_int_equal(model_backoff_from_json(v, "info.backoff", &b, &fe),
	    ERR_VALIDATION);
	assert_string_equal(fe.field, "info.backoff");
	assert_string_equal(fe.message, "must be an object, not \"fast\"");
	json_object_put(v);

	/* A NULL fe is allowed. */
	assert_int_equal(
	    model_backoff_from_json(NULL, "backoff", &b, NULL), ERR_VALIDATION);
}

static void
test_model_backoff_json_round_trip(void **state)
{
	const struct backoff b = { 1500, 1000, 300000, 3, 2 };
	struct model_field_error fe;
	struct backoff back;
	json_object *obj;

	(void)state;
	obj = model_backoff_to_json(&b);
	assert_non_null(obj);
	assert_string_equal(
	    json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN),
	    "{\"initial_delay_in_millis\":1500,"
	    "\"minimum_delay_in_millis\":1000,"
	    "\"maximum_delay_in_millis\":300000,"
	    "\"delay_increase\":3,\"delay_decrease\":2}");
	assert_int_equal(
	    model_backoff_from_json(obj, "backoff", &back, &fe), ERR_OK);
	assert_memory_equal(&b, &back, sizeof(b));
	json_object_put(obj);
}

/*
 * Operation info.
 */

#define OP_AT "\"@type\":\"" MODEL_OPERATION_INFO_TYPE "\""
#define GOOD_BACKOFF "{" BO_INIT "1000," BO_MIN "1000," BO_REST "}"

static const struct doc_case operation_cases[] = {
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"monthly-revenue\"}",
	    NULL, NULL },
	{ "{" OP_AT
	  ",\"type\":\"DETECT\",\"definition\":\"x\",\"backoff\":" GOOD_BACKOFF
	  "}",
	    NULL, NULL },
	{ "{\"type\":\"REPORT\",\"definition\":\"d\"}", "info.@type",
	    "is required" },
	{ "{\"@type\":\"" MODEL_JOB_INFO_TYPE "\",\"type\":\"REPORT\","
	  "\"definition\":\"d\"}",
	    "info.@type",
	    "must be \"" MODEL_OPERATION_INFO_TYPE
	    "\", not \"" MODEL_JOB_INFO_TYPE "\"" },
	{ "{\"@type\":\"x\",\"type\":\"REPORT\",\"definition\":\"d\"}",
	    "info.@type",
	    "must be \"" MODEL_OPERATION_INFO_TYPE "\", not \"x\"" },
	{ "{\"@type\":7,\"type\":\"REPORT\",\"definition\":\"d\"}",
	    "info.@type", "must be \"" MODEL_OPERATION_INFO_TYPE "\", not 7" },
	{ "{" OP_AT ",\"definition\":\"d\"}", "info.type", "is required" },
	{ "{" OP_AT ",\"type\":\"report\",\"definition\":\"d\"}", "info.type",
	    "must be one of PUBLISH, REPLICATE, RECONCILE, REPORT, VALIDATE, "
	    "DETECT, not \"report\"" },
	{ "{" OP_AT ",\"type\":\"REPORT\\u0000\",\"definition\":\"d\"}",
	    "info.type",
	    "must be one of PUBLISH, REPLICATE, RECONCILE, REPORT, VALIDATE, "
	    "DETECT, not a string" },
	{ "{" OP_AT ",\"type\":3,\"definition\":\"d\"}", "info.type",
	    "must be one of PUBLISH, REPLICATE, RECONCILE, REPORT, VALIDATE, "
	    "DETECT, not 3" },
	{ "{" OP_AT ",\"type\":\"REPORT\"}", "info.definition", "is required" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"a*\"}",
	    "info.definition", "definition must not contain '*'" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"\"}",
	    "info.definition", "definition must be 1 to 255 bytes of UTF-8" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"a\\u0001\"}",
	    "info.definition",
	    "definition must not contain control characters (U+0001 at byte "
	    "1)" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":[\"d\"]}",
	    "info.definition", "must be a string, not an array" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"d\",\"name\":\"n\"}",
	    "info.name", "unknown field" },
	{ "{\"typo\":1," OP_AT ",\"definition\":\"d\"}", "info.typo",
	    "unknown field" },
	{ "{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"d\",\"backoff\":3}",
	    "info.backoff", "must be an object, not 3" },
	{ "{" OP_AT
	  ",\"type\":\"REPORT\",\"definition\":\"d\",\"backoff\":{" BO_INIT
	  "1000," BO_MIN "1000," BO_MAX "300000," BO_INC "2.5," BO_DEC "2}}",
	    "info.backoff.delay_increase",
	    "must be an integer from 1 to 2147483647, not 2.5" },
	{ "{" OP_AT
	  ",\"type\":\"REPORT\",\"definition\":\"d\",\"backoff\":null}",
	    "info.backoff", "must be an object, not null" },
};

static void
test_model_operation_info_check(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	const char *definition;
	enum op_type type;
	json_object *obj;
	int has_backoff;
	size_t i;

	(void)state;
	for (i = 0; i < N(operation_cases); i++) {
		print_message("case %zu\n", i);
		obj = parse(operation_cases[i].text);
		memset(&fe, 0, sizeof(fe));
		expect_field_error(model_operation_info_check(obj, &type,
		                       &definition, &has_backoff, &b, &fe),
		    &fe, &operation_cases[i]);
		json_object_put(obj);
	}
}

static void
test_model_operation_info_outputs(void **state)
{
	struct model_field_error fe;
	struct backoff b = { 0 };
	const char *definition = NULL;
	enum op_type type = OP_TYPE__MAX;
	json_object *obj;
	int has_backoff = -1;

	(void)state;
	obj = parse("{" OP_AT ",\"type\":\"REPORT\",\"definition\":\"sql\"}");
	assert_int_equal(model_operation_info_check(
	                     obj, &type, &definition, &has_backoff, &b, &fe),
	    ERR_OK);
	assert_int_equal(type, OP_TYPE_REPORT);
	assert_string_equal(definition, "sql");
	assert_int_equal(has_backoff, 0);
	json_object_put(obj);

	obj = parse("{" OP_AT ",\"type\":\"VALIDATE\",\"definition\":\"c\","
	            "\"backoff\":" GOOD_BACKOFF "}");
	assert_int_equal(model_operation_info_check(
	                     obj, &type, &definition, &has_backoff, &b, &fe),
	    ERR_OK);
	assert_int_equal(type, OP_TYPE_VALIDATE);
	assert_int_equal(has_backoff, 1);
	assert_int_equal(b.maximum_ms, 300000);
	json_object_put(obj);

	/* The top level must be an object. */
	obj = json_object_new_array();
	assert_int_equal(model_operation_info_check(
	                     obj, &type, &definition, &has_backoff, &b, &fe),
	    ERR_VALIDATION);
	assert_string_equal(fe.field, "info");
	assert_string_equal(fe.message, "must be an object, not an array");
	json_object_put(obj);
}

/*
 * Job info.
 */

#define JOB_AT "\"@type\":\"" MODEL_JOB_INFO_TYPE "\""
#define JOB_MIN JOB_AT ",\"name\":\"eu\",\"roles\":[]"

static const struct doc_case job_cases[] = {
	{ "{" JOB_MIN "}", NULL, NULL },
	{ "{" JOB_AT ",\"name\":\"eu-invoices\",\"roles\":[\"reporting\"],"
	  "\"parameters\":{\"source\":\"sales\",\"query\":\"select 1\"},"
	  "\"backoff\":" GOOD_BACKOFF ",\"timeout_in_millis\":60000}",
	    NULL, NULL },
	{ "{" JOB_MIN ",\"parameters\":{}}", NULL, NULL },
	{ "{" JOB_MIN ",\"timeout_in_millis\":2147483647}", NULL, NULL },
	{ "{\"name\":\"eu\",\"roles\":[]}", "info.@type", "is required" },
	{ "{\"@type\":\"" MODEL_OPERATION_INFO_TYPE "\",\"name\":\"eu\","
	  "\"roles\":[]}",
	    "info.@type",
	    "must be \"" MODEL_JOB_INFO_TYPE
	    "\", not \"" MODEL_OPERATION_INFO_TYPE "\"" },
	{ "{" JOB_AT ",\"roles\":[]}", "info.name", "is required" },
	{ "{" JOB_AT ",\"name\":\"a*b\",\"roles\":[]}", "info.name",
	    "name must not contain '*'" },
	{ "{" JOB_AT ",\"name\":\"a\\u0085\",\"roles\":[]}", "info.name",
	    "name must not contain control characters (U+0085 at byte 1)" },
	{ "{" JOB_AT ",\"name\":1,\"roles\":[]}", "info.name",
	    "must be a string, not 1" },
	{ "{" JOB_AT ",\"name\":\"eu\"}", "info.roles", "is required" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":\"a,b\"}", "info.roles",
	    "must be an array of strings, not \"a,b\"" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":[\"a\",\"b\",3]}",
	    "info.roles[2]", "must be a string, not 3" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":[\"a\",\"a\",\"a\",\"a\","
	  "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",null]}",
	    "info.roles[12]", "must be a string, not null" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":[\"a\",\"b,c\"]}",
	    "info.roles[1]",
	    "a role must not contain ',': roles are passed comma-separated" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":[\"\"]}", "info.roles[0]",
	    "a role must be 1 to 128 bytes of UTF-8" },
	{ "{" JOB_AT ",\"name\":\"eu\",\"roles\":[\"a\\nb\"]}", "info.roles[0]",
	    "a role must not contain control characters (U+000A at byte 1)" },
	{ "{" JOB_MIN ",\"parameters\":[]}", "info.parameters",
	    "must be an object whose values are strings, not an array" },
	{ "{" JOB_MIN ",\"parameters\":{\"source\":1}}",
	    "info.parameters.source", "must be a string, not 1" },
	{ "{" JOB_MIN ",\"parameters\":{\"a\":\"b\",\"limit\":{}}}",
	    "info.parameters.limit", "must be a string, not an object" },
	{ "{" JOB_MIN ",\"parameters\":{\"\":\"x\"}}", "info.parameters",
	    "a parameter key must be 1 to 128 bytes of UTF-8" },
	{ "{" JOB_MIN ",\"parameters\":{\"a\\tb\":\"x\"}}", "info.parameters",
	    "a parameter key must not contain control characters (U+0009 at "
	    "byte 1)" },
	{ "{" JOB_MIN ",\"parameters\":{\"k\":\"a\\u0000b\"}}",
	    "info.parameters.k",
	    "must not contain NUL characters (parameters are passed in the "
	    "environment)" },
	{ "{" JOB_MIN ",\"timeout_in_millis\":0}", "info.timeout_in_millis",
	    "must be an integer from 1 to 2147483647, not 0" },
	{ "{" JOB_MIN ",\"timeout_in_millis\":2147483648}",
	    "info.timeout_in_millis",
	    "must be an integer from 1 to 2147483647, not 2147483648" },
	{ "{" JOB_MIN ",\"timeout_in_millis\":6e4}", "info.timeout_in_millis",
	    "must be an integer from 1 to 2147483647, not 6e4" },
	{ "{" JOB_MIN ",\"backoff\":{" BO_INIT "1000," BO_MIN "1000," BO_MAX
	  "300000," BO_INC "2," BO_DEC "2,\"jitter\":1}}",
	    "info.backoff.jitter", "unknown field" },
	{ "{" JOB_MIN ",\"backoff\":{" BO_INIT "1," BO_MIN "1000," BO_REST "}}",
	    "info.backoff.initial_delay_in_millis",
	    "must be from minimum_delay_in_millis (1000) to "
	    "maximum_delay_in_millis (300000), not 1" },
	{ "{" JOB_MIN ",\"type\":\"REPORT\"}", "info.type", "unknown field" },
	{ "{" JOB_MIN ",\"timeout\":5}", "info.timeout", "unknown field" },
};

static void
test_model_job_info_check(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	const char *name;
	json_object *obj;
	int64_t timeout;
	int has_backoff;
	size_t i;

	(void)state;
	for (i = 0; i < N(job_cases); i++) {
		print_message("case %zu\n", i);
		obj = parse(job_cases[i].text);
		memset(&fe, 0, sizeof(fe));
		expect_field_error(model_job_info_check(obj, &name,
		                       &has_backoff, &b, &timeout, &fe),
		    &fe, &job_cases[i]);
		json_object_put(obj);
	}
}

static void
test_model_job_info_outputs(void **state)
{
	struct model_field_error fe;
	struct backoff b = { 0 };
	const char *name = NULL;
	json_object *obj;
	int64_t timeout = -1;
	int has_backoff = -1;

	(void)state;
	obj = parse("{" JOB_MIN "}");
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_OK);
	assert_string_equal(name, "eu");
	assert_int_equal(has_backoff, 0);
	assert_int_equal(timeout, 0);
	json_object_put(obj);

	obj =
	    parse("{" JOB_AT
	          ",\"name\":\"n\",\"roles\":[\"r\"],\"backoff\":" GOOD_BACKOFF
	          ",\"timeout_in_millis\":60000}");
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_OK);
	assert_string_equal(name, "n");
	assert_int_equal(has_backoff, 1);
	assert_int_equal(b.initial_ms, 1000);
	assert_int_equal(timeout, 60000);
	json_object_put(obj);
}

/* Builds a job with n parameters p0..p(n-1). */
static json_object *
job_with_parameters(int n)
{
	json_object *obj = parse("{" JOB_MIN ",\"parameters\":{}}");
	json_object *params = json_object_object_get(obj, "parameters");
	char key[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "p%d", i);
		json_object_object_add(
		    params, key, json_object_new_string("v"));
	}
	return obj;
}

/* A valid job whose roles are r0, r1, ... */
static json_object *
job_with_roles(int n)
{
	json_object *obj = parse("{" JOB_MIN "}"), *roles;
	char role[16];
	int i;

	roles = json_object_new_array();
	assert_non_null(roles);
	for (i = 0; i < n; i++) {
		snprintf(role, sizeof(role), "r%d", i);
		json_object_array_add(roles, json_object_new_string(role));
	}
	json_object_object_add(obj, "roles", roles);
	return obj;
}

static void
test_model_job_info_limits(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	const char *name;
	json_object *obj;
	int64_t timeout;
	int has_backoff;
	char text[512];

	(void)state;
	obj = job_with_parameters(MODEL_MAX_PARAMETERS);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_OK);
	json_object_put(obj);

	obj = job_with_parameters(MODEL_MAX_PARAMETERS + 1);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_VALIDATION);
	assert_string_equal(fe.field, "info.parameters");
	assert_string_equal(fe.message, "must have at most 256 keys, not 257");
	json_object_put(obj);

	obj = job_with_roles(MODEL_MAX_ROLES);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_OK);
	json_object_put(obj);

	obj = job_with_roles(MODEL_MAX_ROLES + 1);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_VALIDATION);
	assert_string_equal(fe.field, "info.roles");
	assert_string_equal(fe.message, "must have at most 256 roles, not 257");
	json_object_put(obj);

	/* A key of 128 bytes passes, 129 does not. */
	snprintf(text, sizeof(text),
	    "{" JOB_MIN ",\"parameters\":{\"%0128d\":"
	    "\"v\"}}",
	    0);
	obj = parse(text);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_OK);
	json_object_put(obj);
	snprintf(text, sizeof(text),
	    "{" JOB_MIN ",\"parameters\":{\"%0129d\":"
	    "\"v\"}}",
	    0);
	obj = parse(text);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_VALIDATION);
	assert_string_equal(
	    fe.message, "a parameter key must be 1 to 128 bytes of UTF-8");
	json_object_put(obj);

	/* Roles likewise. */
	snprintf(text, sizeof(text),
	    "{" JOB_AT ",\"name\":\"n\",\"roles\":[\"%0129d\"]}", 0);
	obj = parse(text);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_VALIDATION);
	assert_string_equal(fe.field, "info.roles[0]");
	json_object_put(obj);
}

static void
test_model_field_error_truncation(void **state)
{
	struct model_field_error fe;
	struct backoff b;
	const char *name;
	json_object *obj;
	int64_t timeout;
	int has_backoff;
	char text[1024], key[400];
	size_t i;

	(void)state;

	/* An unknown key of 2-byte characters overflows fe.field. */
	for (i = 0; i + 2 < sizeof(key) - 1; i += 2)
		memcpy(key + i, "\xc3\xa9", 2);
	key[i] = '\0';
	snprintf(text, sizeof(text), "{" JOB_MIN ",\"%s\":1}", key);
	obj = parse(text);
	assert_int_equal(
	    model_job_info_check(obj, &name, &has_backoff, &b, &timeout, &fe),
	    ERR_VALIDATION);
	assert_true(strlen(fe.field) < sizeof(fe.field));
	assert_int_equal(model_check_identifier(
	                     "field", fe.field, strlen(fe.field), NULL, 0),
	    ERR_OK);
	json_object_put(obj);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_lookup),
		cmocka_unit_test(test_model_time_format_and_parse),
		cmocka_unit_test(test_model_time_round_trip),
		cmocka_unit_test(test_model_time_format_clamps),
		cmocka_unit_test(test_model_time_parse_short_forms),
		cmocka_unit_test(test_model_time_parse_rejects),
		cmocka_unit_test(test_model_now_ms),
		cmocka_unit_test(test_model_identifier_table),
		cmocka_unit_test(test_model_identifier_length),
		cmocka_unit_test(test_model_parse_json_accepts),
		cmocka_unit_test(test_model_parse_json_rejects),
		cmocka_unit_test(test_model_parse_json_invalid_bytes),
		cmocka_unit_test(test_model_parse_json_depth),
		cmocka_unit_test(test_model_parse_json_many_keys),
		cmocka_unit_test(test_model_backoff_from_json),
		cmocka_unit_test(test_model_backoff_not_object),
		cmocka_unit_test(test_model_backoff_json_round_trip),
		cmocka_unit_test(test_model_operation_info_check),
		cmocka_unit_test(test_model_operation_info_outputs),
		cmocka_unit_test(test_model_job_info_check),
		cmocka_unit_test(test_model_job_info_outputs),
		cmocka_unit_test(test_model_job_info_limits),
		cmocka_unit_test(test_model_field_error_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
