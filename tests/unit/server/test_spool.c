/* test_spool.c - the spool: round trip of every envelope field, group
 * publish, abort, clean-up of tmp/ at start, and a file cut at every
 * byte offset always reported torn, never listed as whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/spool.h"

struct fixture {
	char dir[64];
	char spool[96];
	int lock;
	struct spool *sp;
};

static void
rm_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_spool.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->spool, sizeof f->spool, "%s/spool", f->dir);
	char *err = NULL;
	f->lock = spool_lock(f->spool, &err);
	f->sp = f->lock < 0 ? NULL : spool_open(f->spool, f->lock, &err);
	if (f->sp == NULL) {
		fprintf(stderr, "spool_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	spool_free(&f->sp);
	if (f->lock >= 0)
		close(f->lock);
	char p[160];
	snprintf(p, sizeof p, "%s/lock", f->spool);
	unlink(p);
	snprintf(p, sizeof p, "%s/tmp", f->spool);
	rm_files(p);
	snprintf(p, sizeof p, "%s/queue", f->spool);
	rm_files(p);
	rmdir(f->spool);
	rmdir(f->dir);
	free(f);
	return 0;
}

static size_t
count_files(const struct fixture *f, const char *sub)
{
	char p[160];
	snprintf(p, sizeof p, "%s/%s", f->spool, sub);
	DIR *d = opendir(p);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static const char *const rcpts[] = { "bob@example.net", "\"carol x\"@example.org", "postmaster" };

static const struct spool_envelope full_env = {
	.mail_from = "alice@example.test",
	.auth_param = "alice@example.test",
	.rcpts = rcpts,
	.nrcpt = 3,
	.body = "8BITMIME",
	.auth_user = "alice@example.test",
	.auth_mech = "SCRAM-SHA-256",
	.client_addr = "127.0.0.1:54321",
	.helo = "client.example.test",
	.tls_version = "TLSv1.3",
	.tls_cipher = "TLS_AES_256_GCM_SHA384",
	.arrival = 1700000000,
};

/* Writes content in pieces of the given sizes, closes and publishes. */
static void
put_msg(struct fixture *f, const struct spool_envelope *env, const uint8_t *content, size_t len,
	char id_r[SPOOL_ID_MAX])
{
	const char *why = NULL;
	struct spool_msg *m = spool_msg_new(f->sp, id_r, &why);
	assert_non_null(m);
	size_t steps[] = { 1, 7, 70000, 3, 65531, 100000 };
	for (size_t off = 0, i = 0; off < len; i++) {
		size_t k = steps[i % 6];
		if (k > len - off)
			k = len - off;
		assert_int_equal(spool_msg_write(m, content + off, k), 0);
		off += k;
	}
	assert_int_equal(spool_msg_close(m, env, &why), 0);
	const char *own = "unset";
	assert_int_equal(spool_publish(f->sp, &m, 1, &own, &why), 0);
	assert_null(own);
	assert_null(m);
}

static uint8_t *
read_content(struct fixture *f, const char *id, size_t *len_r, int *rc_r)
{
	FILE *t = tmpfile();
	assert_non_null(t);
	char *err = NULL;
	*rc_r = spool_read_content(f->sp, id, fileno(t), &err);
	free(err);
	fseek(t, 0, SEEK_END);
	long n = ftell(t);
	rewind(t);
	uint8_t *p = malloc((size_t)n + 1);
	assert_int_equal(fread(p, 1, (size_t)n, t), (size_t)n);
	fclose(t);
	*len_r = (size_t)n;
	return p;
}

static void
assert_env_equal(const struct spool_envelope *a, const struct spool_envelope *b)
{
	assert_string_equal(a->mail_from, b->mail_from);
	assert_string_equal(a->auth_param, b->auth_param);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++)
		assert_string_equal(a->rcpts[i], b->rcpts[i]);
	assert_string_equal(a->body, b->body);
	assert_string_equal(a->auth_user, b->auth_user);
	assert_string_equal(a->auth_mech, b->auth_mech);
	assert_string_equal(a->client_addr, b->client_addr);
	assert_string_equal(a->helo, b->helo);
	assert_string_equal(a->tls_version, b->tls_version);
	assert_string_equal(a->tls_cipher, b->tls_cipher);
	assert_int_equal(a->arrival, b->arrival);
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	assert_int_equal(stat(f->spool, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* 250 000 bytes: several 64 KiB chunks, all byte values */
	size_t len = 250000;
	uint8_t *content = malloc(len);
	for (size_t i = 0; i < len; i++)
		content[i] = (uint8_t)(i * 7 + i / 251);
	char id[SPOOL_ID_MAX];
	put_msg(f, &full_env, content, len, id);
	assert_int_equal(strlen(id), 20);
	assert_int_equal(count_files(f, "tmp"), 0);

	struct spool_entry *v = NULL;
	char *err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 1);
	assert_string_equal(v[0].id, id);
	assert_false(v[0].torn);
	assert_null(v[0].torn_why);
	assert_int_equal(v[0].size, len);
	assert_env_equal(&v[0].env, &full_env);
	spool_entries_free(v, 1);

	size_t got_len;
	int rc;
	uint8_t *got = read_content(f, id, &got_len, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, content, len);
	free(got);
	free(content);
}

static void
test_minimal_envelope_and_order(void **state)
{
	struct fixture *f = *state;
	const char *one[] = { "x@example.test" };
	struct spool_envelope env = { .mail_from = "", .rcpts = one, .nrcpt = 1, .arrival = 1700000100 };
	char ids[3][SPOOL_ID_MAX];
	/* arrival decides the order, not the id */
	for (int i = 0; i < 3; i++) {
		env.arrival = 1700000100 - i;
		put_msg(f, &env, (const uint8_t *)"", 0, ids[i]);
	}
	struct spool_entry *v = NULL;
	char *err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(v[i].id, ids[2 - i]);
		assert_false(v[i].torn);
		assert_string_equal(v[i].env.mail_from, "");
		assert_null(v[i].env.auth_user);
		assert_null(v[i].env.tls_version);
		assert_int_equal(v[i].size, 0);
	}
	spool_entries_free(v, 3);
	struct spool_entry *e = NULL;
	assert_int_equal(spool_entry_get(f->sp, ids[1], &e, &err), 1);
	assert_int_equal(e->env.arrival, 1700000099);
	spool_entries_free(e, 1);
	assert_int_equal(spool_entry_get(f->sp, "00000000000000000000", &e, &err), 0);
	assert_int_equal(spool_entry_get(f->sp, "../../etc/passwd", &e, &err), 0);
}

/* Starts n messages of 18 bytes each, not yet closed. */
static void
start_msgs(struct fixture *f, struct spool_msg **m, char (*ids)[SPOOL_ID_MAX], size_t n)
{
	const char *why = NULL;
	for (size_t i = 0; i < n; i++) {
		m[i] = spool_msg_new(f->sp, ids[i], &why);
		assert_non_null(m[i]);
		assert_int_equal(spool_msg_write(m[i], "Subject: x\r\n\r\nhi\r\n", 18), 0);
	}
}

static void
test_group_publish_and_abort(void **state)
{
	struct fixture *f = *state;
	struct spool_msg *m[3];
	char ids[3][SPOOL_ID_MAX];
	const char *why = NULL;
	start_msgs(f, m, ids, 3);
	assert_string_not_equal(ids[0], ids[1]);
	assert_string_not_equal(ids[1], ids[2]);
	assert_int_equal(count_files(f, "tmp"), 3);
	/* the third is dropped: nothing of it may remain */
	spool_msg_abort(&m[2]);
	assert_null(m[2]);
	spool_msg_abort(&m[2]);	/* NULL-safe */
	for (int i = 0; i < 2; i++)
		assert_int_equal(spool_msg_close(m[i], &full_env, &why), 0);
	/* closed but unpublished: not visible */
	struct spool_entry *v = NULL;
	char *err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 0);
	spool_entries_free(v, 0);
	const char *own[2] = { "unset", "unset" };
	assert_int_equal(spool_publish(f->sp, m, 2, own, &why), 0);
	assert_null(own[0]);
	assert_null(own[1]);
	assert_null(m[0]);
	assert_null(m[1]);
	assert_int_equal(count_files(f, "tmp"), 0);
	assert_int_equal(spool_list(f->sp, &v, &err), 2);
	assert_int_equal(v[0].size, 18);
	spool_entries_free(v, 2);

	/* delete */
	assert_int_equal(spool_delete(f->sp, ids[0], &err), 0);
	assert_int_equal(spool_delete(f->sp, ids[0], &err), -1);
	assert_non_null(strstr(err, "no message"));
	free(err);
	err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 1);
	spool_entries_free(v, 1);
}

/* A message left in tmp/ (crash before publish) is gone after a restart. */
static void
test_restart_cleans_tmp(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX];
	const char *why = NULL;
	struct spool_msg *m = spool_msg_new(f->sp, id, &why);
	assert_int_equal(spool_msg_write(m, "abc", 3), 0);
	assert_int_equal(spool_msg_close(m, &full_env, &why), 0);
	assert_int_equal(count_files(f, "tmp"), 1);
	/* a reader (postern queue) leaves tmp/ alone */
	char *err = NULL;
	struct spool *ro = spool_open_existing(f->spool, &err);
	assert_non_null(ro);
	spool_free(&ro);
	assert_int_equal(count_files(f, "tmp"), 1);
	/* the writer's start cleans it, under the lock */
	struct spool *sp2 = spool_open(f->spool, f->lock, &err);
	assert_non_null(sp2);
	assert_int_equal(count_files(f, "tmp"), 0);
	struct spool_entry *v = NULL;
	assert_int_equal(spool_list(sp2, &v, &err), 0);
	spool_free(&sp2);
	spool_msg_abort(&m);	/* the file is already gone: no harm */
	/* a missing spool is an error that names it */
	ro = spool_open_existing("/nonexistent/spool", &err);
	assert_null(ro);
	assert_non_null(strstr(err, "/nonexistent/spool"));
	free(err);
}

static uint8_t *
slurp(const char *path, size_t *len_r)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	rewind(fp);
	uint8_t *p = malloc((size_t)n);
	assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len_r = (size_t)n;
	return p;
}

static void
spit(const char *path, const uint8_t *p, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

/* Lists the one file and tells whether it is torn. */
static bool
list_torn(struct fixture *f, const char *id, char *why, size_t whysz)
{
	struct spool_entry *v = NULL;
	char *err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 1);
	assert_string_equal(v[0].id, id);
	bool torn = v[0].torn;
	if (torn) {
		assert_non_null(v[0].torn_why);
		snprintf(why, whysz, "%s", v[0].torn_why);
	}
	spool_entries_free(v, 1);
	return torn;
}

static void
test_truncated_at_every_offset(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX];
	static const char body[] = "Subject: cut\r\n\r\n..line\r\nend\r\n";
	put_msg(f, &full_env, (const uint8_t *)body, sizeof body - 1, id);
	char path[256];
	snprintf(path, sizeof path, "%s/queue/%s", f->spool, id);
	size_t len;
	uint8_t *whole = slurp(path, &len);
	char why[256];
	for (size_t cut = 0; cut < len; cut++) {
		spit(path, whole, cut);
		if (!list_torn(f, id, why, sizeof why))
			fail_msg("file cut at %zu of %zu bytes was listed as whole", cut, len);
		size_t n;
		int rc;
		free(read_content(f, id, &n, &rc));
		assert_int_equal(rc, -1);
		assert_int_equal(n, 0);	/* not even a part of it is handed on */
	}
	spit(path, whole, len);
	assert_false(list_torn(f, id, why, sizeof why));

	/* bytes after END */
	uint8_t *more = malloc(len + 1);
	memcpy(more, whole, len);
	more[len] = 'C';
	spit(path, more, len + 1);
	assert_true(list_torn(f, id, why, sizeof why));
	assert_non_null(strstr(why, "after END"));
	/* an unknown record type */
	memcpy(more, whole, len);
	more[6] = 'Q';	/* the first record after the 6-byte version record */
	spit(path, more, len);
	assert_true(list_torn(f, id, why, sizeof why));
	assert_non_null(strstr(why, "unknown record type"));
	/* a changed content length: the size record no longer matches */
	memcpy(more, whole, len);
	more[10]--;
	spit(path, more, len);
	assert_true(list_torn(f, id, why, sizeof why));
	free(more);
	free(whole);
}

/* Issue 12 item 3: one message of a group that cannot be renamed into
 * queue/ (its temp file is gone) fails alone: the others are published,
 * each exactly once, and each message has its own result. */
static void
test_publish_one_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct spool_msg *m[3];
	char ids[3][SPOOL_ID_MAX];
	const char *why = NULL;
	start_msgs(f, m, ids, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(spool_msg_close(m[i], &full_env, &why), 0);
	char p[200];
	snprintf(p, sizeof p, "%s/tmp/%s", f->spool, ids[1]);
	assert_int_equal(unlink(p), 0);
	const char *own[3] = { "unset", "unset", "unset" };
	assert_int_equal(spool_publish(f->sp, m, 3, own, &why), 0);
	assert_null(m[0]);
	assert_null(m[1]);
	assert_null(m[2]);
	assert_null(own[0]);
	assert_string_equal(own[1], "spool rename failed");
	assert_null(own[2]);
	assert_int_equal(count_files(f, "tmp"), 0);
	struct spool_entry *v = NULL;
	char *err = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 2);
	assert_true((strcmp(v[0].id, ids[0]) == 0 && strcmp(v[1].id, ids[2]) == 0) ||
		    (strcmp(v[0].id, ids[2]) == 0 && strcmp(v[1].id, ids[0]) == 0));
	spool_entries_free(v, 2);
}

/* Issue 12 item 2: one server per spool.  A second lock on a locked
 * spool fails with a message naming the spool and the holder's pid, and
 * the spool cannot be opened to write (which cleans tmp/) without the
 * lock; closing the lock's descriptor frees it. */
static void
test_lock_one_writer(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX], want[160];
	const char *why = NULL;
	struct spool_msg *m = spool_msg_new(f->sp, id, &why);
	assert_non_null(m);
	char *err = NULL;
	assert_int_equal(spool_lock(f->spool, &err), -1);
	snprintf(want, sizeof want, "spool %s is in use by another postern serve, pid %ld", f->spool,
		 (long)getpid());
	if (strstr(err, want) == NULL)
		fail_msg("'%s' does not say '%s'", err, want);
	free(err);
	err = NULL;
	/* no lock, or the descriptor of another file: refused, tmp/ kept */
	assert_null(spool_open(f->spool, -1, &err));
	assert_non_null(strstr(err, "not locked"));
	free(err);
	err = NULL;
	int other = open(f->dir, O_RDONLY);
	assert_null(spool_open(f->spool, other, &err));
	free(err);
	err = NULL;
	close(other);
	assert_int_equal(count_files(f, "tmp"), 1);
	/* freed by close: the next holder may take it and clean */
	close(f->lock);
	f->lock = spool_lock(f->spool, &err);
	assert_true(f->lock >= 0);
	struct spool *sp2 = spool_open(f->spool, f->lock, &err);
	assert_non_null(sp2);
	assert_int_equal(count_files(f, "tmp"), 0);
	spool_free(&sp2);
	spool_msg_abort(&m);
}

/* A symlink planted as the lock is refused, and its target untouched. */
static void
test_lock_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char other[160], target[160], link[200];
	snprintf(target, sizeof target, "%s/target", f->dir);
	snprintf(other, sizeof other, "%s/other", f->dir);
	snprintf(link, sizeof link, "%s/lock", other);
	FILE *fp = fopen(target, "w");
	assert_non_null(fp);
	fputs("keep", fp);
	fclose(fp);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(symlink(target, link), 0);
	char *err = NULL;
	assert_int_equal(spool_lock(other, &err), -1);
	assert_non_null(strstr(err, "symbolic link"));
	free(err);
	size_t n;
	uint8_t *p = slurp(target, &n);
	assert_int_equal(n, 4);
	free(p);
	unlink(link);
	unlink(target);
	rmdir(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_envelope_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_publish_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_cleans_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_at_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_one_fails_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_one_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_symlink_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
