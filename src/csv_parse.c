/*-------------------------------------------------------------------------
 *
 * csv_parse.c
 *	  The pure C CSV reader (see csv_parse.h).  Fuzzed by fuzz/fuzz_csv.c.
 *
 *-------------------------------------------------------------------------
 */
#include "csv_parse.h"

/*
 * ',' or ';', whichever comes first outside quotes in the header line; ','
 * when neither does
 */
static char
DetectSeparator(const char *s, size_t len, size_t pos)
{
	int			quoted = 0;

	for (size_t i = pos; i < len && s[i] != '\n'; i++)
	{
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (s[i] == ',' || s[i] == ';'))
			return s[i];
	}
	return ',';
}

CsvError
cc_parse_csv(const char *s, size_t len, char *scratch, const CsvCallbacks *cb, int *error_line)
{
	size_t		pos = 0;
	int			line = 1;
	char		sep;

	if (len >= 3 && (unsigned char) s[0] == 0xEF && (unsigned char) s[1] == 0xBB && (unsigned char) s[2] == 0xBF)
		pos = 3;
	sep = DetectSeparator(s, len, pos);
	while (pos < len)
	{
		int			record_line = line;
		int			nfields = 0;
		int			blank = 1;

		for (;;)
		{
			size_t		n = 0;

			if (pos < len && s[pos] == '"')
			{
				int			quote_line = line;

				blank = 0;
				pos++;
				for (;;)
				{
					if (pos >= len)
					{
						*error_line = quote_line;
						return CSV_UNCLOSED_QUOTE;
					}
					if (s[pos] == '"')
					{
						if (pos + 1 < len && s[pos + 1] == '"')
						{
							scratch[n++] = '"';
							pos += 2;
							continue;
						}
						pos++;
						break;
					}
					if (s[pos] == '\n')
						line++;
					scratch[n++] = s[pos++];
				}
				if (pos < len && s[pos] != sep && s[pos] != '\r' && s[pos] != '\n')
				{
					*error_line = line;
					return CSV_TEXT_AFTER_QUOTE;
				}
			}
			else
			{
				while (pos < len && s[pos] != sep && s[pos] != '\r' && s[pos] != '\n')
				{
					if (s[pos] == '"')
					{
						*error_line = line;
						return CSV_QUOTE_IN_FIELD;
					}
					scratch[n++] = s[pos++];
				}
			}
			if (n > 0 || (pos < len && s[pos] == sep))
				blank = 0;
			/* a blank line gives no record: hold its single empty field back */
			if (!(blank && nfields == 0 && (pos >= len || s[pos] != sep)))
			{
				cb->field(cb->arg, scratch, n, record_line);
				nfields++;
			}
			if (pos < len && s[pos] == sep)
			{
				pos++;
				continue;
			}
			if (pos < len && s[pos] == '\r')
				pos++;
			if (pos < len && s[pos] == '\n')
				pos++;
			line++;
			break;
		}
		if (nfields > 0)
			cb->record_end(cb->arg, record_line);
	}
	return CSV_OK;
}
