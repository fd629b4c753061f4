/*-------------------------------------------------------------------------
 *
 * fuzz_json.c
 *	  libFuzzer harness for import_json's use of cJSON (Debian's libcjson; import_json
 *	  hands it one object of the array at a time, found by PostgreSQL's parser):
 *	  parse with a length and without requiring a NUL, walk the array, print
 *	  each object as import_json hands it to upsert_contact.
 *
 *	  make fuzz FUZZ_TARGETS=json FUZZ_SECONDS=600
 *
 * Properties: no crash, no read past the input (ASan; the input is exactly
 * its size, not NUL-terminated); the error position lies inside the input;
 * each printed object parses back and prints the same again (text, not
 * cJSON_Compare: an object may repeat a key, which jsonb then resolves to
 * the last value, as PostgreSQL does for any JSON).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in;
	const char *end = NULL;
	cJSON	   *root;
	cJSON	   *item;

	if (size > 1 << 16)
		return 0;
	in = malloc(size ? size : 1);
	memcpy(in, data, size);
	root = cJSON_ParseWithLengthOpts(in, size, &end, 0);
	if (root == NULL)
	{
		const char *at = cJSON_GetErrorPtr();

		REQUIRE(at == NULL || (at >= in && at <= in + size));
	}
	else
	{
		REQUIRE(end >= in && end <= in + size);
		if (cJSON_IsArray(root))
			cJSON_ArrayForEach(item, root)
			{
				char	   *printed;
				char	   *again;
				cJSON	   *back;

				if (!cJSON_IsObject(item))
					continue;
				printed = cJSON_PrintUnformatted(item);
				REQUIRE(printed != NULL);
				back = cJSON_Parse(printed);
				REQUIRE(back != NULL);
				again = cJSON_PrintUnformatted(back);
				REQUIRE(again != NULL && strcmp(again, printed) == 0);
				cJSON_Delete(back);
				free(again);
				free(printed);
			}
		cJSON_Delete(root);
	}
	free(in);
	return 0;
}
