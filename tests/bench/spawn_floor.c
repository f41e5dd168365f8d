/*
 * The fork+exec floor of the scheduler benchmark (issue 3, item 13c):
 * one parent keeps up to PARALLEL children of PROGRAM running for
 * SECONDS, forking a new one (fork, then execve with an empty
 * environment) each time waitpid() reaps one, and prints the number of
 * children reaped per second.  This is the structure of the scheduler
 * itself (one process forking and reaping, up to max_running children
 * at once) without anything else: no database, no pipes, no lease.
 *
 * usage: spawn_floor PROGRAM SECONDS PARALLEL
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
spawn(char *program)
{
	char *argv[2] = { program, NULL }, *envp[1] = { NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execve(program, argv, envp);
		_exit(127);
	}
	return pid == -1 ? -1 : 0;
}

int
main(int argc, char **argv)
{
	double seconds, start, end;
	long parallel, running = 0, done = 0;
	int status;

	if (argc != 4) {
		fprintf(stderr, "usage: spawn_floor PROGRAM SECONDS PARALLEL\n");
		return 2;
	}
	seconds = atof(argv[2]);
	parallel = atol(argv[3]);
	if (seconds <= 0 || parallel < 1) {
		fprintf(stderr, "spawn_floor: bad arguments\n");
		return 2;
	}
	start = now();
	end = start + seconds;
	for (;;) {
		while (running < parallel && now() < end) {
			if (spawn(argv[1]) != 0) {
				perror("spawn_floor: fork");
				return 1;
			}
			running++;
		}
		if (running == 0)
			break;
		if (waitpid(-1, &status, 0) == -1) {
			if (errno == EINTR)
				continue;
			perror("spawn_floor: waitpid");
			return 1;
		}
		running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "spawn_floor: child failed\n");
			return 1;
		}
		done++;
	}
	printf("%.1f\n", (double)done / (now() - start));
	return 0;
}
