/* saslprep.c - SASLprep (RFC 4013) through libidn's stringprep, plus the
 * checks every mechanism makes on a name or password taken from the wire. */
#include "sasl/sasl.h"
#include "sasl/sasl_impl.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <stringprep.h>

/* RFC 3629 section 4: well-formed UTF-8 only (no overlong forms, no
 * surrogates, nothing above U+10FFFF).  libidn would reject most of it
 * too, but its error says "iconv" where we want "invalid UTF-8". */
bool
sasl_saslprep_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		size_t more;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else {
			return false;
		}
		if (n - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			uint8_t cc = p[i + k];
			if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xbf))
				return false;
		}
		i += more + 1;
	}
	return true;
}

int
sasl_saslprep(const char *in, char **out_r, const char **why_r)
{
	*out_r = NULL;
	if (!sasl_saslprep_utf8_valid((const uint8_t *)in, strlen(in))) {
		*why_r = "invalid UTF-8";
		return -1;
	}
	/* RFC 4013 section 2.5 makes unassigned code points a matter of
	 * query versus stored string; the contract in sasl.h refuses them
	 * always, so that what a user can log in with is what the store
	 * could have stored. */
	char *out = NULL;
	/* XXX: libidn converts to UCS-4 in buffers it frees without wiping,
	 * so a password's code points may linger in freed heap; our own
	 * copies (in, out) are wiped.  Fixing it means SASLprep by hand. */
	int rc = stringprep_profile(in, &out, "SASLprep", STRINGPREP_NO_UNASSIGNED);
	switch (rc) {
	case STRINGPREP_OK:
		*out_r = out;
		return 0;
	case STRINGPREP_CONTAINS_UNASSIGNED:
		*why_r = "SASLprep: unassigned code point";
		break;
	case STRINGPREP_CONTAINS_PROHIBITED:
		*why_r = "SASLprep: prohibited character";
		break;
	case STRINGPREP_BIDI_BOTH_L_AND_RAL:
	case STRINGPREP_BIDI_LEADTRAIL_NOT_RAL:
	case STRINGPREP_BIDI_CONTAINS_PROHIBITED:
		*why_r = "SASLprep: bidirectional text not allowed";
		break;
	case STRINGPREP_MALLOC_ERROR:
		*why_r = "out of memory";
		break;
	default:
		*why_r = "SASLprep failed";
		break;
	}
	str_wipe_free(&out);
	return -1;
}

int
sasl_saslprep_span(const uint8_t *p, size_t n, size_t max, char **out_r,
		   const char **why_r)
{
	*out_r = NULL;
	if (n == 0) {
		*why_r = "empty name or password";
		return -1;
	}
	if (n > max) {
		*why_r = "name or password too long";
		return -1;
	}
	if (memchr(p, '\0', n) != NULL) {
		*why_r = "NUL inside name or password";
		return -1;
	}
	char *tmp = malloc(n + 1);
	if (tmp == NULL) {
		*why_r = "out of memory";
		return -1;
	}
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	int rc = sasl_saslprep(tmp, out_r, why_r);
	OPENSSL_cleanse(tmp, n);
	free(tmp);
	if (rc == 0 && (*out_r)[0] == '\0') {
		/* RFC 4616 section 2: the server "MUST fail" on an empty
		 * prepared authcid or password (e.g. only soft hyphens). */
		free(*out_r);
		*out_r = NULL;
		*why_r = "name or password empty after SASLprep";
		return -1;
	}
	if (rc == 0 && strlen(*out_r) > max) {
		str_wipe_free(out_r);
		*why_r = "name or password too long";
		return -1;
	}
	return rc;
}
