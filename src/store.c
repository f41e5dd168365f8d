#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "store.h"

/* Adds val under key, a string literal not yet in obj (so json-c need
 * neither copy nor look it up); a NULL val (failed allocation) or a
 * failed add clears *ok, so that builders check once at the end. */
static void
store_add(json_object *obj, const char *key, json_object *val, int *ok)
{
	if (val == NULL || json_object_object_add_ex(obj, key, val,
	                       JSON_C_OBJECT_ADD_KEY_IS_NEW |
	                           JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0) {
		json_object_put(val);
		*ok = 0;
	}
}

/* Adds a nullable column: JSON null (which json-c represents as NULL)
 * for SQL NULL, else what make builds from it. */
static void
store_add_nullable(json_object *obj, const char *key, sqlite3_stmt *st, int col,
    json_object *(*make)(sqlite3_stmt *, int), int *ok)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		if (json_object_object_add_ex(obj, key, NULL,
		        JSON_C_OBJECT_ADD_KEY_IS_NEW |
		            JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0)
			*ok = 0;
		return;
	}
	store_add(obj, key, make(st, col), ok);
}

/* Finishes a builder: the object when every step worked, else NULL. */
static json_object *
store_done(json_object *obj, int ok)
{
	if (ok)
		return obj;
	json_object_put(obj);
	return NULL;
}

json_object *
store_json_column(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	if (text == NULL)
		return NULL;
	return json_tokener_parse(text);
}

#define STORE_PRINT_FLAGS                                                      \
	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Prints a string object's text as it is: the text is a JSON document. */
static int
store_raw_serializer(
    json_object *jso, struct printbuf *pb, int level, int flags)
{
	(void)level;
	(void)flags;
	return printbuf_memappend(
	    pb, json_object_get_string(jso), json_object_get_string_len(jso));
}

/* Prints an integer without snprintf, which is most of the cost of the
 * ids and revisions of a page. */
static int
store_append_int(struct printbuf *pb, int64_t v)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return printbuf_memappend(pb, p, (int)(buf + sizeof buf - p));
}

static int
store_int_serializer(
    json_object *jso, struct printbuf *pb, int level, int flags)
{
	(void)level;
	(void)flags;
	return store_append_int(pb, json_object_get_int64(jso));
}

json_object *
store_int(int64_t v)
{
	json_object *o = json_object_new_int64(v);

	if (o != NULL)
		json_object_set_serializer(o, store_int_serializer, NULL, NULL);
	return o;
}

/* Prints a string that needs no escaping (checked when it is made)
 * between quotes, without scanning it again. */
static int
store_plain_serializer(
    json_object *jso, struct printbuf *pb, int level, int flags)
{
	(void)level;
	(void)flags;
	printbuf_memappend(pb, "\"", 1);
	printbuf_memappend(
	    pb, json_object_get_string(jso), json_object_get_string_len(jso));
	return printbuf_memappend(pb, "\"", 1);
}

/* Whether c may stand in a JSON string as itself in any context. */
static int
store_plain_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == ':' || c == '.' ||
	       c == '_' || c == '@';
}

/* A string of letters, digits and "-:._@": timestamps, statuses, type
 * names.  Anything else becomes an ordinary, escaped string; checked
 * says whether to look (text of our own making needs not). */
static json_object *
store_plain_string(const char *s, size_t n, int checked)
{
	json_object *o = json_object_new_string_len(s, (int)n);
	size_t i = n;

	if (checked)
		for (i = 0; i < n && store_plain_char((unsigned char)s[i]); i++)
			;
	if (o != NULL && i == n)
		json_object_set_serializer(
		    o, store_plain_serializer, NULL, NULL);
	return o;
}

static json_object *
store_plain_column(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	if (text == NULL)
		return NULL;
	return store_plain_string(
	    text, (size_t)sqlite3_column_bytes(st, col), 1);
}

/* Printed JSON text of n bytes, wrapped to print as it is. */
static json_object *
store_raw(const char *text, int n)
{
	json_object *o = json_object_new_string_len(text, n);

	if (o != NULL)
		json_object_set_serializer(o, store_raw_serializer, NULL, NULL);
	return o;
}

json_object *
store_raw_column(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	if (text == NULL)
		return NULL;
	return store_raw(text, sqlite3_column_bytes(st, col));
}

static json_object *
store_time(int64_t ms)
{
	char buf[MODEL_TIME_LEN];

	model_format_time(ms, buf);
	return store_plain_string(buf, MODEL_TIME_LEN - 1, 0);
}

json_object *
store_time_column(sqlite3_stmt *st, int col)
{
	return store_time(sqlite3_column_int64(st, col));
}

char *
store_address_string(const char *type, const char *definition, const char *name)
{
	char *t = http_encode_segment(type);
	char *d = http_encode_segment(definition);
	char *n = http_encode_segment(name);
	char *out = NULL;
	size_t len;

	if (t != NULL && d != NULL && n != NULL) {
		len = strlen(t) + strlen(d) + strlen(n) + 3;
		out = malloc(len);
		if (out != NULL)
			snprintf(out, len, "%s/%s/%s", t, d, n);
	}
	free(t);
	free(d);
	free(n);
	return out;
}

/* created_at and updated_at from columns col and col + 1; a resource
 * never changed since its creation shares one printed time for both. */
static void
store_add_times(json_object *obj, sqlite3_stmt *st, int col, int *ok)
{
	json_object *created;

	store_add_nullable(obj, "created_at", st, col, store_time_column, ok);
	created = json_object_object_get(obj, "created_at");
	if (created != NULL &&
	    sqlite3_column_type(st, col + 1) == SQLITE_INTEGER &&
	    sqlite3_column_int64(st, col + 1) ==
	        sqlite3_column_int64(st, col)) {
		store_add(obj, "updated_at", json_object_get(created), ok);
		return;
	}
	store_add_nullable(
	    obj, "updated_at", st, col + 1, store_time_column, ok);
}

json_object *
store_operation_elem(sqlite3_stmt *st, int col, struct store_memo *memo)
{
	json_object *o = json_object_new_object();
	int ok = o != NULL;

	(void)memo;
	if (!ok)
		return NULL;
	store_add(o, "@type",
	    store_plain_string(MODEL_OPERATION_ELEM_TYPE,
	        sizeof MODEL_OPERATION_ELEM_TYPE - 1, 0),
	    &ok);
	store_add(o, "id", store_int(sqlite3_column_int64(st, col)), &ok);
	store_add_times(o, st, col + 5, &ok);
	store_add_nullable(o, "backoff", st, col + 4, store_raw_column, &ok);
	store_add_nullable(o, "info", st, col + 3, store_raw_column, &ok);
	return store_done(o, ok);
}

/* The object as a raw value of its printed text; puts obj. */
static json_object *
store_printed(json_object *obj)
{
	const char *text;
	json_object *raw = NULL;
	size_t n;

	text = json_object_to_json_string_length(obj, STORE_PRINT_FLAGS, &n);
	if (text != NULL)
		raw = json_object_new_string_len(text, (int)n);
	if (raw != NULL)
		json_object_set_serializer(
		    raw, store_raw_serializer, NULL, NULL);
	json_object_put(obj);
	return raw;
}

void
store_memo_clear(struct store_memo *memo)
{
	size_t i;

	for (i = 0; i < memo->n_ops; i++)
		json_object_put(memo->ops[i].printed);
	free(memo->ops);
	memo->ops = NULL;
	memo->n_ops = 0;
	if (memo->pb != NULL)
		printbuf_free(memo->pb);
	memo->pb = NULL;
}

/* Reads operation id and prints its element; NULL if it is gone (only
 * a corrupt database lacks a job's operation) or on ENOMEM. */
static json_object *
store_read_operation(struct db *db, int64_t id)
{
	sqlite3_stmt *st = db_stmt(db, DB_OPERATION_GET_BY_ID);
	json_object *op = NULL;

	if (st == NULL)
		return NULL;
	if (sqlite3_bind_int64(st, 1, id) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		op = store_operation_elem(st, 0, NULL);
	sqlite3_reset(st);
	return op != NULL ? store_printed(op) : NULL;
}

/*
 * The printed element of operation id, read once per page: every job of
 * a page embeds its operation's element, and the jobs of one operation
 * share it within the page's snapshot.  Reading it by id for each new
 * operation costs less than selecting its seven columns with every job.
 */
static json_object *
store_memo_operation(struct store_memo *memo, int64_t id)
{
	struct store_memo_op *grown;
	json_object *printed;
	size_t i;

	for (i = 0; i < memo->n_ops; i++)
		if (memo->ops[i].id == id)
			return memo->ops[i].printed;
	if (memo->n_ops == memo->cap_ops) {
		size_t cap = memo->cap_ops ? 2 * memo->cap_ops : 4;

		grown = realloc(memo->ops, cap * sizeof *grown);
		if (grown == NULL)
			return NULL;
		memo->ops = grown;
		memo->cap_ops = cap;
	}
	printed = store_read_operation(memo->db, id);
	if (printed == NULL)
		return NULL;
	memo->ops[memo->n_ops].id = id;
	memo->ops[memo->n_ops].printed = printed;
	memo->n_ops++;
	return printed;
}

json_object *
store_job_elem(sqlite3_stmt *st, int col, struct store_memo *memo)
{
	(void)memo;
	json_object *j = json_object_new_object();
	int ok = j != NULL;

	if (!ok)
		return NULL;
	store_add(j, "@type",
	    store_plain_string(
	        MODEL_JOB_ELEM_TYPE, sizeof MODEL_JOB_ELEM_TYPE - 1, 0),
	    &ok);
	store_add(j, "id", store_int(sqlite3_column_int64(st, col)), &ok);
	store_add(
	    j, "revision", store_int(sqlite3_column_int64(st, col + 1)), &ok);
	store_add(j, "status", store_plain_column(st, col + 2), &ok);
	store_add_times(j, st, col + 4, &ok);
	store_add_nullable(j, "info", st, col + 3, store_raw_column, &ok);
	store_add(j, "operation", store_operation_elem(st, col + 8, NULL), &ok);
	return store_done(j, ok);
}

/*
 * Jobs of a list, printed.  A page of jobs is most of what a list request
 * costs, and building each job as json-c objects only to print it once (a
 * hash table per job, an object per field, all freed again) was most of
 * that.  A listed job is printed straight from its row instead, field by
 * field in store_job_elem's order (a test holds the two equal), and kept
 * as one raw value that json-c places in the page.  The values are
 * numbers, words of store_plain_char, times, and documents json-c printed
 * before they were stored; other text goes through json-c's printer.
 */

/* Appends n bytes; a failure clears *ok, checked once per job. */
static void
store_put(struct printbuf *pb, const char *s, int n, int *ok)
{
	if (printbuf_memappend(pb, s, n) < 0)
		*ok = 0;
}

#define STORE_PUT_LITERAL(pb, s, ok) store_put(pb, s, sizeof(s) - 1, ok)

static void
store_put_text(struct printbuf *pb, sqlite3_stmt *st, int col, int *ok)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	int i, n = sqlite3_column_bytes(st, col);
	const char *printed = NULL;
	json_object *o;

	if (text == NULL) {
		STORE_PUT_LITERAL(pb, "null", ok);
		return;
	}
	for (i = 0; i < n && store_plain_char((unsigned char)text[i]); i++)
		;
	if (i == n) {
		STORE_PUT_LITERAL(pb, "\"", ok);
		store_put(pb, text, n, ok);
		STORE_PUT_LITERAL(pb, "\"", ok);
		return;
	}
	o = json_object_new_string_len(text, n);
	if (o != NULL)
		printed = json_object_to_json_string_ext(o, STORE_PRINT_FLAGS);
	if (printed != NULL)
		store_put(pb, printed, (int)strlen(printed), ok);
	else
		*ok = 0;
	json_object_put(o);
}

static void
store_put_raw(struct printbuf *pb, sqlite3_stmt *st, int col, int *ok)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	if (text == NULL)
		STORE_PUT_LITERAL(pb, "null", ok);
	else
		store_put(pb, text, sqlite3_column_bytes(st, col), ok);
}

/* A time column as store_time_column prints it; *printed caches the
 * text of the last time printed (at ms), which created_at and updated_at
 * share while a job is unchanged. */
static void
store_put_time(struct printbuf *pb, sqlite3_stmt *st, int col,
    char printed[MODEL_TIME_LEN], int64_t *printed_ms, int *ok)
{
	int64_t ms;

	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		STORE_PUT_LITERAL(pb, "null", ok);
		return;
	}
	ms = sqlite3_column_int64(st, col);
	if (printed[0] == '\0' || *printed_ms != ms) {
		model_format_time(ms, printed);
		*printed_ms = ms;
	}
	STORE_PUT_LITERAL(pb, "\"", ok);
	store_put(pb, printed, MODEL_TIME_LEN - 1, ok);
	STORE_PUT_LITERAL(pb, "\"", ok);
}

static void
store_put_int(struct printbuf *pb, int64_t v, int *ok)
{
	if (store_append_int(pb, v) < 0)
		*ok = 0;
}

/* The job of row st into memo->pb, which is reset first. */
static int
store_print_job(sqlite3_stmt *st, int col, struct store_memo *memo)
{
	struct printbuf *pb = memo->pb;
	json_object *op =
	    store_memo_operation(memo, sqlite3_column_int64(st, col + 8));
	char time[MODEL_TIME_LEN] = "";
	int64_t time_ms = 0;
	int ok = op != NULL;

	printbuf_reset(pb);
	STORE_PUT_LITERAL(
	    pb, "{\"@type\":\"" MODEL_JOB_ELEM_TYPE "\",\"id\":", &ok);
	store_put_int(pb, sqlite3_column_int64(st, col), &ok);
	STORE_PUT_LITERAL(pb, ",\"revision\":", &ok);
	store_put_int(pb, sqlite3_column_int64(st, col + 1), &ok);
	STORE_PUT_LITERAL(pb, ",\"status\":", &ok);
	store_put_text(pb, st, col + 2, &ok);
	STORE_PUT_LITERAL(pb, ",\"created_at\":", &ok);
	store_put_time(pb, st, col + 4, time, &time_ms, &ok);
	STORE_PUT_LITERAL(pb, ",\"updated_at\":", &ok);
	store_put_time(pb, st, col + 5, time, &time_ms, &ok);
	STORE_PUT_LITERAL(pb, ",\"info\":", &ok);
	store_put_raw(pb, st, col + 3, &ok);
	STORE_PUT_LITERAL(pb, ",\"operation\":", &ok);
	if (op != NULL)
		store_put(pb, json_object_get_string(op),
		    json_object_get_string_len(op), &ok);
	STORE_PUT_LITERAL(pb, "}", &ok);
	return ok;
}

json_object *
store_job_list_elem(sqlite3_stmt *st, int col, struct store_memo *memo)
{
	json_object *job = NULL;

	if (memo->pb == NULL && (memo->pb = printbuf_new()) == NULL)
		return NULL;
	if (store_print_job(st, col, memo))
		job = json_object_new_string_len(memo->pb->buf, memo->pb->bpos);
	if (job != NULL)
		json_object_set_serializer(
		    job, store_raw_serializer, NULL, NULL);
	return job;
}

/* Replaces the value of key, which obj has: json-c puts the old value and
 * keeps the member where it stands.  val is put on failure. */
static int
store_replace(json_object *obj, const char *key, json_object *val)
{
	if (val != NULL && json_object_object_add(obj, key, val) == 0)
		return 0;
	json_object_put(val);
	return -1;
}

int
store_job_elem_revise(
    json_object *elem, int64_t revision, const char *info, int64_t updated_at)
{
	if (store_replace(elem, "revision", store_int(revision)) != 0 ||
	    store_replace(elem, "info", store_raw(info, (int)strlen(info))) !=
	        0 ||
	    store_replace(elem, "updated_at", store_time(updated_at)) != 0)
		return -1;
	return 0;
}

static json_object *
store_execution_address(sqlite3_stmt *st, int col)
{
	char *a =
	    store_address_string((const char *)sqlite3_column_text(st, col),
	        (const char *)sqlite3_column_text(st, col + 1),
	        (const char *)sqlite3_column_text(st, col + 2));
	json_object *s = a ? json_object_new_string(a) : NULL;

	free(a);
	return s;
}

/* A text column as a JSON string. */
static json_object *
store_text_column(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t ? json_object_new_string(t) : NULL;
}

json_object *
store_execution_elem(sqlite3_stmt *st, int col, struct store_memo *memo)
{
	json_object *e = json_object_new_object();
	int ok = e != NULL;

	(void)memo;
	if (!ok)
		return NULL;
	store_add(e, "id", store_int(sqlite3_column_int64(st, col)), &ok);
	store_add(e, "address", store_execution_address(st, col + 12), &ok);
	store_add(
	    e, "ordinal", store_int(sqlite3_column_int64(st, col + 1)), &ok);
	store_add(
	    e, "revision", store_int(sqlite3_column_int64(st, col + 2)), &ok);
	store_add_nullable(e, "status", st, col + 3, store_text_column, &ok);
	store_add_nullable(e, "parameters", st, col + 4, store_raw_column, &ok);
	store_add_nullable(e, "roles", st, col + 5, store_raw_column, &ok);
	store_add_nullable(
	    e, "response_code", st, col + 6, store_text_column, &ok);
	store_add_nullable(e, "result", st, col + 7, store_raw_column, &ok);
	store_add_nullable(
	    e, "created_at", st, col + 8, store_time_column, &ok);
	store_add_nullable(
	    e, "started_at", st, col + 9, store_time_column, &ok);
	store_add_nullable(
	    e, "stopped_at", st, col + 10, store_time_column, &ok);
	store_add_nullable(
	    e, "updated_at", st, col + 11, store_time_column, &ok);
	return store_done(e, ok);
}

/* Prepares one list statement: columns or count(*), with the filter. */
static enum err
store_list_prepare(struct db *db, const struct query *q, const char *select,
    const char *from_where, int paged, sqlite3_stmt **st, char *detail,
    size_t len)
{
	char *sql = NULL;
	int n, rc;

	n = paged ? asprintf(&sql,
	                "SELECT %s%s AND (%s) ORDER BY %s "
	                "LIMIT ? OFFSET ?",
	                select, from_where, q->where, q->order_by)
	          : asprintf(&sql, "SELECT %s%s AND (%s)", select, from_where,
	                q->where);
	if (n < 0)
		return err_set(detail, len, ERR_INTERNAL, "out of memory");
	*st = db_stmt_for(db, sql, &rc);
	free(sql);
	if (*st == NULL)
		return db_fail(db, rc, "list_prepare", detail, len);
	return ERR_OK;
}

static int
store_list_bind(
    sqlite3_stmt *st, const char *const *base, int nbase, const struct query *q)
{
	int i;

	for (i = 0; i < nbase; i++)
		if (sqlite3_bind_text(st, i + 1, base[i], -1, SQLITE_STATIC) !=
		    SQLITE_OK)
			return -1;
	return query_bind(q, st, nbase + 1);
}

static enum err
store_list_count(struct db *db, const struct query *q, const char *from_where,
    const char *const *base, int nbase, int64_t *total, char *detail,
    size_t len)
{
	sqlite3_stmt *st = NULL;
	enum err e;
	int rc;

	e = store_list_prepare(
	    db, q, "count(*)", from_where, 0, &st, detail, len);
	if (e != ERR_OK)
		return e;
	if (store_list_bind(st, base, nbase, q) < 0)
		rc = SQLITE_ERROR;
	else
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*total = sqlite3_column_int64(st, 0);
	else
		e = db_fail(db, rc, "list_count", detail, len);
	sqlite3_reset(st);
	return e;
}

/*
 * Reads the page into data, asking for one row more than the page holds:
 * *more tells whether rows follow it, so that the last page (or the only
 * one) knows the total without a count.
 */
static enum err
store_list_rows(struct db *db, const struct query *q, const char *columns,
    const char *from_where, const char *const *base, int nbase,
    store_elem_fn *elem, json_object *data, int *more, char *detail, size_t len)
{
	struct store_memo memo = { .db = db };
	sqlite3_stmt *st = NULL;
	enum err e;
	int rc, next;

	*more = 0;
	e = store_list_prepare(db, q, columns, from_where, 1, &st, detail, len);
	if (e != ERR_OK)
		return e;
	next = store_list_bind(st, base, nbase, q);
	if (next < 0 || sqlite3_bind_int64(st, next, q->page_size + 1) ||
	    sqlite3_bind_int64(
	        st, next + 1, (q->page_number - 1) * q->page_size)) {
		sqlite3_reset(st);
		return db_fail(db, SQLITE_ERROR, "list_bind", detail, len);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_object *item;

		if ((int64_t)json_object_array_length(data) == q->page_size) {
			*more = 1;
			rc = SQLITE_DONE;
			break;
		}
		item = elem(st, 0, &memo);

		if (item == NULL || json_object_array_add(data, item) != 0) {
			json_object_put(item);
			sqlite3_reset(st);
			store_memo_clear(&memo);
			return err_set(
			    detail, len, ERR_INTERNAL, "out of memory");
		}
	}
	if (rc != SQLITE_DONE)
		e = db_fail(db, rc, "list_step", detail, len);
	sqlite3_reset(st);
	store_memo_clear(&memo);
	return e;
}

static json_object *
store_page_info(const struct query *q, int64_t total)
{
	json_object *p = json_object_new_object();
	int ok = p != NULL;

	if (!ok)
		return NULL;
	store_add(p, "number", store_int(q->page_number), &ok);
	store_add(p, "size", store_int(q->page_size), &ok);
	store_add(p, "total_elements", store_int(total), &ok);
	store_add(p, "total_pages",
	    store_int((total + q->page_size - 1) / q->page_size), &ok);
	return store_done(p, ok);
}

enum err
store_list(struct db *db, const struct query_spec *spec, const char *columns,
    const char *from_where, const char *const *base_binds, int nbase,
    const char *const *filter4, store_elem_fn *elem, json_object **page,
    char *detail, size_t len)
{
	struct query q;
	json_object *out = NULL, *data = NULL;
	int64_t total = 0, got;
	enum err e;
	int ok = 1, more;

	e = query_compile(&q, spec, filter4[0], filter4[1], filter4[2],
	    filter4[3], detail, len);
	if (e != ERR_OK)
		return e;

	/* The rows and the count see one snapshot, so they agree. */
	e = db_begin_read(db, detail, len);
	if (e != ERR_OK)
		goto out;
	data = json_object_new_array();
	if (data == NULL) {
		e = err_set(detail, len, ERR_INTERNAL, "out of memory");
		goto out;
	}
	e = store_list_rows(db, &q, columns, from_where, base_binds, nbase,
	    elem, data, &more, detail, len);
	if (e != ERR_OK)
		goto out;

	/* A page with rows and none after it ends the list: its position
	 * gives the total.  Otherwise (rows follow, or a page past the end)
	 * count them. */
	got = (int64_t)json_object_array_length(data);
	if (!more && (got > 0 || q.page_number == 1))
		total = (q.page_number - 1) * q.page_size + got;
	else
		e = store_list_count(
		    db, &q, from_where, base_binds, nbase, &total, detail, len);
	if (e != ERR_OK)
		goto out;

	out = json_object_new_object();
	if (out == NULL) {
		e = err_set(detail, len, ERR_INTERNAL, "out of memory");
		goto out;
	}
	store_add(out, "data", data, &ok);
	data = NULL;
	store_add(out, "page", store_page_info(&q, total), &ok);
	if (!ok)
		e = err_set(detail, len, ERR_INTERNAL, "out of memory");
out:
	db_end_read(db);
	json_object_put(data);
	if (e != ERR_OK) {
		json_object_put(out);
		out = NULL;
	}
	*page = out;
	query_free(&q);
	return e;
}
