/*
 * External programs: <handlers_dir>/<type in lower case>/<definition>,
 * started with a clean environment built from the execution.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"

int
exec_definition_ok(const char *definition)
{
	const char *p;

	if (definition[0] == '\0' || definition[0] == '.')
		return 0;
	for (p = definition; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return 0;
	return 1;
}

/* handlers_dir/<type in lower case>, new string or NULL. */
static char *
exec_type_dir(const char *handlers_dir, const char *type)
{
	char *dir, *p;

	if (handlers_dir == NULL ||
	    asprintf(&dir, "%s/%s", handlers_dir, type) < 0)
		return NULL;
	for (p = dir + strlen(handlers_dir) + 1; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return dir;
}

static int
exec_is_program(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

char *
exec_external_resolve(
    const char *handlers_dir, const char *type, const char *definition)
{
	char *dir, *path = NULL;

	if (!exec_definition_ok(definition))
		return NULL;
	if ((dir = exec_type_dir(handlers_dir, type)) == NULL)
		return NULL;
	if (asprintf(&path, "%s/%s", dir, definition) < 0)
		path = NULL;
	free(dir);
	if (path != NULL && !exec_is_program(path)) {
		free(path);
		path = NULL;
	}
	return path;
}

static int
exec_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The usable programs of one type directory, sorted, into array. */
static int
exec_list_dir(const char *dir, json_object *array)
{
	char *names[1024], *path;
	struct dirent *de;
	size_t n = 0, i;
	int rc = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < 1024) {
		if (!exec_definition_ok(de->d_name) ||
		    asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			continue;
		if (exec_is_program(path) &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
		free(path);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], exec_name_cmp);
	for (i = 0; i < n; i++) {
		if (rc == 0 && json_object_array_add(array,
		                   json_object_new_string(names[i])) != 0)
			rc = -1;
		free(names[i]);
	}
	return rc;
}

json_object *
exec_external_available(const char *handlers_dir, const char *type)
{
	json_object *o = json_object_new_object();
	json_object *built = json_object_new_array();
	json_object *progs = json_object_new_array();
	char *dir = exec_type_dir(handlers_dir, type);
	int ok = o && built && progs && dir;

	ok = ok && exec_builtin_list(type, built) == 0 &&
	     exec_list_dir(dir, progs) == 0;
	ok = ok && json_object_object_add(
	               o, "type", json_object_new_string(type)) == 0;
	if (ok && json_object_object_add(o, "built_in", built) == 0)
		built = NULL;
	else
		ok = 0;
	if (ok && json_object_object_add(o, "programs", progs) == 0)
		progs = NULL;
	else
		ok = 0;
	free(dir);
	json_object_put(built);
	json_object_put(progs);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

void
exec_env_key(const char *key, char *out, size_t len)
{
	static const char prefix[] = "LEDGEROPS_PARAM_";
	size_t i = 0;

	if (len == 0)
		return;
	for (; prefix[i] != '\0' && i + 1 < len; i++)
		out[i] = prefix[i];
	for (; *key != '\0' && i + 1 < len; key++, i++)
		out[i] = isalnum((unsigned char)*key)
		             ? (char)toupper((unsigned char)*key)
		             : '_';
	out[i] = '\0';
}

/* "NAME=value" as a new string. */
static char *
exec_env_pair(const char *name, const char *value)
{
	char *s;

	return asprintf(&s, "%s=%s", name, value) < 0 ? NULL : s;
}

/* The roles as "a,b,c", new string. */
static char *
exec_env_roles(json_object *roles)
{
	size_t n = roles ? json_object_array_length(roles) : 0, len = 1, i;
	const char *r;
	char *s;

	for (i = 0; i < n; i++)
		len += strlen(json_object_get_string(
		           json_object_array_get_idx(roles, i))) +
		       1;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		r = json_object_get_string(json_object_array_get_idx(roles, i));
		if (i > 0)
			strcat(s, ",");
		strcat(s, r);
	}
	return s;
}

/* 1 when env[0..n) already holds a variable with name's prefix
 * ("NAME="), so that two keys mangled alike give one variable. */
static int
exec_env_has(char **env, size_t n, const char *name)
{
	size_t len = strlen(name), i;

	for (i = 0; i < n; i++)
		if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
			return 1;
	return 0;
}

/* Appends one LEDGEROPS_PARAM_ variable per parameter. */
static int
exec_env_params(json_object *params, char **env, size_t *n)
{
	char name[160];

	if (params == NULL)
		return 0;
	json_object_object_foreach(params, key, val)
	{
		exec_env_key(key, name, sizeof name);
		if (exec_env_has(env, *n, name))
			continue;
		env[*n] = exec_env_pair(name, json_object_get_string(val));
		if (env[(*n)++] == NULL)
			return -1;
	}
	return 0;
}

char **
exec_env_build(const struct exec_input *in)
{
	size_t nparams = in->parameters
	                     ? (size_t)json_object_object_length(in->parameters)
	                     : 0;
	char **env = calloc(nparams + 4, sizeof *env);
	char ordinal[24], *roles;
	size_t n = 0;

	if (env == NULL)
		return NULL;
	snprintf(ordinal, sizeof ordinal, "%lld", (long long)in->ordinal);
	roles = exec_env_roles(in->roles);
	env[n++] = exec_env_pair("LEDGEROPS_ADDRESS", in->address);
	env[n++] = exec_env_pair("LEDGEROPS_ORDINAL", ordinal);
	env[n++] = roles ? exec_env_pair("LEDGEROPS_ROLES", roles) : NULL;
	free(roles);
	if (env[0] == NULL || env[1] == NULL || env[2] == NULL ||
	    exec_env_params(in->parameters, env, &n) != 0) {
		exec_env_free(env);
		return NULL;
	}
	return env;
}

void
exec_env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL || i < 3; i++)
		free(env[i]);
	free(env);
}
