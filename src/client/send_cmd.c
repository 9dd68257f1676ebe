#include "cli/commands.h"
#include <stdio.h>

int
cmd_send(int argc, char **argv)
{
	fprintf(stderr, "postern send: not implemented yet\n");
	return 69;
}
