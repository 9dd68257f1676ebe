/* maildir_put - delivers stdin into a Maildir with src/deliver/maildir.c,
 * for tests/interop/test_maildir.py (not installed).
 *
 *	maildir_put [-c CHUNK] TEMPLATE LOCAL_PART DOMAIN SENDER RECIPIENT < MESSAGE
 *
 * The message is pulled through the module's reader callback, at most
 * CHUNK bytes per call (default 65536), straight from stdin.  Prints
 * "delivered PATH" or "tempfail|permfail CODE WHY", then "rss_kb=N",
 * the peak resident set size (VmHWM from /proc/self/status), so that a
 * test can check that a big message was never held whole.
 * Exit status: 0 delivered, 75 temporary failure, 65 permanent failure,
 * 1 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stdin_chunks.h"
#include "deliver/maildir.h"


static long
peak_rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

int
main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return 1;
		stdin_chunk = (size_t)strtoul(optarg, NULL, 10);
	}
	if (argc - optind != 5 || stdin_chunk == 0) {
		fprintf(stderr, "usage: maildir_put [-c CHUNK] TEMPLATE LOCAL DOMAIN SENDER RCPT\n");
		return 1;
	}
	char **a = argv + optind;
	struct maildir_env env = { .local_part = a[1], .domain = a[2], .sender = a[3],
				   .recipient = a[4] };
	struct maildir_error err = { 0 };
	char *file = NULL;
	int rc = maildir_deliver(a[0], &env, stdin_read, NULL, &file, &err);
	if (rc == 0)
		printf("delivered %s\n", file);
	else
		printf("%s %s %s\n", err.temporary ? "tempfail" : "permfail", err.enhanced, err.why);
	printf("rss_kb=%ld\n", peak_rss_kb());
	free(file);
	free(err.why);
	return rc == 0 ? 0 : err.temporary ? 75 : 65;
}
