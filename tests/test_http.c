/*
 * Tests of the CGI request reader and the response writer, driven through
 * a fake struct http_io: a table of CGI variables and a body delivered in
 * chunks of a chosen size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "http.h"

#define FAKE_MAX_VARS 16

/* CGI variables and a body that read() hands out chunk bytes at a time. */
struct fake {
	const char *names[FAKE_MAX_VARS];
	const char *values[FAKE_MAX_VARS];
	int nvars;
	const char *body;
	size_t body_len; /* bytes available before EOF */
	size_t pos;
	int chunk;
	int reads; /* calls of read() */
	int fail;  /* read() returns -1 */
};

static const char *
fake_param(void *ctx, const char *name)
{
	struct fake *f = ctx;
	int i;

	for (i = 0; i < f->nvars; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static int
fake_read(void *ctx, char *buf, int n)
{
	struct fake *f = ctx;
	size_t left = f->body_len - f->pos;
	size_t take = (size_t)n;

	f->reads++;
	if (f->fail)
		return -1;
	if (f->chunk > 0 && take > (size_t)f->chunk)
		take = (size_t)f->chunk;
	if (take > left)
		take = left;
	memcpy(buf, f->body + f->pos, take);
	f->pos += take;
	return (int)take;
}

/* Sets (or replaces) variable name; NULL value removes it. */
static void
fake_set(struct fake *f, const char *name, const char *value)
{
	int i;

	for (i = 0; i < f->nvars; i++)
		if (strcmp(f->names[i], name) == 0)
			break;
	if (value == NULL) {
		if (i < f->nvars) {
			f->nvars--;
			f->names[i] = f->names[f->nvars];
			f->values[i] = f->values[f->nvars];
		}
		return;
	}
	assert_true(i < FAKE_MAX_VARS);
	f->names[i] = name;
	f->values[i] = value;
	if (i == f->nvars)
		f->nvars++;
}

/* A GET of uri with both headers. */
static void
fake_init(struct fake *f, const char *method, const char *uri)
{
	memset(f, 0, sizeof *f);
	fake_set(f, "REQUEST_METHOD", method);
	fake_set(f, "REQUEST_URI", uri);
	fake_set(f, "HTTP_REQUEST_ID", "req-1");
	fake_set(f, "HTTP_SOURCE", "unit-test");
}

static void
fake_body(struct fake *f, const char *body, const char *length, int chunk)
{
	f->body = body;
	f->body_len = strlen(body);
	f->chunk = chunk;
	fake_set(f, "CONTENT_LENGTH", length);
	fake_set(f, "CONTENT_TYPE", "application/json");
}

static struct http_io
fake_io(struct fake *f)
{
	struct http_io io = { fake_param, fake_read, f };

	return io;
}

/* Reads the head of f and expects code. */
static enum err
read_head(struct fake *f, struct http_request *req, int require)
{
	struct http_io io = fake_io(f);
	char detail[256] = "";
	enum err e = http_read_head(req, &io, require, detail, sizeof detail);

	if (e != ERR_OK)
		assert_true(detail[0] != '\0');
	return e;
}

static void
check_head_error(struct fake *f, int require, enum err code, const char *part)
{
	struct http_request req;
	struct http_io io = fake_io(f);
	char detail[256] = "";

	assert_int_equal(
	    http_read_head(&req, &io, require, detail, sizeof detail), code);
	if (part != NULL && strstr(detail, part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, part);
	http_request_free(&req);
}

static void
test_http_method_mapping(void **state)
{
	static const struct {
		const char *name;
		enum http_method method;
	} cases[] = {
		{ "GET", HTTP_GET },
		{ "HEAD", HTTP_HEAD },
		{ "PUT", HTTP_PUT },
		{ "POST", HTTP_POST },
		{ "DELETE", HTTP_DELETE },
		{ "PATCH", HTTP_OTHER },
		{ "get", HTTP_OTHER },
		{ "", HTTP_OTHER },
		{ "AVERYLONGMETHODNAMEINDEED", HTTP_OTHER },
	};
	struct fake f;
	struct http_request req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_init(&f, cases[i].name, "/api/v1/operation/");
		assert_int_equal(read_head(&f, &req, 1), ERR_OK);
		assert_int_equal(req.method, cases[i].method);
		http_request_free(&req);
	}
	fake_init(&f, "GET", "/api/v1/operation/");
	fake_set(&f, "REQUEST_METHOD", NULL);
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_int_equal(req.method, HTTP_OTHER);
	assert_string_equal(req.method_name, "");
	http_request_free(&req);
}

static void
test_http_request_uri_split(void **state)
{
	struct fake f;
	struct http_request req;

	(void)state;
	fake_init(&f, "GET", "/x/api/v1/operation/A/b%2Fc/?data=none");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_string_equal(req.path, "/x/api/v1/operation/A/b%2Fc/");
	assert_int_equal(req.nparams, 1);
	assert_string_equal(http_param(&req, "data"), "none");
	http_request_free(&req);

	fake_init(&f, "GET", "/api/v1/operation/?");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_string_equal(req.path, "/api/v1/operation/");
	assert_int_equal(req.nparams, 0);
	http_request_free(&req);

	fake_init(&f, "GET", "/api/v1/operation/");
	fake_set(&f, "PATH_INFO", "/elsewhere");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_string_equal(req.path, "/api/v1/operation/");
	assert_null(http_param(&req, "data"));
	http_request_free(&req);
}

static void
test_http_request_uri_missing(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, "GET", "relative");
	check_head_error(&f, 1, ERR_BAD_PATH, "REQUEST_URI");
	fake_init(&f, "GET", "/");
	fake_set(&f, "REQUEST_URI", NULL);
	check_head_error(&f, 1, ERR_BAD_PATH, "REQUEST_URI");
}

static void
test_http_query_decoding(void **state)
{
	struct fake f;
	struct http_request req;

	(void)state;
	fake_init(&f, "GET",
	    "/api/v1/operation/?filter=info.name%3D%3Deu-*+x&sort=-id"
	    "&page%5Bsize%5D=5&&empty=&bare&plus=a%2Bb");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_int_equal(req.nparams, 6);
	assert_string_equal(http_param(&req, "filter"), "info.name==eu-* x");
	assert_string_equal(http_param(&req, "sort"), "-id");
	assert_string_equal(http_param(&req, "page[size]"), "5");
	assert_string_equal(http_param(&req, "empty"), "");
	assert_string_equal(http_param(&req, "bare"), "");
	assert_string_equal(http_param(&req, "plus"), "a+b");
	assert_null(http_param(&req, "page[number]"));
	http_request_free(&req);
}

static void
test_http_query_duplicates(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, "GET", "/api/v1/operation/?sort=id&sort=id");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "twice");
	/* Duplicates are found after decoding. */
	fake_init(&f, "GET", "/api/v1/operation/?a=1&%61=2");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "twice");
}

static void
test_http_query_too_many(void **state)
{
	char uri[1024];
	size_t used;
	struct fake f;
	struct http_request req;
	int i;

	(void)state;
	used = (size_t)snprintf(uri, sizeof uri, "/api/v1/operation/?");
	for (i = 0; i < HTTP_MAX_PARAMS; i++)
		used += (size_t)snprintf(
		    uri + used, sizeof uri - used, "p%d=%d&", i, i);
	fake_init(&f, "GET", uri);
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_int_equal(req.nparams, HTTP_MAX_PARAMS);
	http_request_free(&req);

	snprintf(uri + used, sizeof uri - used, "one=more");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "more than 32");
}

static void
test_http_query_bad_escapes(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, "GET", "/api/v1/operation/?sort=%G1");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "sort");
	fake_init(&f, "GET", "/api/v1/operation/?sort=ab%");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "percent-escape");
	fake_init(&f, "GET", "/api/v1/operation/?s%4=1");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "percent-escape");
	fake_init(&f, "GET", "/api/v1/operation/?a=1&b=%2");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "parameter b has");

	/* An encoded NUL would cut the value short without notice. */
	fake_init(&f, "GET", "/api/v1/operation/?filter=id%00==1");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "encoded NUL");
	fake_init(&f, "GET", "/api/v1/operation/?fil%00ter=1");
	check_head_error(&f, 1, ERR_BAD_PARAMETER, "encoded NUL");
}

static void
test_http_params_allowed(void **state)
{
	static const char *const allowed[] = { "data", "status", NULL };
	struct fake f;
	struct http_request req;
	char detail[128];

	(void)state;
	fake_init(&f, "GET", "/api/v1/operation/?data=x&status=y");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_int_equal(
	    http_params_allowed(&req, allowed, detail, sizeof detail), ERR_OK);
	http_request_free(&req);

	fake_init(&f, "GET", "/api/v1/operation/?data=x&bogus=y");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_int_equal(
	    http_params_allowed(&req, allowed, detail, sizeof detail),
	    ERR_BAD_PARAMETER);
	assert_non_null(strstr(detail, "\"bogus\""));
	http_request_free(&req);
}

static void
test_http_headers_missing(void **state)
{
	struct fake f;
	struct http_request req;

	(void)state;
	fake_init(&f, "GET", "/api/v1/operation/");
	fake_set(&f, "HTTP_REQUEST_ID", NULL);
	check_head_error(&f, 1, ERR_BAD_HEADER, "request-id");
	assert_int_equal(read_head(&f, &req, 0), ERR_OK);
	assert_string_equal(req.request_id, "");
	assert_string_equal(req.source, "unit-test");
	http_request_free(&req);

	fake_init(&f, "GET", "/api/v1/operation/");
	fake_set(&f, "HTTP_SOURCE", NULL);
	check_head_error(&f, 1, ERR_BAD_HEADER, "source");
	assert_int_equal(read_head(&f, &req, 0), ERR_OK);
	http_request_free(&req);
}

/* The request id is kept even when the request fails for the source. */
static void
test_http_headers_request_id_kept(void **state)
{
	struct fake f;
	struct http_request req;

	(void)state;
	fake_init(&f, "GET", "/api/v1/operation/?x=1");
	fake_set(&f, "HTTP_SOURCE", NULL);
	assert_int_equal(read_head(&f, &req, 1), ERR_BAD_HEADER);
	assert_string_equal(req.request_id, "req-1");
	assert_string_equal(req.source, "");
	http_request_free(&req);

	fake_set(&f, "HTTP_SOURCE", "bad\tsource");
	assert_int_equal(read_head(&f, &req, 1), ERR_BAD_HEADER);
	assert_string_equal(req.request_id, "req-1");
	http_request_free(&req);
}

static void
test_http_headers_invalid(void **state)
{
	char v128[HTTP_MAX_HEADER_VALUE + 1], v129[HTTP_MAX_HEADER_VALUE + 2];
	struct fake f;
	struct http_request req;

	(void)state;
	memset(v128, 'x', sizeof v128 - 1);
	v128[sizeof v128 - 1] = '\0';
	memset(v129, 'x', sizeof v129 - 1);
	v129[sizeof v129 - 1] = '\0';

	fake_init(&f, "GET", "/api/v1/operation/");
	fake_set(&f, "HTTP_REQUEST_ID", v128);
	fake_set(&f, "HTTP_SOURCE", "~ !");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_string_equal(req.request_id, v128);
	assert_string_equal(req.source, "~ !");
	http_request_free(&req);

	fake_set(&f, "HTTP_REQUEST_ID", v129);
	check_head_error(&f, 1, ERR_BAD_HEADER, "request-id");
	fake_set(&f, "HTTP_REQUEST_ID", "");
	check_head_error(&f, 1, ERR_BAD_HEADER, "request-id");
	fake_set(&f, "HTTP_REQUEST_ID", "a\nb");
	check_head_error(&f, 1, ERR_BAD_HEADER, "request-id");
	fake_set(&f, "HTTP_REQUEST_ID", "caf\xc3\xa9");
	check_head_error(&f, 1, ERR_BAD_HEADER, "request-id");
	fake_set(&f, "HTTP_REQUEST_ID", "ok");
	fake_set(&f, "HTTP_SOURCE", "a\x7f");
	check_head_error(&f, 1, ERR_BAD_HEADER, "source");

	/* Not required: the bad value is dropped, not echoed. */
	fake_set(&f, "HTTP_REQUEST_ID", "a\nb");
	assert_int_equal(read_head(&f, &req, 0), ERR_OK);
	assert_string_equal(req.request_id, "");
	http_request_free(&req);
}

static void
test_http_head_pointers(void **state)
{
	struct fake f;
	struct http_request req;

	(void)state;
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_set(&f, "CONTENT_TYPE", "application/json");
	fake_set(&f, "HTTP_IF_MATCH", "\"3\"");
	assert_int_equal(read_head(&f, &req, 1), ERR_OK);
	assert_string_equal(req.content_type, "application/json");
	assert_string_equal(req.if_match, "\"3\"");
	assert_null(req.body);
	http_request_free(&req);
}

/* No variables at all: every lookup returns NULL; nothing crashes. */
static void
test_http_no_variables(void **state)
{
	struct fake f;
	struct http_request req;
	struct http_io io;
	char detail[256];

	(void)state;
	memset(&f, 0, sizeof f);
	io = fake_io(&f);
	assert_int_equal(
	    http_read_head(&req, &io, 1, detail, sizeof detail), ERR_BAD_PATH);
	assert_int_equal(req.method, HTTP_OTHER);
	assert_string_equal(req.request_id, "");
	assert_null(req.content_type);
	assert_null(req.if_match);
	assert_int_equal(http_read_body(&req, &io, 100, detail, sizeof detail),
	    ERR_MEDIA_TYPE);
	http_request_free(&req);
	assert_int_equal(
	    http_read_head(&req, &io, 0, detail, sizeof detail), ERR_BAD_PATH);
	http_request_free(&req);
	assert_int_equal(f.reads, 0);
}

/* Reads the body of f with limit max; returns the code. */
static enum err
read_body(struct fake *f, struct http_request *req, int64_t max, char *detail,
    size_t len)
{
	struct http_io io = fake_io(f);

	assert_int_equal(http_read_head(req, &io, 1, detail, len), ERR_OK);
	return http_read_body(req, &io, max, detail, len);
}

static void
check_body_error(struct fake *f, int64_t max, enum err code, const char *part)
{
	struct http_request req;
	char detail[256] = "";

	assert_int_equal(read_body(f, &req, max, detail, sizeof detail), code);
	if (part != NULL && strstr(detail, part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, part);
	http_request_free(&req);
}

static void
test_http_body_chunks(void **state)
{
	static const char body[] = "{\"type\": \"REPORT\", \"x\": [1, 2, 3]}";
	static const int chunks[] = { 1, 2, 3, 7, 0 };
	struct fake f;
	struct http_request req;
	char detail[256], len[16];
	size_t i;

	(void)state;
	snprintf(len, sizeof len, "%zu", strlen(body));
	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		fake_init(&f, "PUT", "/api/v1/operation/");
		fake_body(&f, body, len, chunks[i]);
		assert_int_equal(
		    read_body(&f, &req, 1024, detail, sizeof detail), ERR_OK);
		assert_int_equal(req.body_len, strlen(body));
		assert_string_equal(req.body, body);
		if (chunks[i] == 1)
			assert_int_equal(f.reads, (int)strlen(body));
		http_request_free(&req);
	}
}

/* Only CONTENT_LENGTH bytes are read, even when more are available. */
static void
test_http_body_exact_length(void **state)
{
	struct fake f;
	struct http_request req;
	char detail[256];

	(void)state;
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}trailing", "2", 1);
	assert_int_equal(
	    read_body(&f, &req, 1024, detail, sizeof detail), ERR_OK);
	assert_string_equal(req.body, "{}");
	assert_int_equal(f.reads, 2);
	http_request_free(&req);

	/* The limit itself is allowed. */
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}", "2", 0);
	assert_int_equal(read_body(&f, &req, 2, detail, sizeof detail), ERR_OK);
	http_request_free(&req);
}

/* Without CONTENT_LENGTH (or with an empty one) the body is empty; the
 * JSON parser then rejects it. */
static void
test_http_body_length_missing(void **state)
{
	struct fake f;
	struct http_request req;
	char detail[256];

	(void)state;
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}", NULL, 0);
	assert_int_equal(
	    read_body(&f, &req, 1024, detail, sizeof detail), ERR_OK);
	assert_non_null(req.body);
	assert_int_equal(req.body_len, 0);
	assert_int_equal(f.reads, 0);
	http_request_free(&req);

	fake_set(&f, "CONTENT_LENGTH", "");
	assert_int_equal(
	    read_body(&f, &req, 1024, detail, sizeof detail), ERR_OK);
	assert_int_equal(req.body_len, 0);
	http_request_free(&req);
}

static void
test_http_body_length_bad(void **state)
{
	static const char *const bad[] = {
		"abc",
		"-1",
		"+1",
		"1 ",
		" 1",
		"0x10",
		"1.0",
		"99999999999999999999999",
		"9223372036854775808",
	};
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fake_init(&f, "PUT", "/api/v1/operation/");
		fake_body(&f, "{}", bad[i], 0);
		check_body_error(&f, 1024, ERR_BAD_LENGTH, "CONTENT_LENGTH");
		assert_int_equal(f.reads, 0);
	}
}

static void
test_http_body_too_large(void **state)
{
	/* Lengths over a 1 MiB limit, up to the largest there is, and what
	 * the detail must name. */
	static const struct {
		const char *length, *detail;
	} cases[] = {
		{ "1048577", "1048576" },
		{ "999999999999", NULL },
		{ "922337203685477590", NULL },
		{ "9223372036854775807", "9223372036854775807" },
	};
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_init(&f, "PUT", "/api/v1/operation/");
		fake_body(&f, "{}", cases[i].length, 0);
		check_body_error(&f, 1048576, ERR_TOO_LARGE, cases[i].detail);
		assert_int_equal(f.reads, 0);
	}

	/* Too large wins over a wrong content type. */
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}", "3", 0);
	fake_set(&f, "CONTENT_TYPE", "text/plain");
	check_body_error(&f, 2, ERR_TOO_LARGE, NULL);
	assert_int_equal(f.reads, 0);
}

static void
test_http_body_short(void **state)
{
	struct fake f;

	(void)state;
	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}", "10", 1);
	check_body_error(&f, 1024, ERR_BAD_LENGTH, "after 2 of the 10");

	fake_init(&f, "PUT", "/api/v1/operation/");
	fake_body(&f, "{}", "2", 0);
	f.fail = 1;
	check_body_error(&f, 1024, ERR_BAD_LENGTH, "after 0 of the 2");
	assert_int_equal(f.reads, 1);
}

static void
test_http_content_types(void **state)
{
	static const struct {
		const char *type;
		enum err want;
	} cases[] = {
		{ "application/json", ERR_OK },
		{ "APPLICATION/JSON", ERR_OK },
		{ "application/json; charset=utf-8", ERR_OK },
		{ "application/json;charset=UTF-8", ERR_OK },
		{ "application/merge-patch+json", ERR_OK },
		{ "application/problem+json; charset=utf-8", ERR_OK },
		{ "text/plain", ERR_MEDIA_TYPE },
		{ "text/json", ERR_MEDIA_TYPE },
		{ "application/jsonx", ERR_MEDIA_TYPE },
		{ "application/json garbage", ERR_MEDIA_TYPE },
		{ "application/json text/plain", ERR_MEDIA_TYPE },
		{ "application/json ; charset=utf-8", ERR_OK },
		{ "application/json ", ERR_OK },
		{ "application/+json", ERR_MEDIA_TYPE },
		{ "application/x-www-form-urlencoded", ERR_MEDIA_TYPE },
		{ "", ERR_MEDIA_TYPE },
		{ NULL, ERR_MEDIA_TYPE },
	};
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fake_init(&f, "PUT", "/api/v1/operation/");
		fake_body(&f, "{}", "2", 0);
		fake_set(&f, "CONTENT_TYPE", cases[i].type);
		check_body_error(&f, 1024, cases[i].want,
		    cases[i].want == ERR_OK ? NULL : "Content-Type");
		if (cases[i].want != ERR_OK)
			assert_int_equal(f.reads, 0);
	}
}

static void
check_decode(const char *in, int plus, const char *want, size_t want_len)
{
	size_t n = 12345;
	char *out = http_decode(in, strlen(in), plus, &n);

	if (want == NULL) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_int_equal(n, want_len);
	assert_memory_equal(out, want, want_len + 1);
	free(out);
}

static void
test_http_decode(void **state)
{
	(void)state;
	check_decode("", 0, "", 0);
	check_decode("abc", 0, "abc", 3);
	check_decode("a%2Fb%2fc", 0, "a/b/c", 5);
	check_decode("a+b", 0, "a+b", 3);
	check_decode("a+b", 1, "a b", 3);
	check_decode("%2B", 1, "+", 1);
	check_decode("%41%42", 0, "AB", 2);
	check_decode("%00x", 0, "\0x", 2);
	check_decode("%", 0, NULL, 0);
	check_decode("%4", 0, NULL, 0);
	check_decode("a%4", 0, NULL, 0);
	check_decode("%G1", 0, NULL, 0);
	check_decode("%1G", 0, NULL, 0);
	check_decode("%%41", 0, NULL, 0);
}

/* Only the first n bytes are decoded. */
static void
test_http_decode_prefix(void **state)
{
	size_t n;
	char *out = http_decode("ab%41cd", 5, 0, &n);

	(void)state;
	assert_string_equal(out, "abA");
	assert_int_equal(n, 3);
	free(out);
	out = http_decode("ab%41cd", 4, 0, NULL);
	assert_null(out);
}

static void
check_encode(const char *in, const char *want)
{
	char *out = http_encode_segment(in);
	char *back;
	size_t n;

	assert_non_null(out);
	assert_string_equal(out, want);
	back = http_decode(out, strlen(out), 0, &n);
	assert_non_null(back);
	assert_string_equal(back, in);
	assert_int_equal(n, strlen(in));
	free(back);
	free(out);
}

static void
test_http_encode_round_trip(void **state)
{
	(void)state;
	check_encode("", "");
	check_encode("monthly-revenue_2.0~x", "monthly-revenue_2.0~x");
	check_encode("a/b", "a%2Fb");
	check_encode("a b+c", "a%20b%2Bc");
	check_encode("100%", "100%25");
	check_encode("caf\xc3\xa9", "caf%C3%A9");
	check_encode("?#&=*", "%3F%23%26%3D%2A");
}

/* Parses res's body and checks the common fields of a problem. */
static json_object *
parse_problem(const struct http_response *res, int status, const char *title,
    const char *code)
{
	json_object *p, *v;

	assert_string_equal(res->content_type, "application/problem+json");
	assert_int_equal(res->status, status);
	assert_int_equal(strlen(res->body), res->body_len);
	p = json_tokener_parse(res->body);
	assert_non_null(p);
	assert_true(json_object_object_get_ex(p, "type", &v));
	assert_string_equal(json_object_get_string(v), "about:blank");
	assert_true(json_object_object_get_ex(p, "title", &v));
	assert_string_equal(json_object_get_string(v), title);
	assert_true(json_object_object_get_ex(p, "status", &v));
	assert_int_equal(json_object_get_int(v), status);
	assert_true(json_object_object_get_ex(p, "code", &v));
	assert_string_equal(json_object_get_string(v), code);
	return p;
}

static void
test_http_problem_fields(void **state)
{
	struct http_response res = { 0 };
	json_object *p, *v, *item;

	(void)state;
	http_respond_problem(&res, ERR_VALIDATION, "name is bad", "req-9",
	    "info.roles[2]", "must be a string");
	p = parse_problem(
	    &res, 422, "Unprocessable Content", "validation_failed");
	assert_true(json_object_object_get_ex(p, "detail", &v));
	assert_string_equal(json_object_get_string(v), "name is bad");
	assert_true(json_object_object_get_ex(p, "request_id", &v));
	assert_string_equal(json_object_get_string(v), "req-9");
	assert_true(json_object_object_get_ex(p, "errors", &v));
	assert_int_equal(json_object_array_length(v), 1);
	item = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(item, "field", &v));
	assert_string_equal(json_object_get_string(v), "info.roles[2]");
	assert_true(json_object_object_get_ex(item, "message", &v));
	assert_string_equal(json_object_get_string(v), "must be a string");
	assert_int_equal(res.retry_after, 0);
	json_object_put(p);
	http_response_free(&res);
}

static void
test_http_problem_minimal(void **state)
{
	struct http_response res = { 0 };
	json_object *p, *v;

	(void)state;
	http_respond_problem(&res, ERR_NOT_FOUND, NULL, "", NULL, NULL);
	p = parse_problem(&res, 404, "Not Found", "not_found");
	assert_true(json_object_object_get_ex(p, "detail", &v));
	assert_string_equal(json_object_get_string(v), "");
	assert_false(json_object_object_get_ex(p, "request_id", NULL));
	assert_false(json_object_object_get_ex(p, "errors", NULL));
	json_object_put(p);
	http_response_free(&res);

	/* A field without a message adds no errors entry. */
	http_respond_problem(&res, ERR_BAD_JSON, "x", NULL, "f", NULL);
	p = parse_problem(&res, 400, "Bad Request", "invalid_json");
	assert_false(json_object_object_get_ex(p, "errors", NULL));
	assert_false(json_object_object_get_ex(p, "request_id", NULL));
	json_object_put(p);
	http_response_free(&res);
}

/* Each error maps to a 4xx/5xx status and a snake_case code. */
static void
test_http_problem_every_error(void **state)
{
	static const int statuses[ERR__MAX] = {
		[ERR_OK] = 200,
		[ERR_BAD_JSON] = 400,
		[ERR_BAD_HEADER] = 400,
		[ERR_BAD_LENGTH] = 400,
		[ERR_BAD_PATH] = 400,
		[ERR_BAD_PARAMETER] = 400,
		[ERR_BAD_FILTER] = 400,
		[ERR_BAD_SORT] = 400,
		[ERR_BAD_STATUS] = 400,
		[ERR_NOT_FOUND] = 404,
		[ERR_OPERATION_NOT_FOUND] = 404,
		[ERR_JOB_NOT_FOUND] = 404,
		[ERR_METHOD] = 405,
		[ERR_OPERATION_HAS_JOBS] = 409,
		[ERR_REVISION_MISMATCH] = 412,
		[ERR_TOO_LARGE] = 413,
		[ERR_MEDIA_TYPE] = 415,
		[ERR_VALIDATION] = 422,
		[ERR_INTERNAL] = 500,
		[ERR_BUSY] = 503,
	};
	int e;

	(void)state;
	for (e = 1; e < ERR__MAX; e++) {
		struct http_response res = { 0 };
		json_object *p, *v;
		const char *c;

		assert_int_equal(http_status_of((enum err)e), statuses[e]);
		http_respond_problem(&res, (enum err)e, "d", "r", NULL, NULL);
		assert_int_equal(res.status, statuses[e]);
		assert_int_equal(res.retry_after, e == ERR_BUSY ? 1 : 0);
		p = json_tokener_parse(res.body);
		assert_non_null(p);
		assert_true(json_object_object_get_ex(p, "code", &v));
		for (c = json_object_get_string(v); *c != '\0'; c++)
			assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
		json_object_put(p);
		http_response_free(&res);
	}
}

static void
test_http_problem_busy_retry_after(void **state)
{
	struct http_response res = { 0 };
	struct http_request req;
	char buf[512];

	(void)state;
	memset(&req, 0, sizeof req);
	http_respond_problem(&res, ERR_BUSY, "locked", NULL, NULL, NULL);
	assert_int_equal(res.status, 503);
	assert_int_equal(res.retry_after, 1);
	assert_true(http_format_head(&res, &req, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "Status: 503 Service Unavailable\r\n"));
	assert_non_null(strstr(buf, "\r\nRetry-After: 1\r\n\r\n"));
	http_response_free(&res);
}

/* Replacing a body frees the old one (checked under sanitizers). */
static void
test_http_respond_json(void **state)
{
	struct http_response res = { 0 };
	json_object *o = json_tokener_parse("{\"a\": \"x/y\", \"b\": [1]}");

	(void)state;
	assert_int_equal(http_respond_json(&res, 200, o), ERR_OK);
	assert_int_equal(http_respond_json(&res, 201, o), ERR_OK);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.content_type, "application/json");
	assert_string_equal(res.body, "{\"a\":\"x/y\",\"b\":[1]}");
	assert_int_equal(res.body_len, strlen(res.body));
	json_object_put(o);
	http_response_free(&res);
	assert_null(res.body);
}

static void
test_http_format_head_plain(void **state)
{
	struct http_response res = { 0 };
	struct http_request req;
	char buf[512];
	int n;

	(void)state;
	memset(&req, 0, sizeof req);
	res.status = 200;
	res.body_len = 12;
	n = http_format_head(&res, &req, buf, sizeof buf);
	assert_string_equal(buf, "Status: 200 OK\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 12\r\n"
	                         "Cache-Control: no-store\r\n"
	                         "\r\n");
	assert_int_equal(n, (int)strlen(buf));
}

static void
test_http_format_head_etag_allow(void **state)
{
	struct http_response res = { 0 };
	struct http_request req;
	char buf[512];
	int n;

	(void)state;
	memset(&req, 0, sizeof req);
	snprintf(req.request_id, sizeof req.request_id, "abc-1");
	res.status = 200;
	res.content_type = "application/json";
	res.body_len = 0;
	snprintf(res.etag, sizeof res.etag, "7");
	n = http_format_head(&res, &req, buf, sizeof buf);
	assert_string_equal(buf, "Status: 200 OK\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 0\r\n"
	                         "Cache-Control: no-store\r\n"
	                         "request-id: abc-1\r\n"
	                         "ETag: \"7\"\r\n"
	                         "\r\n");
	assert_int_equal(n, (int)strlen(buf));

	res.etag[0] = '\0';
	res.status = 405;
	res.content_type = "application/problem+json";
	res.body_len = 99;
	snprintf(res.allow, sizeof res.allow, "GET, HEAD");
	n = http_format_head(&res, &req, buf, sizeof buf);
	assert_string_equal(buf, "Status: 405 Method Not Allowed\r\n"
	                         "Content-Type: application/problem+json\r\n"
	                         "Content-Length: 99\r\n"
	                         "Cache-Control: no-store\r\n"
	                         "request-id: abc-1\r\n"
	                         "Allow: GET, HEAD\r\n"
	                         "\r\n");
	assert_int_equal(n, (int)strlen(buf));
}

static void
test_http_format_head_reasons(void **state)
{
	static const struct {
		int status;
		const char *line;
	} cases[] = {
		{ 201, "Status: 201 Created\r\n" },
		{ 412, "Status: 412 Precondition Failed\r\n" },
		{ 413, "Status: 413 Content Too Large\r\n" },
		{ 500, "Status: 500 Internal Server Error\r\n" },
		{ 299, "Status: 299 Unknown\r\n" },
	};
	struct http_response res = { 0 };
	struct http_request req;
	char buf[512];
	size_t i;

	(void)state;
	memset(&req, 0, sizeof req);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		res.status = cases[i].status;
		assert_true(http_format_head(&res, &req, buf, sizeof buf) > 0);
		assert_memory_equal(buf, cases[i].line, strlen(cases[i].line));
	}
}

/*
 * Every buffer shorter than the head fails with -1 and writes nothing
 * past len, with and without Retry-After.  The buffer sits inside a
 * larger one whose tail is checked.
 */
static void
check_format_small(struct http_response *res, struct http_request *req)
{
	char full[512], buf[512 + 64];
	int n = http_format_head(res, req, full, sizeof full);
	size_t len, i;

	assert_true(n > 0);
	for (len = 0; len <= (size_t)n; len++) {
		memset(buf, '#', sizeof buf);
		assert_int_equal(http_format_head(res, req, buf, len), -1);
		for (i = len; i < sizeof buf; i++)
			if (buf[i] != '#')
				fail_msg("len %zu: byte %zu written", len, i);
	}
	assert_int_equal(http_format_head(res, req, buf, (size_t)n + 1), n);
	assert_string_equal(buf, full);
}

static void
test_http_format_head_small_buffer(void **state)
{
	struct http_response res = { 0 };
	struct http_request req;

	(void)state;
	memset(&req, 0, sizeof req);
	snprintf(req.request_id, sizeof req.request_id, "r");
	res.status = 200;
	snprintf(res.etag, sizeof res.etag, "1");
	check_format_small(&res, &req);
	res.status = 503;
	res.retry_after = 1;
	check_format_small(&res, &req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_method_mapping),
		cmocka_unit_test(test_http_request_uri_split),
		cmocka_unit_test(test_http_request_uri_missing),
		cmocka_unit_test(test_http_query_decoding),
		cmocka_unit_test(test_http_query_duplicates),
		cmocka_unit_test(test_http_query_too_many),
		cmocka_unit_test(test_http_query_bad_escapes),
		cmocka_unit_test(test_http_params_allowed),
		cmocka_unit_test(test_http_headers_missing),
		cmocka_unit_test(test_http_headers_request_id_kept),
		cmocka_unit_test(test_http_headers_invalid),
		cmocka_unit_test(test_http_head_pointers),
		cmocka_unit_test(test_http_no_variables),
		cmocka_unit_test(test_http_body_chunks),
		cmocka_unit_test(test_http_body_exact_length),
		cmocka_unit_test(test_http_body_length_missing),
		cmocka_unit_test(test_http_body_length_bad),
		cmocka_unit_test(test_http_body_too_large),
		cmocka_unit_test(test_http_body_short),
		cmocka_unit_test(test_http_content_types),
		cmocka_unit_test(test_http_decode),
		cmocka_unit_test(test_http_decode_prefix),
		cmocka_unit_test(test_http_encode_round_trip),
		cmocka_unit_test(test_http_problem_fields),
		cmocka_unit_test(test_http_problem_minimal),
		cmocka_unit_test(test_http_problem_every_error),
		cmocka_unit_test(test_http_problem_busy_retry_after),
		cmocka_unit_test(test_http_respond_json),
		cmocka_unit_test(test_http_format_head_plain),
		cmocka_unit_test(test_http_format_head_etag_allow),
		cmocka_unit_test(test_http_format_head_reasons),
		cmocka_unit_test(test_http_format_head_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
