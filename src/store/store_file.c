/* store_file.c - placeholder until the file backend lands. */
#include "store/store.h"
