/* registry.c - placeholder until the mechanisms land. */
#include "sasl/sasl.h"
