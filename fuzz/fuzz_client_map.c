/* fuzz_client_map.c - tls_client_map's parser (src/server/clientmap.c:
 * "email:|dns:|subject:IDENTITY user" lines).  An error names the file;
 * a parsed map answers a look-up of one certificate, with a user that
 * is a line's last word (no control byte, at most 255 bytes). */
#include "fuzz_file.h"

#include <openssl/x509v3.h>

#include "server/clientmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A certificate to look up (unsigned: the map never checks signatures,
 * tls.c verified the real ones before). */
static X509 *
fuzz_cert(void)
{
	static X509 *cert;
	if (cert != NULL)
		return cert;
	cert = X509_new();
	X509_NAME *name = X509_get_subject_name(cert);
	FUZZ_CHECK(cert != NULL && name != NULL);
	FUZZ_CHECK(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					      (const unsigned char *)"Example Test", -1, -1, 0) == 1);
	FUZZ_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					      (const unsigned char *)"printer", -1, -1, 0) == 1);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
						  "email:user@example.test,DNS:host.example.test");
	FUZZ_CHECK(ext != NULL && X509_add_ext(cert, ext, -1) == 1);
	X509_EXTENSION_free(ext);
	return cert;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_file f;
	fuzz_file_make(&f, data, size);
	char *err = NULL;
	struct clientmap *m = clientmap_load(f.path, &err);
	if (m != NULL) {
		FUZZ_CHECK(err == NULL);
		const char *user = clientmap_user(m, fuzz_cert());
		if (user != NULL) {
			size_t n = strlen(user);
			FUZZ_CHECK(n > 0 && n <= 255);
			for (size_t i = 0; i < n; i++)
				FUZZ_CHECK((unsigned char)user[i] >= 0x20 && user[i] != ' ');
		}
		clientmap_free(&m);
	} else {
		FUZZ_CHECK(err != NULL && strncmp(err, f.path, strlen(f.path)) == 0);
	}
	free(err);
	fuzz_file_free(&f);
	return 0;
}
