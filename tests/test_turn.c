/*
 * Tests of the turns between processes with real child processes: a
 * turn held by a stopped process makes others wait only until their
 * deadline, one held by a killed process passes on, and a file left
 * locked with nobody using it (as after a reboot) is set up afresh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "turn.h"

struct fixture {
	char dir[64];
	char path[96];
	pid_t child;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "/tmp/test_turn.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof fx->path, "%s/db-lock", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char copy[128];

	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	snprintf(copy, sizeof copy, "%s.copy", fx->path);
	unlink(copy);
	unlink(fx->path);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* A child that takes the turn, says so on a pipe and stops itself with
 * the turn held. */
static pid_t
child_holding_turn(const char *path)
{
	int fds[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct turn t;

		close(fds[0]);
		turn_open(&t, path);
		if (t.file == NULL || turn_take(&t, INT64_MAX) != 0)
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		raise(SIGSTOP);
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	return pid;
}

static int64_t
in_ms(int64_t ms)
{
	return db_monotonic_ns() + ms * 1000000;
}

static void
test_stopped_holder_bounds_the_wait(void **state)
{
	struct fixture *fx = *state;
	struct turn t;
	int64_t start;

	fx->child = child_holding_turn(fx->path);
	turn_open(&t, fx->path);
	assert_non_null(t.file);
	start = db_monotonic_ns();
	assert_int_equal(turn_take(&t, in_ms(100)), -1);
	/* it waited for the deadline, not for ever */
	assert_true(db_monotonic_ns() - start >= 90 * 1000000LL);
	turn_close(&t);
}

static void
test_killed_holder_passes_the_turn(void **state)
{
	struct fixture *fx = *state;
	struct turn t;

	fx->child = child_holding_turn(fx->path);
	turn_open(&t, fx->path);
	assert_non_null(t.file);
	kill(fx->child, SIGKILL);
	waitpid(fx->child, NULL, 0);
	fx->child = 0;
	assert_int_equal(turn_take(&t, in_ms(5000)), 0);
	turn_give(&t);
	assert_int_equal(turn_take(&t, in_ms(5000)), 0);
	turn_give(&t);
	turn_close(&t);
}

/* The file copied while locked stands for one left by a reboot: its
 * owner is gone without the kernel having marked it dead. */
static void
test_stale_file_is_set_up_afresh(void **state)
{
	struct fixture *fx = *state;
	char copy[128], cmd[300];
	struct turn t;

	fx->child = child_holding_turn(fx->path);
	snprintf(copy, sizeof copy, "%s.copy", fx->path);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fx->path, copy);
	assert_int_equal(system(cmd), 0);
	turn_open(&t, copy);
	assert_non_null(t.file);
	assert_int_equal(turn_take(&t, in_ms(1000)), 0);
	turn_give(&t);
	turn_close(&t);
}

/* Someone else holding the file exclusively (not a responder setting it
 * up) made a responder block at start; now it goes on without turns. */
static void
test_foreign_lock_does_not_block(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	struct turn t;
	int fd;

	turn_open(&t, fx->path);
	assert_non_null(t.file);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	turn_close(&t);

	fd = open(fx->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	turn_open(&t, fx->path);
	assert_null(t.file);
	assert_int_equal(turn_take(&t, in_ms(0)), 0);
	turn_close(&t);
	close(fd);
}

/* An emptied file that another process holds shared was read through the
 * mapping past its end: SIGBUS at start. */
static void
test_short_file_is_refused(void **state)
{
	struct fixture *fx = *state;
	struct turn t;
	int fd;

	fd = open(fx->path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_SH), 0);
	turn_open(&t, fx->path);
	assert_null(t.file);
	turn_close(&t);
	close(fd);
}

/* A file made readable by others (an older release made it 0644) is
 * made the owner's alone. */
static void
test_open_file_is_made_private(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	struct turn t;
	int fd;

	fd = open(fx->path, O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	turn_open(&t, fx->path);
	assert_non_null(t.file);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	turn_close(&t);
}

static void
test_no_file_means_no_turns(void **state)
{
	struct fixture *fx = *state;
	char path[128];
	struct turn t;

	snprintf(path, sizeof path, "%s/missing/db-lock", fx->dir);
	turn_open(&t, path);
	assert_null(t.file);
	assert_int_equal(turn_take(&t, in_ms(0)), 0);
	turn_give(&t);
	turn_close(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_stopped_holder_bounds_the_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_killed_holder_passes_the_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stale_file_is_set_up_afresh, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_foreign_lock_does_not_block, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_short_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_file_is_made_private, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_file_means_no_turns, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
