/*
 * RECONCILE/sql: two read-only queries, on one source or two, whose
 * first key_columns columns are the key and the rest the values.  Both
 * sides are read into memory, sorted by key and merged; numbers compare
 * within a tolerance, everything else as text.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec_sqlite.h"

#define RECON_MAX_KEYS 16

/* One row: its key as comparable bytes and its values, kept past the
 * statement's step. */
struct recon_row {
	unsigned char *key;
	size_t klen;
	sqlite3_value **vals;
};

/* One side of the comparison. */
struct recon_side {
	const char *name; /* "left", "right" */
	const struct conf_place *src;
	sqlite3 *db;
	int own_db;
	sqlite3_stmt *st;
	json_object *columns;
	struct recon_row *rows;
	size_t n, cap;
	int ncol;
};

/* What the comparison counts and lists. */
struct recon {
	struct recon_side side[2];
	int64_t keys, limit;
	double tolerance;
	int64_t matched, missing[2], differing, duplicates;
	json_object *list_missing[2], *list_differing, *list_duplicates;
};

/* Appends n bytes to a growing key; -1 on ENOMEM. */
static int
recon_key_put(struct recon_row *r, size_t *cap, const void *p, size_t n)
{
	unsigned char *grown;

	if (r->klen + n > *cap) {
		*cap = (*cap + n) * 2;
		if ((grown = realloc(r->key, *cap)) == NULL)
			return -1;
		r->key = grown;
	}
	if (n > 0)
		memcpy(r->key + r->klen, p, n);
	r->klen += n;
	return 0;
}

/*
 * The key of the current row: each key column as a tag, its length and
 * its text, so that different keys never join into the same bytes.  Keys
 * compare as text: 7 and '7' are the same key.
 */
static int
recon_key(struct recon_row *r, sqlite3_stmt *st, int nkeys)
{
	size_t cap = 0, len;
	const unsigned char *text;
	char tag;
	int i;

	for (i = 0; i < nkeys; i++) {
		if (sqlite3_column_type(st, i) == SQLITE_NULL) {
			if (recon_key_put(r, &cap, "N", 1) != 0)
				return -1;
			continue;
		}
		text = sqlite3_column_text(st, i);
		len = (size_t)sqlite3_column_bytes(st, i);
		if (text == NULL && len == 0)
			text = (const unsigned char *)"";
		tag = 'T';
		if (text == NULL || recon_key_put(r, &cap, &tag, 1) != 0 ||
		    recon_key_put(r, &cap, &len, sizeof len) != 0 ||
		    recon_key_put(r, &cap, text, len) != 0)
			return -1;
	}
	return 0;
}

/* Keeps the current row of s; -1 on ENOMEM. */
static int
recon_keep(struct recon_side *s, int nkeys)
{
	struct recon_row *r, *grown;
	int i;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		if ((grown = realloc(s->rows, s->cap * sizeof *grown)) == NULL)
			return -1;
		s->rows = grown;
	}
	r = &s->rows[s->n];
	memset(r, 0, sizeof *r);
	if ((r->vals = calloc((size_t)s->ncol, sizeof *r->vals)) == NULL)
		return -1;
	s->n++;

	/* The values are copied before the key asks for text, which may
	 * convert the column in place. */
	for (i = 0; i < s->ncol; i++)
		if ((r->vals[i] = sqlite3_value_dup(
		         sqlite3_column_value(s->st, i))) == NULL)
			return -1;
	return recon_key(r, s->st, nkeys);
}

static int
recon_cmp_key(const struct recon_row *a, const struct recon_row *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = n > 0 ? memcmp(a->key, b->key, n) : 0;

	if (c != 0)
		return c;
	return (a->klen > b->klen) - (a->klen < b->klen);
}

static int
recon_qsort_cmp(const void *a, const void *b)
{
	return recon_cmp_key(a, b);
}

/* Opens (or shares) the source of side s and prepares its query. */
static int
recon_side_prepare(struct xjob *j, struct recon *rc, int k)
{
	static const char *const src_key[2] = { "left_source", "right_source" };
	static const char *const q_key[2] = { "left_query", "right_query" };
	struct recon_side *s = &rc->side[k];
	const char *query;
	int st;

	s->name = k == 0 ? "left" : "right";
	if (k == 1 && xjob_param(j, "right_source") == NULL)
		s->src = rc->side[0].src;
	else if ((st = xjob_place(j, 0, src_key[k], &s->src)) != XS_OK)
		return st;
	if ((st = xjob_param_required(j, q_key[k], &query)) != XS_OK)
		return st;

	/* Both queries on one source share a connection, and with it one
	 * read transaction: the two sides see the same snapshot. */
	if (k == 1 && s->src == rc->side[0].src) {
		s->db = rc->side[0].db;
	} else {
		if ((st = xjob_open(j, s->src, &s->db)) != XS_OK)
			return st;
		s->own_db = 1;
	}
	if ((st = xjob_prepare(j, s->db, query, q_key[k], &s->st)) != XS_OK)
		return st;
	s->ncol = sqlite3_column_count(s->st);
	if (s->ncol < rc->keys)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "%s returns %d columns, fewer than key_columns (%lld)",
		    q_key[k], s->ncol, (long long)rc->keys);
	if ((s->columns = xjob_columns(s->st)) == NULL)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	return XS_OK;
}

/* Reads all rows of side s and sorts them by key. */
static int
recon_side_read(struct xjob *j, struct recon *rc, struct recon_side *s)
{
	const char *what = s == &rc->side[0] ? "left_query" : "right_query";
	int step;

	while ((step = xjob_step(j, s->st, what)) == 1)
		if (recon_keep(s, (int)rc->keys) != 0)
			return xjob_fail(j, XS_INTERNAL, "out of memory");
	if (step != 0)
		return XS_SQL_ERROR;
	if (s->n > 1)
		qsort(s->rows, s->n, sizeof *s->rows, recon_qsort_cmp);
	return XS_OK;
}

/* 1 when the two values agree: NULLs with NULLs, numbers within the
 * tolerance, anything else byte for byte as text. */
static int
recon_same(sqlite3_value *a, sqlite3_value *b, double tolerance)
{
	int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b);
	int na = ta == SQLITE_INTEGER || ta == SQLITE_FLOAT;
	int nb = tb == SQLITE_INTEGER || tb == SQLITE_FLOAT;
	const unsigned char *sa, *sb;
	int la, lb;

	if (ta == SQLITE_NULL || tb == SQLITE_NULL)
		return ta == tb;
	if (ta == SQLITE_INTEGER && tb == SQLITE_INTEGER)
		return sqlite3_value_int64(a) == sqlite3_value_int64(b) ||
		       fabs((double)sqlite3_value_int64(a) -
		            (double)sqlite3_value_int64(b)) <= tolerance;
	if (na && nb)
		return fabs(sqlite3_value_double(a) -
		            sqlite3_value_double(b)) <= tolerance;
	sa = sqlite3_value_text(a);
	la = sqlite3_value_bytes(a);
	sb = sqlite3_value_text(b);
	lb = sqlite3_value_bytes(b);
	return sa != NULL && sb != NULL && la == lb &&
	       (la == 0 || memcmp(sa, sb, (size_t)la) == 0);
}

/* The key of r as JSON: the value, or an array of them. */
static json_object *
recon_key_json(const struct recon *rc, const struct recon_row *r)
{
	json_object *a, *v;
	int i, ok;

	if (rc->keys == 1) {
		v = xjob_sqlvalue(r->vals[0], &ok);
		return ok && v == NULL ? json_object_new_null() : v;
	}
	if ((a = json_object_new_array()) == NULL)
		return NULL;
	for (i = 0; i < rc->keys; i++) {
		v = xjob_sqlvalue(r->vals[i], &ok);
		if (!ok || json_object_array_add(a, v) != 0) {
			json_object_put(v);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* The values of r (after the key) as an object named by s's columns. */
static json_object *
recon_values_json(
    const struct recon *rc, const struct recon_side *s, struct recon_row *r)
{
	json_object *o = json_object_new_object(), *v;
	const char *name;
	int i, ok;

	for (i = (int)rc->keys; o != NULL && i < s->ncol; i++) {
		name = json_object_get_string(
		    json_object_array_get_idx(s->columns, (size_t)i));
		v = xjob_sqlvalue(r->vals[i], &ok);
		if (!ok || name == NULL ||
		    json_object_object_add(o, name, v) != 0) {
			json_object_put(v);
			json_object_put(o);
			o = NULL;
		}
	}
	return o;
}

/*
 * Lists one finding, up to the limit: the key, then the left and right
 * values when given.  -1 on ENOMEM.
 */
static int
recon_list(struct recon *rc, json_object *list, struct recon_row *l,
    struct recon_row *r, json_object *extra)
{
	json_object *e;
	int ok = 1;

	if ((int64_t)json_object_array_length(list) >= rc->limit) {
		json_object_put(extra);
		return 0;
	}
	if ((e = json_object_new_object()) == NULL) {
		json_object_put(extra);
		return -1;
	}
	ok = !json_object_object_add(e, "key", recon_key_json(rc, l ? l : r));
	if (ok && l != NULL)
		ok = !json_object_object_add(
		    e, "left", recon_values_json(rc, &rc->side[0], l));
	if (ok && r != NULL)
		ok = !json_object_object_add(
		    e, "right", recon_values_json(rc, &rc->side[1], r));
	if (extra != NULL) {
		ok = ok && !json_object_object_add(e, "columns", extra);
		if (!ok)
			json_object_put(extra);
	}
	if (!ok || json_object_array_add(list, e) != 0) {
		json_object_put(e);
		return -1;
	}
	return 0;
}

/* Compares a matched pair; counts and lists it when values differ. */
static int
recon_pair(struct recon *rc, struct recon_row *l, struct recon_row *r)
{
	json_object *cols = NULL, *name;
	int i;

	for (i = (int)rc->keys; i < rc->side[0].ncol; i++) {
		if (recon_same(l->vals[i], r->vals[i], rc->tolerance))
			continue;
		if (cols == NULL && (cols = json_object_new_array()) == NULL)
			return -1;
		name =
		    json_object_array_get_idx(rc->side[0].columns, (size_t)i);
		if (json_object_array_add(cols, json_object_get(name)) != 0) {
			json_object_put(name);
			json_object_put(cols);
			return -1;
		}
	}
	if (cols == NULL) {
		rc->matched++;
		return 0;
	}
	rc->differing++;
	return recon_list(rc, rc->list_differing, l, r, cols);
}

/* Counts rows of side k whose key repeats, listed with their side's
 * values; only the first of a run takes part in the merge. */
static int
recon_duplicates(struct recon *rc, int k)
{
	struct recon_side *s = &rc->side[k];
	size_t i;

	for (i = 1; i < s->n; i++) {
		if (recon_cmp_key(&s->rows[i - 1], &s->rows[i]) != 0)
			continue;
		rc->duplicates++;
		if (recon_list(rc, rc->list_duplicates, k ? NULL : &s->rows[i],
		        k ? &s->rows[i] : NULL, NULL) != 0)
			return -1;
	}
	return 0;
}

/* Skips the repeats of the row at *i. */
static void
recon_next(const struct recon_side *s, size_t *i)
{
	size_t at = (*i)++;

	while (*i < s->n && recon_cmp_key(&s->rows[at], &s->rows[*i]) == 0)
		(*i)++;
}

/* The sorted merge of both sides. */
static int
recon_merge(struct recon *rc)
{
	struct recon_side *l = &rc->side[0], *r = &rc->side[1];
	size_t i = 0, k = 0;
	int c, bad = 0;

	while (!bad && (i < l->n || k < r->n)) {
		c = i == l->n   ? 1
		    : k == r->n ? -1
		                : recon_cmp_key(&l->rows[i], &r->rows[k]);
		if (c < 0) {
			rc->missing[1]++;
			bad = recon_list(
			    rc, rc->list_missing[1], &l->rows[i], NULL, NULL);
			recon_next(l, &i);
		} else if (c > 0) {
			rc->missing[0]++;
			bad = recon_list(
			    rc, rc->list_missing[0], NULL, &r->rows[k], NULL);
			recon_next(r, &k);
		} else {
			bad = recon_pair(rc, &l->rows[i], &r->rows[k]);
			recon_next(l, &i);
			recon_next(r, &k);
		}
	}
	return bad ? -1 : 0;
}

/* The summary of one side. */
static json_object *
recon_side_json(const struct recon_side *s)
{
	json_object *o = json_object_new_object();

	if (o == NULL ||
	    json_object_object_add(
	        o, "source", json_object_new_string(s->src->name)) != 0 ||
	    json_object_object_add(
	        o, "rows", json_object_new_int64((int64_t)s->n)) != 0 ||
	    json_object_object_add(o, "columns", json_object_get(s->columns)) !=
	        0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int
recon_result(struct xjob *j, struct recon *rc)
{
	json_object *res = j->result;
	int st;

	if ((st = xjob_put(j, res, "left", recon_side_json(&rc->side[0]))) ||
	    (st = xjob_put(j, res, "right", recon_side_json(&rc->side[1]))) ||
	    (st = xjob_put(
	         j, res, "key_columns", json_object_new_int64(rc->keys))) ||
	    (st = xjob_put(
	         j, res, "tolerance", json_object_new_double(rc->tolerance))) ||
	    (st = xjob_put(
	         j, res, "limit", json_object_new_int64(rc->limit))) ||
	    (st = xjob_put(
	         j, res, "matched", json_object_new_int64(rc->matched))) ||
	    (st = xjob_put(j, res, "missing_left",
	         json_object_new_int64(rc->missing[0]))) ||
	    (st = xjob_put(j, res, "missing_right",
	         json_object_new_int64(rc->missing[1]))) ||
	    (st = xjob_put(
	         j, res, "differing", json_object_new_int64(rc->differing))) ||
	    (st = xjob_put(j, res, "duplicates",
	         json_object_new_int64(rc->duplicates))) ||
	    (st = xjob_put(j, res, "missing_left_rows",
	         json_object_get(rc->list_missing[0]))) ||
	    (st = xjob_put(j, res, "missing_right_rows",
	         json_object_get(rc->list_missing[1]))) ||
	    (st = xjob_put(j, res, "differing_rows",
	         json_object_get(rc->list_differing))) ||
	    (st = xjob_put(j, res, "duplicate_rows",
	         json_object_get(rc->list_duplicates))))
		return st;
	return XS_OK;
}

/* The tolerance parameter: a finite number, at least 0. */
static int
recon_tolerance(struct xjob *j, double *out)
{
	const char *s = xjob_param(j, "tolerance");
	char *end;

	*out = 0;
	if (s == NULL)
		return XS_OK;
	*out = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(*out) || *out < 0)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "parameter \"tolerance\" must be a number, at least 0");
	return XS_OK;
}

static int
recon_run(struct xjob *j, struct recon *rc)
{
	static const char *const known[] = { "left_source", "left_query",
		"right_source", "right_query", "key_columns", "tolerance",
		"limit", NULL };
	int st, k;
	if ((st = xjob_check_params(j, known, NULL)) != XS_OK)
		return st;

	if ((st = xjob_param_int(
	         j, "key_columns", 1, 1, RECON_MAX_KEYS, &rc->keys)) != XS_OK ||
	    (st = xjob_param_int(j, "limit", 20, 0, 1000, &rc->limit)) !=
	        XS_OK ||
	    (st = recon_tolerance(j, &rc->tolerance)) != XS_OK)
		return st;
	for (k = 0; k < 2; k++)
		if ((st = recon_side_prepare(j, rc, k)) != XS_OK)
			return st;
	if (rc->side[0].ncol != rc->side[1].ncol)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "left_query returns %d columns and right_query %d",
		    rc->side[0].ncol, rc->side[1].ncol);

	/* One read transaction over both queries when they share a
	 * connection. */
	if (sqlite3_exec(rc->side[0].db, "BEGIN", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return xjob_fail(j, XS_SQL_ERROR, "BEGIN: %s",
		    sqlite3_errmsg(rc->side[0].db));
	for (k = 0; k < 2; k++)
		if ((st = recon_side_read(j, rc, &rc->side[k])) != XS_OK)
			return st;

	if ((rc->list_missing[0] = json_object_new_array()) == NULL ||
	    (rc->list_missing[1] = json_object_new_array()) == NULL ||
	    (rc->list_differing = json_object_new_array()) == NULL ||
	    (rc->list_duplicates = json_object_new_array()) == NULL ||
	    recon_duplicates(rc, 0) != 0 || recon_duplicates(rc, 1) != 0 ||
	    recon_merge(rc) != 0)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	if ((st = recon_result(j, rc)) != XS_OK)
		return st;
	return rc->missing[0] + rc->missing[1] + rc->differing +
	                   rc->duplicates >
	               0
	           ? XS_MISMATCH
	           : XS_OK;
}

static void
recon_side_free(struct recon_side *s)
{
	size_t i;
	int k;

	for (i = 0; i < s->n; i++) {
		for (k = 0; s->rows[i].vals != NULL && k < s->ncol; k++)
			sqlite3_value_free(s->rows[i].vals[k]);
		free(s->rows[i].vals);
		free(s->rows[i].key);
	}
	free(s->rows);
	json_object_put(s->columns);
	sqlite3_finalize(s->st);
}

int
exec_reconcile_sql(const struct exec_input *in)
{
	struct recon rc;
	struct xjob j;
	int st, k;

	memset(&rc, 0, sizeof rc);
	xjob_init(&j, in);
	st = j.result ? recon_run(&j, &rc) : XS_INTERNAL;

	for (k = 0; k < 2; k++)
		recon_side_free(&rc.side[k]);
	for (k = 1; k >= 0; k--)
		if (rc.side[k].own_db)
			sqlite3_close(rc.side[k].db);
	json_object_put(rc.list_missing[0]);
	json_object_put(rc.list_missing[1]);
	json_object_put(rc.list_differing);
	json_object_put(rc.list_duplicates);
	return xjob_finish(&j, st);
}
