/* passwd_cmd.c - `postern passwd`: administer the credential store.
 *
 *	postern passwd [-c FILE] add USER | del USER | list | check USER
 *
 * The store is the config's `credentials` key (default: "users" beside
 * the config file).  Passwords come from stdin when it is not a
 * terminal (one line; only the trailing LF or CRLF is dropped), else
 * from a prompt without echo (twice for add).
 * Exit codes: add, del, list: 0 ok, 1 error.  check: 0 right password,
 * 1 wrong password or unknown user, 2 error.
 * add, del and list edit the file store (in a credentials list, the
 * first one); a pam: store is the system's, so they refuse it and say
 * so.  check asks the whole store, PAM included, as the server would.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/commands.h"
#include "store/store.h"
#include "store/store_file.h"
#include "store/store_impl.h"
#include "util/conf.h"
#include "util/log.h"
#include "util/str.h"

#define PASSWD_CMD_USAGE "usage: postern passwd [-c FILE] add USER | del USER | list | check USER\n"

/* Where the store is, from the config file. */
struct passwd_cmd_ctx {
	struct conf conf;
	char *spec;		/* the credentials value, or its default */
};

/* The one key of the server config this command reads, with the row the
 * server's reader uses too (store.h): same default, same checks.  The
 * other keys are the server's to check. */
static const struct conf_key passwd_cmd_keys[] = {
	STORE_CONF_KEY(struct passwd_cmd_ctx, spec),
};

/* A relative store path is taken beside the config file; a config that
 * is not a regular file (`-c /dev/null`, a pipe) has no such folder, and
 * "users" beside /dev/null would be /dev/users.  Returns 0, or -1 with
 * *err_r malloc'd. */
static int
passwd_cmd_base_ok(const struct passwd_cmd_ctx *c, const char *file, char **err_r)
{
	struct stat st;
	if (stat(file, &st) < 0 || S_ISREG(st.st_mode))
		return 0;	/* conf_load() has read it: only its kind matters */
	char *why = NULL;
	char *path = store_spec_file(c->spec, NULL, &why);
	bool relative = path != NULL && path[0] != '/';
	free(path);
	free(why);
	if (!relative)
		return 0;
	*err_r = str_printf("%s is not a regular file, so the store '%s' has no folder to be "
			    "in: name it with an absolute path (credentials = file:/PATH)",
			    file, c->spec);
	return -1;
}

/* Reads the config file into c.  Returns 0, or -1 with *err_r malloc'd
 * ("FILE:LINE: credentials: empty", "FILE: No such file or directory"). */
static int
passwd_cmd_conf(struct passwd_cmd_ctx *c, const char *file, char **err_r)
{
	size_t n = sizeof passwd_cmd_keys / sizeof *passwd_cmd_keys;
	c->spec = NULL;
	if (conf_load(&c->conf, file, err_r) < 0)
		return -1;
	if (conf_defaults(passwd_cmd_keys, n, c, err_r) < 0 ||
	    conf_apply(&c->conf, passwd_cmd_keys, n, c, CONF_APPLY_KNOWN_ONLY, err_r) < 0 ||
	    passwd_cmd_base_ok(c, file, err_r) < 0) {
		free(c->spec);
		conf_free(&c->conf);
		return -1;
	}
	return 0;
}

/* The password as typed: one line, at most SASL_PASS_MAX bytes.  The
 * extra bytes hold the CRLF and tell "too long" apart. */
struct passwd_cmd_pw {
	char s[SASL_PASS_MAX + 3];
	size_t n;
};

/* ---- messages ---- */

static void passwd_cmd_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "postern passwd: ..." on stderr.  A failed write to stderr has nowhere
 * to be reported, so its result is ignored here, once. */
static void
passwd_cmd_errf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	(void)fputs("postern passwd: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
	va_end(ap);
}

static void
passwd_cmd_err(const char *msg)
{
	passwd_cmd_errf("%s", msg ? msg : "out of memory");
}

static int passwd_cmd_outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A result line on stdout; -1 when it could not be written (a full disk
 * under `postern passwd list > file` must not exit 0). */
static int
passwd_cmd_outf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n < 0 ? -1 : 0;
}

/* ---- reading the password ---- */

/* The terminal state to restore if a signal ends us during the prompt.
 * XXX: process-wide, as signal handlers need; only this command uses it. */
static struct termios passwd_cmd_saved_tio;
static volatile sig_atomic_t passwd_cmd_echo_off;

static void
passwd_cmd_on_signal(int sig)
{
	/* Best effort on the way out: nothing to do if these fail. */
	if (passwd_cmd_echo_off)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &passwd_cmd_saved_tio);
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

/* Reads one line from fd into pw: stops at LF, drops LF or CRLF. */
static int
passwd_cmd_read_line(int fd, struct passwd_cmd_pw *pw, const char **why_r)
{
	pw->n = 0;
	bool nl = false;
	while (pw->n < sizeof pw->s - 1) {
		ssize_t r = read(fd, pw->s + pw->n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*why_r = strerror(errno);
			return -1;
		}
		if (r == 0)
			break;
		if (pw->s[pw->n] == '\n') {
			nl = true;
			break;
		}
		pw->n++;
	}
	if (nl && pw->n > 0 && pw->s[pw->n - 1] == '\r')
		pw->n--;
	pw->s[pw->n] = '\0';
	if (pw->n > SASL_PASS_MAX) {
		*why_r = "password longer than 1024 bytes";
		return -1;
	}
	if (memchr(pw->s, '\0', pw->n) != NULL) {
		*why_r = "password contains a NUL byte";
		return -1;
	}
	if (pw->n == 0) {
		*why_r = "empty password";
		return -1;
	}
	return 0;
}

/* Prompts on stderr and reads from the terminal on stdin without echo. */
static int
passwd_cmd_prompt(const char *prompt, struct passwd_cmd_pw *pw, const char **why_r)
{
	struct termios tio;
	if (tcgetattr(STDIN_FILENO, &passwd_cmd_saved_tio) < 0) {
		*why_r = strerror(errno);
		return -1;
	}
	tio = passwd_cmd_saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tio.c_lflag |= ICANON;
	struct sigaction sa = { .sa_handler = passwd_cmd_on_signal }, old[4];
	const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (int i = 0; i < 4; i++)
		(void)sigaction(sigs[i], &sa, &old[i]);	/* valid signals: cannot fail */
	passwd_cmd_echo_off = 1;
	/* Echo goes off before the prompt shows: TCSAFLUSH drops what was
	 * typed ahead, so nothing typed after the prompt can be lost or
	 * echoed. */
	int rc = tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	if (rc < 0) {
		*why_r = strerror(errno);
	} else {
		(void)fputs(prompt, stderr);	/* stderr is unbuffered */
		rc = passwd_cmd_read_line(STDIN_FILENO, pw, why_r);
	}
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &passwd_cmd_saved_tio) < 0 && rc == 0) {
		*why_r = "cannot turn terminal echo back on";
		rc = -1;
	}
	passwd_cmd_echo_off = 0;
	for (int i = 0; i < 4; i++)
		(void)sigaction(sigs[i], &old[i], NULL);
	(void)fputc('\n', stderr);	/* the Enter the user typed was not echoed */
	return rc;
}

/* The password for user: from stdin, or prompted (twice when confirm). */
static int
passwd_cmd_password(const char *user, bool confirm, struct passwd_cmd_pw *pw)
{
	const char *why = NULL;
	int rc;
	if (!isatty(STDIN_FILENO)) {
		rc = passwd_cmd_read_line(STDIN_FILENO, pw, &why);
	} else {
		char prompt[LOG_SAFE_MAX + 32];
		char safe[LOG_SAFE_MAX];
		/* Cannot be cut: log_safe() output is under LOG_SAFE_MAX. */
		(void)snprintf(prompt, sizeof prompt, "Password for %s: ",
			       log_safe(safe, sizeof safe, user, strlen(user)));
		rc = passwd_cmd_prompt(prompt, pw, &why);
		if (rc == 0 && confirm) {
			struct passwd_cmd_pw again;
			rc = passwd_cmd_prompt("Retype password: ", &again, &why);
			if (rc == 0 && (again.n != pw->n || CRYPTO_memcmp(again.s, pw->s, pw->n) != 0)) {
				why = "the two passwords differ";
				rc = -1;
			}
			OPENSSL_cleanse(&again, sizeof again);
		}
	}
	if (rc < 0) {
		char safe[LOG_SAFE_MAX];
		passwd_cmd_errf("user '%s': %s", log_safe(safe, sizeof safe, user, strlen(user)), why);
		OPENSSL_cleanse(pw, sizeof *pw);
	}
	return rc;
}

/* ---- the subcommands ---- */

/* The users file of a file: store, or NULL after a message. */
static char *
passwd_cmd_file(const struct passwd_cmd_ctx *c)
{
	char *err = NULL;
	char *path = store_spec_file(c->spec, c->conf.dir, &err);
	if (path == NULL) {
		passwd_cmd_errf("%s: %s", c->conf.path, err ? err : "out of memory");
		free(err);
	}
	return path;
}

/* Before asking for a password: is the name good, the file writable
 * and readable, and the user new?  So that nobody types a password
 * twice only to learn that.  (store_file_edit_add() checks again under
 * the lock.) */
static int
passwd_cmd_add_precheck(const char *path, const char *user)
{
	char *text = NULL, *err = NULL, *name = NULL;
	size_t len = 0;
	struct stat st;
	struct store_file_db db;
	const char *why;
	int rc = 0;
	if (store_user_prep(user, &name, &why) < 0) {
		char safe[LOG_SAFE_MAX];
		passwd_cmd_errf("user '%s': %s", log_safe(safe, sizeof safe, user, strlen(user)), why);
		return -1;
	}
	/* A missing file is fine: add creates it. */
	if (store_file_edit_writable(path, &err) < 0
	    || (store_file_db_read(path, &text, &len, &st, &err) < 0 && errno != ENOENT)
	    || (text != NULL && store_file_db_parse(&db, path, text, len, &err) < 0)) {
		passwd_cmd_err(err);
		rc = -1;
	} else if (text != NULL) {
		if (store_file_db_find(&db, name) != NULL) {
			passwd_cmd_errf("%s: user '%s' already exists", path, name);
			rc = -1;
		}
		store_file_db_free(&db);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	free(err);
	free(name);
	return rc;
}

static int
passwd_cmd_add(struct passwd_cmd_ctx *c, const char *user)
{
	char *path = passwd_cmd_file(c);
	if (path == NULL)
		return 1;
	struct passwd_cmd_pw pw;
	char *err = NULL;
	int rc = 1;
	if (passwd_cmd_add_precheck(path, user) < 0 || passwd_cmd_password(user, true, &pw) < 0)
		goto out;
	struct store_file_newuser nu = { .name = user, .password = pw.s };
	if (store_file_edit_add(path, &nu, &err) == STORE_FILE_EDIT_OK) {
		/* Printable as typed: store_user_prep() refused control characters.
		 * The user is in the file whether or not this line gets out. */
		(void)passwd_cmd_outf("postern passwd: %s: user '%s' added\n", path, user);
		rc = 0;
	} else {
		passwd_cmd_err(err);
	}
	OPENSSL_cleanse(&pw, sizeof pw);
out:
	free(err);
	free(path);
	return rc;
}

static int
passwd_cmd_del(struct passwd_cmd_ctx *c, const char *user)
{
	char *path = passwd_cmd_file(c);
	if (path == NULL)
		return 1;
	char *err = NULL;
	int rc = 1;
	if (store_file_edit_del(path, user, &err) == STORE_FILE_EDIT_OK) {
		/* Printable as typed: store_user_prep() refused control characters. */
		(void)passwd_cmd_outf("postern passwd: %s: user '%s' deleted\n", path, user);
		rc = 0;
	} else {
		passwd_cmd_err(err);
	}
	free(err);
	free(path);
	return rc;
}

static int
passwd_cmd_list(struct passwd_cmd_ctx *c, const char *unused)
{
	char *path = passwd_cmd_file(c);
	if (path == NULL)
		return 1;
	char *text = NULL, *err = NULL;
	size_t len;
	struct stat st;
	struct store_file_db db;
	int rc = 1;
	if (store_file_db_read(path, &text, &len, &st, &err) == 0 &&
	    store_file_db_parse(&db, path, text, len, &err) == 0) {
		rc = 0;
		for (size_t i = 0; i < db.n && rc == 0; i++)
			rc = passwd_cmd_outf("%s\n", db.users[i].name) < 0 ? 1 : 0;
		store_file_db_free(&db);
		if (rc != 0 || fflush(stdout) != 0) {
			passwd_cmd_errf("%s: cannot write the list: %s", path, strerror(errno));
			rc = 1;
		}
	} else {
		passwd_cmd_err(err);
	}
	if (text != NULL) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	free(err);
	free(path);
	return rc;
}

/* The verdict of check: prints it, returns the exit code. */
static int
passwd_cmd_check_report(const char *where, const char *safe, enum sasl_cred_status status)
{
	switch (status) {
	case SASL_CRED_OK:
		/* The exit code is the answer; this line is a courtesy. */
		(void)passwd_cmd_outf("postern passwd: %s: user '%s': password is right\n", where,
				      safe);
		return 0;
	case SASL_CRED_BADPASS:
		passwd_cmd_errf("%s: user '%s': wrong password", where, safe);
		return 1;
	case SASL_CRED_NOUSER:
		passwd_cmd_errf("%s: unknown user '%s'", where, safe);
		return 1;
	case SASL_CRED_NOSECRET:
		passwd_cmd_errf("%s: user '%s' has no password hash to check against", where, safe);
		return 2;
	case SASL_CRED_TEMPFAIL:
		break;
	}
	passwd_cmd_errf("%s: cannot check user '%s' now (store failure)", where, safe);
	return 2;
}


/* add refuses a password that SASLprep refuses, so such a password is
 * wrong for every user; say why rather than a bare "wrong password". */
static int
passwd_cmd_check_prep(const char *user, const struct passwd_cmd_pw *pw)
{
	char *prep = NULL;
	const char *why = NULL;
	if (sasl_saslprep(pw->s, &prep, &why) == 0) {
		str_wipe_free(&prep);
		return 0;
	}
	char safe[LOG_SAFE_MAX];
	passwd_cmd_errf("user '%s': wrong password (no stored password can match: %s)",
			log_safe(safe, sizeof safe, user, strlen(user)), why);
	return -1;
}

static int
passwd_cmd_check(struct passwd_cmd_ctx *c, const char *user)
{
	char *err = NULL;
	struct store *st = store_open(c->spec, c->conf.dir, &err);
	if (st == NULL) {
		passwd_cmd_err(err);
		free(err);
		return 2;
	}
	struct passwd_cmd_pw pw;
	if (passwd_cmd_password(user, false, &pw) < 0) {
		store_free(&st);
		return 2;
	}
	if (passwd_cmd_check_prep(user, &pw) < 0) {
		OPENSSL_cleanse(&pw, sizeof pw);
		store_free(&st);
		return 1;
	}
	struct sasl_cred_request req = {
		.kind = SASL_CRED_PASSWORD, .authcid = user,
		.password = (const uint8_t *)pw.s, .password_len = pw.n,
	};
	struct sasl_cred_answer a;
	/* The store's info lines (PAM's reason for a refusal) are for the
	 * server's log; the verdict below says what the user needs. */
	log_set_level(LOG_LVL_WARN);
	store_answer(st, &req, &a);
	OPENSSL_cleanse(&pw, sizeof pw);
	/* Name the file for a file store, else the spec (PAM, a list). */
	bool file_only = store_impl_of(st, &store_pam_ops) == NULL;
	store_free(&st);
	char safe[LOG_SAFE_MAX];
	log_safe(safe, sizeof safe, user, strlen(user));
	char *path = file_only ? store_spec_file(c->spec, c->conf.dir, &err) : NULL;
	free(err);
	int rc = passwd_cmd_check_report(path ? path : c->spec, safe, a.status);
	free(path);
	return rc;
}

static const struct {
	const char *name;
	int nargs;
	int (*run)(struct passwd_cmd_ctx *c, const char *user);
} passwd_cmd_subs[] = {
	{ "add", 1, passwd_cmd_add },
	{ "del", 1, passwd_cmd_del },
	{ "list", 0, passwd_cmd_list },
	{ "check", 1, passwd_cmd_check },
};

int
cmd_passwd(int argc, char **argv)
{
	const char *conf_file = CONF_DEFAULT_PATH;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return fputs(PASSWD_CMD_USAGE, stdout) < 0 ? 1 : 0;
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			conf_file = argv[++i];
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			passwd_cmd_errf("unknown option '%s'", argv[i]);
			(void)fputs(PASSWD_CMD_USAGE, stderr);
			return 1;
		}
	}
	const char *sub = i < argc ? argv[i] : "";
	for (size_t k = 0; k < sizeof passwd_cmd_subs / sizeof *passwd_cmd_subs; k++) {
		if (strcmp(sub, passwd_cmd_subs[k].name) != 0)
			continue;
		int err_exit = strcmp(sub, "check") == 0 ? 2 : 1;
		if (argc - i - 1 != passwd_cmd_subs[k].nargs) {
			(void)fputs(PASSWD_CMD_USAGE, stderr);
			return err_exit;
		}
		struct passwd_cmd_ctx c;
		char *err = NULL;
		if (passwd_cmd_conf(&c, conf_file, &err) < 0) {
			passwd_cmd_err(err);
			free(err);
			return err_exit;
		}
		int rc = passwd_cmd_subs[k].run(&c, passwd_cmd_subs[k].nargs ? argv[i + 1] : NULL);
		free(c.spec);
		conf_free(&c.conf);
		return rc;
	}
	if (sub[0] == '\0')
		passwd_cmd_errf("missing subcommand");
	else
		passwd_cmd_errf("unknown subcommand '%s'", sub);
	(void)fputs(PASSWD_CMD_USAGE, stderr);
	return 1;
}
