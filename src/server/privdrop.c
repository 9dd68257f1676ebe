/* privdrop.c - the network process's user (config `user`, default
 * "postern"): looked up by the parent at start, switched to in the
 * network process after the parent has bound the ports, read the TLS
 * key and opened the spool (doc/architecture.md). */
#include "server/session.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "FILE:LINE" of the user line, or "the default" when not set. */
static void
privdrop_where(const struct config *cfg, char *buf, size_t n)
{
	if (cfg->user_line > 0)
		(void)snprintf(buf, n, "%s:%u", cfg->path, cfg->user_line);
	else
		(void)snprintf(buf, n, "the default; set 'user' in %s", cfg->path);
}

int
privdrop_lookup(const struct config *cfg, uid_t *uid_r, gid_t *gid_r, char **err_r)
{
	struct passwd pw, *res = NULL;
	char buf[4096], where[512];
	privdrop_where(cfg, where, sizeof where);
	int rc = getpwnam_r(cfg->user, &pw, buf, sizeof buf, &res);
	if (res == NULL) {
		(void)!asprintf(err_r, "user '%s' (%s): %s", cfg->user, where,
				rc != 0 ? strerror(rc) : "no such user");
		return -1;
	}
	if (pw.pw_uid == 0) {
		(void)!asprintf(err_r, "user '%s' (%s) is root: sessions never run as root", cfg->user,
				where);
		return -1;
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 0;
}

int
privdrop_to(uid_t uid, gid_t gid, char **err_r)
{
	/* Order matters: groups and gid while we still may change them. */
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		(void)!asprintf(err_r, "cannot switch to uid %u gid %u: %s", (unsigned)uid,
				(unsigned)gid, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || getuid() != uid || geteuid() != uid) {
		(void)!asprintf(err_r, "uid %u: root privileges could be regained", (unsigned)uid);
		return -1;
	}
	return 0;
}
