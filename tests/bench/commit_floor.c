/*
 * The floor of the write benchmark: how many transactions per second
 * SQLite commits on this disk with the pragmas ledgerops uses (WAL,
 * synchronous=FULL), each updating one row of the size of a job.
 * usage: commit_floor DBFILE SECONDS ROW_BYTES
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
run(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "commit_floor: %s: %s\n", sql, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	double seconds, start;
	size_t row_bytes;
	char *payload;
	long n = 0;

	if (argc != 4)
		return 2;
	seconds = atof(argv[2]);
	row_bytes = (size_t)atol(argv[3]);
	payload = malloc(row_bytes + 1);
	if (payload == NULL || sqlite3_open(argv[1], &db) != SQLITE_OK)
		return 1;
	memset(payload, 'x', row_bytes);
	payload[row_bytes] = '\0';
	if (run(db, "PRAGMA journal_mode=WAL") ||
	    run(db, "PRAGMA synchronous=FULL") ||
	    run(db, "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, "
		    "info TEXT, revision INTEGER)") ||
	    run(db, "INSERT OR REPLACE INTO t VALUES (1, '', 1)"))
		return 1;
	if (sqlite3_prepare_v2(db, "UPDATE t SET info = ?, revision = "
				   "revision + 1 WHERE id = 1", -1, &st,
		NULL) != SQLITE_OK)
		return 1;

	start = now_s();
	while (now_s() - start < seconds) {
		payload[n % row_bytes] = (char)('a' + n % 26);
		if (run(db, "BEGIN IMMEDIATE") ||
		    sqlite3_bind_text(st, 1, payload, -1, SQLITE_STATIC) ||
		    sqlite3_step(st) != SQLITE_DONE || sqlite3_reset(st) ||
		    run(db, "COMMIT"))
			return 1;
		n++;
	}
	printf("%.1f\n", n / (now_s() - start));
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(payload);
	return 0;
}
