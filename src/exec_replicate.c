/*
 * REPLICATE/sqlite-backup: copies a named source into a file of a named
 * target with SQLite's online backup API, a few pages a step.  The copy
 * is one snapshot of the source, written under a temporary name and
 * renamed when complete.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_sqlite.h"

/* What one backup run holds. */
struct backup {
	const struct conf_place *src, *dst;
	int64_t pages_per_step;
	sqlite3 *from, *to;
	sqlite3_backup *b;
	struct xfile file;
	int64_t pages, steps, page_size;
};

/* The copy's file name: the file_name parameter, a plain name, or one
 * made from the job's address and the ordinal. */
static int
backup_name(struct xjob *j, char *out, size_t len)
{
	const char *name = xjob_param(j, "file_name");

	if (name == NULL) {
		xjob_file_name(j->in, ".sqlite", out, len);
		return XS_OK;
	}
	if (!exec_definition_ok(name) || strlen(name) + 1 > 200)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "parameter \"file_name\" must match [A-Za-z0-9._-]+, "
		    "not start with a dot, and be shorter than 200 bytes");
	snprintf(out, len, "%s", name);
	return XS_OK;
}

/*
 * A read transaction on the source for the whole copy: the backup then
 * never restarts because another process wrote, and copies one snapshot
 * (in WAL mode writers go on; otherwise they wait for the copy).
 */
static int
backup_snapshot(struct xjob *j, struct backup *b)
{
	if (sqlite3_exec(b->from, "BEGIN; SELECT count(*) FROM sqlite_schema",
	        NULL, NULL, NULL) != SQLITE_OK)
		return xjob_fail(j, XS_SQL_ERROR, "source \"%s\": %s",
		    b->src->name, sqlite3_errmsg(b->from));
	return XS_OK;
}

/* The stepped copy into the temporary file. */
static int
backup_copy(struct xjob *j, struct backup *b)
{
	int rc;

	if (sqlite3_open_v2(
	        b->file.path, &b->to, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return xjob_fail(j, XS_IO_ERROR, "cannot open the copy: %s",
		    b->to ? sqlite3_errmsg(b->to) : "out of memory");
	if ((b->b = sqlite3_backup_init(b->to, "main", b->from, "main")) ==
	    NULL)
		return xjob_fail(
		    j, XS_SQL_ERROR, "backup: %s", sqlite3_errmsg(b->to));
	do {
		rc = sqlite3_backup_step(b->b, (int)b->pages_per_step);
		b->steps++;

		/* Only the copy can be busy here (the source is held);
		 * wait for it as the backup documentation suggests. */
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			sqlite3_sleep(10);
	} while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	b->pages = sqlite3_backup_pagecount(b->b);
	rc = rc == SQLITE_DONE ? sqlite3_backup_finish(b->b) : rc;
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		sqlite3_backup_finish(b->b);
		b->b = NULL;
		return xjob_fail(
		    j, XS_SQL_ERROR, "backup: %s", sqlite3_errstr(rc));
	}
	b->b = NULL;
	return XS_OK;
}

/* Closes the copy, then renames it into place. */
static int
backup_commit(struct xjob *j, struct backup *b)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(b->to, "PRAGMA page_size", -1, &st, NULL) !=
	        SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return xjob_fail(
		    j, XS_SQL_ERROR, "the copy: %s", sqlite3_errmsg(b->to));
	}
	b->page_size = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (sqlite3_close(b->to) != SQLITE_OK)
		return xjob_fail(j, XS_SQL_ERROR, "cannot close the copy");
	b->to = NULL;
	return xfile_commit(j, &b->file);
}

static int
backup_result(struct xjob *j, struct backup *b)
{
	struct stat sb;
	int rc;

	if (fstatat(b->file.dirfd, b->file.name, &sb, 0) != 0)
		return xjob_fail(j, XS_IO_ERROR, "cannot stat the copy");
	if ((rc = xjob_put(j, j->result, "source",
	         json_object_new_string(b->src->name))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "target",
	         json_object_new_string(b->dst->name))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "file",
	         json_object_new_string(b->file.name))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "pages",
	         json_object_new_int64(b->pages))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "page_size",
	         json_object_new_int64(b->page_size))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "bytes",
	         json_object_new_int64((int64_t)sb.st_size))) != XS_OK ||
	    (rc = xjob_put(j, j->result, "steps",
	         json_object_new_int64(b->steps))) != XS_OK)
		return rc;
	return XS_OK;
}

static int
backup_run(struct xjob *j, struct backup *b)
{
	static const char *const known[] = { "source", "target", "file_name",
		"pages_per_step", NULL };
	char name[256];
	int rc;
	if ((rc = xjob_check_params(j, known, NULL)) != XS_OK)
		return rc;

	if ((rc = xjob_place(j, 0, "source", &b->src)) != XS_OK ||
	    (rc = xjob_place(j, 1, "target", &b->dst)) != XS_OK ||
	    (rc = xjob_param_int(j, "pages_per_step", 100, 1, 1000000,
	         &b->pages_per_step)) != XS_OK ||
	    (rc = backup_name(j, name, sizeof name)) != XS_OK)
		return rc;
	if ((rc = xjob_open(j, b->src, &b->from)) != XS_OK ||
	    (rc = backup_snapshot(j, b)) != XS_OK)
		return rc;
	if ((rc = xfile_open(j, &b->file, b->dst->path, name, 0)) != XS_OK ||
	    (rc = backup_copy(j, b)) != XS_OK ||
	    (rc = backup_commit(j, b)) != XS_OK)
		return rc;
	return backup_result(j, b);
}

int
exec_replicate_backup(const struct exec_input *in)
{
	struct backup b;
	struct xjob j;
	int rc;

	memset(&b, 0, sizeof b);
	b.file.dirfd = b.file.fd = -1;
	xjob_init(&j, in);
	rc = j.result ? backup_run(&j, &b) : XS_INTERNAL;

	if (b.b != NULL)
		sqlite3_backup_finish(b.b);
	sqlite3_close(b.to);

	/* A failed copy leaves neither the file nor its journal. */
	xfile_abort(&b.file);
	sqlite3_close(b.from);
	return xjob_finish(&j, rc);
}
