/* store_test.h - what the store unit tests share: a private temporary
 * folder per test program (cmocka group setup/teardown) holding the
 * users file under test. */
#ifndef POSTERN_TEST_STORE_H
#define POSTERN_TEST_STORE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

static char tmpdir[] = "/tmp/postern-store-test.XXXXXX";
static char users[300];	/* tmpdir/users */

static int
setup_dir(void **state)
{
	(void)state;
	log_init("test", LOG_LVL_ERR, false);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	(void)snprintf(users, sizeof users, "%s/users", tmpdir);
	return 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	(void)snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
