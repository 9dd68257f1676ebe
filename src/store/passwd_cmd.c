#include "cli/commands.h"
#include <stdio.h>

int
cmd_passwd(int argc, char **argv)
{
	fprintf(stderr, "postern passwd: not implemented yet\n");
	return 69;
}
