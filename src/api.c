#include <stdio.h>
#include <string.h>

#include "api.h"
#include "log.h"

enum err
api_body(struct api_call *call, json_object **obj)
{
	return model_parse_json(call->req->body ? call->req->body : "",
	    call->req->body_len, obj, call->detail, sizeof call->detail);
}

enum err
api_list_params(struct api_call *call, const char *filter4[4])
{
	static const char *const allowed[] = { "filter", "sort", "page[number]",
		"page[size]", NULL };
	enum err e;

	e = http_params_allowed(
	    call->req, allowed, call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	filter4[0] = http_param(call->req, "filter");
	filter4[1] = http_param(call->req, "sort");
	filter4[2] = http_param(call->req, "page[number]");
	filter4[3] = http_param(call->req, "page[size]");
	return ERR_OK;
}

enum err
api_write(struct api_call *call, group_write_fn *fn, struct api_write *w)
{
	enum err e;

	w->result = NULL;
	e = group_commit_run(call->api->group, call->api->writer, fn, w,
	    call->detail, sizeof call->detail);
	if (e != ERR_OK) {
		json_object_put(w->result);
		w->result = NULL;
	}
	return e;
}

enum err
api_reply(struct api_call *call, json_object *obj)
{
	enum err e = http_respond_json(call->res, 200, obj);

	json_object_put(obj);
	if (e != ERR_OK)
		return err_set(call->detail, sizeof call->detail, ERR_INTERNAL,
		    "the answer could not be serialised");
	return ERR_OK;
}

/* Which handler serves a route and method.  Wildcards mean "any" and
 * turn a single job into a list of executions across jobs. */
static enum err (*api_handler(const struct route *r, enum http_method m))(
    struct api_call *)
{
	int get = m == HTTP_GET || m == HTTP_HEAD;

	switch (r->kind) {
	case ROUTE_OPERATIONS:
		return get ? api_operation_list : api_operation_put;
	case ROUTE_OPERATION:
		if (get)
			return api_operation_get;
		return m == HTTP_PUT ? api_job_put : api_operation_delete;
	case ROUTE_JOBS:
		return api_job_list;
	case ROUTE_JOB:
		if (get)
			return r->wildcard ? api_execution_list : api_job_get;
		return m == HTTP_POST ? api_job_status : api_job_delete;
	case ROUTE_EXECUTIONS:
		return api_execution_list;
	default:
		return NULL;
	}
}

/* Routing checks that come before any handler runs. */
static enum err
api_check_route(struct api_call *call)
{
	const struct route *r = call->route;
	enum http_method m = call->req->method;

	if (!route_allows(r->kind, m)) {
		snprintf(call->res->allow, sizeof call->res->allow, "%s",
		    route_allow_header(r->kind));
		return err_set(call->detail, sizeof call->detail, ERR_METHOD,
		    "%.15s is not allowed here; allowed: %s",
		    call->req->method_name[0] ? call->req->method_name : "?",
		    route_allow_header(r->kind));
	}
	if (r->wildcard && m != HTTP_GET && m != HTTP_HEAD)
		return err_set(call->detail, sizeof call->detail, ERR_BAD_PATH,
		    "'*' wildcards are allowed only when listing with GET");
	if (r->wildcard && r->kind == ROUTE_OPERATION)
		return err_set(call->detail, sizeof call->detail, ERR_BAD_PATH,
		    "'*' wildcards select jobs or executions; list "
		    "operations with GET %s/",
		    ROUTE_BASE);
	return ERR_OK;
}

/* Runs a reading handler on the reader connection, alone on it. */
static enum err
api_read(struct api_call *call)
{
	struct api *api = call->api;
	enum err e;

	if (api->read_lock != NULL)
		pthread_mutex_lock(api->read_lock);
	e = api_handler(call->route, call->req->method)(call);

	/* Nothing read for this request may outlive it. */
	db_reset_all(api->reader);
	if (api->read_lock != NULL)
		pthread_mutex_unlock(api->read_lock);
	return e;
}

static enum err
api_dispatch(struct api_call *call, const struct http_io *io)
{
	struct http_request *req = call->req;
	enum err e;

	e = route_match(
	    req->path, call->route, call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	e = api_check_route(call);
	if (e != ERR_OK)
		return e;
	if (req->method == HTTP_PUT) {
		e = http_read_body(req, io, call->api->conf->max_body_bytes,
		    call->detail, sizeof call->detail);
		if (e != ERR_OK)
			return e;
	}
	if (req->method != HTTP_GET && req->method != HTTP_HEAD)
		return api_handler(call->route, req->method)(call);
	return api_read(call);
}

/* Refused and failed requests are logged; served ones only at debug
 * level, which keeps the hot path free of a write per request. */
static void
api_log(const struct api_call *call, enum err e)
{
	char id[160], path[300], detail[600];
	int status = e == ERR_OK ? call->res->status : http_status_of(e);

	if (e == ERR_OK) {
		log_debug("event=request request_id=%s method=%.15s path=%s "
		          "status=%d",
		    log_quote(call->req->request_id, id, sizeof id),
		    call->req->method_name,
		    log_quote(call->req->path ? call->req->path : "", path,
		        sizeof path),
		    status);
		return;
	}
	log_info("event=request request_id=%s method=%.15s path=%s status=%d "
	         "detail=%s",
	    log_quote(call->req->request_id, id, sizeof id),
	    call->req->method_name,
	    log_quote(
	        call->req->path ? call->req->path : "", path, sizeof path),
	    status, log_quote(call->detail, detail, sizeof detail));
}

void
api_serve(struct api *api, const struct http_io *io, struct http_request *req,
    struct http_response *res)
{
	struct route route;
	struct api_call call;
	enum err e;

	memset(&call, 0, sizeof call);
	memset(&route, 0, sizeof route);
	call.api = api;
	call.req = req;
	call.route = &route;
	call.res = res;

	e = http_read_head(req, io, api->conf->require_headers, call.detail,
	    sizeof call.detail);
	if (e == ERR_OK)
		e = api_dispatch(&call, io);
	if (e != ERR_OK) {
		http_respond_problem(res, e, call.detail, req->request_id,
		    call.fe.field[0] ? call.fe.field : NULL,
		    call.fe.field[0] ? call.fe.message : NULL);
	}
	api_log(&call, e);
	route_free(&route);
}
