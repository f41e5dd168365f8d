#define _GNU_SOURCE /* pthread_mutex_clocklock */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "turn.h"

/* Written last when the mutex is set up; names the layout, so that a
 * file from another build is set up again rather than misread. */
#define TURN_MAGIC (UINT64_C(0x6c6f7475726e0000) | sizeof(pthread_mutex_t))

struct turn_file {
	uint64_t magic;
	pthread_mutex_t mutex;
};

static int
turn_flock(int fd, int operation)
{
	int rc;

	do
		rc = flock(fd, operation);
	while (rc != 0 && errno == EINTR);
	return rc;
}

/* Takes the shared lock.  Another process holds the file exclusively
 * only while it sets the mutex up, so a wait of more than a second
 * means something else holds it: go on without turns rather than
 * wait for it. */
static int
turn_share(int fd)
{
	struct timespec pause = { 0, 10000000 };
	int i;

	for (i = 0; i < 100; i++) {
		if (turn_flock(fd, LOCK_SH | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

/* Sets the mutex up; only while holding the file alone. */
static int
turn_setup(struct turn_file *f)
{
	pthread_mutexattr_t attr;
	int rc;

	memset(f, 0, sizeof *f);
	if (pthread_mutexattr_init(&attr) != 0)
		return -1;
	rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (rc == 0)
		rc = pthread_mutex_init(&f->mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	if (rc != 0)
		return -1;
	f->magic = TURN_MAGIC;
	return 0;
}

/*
 * Every process holds a shared flock on the file while it uses the
 * mutex.  One that gets it exclusively is alone, so it may set the mutex
 * up; it then keeps a shared lock, and nobody can set the mutex up under
 * it.  Returns the mapped file or NULL.
 */
static struct turn_file *
turn_map(int fd)
{
	struct turn_file *f;
	struct stat st;
	int alone = turn_flock(fd, LOCK_EX | LOCK_NB) == 0;

	if (alone && ftruncate(fd, sizeof *f) != 0)
		return NULL;
	f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		return NULL;
	if (alone && turn_setup(f) != 0)
		goto fail;
	/* Whoever set it up made it this long; a shorter file (emptied by
	 * hand, say) would fault when read through the mapping. */
	if (turn_share(fd) != 0 || fstat(fd, &st) != 0 ||
	    st.st_size < (off_t)sizeof *f || f->magic != TURN_MAGIC)
		goto fail;
	return f;
fail:
	munmap(f, sizeof *f);
	return NULL;
}

void
turn_open(struct turn *t, const char *path)
{
	struct stat st;

	t->file = NULL;
	/* Only the responders' own user may lock it, or anyone could stall
	 * their writes by holding it. */
	t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (t->fd >= 0 && fstat(t->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* One made by an older release may be readable by others. */
		if ((st.st_mode & 077) != 0 && st.st_uid == geteuid() &&
		    fchmod(t->fd, 0600) != 0)
			log_warn("event=lock_file_mode path=\"%s\"", path);
		t->file = turn_map(t->fd);
	}
	if (t->file != NULL)
		return;
	log_warn("event=lock_file_failed path=\"%s\"", path);
	turn_close(t);
}

void
turn_close(struct turn *t)
{
	if (t->file != NULL)
		munmap(t->file, sizeof *t->file);
	if (t->fd >= 0)
		close(t->fd);
	t->file = NULL;
	t->fd = -1;
}

int
turn_take(struct turn *t, int64_t deadline_ns)
{
	struct timespec until = { (time_t)(deadline_ns / 1000000000),
		(long)(deadline_ns % 1000000000) };
	int rc;

	if (t->file == NULL)
		return 0;
#ifdef __SANITIZE_THREAD__
	/* GCC 12's ThreadSanitizer does not know clocklock and would report
	 * every unlock: under it, wait by the wall clock. */
	{
		struct timespec now;
		int64_t at;

		clock_gettime(CLOCK_REALTIME, &now);
		at = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
		     (deadline_ns - db_monotonic_ns());
		until.tv_sec = (time_t)(at / 1000000000);
		until.tv_nsec = (long)(at % 1000000000);
		rc = pthread_mutex_timedlock(&t->file->mutex, &until);
	}
#else
	/* By the monotonic clock: a step of the wall clock changes nothing. */
	rc = pthread_mutex_clocklock(&t->file->mutex, CLOCK_MONOTONIC, &until);
#endif
	if (rc == 0)
		return 0;
	if (rc == ETIMEDOUT)
		return -1;

	/* Its owner died in its turn; SQLite has rolled its transaction
	 * back, so there is nothing to repair. */
	if (rc == EOWNERDEAD && pthread_mutex_consistent(&t->file->mutex) == 0)
		return 0;
	log_warnx("event=lock_file_failed rc=%d", rc);
	turn_close(t);
	return 0;
}

void
turn_give(struct turn *t)
{
	if (t->file != NULL)
		pthread_mutex_unlock(&t->file->mutex);
}
