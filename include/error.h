/*
 * One error enum for the whole code base.  Functions that can fail return
 * an enum err and write a human-readable explanation into a buffer that
 * the caller supplies.  The HTTP status, problem "code" and "title" for
 * each value live in exactly one table, in http.c.
 */
#ifndef LEDGEROPS_ERROR_H
#define LEDGEROPS_ERROR_H

#include <stddef.h>

enum err {
	ERR_OK = 0,
	ERR_BAD_JSON,      /* 400 body is not valid JSON */
	ERR_BAD_HEADER,    /* 400 missing or invalid header */
	ERR_BAD_LENGTH,    /* 400 bad CONTENT_LENGTH or short body */
	ERR_BAD_PATH,      /* 400 bad path segment or misplaced wildcard */
	ERR_BAD_PARAMETER, /* 400 bad or unknown query parameter */
	ERR_BAD_FILTER,    /* 400 filter syntax or unknown field */
	ERR_BAD_SORT,      /* 400 sort syntax or unknown field */
	ERR_BAD_STATUS,    /* 400 unknown job status in a status change */
	ERR_NOT_FOUND,     /* 404 unknown path */
	ERR_OPERATION_NOT_FOUND, /* 404 */
	ERR_JOB_NOT_FOUND,       /* 404 */
	ERR_METHOD,              /* 405 */
	ERR_OPERATION_HAS_JOBS,  /* 409 */
	ERR_REVISION_MISMATCH,   /* 412 */
	ERR_TOO_LARGE,           /* 413 */
	ERR_MEDIA_TYPE,          /* 415 */
	ERR_VALIDATION,          /* 422 well-formed JSON breaking the schema */
	ERR_INTERNAL,            /* 500 fault of the service itself */
	ERR_BUSY,                /* 503 database locked past the busy timeout */
	ERR__MAX
};

/*
 * Formats a message into buf (size len) like snprintf and returns code,
 * so that a failing path reads "return err_set(buf, len, ERR_X, ...)".
 * buf may be NULL when the caller does not want the detail.
 */
enum err err_set(char *buf, size_t len, enum err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
