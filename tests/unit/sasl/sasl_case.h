/* sasl_case.h - the output buffer and reason of one test case, reset
 * around each case by setup()/teardown() (cmocka_unit_test_setup_teardown),
 * for the vector and tamper tests. */
#ifndef POSTERN_TEST_SASL_CASE_H
#define POSTERN_TEST_SASL_CASE_H

#include "sasl_test.h"

static struct buf out;
static const char *why;

static int
setup(void **state)
{
	(void)state;
	buf_init(&out, SASL_MSG_MAX);
	why = NULL;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	buf_wipe_free(&out);
	return 0;
}
#endif
