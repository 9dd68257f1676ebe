/* test_outbox.c - the client's durable offline queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/outbox.h"
#include "util/records.h"

struct fx {
	char dir[64];
	char sub[96];
	struct outbox *ob;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/postern-outbox-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* A folder that does not exist yet: outbox_open creates it. */
	snprintf(f->sub, sizeof f->sub, "%s/a/b", f->dir);
	char *err = NULL;
	assert_int_equal(outbox_open(&f->ob, f->sub, &err), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	outbox_close(&f->ob);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static const char *const rcpts2[] = { "bob@example.test", "carol@example.test" };
static const char body[] = "Subject: hi\n\n.leading dot\nend\n";

static void
test_add_read_delete(void **state)
{
	struct fx *f = *state;
	char id[OUTBOX_ID_MAX + 1], *err = NULL;
	struct stat st;
	assert_int_equal(stat(f->sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(outbox_add(f->ob, "work", "/home/u/.msmtprc", "alice@example.test", rcpts2,
				    2, (const uint8_t *)body, sizeof body - 1, id, &err), 0);
	assert_true(outbox_id_valid(id));
	assert_int_equal(strlen(id), OUTBOX_ID_MAX);

	struct outbox_msg m;
	assert_int_equal(outbox_read(f->ob, id, &m, &err), 0);
	assert_string_equal(m.id, id);
	assert_string_equal(m.account, "work");
	assert_string_equal(m.config, "/home/u/.msmtprc");
	assert_string_equal(m.from, "alice@example.test");
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[1], "carol@example.test");
	assert_int_equal(m.len, sizeof body - 1);
	assert_memory_equal(m.data, body, m.len);
	assert_true(m.queued > 0);

	/* Keep only the second recipient (as after a 4xx for it). */
	const char *keep[] = { "carol@example.test" };
	assert_int_equal(outbox_set_rcpts(f->ob, &m, keep, 1, &err), 0);
	outbox_msg_free(&m);
	assert_int_equal(outbox_read(f->ob, id, &m, &err), 0);
	assert_int_equal(m.nrcpts, 1);
	assert_string_equal(m.rcpts[0], "carol@example.test");
	outbox_msg_free(&m);

	assert_int_equal(outbox_delete(f->ob, id, &err), 0);
	assert_int_equal(outbox_delete(f->ob, id, &err), -1);
	assert_non_null(strstr(err, "no such message"));
	free(err);
	err = NULL;
	assert_int_equal(outbox_read(f->ob, id, &m, &err), -1);
	free(err);
}

static void
test_order_and_empty_sender(void **state)
{
	struct fx *f = *state;
	char ids[5][OUTBOX_ID_MAX + 1], *err = NULL;
	for (int i = 0; i < 5; i++) {
		char msg[32];
		int n = snprintf(msg, sizeof msg, "Subject: %d\n\nx\n", i);
		assert_int_equal(outbox_add(f->ob, "acct", NULL, "", rcpts2, 1, (const uint8_t *)msg,
					    (size_t)n, ids[i], &err), 0);
	}
	/* A half-written file and a stranger are not messages. */
	char path[200];
	snprintf(path, sizeof path, "%s/.%s.tmp", f->sub, ids[0]);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	char **list;
	size_t n;
	assert_int_equal(outbox_list(f->ob, &list, &n, &err), 0);
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(list[i], ids[i]);
	outbox_free_ids(&list, n);

	struct outbox_msg m;
	assert_int_equal(outbox_read(f->ob, ids[3], &m, &err), 0);
	assert_string_equal(m.from, "");
	assert_null(m.config);
	assert_memory_equal(m.data, "Subject: 3\n", 11);
	outbox_msg_free(&m);
}

/* Every truncation of a valid file is detected, never half-read. */
static void
test_torn_file(void **state)
{
	struct fx *f = *state;
	char id[OUTBOX_ID_MAX + 1], *err = NULL, path[200];
	assert_int_equal(outbox_add(f->ob, "a", NULL, "x@y", rcpts2, 2, (const uint8_t *)body,
				    sizeof body - 1, id, &err), 0);
	snprintf(path, sizeof path, "%s/%s", f->sub, id);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	for (off_t cut = 0; cut < st.st_size; cut++) {
		assert_int_equal(truncate(path, cut), 0);
		struct outbox_msg m;
		err = NULL;
		assert_int_equal(outbox_read(f->ob, id, &m, &err), -1);
		assert_non_null(strstr(err, "damaged outbox file"));
		free(err);
	}
}

static void
test_bad_input(void **state)
{
	struct fx *f = *state;
	char id[OUTBOX_ID_MAX + 1], *err = NULL;
	struct outbox_msg m;
	assert_false(outbox_id_valid("../etc/passwd"));
	assert_false(outbox_id_valid(".lock"));
	assert_false(outbox_id_valid(""));
	assert_false(outbox_id_valid("a/b"));
	assert_int_equal(outbox_read(f->ob, "../x", &m, &err), -1);
	assert_non_null(strstr(err, "not a message ID"));
	free(err);
	err = NULL;
	assert_int_equal(outbox_add(f->ob, "", NULL, "x", rcpts2, 1, (const uint8_t *)"a", 1, id, &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(outbox_add(f->ob, "a", NULL, "x", rcpts2, 0, (const uint8_t *)"a", 1, id, &err), -1);
	assert_non_null(strstr(err, "no recipients"));
	free(err);
}

static void
test_lock(void **state)
{
	struct fx *f = *state;
	struct outbox *other;
	char *err = NULL;
	assert_int_equal(outbox_open(&other, f->sub, &err), 0);
	assert_int_equal(outbox_lock(f->ob, &err), 0);
	assert_int_equal(outbox_lock(other, &err), 1);	/* held by the first */
	outbox_close(&f->ob);
	assert_int_equal(outbox_lock(other, &err), 0);
	outbox_close(&other);
	assert_int_equal(outbox_open(&f->ob, f->sub, &err), 0);
}

static void
test_default_dir(void **state)
{
	(void)state;
	char *err = NULL, *d;
	setenv("XDG_DATA_HOME", "/x/data", 1);
	d = outbox_default_dir(&err);
	assert_string_equal(d, "/x/data/postern/outbox");
	free(d);
	setenv("XDG_DATA_HOME", "relative", 1);	/* ignored, per the XDG spec */
	setenv("HOME", "/home/u", 1);
	d = outbox_default_dir(&err);
	assert_string_equal(d, "/home/u/.local/share/postern/outbox");
	free(d);
}

/* The file is one records-codec frame, "POB2", filling it (issue 14:
 * one codec for the spool and the outbox). */
static void
test_frame_format(void **state)
{
	struct fx *f = *state;
	char id[OUTBOX_ID_MAX + 1], *err = NULL, path[200];
	assert_int_equal(outbox_add(f->ob, "work", NULL, "a@x", rcpts2, 2, (const uint8_t *)body,
				    sizeof body - 1, id, &err), 0);
	snprintf(path, sizeof path, "%s/%s", f->sub, id);
	uint8_t raw[512];
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	size_t n = fread(raw, 1, sizeof raw, fp);
	fclose(fp);
	assert_memory_equal(raw, "POB2", 4);
	const uint8_t *pl;
	size_t pn, flen;
	const char *why;
	assert_int_equal(rec_frame_parse(raw, n, "POB2", 4096, &pl, &pn, &flen, &why), REC_OK);
	assert_int_equal(flen, n);
	struct outbox_msg m;
	assert_int_equal(outbox_read(f->ob, id, &m, &err), 0);
	assert_string_equal(m.account, "work");
	assert_null(m.config);
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[0], "bob@example.test");
	assert_memory_equal(m.data, body, sizeof body - 1);
	outbox_msg_free(&m);
}

/* Reads id expecting failure with both words in the sentence. */
static void
read_refused(struct fx *f, const char *id, const char *what)
{
	struct outbox_msg m;
	char *err = NULL;
	assert_int_equal(outbox_read(f->ob, id, &m, &err), -1);
	assert_non_null(err);
	if (strstr(err, what) == NULL || strstr(err, id) == NULL)
		fail_msg("expected '%s' naming %s, got: %s", what, id, err);
	assert_null(m.account);
	assert_int_equal(m.nrcpts, 0);
	free(err);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* A file cut at every offset is "torn", one with any byte changed is
 * "not an outbox message"; neither is read. */
static void
test_torn_and_damaged_by_name(void **state)
{
	struct fx *f = *state;
	char id[OUTBOX_ID_MAX + 1], *err = NULL, path[200];
	assert_int_equal(outbox_add(f->ob, "a", NULL, "x@y", rcpts2, 2, (const uint8_t *)body,
				    sizeof body - 1, id, &err), 0);
	snprintf(path, sizeof path, "%s/%s", f->sub, id);
	uint8_t whole[512];
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	size_t n = fread(whole, 1, sizeof whole, fp);
	fclose(fp);
	assert_true(n > 12 && n < sizeof whole);
	for (size_t cut = 0; cut < n; cut++) {
		write_file(path, whole, cut);
		read_refused(f, id, ": torn (");
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t bad[512];
		memcpy(bad, whole, n);
		bad[i] ^= 0x41;
		write_file(path, bad, n);
		/* a changed length may also read as a frame cut short */
		struct outbox_msg m;
		assert_int_equal(outbox_read(f->ob, id, &m, &err), -1);
		if (strstr(err, "not an outbox message (") == NULL && !(i >= 4 && i < 8 && strstr(err, "torn (")))
			fail_msg("byte %zu changed: %s", i, err);
		free(err);
		err = NULL;
	}
	const char stranger[] = "From: someone\n\nhello, not ours\n";
	write_file(path, stranger, sizeof stranger - 1);
	read_refused(f, id, ": not an outbox message (");
	uint8_t longer[520];
	memcpy(longer, whole, n);
	memcpy(longer + n, "xx", 2);
	write_file(path, longer, n + 2);
	read_refused(f, id, ": not an outbox message (");
}

/* A file the previous version queued ("postern-outbox 1") is still
 * read; changing its recipients rewrites it as a frame. */
static void
test_old_format_still_read(void **state)
{
	struct fx *f = *state;
	const char *id = "20250102T030405.123456Z-1a2b3c4d";
	char path[200], *err = NULL;
	static const char old[] = "postern-outbox 1\n"
				  "account 4\nwork\n"
				  "from 12\nalice@x.test\n"
				  "queued 10\n1735787045\n"
				  "rcpt 16\nbob@example.test\n"
				  "rcpt 18\ncarol@example.test\n"
				  "message 12\nSubject: o\n\n\n"
				  "end 0\n\n";
	snprintf(path, sizeof path, "%s/%s", f->sub, id);
	write_file(path, old, sizeof old - 1);
	struct outbox_msg m;
	assert_int_equal(outbox_read(f->ob, id, &m, &err), 0);
	assert_string_equal(m.account, "work");
	assert_string_equal(m.from, "alice@x.test");
	assert_int_equal(m.queued, 1735787045);
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[1], "carol@example.test");
	assert_int_equal(m.len, 12);
	assert_memory_equal(m.data, "Subject: o\n\n", 12);
	const char *keep[] = { "carol@example.test" };
	assert_int_equal(outbox_set_rcpts(f->ob, &m, keep, 1, &err), 0);
	outbox_msg_free(&m);
	char head[4];
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(head, 1, 4, fp), 4);
	fclose(fp);
	assert_memory_equal(head, "POB2", 4);
	assert_int_equal(outbox_read(f->ob, id, &m, &err), 0);
	assert_int_equal(m.nrcpts, 1);
	assert_int_equal(m.queued, 1735787045);
	outbox_msg_free(&m);
	/* an old file cut short is refused too */
	write_file(path, old, sizeof old - 4);
	read_refused(f, id, "damaged outbox file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_read_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_empty_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test_setup_teardown(test_frame_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_and_damaged_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_format_still_read, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
