#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

/* The one mapping of enum err to HTTP: status, problem code and title. */
static const struct {
	int status;
	const char *code;
	const char *title;
} http_errors[ERR__MAX] = {
	[ERR_OK] = { 200, "ok", "OK" },
	[ERR_BAD_JSON] = { 400, "invalid_json", "Bad Request" },
	[ERR_BAD_HEADER] = { 400, "invalid_header", "Bad Request" },
	[ERR_BAD_LENGTH] = { 400, "invalid_content_length", "Bad Request" },
	[ERR_BAD_PATH] = { 400, "invalid_path", "Bad Request" },
	[ERR_BAD_PARAMETER] = { 400, "invalid_parameter", "Bad Request" },
	[ERR_BAD_FILTER] = { 400, "invalid_filter", "Bad Request" },
	[ERR_BAD_SORT] = { 400, "invalid_sort", "Bad Request" },
	[ERR_BAD_STATUS] = { 400, "invalid_status", "Bad Request" },
	[ERR_NOT_FOUND] = { 404, "not_found", "Not Found" },
	[ERR_OPERATION_NOT_FOUND] = { 404, "operation_not_found", "Not Found" },
	[ERR_JOB_NOT_FOUND] = { 404, "job_not_found", "Not Found" },
	[ERR_METHOD] = { 405, "method_not_allowed", "Method Not Allowed" },
	[ERR_OPERATION_HAS_JOBS] = { 409, "operation_has_jobs", "Conflict" },
	[ERR_REVISION_MISMATCH] = { 412, "revision_mismatch",
	    "Precondition Failed" },
	[ERR_TOO_LARGE] = { 413, "body_too_large", "Content Too Large" },
	[ERR_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "Unsupported Media Type" },
	[ERR_VALIDATION] = { 422, "validation_failed",
	    "Unprocessable Content" },
	[ERR_INTERNAL] = { 500, "internal_error", "Internal Server Error" },
	[ERR_BUSY] = { 503, "database_busy", "Service Unavailable" },
};

static const char *const http_method_names[HTTP_METHOD__MAX] = {
	"GET",
	"HEAD",
	"PUT",
	"POST",
	"DELETE",
	"",
};

int
http_status_of(enum err code)
{
	return http_errors[code].status;
}

static int
http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
http_decode(const char *s, size_t n, int plus_is_space, size_t *out_len)
{
	char *out = malloc(n + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = -1, lo = -1;

			if (i + 2 < n) {
				hi = http_hexval((unsigned char)s[i + 1]);
				lo = http_hexval((unsigned char)s[i + 2]);
			}
			if (hi < 0 || lo < 0)
				goto bad;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (out_len != NULL)
		*out_len = o;
	return out;
bad:
	free(out);
	return NULL;
}

char *
http_encode_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = malloc(3 * n + 1);

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || strchr("-._~", c) != NULL) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* Splits the query string into decoded name=value pairs. */
static enum err
http_parse_query(
    struct http_request *req, const char *q, char *detail, size_t len)
{
	while (*q != '\0') {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		size_t nlen = eq ? (size_t)(eq - q) : n;
		size_t name_len = 0, value_len = 0;
		struct http_param *p;

		if (n == 0)
			goto next;
		if (req->nparams == HTTP_MAX_PARAMS)
			return err_set(detail, len, ERR_BAD_PARAMETER,
			    "more than %d query parameters", HTTP_MAX_PARAMS);
		p = &req->params[req->nparams];
		p->name = http_decode(q, nlen, 1, &name_len);
		p->value = eq ? http_decode(eq + 1, n - nlen - 1, 1, &value_len)
		              : strdup("");
		if (!eq)
			value_len = 0;

		/* A %00 would silently cut the value short: refuse it. */
		if (p->name == NULL || p->value == NULL ||
		    strlen(p->name) != name_len ||
		    strlen(p->value) != value_len) {
			free(p->name);
			free(p->value);
			return err_set(detail, len, ERR_BAD_PARAMETER,
			    "query parameter %.*s has a bad percent-escape "
			    "or an encoded NUL",
			    (int)(nlen > 64 ? 64 : nlen), q);
		}
		if (http_param(req, p->name) != NULL) {
			err_set(detail, len, ERR_BAD_PARAMETER,
			    "query parameter %.64s is given twice", p->name);
			free(p->name);
			free(p->value);
			return ERR_BAD_PARAMETER;
		}
		req->nparams++;
	next:
		q += n;
		if (*q == '&')
			q++;
	}
	return ERR_OK;
}

/* A header value must be 1..128 printable ASCII characters. */
static int
http_header_ok(const char *v)
{
	size_t n = 0;

	if (v == NULL)
		return 0;
	for (; v[n] != '\0'; n++)
		if ((unsigned char)v[n] < 0x20 || (unsigned char)v[n] > 0x7e)
			return 0;
	return n >= 1 && n <= HTTP_MAX_HEADER_VALUE;
}

static enum err
http_read_headers(struct http_request *req, const struct http_io *io,
    int require_headers, char *detail, size_t len)
{
	const char *id = io->param(io->ctx, "HTTP_REQUEST_ID");
	const char *source = io->param(io->ctx, "HTTP_SOURCE");

	if (http_header_ok(id))
		snprintf(req->request_id, sizeof req->request_id, "%s", id);
	if (http_header_ok(source))
		snprintf(req->source, sizeof req->source, "%s", source);
	if (!require_headers)
		return ERR_OK;
	if (id == NULL || source == NULL)
		return err_set(detail, len, ERR_BAD_HEADER,
		    "the %s header is required",
		    id == NULL ? "request-id" : "source");
	if (req->request_id[0] == '\0' || req->source[0] == '\0')
		return err_set(detail, len, ERR_BAD_HEADER,
		    "the %s header must be 1 to 128 printable ASCII "
		    "characters",
		    req->request_id[0] == '\0' ? "request-id" : "source");
	return ERR_OK;
}

static void
http_read_method(struct http_request *req, const struct http_io *io)
{
	const char *m = io->param(io->ctx, "REQUEST_METHOD");
	int i;

	snprintf(req->method_name, sizeof req->method_name, "%s", m ? m : "");
	req->method = HTTP_OTHER;
	for (i = 0; i < HTTP_OTHER; i++)
		if (strcmp(req->method_name, http_method_names[i]) == 0)
			req->method = (enum http_method)i;
}

enum err
http_read_head(struct http_request *req, const struct http_io *io,
    int require_headers, char *detail, size_t len)
{
	const char *uri, *qmark;
	size_t plen;
	enum err e;

	memset(req, 0, sizeof *req);
	http_read_method(req, io);
	e = http_read_headers(req, io, require_headers, detail, len);
	req->content_type = io->param(io->ctx, "CONTENT_TYPE");
	req->if_match = io->param(io->ctx, "HTTP_IF_MATCH");

	/* The path comes from REQUEST_URI so that every server and mount
	 * point look the same; PATH_INFO differs between them. */
	uri = io->param(io->ctx, "REQUEST_URI");
	if (uri == NULL || uri[0] != '/')
		return err_set(detail, len, ERR_BAD_PATH,
		    "the server passed no usable REQUEST_URI");
	qmark = strchr(uri, '?');
	plen = qmark ? (size_t)(qmark - uri) : strlen(uri);
	req->path = strndup(uri, plen);
	if (req->path == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	if (e != ERR_OK)
		return e;
	return http_parse_query(req, qmark ? qmark + 1 : "", detail, len);
}

/* application/json, any +json type, with or without parameters; after
 * the type only white space, then the end or ';'. */
static int
http_is_json(const char *ct)
{
	size_t n, rest;

	if (ct == NULL)
		return 0;
	n = strcspn(ct, "; \t");
	rest = n + strspn(ct + n, " \t");
	if (ct[rest] != '\0' && ct[rest] != ';')
		return 0;
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static enum err
http_parse_length(const char *s, int64_t *out, char *detail, size_t len)
{
	int64_t v = 0;
	const char *p;

	if (s == NULL || *s == '\0') {
		*out = 0;
		return ERR_OK;
	}
	for (p = s; *p != '\0'; p++) {
		int digit = *p - '0';

		/* Every value up to INT64_MAX is a length (too large, maybe);
		 * only one past it overflows. */
		if (*p < '0' || *p > '9' || v > (INT64_MAX - digit) / 10)
			return err_set(detail, len, ERR_BAD_LENGTH,
			    "CONTENT_LENGTH must be a non-negative decimal "
			    "integer below 2^63, got \"%.32s\"",
			    s);
		v = v * 10 + digit;
	}
	*out = v;
	return ERR_OK;
}

enum err
http_read_body(struct http_request *req, const struct http_io *io,
    int64_t max_bytes, char *detail, size_t len)
{
	int64_t want = 0;
	size_t got = 0;
	enum err e;

	e = http_parse_length(
	    io->param(io->ctx, "CONTENT_LENGTH"), &want, detail, len);
	if (e != ERR_OK)
		return e;
	if (want > max_bytes)
		return err_set(detail, len, ERR_TOO_LARGE,
		    "the body is %lld bytes; the limit is %lld",
		    (long long)want, (long long)max_bytes);
	if (!http_is_json(req->content_type))
		return err_set(detail, len, ERR_MEDIA_TYPE,
		    "Content-Type must be application/json, got \"%.64s\"",
		    req->content_type ? req->content_type : "");

	req->body = malloc((size_t)want + 1);
	if (req->body == NULL)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	while (got < (size_t)want) {
		size_t left = (size_t)want - got;
		int n = io->read(
		    io->ctx, req->body + got, left > 65536 ? 65536 : (int)left);

		if (n <= 0)
			return err_set(detail, len, ERR_BAD_LENGTH,
			    "the body ended after %zu of the %lld bytes "
			    "that CONTENT_LENGTH declared",
			    got, (long long)want);
		got += (size_t)n;
	}
	req->body[got] = '\0';
	req->body_len = got;
	return ERR_OK;
}

void
http_request_free(struct http_request *req)
{
	size_t i;

	for (i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	free(req->path);
	free(req->body);
	memset(req, 0, sizeof *req);
}

const char *
http_param(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

enum err
http_params_allowed(const struct http_request *req, const char *const *allowed,
    char *detail, size_t len)
{
	size_t i, j;

	for (i = 0; i < req->nparams; i++) {
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(req->params[i].name, allowed[j]) == 0)
				break;
		if (allowed[j] == NULL)
			return err_set(detail, len, ERR_BAD_PARAMETER,
			    "unknown query parameter \"%.64s\"",
			    req->params[i].name);
	}
	return ERR_OK;
}

enum err
http_respond_json(struct http_response *res, int status, json_object *body)
{
	size_t n;
	const char *text;

	text = json_object_to_json_string_length(
	    body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (text == NULL)
		return ERR_INTERNAL;
	/* The text lives in the document's print buffer: keep the document
	 * rather than copy a page of text. */
	json_object_put(res->body_json);
	res->body_json = json_object_get(body);
	res->body = text;
	res->body_len = n;
	res->status = status;
	res->content_type = "application/json";
	return ERR_OK;
}

/* A problem that cannot even be serialised still gets a valid body. */
static void
http_respond_fallback(struct http_response *res)
{
	static const char body[] = "{\"type\":\"about:blank\",\"title\":"
	                           "\"Internal Server Error\",\"status\":500,"
	                           "\"code\":\"internal_error\"}";

	json_object_put(res->body_json);
	res->body_json = NULL;
	res->body = body;
	res->body_len = sizeof body - 1;
	res->status = 500;
	res->content_type = "application/problem+json";
}

static json_object *
http_problem_errors(const char *field, const char *message)
{
	json_object *list = json_object_new_array();
	json_object *item = json_object_new_object();

	if (list == NULL || item == NULL ||
	    json_object_object_add(
	        item, "field", json_object_new_string(field)) ||
	    json_object_object_add(
	        item, "message", json_object_new_string(message)) ||
	    json_object_array_add(list, item)) {
		json_object_put(item);
		json_object_put(list);
		return NULL;
	}
	return list;
}

void
http_respond_problem(struct http_response *res, enum err code,
    const char *detail, const char *request_id, const char *field,
    const char *message)
{
	json_object *p = json_object_new_object();
	int bad = p == NULL;

	bad = bad || json_object_object_add(
	                 p, "type", json_object_new_string("about:blank"));
	bad = bad || json_object_object_add(p, "title",
	                 json_object_new_string(http_errors[code].title));
	bad = bad || json_object_object_add(p, "status",
	                 json_object_new_int(http_errors[code].status));
	bad = bad || json_object_object_add(p, "detail",
	                 json_object_new_string(detail ? detail : ""));
	bad = bad || json_object_object_add(p, "code",
	                 json_object_new_string(http_errors[code].code));
	if (request_id != NULL && request_id[0] != '\0')
		bad = bad || json_object_object_add(p, "request_id",
		                 json_object_new_string(request_id));
	if (field != NULL && message != NULL)
		bad = bad || json_object_object_add(p, "errors",
		                 http_problem_errors(field, message));
	if (bad || http_respond_json(res, http_errors[code].status, p))
		http_respond_fallback(res);
	res->content_type = "application/problem+json";
	if (code == ERR_BUSY)
		res->retry_after = 1;
	json_object_put(p);
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	default:
		break;
	}
	for (int i = 0; i < ERR__MAX; i++)
		if (http_errors[i].status == status)
			return http_errors[i].title;
	return "Unknown";
}

int
http_format_head(const struct http_response *res,
    const struct http_request *req, char *buf, size_t len)
{
	int n, m;

	n = snprintf(buf, len,
	    "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n%s%s%s%s%s%s%s%s%s",
	    res->status, http_reason(res->status),
	    res->content_type ? res->content_type : "application/json",
	    res->body_len, req->request_id[0] ? "request-id: " : "",
	    req->request_id, req->request_id[0] ? "\r\n" : "",
	    res->etag[0] ? "ETag: \"" : "", res->etag,
	    res->etag[0] ? "\"\r\n" : "", res->allow[0] ? "Allow: " : "",
	    res->allow, res->allow[0] ? "\r\n" : "");
	if (n < 0 || (size_t)n >= len)
		return -1;
	/* Each step checks its own truncation, so that n never passes len
	 * and len - n never wraps around. */
	if (res->retry_after > 0) {
		m = snprintf(buf + n, len - (size_t)n, "Retry-After: %d\r\n",
		    res->retry_after);
		if (m < 0 || (size_t)m >= len - (size_t)n)
			return -1;
		n += m;
	}
	m = snprintf(buf + n, len - (size_t)n, "\r\n");
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -1;
	return n + m;
}

void
http_response_free(struct http_response *res)
{
	json_object_put(res->body_json);
	memset(res, 0, sizeof *res);
}
