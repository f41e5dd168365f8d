/*
 * Maps a request path to a resource.  The path is split on '/' first and
 * each segment percent-decoded on its own, so "%2F" is a slash inside a
 * definition or name.  A whole-segment "*" is a wildcard.
 */
#ifndef LEDGEROPS_ROUTE_H
#define LEDGEROPS_ROUTE_H

#include <stddef.h>

#include "error.h"
#include "http.h"

#define ROUTE_BASE "/api/v1/operation"

enum route_kind {
	ROUTE_OPERATIONS, /* /                  */
	ROUTE_OPERATION,  /* /{t}/{d}           */
	ROUTE_JOBS,       /* /{t}/{d}/          */
	ROUTE_JOB,        /* /{t}/{d}/{n}       */
	ROUTE_EXECUTIONS, /* /{t}/{d}/{n}/      */
	ROUTE__MAX
};

struct route {
	enum route_kind kind;
	char *segment[3]; /* decoded type, definition, name, or NULL */
	int wildcard;     /* some segment is "*" */
};

/*
 * Matches path (undecoded, without query) into r.  Returns ERR_OK,
 * ERR_NOT_FOUND for a path outside the API, or ERR_BAD_PATH for a bad
 * segment (with detail).  Free r with route_free() in every case.
 */
enum err route_match(
    const char *path, struct route *r, char *detail, size_t len);

void route_free(struct route *r);

/* Whether method is served on kind. */
int route_allows(enum route_kind kind, enum http_method method);

/* The Allow header value of kind, e.g. "GET, HEAD, PUT". */
const char *route_allow_header(enum route_kind kind);

#endif
