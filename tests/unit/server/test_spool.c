/* test_spool.c - the spool (v2, spool.h): round trip of every envelope
 * field, group publish, abort, clean-up of tmp/ at start, a segment cut
 * at every byte offset never listed as whole, the record codec split at
 * every byte, checksum damage, the state journal (replay, torn tail,
 * compaction) and content handed out in chunks. */
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
#include "util/records.h"

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
	const char *subs[] = { "queue", "seg", "msg" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", f->spool, subs[i]);
		rm_files(p);
	}
	snprintf(p, sizeof p, "%s/state", f->spool);
	unlink(p);
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

/* Starts n messages of 18 bytes each, not yet closed; those whose bit
 * is set in big get 70 000 bytes more, so they spill to tmp/. */
static void
start_msgs(struct fixture *f, struct spool_msg **m, char (*ids)[SPOOL_ID_MAX], size_t n, unsigned big)
{
	const char *why = NULL;
	static uint8_t pad[70000];
	memset(pad, 'x', sizeof pad);
	for (size_t i = 0; i < n; i++) {
		m[i] = spool_msg_new(f->sp, ids[i], &why);
		assert_non_null(m[i]);
		assert_int_equal(spool_msg_write(m[i], "Subject: x\r\n\r\nhi\r\n", 18), 0);
		if (big & (1u << i))
			assert_int_equal(spool_msg_write(m[i], pad, sizeof pad), 0);
	}
}

static void
test_group_publish_and_abort(void **state)
{
	struct fixture *f = *state;
	struct spool_msg *m[3];
	char ids[3][SPOOL_ID_MAX];
	const char *why = NULL;
	start_msgs(f, m, ids, 3, 4);
	assert_string_not_equal(ids[0], ids[1]);
	assert_string_not_equal(ids[1], ids[2]);
	/* small messages stay in memory; the big one spilled */
	assert_int_equal(count_files(f, "tmp"), 1);
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
	struct spool_msg *m = NULL;
	start_msgs(f, &m, (char (*)[SPOOL_ID_MAX])id, 1, 1);
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

/* Lists the segment: whether the message id is there whole, and the
 * torn entry's reason, if any. */
static bool
list_whole(struct fixture *f, const char *id, char *why, size_t whysz)
{
	struct spool_entry *v = NULL;
	char *err = NULL;
	long n = spool_list(f->sp, &v, &err);
	assert_true(n >= 0);
	bool whole = false;
	why[0] = '\0';
	for (long i = 0; i < n; i++) {
		if (v[i].torn) {
			assert_non_null(v[i].torn_why);
			snprintf(why, whysz, "%s", v[i].torn_why);
		} else if (strcmp(v[i].id, id) == 0) {
			whole = true;
		}
	}
	spool_entries_free(v, (size_t)n);
	return whole;
}

static void
seg_path(struct fixture *f, char *path, size_t n)
{
	snprintf(path, n, "%s/seg/0000000000000001", f->spool);
}

static void
test_truncated_at_every_offset(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX];
	static const char body[] = "Subject: cut\r\n\r\n..line\r\nend\r\n";
	put_msg(f, &full_env, (const uint8_t *)body, sizeof body - 1, id);
	char path[256];
	seg_path(f, path, sizeof path);
	size_t len;
	size_t flen;
	uint8_t *whole = slurp(path, &flen);
	/* the writer writes zeros ahead of its frames: the file is the
	 * frame, then zeros (a zero header ends the frames) */
	assert_true(flen > REC_FRAME_HDR);
	len = REC_FRAME_HDR + rec_get_be32(whole + 4);
	assert_true(flen > len);
	for (size_t i = len; i < flen; i++)
		assert_int_equal(whole[i], 0);
	uint8_t *zeroed = calloc(1, flen);
	assert_non_null(zeroed);
	char why[256];
	for (size_t cut = 0; cut < len; cut++) {
		/* cut at the end of the file, and cut with the zeros after it
		 * (a crash inside a pass into a prezeroed segment) */
		memcpy(zeroed, whole, cut);
		/* (a frame ending in zero bytes is whole with fewer written) */
		int zs = memcmp(zeroed, whole, flen) == 0 ? 1 : 2;
		for (int z = 0; z < zs; z++) {
			spit(path, z ? zeroed : whole, z ? flen : cut);
			if (list_whole(f, id, why, sizeof why))
				fail_msg("segment cut at %zu of %zu bytes listed the message as whole", cut,
					 len);
			if (cut > 0 && (z ? why[0] == '\0' : strstr(why, "torn frame") == NULL))
				fail_msg("segment cut at %zu (zeros after: %d): '%s'", cut, z, why);
			if (cut == 0)	/* all zeros: no frame, nothing torn */
				assert_string_equal(why, "");
			size_t n;
			int rc;
			free(read_content(f, id, &n, &rc));
			assert_int_equal(rc, -1);
			assert_int_equal(n, 0);	/* not even a part of it is handed on */
		}
	}
	free(zeroed);
	spit(path, whole, len);
	assert_true(list_whole(f, id, why, sizeof why));
	assert_string_equal(why, "");
	spit(path, whole, flen);
	assert_true(list_whole(f, id, why, sizeof why));
	assert_string_equal(why, "");

	/* foreign bytes after the frame: reported, the message kept */
	uint8_t *more = malloc(len + 16);
	memcpy(more, whole, len);
	memcpy(more + len, "From junk\r\n", 11);
	spit(path, more, len + 11);
	assert_true(list_whole(f, id, why, sizeof why));
	assert_non_null(strstr(why, "bad magic"));
	/* any byte changed inside the frame: checksum mismatch, never whole */
	for (size_t at = 4; at < len; at += 7) {
		memcpy(more, whole, len);
		more[at] ^= 0x20;
		spit(path, more, len);
		if (list_whole(f, id, why, sizeof why))
			fail_msg("byte %zu changed: listed as whole", at);
	}
	free(more);
	free(whole);
}

/* The codec alone: a frame split at every byte is REC_SHORT until whole;
 * every flipped bit is caught; CRC32C matches its check value. */
static void
test_records_codec(void **state)
{
	(void)state;
	assert_int_equal(rec_crc32c(0, "123456789", 9), 0xe3069283);
	struct buf b;
	buf_init(&b, 1 << 20);
	size_t at;
	assert_int_equal(rec_frame_begin(&b, &at), 0);
	assert_int_equal(rec_field_str(&b, 'Q', "0123456789abcdef0123"), 0);
	assert_int_equal(rec_field_u64(&b, 'A', 1700000000), 0);
	assert_int_equal(rec_field(&b, 'C', "\0\1\2 content", 12), 0);
	rec_frame_end(&b, at, "TEST");
	const uint8_t *pl;
	size_t pn, fl;
	const char *why;
	for (size_t cut = 0; cut < b.len; cut++)
		assert_int_equal(rec_frame_parse(b.p, cut, "TEST", 1 << 20, &pl, &pn, &fl, &why), REC_SHORT);
	assert_int_equal(rec_frame_parse(b.p, b.len, "TEST", 1 << 20, &pl, &pn, &fl, &why), REC_OK);
	assert_int_equal(fl, b.len);
	assert_int_equal(rec_frame_parse(b.p, b.len, "XXXX", 1 << 20, &pl, &pn, &fl, &why), REC_BAD);
	assert_int_equal(rec_frame_parse(b.p, b.len, "TEST", 8, &pl, &pn, &fl, &why), REC_BAD);
	for (size_t bit = 4 * 8; bit < b.len * 8; bit++) {
		b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = rec_frame_parse(b.p, b.len, "TEST", 1 << 20, &pl, &pn, &fl, &why);
		if (rc == REC_OK)
			fail_msg("bit %zu flipped: frame still whole", bit);
		b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* fields */
	struct rec_iter it;
	uint8_t t;
	const uint8_t *v;
	size_t vn;
	assert_int_equal(rec_frame_parse(b.p, b.len, "TEST", 1 << 20, &pl, &pn, &fl, &why), REC_OK);
	rec_iter_init(&it, pl, pn);
	assert_int_equal(rec_next(&it, &t, &v, &vn), 1);
	assert_int_equal(t, 'Q');
	assert_int_equal(rec_next(&it, &t, &v, &vn), 1);
	uint64_t x;
	assert_int_equal(rec_u64(v, vn, &x), 0);
	assert_int_equal(x, 1700000000);
	assert_int_equal(rec_next(&it, &t, &v, &vn), 1);
	assert_int_equal(vn, 12);
	assert_int_equal(rec_next(&it, &t, &v, &vn), 0);
	rec_iter_init(&it, pl, pn - 1);	/* a field cut short */
	int rc;
	while ((rc = rec_next(&it, &t, &v, &vn)) == 1)
		;
	assert_int_equal(rc, REC_BAD);
	buf_free(&b);
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
	start_msgs(f, m, ids, 3, 2);	/* the second one spills to tmp/ */
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
	struct spool_msg *m = NULL;
	(void)why;
	start_msgs(f, &m, (char (*)[SPOOL_ID_MAX])id, 1, 1);
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

/* Delivery state: marks survive, a torn journal tail is ignored and cut
 * at the next start, compaction keeps the states of queued messages, and
 * a segment whose messages are all done is removed. */
static void
test_state_journal(void **state)
{
	struct fixture *f = *state;
	char ids[3][SPOOL_ID_MAX];
	for (int i = 0; i < 3; i++)
		put_msg(f, &full_env, (const uint8_t *)"x\r\n", 3, ids[i]);
	struct spool_mark marks[] = {
		{ .id = ids[0], .rcpt = 0, .state = SPOOL_DELIVERED, .attempts = 1, .last_reply = "250 ok" },
		{ .id = ids[0], .rcpt = 1, .state = SPOOL_DEFERRED, .attempts = 2, .next_try = 1800000000,
		  .last_reply = "451 4.7.1 try later" },
		{ .id = ids[0], .rcpt = 2, .state = SPOOL_FAILED, .attempts = 1, .last_reply = "550 no" },
		{ .id = ids[1], .rcpt = 0, .state = SPOOL_DELIVERED },
		{ .id = ids[1], .rcpt = 1, .state = SPOOL_FAILED },
		{ .id = ids[1], .rcpt = 2, .state = SPOOL_DELIVERED },
	};
	char *err = NULL;
	assert_int_equal(spool_mark(f->sp, marks, 6, &err), 0);
	assert_int_equal(spool_delete(f->sp, ids[2], &err), 0);
	/* a torn tail: half of a frame that would deliver rcpt 1 */
	struct buf b;
	buf_init(&b, 4096);
	size_t at;
	rec_frame_begin(&b, &at);
	rec_field_str(&b, 'Q', ids[0]);
	rec_field_str(&b, 'N', "1");
	rec_field_str(&b, 'S', "D");
	rec_frame_end(&b, at, "PSJ2");
	char path[200];
	snprintf(path, sizeof path, "%s/state", f->spool);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.p, b.len - 3), (ssize_t)(b.len - 3));
	close(fd);
	buf_free(&b);
	for (int round = 0; round < 2; round++) {
		struct spool_entry *v = NULL;
		assert_int_equal(spool_list(f->sp, &v, &err), 1);
		assert_string_equal(v[0].id, ids[0]);
		assert_int_equal(v[0].rcpt[0].state, SPOOL_DELIVERED);
		assert_int_equal(v[0].rcpt[1].state, SPOOL_DEFERRED);
		assert_int_equal(v[0].rcpt[1].attempts, 2);
		assert_int_equal(v[0].rcpt[1].next_try, 1800000000);
		assert_string_equal(v[0].rcpt[1].last_reply, "451 4.7.1 try later");
		assert_int_equal(v[0].rcpt[2].state, SPOOL_FAILED);
		spool_entries_free(v, 1);
		/* a restart: gc cuts the tail and compacts the journal */
		spool_free(&f->sp);
		f->sp = spool_open(f->spool, f->lock, &err);
		assert_non_null(f->sp);
	}
	assert_int_equal(count_files(f, "seg"), 1);	/* ids[0] still queued */
	struct spool_mark last = { .id = ids[0], .rcpt = 1, .state = SPOOL_DELIVERED, .attempts = 3 };
	assert_int_equal(spool_mark(f->sp, &last, 1, &err), 0);
	struct spool_entry *v = NULL;
	assert_int_equal(spool_list(f->sp, &v, &err), 0);
	spool_entries_free(v, 0);
	spool_free(&f->sp);
	f->sp = spool_open(f->spool, f->lock, &err);
	assert_non_null(f->sp);
	assert_int_equal(count_files(f, "seg"), 0);	/* all done: removed */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);		/* nothing left to remember */
}

struct chunk_seen {
	size_t total, max, calls;
};

static int
chunk_cb(void *arg, const void *p, size_t n)
{
	struct chunk_seen *c = arg;
	(void)p;
	c->total += n;
	c->calls++;
	if (n > c->max)
		c->max = n;
	return 0;
}

/* A large message comes back in chunks of at most 64 KiB; a damaged
 * content file is refused before the first chunk. */
static void
test_content_in_chunks(void **state)
{
	struct fixture *f = *state;
	size_t len = 1000000;
	uint8_t *content = malloc(len);
	memset(content, 'a', len);
	char id[SPOOL_ID_MAX];
	put_msg(f, &full_env, content, len, id);
	free(content);
	assert_int_equal(count_files(f, "msg"), 1);
	struct spool_entry *e = NULL;
	char *err = NULL;
	assert_int_equal(spool_entry_get(f->sp, id, &e, &err), 1);
	struct chunk_seen c = { 0 };
	assert_int_equal(spool_content(f->sp, e, chunk_cb, &c, &err), 0);
	assert_int_equal(c.total, len);
	assert_true(c.max <= 65536);
	assert_true(c.calls >= len / 65536);
	/* one byte changed in msg/ID */
	char path[200];
	snprintf(path, sizeof path, "%s/msg/%s", f->spool, id);
	int fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, "b", 1, 500000), 1);
	close(fd);
	memset(&c, 0, sizeof c);
	assert_int_equal(spool_content(f->sp, e, chunk_cb, &c, &err), -1);
	assert_non_null(strstr(err, "checksum mismatch"));
	free(err);
	assert_int_equal(c.calls, 0);
	spool_entries_free(e, 1);
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
		cmocka_unit_test(test_records_codec),
		cmocka_unit_test_setup_teardown(test_state_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_in_chunks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
