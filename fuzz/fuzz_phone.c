/*
 * libFuzzer harness for the pure C phone core (src/phone_parse.c).
 *
 * The first input byte picks the default region (or none); the rest is the
 * text.  Properties checked on every input, besides ASan/UBSan's:
 *  - a parsed valid number packs into 8 bytes and unpacks to itself;
 *  - its E.164 text parses back to the same number, without any region;
 *  - every format fits its buffer and the international form re-parses to the
 *    same number.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phone_parse.h"

static void
check(int cond, const char *what)
{
	if (!cond)
	{
		fprintf(stderr, "property violated: %s\n", what);
		abort();
	}
}

static int
same(const PhNumber *a, const PhNumber *b)
{
	return a->cc == b->cc && a->nsn_len == b->nsn_len && memcmp(a->nsn, b->nsn, a->nsn_len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const PhRegion *region = NULL;
	PhNumber	num, back;
	char		buf[PH_MAX_FORMATTED];
	int			n;
	int64_t		packed;
	char	   *text;

	if (size < 1)
		return 0;
	if (data[0] < ph_nregion_ids)
		region = &ph_regions[ph_region_by_id[data[0]]];
	/* an exact-size heap copy, so that ASan sees any read past the text */
	text = malloc(size - 1 ? size - 1 : 1);
	memcpy(text, data + 1, size - 1);
	if (ph_parse_valid(text, (int) size - 1, region, &num))
	{
		packed = ph_pack(&num);
		check(packed > 0, "valid number packs");
		check(ph_unpack(packed, &back) && same(&num, &back), "unpack(pack(x)) == x");
		n = ph_format(&num, PH_E164, buf);
		check(n > 0 && n < PH_MAX_FORMATTED, "E.164 fits");
		check(ph_parse_valid(buf, n, NULL, &back) && same(&num, &back), "E.164 parses back");
		check(ph_number_region(&num) != NULL, "valid number has a region");
		n = ph_format(&num, PH_INTERNATIONAL, buf);
		check(n > 0 && n < PH_MAX_FORMATTED - 1, "international fits");
		check(ph_parse_valid(buf, n, NULL, &back) && same(&num, &back), "international parses back");
		n = ph_format(&num, PH_NATIONAL, buf);
		check(n > 0 && n < PH_MAX_FORMATTED - 1, "national fits");
		n = ph_format(&num, PH_RFC3966, buf);
		check(n > 0 && n < PH_MAX_FORMATTED - 1, "rfc3966 fits");
	}
	free(text);
	return 0;
}
