/* commands.h - the subcommands main() dispatches to.
 * Each returns the process exit code. argv[0] is the subcommand name. */
#ifndef POSTERN_COMMANDS_H
#define POSTERN_COMMANDS_H

int cmd_serve(int argc, char **argv);	/* src/server/serve_cmd.c */
int cmd_queue(int argc, char **argv);	/* src/server/queue_cmd.c */
int cmd_passwd(int argc, char **argv);	/* src/store/passwd_cmd.c */
int cmd_send(int argc, char **argv);	/* src/client/send_cmd.c */
int cmd_probe(int argc, char **argv);	/* src/client/probe_cmd.c */
int cmd_outbox(int argc, char **argv);	/* src/client/outbox_cmd.c */
int cmd_oauth(int argc, char **argv);	/* src/client/oauth_cmd.c */

#endif
