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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
