#include <stdio.h>
#include <string.h>

#include "api.h"
#include "store.h"

/* The operation part of the path must name a known type. */
static enum err
api_job_check_type(struct api_call *call, const struct store_address *a)
{
	if (model_lookup(op_type_names, OP_TYPE__MAX, a->type) >= 0)
		return ERR_OK;
	if (a->name == NULL)
		return err_set(call->detail, sizeof call->detail,
		    ERR_OPERATION_NOT_FOUND,
		    "operation %.255s/%.255s does not exist: %.255s is not an "
		    "operation type",
		    a->type, a->definition, a->type);
	return err_set(call->detail, sizeof call->detail, ERR_JOB_NOT_FOUND,
	    "job %.255s/%.255s/%.255s does not exist: %.255s is not an "
	    "operation type",
	    a->type, a->definition, a->name, a->type);
}

static enum err
api_job_address(
    struct api_call *call, struct store_address *a, const char *const *params)
{
	enum err e;

	a->type = call->route->segment[0];
	a->definition = call->route->segment[1];
	a->name = call->route->segment[2];
	e = http_params_allowed(
	    call->req, params, call->detail, sizeof call->detail);
	if (e == ERR_OK)
		e = api_job_check_type(call, a);
	return e;
}

static void
api_job_etag(struct api_call *call, int64_t revision)
{
	snprintf(call->res->etag, sizeof call->res->etag, "%lld",
	    (long long)revision);
}

static enum err
api_job_put_write(struct db *db, void *arg, char *detail, size_t len)
{
	struct api_write *w = arg;

	return store_job_put(db, w->address, w->info, w->if_match, &w->result,
	    &w->revision, detail, len);
}

enum err
api_job_put(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_write w = { 0 };
	struct store_address a;
	json_object *info = NULL;
	struct backoff b;
	int has_backoff;
	int64_t timeout;
	enum err e;

	e = api_job_address(call, &a, params);
	if (e == ERR_OK)
		e = api_body(call, &info);
	if (e == ERR_OK) {
		e = model_job_info_check(
		    info, &a.name, &has_backoff, &b, &timeout, &call->fe);
		if (e != ERR_OK)
			err_set(call->detail, sizeof call->detail, e, "%s: %s",
			    call->fe.field, call->fe.message);
	}
	w.address = &a;
	w.info = info;
	w.if_match = call->req->if_match;
	if (e == ERR_OK)
		e = api_write(call, api_job_put_write, &w);
	json_object_put(info);
	if (e != ERR_OK)
		return e;
	api_job_etag(call, w.revision);
	return api_reply(call, w.result);
}

enum err
api_job_list(struct api_call *call)
{
	struct store_address a;
	const char *filter4[4];
	json_object *page = NULL;
	enum err e;

	a.type = call->route->segment[0];
	a.definition = call->route->segment[1];
	a.name = NULL;
	e = api_list_params(call, filter4);
	if (e != ERR_OK)
		return e;
	if (strcmp(a.type, "*") != 0 &&
	    model_lookup(op_type_names, OP_TYPE__MAX, a.type) < 0)
		return err_set(call->detail, sizeof call->detail,
		    ERR_OPERATION_NOT_FOUND, "%.255s is not an operation type",
		    a.type);
	e = store_job_list(call->api->reader, &a, filter4, &page, call->detail,
	    sizeof call->detail);
	if (e != ERR_OK)
		return e;
	return api_reply(call, page);
}

/* data=executions (the default) or data=none; a comma list of those. */
static enum err
api_job_data(struct api_call *call, int *with_executions)
{
	const char *data = http_param(call->req, "data");
	const char *p;

	*with_executions = 1;
	if (data == NULL)
		return ERR_OK;
	*with_executions = 0;
	for (p = data;;) {
		size_t n = strcspn(p, ",");

		if (n == 10 && strncmp(p, "executions", 10) == 0)
			*with_executions = 1;
		else if (!(n == 4 && strncmp(p, "none", 4) == 0))
			return err_set(call->detail, sizeof call->detail,
			    ERR_BAD_PARAMETER,
			    "data must list executions or none, got "
			    "\"%.*s\"",
			    (int)(n > 64 ? 64 : n), p);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return ERR_OK;
}

enum err
api_job_get(struct api_call *call)
{
	static const char *const params[] = { "data", NULL };
	struct store_address a;
	json_object *elem = NULL;
	int64_t revision = 0;
	int with_executions;
	enum err e;

	e = api_job_address(call, &a, params);
	if (e == ERR_OK)
		e = api_job_data(call, &with_executions);
	if (e == ERR_OK)
		e = store_job_get(call->api->reader, &a, with_executions, &elem,
		    &revision, call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	api_job_etag(call, revision);
	return api_reply(call, elem);
}

static enum err
api_job_delete_write(struct db *db, void *arg, char *detail, size_t len)
{
	struct api_write *w = arg;

	return store_job_delete(
	    db, w->address, w->if_match, &w->result, &w->revision, detail, len);
}

enum err
api_job_delete(struct api_call *call)
{
	static const char *const params[] = { NULL };
	struct api_write w = { 0 };
	struct store_address a;
	enum err e;

	e = api_job_address(call, &a, params);
	w.address = &a;
	w.if_match = call->req->if_match;
	if (e == ERR_OK)
		e = api_write(call, api_job_delete_write, &w);
	if (e != ERR_OK)
		return e;
	api_job_etag(call, w.revision);
	return api_reply(call, w.result);
}

static enum err
api_job_status_write(struct db *db, void *arg, char *detail, size_t len)
{
	struct api_write *w = arg;

	return store_job_set_status(db, w->address, (enum job_status)w->status,
	    &w->result, detail, len);
}

enum err
api_job_status(struct api_call *call)
{
	static const char *const params[] = { "status", NULL };
	struct api_write w = { 0 };
	struct store_address a;
	const char *status;
	int s;
	enum err e;

	e = api_job_address(call, &a, params);
	if (e != ERR_OK)
		return e;
	status = http_param(call->req, "status");
	if (status == NULL)
		return err_set(call->detail, sizeof call->detail,
		    ERR_BAD_STATUS,
		    "the status query parameter is required: "
		    "EXECUTING, PAUSED or STOPPED");
	s = model_lookup(job_status_names, JOB_STATUS__MAX, status);
	if (s < 0)
		return err_set(call->detail, sizeof call->detail,
		    ERR_BAD_STATUS,
		    "status must be EXECUTING, PAUSED or "
		    "STOPPED, got \"%.64s\"",
		    status);
	w.address = &a;
	w.status = s;
	e = api_write(call, api_job_status_write, &w);
	if (e != ERR_OK)
		return e;
	return api_reply(call, w.result);
}
