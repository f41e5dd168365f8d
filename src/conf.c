#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "conf.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define CONF_MAX_MS INT64_C(2147483647)

/* An integer key: where it is stored and what range it accepts. */
struct conf_int_key {
	const char *section;
	const char *key;
	size_t offset;
	int64_t min;
	int64_t max;
};

#define CONF_INT(sec, key, field, min, max)                                    \
	{                                                                      \
		sec, key, offsetof(struct conf, field), min, max               \
	}

static const struct conf_int_key conf_int_keys[] = {
	CONF_INT(
	    "database", "busy_timeout_ms", busy_timeout_ms, 0, CONF_MAX_MS),
	CONF_INT("api", "max_body_bytes", max_body_bytes, 1, 1073741824),
	CONF_INT("api", "threads", threads, 1, CONF_MAX_THREADS),
	CONF_INT("scheduler", "poll_interval_ms", poll_interval_ms, 1, 60000),
	CONF_INT("scheduler", "max_running", max_running, 1, CONF_MAX_RUNNING),
	CONF_INT("scheduler", "lease_ms", lease_ms, 100, CONF_MAX_MS),
	CONF_INT("scheduler", "default_timeout_ms", default_timeout_ms, 1,
	    CONF_MAX_MS),
	CONF_INT("scheduler", "kill_grace_ms", kill_grace_ms, 0, CONF_MAX_MS),
	CONF_INT(
	    "scheduler", "output_limit_bytes", output_limit_bytes, 1, 67108864),
	CONF_INT(
	    "scheduler", "report_row_limit", report_row_limit, 1, 10000000),
	CONF_INT("scheduler", "shutdown_grace_ms", shutdown_grace_ms, 0,
	    CONF_MAX_MS),
};

/* Per-type backoff sections override single keys of [backoff], in any
 * order in the file, so both are collected and merged at the end. */
struct conf_backoff_layer {
	struct backoff value;
	unsigned set; /* bit i: key i of conf_backoff_keys given */
};

static const char *const conf_backoff_keys[] = {
	"initial_delay_in_millis",
	"minimum_delay_in_millis",
	"maximum_delay_in_millis",
	"delay_increase",
	"delay_decrease",
};

/* What the handler carries between calls. */
struct conf_parse {
	struct conf *c;
	char *dir; /* the file's directory, with a trailing '/' */
	struct conf_backoff_layer base;
	struct conf_backoff_layer type[OP_TYPE__MAX];
	char error[512];
};

static void
conf_set_defaults(struct conf *c)
{
	static const struct backoff def = { 1000, 1000, 300000, 2, 2 };
	int i;

	memset(c, 0, sizeof *c);
	c->busy_timeout_ms = 5000;
	c->synchronous_full = 1;
	c->require_headers = 1;
	c->max_body_bytes = 1048576;
	c->threads = 3;
	c->poll_interval_ms = 100;
	c->max_running = 8;
	c->lease_ms = 30000;
	c->default_timeout_ms = 300000;
	c->kill_grace_ms = 5000;
	c->output_limit_bytes = 65536;
	c->report_row_limit = 1000;
	c->shutdown_grace_ms = 10000;
	for (i = 0; i < OP_TYPE__MAX; i++)
		c->backoff[i] = def;
}

const char *
conf_choose_path(const char *arg)
{
	const char *env;

	if (arg != NULL)
		return arg;
	env = getenv("LEDGEROPS_CONF");
	if (env != NULL && *env != '\0')
		return env;
	return SYSCONFDIR "/ledgerops.conf";
}

static int
conf_fail(
    struct conf_parse *p, const char *section, const char *key, const char *why)
{
	if (p->error[0] == '\0')
		snprintf(p->error, sizeof p->error, "[%s] %s: %s", section, key,
		    why);
	return 0;
}

/* Parses a whole decimal integer within [min, max]. */
static int
conf_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
conf_parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
		*out = 1;
	else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	         strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Makes a configured path absolute against the file's directory. */
static char *
conf_resolve_path(const struct conf_parse *p, const char *value)
{
	size_t len;
	char *out;

	if (value[0] == '/' || p->dir == NULL)
		return strdup(value);
	len = strlen(p->dir) + strlen(value) + 1;
	out = malloc(len);
	if (out != NULL)
		snprintf(out, len, "%s%s", p->dir, value);
	return out;
}

static int
conf_set_path(struct conf_parse *p, char **slot, const char *section,
    const char *key, const char *value)
{
	char *path;

	if (*value == '\0')
		return conf_fail(p, section, key, "must not be empty");
	path = conf_resolve_path(p, value);
	if (path == NULL)
		return conf_fail(p, section, key, "out of memory");
	free(*slot);
	*slot = path;
	return 1;
}

static int
conf_handle_int(struct conf_parse *p, const char *section, const char *key,
    const char *value, int *handled)
{
	size_t i;
	char why[128];

	*handled = 0;
	for (i = 0; i < sizeof conf_int_keys / sizeof conf_int_keys[0]; i++) {
		const struct conf_int_key *k = &conf_int_keys[i];
		int64_t *slot;

		if (strcmp(k->section, section) != 0 ||
		    strcmp(k->key, key) != 0)
			continue;
		*handled = 1;
		slot = (int64_t *)(void *)((char *)p->c + k->offset);
		if (conf_parse_int(value, k->min, k->max, slot) == 0)
			return 1;
		snprintf(why, sizeof why,
		    "must be an integer from %lld to %lld, got \"%.40s\"",
		    (long long)k->min, (long long)k->max, value);
		return conf_fail(p, section, key, why);
	}
	return 0;
}

static int
conf_handle_backoff(struct conf_parse *p, struct conf_backoff_layer *layer,
    const char *section, const char *key, const char *value)
{
	int64_t *fields[] = { &layer->value.initial_ms,
		&layer->value.minimum_ms, &layer->value.maximum_ms,
		&layer->value.increase, &layer->value.decrease };
	size_t i;

	for (i = 0; i < sizeof conf_backoff_keys / sizeof conf_backoff_keys[0];
	     i++) {
		if (strcmp(conf_backoff_keys[i], key) != 0)
			continue;
		if (conf_parse_int(
		        value, i < 3 ? 0 : 1, BACKOFF_MAX_MS, fields[i]) != 0)
			return conf_fail(p, section, key,
			    "must be an integer from 0 (1 for factors) to "
			    "2147483647");
		layer->set |= 1u << i;
		return 1;
	}
	return conf_fail(p, section, key, "unknown key");
}

/* Splits "a, b ,c" into a new array of trimmed, non-empty roles. */
static int
conf_split_roles(const char *value, char ***out, size_t *count)
{
	char *copy, *tok, *save = NULL;
	char **roles = NULL;
	size_t n = 0;

	copy = strdup(value);
	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char **grown;
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		grown = realloc(roles, (n + 1) * sizeof *roles);
		if (grown == NULL || (grown[n] = strdup(tok)) == NULL) {
			roles = grown ? grown : roles;
			goto fail;
		}
		roles = grown;
		n++;
	}
	free(copy);
	*out = roles;
	*count = n;
	return 0;
fail:
	while (n > 0)
		free(roles[--n]);
	free(roles);
	free(copy);
	return -1;
}

static struct conf_place *
conf_place_get(struct conf_parse *p, int is_source, const char *name)
{
	struct conf_place **list = is_source ? &p->c->sources : &p->c->targets;
	size_t *n = is_source ? &p->c->nsources : &p->c->ntargets;
	struct conf_place *grown;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			return &(*list)[i];
	grown = realloc(*list, (*n + 1) * sizeof **list);
	if (grown == NULL)
		return NULL;
	*list = grown;
	memset(&grown[*n], 0, sizeof grown[*n]);
	grown[*n].name = strdup(name);
	if (grown[*n].name == NULL)
		return NULL;
	return &grown[(*n)++];
}

static int
conf_handle_place(struct conf_parse *p, int is_source, const char *section,
    const char *key, const char *value)
{
	const char *name = section + strlen("source."); /* or "target." */
	struct conf_place *place;

	if (*name == '\0')
		return conf_fail(p, section, key, "the section needs a name");
	place = conf_place_get(p, is_source, name);
	if (place == NULL)
		return conf_fail(p, section, key, "out of memory");
	if (strcmp(key, "path") == 0)
		return conf_set_path(p, &place->path, section, key, value);
	if (strcmp(key, "roles") == 0) {
		size_t i;

		for (i = 0; i < place->nroles; i++)
			free(place->roles[i]);
		free(place->roles);
		place->roles = NULL;
		place->nroles = 0;
		if (conf_split_roles(value, &place->roles, &place->nroles))
			return conf_fail(p, section, key, "out of memory");
		return 1;
	}
	return conf_fail(p, section, key, "unknown key");
}

static int
conf_handle_flag(struct conf_parse *p, const char *section, const char *key,
    const char *value)
{
	if (strcmp(section, "database") == 0 &&
	    strcmp(key, "synchronous") == 0) {
		if (strcasecmp(value, "FULL") == 0)
			p->c->synchronous_full = 1;
		else if (strcasecmp(value, "NORMAL") == 0)
			p->c->synchronous_full = 0;
		else
			return conf_fail(
			    p, section, key, "must be FULL or NORMAL");
		return 1;
	}
	if (strcmp(section, "api") == 0 &&
	    strcmp(key, "require_headers") == 0) {
		if (conf_parse_bool(value, &p->c->require_headers) != 0)
			return conf_fail(
			    p, section, key, "must be true or false");
		return 1;
	}
	return -1;
}

static int
conf_handler(
    void *user, const char *section, const char *key, const char *value)
{
	struct conf_parse *p = user;
	int handled, rc;

	rc = conf_handle_int(p, section, key, value, &handled);
	if (handled)
		return rc;
	rc = conf_handle_flag(p, section, key, value);
	if (rc >= 0)
		return rc;
	if (strcmp(section, "database") == 0 && strcmp(key, "path") == 0)
		return conf_set_path(p, &p->c->db_path, section, key, value);
	if (strcmp(section, "scheduler") == 0 &&
	    strcmp(key, "handlers_dir") == 0)
		return conf_set_path(
		    p, &p->c->handlers_dir, section, key, value);
	if (strcmp(section, "backoff") == 0)
		return conf_handle_backoff(p, &p->base, section, key, value);
	if (strncmp(section, "backoff.", 8) == 0) {
		int t = model_lookup(op_type_names, OP_TYPE__MAX, section + 8);

		if (t < 0)
			return conf_fail(p, section, key,
			    "unknown operation type in section name");
		return conf_handle_backoff(p, &p->type[t], section, key, value);
	}
	if (strncmp(section, "source.", 7) == 0)
		return conf_handle_place(p, 1, section, key, value);
	if (strncmp(section, "target.", 7) == 0)
		return conf_handle_place(p, 0, section, key, value);
	return conf_fail(p, section, key, "unknown section or key");
}

static void
conf_overlay(struct backoff *b, const struct conf_backoff_layer *layer)
{
	int64_t *dst[] = { &b->initial_ms, &b->minimum_ms, &b->maximum_ms,
		&b->increase, &b->decrease };
	const int64_t src[] = { layer->value.initial_ms,
		layer->value.minimum_ms, layer->value.maximum_ms,
		layer->value.increase, layer->value.decrease };
	size_t i;

	for (i = 0; i < 5; i++)
		if (layer->set & (1u << i))
			*dst[i] = src[i];
}

/* Applies [backoff] and [backoff.TYPE] and checks each result. */
static int
conf_finish_backoff(struct conf_parse *p)
{
	int t;

	for (t = 0; t < OP_TYPE__MAX; t++) {
		conf_overlay(&p->c->backoff[t], &p->base);
		conf_overlay(&p->c->backoff[t], &p->type[t]);
		if (!backoff_is_valid(&p->c->backoff[t])) {
			snprintf(p->error, sizeof p->error,
			    "the backoff of type %s breaks 0 <= minimum <= "
			    "initial <= maximum",
			    op_type_names[t]);
			return -1;
		}
	}
	return 0;
}

static int
conf_finish_places(struct conf_parse *p)
{
	size_t i;

	for (i = 0; i < p->c->nsources; i++)
		if (p->c->sources[i].path == NULL)
			goto missing;
	for (i = 0; i < p->c->ntargets; i++)
		if (p->c->targets[i].path == NULL)
			goto missing;
	return 0;
missing:
	snprintf(p->error, sizeof p->error,
	    "every [source.NAME] and [target.NAME] needs a path");
	return -1;
}

static char *
conf_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash == NULL)
		return strdup("./");
	dir = malloc((size_t)(slash - path) + 2);
	if (dir == NULL)
		return NULL;
	memcpy(dir, path, (size_t)(slash - path) + 1);
	dir[slash - path + 1] = '\0';
	return dir;
}

static int
conf_defaults_paths(struct conf_parse *p)
{
	if (p->c->db_path == NULL &&
	    conf_set_path(
	        p, &p->c->db_path, "database", "path", "ledgerops.db") == 0)
		return -1;
	if (p->c->handlers_dir == NULL &&
	    conf_set_path(p, &p->c->handlers_dir, "scheduler", "handlers_dir",
	        "handlers") == 0)
		return -1;
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t err_len)
{
	struct conf_parse p;
	int line;

	conf_set_defaults(c);
	memset(&p, 0, sizeof p);
	p.c = c;
	c->file = strdup(path);
	p.dir = conf_dir_of(path);
	if (c->file == NULL || p.dir == NULL) {
		snprintf(err, err_len, "%s: out of memory", path);
		goto fail;
	}

	line = ini_parse(path, conf_handler, &p);
	if (line < 0) {
		snprintf(
		    err, err_len, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (line > 0) {
		snprintf(err, err_len, "%s:%d: %s", path, line,
		    p.error[0] ? p.error : "syntax error");
		goto fail;
	}
	if (conf_finish_backoff(&p) || conf_finish_places(&p) ||
	    conf_defaults_paths(&p)) {
		snprintf(err, err_len, "%s: %s", path, p.error);
		goto fail;
	}
	free(p.dir);
	return 0;
fail:
	free(p.dir);
	conf_free(c);
	return -1;
}

static void
conf_free_places(struct conf_place *list, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		free(list[i].name);
		free(list[i].path);
		for (j = 0; j < list[i].nroles; j++)
			free(list[i].roles[j]);
		free(list[i].roles);
	}
	free(list);
}

void
conf_free(struct conf *c)
{
	free(c->file);
	free(c->db_path);
	free(c->handlers_dir);
	conf_free_places(c->sources, c->nsources);
	conf_free_places(c->targets, c->ntargets);
	memset(c, 0, sizeof *c);
}

static const struct conf_place *
conf_find(const struct conf_place *list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

const struct conf_place *
conf_find_source(const struct conf *c, const char *name)
{
	return conf_find(c->sources, c->nsources, name);
}

const struct conf_place *
conf_find_target(const struct conf *c, const char *name)
{
	return conf_find(c->targets, c->ntargets, name);
}
