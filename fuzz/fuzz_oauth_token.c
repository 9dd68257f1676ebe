/* fuzz_oauth_token.c - the client's OAuth readers: a token file
 * (oauth_tokens_load) and a token endpoint's JSON answer
 * (oauth_tokens_take, oauth_http_error).  The first byte picks which.
 * Properties: a loaded file has an access token; an answer taken gives
 * an access token and an expiry after now, keeps the old refresh token
 * unless a new one came, and a refusal always says why. */
#include "fuzz_file.h"

#include <jansson.h>

#include "client/oauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1700000000

static void
fuzz_answer(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	struct oauth_tokens t = { NULL, strdup("old-refresh"), 0 };
	char *err = NULL;
	if (oauth_tokens_take(&t, j, FUZZ_NOW, &err) == 0) {
		FUZZ_CHECK(t.access_token != NULL && t.refresh_token != NULL);
		FUZZ_CHECK(t.expires_at > FUZZ_NOW);
	} else {
		FUZZ_CHECK(err != NULL && t.access_token == NULL);
		FUZZ_CHECK(strcmp(t.refresh_token, "old-refresh") == 0);
	}
	free(err);
	char *e = oauth_http_error(j, 400);
	FUZZ_CHECK(e != NULL && strchr(e, '\n') == NULL);
	free(e);
	oauth_tokens_free(&t);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		fuzz_answer(data + 1, size - 1);
		return 0;
	}
	struct fuzz_file f;
	fuzz_file_make(&f, data + 1, size - 1);
	struct oauth_tokens t;
	char *err = NULL;
	int rc = oauth_tokens_load(f.path, &t, &err);
	FUZZ_CHECK(rc == 0 ? t.access_token != NULL : (rc == 1 || err != NULL));
	oauth_tokens_free(&t);
	free(err);
	fuzz_file_free(&f);
	return 0;
}
