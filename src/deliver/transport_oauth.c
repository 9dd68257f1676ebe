/* transport_oauth.c - relay_credentials = oauth:FILE (issue 15 item 3,
 * the bridge).  Not built yet: refused at start with a clear message. */
#include "deliver/transport_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

int
tr_oauth_new(struct transport *t, const char *path, char **err_r)
{
	(void)t;
	*err_r = str_printf("relay_credentials oauth:%s: OAuth relaying is not built yet", path);
	return -1;
}

void
tr_oauth_free(struct transport *t)
{
	(void)t;
}
