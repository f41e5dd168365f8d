/*
 * REPORT/sql: one read-only query on a named source.  The result holds
 * the columns and the first rows; with a named target, every row also
 * goes to an RFC 4180 CSV file there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_sqlite.h"

/* CSV output through a buffer of its own, onto the file's descriptor. */
struct csv {
	int fd;
	int err; /* errno of the first failed write */
	size_t len;
	int64_t bytes;
	char buf[65536];
};

static void
csv_flush(struct csv *c)
{
	size_t done = 0;
	ssize_t n;

	while (c->err == 0 && done < c->len) {
		n = write(c->fd, c->buf + done, c->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			c->err = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	c->len = 0;
}

static void
csv_put(struct csv *c, const char *s, size_t n)
{
	size_t take;

	while (n > 0) {
		if (c->len == sizeof c->buf)
			csv_flush(c);
		take = sizeof c->buf - c->len;
		take = take < n ? take : n;
		memcpy(c->buf + c->len, s, take);
		c->len += take;
		c->bytes += (int64_t)take;
		s += take;
		n -= take;
	}
}

/* One field: quoted when it holds a comma, a quote, CR or LF, with each
 * quote doubled. */
static void
csv_field(struct csv *c, const char *s, size_t n)
{
	size_t i, from = 0;

	if (strcspn(s, ",\"\r\n") >= n && memchr(s, '\0', n) == NULL) {
		csv_put(c, s, n);
		return;
	}
	csv_put(c, "\"", 1);
	for (i = 0; i < n; i++) {
		if (s[i] != '"')
			continue;
		csv_put(c, s + from, i + 1 - from);
		csv_put(c, "\"", 1);
		from = i + 1;
	}
	csv_put(c, s + from, n - from);
	csv_put(c, "\"", 1);
}

/* One value as CSV text: NULL empty, a blob in hex, the rest as SQLite
 * renders it. */
static int
csv_value(struct csv *c, sqlite3_stmt *st, int i)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b;
	char hex[2];
	int k, n;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return 0;
	case SQLITE_BLOB:
		b = sqlite3_column_blob(st, i);
		n = sqlite3_column_bytes(st, i);
		for (k = 0; k < n; k++) {
			hex[0] = digits[b[k] >> 4];
			hex[1] = digits[b[k] & 15];
			csv_put(c, hex, 2);
		}
		return 0;
	default:
		b = sqlite3_column_text(st, i);
		if (b == NULL)
			return -1;
		csv_field(
		    c, (const char *)b, (size_t)sqlite3_column_bytes(st, i));
		return 0;
	}
}

/* The current row, or the header when header is set; -1 on ENOMEM. */
static int
csv_row(struct csv *c, sqlite3_stmt *st, int header)
{
	const char *name;
	int i, n = sqlite3_column_count(st);

	for (i = 0; i < n; i++) {
		if (i > 0)
			csv_put(c, ",", 1);
		if (header) {
			name = sqlite3_column_name(st, i);
			if (name == NULL)
				return -1;
			csv_field(c, name, strlen(name));
		} else if (csv_value(c, st, i) != 0) {
			return -1;
		}
	}
	csv_put(c, "\r\n", 2);
	return 0;
}

/* What one report run holds. */
struct report {
	const struct conf_place *src, *dst;
	int64_t limit;
	sqlite3 *db;
	sqlite3_stmt *st;
	struct xfile file;
	struct csv *csv;
	json_object *rows;
	int64_t count;
};

/* Parameters, places and the statement, before any row is read. */
static int
report_prepare(struct xjob *j, struct report *r)
{
	static const char *const known[] = { "source", "query", "target",
		"row_limit", NULL };
	const char *query;
	int rc;
	if ((rc = xjob_check_params(j, known, NULL)) != XS_OK)
		return rc;

	if ((rc = xjob_place(j, 0, "source", &r->src)) != XS_OK ||
	    (rc = xjob_param_required(j, "query", &query)) != XS_OK)
		return rc;
	if (xjob_param(j, "target") != NULL &&
	    (rc = xjob_place(j, 1, "target", &r->dst)) != XS_OK)
		return rc;
	rc = xjob_param_int(j, "row_limit", j->in->conf->report_row_limit, 0,
	    j->in->conf->report_row_limit, &r->limit);
	if (rc != XS_OK)
		return rc;
	if ((rc = xjob_open(j, r->src, &r->db)) != XS_OK)
		return rc;
	return xjob_prepare(j, r->db, query, "query", &r->st);
}

/* Creates the CSV file and writes the header. */
static int
report_csv_open(struct xjob *j, struct report *r)
{
	char name[256];
	int rc;

	xjob_file_name(j->in, ".csv", name, sizeof name);
	if ((rc = xfile_open(j, &r->file, r->dst->path, name, 1)) != XS_OK)
		return rc;
	if ((r->csv = calloc(1, sizeof *r->csv)) == NULL)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	r->csv->fd = r->file.fd;
	if (csv_row(r->csv, r->st, 1) != 0)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	return XS_OK;
}

/* Reads every row: the first limit into the result, all into the CSV. */
static int
report_rows(struct xjob *j, struct report *r)
{
	json_object *row;
	int step;

	while ((step = xjob_step(j, r->st, "query")) == 1) {
		r->count++;
		if (r->csv != NULL && csv_row(r->csv, r->st, 0) != 0)
			return xjob_fail(j, XS_INTERNAL, "out of memory");
		if (r->count > r->limit)
			continue;
		row = xjob_row(r->st);
		if (row == NULL || json_object_array_add(r->rows, row) != 0) {
			json_object_put(row);
			return xjob_fail(j, XS_INTERNAL, "out of memory");
		}
	}
	return step == 0 ? XS_OK : XS_SQL_ERROR;
}

/* Flushes, syncs and renames the CSV file; adds result.csv. */
static int
report_csv_commit(struct xjob *j, struct report *r)
{
	json_object *o = json_object_new_object();
	int rc;

	csv_flush(r->csv);
	if (r->csv->err != 0) {
		json_object_put(o);
		return xjob_fail(j, XS_IO_ERROR,
		    "cannot write the CSV file: %s", strerror(r->csv->err));
	}
	if ((rc = xfile_commit(j, &r->file)) != XS_OK) {
		json_object_put(o);
		return rc;
	}
	if ((rc = xjob_put(j, o, "target",
	         json_object_new_string(r->dst->name))) != XS_OK ||
	    (rc = xjob_put(j, o, "file",
	         json_object_new_string(r->file.name))) != XS_OK ||
	    (rc = xjob_put(j, o, "bytes",
	         json_object_new_int64(r->csv->bytes))) != XS_OK) {
		json_object_put(o);
		return rc;
	}
	return xjob_put(j, j->result, "csv", o);
}

/*
 * Drops rows from the end until the printed result fits the scheduler's
 * output limit, which would otherwise keep it as plain text.
 */
static int
report_fit(struct xjob *j, struct report *r, size_t limit)
{
	size_t n = json_object_array_length(r->rows), len, keep;
	size_t room = limit > 512 ? limit - 256 : limit / 2;
	const char *text;

	for (;;) {
		text = json_object_to_json_string_ext(j->result,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (text == NULL)
			return xjob_fail(j, XS_INTERNAL, "out of memory");
		len = strlen(text);
		if (len < room || n == 0)
			return XS_OK;

		/* Cut in proportion, at least one row a round. */
		keep = (size_t)((double)n * (double)room / (double)len * 0.95);
		keep = keep < n ? keep : n - 1;
		if (json_object_array_del_idx(r->rows, keep, n - keep) != 0)
			return xjob_fail(j, XS_INTERNAL, "cannot trim rows");
		n = keep;
		if (xjob_put(j, j->result, "truncated",
		        json_object_new_boolean(1)) != XS_OK ||
		    xjob_put(j, j->result, "truncated_by",
		        json_object_new_string("output_limit_bytes")) != XS_OK)
			return XS_INTERNAL;
	}
}

/* The result without the CSV part. */
static int
report_result(struct xjob *j, struct report *r, json_object *columns)
{
	int rc;

	if ((rc = xjob_put(j, j->result, "source",
	         json_object_new_string(r->src->name))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "columns", columns)) != XS_OK ||
	    (rc = xjob_put(j, j->result, "rows", json_object_get(r->rows))) !=
	        XS_OK ||
	    (rc = xjob_put(j, j->result, "row_count",
	         json_object_new_int64(r->count))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "row_limit",
	         json_object_new_int64(r->limit))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "truncated",
	         json_object_new_boolean(r->count > r->limit))) != XS_OK)
		return rc;
	return XS_OK;
}

static int
report_run(struct xjob *j, struct report *r)
{
	int rc;

	if ((rc = report_prepare(j, r)) != XS_OK)
		return rc;
	if ((r->rows = json_object_new_array()) == NULL)
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	if (r->dst != NULL && (rc = report_csv_open(j, r)) != XS_OK)
		return rc;
	if ((rc = report_rows(j, r)) != XS_OK)
		return rc;
	if ((rc = report_result(j, r, xjob_columns(r->st))) != XS_OK)
		return rc;
	if (r->csv != NULL && (rc = report_csv_commit(j, r)) != XS_OK)
		return rc;
	return report_fit(j, r, (size_t)j->in->conf->output_limit_bytes);
}

int
exec_report_sql(const struct exec_input *in)
{
	struct report r;
	struct xjob j;
	int rc;

	memset(&r, 0, sizeof r);
	r.file.dirfd = r.file.fd = -1;
	xjob_init(&j, in);
	rc = j.result ? report_run(&j, &r) : XS_INTERNAL;

	xfile_abort(&r.file);
	free(r.csv);
	json_object_put(r.rows);
	sqlite3_finalize(r.st);
	sqlite3_close(r.db);
	return xjob_finish(&j, rc);
}
