/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Small validators used by CHECK constraints of the card tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"

#include "customercard.h"

PG_FUNCTION_INFO_V1(is_valid_timezone);

/* customercard.is_valid_timezone(text): a zone name PostgreSQL can load */
Datum
is_valid_timezone(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (name[0] == '\0' || strlen(name) > TZ_STRLEN_MAX)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(pg_tzset(name) != NULL);
}
