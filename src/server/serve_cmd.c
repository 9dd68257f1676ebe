/* serve_cmd.c - `postern serve [-c FILE] [--check]`. */
#include "cli/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/conf.h"

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
	/* --check does everything serve does before it forks except bind
	 * the ports: it must pass for the config of a running server (which
	 * holds them), e.g. before a SIGHUP.  A port taken by another
	 * program is reported by the real start, before anything listens. */
	return parent_run(cfg, check);
}
