/*-------------------------------------------------------------------------
 *
 * fuzz_email.c
 *	  libFuzzer harness for the pure C e-mail normalizer (src/email_parse.c).
 *
 *	  make fuzz FUZZ_SECONDS=600
 *
 * Besides no crash and no read past the input (AddressSanitizer; the input
 * is copied into a buffer of exactly its size), it checks what callers rely
 * on: the result is never longer than the input, holds exactly one '@' and
 * no NUL, and normalizing it again changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "email_parse.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in;
	char	   *out;
	int			n;

	if (size > 1 << 16)
		return 0;
	in = malloc(size ? size : 1);
	memcpy(in, data, size);
	out = malloc(size + 1);
	n = cc_normalize_email(in, (int) size, out);
	if (n >= 0)
	{
		char	   *again = malloc(n + 1);
		int			m;

		REQUIRE(n <= (int) size);
		REQUIRE(out[n] == '\0');
		REQUIRE(strlen(out) == (size_t) n);
		REQUIRE(strchr(out, '@') != NULL && strchr(out, '@') == strrchr(out, '@'));
		m = cc_normalize_email(out, n, again);
		REQUIRE(m == n);
		REQUIRE(memcmp(again, out, n) == 0);
		free(again);
	}
	free(out);
	free(in);
	return 0;
}
