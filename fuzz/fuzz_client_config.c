/* fuzz_client_config.c - the msmtprc-style client configuration reader
 * (client_config_load: defaults, account NAME [: PARENT], every key),
 * then the account look-up; and the netrc/authinfo reader
 * (client_netrc_lookup) over the same bytes. */
#include "fuzz_file.h"

#include "client/config.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;
	if (!quiet) {
		log_init("fuzz", LOG_LVL_ERR, false);	/* warnings about keys */
		quiet = true;
	}
	struct fuzz_file f;
	fuzz_file_make(&f, data, size);
	struct client_config c;
	memset(&c, 0, sizeof c);
	char *err = NULL;
	if (client_config_load(&c, f.path, &err) == 0) {
		char *err2 = NULL;
		const struct client_account *a = client_config_account(&c, NULL, &err2);
		FUZZ_CHECK(a != NULL || err2 != NULL);
		free(err2);
	} else {
		FUZZ_CHECK(err != NULL);
	}
	client_config_free(&c);
	free(err);

	char *user = NULL, *pw = NULL;
	err = NULL;
	int rc = client_netrc_lookup(f.path, "mail.example.test", 587, NULL, &user, &pw, &err);
	FUZZ_CHECK(rc != 1 || pw != NULL);
	free(user);
	free(pw);
	free(err);
	fuzz_file_free(&f);
	return 0;
}
