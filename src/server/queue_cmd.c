#include "cli/commands.h"
#include <stdio.h>

int
cmd_queue(int argc, char **argv)
{
	fprintf(stderr, "postern queue: not implemented yet\n");
	return 69;
}
