/* serve_cmd.c - `postern serve [-c FILE] [--check]`. */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/conf.h"
#include "util/log.h"

static int
usage(void)
{
	(void)fprintf(stderr, "usage: postern serve [-c FILE] [--check]\n");
	return 64;	/* EX_USAGE */
}

int
cmd_serve(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH;
	bool check = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--check") == 0)
			check = true;
		else
			return usage();
	}
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	if (cfg == NULL) {
		(void)fprintf(stderr, "postern: %s\n", err ? err : "cannot read the config");
		free(err);
		return 1;
	}
	if (!check)
		log_init("postern", cfg->log_level, cfg->log_syslog);
	/* --check does everything serve does before its loop except bind
	 * the ports and open the spool: it must pass for the config of a
	 * running server (which holds both), e.g. before a SIGHUP, and must
	 * not clean tmp/ under it.  A port taken by another program, or a
	 * spool locked by another server, is reported by the real start,
	 * before anything listens. */
	struct server *srv = server_new(cfg, check, &err);
	if (srv == NULL) {
		(void)fprintf(stderr, "postern: %s\n", err ? err : "cannot start");
		free(err);
		return 1;
	}
	if (check) {
		printf("%s: ok\n", path);
		server_free(&srv);
		return 0;
	}
	int rc = server_run(srv);
	server_free(&srv);
	return rc;
}
