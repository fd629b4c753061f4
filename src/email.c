/*-------------------------------------------------------------------------
 *
 * email.c
 *	  customercard.normalize_email(text): an address as a CRM should keep it.
 *
 * Accepts what people paste: surrounding white space (also no-break
 * spaces), a "mailto:" prefix, "Name <address>".  Returns the address with
 * its domain's ASCII letters lower-cased (the local part and IDN domains
 * stay as typed), or NULL when the text is not one address.  Never an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/formatting.h"

#include "customercard.h"

#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define LABEL_MAX 63

/* length of a white-space sequence at p (ASCII or U+00A0), 0 when none */
static int
SpaceAt(const char *p, const char *end)
{
	if (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v'))
		return 1;
	if (p + 1 < end && (unsigned char) p[0] == 0xC2 && (unsigned char) p[1] == 0xA0)
		return 2;
	return 0;
}

static bool
LocalPartIsValid(const char *s, int len)
{
	if (len < 1 || len > LOCAL_MAX || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c <= ' ' || c == 0x7F || strchr("<>()[]\\,;:\"@", c) != NULL)
			return false;
		if (c == '.' && i + 1 < len && s[i + 1] == '.')
			return false;
	}
	return true;
}

static bool
DomainIsValid(const char *s, int len)
{
	int			labels = 0;
	int			i = 0;
	bool		last_all_digits = true;

	if (len < 3 || len > DOMAIN_MAX)
		return false;
	while (i < len)
	{
		int			start = i;

		last_all_digits = true;
		while (i < len && s[i] != '.')
		{
			unsigned char c = (unsigned char) s[i];

			if (c < 0x80 && !(isalnum(c) || c == '-'))
				return false;
			if (!(c >= '0' && c <= '9'))
				last_all_digits = false;
			i++;
		}
		if (i - start < 1 || i - start > LABEL_MAX || s[start] == '-' || s[i - 1] == '-')
			return false;
		labels++;
		if (i < len)
			i++;				/* the dot */
		if (i == len && s[len - 1] == '.')
			return false;
	}
	return labels >= 2 && !last_all_digits;
}

/*
 * Normalize in into a palloc'd string, or return NULL.  Pure C: the fuzz
 * harness calls it directly.
 */
char *
CustomercardNormalizeEmail(const char *in, int len)
{
	const char *p = in;
	const char *end = in + len;
	const char *at = NULL;
	int			n;
	char	   *out;
	int			local_len,
				domain_len;

	while (p < end && (n = SpaceAt(p, end)) > 0)
		p += n;
	while (end > p)
	{
		if (SpaceAt(end - 1, end) == 1)
			end--;
		else if (end - 2 >= p && SpaceAt(end - 2, end) == 2)
			end -= 2;
		else
			break;
	}
	/* "Name <address>" */
	if (end > p && end[-1] == '>')
	{
		const char *lt = NULL;

		for (const char *q = p; q < end - 1; q++)
			if (*q == '<')
				lt = q;
		if (lt == NULL)
			return NULL;
		p = lt + 1;
		end--;
	}
	if (end - p > 7 && pg_strncasecmp(p, "mailto:", 7) == 0)
		p += 7;
	/* a trailing dot of a fully qualified domain */
	if (end > p && end[-1] == '.')
		end--;

	for (const char *q = p; q < end; q++)
	{
		if (*q == '@')
		{
			if (at != NULL)
				return NULL;
			at = q;
		}
	}
	if (at == NULL)
		return NULL;
	local_len = at - p;
	domain_len = end - at - 1;
	if (!LocalPartIsValid(p, local_len) || !DomainIsValid(at + 1, domain_len))
		return NULL;

	out = palloc(local_len + domain_len + 2);
	memcpy(out, p, local_len);
	out[local_len] = '@';
	for (int i = 0; i < domain_len; i++)
		out[local_len + 1 + i] = pg_ascii_tolower((unsigned char) at[1 + i]);
	out[local_len + domain_len + 1] = '\0';
	return out;
}

PG_FUNCTION_INFO_V1(normalize_email);

/* customercard.normalize_email(text) RETURNS text */
Datum
normalize_email(PG_FUNCTION_ARGS)
{
	text	   *in = PG_GETARG_TEXT_PP(0);
	char	   *out = CustomercardNormalizeEmail(VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in));

	if (out == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(out));
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
