/* test_util.c - buffers, spans, strict base64, log_safe, log_quote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/b64.h"
#include "util/buf.h"
#include "util/conf.h"
#include "util/log.h"
#include "util/span.h"
#include "util/str.h"

static void
test_buf_cap(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_addstr(&b, "12345678"), BUF_OK);
	assert_int_equal(buf_addch(&b, '9'), BUF_TOOBIG);
	assert_int_equal(b.len, 8);
	assert_string_equal(buf_cstr(&b), "12345678");
	buf_consume(&b, 3);
	assert_string_equal(buf_cstr(&b), "45678");
	assert_int_equal(buf_printf(&b, "%d", 123), BUF_OK);
	assert_string_equal(buf_cstr(&b), "45678123");
	assert_int_equal(buf_printf(&b, "x"), BUF_TOOBIG);
	buf_wipe_free(&b);
	assert_null(b.p);
}

struct b64_case {
	const char *enc;
	const char *dec;	/* NULL: must be rejected */
	size_t declen;
};

static const struct b64_case b64_cases[] = {
	{ "", "", 0 },
	{ "Zg==", "f", 1 },
	{ "Zm8=", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYmFy", "foobar", 6 },
	{ "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", "\0tim\0tanstaaftanstaaf", 21 },
	{ "Zg=", NULL, 0 },		/* length not a multiple of 4 */
	{ "Zg", NULL, 0 },
	{ "Z===", NULL, 0 },
	{ "Zh==", NULL, 0 },		/* stray bits */
	{ "Zm9=", NULL, 0 },
	{ "Zm 9v", NULL, 0 },		/* whitespace */
	{ " Zm9v", NULL, 0 },
	{ "Zm9v\r\n", NULL, 0 },
	{ "Zm9v====", NULL, 0 },
	{ "Zg==Zg==", NULL, 0 },	/* padding inside */
	{ "Zm-v", NULL, 0 },		/* URL alphabet */
	{ "Zm_v", NULL, 0 },
	{ "=Zm9", NULL, 0 },
	{ "====", NULL, 0 },		/* padding only */
	{ "Zg=A", NULL, 0 },		/* data after padding */
	{ "Zm9v\tZm9v", NULL, 0 },	/* tab */
	{ "Zm\xc3\xa9", NULL, 0 },	/* non-ASCII bytes */
	{ "Zm9vYmFy\n", NULL, 0 },	/* trailing LF */
};

static void
test_b64(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof b64_cases / sizeof *b64_cases; i++) {
		const struct b64_case *t = &b64_cases[i];
		/* exactly-sized heap copy so ASan sees over-reads */
		size_t n = strlen(t->enc);
		char *in = malloc(n ? n : 1);
		assert_non_null(in);
		memcpy(in, t->enc, n);
		struct buf out;
		buf_init(&out, 1024);
		int rc = b64_decode(&out, in, n);
		if (t->dec == NULL) {
			assert_int_equal(rc, -1);
			assert_int_equal(out.len, 0);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(out.len, t->declen);
			assert_memory_equal(out.p ? out.p : (uint8_t *)"", t->dec, t->declen);
			struct buf enc;
			buf_init(&enc, 1024);
			assert_int_equal(b64_encode(&enc, (const uint8_t *)t->dec, t->declen), BUF_OK);
			assert_string_equal(buf_cstr(&enc), t->enc);
			buf_free(&enc);
		}
		buf_free(&out);
		free(in);
	}
}

static void
test_b64_cap(void **state)
{
	(void)state;
	struct buf out;
	buf_init(&out, 2);
	assert_int_equal(b64_decode(&out, "Zm9v", 4), BUF_TOOBIG);
	buf_free(&out);
}

static void
test_span_word(void **state)
{
	(void)state;
	struct span in = span_of("MAIL  FROM:<a@b>"), w;
	assert_int_equal(span_word(&in, &w, 10), 0);
	assert_true(span_ieq(w, "mail"));
	assert_true(span_eq(in, "FROM:<a@b>"));
	assert_int_equal(span_word(&in, &w, 3), -1);	/* too long */
	struct span e = span_of("");
	assert_int_equal(span_word(&e, &w, 10), -1);
	assert_false(span_ieq(span_of("MAILX"), "MAIL"));	/* whole tokens */
}

/* A NUL inside (strlen would stop there): explicit lengths only. */
static void
test_b64_nul(void **state)
{
	(void)state;
	static const char in[8] = { 'Z', 'm', '9', 'v', 'Z', '\0', '9', 'v' };
	uint8_t *heap = malloc(sizeof in);
	assert_non_null(heap);
	memcpy(heap, in, sizeof in);
	struct buf out;
	buf_init(&out, 64);
	assert_int_equal(b64_decode(&out, (const char *)heap, sizeof in), -1);
	assert_int_equal(out.len, 0);
	assert_int_equal(b64_decode(&out, (const char *)heap, 4), 0);	/* "foo" */
	assert_int_equal(out.len, 3);
	buf_free(&out);
	free(heap);
}

static void
test_log_safe(void **state)
{
	(void)state;
	char out[16];
	assert_string_equal(log_safe(out, sizeof out, "a\r\nb\"", 5), "a\\x0d\\x0ab\\\"");
	assert_string_equal(log_safe(out, sizeof out, "0123456789abcdefgh", 18), "0123456789ab...");
}

/* log_quote() on exactly n heap bytes (ASan sees any over-read). */
static const char *
quote_n(char *out, size_t outsz, const char *in, size_t n)
{
	char *heap = malloc(n ? n : 1);
	assert_non_null(heap);
	memcpy(heap, in, n);
	log_quote(out, outsz, heap, n);
	free(heap);
	return out;
}

static void
test_log_quote(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		/* Honest values stay as the documented lines show them. */
		{ "alice@example.test", "alice@example.test" },
		{ "[192.0.2.1]", "[192.0.2.1]" },
		{ "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]" },
		{ "a+tag/x_y-z.1", "a+tag/x_y-z.1" },
		{ "", "" },
		{ "-", "\"-\"" },
		/* Issue 12 item 7: the forged fail2ban field. */
		{ "x mech=PLAIN client=203.0.113.77",
		  "\"x\\x20mech\\x3dPLAIN\\x20client\\x3d203.0.113.77\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "line\r\nnext", "\"line\\x0d\\x0anext\"" },
		{ "caf\xc3\xa9", "\"caf\\xc3\\xa9\"" },
		{ "tab\there", "\"tab\\x09here\"" },
		{ "del\x7f", "\"del\\x7f\"" },
		{ "<a@b>", "\"<a@b>\"" },
	};
	char out[LOG_SAFE_MAX];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(quote_n(out, sizeof out, cases[i].in, strlen(cases[i].in)),
				    cases[i].want);
	/* A NUL inside the value is escaped, not an end. */
	assert_string_equal(quote_n(out, sizeof out, "a\0b", 3), "\"a\\x00b\"");
	/* Too long: cut, closed, marked outside the quotes; never past dst. */
	char small[16];
	assert_string_equal(quote_n(small, sizeof small, "0123456789abcdefgh", 18),
			    "\"0123456789\"...");
	assert_string_equal(quote_n(small, sizeof small, "a b c d e f", 11), "\"a\\x20b\\x20\"...");
	assert_string_equal(quote_n(small, sizeof small, "0123456789abcde", 15), "0123456789abcde");
	char tiny[LOG_QUOTE_MIN];
	assert_string_equal(quote_n(tiny, sizeof tiny, "\n\n\n", 3), "\"\\x0a\"...");
	assert_string_equal(quote_n(tiny, 4, "x", 1), "");
	assert_string_equal(log_quote_str(out, sizeof out, NULL), "-");
	assert_string_equal(log_quote_str(out, sizeof out, "bob"), "bob");
	/* Every byte value: the result has no blank and no '=', and no
	 * quote but its own two. */
	for (int c = 0; c < 256; c++) {
		char in[3] = { 'x', (char)c, 'y' };
		quote_n(out, sizeof out, in, 3);
		assert_null(strpbrk(out, " \t\r\n="));
		size_t quotes = 0;
		for (const char *p = out; *p; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;	/* an escape: the next byte is not a quote */
			else
				quotes += *p == '"';
		}
		assert_true(quotes == 0 || (out[0] == '"' && quotes == 2));
	}
}

static char *
write_tmp_n(const char *text, size_t n)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/postern-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
	return path;
}

static char *
write_tmp(const char *text)
{
	return write_tmp_n(text, strlen(text));
}

/* Loads text (n bytes) and expects "PATH:<want>". */
static void
conf_expect_err(const char *text, size_t n, const char *want)
{
	char *path = write_tmp_n(text, n);
	struct conf c;
	char *err = NULL;
	assert_int_equal(conf_load(&c, path, &err), -1);
	char full[256];
	snprintf(full, sizeof full, "%s:%s", path, want);
	assert_string_equal(err, full);
	free(err);
	unlink(path);
}

/* Regression: the NUL check measured the line with strlen(), so it could
 * never fire; "a = b\0c" was read as "a = b" (or as an overlong line). */
static void
test_conf_nul_and_long(void **state)
{
	(void)state;
	conf_expect_err("hostname = a\nspool = q\0x\n", 24, "2: NUL byte in line");
	conf_expect_err("hostname = a\nspool = q\0x", 23, "2: NUL byte in line");
	static char big[4200];
	memset(big, 'x', sizeof big);
	memcpy(big, "k = ", 4);
	conf_expect_err(big, sizeof big, "1: line longer than 4096 bytes");
	/* The last line needs no LF; CRLF is a line end. */
	char *path = write_tmp("a = 1\r\nb = 2");
	struct conf c;
	char *err = NULL;
	assert_int_equal(conf_load(&c, path, &err), 0);
	assert_string_equal(conf_get(&c, "a")->value, "1");
	assert_string_equal(conf_get(&c, "b")->value, "2");
	assert_int_equal(conf_get(&c, "b")->line, 2);
	conf_free(&c);
	unlink(path);
}

static void
test_conf_ok(void **state)
{
	(void)state;
	char *path = write_tmp("# comment\n\nhostname = mail.example.test\r\n"
			       "listen=127.0.0.1:1 smtp   # trailing comment\n"
			       "listen = [::1]:2 submission\nspool = q#not-a-comment\n");
	struct conf c;
	char *err = NULL;
	assert_int_equal(conf_load(&c, path, &err), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(conf_get(&c, "hostname")->value, "mail.example.test");
	assert_string_equal(conf_get(&c, "listen")->value, "[::1]:2 submission");
	assert_int_equal(conf_get(&c, "listen")->line, 5);
	assert_string_equal(conf_get(&c, "spool")->value, "q#not-a-comment");
	assert_null(conf_get(&c, "nope"));
	char *p = conf_path(&c, "users");
	assert_string_equal(p, "/tmp/users");
	free(p);
	p = conf_path(&c, "/etc/x");
	assert_string_equal(p, "/etc/x");
	free(p);
	conf_free(&c);
	unlink(path);
}

static void
test_conf_errors(void **state)
{
	(void)state;
	char *path = write_tmp("hostname = a\nthis line has no equals sign\n");
	struct conf c;
	char *err = NULL;
	assert_int_equal(conf_load(&c, path, &err), -1);
	char want[128];
	snprintf(want, sizeof want, "%s:2: expected 'key = value'", path);
	assert_string_equal(err, want);
	free(err);
	unlink(path);
	assert_int_equal(conf_load(&c, "/nonexistent/postern.conf", &err), -1);
	assert_string_equal(err, "/nonexistent/postern.conf: No such file or directory");
	free(err);
}

/* A reader's table (conf_apply): each kind stores at its offset, the
 * defaults come from the rows, an enum's message lists its words, the
 * last line of a key wins, and CONF_APPLY_KNOWN_ONLY passes over keys
 * another reader checks. */
struct demo {
	char *name, *dir;
	size_t size;
	unsigned n, secs, ms;
	bool on;
	int level;
};
static const char *const demo_onoff[] = { "off", "on", NULL };
static const char *const demo_levels[] = { "low", "mid", "high", NULL };
static const struct conf_key demo_keys[] = {
	{ "name", CONF_STRING, CONF_FIELD(struct demo, name), "anon", NULL, NULL, CONF_NONEMPTY, "" },
	{ "dir", CONF_PATH, CONF_FIELD(struct demo, dir), NULL, NULL, NULL, 0, "" },
	{ "size", CONF_SIZE, CONF_FIELD(struct demo, size), "1K", NULL, NULL, 0, "" },
	{ "n", CONF_COUNT, CONF_FIELD(struct demo, n), "7", NULL, NULL, 0, "" },
	{ "secs", CONF_SECS, CONF_FIELD(struct demo, secs), "2m", NULL, NULL, 0, "" },
	{ "ms", CONF_MSECS, CONF_FIELD(struct demo, ms), "3", NULL, NULL, 0, "" },
	{ "on", CONF_ENUM, CONF_FIELD(struct demo, on), "off", demo_onoff, NULL, 0, "" },
	{ "level", CONF_ENUM, CONF_FIELD(struct demo, level), "mid", demo_levels, NULL, 0, "" },
	{ "old", CONF_UNUSED, 0, 0, NULL, NULL, NULL, 0, "gone" },
};
#define DEMO_N (sizeof demo_keys / sizeof *demo_keys)

static char *
demo_apply(const char *text, struct demo *d, unsigned flags)
{
	char *path = write_tmp(text), *err = NULL;
	struct conf c;
	memset(d, 0, sizeof *d);
	assert_int_equal(conf_defaults(demo_keys, DEMO_N, d, &err), 0);
	assert_int_equal(conf_load(&c, path, &err), 0);
	int rc = conf_apply(&c, demo_keys, DEMO_N, d, flags, &err);
	assert_true(rc == 0 ? err == NULL : err != NULL);
	conf_free(&c);
	unlink(path);
	return err;
}

static void
demo_free(struct demo *d)
{
	free(d->name);
	free(d->dir);
}

static void
test_conf_keys(void **state)
{
	(void)state;
	struct demo d;
	assert_null(demo_apply("old = x\n", &d, 0));
	assert_string_equal(d.name, "anon");
	assert_null(d.dir);
	assert_int_equal(d.size, 1024);
	assert_int_equal(d.n, 7);
	assert_int_equal(d.secs, 120);
	assert_int_equal(d.ms, 3000);
	assert_false(d.on);
	assert_int_equal(d.level, 1);
	demo_free(&d);
	assert_null(demo_apply("name = a\nname = b\ndir = rel\nsize = 2M\non = on\n"
			       "level = high\nms = 1h\n", &d, 0));
	assert_string_equal(d.name, "b");
	assert_string_equal(d.dir, "/tmp/rel");
	assert_int_equal(d.size, 2 * 1048576);
	assert_true(d.on);
	assert_int_equal(d.level, 2);
	assert_int_equal(d.ms, 3600000);
	demo_free(&d);
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "level = top\n", "level: 'top' is not low, mid or high" },
		{ "on = yes\n", "on: 'yes' is not off or on" },
		{ "name =\n", "name: empty" },
		{ "dir =\n", "dir: empty path" },
		{ "n = 0\n", "n: '0' is not a positive whole number" },
		{ "secs = 25h\n", "secs: '25h' is not a duration (seconds, or with s, m, h)" },
		{ "size = 1T\n", "size: '1T' is not a size in bytes (K, M, G suffixes allowed)" },
		{ "other = 1\n", "unknown key 'other'" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *err = demo_apply(bad[i].text, &d, 0);
		assert_non_null(err);
		const char *colon = strstr(err, ":1: ");
		assert_non_null(colon);
		assert_string_equal(colon + 4, bad[i].msg);
		free(err);
		demo_free(&d);
	}
	assert_null(demo_apply("other = 1\nn = 5\n", &d, CONF_APPLY_KNOWN_ONLY));
	assert_int_equal(d.n, 5);
	demo_free(&d);
}

/* str_dup keeps NULL as NULL; str_wipe_free is NULL-safe and sets
 * *p = NULL (ASan in `make check` catches a double free or a leak). */
static void
test_str_dup_wipe(void **state)
{
	(void)state;
	assert_null(str_dup(NULL));
	char *s = str_dup("secret");
	assert_non_null(s);
	assert_string_equal(s, "secret");
	str_wipe_free(&s);
	assert_null(s);
	str_wipe_free(&s);	/* NULL-safe, twice */
	str_wipe_free(NULL);
	char *e = str_dup("");
	assert_string_equal(e, "");
	str_wipe_free(&e);
	assert_null(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_b64_cap),
		cmocka_unit_test(test_b64_nul),
		cmocka_unit_test(test_span_word),
		cmocka_unit_test(test_log_safe),
		cmocka_unit_test(test_log_quote),
		cmocka_unit_test(test_conf_ok),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_nul_and_long),
		cmocka_unit_test(test_str_dup_wipe),
		cmocka_unit_test(test_conf_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
