/* fuzz_spool_read.c - the spool's reader of spool v1 files, which
 * spool v2 still lists and delivers after an upgrade (spool_entry_get
 * and spool_read_content over a queue/ID file whose bytes are the fuzz
 * input; fuzz_spool_frame.c has spool v2's segments):
 * torn or foreign files must be reported, never crash the reader, and a
 * torn message's content is never handed on. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char top[256];
static struct spool *sp;
static int devnull = -1;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void
cleanup(void)
{
	spool_free(&sp);
	(void)nftw(top, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char id[] = "0000000000000001abcd";
	char *err = NULL;
	if (sp == NULL) {
		if (fuzz_tmpdir(top, sizeof top) == NULL)
			abort();
		int lock = spool_lock(top, &err);	/* kept for the run */
		sp = lock >= 0 ? spool_open(top, lock, &err) : NULL;
		if (sp == NULL)
			abort();
		/* spool v1 files: spool v2 still reads queue/ID (upgrades) */
		char q[300];
		(void)snprintf(q, sizeof q, "%s/queue", top);
		if (mkdir(q, 0700) < 0 && errno != EEXIST)
			abort();
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		(void)atexit(cleanup);
	}
	char path[320];
	(void)snprintf(path, sizeof path, "%s/queue/%s", top, id);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	(void)close(fd);
	struct spool_entry *e = NULL;
	int rc = spool_entry_get(sp, id, &e, &err);
	free(err);
	err = NULL;
	if (rc == 1) {
		bool torn = e->torn;
		FUZZ_CHECK(!torn || e->torn_why != NULL);
		spool_entries_free(e, 1);
		int rrc = spool_read_content(sp, id, devnull, &err);
		FUZZ_CHECK(!torn || rrc != 0);
		free(err);
	}
	(void)unlink(path);
	return 0;
}
