/*-------------------------------------------------------------------------
 *
 * fuzz_csv.c
 *	  libFuzzer harness for the pure C CSV reader (src/csv_parse.c).
 *
 *	  make fuzz FUZZ_TARGETS=csv FUZZ_SECONDS=600
 *
 * Besides no crash and no read or write out of bounds (AddressSanitizer;
 * the input and the scratch buffer are exactly their size), it checks
 * round trips: the records read, written back as CSV (every field quoted,
 * CRLF) and read again, are the same records; fields never hold more bytes
 * than the input; line numbers never go back.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_parse.h"


typedef struct Collect
{
	char	   *out;			/* the records written back as CSV */
	size_t		used;
	size_t		cap;
	int			fields_in_record;
	int			records;
	int			last_line;
	size_t		input_len;
} Collect;

static void
Put(Collect *c, const char *s, size_t n)
{
	if (c->used + n > c->cap)
	{
		c->cap = (c->used + n) * 2 + 64;
		c->out = realloc(c->out, c->cap);
	}
	memcpy(c->out + c->used, s, n);
	c->used += n;
}

static void
Field(void *arg, const char *text, size_t len, int line)
{
	Collect    *c = arg;

	REQUIRE(len <= c->input_len);
	REQUIRE(line >= c->last_line);
	c->last_line = line;
	if (c->fields_in_record++ > 0)
		Put(c, ",", 1);
	Put(c, "\"", 1);
	for (size_t i = 0; i < len; i++)
		Put(c, text[i] == '"' ? "\"\"" : &text[i], text[i] == '"' ? 2 : 1);
	Put(c, "\"", 1);
}

static void
RecordEnd(void *arg, int line)
{
	Collect    *c = arg;

	REQUIRE(c->fields_in_record > 0);
	Put(c, "\r\n", 2);
	c->fields_in_record = 0;
	c->records++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *in;
	char	   *scratch;
	Collect		first = {0};
	Collect		second = {0};
	CsvCallbacks cb1 = {Field, RecordEnd, &first};
	CsvCallbacks cb2 = {Field, RecordEnd, &second};
	int			line = 0;

	if (size > 1 << 16)
		return 0;
	in = malloc(size ? size : 1);
	memcpy(in, data, size);
	scratch = malloc(size ? size : 1);
	first.input_len = size;
	if (cc_parse_csv(in, size, scratch, &cb1, &line) == CSV_OK && first.records > 0)
	{
		char	   *again = malloc(first.used);
		char	   *scratch2 = malloc(first.used);

		memcpy(again, first.out, first.used);
		second.input_len = first.used;
		/* written back with ',' between quoted fields: read with ',' again */
		REQUIRE(cc_parse_csv(again, first.used, scratch2, &cb2, &line) == CSV_OK);
		REQUIRE(second.records == first.records);
		REQUIRE(second.used == first.used && memcmp(second.out, first.out, first.used) == 0);
		free(again);
		free(scratch2);
	}
	free(first.out);
	free(second.out);
	free(scratch);
	free(in);
	return 0;
}
