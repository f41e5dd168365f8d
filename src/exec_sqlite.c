/*
 * What the built-in executors share: parameters, places and roles, the
 * read-only connection and its single statement, values as JSON, output
 * files renamed into place, and the result on standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_sqlite.h"

const char *const exec_sqlite_codes[XS__MAX] = {
	[XS_OK] = NULL,
	[XS_BAD_PARAMETERS] = "BAD_PARAMETERS",
	[XS_FORBIDDEN] = "FORBIDDEN",
	[XS_REFUSED] = "REFUSED",
	[XS_SQL_ERROR] = "SQL_ERROR",
	[XS_IO_ERROR] = "IO_ERROR",
	[XS_MISMATCH] = "MISMATCH",
	[XS_CHECK_FAILED] = "CHECK_FAILED",
	[XS_INTERNAL] = "INTERNAL_ERROR",
};

/* An exit status must survive WEXITSTATUS. */
_Static_assert(XS__MAX < 126, "exit statuses above 125 mean the shell");

void
xjob_init(struct xjob *j, const struct exec_input *in)
{
	j->in = in;
	j->result = json_object_new_object();
	j->error[0] = '\0';
}

int
xjob_fail(struct xjob *j, int status, const char *fmt, ...)
{
	va_list ap;

	if (j->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(j->error, sizeof j->error, fmt, ap);
		va_end(ap);
	}
	return status;
}

int
xjob_put(struct xjob *j, json_object *obj, const char *key, json_object *v)
{
	if (v == NULL || obj == NULL ||
	    json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return xjob_fail(j, XS_INTERNAL, "out of memory");
	}
	return XS_OK;
}

/* Prints text and a newline on standard output; 0 or -1. */
static int
xjob_print(const char *text)
{
	if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) == EOF)
		return -1;
	return 0;
}

int
xjob_finish(struct xjob *j, int status)
{
	const char *text;
	json_object *err;
	size_t limit = (size_t)j->in->conf->output_limit_bytes;

	if (j->result == NULL) {
		xjob_print("{\"error\": \"out of memory\"}");
		return XS_INTERNAL;
	}
	if (j->error[0] != '\0') {
		err = json_object_new_string(j->error);
		if (err == NULL ||
		    json_object_object_add(j->result, "error", err) != 0) {
			json_object_put(err);
			status = XS_INTERNAL;
		}
	}
	text = json_object_to_json_string_ext(
	    j->result, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	/* A result cut by the scheduler's limit would be kept as plain
	 * stdout; a short message is more useful. */
	if (text == NULL || strlen(text) + 1 > limit) {
		fprintf(stdout,
		    "{\"error\": \"the result is larger than "
		    "output_limit_bytes (%zu)\"}\n",
		    limit);
		fflush(stdout);
		if (status == XS_OK)
			status = XS_INTERNAL;
	} else if (xjob_print(text) != 0) {
		status = XS_INTERNAL;
	}
	json_object_put(j->result);
	j->result = NULL;
	return status;
}

int
xjob_check_params(struct xjob *j, const char *const *known, const char *prefix)
{
	const char *const *k;

	if (j->in->parameters == NULL)
		return XS_OK;
	json_object_object_foreach(j->in->parameters, key, val)
	{
		if (!json_object_is_type(val, json_type_string))
			return xjob_fail(j, XS_BAD_PARAMETERS,
			    "parameter \"%s\" must be a string", key);
		if (prefix != NULL && strncmp(key, prefix, strlen(prefix)) == 0)
			continue;
		for (k = known; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k == NULL)
			return xjob_fail(j, XS_BAD_PARAMETERS,
			    "unknown parameter \"%s\"", key);
	}
	return XS_OK;
}

const char *
xjob_param(const struct xjob *j, const char *key)
{
	json_object *v;

	if (j->in->parameters == NULL ||
	    !json_object_object_get_ex(j->in->parameters, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
xjob_param_required(struct xjob *j, const char *key, const char **out)
{
	*out = xjob_param(j, key);
	if (*out == NULL || **out == '\0')
		return xjob_fail(
		    j, XS_BAD_PARAMETERS, "missing parameter \"%s\"", key);
	return XS_OK;
}

int
xjob_param_int(struct xjob *j, const char *key, int64_t def, int64_t min,
    int64_t max, int64_t *out)
{
	const char *s = xjob_param(j, key);
	char *end;
	long long v;

	*out = def;
	if (s == NULL)
		return XS_OK;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "parameter \"%s\" must be an integer from %lld to %lld",
		    key, (long long)min, (long long)max);
	*out = v;
	return XS_OK;
}

/* 1 when one of the job's roles is among the place's. */
static int
xjob_role_allowed(const struct xjob *j, const struct conf_place *p)
{
	size_t i, k, n;
	json_object *r;

	if (j->in->roles == NULL)
		return 0;
	n = json_object_array_length(j->in->roles);
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(j->in->roles, i);
		if (!json_object_is_type(r, json_type_string))
			continue;
		for (k = 0; k < p->nroles; k++)
			if (strcmp(p->roles[k], json_object_get_string(r)) == 0)
				return 1;
	}
	return 0;
}

int
xjob_place(struct xjob *j, int is_target, const char *key,
    const struct conf_place **out)
{
	const char *kind = is_target ? "target" : "source";
	const char *name;
	int rc;

	*out = NULL;
	if ((rc = xjob_param_required(j, key, &name)) != XS_OK)
		return rc;
	*out = is_target ? conf_find_target(j->in->conf, name)
	                 : conf_find_source(j->in->conf, name);
	if (*out == NULL)
		return xjob_fail(j, XS_BAD_PARAMETERS,
		    "parameter \"%s\": no %s named \"%s\" is configured", key,
		    kind, name);

	/* The message names the place but not its path: jobs never see
	 * files. */
	if (!xjob_role_allowed(j, *out))
		return xjob_fail(j, XS_FORBIDDEN,
		    "none of the job's roles is allowed on %s \"%s\"", kind,
		    name);
	return XS_OK;
}

/*
 * The authorizer of source connections.  The connection is read-only and
 * statements are checked with sqlite3_stmt_readonly(), which still
 * accepts ATTACH and DETACH, and PRAGMAs with an argument can change the
 * connection (query_only = 0); those are denied here.
 */
static int
xjob_authorize(void *arg, int action, const char *a1, const char *a2,
    const char *db, const char *trigger)
{
	(void)arg;
	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_ATTACH:
	case SQLITE_DETACH:
		return SQLITE_DENY;
	case SQLITE_PRAGMA:
		return a2 == NULL ? SQLITE_OK : SQLITE_DENY;
	case SQLITE_FUNCTION:
		/* fts3_tokenizer() reads and writes raw pointers. */
		return a2 != NULL && (strcmp(a2, "load_extension") == 0 ||
		                         strcmp(a2, "fts3_tokenizer") == 0)
		           ? SQLITE_DENY
		           : SQLITE_OK;
	default:
		(void)a1;
		return SQLITE_OK;
	}
}

/* Locks the connection down before any job text reaches it. */
static int
xjob_harden(sqlite3 *db, int64_t busy_ms)
{
	int off = 0, on = 1;

	if (sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, off,
	        NULL) != SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, NULL) !=
	        SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, off, NULL) !=
	        SQLITE_OK ||
	    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, off,
	        NULL) != SQLITE_OK)
		return -1;
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
	if (sqlite3_busy_timeout(db, (int)busy_ms) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) !=
	        SQLITE_OK)
		return -1;
	return sqlite3_set_authorizer(db, xjob_authorize, NULL);
}

/*
 * The scheduler forked this process with its own connection to the
 * ledgerops database open; SQLite cannot safely use that file again in
 * the child, so a source that is that file is refused up front rather
 * than left to fail with a locking error after the busy timeout.
 */
static int
xjob_is_own_database(const struct xjob *j, const struct conf_place *src)
{
	struct stat a, b;

	return j->in->conf->db_path != NULL && stat(src->path, &a) == 0 &&
	       stat(j->in->conf->db_path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int
xjob_open(struct xjob *j, const struct conf_place *src, sqlite3 **db)
{
	int rc;

	*db = NULL;
	if (xjob_is_own_database(j, src))
		return xjob_fail(j, XS_REFUSED,
		    "source \"%s\" is the ledgerops database itself; "
		    "name a copy made outside the scheduler instead",
		    src->name);
	rc = sqlite3_open_v2(src->path, db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		xjob_fail(j, XS_SQL_ERROR, "source \"%s\": cannot open: %s",
		    src->name, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
		goto fail;
	}
	if (xjob_harden(*db, j->in->conf->busy_timeout_ms) != 0) {
		xjob_fail(j, XS_SQL_ERROR, "source \"%s\": %s", src->name,
		    sqlite3_errmsg(*db));
		goto fail;
	}
	return XS_OK;
fail:
	sqlite3_close(*db);
	*db = NULL;
	return XS_SQL_ERROR;
}

/* XS_OK when tail holds nothing but blanks, semicolons and comments. */
static int
xjob_only_one(struct xjob *j, sqlite3 *db, const char *tail, const char *what)
{
	sqlite3_stmt *next = NULL;
	int rc;

	/* Preparing the rest compiles it without running it; no statement
	 * back means there was none. */
	rc = sqlite3_prepare_v2(db, tail, -1, &next, NULL);
	if (rc == SQLITE_OK && next == NULL)
		return XS_OK;
	sqlite3_finalize(next);
	return xjob_fail(
	    j, XS_REFUSED, "%s: only one statement is allowed", what);
}

int
xjob_prepare(struct xjob *j, sqlite3 *db, const char *sql, const char *what,
    sqlite3_stmt **st)
{
	const char *tail = NULL;
	int rc, status;

	*st = NULL;
	rc = sqlite3_prepare_v2(db, sql, -1, st, &tail);

	/* A denied function reports SQLITE_ERROR, not SQLITE_AUTH. */
	if (rc == SQLITE_AUTH ||
	    (rc != SQLITE_OK &&
	        strstr(sqlite3_errmsg(db), "not authorized") != NULL))
		return xjob_fail(j, XS_REFUSED, "%s: not allowed: %s", what,
		    sqlite3_errmsg(db));
	if (rc != SQLITE_OK)
		return xjob_fail(
		    j, XS_SQL_ERROR, "%s: %s", what, sqlite3_errmsg(db));
	if (*st == NULL)
		return xjob_fail(j, XS_REFUSED, "%s: no statement", what);

	status = xjob_only_one(j, db, tail, what);
	if (status == XS_OK && !sqlite3_stmt_readonly(*st))
		status = xjob_fail(j, XS_REFUSED,
		    "%s: only read-only statements are allowed", what);
	if (status == XS_OK && sqlite3_column_count(*st) == 0)
		status = xjob_fail(j, XS_REFUSED,
		    "%s: the statement returns no columns", what);
	if (status != XS_OK) {
		sqlite3_finalize(*st);
		*st = NULL;
	}
	return status;
}

int
xjob_step(struct xjob *j, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	xjob_fail(j, rc == SQLITE_AUTH ? XS_REFUSED : XS_SQL_ERROR, "%s: %s",
	    what, sqlite3_errmsg(sqlite3_db_handle(st)));
	return -1;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t
xjob_utf8_len(const unsigned char *s, size_t n)
{
	size_t need, i;

	if (s[0] < 0x80)
		return s[0] != 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

/* Text as a JSON string; the scheduler accepts only valid UTF-8, so bad
 * bytes (and NULs) become '?'. */
static json_object *
xjob_text(const unsigned char *s, size_t n)
{
	json_object *o;
	char *copy;
	size_t i = 0, k;

	if ((n > 0 && s == NULL) || (copy = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(copy, s, n);
	copy[n] = '\0';
	while (i < n) {
		k = xjob_utf8_len((unsigned char *)copy + i, n - i);
		if (k == 0) {
			copy[i++] = '?';
			continue;
		}
		i += k;
	}
	o = json_object_new_string_len(copy, (int)n);
	free(copy);
	return o;
}

/* A blob as lower-case hex text. */
static json_object *
xjob_hex(const unsigned char *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	json_object *o;
	char *hex;
	size_t i;

	if ((hex = malloc(2 * n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * n] = '\0';
	o = json_object_new_string_len(hex, (int)(2 * n));
	free(hex);
	return o;
}

json_object *
xjob_sqlvalue(sqlite3_value *v, int *ok)
{
	json_object *o = NULL;
	double d;

	*ok = 1;
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		o = json_object_new_int64(sqlite3_value_int64(v));
		break;
	case SQLITE_FLOAT:
		d = sqlite3_value_double(v);
		if (!isfinite(d))
			return NULL;
		o = json_object_new_double(d);
		break;
	case SQLITE_TEXT:
		o = xjob_text(
		    sqlite3_value_text(v), (size_t)sqlite3_value_bytes(v));
		break;
	case SQLITE_BLOB:
		o = xjob_hex(
		    sqlite3_value_blob(v), (size_t)sqlite3_value_bytes(v));
		break;
	default:
		return NULL;
	}
	*ok = o != NULL;
	return o;
}

json_object *
xjob_value(sqlite3_stmt *st, int i, int *ok)
{
	return xjob_sqlvalue(sqlite3_column_value(st, i), ok);
}

json_object *
xjob_row(sqlite3_stmt *st)
{
	json_object *row = json_object_new_array(), *v;
	int i, n = sqlite3_column_count(st), ok;

	for (i = 0; row != NULL && i < n; i++) {
		v = xjob_value(st, i, &ok);
		if (!ok || json_object_array_add(row, v) != 0) {
			json_object_put(v);
			json_object_put(row);
			row = NULL;
		}
	}
	return row;
}

json_object *
xjob_columns(sqlite3_stmt *st)
{
	json_object *cols = json_object_new_array(), *s;
	const char *name;
	int i, n = sqlite3_column_count(st);

	for (i = 0; cols != NULL && i < n; i++) {
		name = sqlite3_column_name(st, i);
		s = name ? xjob_text((const unsigned char *)name, strlen(name))
		         : NULL;
		if (s == NULL || json_object_array_add(cols, s) != 0) {
			json_object_put(s);
			json_object_put(cols);
			cols = NULL;
		}
	}
	return cols;
}

void
xjob_file_name(
    const struct exec_input *in, const char *suffix, char *out, size_t len)
{
	size_t i;
	char *p;

	snprintf(
	    out, len, "%s.%lld%s", in->address, (long long)in->ordinal, suffix);
	for (p = out; *p != '\0'; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		        *p) == NULL)
			*p = '_';

	/* The address starts with the type, but a dot file would hide. */
	for (i = 0; out[i] == '.'; i++)
		out[i] = '_';
}

/*
 * The scheduler ends a cancelled or timed-out run with SIGTERM (SIGKILL
 * only after kill_grace_ms).  While a file is being written, the handler
 * removes it and the journal SQLite may keep beside it, then lets the
 * signal end the process as before.  Only one file is written at a time.
 */
static volatile sig_atomic_t xfile_term_dirfd = -1;
static char xfile_term_tmp[sizeof((struct xfile *)0)->tmp];
static char xfile_term_journal[sizeof xfile_term_tmp + sizeof "-journal"];

static void
xfile_on_term(int sig)
{
	int dirfd = xfile_term_dirfd;

	if (dirfd != -1) {
		unlinkat(dirfd, xfile_term_tmp, 0);
		unlinkat(dirfd, xfile_term_journal, 0);
	}

	/* SA_RESETHAND restored the default: the signal ends the process
	 * once the handler returns. */
	raise(sig);
}

/* Arms the handler for f; its names are set before the handler can see
 * the descriptor. */
static void
xfile_arm_term(const struct xfile *f)
{
	struct sigaction sa;

	memcpy(xfile_term_tmp, f->tmp, sizeof xfile_term_tmp);
	snprintf(xfile_term_journal, sizeof xfile_term_journal, "%s-journal",
	    f->tmp);
	xfile_term_dirfd = f->dirfd;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = xfile_on_term;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

int
xfile_open(struct xjob *j, struct xfile *f, const char *dir, const char *name,
    int want_fd)
{
	int fd;

	f->fd = -1;
	snprintf(f->name, sizeof f->name, "%s", name);
	snprintf(f->tmp, sizeof f->tmp, ".%s.tmp.%ld", name, (long)getpid());
	snprintf(f->path, sizeof f->path, "%s/%s", dir, f->tmp);
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd == -1)
		return xjob_fail(j, XS_IO_ERROR,
		    "target directory cannot be opened: %s", strerror(errno));
	xfile_arm_term(f);

	/* A leftover of a killed run with the same pid is replaced. */
	unlinkat(f->dirfd, f->tmp, 0);
	fd = openat(
	    f->dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1)
		return xjob_fail(j, XS_IO_ERROR,
		    "cannot create a file in the target: %s", strerror(errno));
	if (want_fd)
		f->fd = fd;
	else
		close(fd);
	return XS_OK;
}

int
xfile_commit(struct xjob *j, struct xfile *f)
{
	int fd = f->fd;

	f->fd = -1;
	if (fd == -1)
		fd = openat(f->dirfd, f->tmp, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) != 0) {
		if (fd != -1)
			close(fd);
		return xjob_fail(j, XS_IO_ERROR, "cannot sync the file: %s",
		    strerror(errno));
	}
	if (close(fd) != 0)
		return xjob_fail(j, XS_IO_ERROR, "cannot write the file: %s",
		    strerror(errno));

	/* Readers of the target see the whole file or none. */
	if (renameat(f->dirfd, f->tmp, f->dirfd, f->name) != 0)
		return xjob_fail(j, XS_IO_ERROR, "cannot rename the file: %s",
		    strerror(errno));
	f->tmp[0] = '\0';
	if (fsync(f->dirfd) != 0)
		return xjob_fail(j, XS_IO_ERROR,
		    "cannot sync the target directory: %s", strerror(errno));
	return XS_OK;
}

void
xfile_abort(struct xfile *f)
{
	char journal[sizeof xfile_term_journal];

	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;

	/* Removed before the handler is disarmed: a SIGTERM in between
	 * removes the same names again, which is harmless. */
	if (f->dirfd != -1 && f->tmp[0] != '\0') {
		snprintf(journal, sizeof journal, "%s-journal", f->tmp);
		unlinkat(f->dirfd, f->tmp, 0);
		unlinkat(f->dirfd, journal, 0);
	}
	f->tmp[0] = '\0';
	if (f->dirfd != -1) {
		xfile_term_dirfd = -1;
		close(f->dirfd);
	}
	f->dirfd = -1;
}
