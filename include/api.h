/*
 * The REST API: one entry point that reads a request, routes it, calls
 * the resource handler and always produces a response.  Handlers live in
 * api_operation.c, api_job.c and api_execution.c.
 */
#ifndef LEDGEROPS_API_H
#define LEDGEROPS_API_H

#include "conf.h"
#include "db.h"
#include "group_commit.h"
#include "http.h"
#include "model.h"
#include "route.h"

/*
 * What the serving threads of a process share.  Reads run one at a time
 * on the reader connection (read_lock; NULL when one thread serves):
 * one warm page cache serves a process better than a cold one per
 * thread, and reads are bound by the CPU, so more of them at once would
 * only take turns on the cores.  Writes go through the group commit,
 * whose leader runs them on the writer connection (group NULL: every
 * write commits on its own, on writer).
 */
struct api {
	const struct conf *conf;
	struct db *reader;
	pthread_mutex_t *read_lock;
	struct db *writer;
	struct group_commit *group;
};

/* What a handler gets: the request, its route, and where to answer. */
struct api_call {
	struct api *api;
	struct http_request *req;
	struct route *route;
	struct http_response *res;
	char detail[512];
	struct model_field_error fe; /* set on a 422 with a field */
};

/*
 * Serves one request read through io into req (freed by the caller with
 * http_request_free) and fills res.  Every failure becomes a problem
 * document; the function itself cannot fail.
 */
void api_serve(struct api *api, const struct http_io *io,
    struct http_request *req, struct http_response *res);

/* Resource handlers; each returns ERR_OK after filling call->res. */
enum err api_operation_list(struct api_call *call);
enum err api_operation_put(struct api_call *call);
enum err api_operation_get(struct api_call *call);
enum err api_operation_delete(struct api_call *call);
enum err api_job_put(struct api_call *call);
enum err api_job_list(struct api_call *call);
enum err api_job_get(struct api_call *call);
enum err api_job_delete(struct api_call *call);
enum err api_job_status(struct api_call *call);
enum err api_execution_list(struct api_call *call);

/* Shared by the handlers (api.c). */

/* Parses the body of call->req as a JSON object into *obj. */
enum err api_body(struct api_call *call, json_object **obj);

/* The four list parameters after checking that no others are given. */
enum err api_list_params(struct api_call *call, const char *filter4[4]);

struct store_address;

/*
 * A write of the store (store.h), run through the group commit: the
 * handler fills what its write needs and reads result and revision.
 */
struct api_write {
	const struct conf *conf;
	const struct store_address *address;
	json_object *info;
	const char *if_match;
	int status; /* enum job_status */
	json_object *result;
	int64_t revision;
};

/* Runs fn(db, w) as one write of the process's group commit; on failure
 * w->result is put and NULL. */
enum err api_write(
    struct api_call *call, group_write_fn *fn, struct api_write *w);

/* Answers 200 with obj and puts obj. */
enum err api_reply(struct api_call *call, json_object *obj);

#endif
