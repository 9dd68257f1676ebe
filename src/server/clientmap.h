/* clientmap.h - tls_client_map: which user a TLS client certificate
 * logs in as with EXTERNAL (RFC 4422 appendix A).
 *
 * The file (tls_client_map = file:PATH) holds one line per identity:
 *	email:ADDRESS		a subjectAltName rfc822Name (ASCII case ignored)
 *	dns:NAME		a subjectAltName dNSName (ASCII case ignored)
 *	subject:DN		the whole subject as an RFC 2253 string, as
 *				`openssl x509 -noout -subject -nameopt RFC2253`
 *				prints it ("CN=Bob,O=Example"), compared exactly
 * followed by the user (the last word of the line; a DN may hold
 * spaces).  Blank lines and lines starting with '#' are ignored.  The
 * first line, in file order, that the certificate carries decides.
 * Anything else is an error at load time ("PATH:LINE: why").
 *
 * Why these forms: a SAN email is what S/MIME and most personal client
 * certificates carry and is unique per person; dNSName suits devices
 * (a printer's own certificate); the RFC 2253 subject covers CAs that
 * put the identity in the CN only.  A bare CN is not a form: two CAs'
 * "CN=printer" are different holders, and the subject string with its
 * O= and OU= makes the administrator write down which one is meant.
 * Only certificates the network process verified against tls_client_ca
 * are looked up (tls.c).
 */
#ifndef POSTERN_SERVER_CLIENTMAP_H
#define POSTERN_SERVER_CLIENTMAP_H

#include <openssl/x509.h>

struct clientmap;

/* Reads the map at path (absolute).  Returns NULL with *err_r
 * malloc'd ("PATH:LINE: why", or "PATH: No such file or directory"). */
struct clientmap *clientmap_load(const char *path, char **err_r);
void clientmap_free(struct clientmap **mp);	/* NULL-safe; sets *mp = NULL */

/* The user of the first line cert carries, or NULL (m NULL: none). */
const char *clientmap_user(const struct clientmap *m, X509 *cert);
/* cert's subject as an RFC 2253 string, malloc'd (for logs and for
 * the map's subject: lines); NULL when out of memory. */
char *clientmap_subject(X509 *cert);

#endif
