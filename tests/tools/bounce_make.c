/* bounce_make - writes a delivery status notification with
 * src/deliver/bounce.c, for tests/interop/test_bounce.py (not installed).
 *
 *	bounce_make [-d] [-c CHUNK] HOSTNAME SENDER RCPT... < ORIGINAL
 *
 * -d makes the "delayed" warning instead of the failure report.  Each
 * RCPT is "FINAL|ORIG|REMOTE|CODE|ENH|TEXT|WHY|STATUS" (empty fields are
 * left out; TEXT may hold "\n" written as a backslash and n).  The
 * original message is pulled from stdin through the module's reader, at
 * most CHUNK bytes a call.  The report goes to stdout; "wanted=yes|no"
 * (bounce_wanted() for SENDER) goes to stderr.  The message arrived 5
 * hours ago; the delayed variant retries until 5 days after arrival.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stdin_chunks.h"
#include "deliver/bounce.h"


static const char *
field(char **s)
{
	char *f = strsep(s, "|");
	return f && *f ? f : NULL;
}

/* "\n" as two characters -> a line break, in place */
static void
unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s++;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

int
main(int argc, char **argv)
{
	enum bounce_kind kind = BOUNCE_FAILED;
	int c;
	while ((c = getopt(argc, argv, "dc:")) != -1) {
		if (c == 'd')
			kind = BOUNCE_DELAYED;
		else if (c == 'c')
			stdin_chunk = (size_t)strtoul(optarg, NULL, 10);
		else
			return 1;
	}
	if (argc - optind < 3 || stdin_chunk == 0) {
		fprintf(stderr, "usage: bounce_make [-d] [-c CHUNK] HOSTNAME SENDER RCPT...\n");
		return 1;
	}
	size_t n = (size_t)(argc - optind - 2);
	struct bounce_rcpt *r = calloc(n, sizeof *r);
	time_t now = time(NULL);
	for (size_t i = 0; r && i < n; i++) {
		char *s = argv[optind + 2 + (int)i];
		r[i].final_rcpt = field(&s);
		r[i].orig_rcpt = field(&s);
		r[i].remote_mta = field(&s);
		const char *code = field(&s);
		r[i].reply_code = code ? (int)strtol(code, NULL, 10) : 0;
		r[i].reply_enh = field(&s);
		char *text = (char *)field(&s);
		if (text)
			unescape(text);
		r[i].reply_text = text;
		r[i].why = field(&s);
		r[i].status = field(&s);
		r[i].last_attempt = now - 60;
	}
	char unique[64];
	snprintf(unique, sizeof unique, "%lld.%ld", (long long)now, (long)getpid());
	struct bounce_msg m = {
		.kind = kind, .hostname = argv[optind], .sender = argv[optind + 1],
		.queue_id = "0123456789abcdef", .arrival = now - 5 * 3600,
		.retry_until = now - 5 * 3600 + 5 * 86400, .now = now, .unique = unique,
		.rcpts = r, .nrcpts = n,
	};
	fprintf(stderr, "wanted=%s\n", bounce_wanted(m.sender, kind, NULL) ? "yes" : "no");
	struct buf out;
	char *err = NULL;
	buf_init(&out, 1 << 20);
	if (r == NULL || bounce_build(&m, stdin_read, NULL, &out, &err) < 0) {
		fprintf(stderr, "bounce_make: %s\n", err ? err : "out of memory");
		return 1;
	}
	fwrite(out.p, 1, out.len, stdout);
	buf_free(&out);
	free(r);
	return 0;
}
