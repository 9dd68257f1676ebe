/* store_user.c - the one place that decides what a user name may be.
 *
 * Names are stored and looked up after SASLprep, so "Ⅸ" and "IX" (RFC
 * 4013 maps both to "IX") are one user whichever way a client spells it.
 */
#include "store/store.h"
#include "util/str.h"

#include <stdlib.h>
#include <string.h>


/* Why a prepared (or raw) name cannot be a user name, or NULL if it can.
 * The file format adds the ':' and '#' rules: ':' separates fields and
 * a line starting with '#' is a comment. */
static const char *
store_user_why_not(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return "empty user name";
	if (n > SASL_NAME_MAX)
		return "user name longer than 255 bytes";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return "control character in user name";
		if (c == ':')
			return "':' in user name";
	}
	if (name[0] == '#')
		return "user name starts with '#'";
	/* Not a SASL rule: "alice " is almost always a copy-paste slip, and
	 * a name that differs from another only in edge spaces is a trap. */
	if (name[0] == ' ' || name[n - 1] == ' ')
		return "user name starts or ends with a space";
	return NULL;
}

int
store_user_prep(const char *name, char **out_r, const char **why_r)
{
	*out_r = NULL;
	/* Checking the raw name first gives the clearer message (SASLprep
	 * would call a control character merely "prohibited"). */
	const char *why = store_user_why_not(name);
	if (why != NULL) {
		*why_r = why;
		return -1;
	}
	char *prep;
	if (sasl_saslprep(name, &prep, why_r) < 0)
		return -1;
	why = store_user_why_not(prep);
	if (why != NULL) {
		str_wipe_free(&prep);
		*why_r = why;
		return -1;
	}
	*out_r = prep;
	return 0;
}
