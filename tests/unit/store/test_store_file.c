/* test_store_file.c - the users file parser and store_answer(), with the
 * RFC 5802 / RFC 7677 / RFC 2195 stored secrets from
 * shared/vectors/sasl-vectors.md, and every load error word for word. */
#include "store_test.h"

#include "store/store.h"
#include "store/store_file.h"
#include "util/buf.h"

#define MARK STORE_FILE_MARKER "\n"
/* RFC 5802 section 5 (user "user", password "pencil"). */
#define SHA1_REC "{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE="
/* RFC 7677 section 3. */
#define SHA256_REC "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==," \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* RFC 2195 ("tim" / "tanstaaftanstaaf"), Dovecot layout. */
#define CRAM_HEX "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"
#define CRAM_REC "{CRAM-MD5}" CRAM_HEX

/* Writes text to tmpdir/name; returns the path (static buffer). */
static const char *
put(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

static void
hex(const char *h, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static struct sasl_cred_answer
ask(struct store *st, enum sasl_cred_kind kind, const char *user, const char *pw)
{
	struct sasl_cred_request req = { .kind = kind, .authcid = user,
		.password = (const uint8_t *)pw, .password_len = pw ? strlen(pw) : 0 };
	struct sasl_cred_answer a;
	memset(&a, 0xa5, sizeof a);	/* store_answer must set every field it reports */
	store_answer(st, &req, &a);
	return a;
}

static void
test_vectors(void **state)
{
	(void)state;
	put("vec", MARK "# the RFC examples\n\nuser:" SHA1_REC ":" SHA256_REC "\ntim:" CRAM_REC "\n");
	char *err = NULL;
	struct store *st = store_open("file:vec", tmpdir, &err);
	assert_null(err);
	assert_non_null(st);
	assert_true(store_supports(st, SASL_CRED_PASSWORD));
	assert_true(store_supports(st, SASL_CRED_CRAM_MD5));
	assert_true(store_supports(st, SASL_CRED_SCRAM_SHA1));
	assert_true(store_supports(st, SASL_CRED_SCRAM_SHA256));

	uint8_t want[32];
	struct sasl_cred_answer a = ask(st, SASL_CRED_SCRAM_SHA1, "user", NULL);
	assert_int_equal(a.status, SASL_CRED_OK);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.salt_len, 12);
	hex("4125c247e43ab1e93c6dff76", want, 12);
	assert_memory_equal(a.salt, want, 12);
	assert_int_equal(a.key_len, 20);
	hex("e9d94660c39d65c38fbad91c358f14da0eef2bd6", want, 20);
	assert_memory_equal(a.stored_key, want, 20);
	hex("0fe09258b3ac852ba502cc62ba903eaacdbf7d31", want, 20);
	assert_memory_equal(a.server_key, want, 20);

	a = ask(st, SASL_CRED_SCRAM_SHA256, "user", NULL);
	assert_int_equal(a.status, SASL_CRED_OK);
	assert_int_equal(a.salt_len, 16);
	hex("5b6d99689d12358eeca04b141236fa81", want, 16);
	assert_memory_equal(a.salt, want, 16);
	assert_int_equal(a.key_len, 32);
	hex("586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6", want, 32);
	assert_memory_equal(a.stored_key, want, 32);
	hex("c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5", want, 32);
	assert_memory_equal(a.server_key, want, 32);

	a = ask(st, SASL_CRED_CRAM_MD5, "tim", NULL);
	assert_int_equal(a.status, SASL_CRED_OK);
	hex(CRAM_HEX, want, 32);
	assert_memory_equal(a.cram_md5, want, 32);
	/* The stored secret is the one sasl derives from the password. */
	uint8_t derived[32];
	assert_int_equal(sasl_cram_md5_derive("tanstaaftanstaaf", derived), 0);
	assert_memory_equal(a.cram_md5, derived, 32);

	/* NOSECRET: the user exists without that kind of secret. */
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "user", NULL).status, SASL_CRED_NOSECRET);
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA1, "tim", NULL).status, SASL_CRED_NOSECRET);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "tim", "tanstaaftanstaaf").status,
			 SASL_CRED_NOSECRET);
	/* NOUSER, for every kind, and for names no store could hold. */
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "nobody", "x").status, SASL_CRED_NOUSER);
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "nobody", NULL).status, SASL_CRED_NOUSER);
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA1, "User", NULL).status, SASL_CRED_NOUSER);
	assert_int_equal(ask(st, SASL_CRED_SCRAM_SHA256, "a:b", NULL).status, SASL_CRED_NOUSER);
	store_free(&st);
	assert_null(st);
	store_free(&st);	/* NULL-safe */
}

/* A line made by store_file_entry_make() answers all four kinds. */
static void
test_entry_roundtrip(void **state)
{
	(void)state;
	struct buf line;
	buf_init(&line, STORE_FILE_LINE_MAX);
	assert_int_equal(buf_addstr(&line, MARK), BUF_OK);
	char *err = NULL;
	assert_int_equal(store_file_entry_make(&line, "alice", "pencil", &err), 0);
	assert_null(err);
	assert_null(strstr(buf_cstr(&line), "pencil"));
	put("made", buf_cstr(&line));
	buf_wipe_free(&line);

	struct store *st = store_open("made", tmpdir, &err);	/* bare path = file: */
	assert_non_null(st);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "alice", "pencil").status, SASL_CRED_OK);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "alice", "Pencil").status, SASL_CRED_BADPASS);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "alice", "pencil ").status, SASL_CRED_BADPASS);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "alice", "").status, SASL_CRED_BADPASS);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "bob", "pencil").status, SASL_CRED_NOUSER);
	/* A NUL inside the password never matches the C-string hash input. */
	struct sasl_cred_request req = { .kind = SASL_CRED_PASSWORD, .authcid = "alice",
		.password = (const uint8_t *)"pencil\0x", .password_len = 8 };
	struct sasl_cred_answer a;
	store_answer(st, &req, &a);
	assert_int_equal(a.status, SASL_CRED_BADPASS);

	const char *md[2] = { "SHA1", "SHA256" };
	enum sasl_cred_kind kinds[2] = { SASL_CRED_SCRAM_SHA1, SASL_CRED_SCRAM_SHA256 };
	for (int i = 0; i < 2; i++) {
		a = ask(st, kinds[i], "alice", NULL);
		assert_int_equal(a.status, SASL_CRED_OK);
		assert_int_equal(a.iterations, STORE_FILE_SCRAM_ITER);
		assert_int_equal(a.salt_len, 16);
		struct sasl_cred_answer d;
		const char *why;
		assert_int_equal(sasl_scram_derive(md[i], "pencil", a.salt, a.salt_len, a.iterations,
						   &d, &why), 0);
		assert_int_equal(a.key_len, d.key_len);
		assert_memory_equal(a.stored_key, d.stored_key, d.key_len);
		assert_memory_equal(a.server_key, d.server_key, d.key_len);
	}
	uint8_t cram[32];
	assert_int_equal(sasl_cram_md5_derive("pencil", cram), 0);
	a = ask(st, SASL_CRED_CRAM_MD5, "alice", NULL);
	assert_int_equal(a.status, SASL_CRED_OK);
	assert_memory_equal(a.cram_md5, cram, 32);
	store_free(&st);

	buf_init(&line, STORE_FILE_LINE_MAX);
	assert_int_equal(store_file_entry_make(&line, "alice", "", &err), -1);
	assert_string_equal(err, "empty password");
	free(err);
	buf_wipe_free(&line);
}

/* Names are SASLprep'd before lookup: U+2168 ROMAN NUMERAL NINE is "IX"
 * (RFC 4013 section 3), and so is a soft hyphen inside it (mapped to
 * nothing). */
static void
test_saslprep_lookup(void **state)
{
	(void)state;
	put("prep", MARK "IX:" CRAM_REC "\n");
	char *err = NULL;
	struct store *st = store_open("file:prep", tmpdir, &err);
	assert_non_null(st);
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "\xe2\x85\xa8", NULL).status, SASL_CRED_OK);
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "I\xc2\xadX", NULL).status, SASL_CRED_OK);
	assert_int_equal(ask(st, SASL_CRED_CRAM_MD5, "ix", NULL).status, SASL_CRED_NOUSER);
	store_free(&st);
}

struct bad_case {
	const char *text;
	const char *want;	/* after "PATH:" */
};

static const struct bad_case bad_cases[] = {
	{ "alice:" CRAM_REC "\n",
	  "1: not a postern users file (the first line must be \"# postern-users v1\")" },
	{ "# postern-users v2\n", "1: unsupported users file version \"v2\" (this postern reads v1)" },
	{ MARK "alice\n", "2: no ':' after the user name" },
	{ MARK "\n# comment\nalice:{FOO}x\n", "4: unknown scheme {FOO}" },
	{ MARK "alice:\n", "2: field 1 does not start with {SCHEME}" },
	{ MARK "alice:" CRAM_REC ":\n", "2: field 2 does not start with {SCHEME}" },
	{ MARK "alice:" CRAM_REC ":" CRAM_REC "\n", "2: {CRAM-MD5} given twice" },
	{ MARK "alice:{CRAM-MD5}d06d\n", "2: {CRAM-MD5}: expected 64 hex digits" },
	{ MARK "alice:{CRAM-MD5}" "x06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b\n",
	  "2: {CRAM-MD5}: expected 64 hex digits" },
	{ MARK "alice:" CRAM_REC "\r\n", "2: control character 0x0d in line" },
	{ MARK "alice:{SCRAM-SHA-1}1000,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	  "2: {SCRAM-SHA-1}: iteration count 1000 is below 4096" },
	{ MARK "alice:{SCRAM-SHA-1}04096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	  "2: {SCRAM-SHA-1}: bad iteration count \"04096\"" },
	{ MARK "alice:{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf9,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	  "2: {SCRAM-SHA-1}: salt is not valid base64" },
	{ MARK "alice:{SCRAM-SHA-1}4096,,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	  "2: {SCRAM-SHA-1}: salt must be 1 to 64 bytes" },
	{ MARK "alice:{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y\n",
	  "2: {SCRAM-SHA-1}: expected ITER,SALT,STOREDKEY,SERVERKEY" },
	{ MARK "alice:{SCRAM-SHA-256}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n",
	  "2: {SCRAM-SHA-256}: StoredKey must be 32 bytes" },
	{ MARK "alice:{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fT=\n",
	  "2: {SCRAM-SHA-1}: ServerKey is not valid base64" },
	{ MARK "alice:{CRYPT}$z$abc\n", "2: {CRYPT}: not a hash this system's crypt(3) supports" },
	{ MARK "alice:{CRYPT}$1$abc$def\n",
	  "2: {CRYPT}: legacy hash method refused (use yescrypt or sha512crypt)" },
	{ MARK "alice:{CRYPT}abJnggxhB/yWI\n",	/* DES */
	  "2: {CRYPT}: legacy hash method refused (use yescrypt or sha512crypt)" },
	{ MARK "alice:{CRYPT}\n", "2: {CRYPT}: empty or overlong hash" },
	{ MARK "alice:" CRAM_REC "\nbob:" CRAM_REC "\nalice:" CRAM_REC "\nbob:" CRAM_REC "\n",
	  "4: duplicate user \"alice\" (first on line 2)" },
	{ MARK ":" CRAM_REC "\n", "2: bad user name: empty user name" },
	{ MARK "alice :" CRAM_REC "\n", "2: bad user name: user name starts or ends with a space" },
	{ MARK "\xe2\x85\xa8:" CRAM_REC "\n",
	  "2: bad user name: not in SASLprep form (postern passwd stores it prepared)" },
	{ MARK "\xff:" CRAM_REC "\n", "2: bad user name: invalid UTF-8" },
};

static void
test_bad_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
		const char *path = put("bad", bad_cases[i].text);
		char want[512];
		snprintf(want, sizeof want, "%s:%s", path, bad_cases[i].want);
		char *err = NULL;
		struct store *st = store_open("file:bad", tmpdir, &err);
		if (st != NULL || err == NULL || strcmp(err, want) != 0)
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, want, err ? err : "(success)");
		free(err);
	}
}

static void
test_empty_and_missing(void **state)
{
	(void)state;
	put("empty", "");
	char *err = NULL;
	struct store *st = store_open("file:empty", tmpdir, &err);
	assert_non_null(st);
	assert_int_equal(ask(st, SASL_CRED_PASSWORD, "alice", "x").status, SASL_CRED_NOUSER);
	store_free(&st);

	st = store_open("file:missing", tmpdir, &err);
	assert_null(st);
	char want[300];
	snprintf(want, sizeof want, "%s/missing: No such file or directory", tmpdir);
	assert_string_equal(err, want);
	free(err);

	st = store_open("ldap:x", tmpdir, &err);
	assert_null(st);
	assert_string_equal(err, "credentials 'ldap:x': unknown backend 'ldap' (this postern has: file, pam)");
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_entry_roundtrip),
		cmocka_unit_test(test_saslprep_lookup),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_empty_and_missing),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
