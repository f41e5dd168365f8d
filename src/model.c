/*
 * The resources of the contract (sections 2 and 3): wire names of the
 * enums, timestamps, strict parsing of request bodies and validation of
 * the operation and job "info" documents.
 */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"

/* Largest integer the contract allows for delays, factors and timeouts. */
#define MODEL_INT_MAX BACKOFF_MAX_MS

/* How much of a user's value an error message quotes back. */
#define MODEL_QUOTE_MAX 64

const char *const op_type_names[OP_TYPE__MAX] = {
	[OP_TYPE_PUBLISH] = "PUBLISH",
	[OP_TYPE_REPLICATE] = "REPLICATE",
	[OP_TYPE_RECONCILE] = "RECONCILE",
	[OP_TYPE_REPORT] = "REPORT",
	[OP_TYPE_VALIDATE] = "VALIDATE",
	[OP_TYPE_DETECT] = "DETECT",
};

const char *const job_status_names[JOB_STATUS__MAX] = {
	[JOB_EXECUTING] = "EXECUTING",
	[JOB_PAUSED] = "PAUSED",
	[JOB_STOPPED] = "STOPPED",
};

const char *const exec_status_names[EXEC_STATUS__MAX] = {
	[EXEC_STARTED] = "STARTED",
	[EXEC_SUCCEEDED] = "SUCCEEDED",
	[EXEC_FAILED] = "FAILED",
	[EXEC_TIMED_OUT] = "TIMED_OUT",
	[EXEC_CANCELLED] = "CANCELLED",
	[EXEC_ABANDONED] = "ABANDONED",
};

_Static_assert(sizeof(op_type_names) / sizeof(op_type_names[0]) == OP_TYPE__MAX,
    "op_type_names must name every enum op_type");
_Static_assert(
    sizeof(job_status_names) / sizeof(job_status_names[0]) == JOB_STATUS__MAX,
    "job_status_names must name every enum job_status");
_Static_assert(sizeof(exec_status_names) / sizeof(exec_status_names[0]) ==
                   EXEC_STATUS__MAX,
    "exec_status_names must name every enum exec_status");

int
model_lookup(const char *const *names, int n, const char *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/*
 * Time.
 */

/* The range of four-digit years, so that every instant formats in 24. */
#define TIME_MIN_MS INT64_C(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define TIME_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define DAY_MS INT64_C(86400000)

int64_t
model_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_REALTIME always exists; a failure would mean a bad pointer. */
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The one layout that is written; '9' stands for one decimal digit. */
static const char time_layout[] = "9999-99-99T99:99:99.999Z";

_Static_assert(sizeof(time_layout) == MODEL_TIME_LEN,
    "MODEL_TIME_LEN must hold the time layout");

/* Writes the layout, filling each run of '9' with the next of values. */
static void
time_layout_fill(char *buf, const int *values)
{
	size_t i, j, run;
	int v;

	for (i = 0; time_layout[i] != '\0'; i += run) {
		for (run = 0; time_layout[i + run] == '9'; run++)
			;
		if (run == 0) {
			buf[i] = time_layout[i];
			run = 1;
			continue;
		}
		v = *values++;
		for (j = run; j > 0; j--, v /= 10)
			buf[i + j - 1] = (char)('0' + v % 10);
	}
	buf[i] = '\0';
}

void
model_format_time(int64_t ms, char buf[MODEL_TIME_LEN])
{
	struct tm tm;
	int64_t secs, frac;
	time_t t;

	/* Clamped so that the year keeps four digits and the text fits. */
	if (ms < TIME_MIN_MS)
		ms = TIME_MIN_MS;
	if (ms > TIME_MAX_MS)
		ms = TIME_MAX_MS;

	/* Floor division: instants before 1970 still have 0..999 ms. */
	secs = ms / 1000;
	frac = ms % 1000;
	if (frac < 0) {
		secs--;
		frac += 1000;
	}

	t = (time_t)secs;
	/* It cannot fail within the clamped range; the epoch keeps the form. */
	if (gmtime_r(&t, &tm) == NULL)
		tm = (struct tm){ .tm_year = 70, .tm_mday = 1 };
	time_layout_fill(
	    buf, (const int[]){ tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac });
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	/* Count years from March so that the leap day ends a year. */
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 ? 28 + leap : days[m - 1];
}

/* Whether s matches layout, where '9' stands for one ASCII digit. */
static int
time_matches(const char *s, const char *layout)
{
	for (; *layout != '\0'; s++, layout++) {
		if (*layout == '9' ? *s < '0' || *s > '9' : *s != *layout)
			return 0;
	}
	return *s == '\0';
}

/* The n digits at s as a number; time_matches() checked they are. */
static int
time_field(const char *s, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*s++ - '0');
	return v;
}

int
model_parse_time(const char *s, int64_t *ms)
{
	static const char *const layouts[] = {
		"9999-99-99",
		"9999-99-99T99:99:99Z",
		"9999-99-99T99:99:99.999Z",
	};
	int year, month, day, hour = 0, min = 0, sec = 0, milli = 0;
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (time_matches(s, layouts[i]))
			break;
	if (i == sizeof(layouts) / sizeof(layouts[0]))
		return -1;

	/* The layouts share their prefixes, so the offsets are fixed. */
	year = time_field(s, 4);
	month = time_field(s + 5, 2);
	day = time_field(s + 8, 2);
	if (i > 0) {
		hour = time_field(s + 11, 2);
		min = time_field(s + 14, 2);
		sec = time_field(s + 17, 2);
	}
	if (i > 1)
		milli = time_field(s + 20, 3);

	/* UTC has no leap seconds in POSIX time, and 24:00 is not a time. */
	if (month < 1 || month > 12 || day < 1 ||
	    day > days_in_month(year, month))
		return -1;
	if (hour > 23 || min > 59 || sec > 59)
		return -1;

	*ms = days_from_civil(year, month, day) * DAY_MS +
	      ((int64_t)hour * 3600 + min * 60 + sec) * 1000 + milli;
	return 0;
}

/*
 * Text: UTF-8 and the rules for identifiers, roles and parameter keys.
 */

size_t
model_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, v = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}

	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}

	/* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
	if (v < min || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return len;
}

/* C0, DEL and C1: none of them belongs in a name or a message. */
static int
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Cuts a truncated NUL-terminated buffer back to whole UTF-8 sequences. */
static void
utf8_trim(char *buf)
{
	size_t len = strlen(buf), lead = len;
	uint32_t cp;

	while (lead > 0 && len - lead < 4 &&
	       ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead > 0 && ((unsigned char)buf[lead - 1] & 0x80) != 0)
		lead--;
	else
		return;
	if (model_utf8_decode((const unsigned char *)buf + lead, len - lead,
	        &cp) != len - lead)
		buf[lead] = '\0';
}

enum text_fault {
	TEXT_OK,
	TEXT_LENGTH,
	TEXT_UTF8,
	TEXT_CONTROL,
	TEXT_FORBIDDEN
};

/* What a piece of text from a request may be. */
struct text_rule {
	size_t min, max;       /* bytes */
	const char *forbidden; /* ASCII characters it may not contain */
	const char *why;       /* the reason for forbidden, or NULL */
};

static const struct text_rule identifier_rule = { 1, MODEL_MAX_SEGMENT, "*",
	NULL };
static const struct text_rule role_rule = { 1, 128, ",",
	"roles are passed comma-separated" };
static const struct text_rule quote_rule = { 0, MODEL_QUOTE_MAX, "", NULL };
static const struct text_rule parameter_key_rule = { 1, MODEL_MAX_PARAMETER_KEY,
	"", NULL };

/* Finds the first fault of s; *at and *cp say where and what it is. */
static enum text_fault
text_scan(const char *s, size_t len, const struct text_rule *r, size_t *at,
    uint32_t *cp)
{
	size_t n;

	*at = 0;
	*cp = 0;
	if (len < r->min || len > r->max)
		return TEXT_LENGTH;

	for (; *at < len; *at += n) {
		n = model_utf8_decode(
		    (const unsigned char *)s + *at, len - *at, cp);
		if (n == 0)
			return TEXT_UTF8;
		if (is_control(*cp))
			return TEXT_CONTROL;
		if (*cp != 0 && *cp < 0x80 &&
		    strchr(r->forbidden, (int)*cp) != NULL)
			return TEXT_FORBIDDEN;
	}
	return TEXT_OK;
}

/* Explains a fault of text_scan() about what into buf. */
static void
text_explain(const char *what, const struct text_rule *r, enum text_fault fault,
    size_t at, uint32_t cp, char *buf, size_t len)
{
	switch (fault) {
	case TEXT_LENGTH:
		snprintf(buf, len, "%s must be %zu to %zu bytes of UTF-8", what,
		    r->min, r->max);
		break;
	case TEXT_UTF8:
		snprintf(buf, len,
		    "%s must be valid UTF-8 (invalid sequence at byte %zu)",
		    what, at);
		break;
	case TEXT_CONTROL:
		snprintf(buf, len,
		    "%s must not contain control characters (U+%04" PRIX32
		    " at byte %zu)",
		    what, cp, at);
		break;
	case TEXT_FORBIDDEN:
		snprintf(buf, len, "%s must not contain '%c'%s%s", what,
		    (char)cp, r->why != NULL ? ": " : "",
		    r->why != NULL ? r->why : "");
		break;
	case TEXT_OK:
		snprintf(buf, len, "%s is valid", what);
		break;
	}
}

/* Checks s against r; on a fault explains it into buf and returns it. */
static enum text_fault
text_check(const char *what, const char *s, size_t len,
    const struct text_rule *r, char *buf, size_t buf_len)
{
	enum text_fault fault;
	size_t at;
	uint32_t cp;

	fault = text_scan(s, len, r, &at, &cp);
	if (fault != TEXT_OK && buf != NULL && buf_len > 0)
		text_explain(what, r, fault, at, cp, buf, buf_len);
	return fault;
}

enum err
model_check_identifier(const char *what, const char *s, size_t len,
    char *detail, size_t detail_len)
{
	if (s == NULL)
		len = 0;
	if (text_check(what, s, len, &identifier_rule, detail, detail_len) !=
	    TEXT_OK)
		return ERR_VALIDATION;
	return ERR_OK;
}

/*
 * Strict JSON.  json-c is lenient even with JSON_TOKENER_STRICT: it takes
 * NaN, Infinity, single-quoted strings, "-01", "1.", raw control
 * characters in strings, overlong UTF-8 and unpaired surrogates, and keeps
 * the last of duplicate keys.  A second pass over the text json-c
 * accepted rejects all of that.
 */

/* A key as written in the text, for naming a duplicate. */
struct json_key {
	size_t object;   /* ordinal of the enclosing object */
	size_t offset;   /* of the opening quote */
	const char *raw; /* between the quotes, escapes undecoded */
	size_t len;
};

struct json_scan {
	const char *text;
	size_t len, pos;
	size_t nkeys;          /* ':' outside strings: one per member */
	struct json_key *keys; /* NULL when only counting */
	size_t objects;
	int depth;
	struct {
		int is_object;
		int want_key;
		size_t id;
	} stack[MODEL_MAX_JSON_DEPTH];
	char *detail;
	size_t detail_len;
};

static enum err
scan_fail(struct json_scan *sc, size_t at, const char *what)
{
	return err_set(sc->detail, sc->detail_len, ERR_BAD_JSON,
	    "invalid JSON at offset %zu: %s", at, what);
}

static int
hex4(const char *s, size_t n, unsigned *v)
{
	size_t i;

	*v = 0;
	if (n < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		unsigned c = (unsigned char)s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | d;
	}
	return 0;
}

/*
 * Skips the escape at sc->pos (the backslash).  \u must pair surrogates,
 * and a key may not hold \u0000: json-c would cut the key there.
 */
static enum err
scan_escape(struct json_scan *sc, int is_key)
{
	const char *p = sc->text + sc->pos;
	size_t left = sc->len - sc->pos;
	unsigned hi, lo;

	if (left < 2 || p[1] == '\0' || strchr("\"\\/bfnrtu", p[1]) == NULL)
		return scan_fail(sc, sc->pos, "invalid escape sequence");
	if (p[1] != 'u') {
		sc->pos += 2;
		return ERR_OK;
	}

	if (hex4(p + 2, left - 2, &hi) == -1)
		return scan_fail(sc, sc->pos, "invalid \\u escape");
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return scan_fail(sc, sc->pos, "unpaired UTF-16 surrogate");
	if (hi == 0 && is_key)
		return scan_fail(sc, sc->pos, "\\u0000 in an object key");
	if (hi < 0xd800 || hi > 0xdbff) {
		sc->pos += 6;
		return ERR_OK;
	}

	/* A high surrogate means nothing without the low one after it. */
	if (left < 12 || p[6] != '\\' || p[7] != 'u' ||
	    hex4(p + 8, left - 8, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff)
		return scan_fail(sc, sc->pos, "unpaired UTF-16 surrogate");
	sc->pos += 12;
	return ERR_OK;
}

/* Skips the string at sc->pos (its opening quote), recording keys. */
static enum err
scan_string(struct json_scan *sc, int is_key)
{
	size_t start = sc->pos++, n;
	uint32_t cp;
	enum err e;

	while (sc->pos < sc->len && sc->text[sc->pos] != '"') {
		unsigned char c = (unsigned char)sc->text[sc->pos];

		if (c == '\\') {
			if ((e = scan_escape(sc, is_key)) != ERR_OK)
				return e;
			continue;
		}
		if (c < 0x20)
			return scan_fail(sc, sc->pos,
			    "unescaped control character in a string");
		n = model_utf8_decode((const unsigned char *)sc->text + sc->pos,
		    sc->len - sc->pos, &cp);
		if (n == 0)
			return scan_fail(sc, sc->pos, "invalid UTF-8");
		sc->pos += n;
	}
	if (sc->pos == sc->len)
		return scan_fail(sc, start, "unterminated string");

	if (is_key && sc->keys != NULL) {
		struct json_key *k = &sc->keys[sc->nkeys];

		k->object = sc->stack[sc->depth - 1].id;
		k->offset = start;
		k->raw = sc->text + start + 1;
		k->len = sc->pos - start - 1;
	}
	sc->pos++;
	return ERR_OK;
}

/* Skips true, false or null; json-c also knows NaN and Infinity. */
static enum err
scan_literal(struct json_scan *sc)
{
	static const char *const literals[] = { "true", "false", "null" };
	size_t start = sc->pos, n, i;

	while (sc->pos < sc->len &&
	       ((sc->text[sc->pos] >= 'a' && sc->text[sc->pos] <= 'z') ||
	           (sc->text[sc->pos] >= 'A' && sc->text[sc->pos] <= 'Z')))
		sc->pos++;
	n = sc->pos - start;
	for (i = 0; i < sizeof(literals) / sizeof(literals[0]); i++)
		if (strlen(literals[i]) == n &&
		    memcmp(sc->text + start, literals[i], n) == 0)
			return ERR_OK;
	return scan_fail(sc, start, "expected true, false or null");
}

static size_t
skip_digits(const char *s, size_t i, size_t n)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* Skips a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static enum err
scan_number(struct json_scan *sc)
{
	const char *s = sc->text;
	size_t start = sc->pos, i = sc->pos, n = sc->len, j;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		i = skip_digits(s, i, n);
	else
		return scan_fail(sc, start, "invalid number");

	if (i < n && s[i] == '.') {
		j = skip_digits(s, i + 1, n);
		if (j == i + 1)
			return scan_fail(sc, start, "invalid number");
		i = j;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		j = skip_digits(s, i, n);
		if (j == i)
			return scan_fail(sc, start, "invalid number");
		i = j;
	}

	/* "-01" stops after "-0": whatever follows must be punctuation. */
	if (i < n && s[i] != '\0' && strchr("0123456789.eE+-", s[i]) != NULL)
		return scan_fail(sc, start, "invalid number");
	sc->pos = i;
	return ERR_OK;
}

/* Opens an object or array.  The depth limit counts containers: json-c
 * counted value levels, one more, so it let through 65 empty ones. */
static enum err
scan_open(struct json_scan *sc, int is_object)
{
	if (sc->depth >= MODEL_MAX_JSON_DEPTH)
		return err_set(sc->detail, sc->detail_len, ERR_BAD_JSON,
		    "JSON nested deeper than %d levels", MODEL_MAX_JSON_DEPTH);
	sc->stack[sc->depth].is_object = is_object;
	sc->stack[sc->depth].want_key = is_object;
	sc->stack[sc->depth].id = is_object ? sc->objects++ : 0;
	sc->depth++;
	sc->pos++;
	return ERR_OK;
}

/* Handles one punctuation byte at sc->pos. */
static enum err
scan_punct(struct json_scan *sc, char c)
{
	int top = sc->depth - 1;

	switch (c) {
	case '{':
	case '[':
		return scan_open(sc, c == '{');
	case '}':
	case ']':
		if (sc->depth > 0)
			sc->depth--;
		break;
	case ':':
		sc->nkeys++;
		if (top >= 0)
			sc->stack[top].want_key = 0;
		break;
	case ',':
		if (top >= 0)
			sc->stack[top].want_key = sc->stack[top].is_object;
		break;
	case ' ':
	case '\t':
	case '\n':
	case '\r':
		break;
	default:
		return scan_fail(sc, sc->pos, "unexpected character");
	}
	sc->pos++;
	return ERR_OK;
}

/* Walks text[0, len) once; json-c has already checked its structure. */
static enum err
scan_run(struct json_scan *sc)
{
	enum err e;
	int top;
	char c;

	while (sc->pos < sc->len) {
		c = sc->text[sc->pos];
		top = sc->depth - 1;
		if (c == '"')
			e = scan_string(
			    sc, top >= 0 && sc->stack[top].want_key);
		else if (c == '-' || (c >= '0' && c <= '9'))
			e = scan_number(sc);
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			e = scan_literal(sc);
		else
			e = scan_punct(sc, c);
		if (e != ERR_OK)
			return e;
	}
	return ERR_OK;
}

/* Members over every object of the tree, as json-c kept them. */
static size_t
tree_members(json_object *o)
{
	struct json_object_iterator it, end;
	size_t n = 0, i;

	if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++)
			n += tree_members(json_object_array_get_idx(o, i));
		return n;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;

	n = (size_t)json_object_object_length(o);
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		n += tree_members(json_object_iter_peek_value(&it));
	return n;
}

static int
key_compare(const void *a, const void *b)
{
	const struct json_key *x = a, *y = b;
	int c;

	if (x->object != y->object)
		return x->object < y->object ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->raw, y->raw, x->len);
	if (c != 0)
		return c;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Longest prefix of s within max bytes that ends on a whole sequence. */
static size_t
utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static int
same_key(const struct json_key *a, const struct json_key *b)
{
	return a->object == b->object && a->len == b->len &&
	       memcmp(a->raw, b->raw, a->len) == 0;
}

/*
 * Names the first repeated key in text order.  Keys spelt differently
 * ("a" and "\u0061") cannot be paired here; the message stays general.
 */
static enum err
report_duplicate(
    const char *text, size_t len, size_t nkeys, char *detail, size_t detail_len)
{
	struct json_scan sc = { 0 };
	const struct json_key *dup = NULL;
	size_t i, shown;
	enum err e = ERR_BAD_JSON;

	sc.keys = calloc(nkeys + 1, sizeof(*sc.keys));
	if (sc.keys == NULL)
		return err_set(
		    detail, detail_len, ERR_INTERNAL, "out of memory");
	sc.text = text;
	sc.len = len;
	(void)scan_run(&sc);

	/* Sorted, repeats are neighbours; the first in the text wins. */
	qsort(sc.keys, sc.nkeys, sizeof(*sc.keys), key_compare);
	for (i = 1; i < sc.nkeys; i++)
		if (same_key(&sc.keys[i - 1], &sc.keys[i]) &&
		    (dup == NULL || sc.keys[i].offset < dup->offset))
			dup = &sc.keys[i];

	if (dup == NULL) {
		err_set(
		    detail, detail_len, e, "duplicate key in a JSON object");
		goto out;
	}
	shown = utf8_prefix(dup->raw, dup->len, MODEL_QUOTE_MAX);
	err_set(detail, detail_len, e, "duplicate key \"%.*s\"%s at offset %zu",
	    (int)shown, dup->raw, shown < dup->len ? "..." : "", dup->offset);
out:
	free(sc.keys);
	return e;
}

/* Runs json-c over the whole body; *end is where the value stopped. */
static enum err
json_tokenize(const char *text, size_t len, size_t first, json_object **obj,
    size_t *end, char *detail, size_t detail_len)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;

	/* json-c counts the values inside the innermost container as a
	 * level too: 64 containers holding a number are 65 levels. */
	tok = json_tokener_new_ex(MODEL_MAX_JSON_DEPTH + 1);
	if (tok == NULL)
		return err_set(
		    detail, detail_len, ERR_INTERNAL, "out of memory");

	/* Trailing bytes are allowed here only to name them precisely. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	                                JSON_TOKENER_VALIDATE_UTF8 |
	                                JSON_TOKENER_ALLOW_TRAILING_CHARS);
	*obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	*end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	switch (jerr) {
	case json_tokener_success:
		return ERR_OK;
	case json_tokener_continue:
		/* A bare number or literal waits for more; so does "{". */
		if (text[first] != '{' && text[first] != '[')
			return err_set(detail, detail_len, ERR_BAD_JSON,
			    "the body must be a JSON object");
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "invalid JSON: the body ends at offset %zu inside the "
		    "value",
		    len);
	case json_tokener_error_depth:
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "JSON nested deeper than %d levels", MODEL_MAX_JSON_DEPTH);
	default:
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "invalid JSON at offset %zu: %s", *end,
		    json_tokener_error_desc(jerr));
	}
}

static size_t
skip_space(const char *s, size_t i, size_t n)
{
	while (i < n &&
	       (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The checks after json-c: trailing bytes, type, strictness, keys. */
static enum err
json_verify(const char *text, size_t len, size_t end, json_object *obj,
    char *detail, size_t detail_len)
{
	struct json_scan sc = { 0 };
	size_t after;
	enum err e;

	after = skip_space(text, end, len);
	if (after < len)
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "trailing characters after the JSON value at offset %zu",
		    after);
	if (!json_object_is_type(obj, json_type_object))
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "the body must be a JSON object");

	sc.text = text;
	sc.len = end;
	sc.detail = detail;
	sc.detail_len = detail_len;
	if ((e = scan_run(&sc)) != ERR_OK)
		return e;

	/* Outside strings ':' only separates members; json-c drops repeats. */
	if (sc.nkeys != tree_members(obj))
		return report_duplicate(
		    text, end, sc.nkeys, detail, detail_len);
	return ERR_OK;
}

enum err
model_parse_json(const char *text, size_t len, json_object **out, char *detail,
    size_t detail_len)
{
	json_object *obj = NULL;
	const char *nul;
	size_t first, end = 0;
	enum err e;

	*out = NULL;
	if (text == NULL)
		len = 0;

	/* json-c would stop at a NUL and ignore whatever follows it. */
	nul = len > 0 ? memchr(text, '\0', len) : NULL;
	if (nul != NULL)
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "the body contains a NUL byte at offset %zu",
		    (size_t)(nul - text));
	first = skip_space(text, 0, len);
	if (first == len)
		return err_set(detail, detail_len, ERR_BAD_JSON,
		    "the body is empty; expected a JSON object");
	if (len > INT_MAX)
		return err_set(detail, detail_len, ERR_TOO_LARGE,
		    "the body is too large to parse");

	e = json_tokenize(text, len, first, &obj, &end, detail, detail_len);
	if (e == ERR_OK)
		e = json_verify(text, len, end, obj, detail, detail_len);
	if (e != ERR_OK) {
		json_object_put(obj);
		return e;
	}
	*out = obj;
	return ERR_OK;
}

/*
 * Validation of documents: field errors.
 */

static enum err field_error(struct model_field_error *fe, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Fills fe (which may be NULL) and returns ERR_VALIDATION. */
static enum err
field_error(
    struct model_field_error *fe, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (fe == NULL)
		return ERR_VALIDATION;
	snprintf(fe->field, sizeof(fe->field), "%s", field);
	utf8_trim(fe->field);
	va_start(ap, fmt);
	vsnprintf(fe->message, sizeof(fe->message), fmt, ap);
	va_end(ap);
	utf8_trim(fe->message);
	return ERR_VALIDATION;
}

/* The path of member key inside parent, such as "info.backoff.x".  Paths
 * are built for every field checked, valid or not, so without printf,
 * which made them a tenth of a PUT's work. */
static void
field_path(char *buf, size_t len, const char *parent, const char *key)
{
	size_t p = strlen(parent), k = strlen(key);

	if (p + 1 + k >= len) {
		snprintf(buf, len, "%s.%s", parent, key);
		return;
	}
	memcpy(buf, parent, p);
	buf[p] = '.';
	memcpy(buf + p + 1, key, k + 1);
}

/* The path of element index of array parent, such as "info.roles[2]". */
static void
index_path(char *buf, size_t len, const char *parent, size_t index)
{
	char digits[24];
	size_t p = strlen(parent), n = 0;

	do {
		digits[n++] = (char)('0' + index % 10);
		index /= 10;
	} while (index != 0);
	if (p + n + 2 >= len) {
		snprintf(buf, len, "%s[...]", parent);
		return;
	}
	memcpy(buf, parent, p);
	buf[p++] = '[';
	while (n > 0)
		buf[p++] = digits[--n];
	buf[p++] = ']';
	buf[p] = '\0';
}

/* Describes a value for "..., not %s": its text when short, else kind. */
static void
describe(json_object *v, char *buf, size_t len)
{
	static const char *const kinds[] = {
		[json_type_null] = "null",
		[json_type_boolean] = "a boolean",
		[json_type_double] = "a number",
		[json_type_int] = "a number",
		[json_type_object] = "an object",
		[json_type_array] = "an array",
		[json_type_string] = "a string",
	};
	enum json_type t = json_object_get_type(v);
	const char *s;
	size_t n;

	if (t == json_type_string) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (text_check("", s, n, &quote_rule, NULL, 0) == TEXT_OK) {
			snprintf(buf, len, "\"%s\"", s);
			return;
		}
	} else if (t != json_type_object && t != json_type_array) {
		s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		if (s != NULL && strlen(s) <= MODEL_QUOTE_MAX) {
			snprintf(buf, len, "%s", s);
			return;
		}
	}
	snprintf(buf, len, "%s", kinds[t]);
}

static enum err
check_int(json_object *v, const char *field, int64_t min, int64_t max,
    int64_t *out, struct model_field_error *fe)
{
	char got[MODEL_QUOTE_MAX + 8];
	int64_t n;

	/* Only integers as written: 1.0, 1e3 and "1" are other types. */
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		if (n >= min && n <= max) {
			*out = n;
			return ERR_OK;
		}
	}
	describe(v, got, sizeof(got));
	return field_error(fe, field,
	    "must be an integer from %" PRId64 " to %" PRId64 ", not %s", min,
	    max, got);
}

static enum err
check_string(json_object *v, const char *field, const char **s, size_t *len,
    struct model_field_error *fe)
{
	char got[MODEL_QUOTE_MAX + 8];

	if (!json_object_is_type(v, json_type_string)) {
		describe(v, got, sizeof(got));
		return field_error(fe, field, "must be a string, not %s", got);
	}
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return ERR_OK;
}

/* Rejects the first key of obj that is not in keys[0..n). */
static enum err
check_known_keys(json_object *obj, const char *parent, const char *const *keys,
    size_t n, struct model_field_error *fe)
{
	struct json_object_iterator it, end;
	char field[sizeof(fe->field)];
	const char *key;
	size_t i;

	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		for (i = 0; i < n; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == n) {
			field_path(field, sizeof(field), parent, key);
			return field_error(fe, field, "unknown field");
		}
	}
	return ERR_OK;
}

/*
 * Backoff.
 */

static const struct backoff_field {
	const char *key;
	size_t offset; /* of the int64_t in struct backoff */
	int64_t min;
} backoff_fields[] = {
	{ "initial_delay_in_millis", offsetof(struct backoff, initial_ms), 0 },
	{ "minimum_delay_in_millis", offsetof(struct backoff, minimum_ms), 0 },
	{ "maximum_delay_in_millis", offsetof(struct backoff, maximum_ms), 0 },
	{ "delay_increase", offsetof(struct backoff, increase), 1 },
	{ "delay_decrease", offsetof(struct backoff, decrease), 1 },
};

#define BACKOFF_FIELDS (sizeof(backoff_fields) / sizeof(backoff_fields[0]))

static int64_t *
backoff_member(struct backoff *b, const struct backoff_field *f)
{
	return (int64_t *)(void *)((char *)b + f->offset);
}

/* The delays must nest: minimum <= initial <= maximum. */
static enum err
backoff_check_order(
    const struct backoff *b, const char *prefix, struct model_field_error *fe)
{
	char field[sizeof(fe->field)];

	if (b->minimum_ms > b->maximum_ms) {
		field_path(
		    field, sizeof(field), prefix, "minimum_delay_in_millis");
		return field_error(fe, field,
		    "must not exceed maximum_delay_in_millis (%" PRId64
		    "), not %" PRId64,
		    b->maximum_ms, b->minimum_ms);
	}
	if (b->initial_ms < b->minimum_ms || b->initial_ms > b->maximum_ms) {
		field_path(
		    field, sizeof(field), prefix, "initial_delay_in_millis");
		return field_error(fe, field,
		    "must be from minimum_delay_in_millis (%" PRId64
		    ") to maximum_delay_in_millis (%" PRId64 "), not %" PRId64,
		    b->minimum_ms, b->maximum_ms, b->initial_ms);
	}
	return ERR_OK;
}

enum err
model_backoff_from_json(json_object *obj, const char *prefix, struct backoff *b,
    struct model_field_error *fe)
{
	const char *keys[BACKOFF_FIELDS];
	char field[sizeof(fe->field)], got[MODEL_QUOTE_MAX + 8];
	struct backoff tmp;
	json_object *v;
	size_t i;
	enum err e;

	if (!json_object_is_type(obj, json_type_object)) {
		describe(obj, got, sizeof(got));
		return field_error(
		    fe, prefix, "must be an object, not %s", got);
	}
	for (i = 0; i < BACKOFF_FIELDS; i++)
		keys[i] = backoff_fields[i].key;
	if ((e = check_known_keys(obj, prefix, keys, BACKOFF_FIELDS, fe)))
		return e;

	for (i = 0; i < BACKOFF_FIELDS; i++) {
		const struct backoff_field *f = &backoff_fields[i];

		field_path(field, sizeof(field), prefix, f->key);
		if (!json_object_object_get_ex(obj, f->key, &v))
			return field_error(fe, field, "is required");
		e = check_int(v, field, f->min, BACKOFF_MAX_MS,
		    backoff_member(&tmp, f), fe);
		if (e != ERR_OK)
			return e;
	}
	if ((e = backoff_check_order(&tmp, prefix, fe)) != ERR_OK)
		return e;

	assert(backoff_is_valid(&tmp));
	*b = tmp;
	return ERR_OK;
}

json_object *
model_backoff_to_json(const struct backoff *b)
{
	struct backoff copy = *b;
	json_object *obj, *v;
	size_t i;

	if ((obj = json_object_new_object()) == NULL)
		return NULL;
	for (i = 0; i < BACKOFF_FIELDS; i++) {
		v = json_object_new_int64(
		    *backoff_member(&copy, &backoff_fields[i]));
		if (v == NULL || json_object_object_add(
		                     obj, backoff_fields[i].key, v) != 0) {
			json_object_put(v);
			json_object_put(obj);
			return NULL;
		}
	}
	return obj;
}

/*
 * Info documents, each declared as a table of its fields.
 */

/* What the checks of one document collect. */
struct info_out {
	const char *info_type; /* the "@type" the document must carry */
	enum op_type type;
	const char *ident; /* definition or name */
	int has_backoff;
	struct backoff backoff;
	int64_t timeout_ms;
};

typedef enum err info_check_fn(json_object *v, const char *field,
    struct info_out *out, struct model_field_error *fe);

struct info_field {
	const char *key;
	int required;
	info_check_fn *check;
};

static enum err
check_info_type(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	char got[MODEL_QUOTE_MAX + 8];

	if (json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), out->info_type) == 0 &&
	    strlen(out->info_type) == (size_t)json_object_get_string_len(v))
		return ERR_OK;
	describe(v, got, sizeof(got));
	return field_error(
	    fe, field, "must be \"%s\", not %s", out->info_type, got);
}

static enum err
check_op_type(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	char got[MODEL_QUOTE_MAX + 8], allowed[128] = "";
	int i;

	/* The length check keeps "REPORT\u0000x" from matching "REPORT". */
	i = -1;
	if (json_object_is_type(v, json_type_string) &&
	    strlen(json_object_get_string(v)) ==
	        (size_t)json_object_get_string_len(v))
		i = model_lookup(
		    op_type_names, OP_TYPE__MAX, json_object_get_string(v));
	if (i >= 0) {
		out->type = (enum op_type)i;
		return ERR_OK;
	}

	for (i = 0; i < OP_TYPE__MAX; i++) {
		strncat(allowed, i > 0 ? ", " : "",
		    sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, op_type_names[i],
		    sizeof(allowed) - strlen(allowed) - 1);
	}
	describe(v, got, sizeof(got));
	return field_error(
	    fe, field, "must be one of %s, not %s", allowed, got);
}

static enum err
check_identifier_field(json_object *v, const char *field, const char *what,
    struct info_out *out, struct model_field_error *fe)
{
	char detail[sizeof(fe->message)];
	const char *s;
	size_t len;
	enum err e;

	if ((e = check_string(v, field, &s, &len, fe)) != ERR_OK)
		return e;
	if (model_check_identifier(what, s, len, detail, sizeof(detail)) !=
	    ERR_OK)
		return field_error(fe, field, "%s", detail);
	out->ident = s;
	return ERR_OK;
}

static enum err
check_definition(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	return check_identifier_field(v, field, "definition", out, fe);
}

static enum err
check_name(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	return check_identifier_field(v, field, "name", out, fe);
}

static enum err
check_backoff(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	enum err e;

	e = model_backoff_from_json(v, field, &out->backoff, fe);
	if (e == ERR_OK)
		out->has_backoff = 1;
	return e;
}

static enum err
check_roles(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	char path[sizeof(fe->field)], got[MODEL_QUOTE_MAX + 8];
	char detail[sizeof(fe->message)];
	const char *s;
	size_t i, n, len;
	enum err e;

	(void)out;
	if (!json_object_is_type(v, json_type_array)) {
		describe(v, got, sizeof(got));
		return field_error(
		    fe, field, "must be an array of strings, not %s", got);
	}

	/* Bounded like the parameters: every write compares the old and
	 * the new roles while it holds the database, and programs receive
	 * them all in one environment variable. */
	n = json_object_array_length(v);
	if (n > MODEL_MAX_ROLES)
		return field_error(fe, field,
		    "must have at most %d roles, not %zu", MODEL_MAX_ROLES, n);
	for (i = 0; i < n; i++) {
		index_path(path, sizeof(path), field, i);
		e = check_string(
		    json_object_array_get_idx(v, i), path, &s, &len, fe);
		if (e != ERR_OK)
			return e;
		if (text_check("a role", s, len, &role_rule, detail,
		        sizeof(detail)) != TEXT_OK)
			return field_error(fe, path, "%s", detail);
	}
	return ERR_OK;
}

/* One parameter: the key names an environment variable, so no NUL. */
static enum err
check_parameter(const char *field, const char *key, json_object *v,
    struct model_field_error *fe)
{
	char path[sizeof(fe->field)], detail[sizeof(fe->message)];
	const char *s;
	size_t len;
	enum err e;

	if (text_check("a parameter key", key, strlen(key), &parameter_key_rule,
	        detail, sizeof(detail)) != TEXT_OK)
		return field_error(fe, field, "%s", detail);

	field_path(path, sizeof(path), field, key);
	if ((e = check_string(v, path, &s, &len, fe)) != ERR_OK)
		return e;
	if (memchr(s, '\0', len) != NULL)
		return field_error(fe, path,
		    "must not contain NUL characters (parameters are passed "
		    "in the environment)");
	return ERR_OK;
}

static enum err
check_parameters(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	struct json_object_iterator it, end;
	char got[MODEL_QUOTE_MAX + 8];
	size_t n;
	enum err e;

	(void)out;
	if (!json_object_is_type(v, json_type_object)) {
		describe(v, got, sizeof(got));
		return field_error(fe, field,
		    "must be an object whose values are strings, not %s", got);
	}
	n = (size_t)json_object_object_length(v);
	if (n > MODEL_MAX_PARAMETERS)
		return field_error(fe, field,
		    "must have at most %d keys, not %zu", MODEL_MAX_PARAMETERS,
		    n);

	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		e = check_parameter(field, json_object_iter_peek_name(&it),
		    json_object_iter_peek_value(&it), fe);
		if (e != ERR_OK)
			return e;
	}
	return ERR_OK;
}

static enum err
check_timeout(json_object *v, const char *field, struct info_out *out,
    struct model_field_error *fe)
{
	return check_int(v, field, 1, MODEL_INT_MAX, &out->timeout_ms, fe);
}

static const struct info_field operation_fields[] = {
	{ "@type", 1, check_info_type },
	{ "type", 1, check_op_type },
	{ "definition", 1, check_definition },
	{ "backoff", 0, check_backoff },
};

static const struct info_field job_fields[] = {
	{ "@type", 1, check_info_type },
	{ "name", 1, check_name },
	{ "roles", 1, check_roles },
	{ "parameters", 0, check_parameters },
	{ "backoff", 0, check_backoff },
	{ "timeout_in_millis", 0, check_timeout },
};

#define INFO_MAX_FIELDS 8

/*
 * Checks obj against fields[0..n): unknown keys first, since a misspelt
 * key would otherwise be reported as a missing required one.
 */
static enum err
info_check(json_object *obj, const struct info_field *fields, size_t n,
    struct info_out *out, struct model_field_error *fe)
{
	const char *keys[INFO_MAX_FIELDS];
	char field[sizeof(fe->field)], got[MODEL_QUOTE_MAX + 8];
	json_object *v;
	size_t i;
	enum err e;

	assert(n <= INFO_MAX_FIELDS);
	if (!json_object_is_type(obj, json_type_object)) {
		describe(obj, got, sizeof(got));
		return field_error(
		    fe, "info", "must be an object, not %s", got);
	}
	for (i = 0; i < n; i++)
		keys[i] = fields[i].key;
	if ((e = check_known_keys(obj, "info", keys, n, fe)) != ERR_OK)
		return e;

	for (i = 0; i < n; i++) {
		field_path(field, sizeof(field), "info", fields[i].key);
		if (!json_object_object_get_ex(obj, fields[i].key, &v)) {
			if (fields[i].required)
				return field_error(fe, field, "is required");
			continue;
		}
		if ((e = fields[i].check(v, field, out, fe)) != ERR_OK)
			return e;
	}
	return ERR_OK;
}

enum err
model_operation_info_check(json_object *obj, enum op_type *type,
    const char **definition, int *has_backoff, struct backoff *backoff,
    struct model_field_error *fe)
{
	struct info_out out = { .info_type = MODEL_OPERATION_INFO_TYPE };
	enum err e;

	e = info_check(obj, operation_fields,
	    sizeof(operation_fields) / sizeof(operation_fields[0]), &out, fe);
	if (e != ERR_OK)
		return e;

	*type = out.type;
	*definition = out.ident;
	*has_backoff = out.has_backoff;
	if (out.has_backoff)
		*backoff = out.backoff;
	return ERR_OK;
}

enum err
model_job_info_check(json_object *obj, const char **name, int *has_backoff,
    struct backoff *backoff, int64_t *timeout_ms, struct model_field_error *fe)
{
	struct info_out out = { .info_type = MODEL_JOB_INFO_TYPE };
	enum err e;

	e = info_check(obj, job_fields,
	    sizeof(job_fields) / sizeof(job_fields[0]), &out, fe);
	if (e != ERR_OK)
		return e;

	*name = out.ident;
	*has_backoff = out.has_backoff;
	if (out.has_backoff)
		*backoff = out.backoff;
	*timeout_ms = out.timeout_ms;
	return ERR_OK;
}
