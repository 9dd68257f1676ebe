/* store_pam.c - the "pam:SERVICE" credential backend: PLAIN and LOGIN
 * passwords checked by libpam (pam_authenticate, then pam_acct_mgmt)
 * under the service /etc/pam.d/SERVICE, the sendmail + saslauthd route.
 *
 * What PAM can and cannot do for SASL: it says yes or no to a password
 * and gives nothing derived from it, so SCRAM and CRAM-MD5 cannot run
 * against it (supports() says so; the auth process then leaves them out
 * of its HELLO, and `serve --check` says why).  Asked for SCRAM or
 * CRAM-MD5 secrets anyway -- in a list, for a user no file store holds --
 * it answers "no such user": SCRAM then goes on with a made-up salt and
 * fails like it does for any unknown user.
 *
 * PAM modules block (pam_unix runs yescrypt, LDAP modules wait for the
 * network) and may sleep on failure, so every check is a job for the
 * auth process's workers (store.h), and the PAM_FAIL_DELAY item is set
 * to a function that does nothing: pam_unix's 2 s and pam_faildelay's
 * delay would tie up a worker thread, and our own throttle (auth/
 * throttle.h) decides how long a failure waits, for every backend alike.
 *
 * Successful logins are cached like the file store's (store_file_cache.c,
 * the mac over user, password and "pam:SERVICE"), for a shorter time: a
 * Unix password changed or an account locked outside postern cannot be
 * seen from here, so a hit may answer from before the change for at most
 * STORE_PAM_CACHE_TTL (a SIGHUP, i.e. store_reload(), forgets them all).
 *
 * XXX: the checks run on several threads at once, each with its own PAM
 * handle.  Linux-PAM and pam_unix (crypt_r, getspnam_r) are safe so; a
 * module that is not would need auth_workers = 1.  Dovecot and saslauthd
 * run PAM in processes instead.
 */
#include "store/store_file.h"

#include <errno.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <security/pam_appl.h>

#include "store/store_impl.h"
#include "util/log.h"
#include "util/str.h"

/* Five minutes: long enough that a client polling every minute pays one
 * PAM check in five; short enough that a password changed with
 * passwd(1) or an account locked with usermod -L stops working soon
 * after (the file store can keep an hour: it sees its file change). */
#define STORE_PAM_CACHE_TTL 300
/* Service names are file names in /etc/pam.d. */
#define STORE_PAM_SERVICE_MAX 64

struct store_pam {
	char *service;
	char *cache_tag;	/* "pam:SERVICE": the cache mac's hash field */
	struct store_file_cache *cache;
};

/* Where Linux-PAM looks for a service's file.  A service with no file
 * silently falls back to /etc/pam.d/other, which on Debian includes
 * common-auth: a typo would check the system's passwords under rules
 * nobody wrote for mail.  So the file must exist. */
static const char *const store_pam_dirs[] = { "/etc/pam.d", "/usr/lib/pam.d" };

/* A service name: a plain file name ([A-Za-z0-9._-], not starting with
 * '.'); NULL, or why not. */
static const char *
store_pam_service_why_not(const char *s)
{
	size_t n = strlen(s);
	if (n == 0)
		return "no service name (pam:SERVICE, a file in /etc/pam.d)";
	if (n > STORE_PAM_SERVICE_MAX)
		return "service name longer than 64 bytes";
	if (s[0] == '.' || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "0123456789._-") != n)
		return "a service name is a file name in /etc/pam.d (letters, digits, '.', '_', '-')";
	return NULL;
}

/* 0 when a file for service exists, else -1 with *err_r malloc'd. */
static int
store_pam_find_service(const char *service, char **err_r)
{
	for (size_t i = 0; i < sizeof store_pam_dirs / sizeof *store_pam_dirs; i++) {
		char path[256];
		struct stat st;
		int n = snprintf(path, sizeof path, "%s/%s", store_pam_dirs[i], service);
		if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
	}
	*err_r = str_printf("/etc/pam.d/%s: no such service file (PAM would fall back to "
			    "/etc/pam.d/other); write one for pam:%s, e.g. 'auth required "
			    "pam_unix.so' and 'account required pam_unix.so'", service, service);
	return -1;
}

static void
store_pam_free(void *impl)
{
	struct store_pam *sp = impl;
	store_file_cache_free(&sp->cache);
	free(sp->cache_tag);
	free(sp->service);
	free(sp);
}

static void *
store_pam_open(const char *arg, const char *base_dir, char **err_r)
{
	const char *why = store_pam_service_why_not(arg);
	if (why != NULL) {
		*err_r = str_printf("pam:%s: %s", arg, why);
		return NULL;
	}
	if (store_pam_find_service(arg, err_r) < 0)
		return NULL;
	struct store_pam *sp = calloc(1, sizeof *sp);
	if (sp == NULL || (sp->service = strdup(arg)) == NULL ||
	    (sp->cache_tag = str_printf("pam:%s", arg)) == NULL ||
	    (sp->cache = store_file_cache_new(STORE_FILE_CACHE_MAX, STORE_PAM_CACHE_TTL)) == NULL) {
		if (sp != NULL)
			store_pam_free(sp);
		*err_r = str_printf("pam:%s: out of memory or no random bytes", arg);
		return NULL;
	}
	return sp;
}

/* ---- one check, on a worker ---- */

struct store_pam_job {
	struct store_job base;
	char *service;
	char *user;		/* prepared */
	char *password;		/* NUL-terminated, wiped after use */
	size_t password_len;
	struct store_file_cache_key key;
	bool keyed;
	enum sasl_cred_status status;	/* set by store_pam_job_run() */
	const char *step;	/* "pam_authenticate" / "pam_acct_mgmt", for the log */
	int pam_rc;
	bool answered;		/* the conversation gave the password once */
};

/* PAM's conversation: the password for the first prompt without echo,
 * nothing else.  A second secret prompt (a one-time code) or a prompt
 * with echo (a user name: we gave it to pam_start) cannot be answered
 * from a SASL password, so the check fails rather than guess.  Text
 * messages are read and dropped (PAM_SILENT asks modules not to send
 * them).  The responses are PAM's to free; it wipes them first. */
/* XXX: gcc 12's analyzer loses the password copy once it sits in an
 * element of the array handed to PAM through *resp_r, and reports it
 * leaked; PAM frees (and wipes) every response.  The warning is off for
 * this function alone (as for parse_listen() in server/config.c). */
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
static int
store_pam_conv(int n, const struct pam_message **msg, struct pam_response **resp_r, void *arg)
{
	struct store_pam_job *j = arg;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	/* Every message is looked at before anything is allocated, so that
	 * a refusal leaves nothing to undo. */
	int secret = -1;
	for (int i = 0; i < n; i++) {
		int style = msg[i]->msg_style;
		if (style == PAM_PROMPT_ECHO_OFF && secret < 0 && !j->answered)
			secret = i;
		else if (style != PAM_ERROR_MSG && style != PAM_TEXT_INFO)
			return PAM_CONV_ERR;
	}
	struct pam_response *resp = calloc((size_t)n, sizeof *resp);
	if (resp == NULL)
		return PAM_BUF_ERR;
	if (secret >= 0) {
		resp[secret].resp = strdup(j->password);
		if (resp[secret].resp == NULL) {
			free(resp);
			return PAM_BUF_ERR;
		}
		j->answered = true;
	}
	*resp_r = resp;
	return PAM_SUCCESS;
}
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* PAM_FAIL_DELAY: instead of the modules' sleep, nothing (see above). */
static void
store_pam_no_delay(int retval, unsigned usec, void *arg)
{
	(void)retval;
	(void)usec;
	(void)arg;
}

/* What a PAM result means for SASL.  Refusals of the account (expired,
 * locked, password to change) count as a wrong password: the client
 * cannot log in and should not learn which it was; the log says. */
static enum sasl_cred_status
store_pam_status(int rc)
{
	switch (rc) {
	case PAM_SUCCESS:
		return SASL_CRED_OK;
	case PAM_USER_UNKNOWN:
		return SASL_CRED_NOUSER;
	case PAM_AUTH_ERR:
	case PAM_PERM_DENIED:
	case PAM_ACCT_EXPIRED:
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_AUTHTOK_EXPIRED:
	case PAM_MAXTRIES:
	case PAM_CRED_INSUFFICIENT:
	case PAM_CONV_ERR:
		return SASL_CRED_BADPASS;
	default:	/* PAM_AUTHINFO_UNAVAIL, PAM_SYSTEM_ERR, PAM_BUF_ERR, ... */
		return SASL_CRED_TEMPFAIL;
	}
}

static void
store_pam_job_run(struct store_job *jb)
{
	struct store_pam_job *j = (struct store_pam_job *)jb;
	const struct pam_conv conv = { store_pam_conv, j };
	pam_handle_t *h = NULL;
	j->step = "pam_start";
	int rc = pam_start(j->service, j->user, &conv, &h);
	if (rc == PAM_SUCCESS) {
		/* A function pointer in PAM's void * item: that is its API. */
		j->step = "pam_set_item(PAM_FAIL_DELAY)";
		rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)store_pam_no_delay);
	}
	if (rc == PAM_SUCCESS) {
		j->step = "pam_authenticate";
		rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	}
	if (rc == PAM_SUCCESS) {
		j->step = "pam_acct_mgmt";
		rc = pam_acct_mgmt(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	}
	j->pam_rc = rc;
	j->status = store_pam_status(rc);
	if (h != NULL)
		(void)pam_end(h, rc);
	OPENSSL_cleanse(j->password, j->password_len);
}

static void
store_pam_job_free(struct store_job *jb)
{
	struct store_pam_job *j = (struct store_pam_job *)jb;
	if (j->password != NULL)
		OPENSSL_cleanse(j->password, j->password_len);
	free(j->password);
	free(j->user);
	free(j->service);
	OPENSSL_cleanse(j, sizeof *j);
	free(j);
}

/* On the store's thread: the cache learns a success; a refusal is
 * logged with PAM's reason, which the client never sees. */
static void
store_pam_job_end(void *impl, struct store_job *jb, struct sasl_cred_answer *a)
{
	struct store_pam *sp = impl;
	struct store_pam_job *j = (struct store_pam_job *)jb;
	if (j->status == SASL_CRED_OK && j->keyed)
		store_file_cache_put(sp->cache, &j->key);
	if (j->status != SASL_CRED_OK) {
		char safe[LOG_SAFE_MAX];
		log_info("store=pam service=%s user=%s step=%s result=\"%s\"", sp->service,
			 log_safe(safe, sizeof safe, j->user, strlen(j->user)), j->step,
			 pam_strerror(NULL, j->pam_rc));
	}
	a->status = j->status;
	store_pam_job_free(jb);
}

/* A password check: a cache hit at once, else a job with copies of the
 * service, the user and the password. */
static struct store_job *
store_pam_verify_begin(struct store_pam *sp, const char *user, const struct sasl_cred_request *req,
		       struct sasl_cred_answer *a)
{
	if (req->password == NULL || req->password_len == 0 || req->password_len > SASL_PASS_MAX ||
	    memchr(req->password, '\0', req->password_len) != NULL) {
		a->status = SASL_CRED_BADPASS;
		return NULL;
	}
	struct store_pam_job *j = calloc(1, sizeof *j);
	if (j == NULL) {
		a->status = SASL_CRED_TEMPFAIL;
		return NULL;
	}
	j->base.ops = &store_pam_ops;
	j->keyed = store_file_cache_key(sp->cache, user, sp->cache_tag, req->password,
					req->password_len, &j->key) == 0;
	if (j->keyed && store_file_cache_hit(sp->cache, &j->key)) {
		store_pam_job_free(&j->base);
		a->status = SASL_CRED_OK;
		return NULL;
	}
	j->service = strdup(sp->service);
	j->user = strdup(user);
	j->password = strndup((const char *)req->password, req->password_len);
	j->password_len = req->password_len;
	if (j->service == NULL || j->user == NULL || j->password == NULL) {
		store_pam_job_free(&j->base);
		a->status = SASL_CRED_TEMPFAIL;
		return NULL;
	}
	return &j->base;
}

static struct store_job *
store_pam_begin(void *impl, const struct sasl_cred_request *req, struct sasl_cred_answer *a)
{
	struct store_pam *sp = impl;
	char *user = NULL;
	const char *why;
	/* A name that could never be a user names nobody. */
	if (req->authcid == NULL || store_user_prep(req->authcid, &user, &why) < 0) {
		a->status = SASL_CRED_NOUSER;
		return NULL;
	}
	struct store_job *j = NULL;
	switch (req->kind) {
	case SASL_CRED_PASSWORD:
		j = store_pam_verify_begin(sp, user, req, a);
		break;
	case SASL_CRED_CRAM_MD5:
	case SASL_CRED_SCRAM_SHA1:
	case SASL_CRED_SCRAM_SHA256:
		/* Not a user we hold secrets for: SCRAM fakes a salt. */
		a->status = SASL_CRED_NOUSER;
		break;
	case SASL_CRED_OAUTH_TOKEN:
		a->status = SASL_CRED_NOSECRET;
		break;
	default:
		a->status = SASL_CRED_TEMPFAIL;
		break;
	}
	free(user);
	return j;
}

static bool
store_pam_supports(const void *impl, enum sasl_cred_kind kind)
{
	return kind == SASL_CRED_PASSWORD;
}

static const char *
store_pam_why_not(const void *impl, enum sasl_cred_kind kind)
{
	if (kind == SASL_CRED_OAUTH_TOKEN)
		return "PAM checks passwords, not bearer tokens";
	return "PAM checks passwords only; SCRAM and CRAM-MD5 need secrets derived from the "
	       "password (postern passwd writes them to a file: store, which a list such as "
	       "'file:users pam:SERVICE' can put first)";
}

/* The RCPT check: the system's accounts are PAM's users (pam_unix).
 * XXX: getpwnam_r asks NSS, which may be a network directory (LDAP): a
 * slow one would hold the auth process's loop here. */
static bool
store_pam_is_recipient(void *impl, const char *name)
{
	(void)impl;
	char buf[4096];
	struct passwd pw, *res = NULL;
	return name[0] != '\0' && getpwnam_r(name, &pw, buf, sizeof buf, &res) == 0 && res != NULL;
}

/* SIGHUP: the service file must still be there; cached logins go, so
 * that a password changed or an account locked counts at once. */
static int
store_pam_reload(void *impl, char **err_r)
{
	struct store_pam *sp = impl;
	store_file_cache_clear(sp->cache);
	return store_pam_find_service(sp->service, err_r);
}

const struct store_ops store_pam_ops = {
	.scheme = "pam",
	.open = store_pam_open,
	.free = store_pam_free,
	.supports = store_pam_supports,
	.answer = NULL,
	.reload = store_pam_reload,
	.begin = store_pam_begin,
	.run = store_pam_job_run,
	.end = store_pam_job_end,
	.job_free = store_pam_job_free,
	.has_user = NULL,	/* only a full check can tell: last in a list */
	.is_recipient = store_pam_is_recipient,
	.why_not = store_pam_why_not,
	.managed_by = "the store is PAM-managed: its users are the system's accounts "
		      "(useradd, passwd(1)), not postern's; postern passwd add, del and list "
		      "edit file: stores only (check works)",
};
