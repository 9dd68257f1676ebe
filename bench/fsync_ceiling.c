/* fsync_ceiling.c - what each way of making 2 KB messages durable costs
 * on this disk (issue 14: the spool's layout decides which ceiling
 * postern lives under).  Run by hand:
 *
 *	cc -O2 -o /tmp/fsync_ceiling bench/fsync_ceiling.c && /tmp/fsync_ceiling DIR [N]
 *
 * file:    one new file per message, fsync it, fsync the folder (spool v1)
 * append:  groups of G messages appended to one file, one fdatasync per
 *          group (spool v2's pass; G = 1, 4, 16, 50)
 * prezero: the same into a file written with zeros and fsync'd first, so
 *          that fdatasync carries no size or extent change (a possible
 *          next step: not used by postern today)
 * Prints messages per second for each.  Nothing is asserted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG 2048

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
per_file(int dirfd, int n, const char *buf)
{
	double t0 = now();
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%d", i);
		int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, buf, MSG) != MSG || fsync(fd) < 0 || fsync(dirfd) < 0)
			die("file");
		close(fd);
	}
	printf("file:    one file + fsync + folder fsync per message: %8.0f msg/s\n", n / (now() - t0));
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "f%d", i);
		unlinkat(dirfd, name, 0);
	}
}

static void
grouped(int dirfd, int n, int group, int prezero, const char *buf)
{
	int fd = openat(dirfd, "seg", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("seg");
	if (prezero) {
		char *z = calloc(1, (size_t)MSG * 64);
		for (int i = 0; i < n; i += 64)
			if (write(fd, z, (size_t)MSG * 64) < 0)
				die("zero");
		free(z);
		if (fsync(fd) < 0)
			die("fsync");
	}
	if (fsync(dirfd) < 0)
		die("fsync dir");
	char *g = malloc((size_t)MSG * (size_t)group);
	for (int k = 0; k < group; k++)
		memcpy(g + (size_t)k * MSG, buf, MSG);
	double t0 = now();
	off_t off = 0;
	for (int i = 0; i < n; i += group) {
		if (pwrite(fd, g, (size_t)MSG * (size_t)group, off) < 0 || fdatasync(fd) < 0)
			die("append");
		off += (off_t)MSG * group;
	}
	printf("%s groups of %2d, one fdatasync each:           %8.0f msg/s\n",
	       prezero ? "prezero:" : "append: ", group, n / (now() - t0));
	free(g);
	close(fd);
	unlinkat(dirfd, "seg", 0);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fsync_ceiling DIR [N]\n");
		return 64;
	}
	int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
	int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (dirfd < 0)
		die(argv[1]);
	char buf[MSG];
	memset(buf, 'x', sizeof buf);
	per_file(dirfd, n, buf);
	int groups[] = { 1, 4, 16, 50 };
	for (size_t i = 0; i < 4; i++)
		grouped(dirfd, n, groups[i], 0, buf);
	for (size_t i = 0; i < 4; i++)
		grouped(dirfd, n, groups[i], 1, buf);
	return 0;
}
