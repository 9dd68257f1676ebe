/* fuzz_store_file.c - the credential store's users-file parser
 * (store_file_db_parse: NAME:{CRYPT}...:{SCRAM-SHA-1}...:... lines).
 * An error names the line; a parsed file answers a look-up. */
#include "fuzz.h"

#include "store/store_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_copy(data, size, 1);
	struct store_file_db db;
	memset(&db, 0, sizeof db);
	char *err = NULL;
	if (store_file_db_parse(&db, "users", text, size, &err) == 0) {
		(void)store_file_db_find(&db, "user");
		store_file_db_free(&db);
	} else {
		FUZZ_CHECK(err != NULL && strncmp(err, "users", 5) == 0);
	}
	free(err);
	free(text);
	return 0;
}
