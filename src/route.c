#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "route.h"

#define M(x) (1u << (x))

/* Methods per resource; HEAD goes wherever GET does. */
static const struct {
	unsigned methods;
	const char *allow;
} route_table[ROUTE__MAX] = {
	[ROUTE_OPERATIONS] = { M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_PUT),
	    "GET, HEAD, PUT" },
	[ROUTE_OPERATION] = { M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_PUT) |
	                          M(HTTP_DELETE),
	    "GET, HEAD, PUT, DELETE" },
	[ROUTE_JOBS] = { M(HTTP_GET) | M(HTTP_HEAD), "GET, HEAD" },
	[ROUTE_JOB] = { M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_POST) |
	                    M(HTTP_DELETE),
	    "GET, HEAD, POST, DELETE" },
	[ROUTE_EXECUTIONS] = { M(HTTP_GET) | M(HTTP_HEAD), "GET, HEAD" },
};

int
route_allows(enum route_kind kind, enum http_method method)
{
	return method != HTTP_OTHER && (route_table[kind].methods & M(method));
}

const char *
route_allow_header(enum route_kind kind)
{
	return route_table[kind].allow;
}

static const char *const route_segment_names[3] = { "type", "definition",
	"name" };

/* Decodes one segment and checks it; "*" stays a wildcard. */
static enum err
route_segment(
    struct route *r, int i, const char *s, size_t n, char *detail, size_t len)
{
	size_t dlen;
	char *value = http_decode(s, n, 0, &dlen);

	if (value == NULL)
		return err_set(detail, len, ERR_BAD_PATH,
		    "the %s segment has a bad percent-escape",
		    route_segment_names[i]);
	r->segment[i] = value;
	if (n == 1 && s[0] == '*') {
		r->wildcard = 1;
		return ERR_OK;
	}
	if (model_check_identifier(
	        route_segment_names[i], value, dlen, detail, len) != ERR_OK)
		return ERR_BAD_PATH;
	return ERR_OK;
}

enum err
route_match(const char *path, struct route *r, char *detail, size_t len)
{
	const char *base, *p;
	int count = 0;
	enum err e;

	memset(r, 0, sizeof *r);

	/* The API may sit below a mount point: find the base anywhere. */
	base = strstr(path, ROUTE_BASE);
	if (base == NULL)
		return err_set(
		    detail, len, ERR_NOT_FOUND, "no resource at this path");
	p = base + strlen(ROUTE_BASE);
	if (*p == '\0' || strcmp(p, "/") == 0) {
		r->kind = ROUTE_OPERATIONS;
		return ERR_OK;
	}
	if (*p != '/')
		return err_set(
		    detail, len, ERR_NOT_FOUND, "no resource at this path");
	p++;

	/* Up to three segments; a trailing slash lists what is inside. */
	while (*p != '\0') {
		size_t n = strcspn(p, "/");

		if (count == 3)
			return err_set(detail, len, ERR_NOT_FOUND,
			    "no resource at this path");
		e = route_segment(r, count, p, n, detail, len);
		if (e != ERR_OK)
			return e;
		count++;
		p += n;
		if (*p == '/') {
			p++;
			if (*p == '\0')
				break;
		}
	}
	if (count == 1)
		return err_set(detail, len, ERR_NOT_FOUND,
		    "no resource at this path: a definition must follow the "
		    "type");
	if (count == 2)
		r->kind = p[-1] == '/' ? ROUTE_JOBS : ROUTE_OPERATION;
	else
		r->kind = p[-1] == '/' ? ROUTE_EXECUTIONS : ROUTE_JOB;
	return ERR_OK;
}

void
route_free(struct route *r)
{
	int i;

	for (i = 0; i < 3; i++)
		free(r->segment[i]);
	memset(r, 0, sizeof *r);
}
