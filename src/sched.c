/*
 * The scheduler's loop.  Each pass: on a poll tick, look for changes by
 * others and for dead schedulers' executions; claim what is due; renew
 * leases; enforce timeouts; sleep in poll() on the signalfd and the
 * children's pipes until the next deadline; reap children and record
 * their outcome.  Times that measure intervals are CLOCK_MONOTONIC ms;
 * times stored are UTC ms.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "exec.h"
#include "log.h"
#include "sched.h"
#include "sched_store.h"
#include "store.h"

#define SCHED_CLAIMED EXEC_STATUS__MAX /* claimed, not yet logged */
#define SCHED_EXPIRED_BATCH 32

/* One execution this scheduler runs. */
struct sched_run {
	struct sched_exec x;
	char *address;
	struct exec_child child;
	const struct exec_builtin *builtin;
	int64_t started;  /* monotonic */
	int64_t deadline; /* monotonic: the job's timeout */
	int64_t kill_at;  /* monotonic: SIGKILL due; 0 when none */
	/* EXEC_STARTED until a timeout or a cancel decides the outcome. */
	enum exec_status outcome;
	const char *fail_code;    /* when no child could be started */
	json_object *fail_result; /* its result, or NULL */
	int lost;                 /* another scheduler closed it */
	int unsaved;              /* reaped, outcome not yet written */
};

struct sched {
	struct conf *conf;
	struct db db;
	struct sched_store store;
	char owner[160];
	struct sched_run *runs;
	struct sched_exec *claimed; /* claim buffer, same capacity */
	int nruns;
	int cap;
	int sigfd;
	int stopping;
	int64_t stop_at;   /* monotonic: shutdown grace ends */
	int64_t next_tick; /* monotonic */
	int64_t next_renew;
	int64_t due; /* monotonic: earliest due job */
	int64_t data_version;
	int reread; /* look for due jobs now */
};

static int64_t
sched_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
sched_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* --- the state of an execution --- */

/* Legal moves: claimed to STARTED, STARTED to any final status. */
static int
sched_legal(int from, enum exec_status to)
{
	if (from == SCHED_CLAIMED)
		return to == EXEC_STARTED;
	return from == EXEC_STARTED && to != EXEC_STARTED;
}

/*
 * The one place an execution changes state: checks the move, stamps the
 * time, writes it (the STARTED row itself was written by the claim,
 * atomically with the job) and logs one line.  duration_ms is the
 * caller's.  Returns 0, or -1 when the move is illegal or the write
 * failed (the caller retries later).
 */
static int
sched_transition(struct sched *s, struct sched_exec *x, const char *address,
    const char *owner, enum exec_status to, const char *code,
    const char *result, int64_t duration_ms)
{
	struct sched_outcome o = { to, code, result, model_now_ms() };
	const char *event =
	    to == EXEC_STARTED ? "execution_started" : "execution_stopped";
	int applied = 1;

	if (address == NULL)
		address = "-";
	if (!sched_legal((int)x->status, to)) {
		log_warnx("event=illegal_transition address=%s ordinal=%lld "
		          "from=%d to=%s",
		    address, (long long)x->ordinal, (int)x->status,
		    exec_status_names[to]);
		return -1;
	}
	if (to != EXEC_STARTED &&
	    sched_store_finish(&s->store, x, owner, &o, &applied) != 0)
		return -1;
	x->status = to;
	if (!applied)
		event = "execution_lost";
	log_info("event=%s address=%s ordinal=%lld status=%s "
	         "response_code=%s duration_ms=%lld",
	    event, address, (long long)x->ordinal, exec_status_names[to],
	    code ? code : "-", (long long)duration_ms);
	return 0;
}

/* --- starting executions --- */

/* The execution document on the child's stdin; new object. */
static json_object *
sched_exec_json(const struct sched_run *r, json_object *params,
    json_object *roles, int64_t timeout_ms)
{
	json_object *o = json_object_new_object();
	char due[MODEL_TIME_LEN], started[MODEL_TIME_LEN];
	int ok = o != NULL;

	model_format_time(r->x.due_at, due);
	model_format_time(r->x.started_at, started);
	ok = ok &&
	     !json_object_object_add(o, "id", json_object_new_int64(r->x.id));
	ok = ok && !json_object_object_add(
	               o, "address", json_object_new_string(r->address));
	ok = ok && !json_object_object_add(
	               o, "ordinal", json_object_new_int64(r->x.ordinal));
	ok = ok && !json_object_object_add(
	               o, "revision", json_object_new_int64(r->x.revision));
	ok = ok &&
	     !json_object_object_add(o, "parameters", json_object_get(params));
	ok = ok && !json_object_object_add(o, "roles", json_object_get(roles));
	ok = ok &&
	     !json_object_object_add(o, "due_at", json_object_new_string(due));
	ok = ok && !json_object_object_add(
	               o, "started_at", json_object_new_string(started));
	ok = ok && !json_object_object_add(o, "timeout_in_millis",
	               json_object_new_int64(timeout_ms));
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int sched_save(struct sched *s, struct sched_run *r);

/* Closes r at once as FAILED, without a child; result is taken. */
static void
sched_fail_start(
    struct sched *s, struct sched_run *r, const char *code, json_object *result)
{
	r->fail_code = code;
	r->fail_result = result;
	r->unsaved = sched_save(s, r) != 0;
}

/* Forks the child of r; 0, or -1 when it could not be started. */
static int
sched_fork(struct sched *s, struct sched_run *r, const char *path,
    json_object *params, json_object *roles, int64_t timeout_ms)
{
	struct exec_input in = { r->x.type, r->x.definition, r->x.name,
		r->address, r->x.ordinal, params, roles, NULL, s->conf };
	json_object *doc = sched_exec_json(r, params, roles, timeout_ms);
	char **env = NULL;
	int rc = -1;

	if (doc == NULL)
		return -1;
	in.json = json_object_to_json_string_ext(
	    doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (r->builtin == NULL && (env = exec_env_build(&in)) == NULL)
		goto out;
	rc = exec_start(&r->child, &in, r->builtin, path, env,
	    (size_t)s->conf->output_limit_bytes);
	if (rc != 0)
		log_warn("event=fork_failed address=%s", r->address);
out:
	exec_env_free(env);
	json_object_put(doc);
	return rc;
}

/* Resolves the executor of r and starts its child, or closes r FAILED. */
static void
sched_launch(struct sched *s, struct sched_run *r)
{
	json_object *params = json_tokener_parse(r->x.parameters);
	json_object *roles = json_tokener_parse(r->x.roles);
	int64_t timeout =
	    r->x.timeout_ms > 0 ? r->x.timeout_ms : s->conf->default_timeout_ms;
	char *path = NULL;

	r->builtin = exec_builtin_find(r->x.type, r->x.definition);
	if (r->builtin == NULL)
		path = exec_external_resolve(
		    s->conf->handlers_dir, r->x.type, r->x.definition);
	if (r->builtin == NULL && path == NULL)
		sched_fail_start(s, r, "NO_EXECUTOR",
		    exec_external_available(s->conf->handlers_dir, r->x.type));
	else if (params == NULL || roles == NULL ||
	         sched_fork(s, r, path, params, roles, timeout) != 0)
		sched_fail_start(s, r, "START_FAILED", NULL);
	else
		r->deadline = r->started + timeout;
	free(path);
	json_object_put(params);
	json_object_put(roles);
}

/* Makes room for n runs; -1 on ENOMEM. */
static int
sched_reserve(struct sched *s, int n)
{
	struct sched_run *runs;
	struct sched_exec *claimed;

	if (n <= s->cap)
		return 0;
	runs = realloc(s->runs, (size_t)n * sizeof *runs);
	if (runs != NULL)
		s->runs = runs;
	claimed = realloc(s->claimed, (size_t)n * sizeof *claimed);
	if (claimed != NULL)
		s->claimed = claimed;
	if (runs == NULL || claimed == NULL)
		return -1;
	s->cap = n;
	return 0;
}

/* Takes over claimed execution x as a new run and starts it. */
static void
sched_adopt(struct sched *s, struct sched_exec *x)
{
	struct sched_run *r = &s->runs[s->nruns++];

	memset(r, 0, sizeof *r);
	r->x = *x;
	r->x.status = SCHED_CLAIMED;
	r->child.pid = -1;
	r->child.fd[0] = r->child.fd[1] = -1;
	r->child.reaped = 1;
	r->outcome = EXEC_STARTED;
	r->started = sched_mono_ms();
	r->address = store_address_string(x->type, x->definition, x->name);
	if (r->address == NULL)
		r->address = strdup("-");
	sched_transition(
	    s, &r->x, r->address, s->owner, EXEC_STARTED, NULL, NULL, 0);
	sched_launch(s, r);
}

/*
 * The earliest due job, as a monotonic time.  claimed_at is the UTC time
 * the claim just made looked for due jobs with (when it had room).
 */
static void
sched_read_due(struct sched *s, int64_t now, int64_t claimed_at)
{
	int64_t due, utc = model_now_ms();

	if (sched_store_next_due(&s->store, &due) != 0 || due == INT64_MAX)
		s->due = INT64_MAX;
	else if (due <= claimed_at)
		/* Due but not claimable (a run of that job is still going):
		 * wait for a change instead of spinning. */
		s->due = s->next_tick;
	else
		/* Not due when the claim looked, perhaps due by now (the
		 * claim and its forks take time): claim it as soon as it
		 * is, not a poll interval later.  Comparing with the UTC
		 * time of the read instead of the claim's made a job that
		 * fell due in between wait for the next tick (lateness up
		 * to poll_interval_ms; tests/bench/bench_scheduler.sh). */
		s->due = now + (due > utc ? due - utc : 0);
}

/* Claims and starts due jobs while there is room. */
static void
sched_claim(struct sched *s, int64_t now)
{
	int room = (int)s->conf->max_running - s->nruns, n = 0, i;
	int64_t utc = model_now_ms();

	if (s->stopping || (!s->reread && now < s->due))
		return;
	s->reread = 0;
	if (room > 0 && sched_reserve(s, (int)s->conf->max_running) == 0 &&
	    sched_store_claim(&s->store, s->owner, utc, s->conf->lease_ms, room,
	        s->claimed, &n) == 0) {
		for (i = 0; i < n; i++)
			sched_adopt(s, &s->claimed[i]);
	}
	/* A full claim may have left more due jobs behind. */
	if (n > 0 && n == room)
		s->reread = 1;
	sched_read_due(s, now, utc);
}

/* --- running executions --- */

/* Starts ending r with outcome: SIGTERM now, SIGKILL after the grace. */
static void
sched_stop_run(
    struct sched *s, struct sched_run *r, enum exec_status outcome, int64_t now)
{
	if (r->outcome != EXEC_STARTED || r->child.reaped)
		return;
	r->outcome = outcome;
	exec_signal(&r->child, SIGTERM);
	r->kill_at = now + s->conf->kill_grace_ms;
}

/* Stops runs whose job was stopped or deleted, or that were lost. */
static void
sched_check_runs(struct sched *s, int64_t now)
{
	enum sched_check c;
	int i;

	for (i = 0; i < s->nruns; i++) {
		struct sched_run *r = &s->runs[i];

		if (r->child.reaped ||
		    sched_store_check(&s->store, r->x.id, s->owner, &c) != 0)
			continue;
		if (c == SCHED_CHECK_CANCEL)
			sched_stop_run(s, r, EXEC_CANCELLED, now);
		else if (c == SCHED_CHECK_LOST)
			r->lost = 1;
		if (r->lost)
			exec_signal(&r->child, SIGKILL);
	}
}

/* Closes executions whose scheduler died (their lease expired). */
static void
sched_recover(struct sched *s)
{
	struct sched_exec x[SCHED_EXPIRED_BATCH];
	char *address;
	int n = 0, i;

	if (sched_store_expired(&s->store, s->owner, model_now_ms(), x,
	        SCHED_EXPIRED_BATCH, &n) != 0)
		n = 0;
	for (i = 0; i < n; i++) {
		address =
		    store_address_string(x[i].type, x[i].definition, x[i].name);
		sched_transition(s, &x[i], address ? address : "-", NULL,
		    EXEC_ABANDONED, "ABANDONED", NULL,
		    model_now_ms() - x[i].started_at);
		free(address);
		sched_exec_free(&x[i]);
		s->reread = 1;
	}
}

/* Once per poll interval: changes by others, dead schedulers. */
static void
sched_tick(struct sched *s, int64_t now)
{
	int64_t version;

	if (now < s->next_tick)
		return;
	s->next_tick = now + s->conf->poll_interval_ms;
	if (sched_store_data_version(&s->store, &version) == 0 &&
	    version != s->data_version) {
		s->data_version = version;
		s->reread = 1;
		sched_check_runs(s, now);
	}
	sched_recover(s);
}

/* Extends the leases of all runs; a lease lost means the run is lost. */
static void
sched_renew(struct sched *s, int64_t now)
{
	int64_t ids[CONF_MAX_RUNNING];
	int held[CONF_MAX_RUNNING], idx[CONF_MAX_RUNNING], n = 0, i;

	if (now < s->next_renew)
		return;
	s->next_renew = now + s->conf->lease_ms / 3;
	for (i = 0; i < s->nruns && n < CONF_MAX_RUNNING; i++)
		if (!s->runs[i].child.reaped && !s->runs[i].lost) {
			idx[n] = i;
			ids[n++] = s->runs[i].x.id;
		}
	if (sched_store_renew(&s->store, s->owner,
	        model_now_ms() + s->conf->lease_ms, ids, n, held) != 0)
		return;
	for (i = 0; i < n; i++)
		if (!held[i]) {
			s->runs[idx[i]].lost = 1;
			exec_signal(&s->runs[idx[i]].child, SIGKILL);
		}
}

/* Timeouts, the SIGKILL after a SIGTERM, the end of shutdown grace. */
static void
sched_timers(struct sched *s, int64_t now)
{
	int i;

	for (i = 0; i < s->nruns; i++) {
		struct sched_run *r = &s->runs[i];

		if (r->child.reaped)
			continue;
		if (s->stopping && now >= s->stop_at)
			sched_stop_run(s, r, EXEC_CANCELLED, now);
		if (now >= r->deadline)
			sched_stop_run(s, r, EXEC_TIMED_OUT, now);
		if (r->kill_at != 0 && now >= r->kill_at) {
			exec_signal(&r->child, SIGKILL);
			r->kill_at = 0;
		}
	}
}

/* Records the outcome of reaped run r; 0 when written. */
static int
sched_save(struct sched *s, struct sched_run *r)
{
	enum exec_status st = r->outcome;
	json_object *result;
	char code[32];
	int rc;

	if (r->fail_code != NULL) {
		st = EXEC_FAILED;
		snprintf(code, sizeof code, "%s", r->fail_code);
		result = json_object_get(r->fail_result);
	} else {
		if (st == EXEC_STARTED)
			st = WIFEXITED(r->child.wstatus) &&
			             WEXITSTATUS(r->child.wstatus) == 0
			         ? EXEC_SUCCEEDED
			         : EXEC_FAILED;
		exec_response_code(&r->child, r->builtin, code, sizeof code);
		result = exec_result(&r->child);
	}
	rc = sched_transition(s, &r->x, r->address, s->owner, st, code,
	    result
	        ? json_object_to_json_string_ext(result,
	              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
	        : NULL,
	    sched_mono_ms() - r->started);
	json_object_put(result);
	return rc;
}

static void
sched_drop(struct sched *s, int i)
{
	struct sched_run *r = &s->runs[i];

	exec_free(&r->child);
	json_object_put(r->fail_result);
	sched_exec_free(&r->x);
	free(r->address);
	s->runs[i] = s->runs[--s->nruns];
	s->reread = 1;
}

/* Reaps exited children and writes their outcome; a failed write is
 * retried on the next tick. */
static void
sched_reap(struct sched *s, int tick)
{
	int i = 0;

	while (i < s->nruns) {
		struct sched_run *r = &s->runs[i];
		int was_running = !r->child.reaped;

		if (was_running && !exec_reap(&r->child)) {
			i++;
			continue;
		}
		if (was_running || (r->unsaved && tick))
			r->unsaved = sched_save(s, r) != 0;
		if (r->unsaved)
			i++;
		else
			sched_drop(s, i);
	}
}

/* --- signals and sleeping --- */

/* Blocks the signals the loop handles and reads them from a signalfd. */
static int
sched_signals(struct sched *s)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return s->sigfd == -1 ? -1 : 0;
}

/* SIGHUP: a new configuration replaces the old only when it loads. */
static void
sched_reload(struct sched *s)
{
	struct conf fresh;
	char err[1024];

	if (conf_load(&fresh, s->conf->file, err, sizeof err) != 0) {
		log_warnx("event=reload_failed msg=\"%s\"", err);
		return;
	}
	if (strcmp(fresh.db_path, s->conf->db_path) != 0)
		log_warnx("event=reload_db_path_ignored");
	conf_free(s->conf);
	*s->conf = fresh;
	s->next_tick = s->next_renew = 0;
	log_info("event=reloaded file=\"%s\"", s->conf->file);
}

static void
sched_read_signals(struct sched *s, int64_t now)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			sched_reload(s);
		} else if ((si.ssi_signo == SIGTERM ||
		               si.ssi_signo == SIGINT) &&
		           !s->stopping) {
			s->stopping = 1;
			s->stop_at = now + s->conf->shutdown_grace_ms;
			log_info("event=stopping running=%d", s->nruns);
		}
	}
}

/* The next moment something is due, as a poll() timeout in ms. */
static int
sched_timeout(const struct sched *s, int64_t now)
{
	int64_t t = s->next_tick;
	int i;

	if (!s->stopping && s->nruns < s->conf->max_running)
		t = sched_min(t, s->reread ? now : s->due);
	if (s->nruns > 0)
		t = sched_min(t, s->next_renew);
	if (s->stopping)
		t = sched_min(t, s->stop_at);
	for (i = 0; i < s->nruns; i++) {
		const struct sched_run *r = &s->runs[i];

		if (r->child.reaped)
			continue;
		if (r->outcome == EXEC_STARTED)
			t = sched_min(t, r->deadline);
		if (r->kill_at != 0)
			t = sched_min(t, r->kill_at);
	}
	t -= now;
	return t <= 0 ? 0 : (int)sched_min(t, 60000);
}

/* Sleeps until a signal, child output or the next deadline. */
static void
sched_wait(struct sched *s, int64_t now)
{
	struct pollfd pfd[1 + 2 * CONF_MAX_RUNNING];
	int n = 0, i, j, k, rc;

	pfd[n++] = (struct pollfd){ s->sigfd, POLLIN, 0 };
	for (i = 0; i < s->nruns && n + 2 <= 1 + 2 * CONF_MAX_RUNNING; i++)
		for (j = 0; j < 2; j++)
			if (s->runs[i].child.fd[j] != -1)
				pfd[n++] =
				    (struct pollfd){ s->runs[i].child.fd[j],
					    POLLIN, 0 };
	rc = poll(pfd, (nfds_t)n, sched_timeout(s, now));
	if (rc < 0 && errno != EINTR)
		log_warn("event=poll_failed");
	if (rc <= 0)
		return;
	if (pfd[0].revents)
		sched_read_signals(s, sched_mono_ms());
	for (i = 0; i < s->nruns; i++)
		for (j = 0; j < 2; j++)
			for (k = 1; k < n; k++)
				if (pfd[k].fd == s->runs[i].child.fd[j] &&
				    pfd[k].revents)
					exec_read(&s->runs[i].child, j);
}

/* --- start and loop --- */

/* hostname:pid:random, unique among schedulers sharing the database. */
static void
sched_owner(struct sched *s)
{
	char host[64] = "localhost";
	uint32_t rnd = 0;

	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)sched_mono_ms() ^ (uint32_t)getpid();
	snprintf(s->owner, sizeof s->owner, "%s:%ld:%08x", host, (long)getpid(),
	    (unsigned)rnd);
}

static int
sched_open(struct sched *s)
{
	char err[1024];

	if (db_open(&s->db, s->conf, err, sizeof err) != 0) {
		log_warnx("event=database_error msg=\"%s\"", err);
		return -1;
	}
	if (sched_store_open(&s->store, s->db.handle) != 0 ||
	    sched_store_data_version(&s->store, &s->data_version) != 0 ||
	    sched_reserve(s, (int)s->conf->max_running) != 0)
		return -1;
	if (sched_signals(s) != 0) {
		log_warn("event=signal_setup_failed");
		return -1;
	}
	sched_owner(s);
	s->reread = 1;
	return 0;
}

static void
sched_close(struct sched *s)
{
	if (s->sigfd != -1)
		close(s->sigfd);
	sched_store_close(&s->store);
	db_close(&s->db);
	free(s->runs);
	free(s->claimed);
	conf_free(s->conf);
}

int
sched_main(struct conf *conf)
{
	struct sched s;
	int64_t now;
	int tick;

	memset(&s, 0, sizeof s);
	s.conf = conf;
	s.sigfd = -1;
	if (sched_open(&s) != 0) {
		sched_close(&s);
		return 1;
	}
	log_info("event=started owner=%s max_running=%lld", s.owner,
	    (long long)conf->max_running);
	while (!s.stopping || s.nruns > 0) {
		now = sched_mono_ms();
		tick = now >= s.next_tick;
		sched_tick(&s, now);
		sched_claim(&s, now);
		sched_renew(&s, now);
		sched_timers(&s, now);
		sched_wait(&s, now);
		sched_reap(&s, tick);
	}
	log_info("event=stopped owner=%s", s.owner);
	sched_close(&s);
	return 0;
}
