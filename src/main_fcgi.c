/*
 * ledgerops-fcgi: the FastCGI responder.  A web server spawns a pool of
 * these on a listening socket passed as descriptor 0 (or -s binds one).
 * Each process serves [api] threads requests at a time, each thread
 * with its own database connection; their writes share commits
 * (group_commit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "log.h"

/* The page caches of a responder's two connections: reads see most
 * pages, writes only those of what they change. */
#define FCGI_READER_CACHE_KIB 1536
#define FCGI_WRITER_CACHE_KIB 512

/* A connection whose request head has not arrived by then is dropped, so
 * that silent or stalled connections cannot hold every thread. */
#define FCGI_HEAD_TIMEOUT_NS (5 * INT64_C(1000000000))

/* Interrupts a thread reading a request head (see fcgi_kick). */
#define FCGI_KICK_SIGNAL SIGUSR2

struct responder;

/* One serving thread: its request and its connection. */
struct worker {
	struct responder *resp;
	struct api api;
	FCGX_Request request;
	pthread_t thread;
	int epoll_fd;
	int running;
	atomic_int exited;
	atomic_llong head_since_ns; /* reading a request head since; or 0 */
};

struct responder {
	struct conf conf;
	struct db reader, writer; /* shared by the threads (api.h) */
	pthread_mutex_t read_lock;
	struct group_commit group;
	int listen_fd;
	int wake[2]; /* written at shutdown: threads waiting to accept leave */
	atomic_int stopping;
	struct worker *workers;
	int nworkers;
};

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

/* Ends the process: the main thread, in sigwait(), takes it from here. */
static void
fcgi_stop_all(void)
{
	kill(getpid(), SIGTERM);
}

/*
 * Waits for the next request.  The listening socket is non-blocking, so
 * that a thread done with a request takes the next one waiting without
 * sleeping, and one with nothing to do sleeps in epoll: on the socket
 * (exclusively, so that a connection wakes one thread, not all) and on
 * the wake pipe, which a shutdown makes readable for every thread.
 * Returns 0 with a request, -1 when the thread should end.
 */
/*
 * Takes a connection and reads its request head.  libfcgi reads the head
 * with blocking reads, so the kick signal is let in only meanwhile: at
 * shutdown, or when the head is late, the main thread interrupts the
 * read and libfcgi drops the connection.  At any other time a kick stays
 * pending and harmless.
 */
static int
fcgi_accept_one(struct worker *w)
{
	sigset_t kick;
	int rc;

	sigemptyset(&kick);
	sigaddset(&kick, FCGI_KICK_SIGNAL);
	atomic_store(&w->head_since_ns, db_monotonic_ns());
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	rc = FCGX_Accept_r(&w->request);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
	atomic_store(&w->head_since_ns, 0);
	return rc;
}

static int
fcgi_accept(struct worker *w)
{
	struct epoll_event ev[2];
	int rc;

	while (!atomic_load(&w->resp->stopping)) {
		rc = fcgi_accept_one(w);
		if (rc >= 0)
			return 0;
		if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
			log_warnx("event=accept_failed errno=%d", -rc);
			fcgi_stop_all();
			return -1;
		}
		if (epoll_wait(w->epoll_fd, ev, 2, -1) < 0 && errno != EINTR) {
			log_warn("event=epoll_failed");
			fcgi_stop_all();
			return -1;
		}
	}
	return -1;
}

/* The thread's epoll set: the listening socket and the wake pipe. */
static int
fcgi_worker_epoll(struct worker *w)
{
	struct epoll_event listen_ev = { EPOLLIN | EPOLLEXCLUSIVE,
		{ .ptr = NULL } };
	struct epoll_event wake_ev = { EPOLLIN, { .ptr = NULL } };

	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epoll_fd < 0 ||
	    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->resp->listen_fd,
	        &listen_ev) != 0 ||
	    epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->resp->wake[0], &wake_ev) !=
	        0) {
		log_warn("event=epoll_failed");
		return -1;
	}
	return 0;
}

static void *
fcgi_worker(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&w->resp->stopping) && fcgi_accept(w) == 0) {
		fcgi_serve(&w->api, &w->request);
		FCGX_Finish_r(&w->request);
	}
	atomic_store(&w->exited, 1);
	return NULL;
}

/* Opens the two connections the threads share; 0 or -1. */
static int
fcgi_connections_open(struct responder *resp)
{
	char err[1024];

	if (db_open(&resp->reader, &resp->conf, err, sizeof err) != 0 ||
	    db_set_cache_kib(
	        &resp->reader, FCGI_READER_CACHE_KIB, err, sizeof err) != 0 ||
	    db_open(&resp->writer, &resp->conf, err, sizeof err) != 0 ||
	    db_set_cache_kib(
	        &resp->writer, FCGI_WRITER_CACHE_KIB, err, sizeof err) != 0) {
		log_warnx("event=database_error msg=\"%s\"", err);
		return -1;
	}
	return 0;
}

/* A request and an epoll set for each thread; 0 or -1. */
static int
fcgi_workers_open(struct responder *resp)
{
	int i;

	resp->workers =
	    calloc((size_t)resp->conf.threads, sizeof *resp->workers);
	if (resp->workers == NULL) {
		log_warnx("event=out_of_memory");
		return -1;
	}
	resp->nworkers = (int)resp->conf.threads;
	for (i = 0; i < resp->nworkers; i++)
		resp->workers[i].epoll_fd = -1;
	for (i = 0; i < resp->nworkers; i++) {
		struct worker *w = &resp->workers[i];

		w->resp = resp;
		w->api.conf = &resp->conf;
		w->api.reader = &resp->reader;
		w->api.read_lock = &resp->read_lock;
		w->api.writer = &resp->writer;
		w->api.group = &resp->group;
		if (FCGX_InitRequest(&w->request, resp->listen_fd, 0) != 0) {
			log_warnx("event=fcgi_init_failed");
			return -1;
		}
		if (fcgi_worker_epoll(w) != 0)
			return -1;
	}
	return 0;
}

static void
fcgi_workers_close(struct responder *resp)
{
	int i;

	for (i = 0; i < resp->nworkers; i++) {
		FCGX_Free(&resp->workers[i].request, 0);
		if (resp->workers[i].epoll_fd >= 0)
			close(resp->workers[i].epoll_fd);
	}
	free(resp->workers);
	resp->workers = NULL;
}

/* The signals that stop a responder gracefully: SIGTERM and SIGINT, and
 * SIGUSR1 and SIGHUP, which web servers send to restart FastCGI
 * applications (libfcgi's own SIGUSR1 handler would otherwise leave the
 * threads spinning). */
static void
fcgi_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGHUP);
}

static void
fcgi_on_kick(int sig)
{
	(void)sig;
}

/* Interrupts the threads that are reading a request head: all of them
 * (at shutdown), or those reading one for too long. */
static void
fcgi_kick(struct responder *resp, int all)
{
	int64_t now = db_monotonic_ns(), since;
	int i;

	for (i = 0; i < resp->nworkers; i++) {
		struct worker *w = &resp->workers[i];

		if (!w->running || atomic_load(&w->exited))
			continue;
		since = atomic_load(&w->head_since_ns);
		if (all || (since != 0 && now - since > FCGI_HEAD_TIMEOUT_NS))
			pthread_kill(w->thread, FCGI_KICK_SIGNAL);
	}
}

static int
fcgi_all_exited(struct responder *resp)
{
	int i;

	for (i = 0; i < resp->nworkers; i++)
		if (resp->workers[i].running &&
		    !atomic_load(&resp->workers[i].exited))
			return 0;
	return 1;
}

/* Waits for a stop signal, dropping late request heads each second. */
static void
fcgi_wait_for_stop(struct responder *resp)
{
	struct timespec second = { 1, 0 };
	sigset_t set;

	fcgi_stop_signals(&set);
	while (sigtimedwait(&set, NULL, &second) < 0)
		fcgi_kick(resp, 0);
}

/*
 * Runs the threads until a stop signal: then the idle ones leave at
 * once, those reading a request head drop it, and busy ones leave after
 * answering the request they are serving.  The signals stay blocked in
 * every thread and are taken here.
 */
static int
fcgi_run(struct responder *resp)
{
	struct timespec tick = { 0, 20000000 };
	struct sigaction sa;
	int i, started = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fcgi_on_kick; /* no SA_RESTART: reads give EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(FCGI_KICK_SIGNAL, &sa, NULL);
	for (i = 0; i < resp->nworkers; i++) {
		struct worker *w = &resp->workers[i];

		if (pthread_create(&w->thread, NULL, fcgi_worker, w) != 0) {
			log_warnx("event=thread_failed");
			break;
		}
		w->running = 1;
		started++;
	}
	if (started == resp->nworkers) {
		log_info("event=ready threads=%d", started);
		fcgi_wait_for_stop(resp);
	}

	atomic_store(&resp->stopping, 1);
	if (write(resp->wake[1], "x", 1) != 1)
		log_warn("event=wake_failed");
	while (!fcgi_all_exited(resp)) {
		fcgi_kick(resp, 1);
		nanosleep(&tick, NULL);
	}
	for (i = 0; i < resp->nworkers; i++)
		if (resp->workers[i].running)
			pthread_join(resp->workers[i].thread, NULL);
	log_info("event=stopped groups=%lu writes=%lu", resp->group.groups,
	    resp->group.writes);
	return started == resp->nworkers ? 0 : 1;
}

/* The shared state of the threads; 0 or -1 (logged). */
static int
fcgi_responder_init(struct responder *resp, int fd)
{
	char lock_path[4096];
	struct stat st;
	int flags;

	resp->listen_fd = fd;
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		log_warnx("event=listen_failed fd=%d msg=\"not a socket: run "
		          "under a FastCGI server or pass -s ADDRESS\"",
		    fd);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		log_warn("event=listen_failed fd=%d", fd);
		return -1;
	}
	if (pipe(resp->wake) != 0) {
		log_warn("event=pipe_failed");
		return -1;
	}
	if (snprintf(lock_path, sizeof lock_path, "%s-lock",
	        resp->conf.db_path) >= (int)sizeof lock_path ||
	    pthread_mutex_init(&resp->read_lock, NULL) != 0 ||
	    group_commit_init(&resp->group, lock_path) != 0) {
		log_warnx("event=thread_init_failed");
		return -1;
	}
	return 0;
}

/* Opens the database once, applying migrations, and exits. */
static int
fcgi_init_only(const struct conf *conf)
{
	char err[1024];
	struct db db;

	if (db_open(&db, conf, err, sizeof err) != 0) {
		log_warnx("event=database_error msg=\"%s\"", err);
		return 1;
	}
	log_info("event=database_ready path=\"%s\"", conf->db_path);
	db_close(&db);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct responder resp;
	const char *conf_arg = NULL, *listen_on = NULL;
	char err[1024];
	sigset_t set;
	int ch, fd = 0, init_only = 0, status = 1;

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
	if (conf_load(
	        &resp.conf, conf_choose_path(conf_arg), err, sizeof err)) {
		log_warnx("event=config_error msg=\"%s\"", err);
		return 1;
	}
	if (init_only) {
		status = fcgi_init_only(&resp.conf);
		conf_free(&resp.conf);
		return status;
	}

	/* Blocked before any thread starts, so that every thread inherits
	 * it and only sigtimedwait() in this one takes the signals. */
	fcgi_stop_signals(&set);
	sigaddset(&set, FCGI_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (FCGX_Init() != 0) {
		log_warnx("event=fcgi_init_failed");
		return 1;
	}
	if (listen_on != NULL && (fd = FCGX_OpenSocket(listen_on, 64)) < 0) {
		log_warnx("event=listen_failed address=\"%s\"", listen_on);
		return 1;
	}
	/* Opened after the server spawned us: one connection per thread. */
	if (fcgi_responder_init(&resp, fd) == 0) {
		if (fcgi_connections_open(&resp) == 0 &&
		    fcgi_workers_open(&resp) == 0)
			status = fcgi_run(&resp);
		fcgi_workers_close(&resp);
		db_close(&resp.writer);
		db_close(&resp.reader);
		group_commit_destroy(&resp.group);
	}
	conf_free(&resp.conf);
	return status;
}
