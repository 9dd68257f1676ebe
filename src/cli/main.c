/* main.c - subcommand dispatch only. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/log.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "serve", cmd_serve, "serve [-c FILE] [--check]" },
	{ "passwd", cmd_passwd, "passwd [-c FILE] add|del|check USER | list" },
	{ "queue", cmd_queue, "queue [-c FILE] list | flush | show ID | delete ID" },
	{ "send", cmd_send, "send [-C FILE] [-a ACCOUNT] [-f FROM] [-t] [-i] [-v] [RCPT ...]" },
	{ "probe", cmd_probe, "probe [--tls|--starttls] [--user U] [--password-file F] [--auth MECH|all] [--tls-trust-file F | --insecure] HOST[:PORT]" },
	{ "outbox", cmd_outbox, "outbox [-C FILE] list | flush | delete ID" },
	{ "oauth", cmd_oauth, "oauth [-C FILE] login|status [-a ACCOUNT]" },
};

static void
usage(FILE *f)
{
	(void)fprintf(f, "usage:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		(void)fprintf(f, "  postern %s\n", commands[i].usage);
}

int
main(int argc, char **argv)
{
	const char *self = strrchr(argv[0], '/');
	self = self ? self + 1 : argv[0];
	/* Invoked as sendmail: behave as "postern send". */
	if (strcmp(self, "sendmail") == 0) {
		log_init("sendmail", LOG_LVL_WARN, false);
		return cmd_send(argc, argv);
	}
	if (argc < 2) {
		usage(stderr);
		return 64;	/* EX_USAGE */
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("postern %s\n", POSTERN_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			log_init("postern", LOG_LVL_INFO, false);
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	(void)fprintf(stderr, "postern: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 64;
}
