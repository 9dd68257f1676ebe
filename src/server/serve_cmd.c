#include "cli/commands.h"
#include <stdio.h>

int
cmd_serve(int argc, char **argv)
{
	fprintf(stderr, "postern serve: not implemented yet\n");
	return 69;
}
