/*
 * The child process of an execution: fork, its own process group, death
 * with the parent, stdin from a memory file, stdout and stderr through
 * non-blocking pipes, and the response code and result once it is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "model.h"

/* The stdin of the child: a memory file, so that the parent never blocks
 * writing a large execution document into a pipe. */
static int
exec_stdin_file(const char *json)
{
	size_t len = strlen(json), done = 0;
	ssize_t n;
	int fd;

	if ((fd = memfd_create("ledgerops-stdin", MFD_CLOEXEC)) == -1)
		return -1;
	while (done < len) {
		n = write(fd, json + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Everything the child inherits from the scheduler is undone here: the
 * blocked signals of the signalfd and the ignored SIGPIPE. */
static void
exec_child_signals(void)
{
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Runs in the child; never returns. */
static void
exec_child(pid_t parent, int in, int out, int err,
    const struct exec_input *input, const struct exec_builtin *builtin,
    const char *path, char *const *env)
{
	char *argv[2];

	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(127);
	exec_child_signals();
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1)
		_exit(127);
	/* Whatever else is open (the database, the signalfd, other
	 * executions' pipes) stays with the scheduler. */
	if (close_range(3, ~0U, 0) == -1)
		_exit(127);
	if (builtin != NULL) {
		fflush(NULL);
		int status = builtin->run(input);
		fflush(NULL);
		_exit(status);
	}
	argv[0] = (char *)path;
	argv[1] = NULL;
	execve(path, argv, env);

	/* The execution's result keeps stderr: say why, or 127 is all the
	 * user sees (E2BIG: a parameter of more than 128 KiB).  API users
	 * read it, so the program's name only, not where it is. */
	dprintf(2, "ledgerops: cannot execute %s: %s\n",
	    strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
	    strerror(errno));
	_exit(127);
}

static void
exec_close(int *fd)
{
	if (*fd != -1)
		close(*fd);
	*fd = -1;
}

int
exec_start(struct exec_child *c, const struct exec_input *in,
    const struct exec_builtin *builtin, const char *path, char *const *env,
    size_t limit)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, stdin_fd, saved;
	pid_t parent = getpid();

	memset(c, 0, sizeof *c);
	c->fd[0] = c->fd[1] = -1;
	c->limit = limit;
	if ((stdin_fd = exec_stdin_file(in->json)) == -1)
		return -1;
	if (pipe2(out, O_CLOEXEC) == -1 || pipe2(err, O_CLOEXEC) == -1)
		goto fail;
	if ((c->pid = fork()) == -1)
		goto fail;
	if (c->pid == 0)
		exec_child(
		    parent, stdin_fd, out[1], err[1], in, builtin, path, env);

	/* Both sides set the group, so that a signal sent right after
	 * fork() already reaches it. */
	setpgid(c->pid, c->pid);
	close(stdin_fd);
	close(out[1]);
	close(err[1]);
	c->fd[0] = out[0];
	c->fd[1] = err[0];
	if (fcntl(c->fd[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(c->fd[1], F_SETFL, O_NONBLOCK) == -1) {
		exec_signal(c, SIGKILL);
		while (waitpid(c->pid, &c->wstatus, 0) == -1 && errno == EINTR)
			;
		exec_free(c);
		c->reaped = 1;
		c->pid = -1;
		return -1;
	}
	return 0;
fail:
	saved = errno;
	c->reaped = 1;
	c->pid = -1;
	close(stdin_fd);
	exec_close(&out[0]);
	exec_close(&out[1]);
	exec_close(&err[0]);
	exec_close(&err[1]);
	errno = saved;
	return -1;
}

/* Keeps up to the limit; the rest is read and dropped so that the child
 * never blocks on a full pipe. */
static void
exec_keep(struct exec_buf *b, size_t limit, const char *data, size_t n)
{
	size_t room = b->len < limit ? limit - b->len : 0;
	size_t take = n < room ? n : room;
	char *p;

	if (take < n)
		b->truncated = 1;
	if (take == 0)
		return;
	if (b->len + take + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + take + 1)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->truncated = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, take);
	b->len += take;
	b->data[b->len] = '\0';
}

void
exec_read(struct exec_child *c, int i)
{
	char chunk[16384];
	ssize_t n;

	while (c->fd[i] != -1) {
		n = read(c->fd[i], chunk, sizeof chunk);
		if (n > 0) {
			exec_keep(&c->buf[i], c->limit, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		exec_close(&c->fd[i]);
	}
}

int
exec_reap(struct exec_child *c)
{
	siginfo_t si;

	if (c->reaped)
		return 1;

	/* WNOWAIT leaves a zombie that still owns the group id, so that
	 * killing the group cannot hit a recycled one. */
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	        -1 ||
	    si.si_pid != c->pid)
		return 0;
	kill(-c->pid, SIGKILL);
	exec_read(c, 0);
	exec_read(c, 1);
	while (waitpid(c->pid, &c->wstatus, 0) == -1) {
		if (errno != EINTR) {
			c->wstatus = 127 << 8;
			break;
		}
	}
	c->reaped = 1;

	/* Killed descendants close their ends soon; take what they wrote,
	 * but never wait for it. */
	exec_read(c, 0);
	exec_read(c, 1);
	exec_close(&c->fd[0]);
	exec_close(&c->fd[1]);
	return 1;
}

void
exec_signal(struct exec_child *c, int sig)
{
	if (!c->reaped && c->pid > 0)
		kill(-c->pid, sig);
}

void
exec_response_code(const struct exec_child *c,
    const struct exec_builtin *builtin, char *out, size_t len)
{
	const char *name;
	int st;

	if (WIFSIGNALED(c->wstatus)) {
		name = sigabbrev_np(WTERMSIG(c->wstatus));
		if (name != NULL)
			snprintf(out, len, "SIG%s", name);
		else
			snprintf(out, len, "SIG%d", WTERMSIG(c->wstatus));
		return;
	}
	st = WEXITSTATUS(c->wstatus);
	if (st == 0 && builtin != NULL && builtin->success != NULL)
		snprintf(out, len, "%s", builtin->success);
	else if (builtin != NULL && builtin->codes != NULL && st > 0 &&
	         st < builtin->ncodes && builtin->codes[st] != NULL)
		snprintf(out, len, "%s", builtin->codes[st]);
	else
		snprintf(out, len, "%d", st);
}

/* Output as a JSON string; invalid UTF-8 (also a sequence cut by the
 * limit, a surrogate or an overlong form) and NUL become '?' so that the
 * stored result stays valid JSON text that any client can decode. */
static json_object *
exec_string(const struct exec_buf *b)
{
	json_object *s;
	char *copy;
	size_t i = 0, k;

	if (b->len == 0)
		return json_object_new_string("");
	if ((copy = malloc(b->len)) == NULL)
		return NULL;
	memcpy(copy, b->data, b->len);
	while (i < b->len) {
		uint32_t cp;

		k = model_utf8_decode(
		    (unsigned char *)copy + i, b->len - i, &cp);
		if (k == 0 || cp == 0) {
			copy[i++] = '?';
			continue;
		}
		i += k;
	}
	s = json_object_new_string_len(copy, (int)b->len);
	free(copy);
	return s;
}

/*
 * stdout parsed as exactly one JSON object, or NULL.  It goes through the
 * same strict parser as request bodies: a result with duplicate keys or
 * invalid UTF-8 is kept as text rather than silently altered.
 */
static json_object *
exec_stdout_object(const struct exec_buf *b)
{
	json_object *o = NULL;

	if (b->truncated || b->len == 0)
		return NULL;
	if (model_parse_json(b->data, b->len, &o, NULL, 0) != ERR_OK)
		return NULL;
	return o;
}

json_object *
exec_result(const struct exec_child *c)
{
	json_object *o = exec_stdout_object(&c->buf[0]), *s, *e;

	if (o != NULL)
		return o;
	if ((o = json_object_new_object()) == NULL)
		return NULL;
	s = exec_string(&c->buf[0]);
	e = exec_string(&c->buf[1]);
	if (s == NULL || e == NULL || json_object_object_add(o, "stdout", s) ||
	    (s = NULL, json_object_object_add(o, "stderr", e))) {
		json_object_put(s);
		json_object_put(e);
		json_object_put(o);
		return NULL;
	}
	return o;
}

void
exec_free(struct exec_child *c)
{
	exec_close(&c->fd[0]);
	exec_close(&c->fd[1]);
	free(c->buf[0].data);
	free(c->buf[1].data);
	c->buf[0].data = c->buf[1].data = NULL;
	c->buf[0].len = c->buf[1].len = 0;
}
