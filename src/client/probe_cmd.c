#include "cli/commands.h"
#include <stdio.h>

int
cmd_probe(int argc, char **argv)
{
	fprintf(stderr, "postern probe: not implemented yet\n");
	return 69;
}
