#include <string.h>

#include "api.h"
#include "store.h"

static const char *const api_no_params[] = { NULL };

/* The operation addressed by the path; its type must be a known one. */
static enum err
api_operation_address(struct api_call *call, struct store_address *a)
{
	a->type = call->route->segment[0];
	a->definition = call->route->segment[1];
	a->name = NULL;
	if (model_lookup(op_type_names, OP_TYPE__MAX, a->type) < 0)
		return err_set(call->detail, sizeof call->detail,
		    ERR_OPERATION_NOT_FOUND,
		    "operation %.255s/%.255s does not exist: %.255s is not an "
		    "operation type",
		    a->type, a->definition, a->type);
	return http_params_allowed(
	    call->req, api_no_params, call->detail, sizeof call->detail);
}

enum err
api_operation_list(struct api_call *call)
{
	const char *filter4[4];
	json_object *page = NULL;
	enum err e;

	e = api_list_params(call, filter4);
	if (e == ERR_OK)
		e = store_operation_list(call->api->reader, filter4, &page,
		    call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	return api_reply(call, page);
}

static enum err
api_operation_put_write(struct db *db, void *arg, char *detail, size_t len)
{
	struct api_write *w = arg;

	return store_operation_put(
	    db, w->conf, w->info, &w->result, detail, len);
}

enum err
api_operation_put(struct api_call *call)
{
	struct api_write w = { 0 };
	json_object *info = NULL;
	const char *definition;
	struct backoff b;
	enum op_type type;
	int has_backoff;
	enum err e;

	e = http_params_allowed(
	    call->req, api_no_params, call->detail, sizeof call->detail);
	if (e == ERR_OK)
		e = api_body(call, &info);
	if (e == ERR_OK) {
		e = model_operation_info_check(
		    info, &type, &definition, &has_backoff, &b, &call->fe);
		if (e != ERR_OK)
			err_set(call->detail, sizeof call->detail, e, "%s: %s",
			    call->fe.field, call->fe.message);
	}
	w.conf = call->api->conf;
	w.info = info;
	if (e == ERR_OK)
		e = api_write(call, api_operation_put_write, &w);
	json_object_put(info);
	if (e != ERR_OK)
		return e;
	return api_reply(call, w.result);
}

enum err
api_operation_get(struct api_call *call)
{
	struct store_address a;
	json_object *elem = NULL;
	enum err e;

	e = api_operation_address(call, &a);
	if (e == ERR_OK)
		e = store_operation_get(call->api->reader, &a, &elem,
		    call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	return api_reply(call, elem);
}

static enum err
api_operation_delete_write(struct db *db, void *arg, char *detail, size_t len)
{
	struct api_write *w = arg;

	return store_operation_delete(db, w->address, &w->result, detail, len);
}

enum err
api_operation_delete(struct api_call *call)
{
	struct api_write w = { 0 };
	struct store_address a;
	enum err e;

	e = api_operation_address(call, &a);
	w.address = &a;
	if (e == ERR_OK)
		e = api_write(call, api_operation_delete_write, &w);
	if (e != ERR_OK)
		return e;
	return api_reply(call, w.result);
}
