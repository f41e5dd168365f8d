/*
 * ledgerops-fcgi: the FastCGI responder.  A web server spawns a pool of
 * these on a listening socket passed as descriptor 0 (or -s binds one).
 * Each process serves [api] threads requests at a time; its threads
 * share a reader and a writer connection, and their writes share commits
 * (api.h, group_commit.h).
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "log.h"

/* The page caches of a responder's two connections: reads see most
 * pages, writes only those of what they change. */
#define FCGI_READER_CACHE_KIB 1536
#define FCGI_WRITER_CACHE_KIB 512

/* A read from or a write to the web server that blocks this long is
 * interrupted and its connection dropped, so that silent, stalled or
 * unread connections cannot hold every thread. */
#define FCGI_IO_TIMEOUT_NS (5 * INT64_C(1000000000))

/* At a stop, a request head still not read after this long is dropped:
 * the peer is silent (a web server sends a head all at once). */
#define FCGI_STOP_HEAD_NS (100 * INT64_C(1000000))

/* After a stop, a thread done with its request still serves what is
 * queued on the socket for at most this long. */
#define FCGI_DRAIN_NS (1000 * INT64_C(1000000))

/* Interrupts a thread blocked in I/O (see fcgi_kick). */
#define FCGI_KICK_SIGNAL SIGUSR2

/* What a thread is blocked in, if anything. */
enum fcgi_io { FCGI_IO_NONE, FCGI_IO_HEAD, FCGI_IO_READ, FCGI_IO_WRITE };

struct responder;

/* One serving thread: its request, and what it is blocked in. */
struct worker {
	struct responder *resp;
	struct api api;
	FCGX_Request request;
	pthread_t thread;
	int epoll_fd;
	int running;
	atomic_int exited;
	atomic_int io;            /* enum fcgi_io */
	atomic_llong io_since_ns; /* CLOCK_MONOTONIC when it began */
	int64_t drain_until_ns;   /* after a stop: serve what is queued until */
};

struct responder {
	struct conf conf;
	struct db reader, writer; /* shared by the threads (api.h) */
	pthread_mutex_t read_lock;
	struct group_commit group;
	int listen_fd;
	int own_socket; /* bound by -s: no other process accepts on it */
	/* The file of a Unix listening socket as it was at the start;
	 * socket_path is empty for any other kind of socket. */
	char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t socket_dev;
	ino_t socket_ino;
	int wake[2]; /* written at shutdown: threads waiting to accept leave */
	atomic_int stopping;
	struct worker *workers;
	int nworkers;
};

/* Marks the start and the end of a call that may block on the web
 * server's connection; the main thread interrupts one that lasts. */
static void
fcgi_io_begin(struct worker *w, enum fcgi_io io)
{
	atomic_store(&w->io_since_ns, db_monotonic_ns());
	atomic_store(&w->io, io);
}

static void
fcgi_io_end(struct worker *w)
{
	atomic_store(&w->io, FCGI_IO_NONE);
}

static const char *
fcgi_param(void *ctx, const char *name)
{
	struct worker *w = ctx;

	return FCGX_GetParam(name, w->request.envp);
}

static int
fcgi_read(void *ctx, char *buf, int n)
{
	struct worker *w = ctx;
	int got;

	fcgi_io_begin(w, FCGI_IO_READ);
	got = FCGX_GetStr(buf, n, w->request.in);
	fcgi_io_end(w);
	return got;
}

static int
fcgi_put(struct worker *w, const char *buf, int n)
{
	int put;

	fcgi_io_begin(w, FCGI_IO_WRITE);
	put = FCGX_PutStr(buf, n, w->request.out);
	fcgi_io_end(w);
	return put;
}

/* Writes the head and, except for HEAD, the body. */
static void
fcgi_write(struct worker *w, const struct http_request *req,
    const struct http_response *res)
{
	char head[1024];
	int n = http_format_head(res, req, head, sizeof head);

	if (n < 0 || fcgi_put(w, head, n) != n) {
		log_warnx("event=write_failed part=head");
		return;
	}
	if (req->method == HTTP_HEAD || res->body == NULL)
		return;
	if (fcgi_put(w, res->body, (int)res->body_len) != (int)res->body_len)
		log_warnx("event=write_failed part=body");
}

static void
fcgi_usage(void)
{
	fprintf(stderr, "usage: ledgerops-fcgi [-i] [-c FILE] [-s ADDRESS]\n");
	exit(2);
}

static void
fcgi_serve(struct worker *w)
{
	struct http_io io = { fcgi_param, fcgi_read, w };
	struct http_request req;
	struct http_response res;

	memset(&res, 0, sizeof res);
	api_serve(&w->api, &io, &req, &res);
	fcgi_write(w, &req, &res);
	http_response_free(&res);
	http_request_free(&req);

	/* Flushes the answer and closes: libfcgi waits there for the peer. */
	fcgi_io_begin(w, FCGI_IO_WRITE);
	FCGX_Finish_r(&w->request);
	fcgi_io_end(w);
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
 * Takes a connection and reads its request head.  The listening socket
 * is non-blocking; libfcgi reads the head with blocking reads, which the
 * main thread interrupts when they last (fcgi_kick).
 */
static int
fcgi_accept_one(struct worker *w)
{
	int rc;

	fcgi_io_begin(w, FCGI_IO_HEAD);
	rc = FCGX_Accept_r(&w->request);
	fcgi_io_end(w);
	return rc;
}

/*
 * Waits for the next request: a thread done with one takes the next
 * waiting without sleeping; one with nothing to do sleeps in epoll, on
 * the socket (exclusively, so that a connection wakes one thread, not
 * all) and on the wake pipe, which a stop makes readable for every
 * thread.  After a stop, connections already queued are still served
 * for a while, so that a restart does not reset them.  Returns 0 with a
 * request, -1 when the thread should end.
 */
static int
fcgi_accept(struct worker *w)
{
	struct responder *resp = w->resp;
	struct epoll_event ev[2];
	int rc, stopping;

	for (;;) {
		stopping = atomic_load(&resp->stopping);
		if (stopping && w->drain_until_ns == 0)
			w->drain_until_ns = db_monotonic_ns() + FCGI_DRAIN_NS;
		if (stopping && db_monotonic_ns() > w->drain_until_ns)
			return -1;
		rc = fcgi_accept_one(w);
		if (rc >= 0)
			return 0;
		if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR) {
			log_warnx("event=accept_failed errno=%d", -rc);
			fcgi_stop_all();
			return -1;
		}
		if (stopping)
			return -1; /* nothing left queued */
		if (epoll_wait(w->epoll_fd, ev, 2, -1) < 0 && errno != EINTR) {
			log_warn("event=epoll_failed");
			fcgi_stop_all();
			return -1;
		}
	}
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

	sigset_t kick;

	/* Only the worker threads take the kick; it interrupts a blocked
	 * call, and the handler does nothing. */
	sigemptyset(&kick);
	sigaddset(&kick, FCGI_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	while (fcgi_accept(w) == 0)
		fcgi_serve(w);
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

/*
 * Interrupts the threads blocked too long on the web server's
 * connection, FCGI_IO_TIMEOUT_NS, or after a stop FCGI_STOP_HEAD_NS for
 * a request head: a request being served still gets its time.  libfcgi
 * then gives the connection up.
 */
static void
fcgi_kick(struct responder *resp)
{
	int64_t now = db_monotonic_ns(), limit;
	int i, io;

	for (i = 0; i < resp->nworkers; i++) {
		struct worker *w = &resp->workers[i];

		if (!w->running || atomic_load(&w->exited))
			continue;
		io = atomic_load(&w->io);
		if (io == FCGI_IO_NONE)
			continue;
		limit = io == FCGI_IO_HEAD && atomic_load(&resp->stopping)
		            ? FCGI_STOP_HEAD_NS
		            : FCGI_IO_TIMEOUT_NS;
		if (now - atomic_load(&w->io_since_ns) > limit)
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

/* Notes which file the listening socket is, when it is one. */
static void
fcgi_socket_remember(struct responder *resp)
{
	struct sockaddr_un addr;
	socklen_t len = sizeof addr;
	struct stat st;

	memset(&addr, 0, sizeof addr);
	if (getsockname(resp->listen_fd, (struct sockaddr *)&addr, &len) != 0 ||
	    addr.sun_family != AF_UNIX || addr.sun_path[0] == '\0' ||
	    len > sizeof addr)
		return;
	memcpy(resp->socket_path, addr.sun_path, sizeof resp->socket_path);
	resp->socket_path[sizeof resp->socket_path - 1] = '\0';
	if (stat(resp->socket_path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		resp->socket_path[0] = '\0';
		return;
	}
	resp->socket_dev = st.st_dev;
	resp->socket_ino = st.st_ino;
}

/*
 * Whether the socket file was removed or replaced.  A responder whose
 * web server died (kill -9) keeps running; a new server on the same path
 * would otherwise find it and send requests to an old binary, and no
 * one would ever stop it.  Removing the socket file ends it.
 */
static int
fcgi_socket_gone(const struct responder *resp)
{
	struct stat st;

	if (resp->socket_path[0] == '\0')
		return 0;
	if (stat(resp->socket_path, &st) != 0)
		return errno == ENOENT;
	return st.st_dev != resp->socket_dev || st.st_ino != resp->socket_ino;
}

/* Waits for a stop signal, dropping stuck connections each second; a
 * removed socket file is a stop too. */
static void
fcgi_wait_for_stop(struct responder *resp)
{
	struct timespec second = { 1, 0 };
	sigset_t set;

	fcgi_stop_signals(&set);
	while (sigtimedwait(&set, NULL, &second) < 0) {
		fcgi_kick(resp);
		if (fcgi_socket_gone(resp)) {
			log_info(
			    "event=socket_gone path=\"%s\"", resp->socket_path);
			return;
		}
	}
}

/*
 * Runs the threads until a stop signal: then the threads serve what is
 * already queued on the socket (for at most FCGI_DRAIN_NS), drop
 * connections that stay silent, finish the requests they are serving,
 * and leave.  The signals stay blocked in
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

	/* A socket of our own takes no new connections from here on; the
	 * queued ones are still accepted.  One that other processes may
	 * share must stay open for them. */
	if (resp->own_socket && shutdown(resp->listen_fd, SHUT_RD) != 0)
		log_warn("event=listen_shutdown_failed");
	atomic_store(&resp->stopping, 1);
	if (write(resp->wake[1], "x", 1) != 1)
		log_warn("event=wake_failed");
	while (!fcgi_all_exited(resp)) {
		fcgi_kick(resp);
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
	fcgi_socket_remember(resp);
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
	resp.own_socket = listen_on != NULL;
	/* Opened after the server spawned us: never inherited. */
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
