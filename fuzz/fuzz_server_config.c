/* fuzz_server_config.c - the server configuration reader (config_load:
 * key = value lines, listen addresses, sizes, paths, mechanism lists).
 * An error must come with a message; a config that loads is freed. */
#include "fuzz_file.h"

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_file f;
	fuzz_file_make(&f, data, size);
	char *err = NULL;
	struct config *c = config_load(f.path, &err);
	FUZZ_CHECK(c != NULL || err != NULL);
	config_free(&c);
	free(err);
	fuzz_file_free(&f);
	return 0;
}
