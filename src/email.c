/*-------------------------------------------------------------------------
 *
 * email.c
 *	  customercard.normalize_email(text): an address as a CRM should keep it.
 *
 * SQL wrappers around email_parse.c: the address with its domain's ASCII
 * letters lower-cased, or NULL when the text is not one address; never an
 * error.  And email_key(), the form addresses are matched by.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "customercard.h"
#include "email_parse.h"

PG_FUNCTION_INFO_V1(normalize_email);

/* customercard.normalize_email(text) RETURNS text */
Datum
normalize_email(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(in);
	char	   *out = palloc(len + 1);
	int			outlen = cc_normalize_email(VARDATA_ANY(in), len, out);

	if (outlen < 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out, outlen));
}

PG_FUNCTION_INFO_V1(email_key);

/*
 * customercard.email_key(text) RETURNS text: the lower-cased address that
 * e-mails are matched by.  Declared LEAKPROOF (it cannot fail on valid
 * text and reveals nothing but its argument), so that under row-level
 * security a lookup by it can still use its index: PostgreSQL lets only
 * leakproof functions run ahead of a policy.
 */
Datum
email_key(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char	   *lowered = str_tolower(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), DEFAULT_COLLATION_OID);

	PG_RETURN_TEXT_P(cstring_to_text(lowered));
}
