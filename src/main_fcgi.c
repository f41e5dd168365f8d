/*
 * ledgerops-fcgi: the FastCGI responder.  A web server spawns a pool of
 * these on a listening socket passed as descriptor 0 (or -s binds one).
 * Each process serves one request at a time against its own database
 * connection.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "log.h"

static const char *
fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

static int
fcgi_read(void *ctx, char *buf, int n)
{
	FCGX_Request *r = ctx;

	return FCGX_GetStr(buf, n, r->in);
}

/* Writes the head and, except for HEAD, the body. */
static void
fcgi_write(FCGX_Request *r, const struct http_request *req,
    const struct http_response *res)
{
	char head[1024];
	int n = http_format_head(res, req, head, sizeof head);

	if (n < 0 || FCGX_PutStr(head, n, r->out) != n) {
		log_warnx("event=write_failed part=head");
		return;
	}
	if (req->method == HTTP_HEAD || res->body == NULL)
		return;
	if (FCGX_PutStr(res->body, (int)res->body_len, r->out) !=
	    (int)res->body_len)
		log_warnx("event=write_failed part=body");
}

static void
fcgi_usage(void)
{
	fprintf(stderr, "usage: ledgerops-fcgi [-i] [-c FILE] [-s ADDRESS]\n");
	exit(2);
}

/*
 * SIGTERM keeps its default action while the process waits for a
 * request, so an idle responder exits at once.  It is blocked while a
 * request is served, so a busy one finishes it and exits right after.
 */
static void
fcgi_block_term(int block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

static void
fcgi_serve(struct api *api, FCGX_Request *r)
{
	struct http_io io = { fcgi_param, fcgi_read, r };
	struct http_request req;
	struct http_response res;

	memset(&res, 0, sizeof res);
	api_serve(api, &io, &req, &res);
	fcgi_write(r, &req, &res);
	http_response_free(&res);
	http_request_free(&req);
}

int
main(int argc, char **argv)
{
	const char *conf_arg = NULL, *listen_on = NULL;
	char err[1024];
	struct conf conf;
	struct api api;
	FCGX_Request r;
	int ch, fd = 0, init_only = 0;

	while ((ch = getopt(argc, argv, "c:is:")) != -1) {
		if (ch == 'c')
			conf_arg = optarg;
		else if (ch == 'i')
			init_only = 1;
		else if (ch == 's')
			listen_on = optarg;
		else
			fcgi_usage();
	}
	log_init("ledgerops-fcgi", 0);
	signal(SIGPIPE, SIG_IGN);
	if (conf_load(&conf, conf_choose_path(conf_arg), err, sizeof err)) {
		log_warnx("event=config_error msg=\"%s\"", err);
		return 1;
	}
	if (FCGX_Init() != 0) {
		log_warnx("event=fcgi_init_failed");
		return 1;
	}
	if (listen_on != NULL && (fd = FCGX_OpenSocket(listen_on, 64)) < 0) {
		log_warnx("event=listen_failed address=\"%s\"", listen_on);
		return 1;
	}

	/* Opened after the server spawned us: one connection per process. */
	memset(&api, 0, sizeof api);
	api.conf = &conf;
	if (db_open(&api.db, &conf, err, sizeof err) != 0) {
		log_warnx("event=database_error msg=\"%s\"", err);
		return 1;
	}
	if (init_only) {
		log_info("event=database_ready path=\"%s\"", conf.db_path);
		db_close(&api.db);
		conf_free(&conf);
		return 0;
	}
	if (FCGX_InitRequest(&r, fd, 0) != 0) {
		log_warnx("event=fcgi_init_failed");
		return 1;
	}
	log_info("event=ready");

	while (FCGX_Accept_r(&r) >= 0) {
		fcgi_block_term(1);
		fcgi_serve(&api, &r);
		FCGX_Finish_r(&r);
		fcgi_block_term(0);
	}
	db_close(&api.db);
	conf_free(&conf);
	return 0;
}
