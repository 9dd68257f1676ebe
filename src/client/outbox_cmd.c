#include "cli/commands.h"
#include <stdio.h>

int
cmd_outbox(int argc, char **argv)
{
	fprintf(stderr, "postern outbox: not implemented yet\n");
	return 69;
}
