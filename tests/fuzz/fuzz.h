/*
 * Shared by the libFuzzer targets: a check that aborts with the failing
 * condition, so an oracle's failure is a crash libFuzzer saves.
 */
#ifndef WSB_FUZZ_H
#define WSB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(e) do {							\
	if (!(e)) {							\
		fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__,	\
		    __LINE__, #e);					\
		abort();						\
	}								\
} while (0)

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	 LLVMFuzzerInitialize(int *, char ***);

#endif
