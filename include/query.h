/*
 * The list query language: page[number], page[size], a JSON:API "sort" and
 * an RSQL "filter", compiled against an allow-list of fields into SQL text
 * with bound parameters only.  No value from the request ever becomes part
 * of the SQL text.
 */
#ifndef LEDGEROPS_QUERY_H
#define LEDGEROPS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "error.h"

#define QUERY_MAX_FILTER_BYTES 4096
#define QUERY_MAX_DEPTH 16   /* nested parentheses */
#define QUERY_MAX_TERMS 64   /* comparisons in one filter */
#define QUERY_MAX_VALUES 100 /* values in one =in= / =out= list */
#define QUERY_MAX_SORT_KEYS 8
#define QUERY_DEFAULT_PAGE_SIZE 20
#define QUERY_MAX_PAGE_SIZE 1000

enum query_kind {
	QUERY_INTEGER, /* sql is an INTEGER column */
	QUERY_TEXT,    /* sql is a TEXT column; '*' wildcards on ==, != */
	QUERY_TIME,    /* sql is INTEGER ms since the epoch; values ISO 8601 */
	QUERY_ROLES,   /* sql opens a membership test, see below */
	QUERY_PARAMETERS /* sql opens a keyed membership test */
};

/*
 * One filterable field.  name is the dotted JSON name ("info.name").  For
 * QUERY_PARAMETERS, name is a prefix ("info.parameters") and a selector
 * "info.parameters.KEY" addresses KEY.
 *
 * For QUERY_ROLES and QUERY_PARAMETERS, sql is the opening of a test that
 * the compiler completes with the value comparison (" = ?", " GLOB ?",
 * " IN (?,?)") and a closing parenthesis; != and =out= negate the whole
 * test.  A PARAMETERS opening holds one ? for the key, bound first.
 * Examples: "j.id IN (SELECT job_id FROM job_role WHERE role" and
 * "EXISTS (SELECT 1 FROM json_each(e.parameters) WHERE key = ? AND value".
 * The first form lets SQLite answer from an index.
 *
 * enum_names, when set, lists the values a TEXT field can hold; other
 * values are a 400.
 */
struct query_field {
	const char *name;
	const char *sql;
	enum query_kind kind;
	int sortable;
	const char *const *enum_names;
	int enum_count;
};

struct query_spec {
	const struct query_field *fields;
	size_t nfields;
	const char *id_sql; /* tie-breaker, e.g. "j.id" */
};

enum query_bind_kind { QUERY_BIND_INT, QUERY_BIND_TEXT };

struct query_bind {
	enum query_bind_kind kind;
	int64_t i;
	char *s; /* owned, NUL-terminated */
};

struct query {
	char *where;    /* boolean SQL expression; "1" without filter */
	char *order_by; /* e.g. "j.created_at DESC, j.id ASC" */
	struct query_bind *binds; /* in the order their ?s appear in where */
	size_t nbinds;
	int64_t page_number; /* from 1 */
	int64_t page_size;   /* 1..1000 */
};

/*
 * Compiles the four list parameters (any may be NULL: absent) into q.
 * Returns ERR_OK; ERR_BAD_FILTER, ERR_BAD_SORT or ERR_BAD_PARAMETER with
 * a precise message in detail (syntax errors give the 1-based character
 * position); or ERR_INTERNAL on ENOMEM.  On error q holds nothing to free,
 * on success free it with query_free().
 */
enum err query_compile(struct query *q, const struct query_spec *spec,
    const char *filter, const char *sort, const char *page_number,
    const char *page_size, char *detail, size_t detail_len);

/* Binds q's values to st from parameter index first on.  Returns the
 * index after the last one bound, or -1 if sqlite3_bind_* failed. */
int query_bind(const struct query *q, sqlite3_stmt *st, int first);

/* Releases what query_compile() allocated; q may be zeroed. */
void query_free(struct query *q);

#endif
