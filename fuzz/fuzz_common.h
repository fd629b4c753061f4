/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *	  What every libFuzzer harness here shares: the entry point and the
 *	  property check (abort, so libFuzzer keeps the input).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond) \
	do { if (!(cond)) { fprintf(stderr, "property failed: %s\n", #cond); abort(); } } while (0)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif							/* FUZZ_COMMON_H */
