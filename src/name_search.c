/*-------------------------------------------------------------------------
 *
 * name_search.c
 *	  What the audience's name search looks in: the contact's names, joined
 *	  by spaces and lower-cased by ICU's root locale.
 *
 * Design note.  This was lower(concat_ws(' ', ...) COLLATE "und-x-icu") in
 * SQL, the expression of the trigram index.  A common name is found by
 * walking the newest contacts and testing each row, so the expression runs
 * per row; through lower() it cost ~6 us a row (PostgreSQL converts the
 * text to UTF-16 and back and looks up the collation at each call).  Here it
 * is one ICU call on the UTF-8 bytes with a case map opened once per
 * backend: the same ICU library and locale, so the same string, byte for
 * byte (tap/name_search compares the two on every generated name and on
 * the hard cases: final sigma, dotted I, sharp s).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include <unicode/ucasemap.h>
#include <unicode/uversion.h>

#include "customercard.h"

static UCaseMap *root_case_map = NULL;

/* ICU's root-locale case map, opened once per backend */
static UCaseMap *
RootCaseMap(void)
{
	if (root_case_map == NULL)
	{
		UErrorCode	status = U_ZERO_ERROR;
		UCaseMap   *map = ucasemap_open("und", 0, &status);

		if (U_FAILURE(status) || map == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not open ICU's case mapping: %s", u_errorName(status))));
		root_case_map = map;
	}
	return root_case_map;
}

PG_FUNCTION_INFO_V1(name_haystack);

/*
 * customercard.name_haystack(name, first_name, last_name, middle_name,
 * nickname): the names that are set, joined by one space (as concat_ws),
 * lower-cased as ICU's root locale does.  NULL never: '' when none is set.
 */
Datum
name_haystack(PG_FUNCTION_ARGS)
{
	StringInfoData joined;
	bool		first = true;
	char	   *src;
	int			srclen;
	char	   *dst;
	int32_t		dstlen;
	UErrorCode	status = U_ZERO_ERROR;
	text	   *result;

	initStringInfo(&joined);
	for (int i = 0; i < PG_NARGS(); i++)
	{
		text	   *t;

		if (PG_ARGISNULL(i))
			continue;
		t = PG_GETARG_TEXT_PP(i);
		if (!first)
			appendStringInfoChar(&joined, ' ');
		appendBinaryStringInfo(&joined, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		first = false;
	}

	src = joined.data;
	srclen = joined.len;
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		src = (char *) pg_do_encoding_conversion((unsigned char *) src, srclen, GetDatabaseEncoding(), PG_UTF8);
		srclen = (int) strlen(src);
	}

	/* lower case can be longer (İ is two code points in lower case): ask, then map */
	dstlen = srclen + 16;
	dst = palloc(dstlen + 1);
	dstlen = ucasemap_utf8ToLower(RootCaseMap(), dst, dstlen, src, srclen, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		status = U_ZERO_ERROR;
		pfree(dst);
		dst = palloc(dstlen + 1);
		dstlen = ucasemap_utf8ToLower(RootCaseMap(), dst, dstlen, src, srclen, &status);
	}
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("could not lower-case a contact's names: %s", u_errorName(status)),
				 errhint("The names must be valid text in the database's encoding.")));

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		char	   *back = (char *) pg_do_encoding_conversion((unsigned char *) dst, dstlen, PG_UTF8, GetDatabaseEncoding());

		result = cstring_to_text(back);
	}
	else
		result = cstring_to_text_with_len(dst, dstlen);
	PG_RETURN_TEXT_P(result);
}
