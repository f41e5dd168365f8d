/*
 * The list query language: page[number], page[size], sort and an RSQL
 * filter, compiled against the allow-list in a struct query_spec.
 *
 * The filter grammar, parsed by recursive descent:
 *
 *	or-expr    := and-expr ((',' | ' or ') and-expr)*
 *	and-expr   := primary ((';' | ' and ') primary)*
 *	primary    := '(' or-expr ')' | comparison
 *	comparison := selector operator argument
 *	argument   := value | '(' value (',' value)* ')'
 *	value      := bare-word | quoted-string
 *
 * The SQL text is assembled only from the spec's sql expressions, fixed
 * keywords, operators, parentheses and '?': every value, and every
 * parameter key, travels as a bound parameter.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "query.h"

/* How many bytes of request text an error message quotes at most. */
#define QUOTE_MAX 64

/* A growable NUL-terminated string; oom is sticky so that a run of
 * appends can be checked once. */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
};

enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_OUT };

/* Longer tokens come before their prefixes ("<=" before "<"). */
static const struct {
	const char *text;
	enum op op;
} op_tokens[] = {
	{ "==", OP_EQ },
	{ "!=", OP_NE },
	{ "=lt=", OP_LT },
	{ "=le=", OP_LE },
	{ "=gt=", OP_GT },
	{ "=ge=", OP_GE },
	{ "=in=", OP_IN },
	{ "=out=", OP_OUT },
	{ "<=", OP_LE },
	{ "<", OP_LT },
	{ ">=", OP_GE },
	{ ">", OP_GT },
};

static const char *const op_sql[] = {
	[OP_EQ] = " = ?",
	[OP_NE] = " <> ?",
	[OP_LT] = " < ?",
	[OP_LE] = " <= ?",
	[OP_GT] = " > ?",
	[OP_GE] = " >= ?",
	[OP_IN] = " IN (",
	[OP_OUT] = " NOT IN (",
};

/* One value as written: lit is the literal text, glob the same text as a
 * GLOB pattern in which only unescaped stars are wildcards. */
struct value {
	struct sbuf lit;
	struct sbuf glob;
	int wild;
	size_t pos;
};

/* One comparison as parsed; key points into the filter text. */
struct cmp {
	const struct query_field *f;
	const char *key;
	size_t keylen;
	size_t pos;
	enum op op;
	size_t nv;
	struct value v[QUERY_MAX_VALUES];
};

struct parser {
	const struct query_spec *spec;
	const char *s;
	size_t pos; /* byte offset of the next unread char */
	int depth;  /* parentheses open */
	int terms;  /* comparisons seen */
	struct sbuf sql;
	struct query_bind *binds;
	size_t nbinds;
	size_t bindcap;
	enum err err;
	char *detail;
	size_t detail_len;
};

/* An AND or OR connective: its symbol, its keyword and its SQL. */
struct connective {
	char sym;
	const char *word;
	const char *sql;
};

static const struct connective conn_or = { ',', "or", " OR " };
static const struct connective conn_and = { ';', "and", " AND " };

static int parse_or(struct parser *);

static int
sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->len + extra < b->cap)
		return 0;

	/* Doubling keeps appends amortised O(1). */
	cap = b->cap ? b->cap : 64;
	while (cap <= b->len + extra)
		cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void
sbuf_addn(struct sbuf *b, const char *s, size_t n)
{
	if (sbuf_reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sbuf_add(struct sbuf *b, const char *s)
{
	sbuf_addn(b, s, strlen(s));
}

/* Inserts s at byte offset at, used to open a parenthesis once it turns
 * out that an operand is followed by a connective. */
static void
sbuf_insert(struct sbuf *b, size_t at, const char *s)
{
	size_t n = strlen(s);

	if (sbuf_reserve(b, n) != 0)
		return;
	memmove(b->p + at + n, b->p + at, b->len - at + 1);
	memcpy(b->p + at, s, n);
	b->len += n;
}

/* The text so far; "" while nothing was appended. */
static const char *
sbuf_str(const struct sbuf *b)
{
	return b->p != NULL ? b->p : "";
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

/* Characters that may appear in a selector: quotes are allowed so that a
 * parameter key may hold one. */
static int
is_selector_char(char c)
{
	return c != '\0' && !is_space(c) && strchr("();,=!<>", c) == NULL;
}

static int
is_word_char(char c)
{
	return is_selector_char(c) && c != '\'' && c != '"';
}

/* The 1-based position of byte offset off, counted in UTF-8 characters
 * so that it matches what a person sees in the filter. */
static size_t
char_pos(const char *s, size_t off)
{
	size_t i, n = 1;

	for (i = 0; i < off; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* How many bytes of s[0..n) to quote in a message: at most QUOTE_MAX,
 * never splitting a UTF-8 character. */
static int
quote_len(const char *s, size_t n)
{
	if (n <= QUOTE_MAX)
		return (int)n;
	n = QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return (int)n;
}

static int fail(struct parser *p, enum err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an error and its message; returns -1 for the caller to pass
 * up. */
static int
fail(struct parser *p, enum err code, const char *fmt, ...)
{
	va_list ap;

	p->err = code;
	if (p->detail != NULL && p->detail_len > 0) {
		va_start(ap, fmt);
		vsnprintf(p->detail, p->detail_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
fail_oom(struct parser *p)
{
	return fail(p, ERR_INTERNAL, "out of memory");
}

/* A syntax error at the current position. */
static int
expected(struct parser *p, const char *what)
{
	return fail(p, ERR_BAD_FILTER, "filter: expected %s at position %zu",
	    what, char_pos(p->s, p->pos));
}

/* Skips whitespace; returns how much was skipped. */
static size_t
skip_space(struct parser *p)
{
	size_t start = p->pos;

	while (is_space(p->s[p->pos]))
		p->pos++;
	return p->pos - start;
}

static int
push_bind(struct parser *p, struct query_bind b)
{
	struct query_bind *v;
	size_t cap;

	if (p->nbinds == p->bindcap) {
		cap = p->bindcap ? p->bindcap * 2 : 16;
		v = realloc(p->binds, cap * sizeof(*v));
		if (v == NULL) {
			free(b.s);
			return fail_oom(p);
		}
		p->binds = v;
		p->bindcap = cap;
	}
	p->binds[p->nbinds++] = b;
	return 0;
}

static int
push_int(struct parser *p, int64_t i)
{
	struct query_bind b = { QUERY_BIND_INT, i, NULL };

	return push_bind(p, b);
}

static int
push_text(struct parser *p, const char *s, size_t n)
{
	struct query_bind b = { QUERY_BIND_TEXT, 0, NULL };

	if ((b.s = malloc(n + 1)) == NULL)
		return fail_oom(p);
	memcpy(b.s, s, n);
	b.s[n] = '\0';
	return push_bind(p, b);
}

static void
binds_free(struct query_bind *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].s);
	free(v);
}

/*
 * Parses s as decimal digits only, no sign and no space, into *out.
 * Returns -1 if s is empty, holds anything else or exceeds max.
 */
static int
parse_digits(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parses a signed 64-bit decimal integer; returns 0 or -1. */
static int
parse_int64(const char *s, int64_t *out)
{
	uint64_t u;

	if (*s != '-') {
		if (parse_digits(s, INT64_MAX, &u) != 0)
			return -1;
		*out = (int64_t)u;
		return 0;
	}

	/* INT64_MIN has no positive counterpart, so negate in two steps. */
	if (parse_digits(s + 1, (uint64_t)INT64_MAX + 1, &u) != 0)
		return -1;
	*out = u == 0 ? 0 : -(int64_t)(u - 1) - 1;
	return 0;
}

/* Appends one decoded character to v; escaped says it came after a
 * backslash, which makes a star literal. */
static void
value_put(struct value *v, char c, int escaped)
{
	sbuf_addn(&v->lit, &c, 1);

	/* GLOB has no escape character, but a class of one char is literal. */
	if (c == '*' && !escaped) {
		v->wild = 1;
		sbuf_add(&v->glob, "*");
	} else if (c == '*' || c == '?' || c == '[') {
		sbuf_add(&v->glob, c == '*' ? "[*]" : c == '?' ? "[?]" : "[[]");
	} else {
		sbuf_addn(&v->glob, &c, 1);
	}
}

static int
parse_quoted(struct parser *p, struct value *v)
{
	char q = p->s[p->pos++];
	char c;
	int escaped;

	for (;;) {
		c = p->s[p->pos];
		escaped = c == '\\';
		if (escaped)
			c = p->s[++p->pos];

		/* The end of the filter, even right after a backslash. */
		if (c == '\0')
			return expected(
			    p, q == '"' ? "a closing '\"'" : "a closing \"'\"");
		p->pos++;
		if (c == q && !escaped)
			return 0;
		value_put(v, c, escaped);
	}
}

static int
parse_value(struct parser *p, struct value *v)
{
	char c = p->s[p->pos];

	v->pos = p->pos;
	if (c == '\'' || c == '"') {
		if (parse_quoted(p, v) != 0)
			return -1;
	} else {
		if (!is_word_char(c))
			return expected(p, "a value");
		while (is_word_char(p->s[p->pos]))
			value_put(v, p->s[p->pos++], 0);
	}

	if (v->lit.oom || v->glob.oom)
		return fail_oom(p);
	return 0;
}

/* Parses a value, or a parenthesised list of them for =in= and =out=. */
static int
parse_argument(struct parser *p, struct cmp *c)
{
	skip_space(p);
	if (c->op != OP_IN && c->op != OP_OUT)
		return parse_value(p, &c->v[c->nv++]);

	if (p->s[p->pos] != '(')
		return expected(p, "'(' opening a list of values");
	p->pos++;
	for (;;) {
		skip_space(p);
		if (c->nv == QUERY_MAX_VALUES)
			return fail(p, ERR_BAD_FILTER,
			    "filter: a list holds at most %d values; "
			    "more at position %zu",
			    QUERY_MAX_VALUES, char_pos(p->s, p->pos));
		if (parse_value(p, &c->v[c->nv++]) != 0)
			return -1;
		skip_space(p);
		if (p->s[p->pos] != ',')
			break;
		p->pos++;
	}

	if (p->s[p->pos] != ')')
		return expected(p, "',' or ')'");
	p->pos++;
	return 0;
}

static int
parse_operator(struct parser *p, struct cmp *c)
{
	size_t i, n;

	skip_space(p);
	for (i = 0; i < sizeof(op_tokens) / sizeof(op_tokens[0]); i++) {
		n = strlen(op_tokens[i].text);
		if (strncmp(p->s + p->pos, op_tokens[i].text, n) == 0) {
			c->op = op_tokens[i].op;
			p->pos += n;
			return 0;
		}
	}
	return expected(p, "a comparison operator");
}

/* Resolves "<name>.<KEY>" against the QUERY_PARAMETERS fields. */
static int
resolve_parameter(struct parser *p, struct cmp *c, const char *s, size_t n)
{
	const struct query_field *f;
	size_t i, len;

	for (i = 0; i < p->spec->nfields; i++) {
		f = &p->spec->fields[i];
		len = strlen(f->name);
		if (f->kind != QUERY_PARAMETERS || n <= len || s[len] != '.' ||
		    strncmp(s, f->name, len) != 0)
			continue;
		c->f = f;
		c->key = s + len + 1;
		c->keylen = n - len - 1;
		if (c->keylen < 1 || c->keylen > MODEL_MAX_PARAMETER_KEY)
			return fail(p, ERR_BAD_FILTER,
			    "filter: a parameter name in %s.KEY is 1 to %d "
			    "bytes, at position %zu",
			    f->name, MODEL_MAX_PARAMETER_KEY,
			    char_pos(p->s, c->pos));
		return 0;
	}
	return fail(p, ERR_BAD_FILTER,
	    "filter: unknown field \"%.*s\" at position %zu", quote_len(s, n),
	    s, char_pos(p->s, c->pos));
}

/* Finds the field the selector s[0..n) names. */
static int
resolve_field(struct parser *p, struct cmp *c, const char *s, size_t n)
{
	const struct query_field *f;
	size_t i;

	for (i = 0; i < p->spec->nfields; i++) {
		f = &p->spec->fields[i];
		if (strlen(f->name) != n || strncmp(s, f->name, n) != 0)
			continue;
		if (f->kind == QUERY_PARAMETERS)
			return fail(p, ERR_BAD_FILTER,
			    "filter: %s needs a parameter name, as in "
			    "%s.KEY, at position %zu",
			    f->name, f->name, char_pos(p->s, c->pos));
		c->f = f;
		return 0;
	}
	return resolve_parameter(p, c, s, n);
}

static int
parse_selector(struct parser *p, struct cmp *c)
{
	size_t start;

	skip_space(p);
	start = c->pos = p->pos;
	while (is_selector_char(p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return expected(p, "a field name");
	return resolve_field(p, c, p->s + start, p->pos - start);
}

/* Checks v against the field's enum names, if it has any. */
static int
check_enum(struct parser *p, const struct cmp *c, const struct value *v)
{
	const struct query_field *f = c->f;
	const char *s = sbuf_str(&v->lit);
	char names[256];
	size_t used = 0;
	int i, n;

	if (f->enum_names == NULL)
		return 0;
	for (i = 0; i < f->enum_count; i++)
		if (strcmp(s, f->enum_names[i]) == 0)
			return 0;

	/* List what is allowed; a long list is cut short, not overrun. */
	names[0] = '\0';
	for (i = 0; i < f->enum_count && used < sizeof(names); i++) {
		n = snprintf(names + used, sizeof(names) - used, "%s%s",
		    i > 0 ? ", " : "", f->enum_names[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return fail(p, ERR_BAD_FILTER,
	    "filter: %s: expected one of %s, got \"%.*s\" at position %zu",
	    f->name, names, quote_len(s, v->lit.len), s,
	    char_pos(p->s, v->pos));
}

/* Converts one value to a bind of the field's kind; glob says the value
 * is used as a GLOB pattern. */
static int
bind_value(
    struct parser *p, const struct cmp *c, const struct value *v, int glob)
{
	const char *s = sbuf_str(&v->lit);
	int64_t i;

	switch (c->f->kind) {
	case QUERY_INTEGER:
		if (parse_int64(s, &i) == 0)
			return push_int(p, i);
		return fail(p, ERR_BAD_FILTER,
		    "filter: %s: expected an integer, got \"%.*s\" at "
		    "position %zu",
		    c->f->name, quote_len(s, v->lit.len), s,
		    char_pos(p->s, v->pos));
	case QUERY_TIME:
		if (model_parse_time(s, &i) == 0)
			return push_int(p, i);
		return fail(p, ERR_BAD_FILTER,
		    "filter: %s: expected an ISO 8601 UTC timestamp such as "
		    "2025-12-06T05:37:26.996Z, got \"%.*s\" at position %zu",
		    c->f->name, quote_len(s, v->lit.len), s,
		    char_pos(p->s, v->pos));
	default:
		break;
	}

	if (glob)
		return push_text(p, sbuf_str(&v->glob), v->glob.len);
	if (check_enum(p, c, v) != 0)
		return -1;
	return push_text(p, s, v->lit.len);
}

/*
 * Appends " <op> ?" (or " IN (?,...)") for op and binds c's values.
 * GLOB replaces = and <> when the single value holds a wildcard.
 */
static int
emit_operand(struct parser *p, const struct cmp *c, enum op op)
{
	int glob = (op == OP_EQ || op == OP_NE) && c->v[0].wild &&
	           c->f->kind != QUERY_INTEGER && c->f->kind != QUERY_TIME;
	size_t i;

	if (op != OP_IN && op != OP_OUT) {
		if (!glob)
			sbuf_add(&p->sql, op_sql[op]);
		else if (op == OP_EQ)
			sbuf_add(&p->sql, " GLOB ?");
		else
			sbuf_add(&p->sql, " NOT GLOB ?");
		return bind_value(p, c, &c->v[0], glob);
	}

	sbuf_add(&p->sql, op_sql[op]);
	for (i = 0; i < c->nv; i++) {
		sbuf_add(&p->sql, i > 0 ? ",?" : "?");
		if (bind_value(p, c, &c->v[i], 0) != 0)
			return -1;
	}
	sbuf_add(&p->sql, ")");
	return 0;
}

/* The positive form of a negated operator, for kinds that negate the
 * whole test rather than the comparison. */
static enum op
positive(enum op op)
{
	return op == OP_NE ? OP_EQ : op == OP_OUT ? OP_IN : op;
}

/*
 * "has role x": an EXISTS over the array's elements.  != and =out= are
 * "has no such role", so they negate the EXISTS rather than compare each
 * element with <>.
 */
static int
emit_roles(struct parser *p, const struct cmp *c)
{
	if (c->op != OP_EQ && c->op != OP_NE && c->op != OP_IN &&
	    c->op != OP_OUT)
		return fail(p, ERR_BAD_FILTER,
		    "filter: %s supports only ==, !=, =in=, =out=, at "
		    "position %zu",
		    c->f->name, char_pos(p->s, c->pos));

	if (positive(c->op) != c->op)
		sbuf_add(&p->sql, "NOT ");
	sbuf_add(&p->sql, c->f->sql);
	if (emit_operand(p, c, positive(c->op)) != 0)
		return -1;
	sbuf_add(&p->sql, ")");
	return 0;
}

/*
 * "has parameter KEY with a value that compares so": the field's opening
 * holds the key's ?, bound first, and the value comparison completes it.
 * != and =out= negate the whole test, so that a job without the key
 * matches them, as a user reading "region != eu" expects.
 */
static int
emit_parameter(struct parser *p, const struct cmp *c)
{
	if (positive(c->op) != c->op)
		sbuf_add(&p->sql, "NOT ");
	sbuf_add(&p->sql, c->f->sql);
	if (push_text(p, c->key, c->keylen) != 0 ||
	    emit_operand(p, c, positive(c->op)) != 0)
		return -1;
	sbuf_add(&p->sql, ")");
	return 0;
}

static int
emit_comparison(struct parser *p, const struct cmp *c)
{
	int rc;

	switch (c->f->kind) {
	case QUERY_ROLES:
		rc = emit_roles(p, c);
		break;
	case QUERY_PARAMETERS:
		rc = emit_parameter(p, c);
		break;
	default:
		sbuf_add(&p->sql, c->f->sql);
		rc = emit_operand(p, c, c->op);
		break;
	}

	if (rc == 0 && p->sql.oom)
		return fail_oom(p);
	return rc;
}

static int
parse_comparison(struct parser *p)
{
	struct cmp c;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	if (++p->terms > QUERY_MAX_TERMS) {
		skip_space(p);
		return fail(p, ERR_BAD_FILTER,
		    "filter: at most %d comparisons are allowed; "
		    "more at position %zu",
		    QUERY_MAX_TERMS, char_pos(p->s, p->pos));
	}

	rc = parse_selector(p, &c);
	if (rc == 0)
		rc = parse_operator(p, &c);
	if (rc == 0)
		rc = parse_argument(p, &c);
	if (rc == 0)
		rc = emit_comparison(p, &c);

	/* Values are released on every path, parsed in full or not. */
	for (i = 0; i < c.nv; i++) {
		free(c.v[i].lit.p);
		free(c.v[i].glob.p);
	}
	return rc;
}

static int
parse_primary(struct parser *p)
{
	skip_space(p);
	if (p->s[p->pos] != '(')
		return parse_comparison(p);

	/* The depth bound is what keeps the recursion off the stack's end. */
	if (++p->depth > QUERY_MAX_DEPTH)
		return fail(p, ERR_BAD_FILTER,
		    "filter: at most %d nested parentheses are allowed; "
		    "more at position %zu",
		    QUERY_MAX_DEPTH, char_pos(p->s, p->pos));
	p->pos++;
	if (parse_or(p) != 0)
		return -1;

	skip_space(p);
	if (p->s[p->pos] != ')')
		return expected(p, "')'");
	p->pos++;
	p->depth--;
	return 0;
}

/*
 * Consumes the connective k if it comes next.  The keyword form needs
 * whitespace on both sides; if k is absent the position is restored, so
 * that the next level can still see the whitespace before its keyword.
 */
static int
take_connective(struct parser *p, const struct connective *k)
{
	size_t start = p->pos;
	size_t spaces = skip_space(p);
	size_t n = strlen(k->word);

	if (p->s[p->pos] == k->sym) {
		p->pos++;
		return 1;
	}
	if (spaces > 0 && strncmp(p->s + p->pos, k->word, n) == 0 &&
	    is_space(p->s[p->pos + n])) {
		p->pos += n;
		return 1;
	}
	p->pos = start;
	return 0;
}

/* Parses operand (k operand)*; two or more become "(a OP b OP c)". */
static int
parse_chain(struct parser *p, const struct connective *k,
    int (*operand)(struct parser *))
{
	size_t start = p->sql.len;
	int n = 0;

	if (operand(p) != 0)
		return -1;
	while (take_connective(p, k)) {
		if (n++ == 0)
			sbuf_insert(&p->sql, start, "(");
		sbuf_add(&p->sql, k->sql);
		if (operand(p) != 0)
			return -1;
	}
	if (n > 0)
		sbuf_add(&p->sql, ")");
	return 0;
}

static int
parse_and(struct parser *p)
{
	return parse_chain(p, &conn_and, parse_primary);
}

static int
parse_or(struct parser *p)
{
	return parse_chain(p, &conn_or, parse_and);
}

/* Parses the whole filter into p; returns 0 or -1 with p->err set. */
static int
parse_filter(struct parser *p)
{
	if (p->s[0] == '\0')
		return fail(p, ERR_BAD_FILTER, "filter: must not be empty");
	if (strlen(p->s) > QUERY_MAX_FILTER_BYTES)
		return fail(p, ERR_BAD_FILTER, "filter: longer than %d bytes",
		    QUERY_MAX_FILTER_BYTES);

	if (parse_or(p) != 0)
		return -1;
	skip_space(p);
	if (p->s[p->pos] != '\0')
		return expected(p, "';', ',', 'and', 'or' or the end");
	if (p->sql.oom)
		return fail_oom(p);
	return 0;
}

static enum err
compile_filter(struct query *q, const struct query_spec *spec,
    const char *filter, char *detail, size_t detail_len)
{
	struct parser p;

	/* Without a filter every row matches. */
	if (filter == NULL) {
		if ((q->where = strdup("1")) == NULL)
			return err_set(
			    detail, detail_len, ERR_INTERNAL, "out of memory");
		return ERR_OK;
	}

	memset(&p, 0, sizeof(p));
	p.spec = spec;
	p.s = filter;
	p.detail = detail;
	p.detail_len = detail_len;
	if (parse_filter(&p) != 0) {
		free(p.sql.p);
		binds_free(p.binds, p.nbinds);
		return p.err;
	}

	q->where = p.sql.p;
	q->binds = p.binds;
	q->nbinds = p.nbinds;
	return ERR_OK;
}

/* Finds the sortable field called s[0..n), or NULL. */
static const struct query_field *
sort_field(const struct query_spec *spec, const char *s, size_t n)
{
	const struct query_field *f;
	size_t i;

	for (i = 0; i < spec->nfields; i++) {
		f = &spec->fields[i];
		if (f->sortable && strlen(f->name) == n &&
		    strncmp(f->name, s, n) == 0)
			return f;
	}
	return NULL;
}

/* Writes the sortable field names, comma-separated, into buf. */
static void
sortable_names(const struct query_spec *spec, char *buf, size_t len)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < spec->nfields && used < len; i++) {
		if (!spec->fields[i].sortable)
			continue;
		n = snprintf(buf + used, len - used, "%s%s",
		    used > 0 ? ", " : "", spec->fields[i].name);
		if (n < 0)
			return;
		used += (size_t)n;
	}
}

/* Appends one sort key s[0..n) to out, or explains why it is refused. */
static enum err
sort_key(const struct query_spec *spec, const char *s, size_t n,
    const struct query_field **seen, size_t nseen, struct sbuf *out,
    char *detail, size_t detail_len)
{
	const struct query_field *f;
	int desc = n > 0 && s[0] == '-';
	char names[256];
	size_t i;

	if (n == (size_t)desc)
		return err_set(
		    detail, detail_len, ERR_BAD_SORT, "sort: empty field name");
	if ((f = sort_field(spec, s + desc, n - desc)) == NULL) {
		sortable_names(spec, names, sizeof(names));
		return err_set(detail, detail_len, ERR_BAD_SORT,
		    "sort: cannot sort by \"%.*s\"; sortable fields are %s",
		    quote_len(s + desc, n - desc), s + desc, names);
	}
	for (i = 0; i < nseen; i++)
		if (seen[i] == f)
			return err_set(detail, detail_len, ERR_BAD_SORT,
			    "sort: %s appears more than once", f->name);

	seen[nseen] = f;
	if (out->len > 0)
		sbuf_add(out, ", ");
	sbuf_add(out, f->sql);
	sbuf_add(out, desc ? " DESC" : " ASC");
	return ERR_OK;
}

/* Splits sort at commas and compiles each key into out; sets *has_id
 * when a key sorts by the id, which makes a tie-breaker redundant. */
static enum err
sort_keys(const struct query_spec *spec, const char *sort, struct sbuf *out,
    int *has_id, char *detail, size_t detail_len)
{
	const struct query_field *seen[QUERY_MAX_SORT_KEYS];
	const char *s, *end;
	size_t n = 1;
	enum err e;

	/* Count first, so that the bound is reported whatever the keys. */
	for (s = sort; (s = strchr(s, ',')) != NULL; s++)
		n++;
	if (n > QUERY_MAX_SORT_KEYS)
		return err_set(detail, detail_len, ERR_BAD_SORT,
		    "sort: at most %d fields are allowed, got %zu",
		    QUERY_MAX_SORT_KEYS, n);

	for (n = 0, s = sort;; s = end + 1) {
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		e = sort_key(spec, s, (size_t)(end - s), seen, n, out, detail,
		    detail_len);
		if (e != ERR_OK)
			return e;
		if (strcmp(seen[n++]->sql, spec->id_sql) == 0)
			*has_id = 1;
		if (*end == '\0')
			return ERR_OK;
	}
}

/* Compiles sort into q->order_by, ending with the id as tie-breaker so
 * that pages never overlap or skip rows. */
static enum err
compile_sort(struct query *q, const struct query_spec *spec, const char *sort,
    char *detail, size_t detail_len)
{
	struct sbuf out = { NULL, 0, 0, 0 };
	int has_id = 0;
	enum err e;

	if (sort != NULL) {
		e = sort_keys(spec, sort, &out, &has_id, detail, detail_len);
		if (e != ERR_OK) {
			free(out.p);
			return e;
		}
	}

	if (!has_id) {
		if (out.len > 0)
			sbuf_add(&out, ", ");
		sbuf_add(&out, spec->id_sql);
		sbuf_add(&out, " ASC");
	}
	if (out.oom) {
		free(out.p);
		return err_set(
		    detail, detail_len, ERR_INTERNAL, "out of memory");
	}
	q->order_by = out.p;
	return ERR_OK;
}

/* Parses page[...] s into *out: def when absent, else an integer from 1
 * to max. */
static enum err
parse_page(const char *name, const char *s, int64_t def, int64_t max,
    int64_t *out, char *detail, size_t detail_len)
{
	uint64_t v;

	if (s == NULL) {
		*out = def;
		return ERR_OK;
	}
	if (parse_digits(s, (uint64_t)max, &v) != 0 || v < 1)
		return err_set(detail, detail_len, ERR_BAD_PARAMETER,
		    "%s must be an integer from 1 to %" PRId64 ", got \"%.*s\"",
		    name, max, quote_len(s, strlen(s)), s);
	*out = (int64_t)v;
	return ERR_OK;
}

enum err
query_compile(struct query *q, const struct query_spec *spec,
    const char *filter, const char *sort, const char *page_number,
    const char *page_size, char *detail, size_t detail_len)
{
	/* (page - 1) * size must fit an int64_t OFFSET for every size. */
	const int64_t max_page = INT64_MAX / QUERY_MAX_PAGE_SIZE;
	enum err e;

	memset(q, 0, sizeof(*q));
	e = parse_page("page[number]", page_number, 1, max_page,
	    &q->page_number, detail, detail_len);
	if (e == ERR_OK)
		e = parse_page("page[size]", page_size, QUERY_DEFAULT_PAGE_SIZE,
		    QUERY_MAX_PAGE_SIZE, &q->page_size, detail, detail_len);
	if (e == ERR_OK)
		e = compile_sort(q, spec, sort, detail, detail_len);
	if (e == ERR_OK)
		e = compile_filter(q, spec, filter, detail, detail_len);

	if (e != ERR_OK)
		query_free(q);
	return e;
}

int
query_bind(const struct query *q, sqlite3_stmt *st, int first)
{
	const struct query_bind *b;
	size_t i;
	int rc;

	for (i = 0; i < q->nbinds; i++) {
		b = &q->binds[i];
		if (b->kind == QUERY_BIND_INT)
			rc = sqlite3_bind_int64(st, first, b->i);
		else
			rc = sqlite3_bind_text(
			    st, first, b->s, -1, SQLITE_TRANSIENT);
		if (rc != SQLITE_OK)
			return -1;
		first++;
	}
	return first;
}

void
query_free(struct query *q)
{
	free(q->where);
	free(q->order_by);
	binds_free(q->binds, q->nbinds);
	memset(q, 0, sizeof(*q));
}
