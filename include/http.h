/*
 * HTTP over CGI variables: reading a request (method, REQUEST_URI, query
 * parameters, the two required headers, the body by CONTENT_LENGTH) and
 * building a response, including RFC 9457 problem documents.  The I/O is
 * behind struct http_io so that tests drive it without FastCGI.
 */
#ifndef LEDGEROPS_HTTP_H
#define LEDGEROPS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

#define HTTP_MAX_HEADER_VALUE 128
#define HTTP_MAX_PARAMS 32

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_PUT,
	HTTP_POST,
	HTTP_DELETE,
	HTTP_OTHER,
	HTTP_METHOD__MAX
};

/* Where a request comes from: CGI variables and the body stream. */
struct http_io {
	/* Returns the variable's value or NULL. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to n bytes of the body; returns the count, 0 at the end
	 * of the stream, -1 on error. */
	int (*read)(void *ctx, char *buf, int n);
	void *ctx;
};

struct http_param {
	char *name;  /* percent-decoded */
	char *value; /* percent-decoded, '+' as space */
};

struct http_request {
	enum http_method method;
	char method_name[16];
	char *path; /* REQUEST_URI without the query, undecoded */
	char request_id[HTTP_MAX_HEADER_VALUE + 1]; /* "" when absent */
	char source[HTTP_MAX_HEADER_VALUE + 1];
	const char *content_type; /* points into the io; may be NULL */
	const char *if_match;     /* points into the io; may be NULL */
	struct http_param params[HTTP_MAX_PARAMS];
	size_t nparams;
	char *body; /* NUL-terminated; NULL without a body */
	size_t body_len;
};

struct http_response {
	int status;
	const char *content_type;
	const char *body; /* NULL for no body; in body_json or static */
	size_t body_len;
	json_object *body_json; /* a reference to the printed document */
	char etag[32];          /* "" for none; without quotes */
	char allow[64];         /* "" for none */
	int retry_after;        /* seconds; 0 for none */
};

/*
 * Reads the request line parts and headers (not the body) into req.
 * Returns ERR_OK, or an error with detail; req_id is filled as early as
 * possible so that even a failing request echoes it.
 */
enum err http_read_head(struct http_request *req, const struct http_io *io,
    int require_headers, char *detail, size_t len);

/*
 * Reads the body by CONTENT_LENGTH: 413 without reading when it exceeds
 * max_bytes, 400 for a bad length or a short body, 415 when it is not
 * JSON.  Call only for methods that take a body.
 */
enum err http_read_body(struct http_request *req, const struct http_io *io,
    int64_t max_bytes, char *detail, size_t len);

/* Frees what http_read_head() and http_read_body() allocated. */
void http_request_free(struct http_request *req);

/* The decoded value of query parameter name, or NULL. */
const char *http_param(const struct http_request *req, const char *name);

/*
 * Checks that every query parameter is one of allowed (NULL-terminated).
 * Returns ERR_OK or ERR_BAD_PARAMETER naming the first unknown one.
 */
enum err http_params_allowed(const struct http_request *req,
    const char *const *allowed, char *detail, size_t len);

/* Percent-decodes s[0..n) into a new string; '+' becomes a space when
 * plus_is_space.  Returns NULL for a bad escape or ENOMEM. */
char *http_decode(const char *s, size_t n, int plus_is_space, size_t *out_len);

/* Percent-encodes s for use in a path segment; returns a new string or
 * NULL on ENOMEM. */
char *http_encode_segment(const char *s);

/* Sets a 200-style JSON answer; takes ownership of nothing; returns
 * ERR_OK or ERR_INTERNAL when serialising fails. */
enum err http_respond_json(
    struct http_response *res, int status, json_object *body);

/*
 * Makes res a problem document for code with detail, echoing request_id.
 * field and message, when not NULL, add an "errors" entry.
 */
void http_respond_problem(struct http_response *res, enum err code,
    const char *detail, const char *request_id, const char *field,
    const char *message);

/* The HTTP status of an error. */
int http_status_of(enum err code);

/*
 * Formats the CGI response head ("Status:", headers, blank line) into buf.
 * Returns its length, or -1 if buf is too small.
 */
int http_format_head(const struct http_response *res,
    const struct http_request *req, char *buf, size_t len);

/* Frees the body of res. */
void http_response_free(struct http_response *res);

#endif
