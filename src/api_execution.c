#include <string.h>

#include "api.h"
#include "store.h"

enum err
api_execution_list(struct api_call *call)
{
	struct store_address a;
	const char *filter4[4];
	json_object *page = NULL;
	enum err e;

	a.type = call->route->segment[0];
	a.definition = call->route->segment[1];
	a.name = call->route->segment[2];
	e = api_list_params(call, filter4);
	if (e != ERR_OK)
		return e;
	if (strcmp(a.type, "*") != 0 &&
	    model_lookup(op_type_names, OP_TYPE__MAX, a.type) < 0)
		return err_set(call->detail, sizeof call->detail,
		    ERR_OPERATION_NOT_FOUND, "%.255s is not an operation type",
		    a.type);
	e = store_execution_list(call->api->reader, &a, filter4, &page,
	    call->detail, sizeof call->detail);
	if (e != ERR_OK)
		return e;
	return api_reply(call, page);
}
