/*
 * Turns between processes: the writers of several responders hand the
 * database to each other through a robust, process-shared mutex kept in
 * a small file beside it.  Waiting on SQLite's own lock means sleeping
 * and retrying, so the lock often idles between two writers; a mutex
 * wakes the next one the moment it is given back.  SQLite's lock still
 * guards the data: a turn only orders those who ask for it.
 */
#ifndef LEDGEROPS_TURN_H
#define LEDGEROPS_TURN_H

#include <stdint.h>

struct turn_file;

struct turn {
	struct turn_file *file; /* mapped; NULL: no turns, SQLite alone */
	int fd;                 /* held shared while the file is in use */
};

/*
 * Opens (creating if needed) the file at path.  A process that finds
 * nobody else using the file sets the mutex up afresh, so that one left
 * locked by a crash or a reboot never blocks anyone.  On failure (logged)
 * t works without turns.
 */
void turn_open(struct turn *t, const char *path);
void turn_close(struct turn *t);

/*
 * Waits for the turn until deadline_ns (CLOCK_MONOTONIC).  Returns 0
 * with the turn (or when there are no turns), -1 when the deadline
 * passed first.  The turn of a process that died holding it passes on.
 */
int turn_take(struct turn *t, int64_t deadline_ns);
void turn_give(struct turn *t);

#endif
