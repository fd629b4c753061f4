/*-------------------------------------------------------------------------
 *
 * email_parse.c
 *	  The pure C core of normalize_email: no PostgreSQL calls, no allocation,
 *	  so the fuzz harness (fuzz/) links it alone.
 *
 * Accepts what people paste: surrounding white space (also no-break
 * spaces), a "mailto:" prefix, "Name <address>".  The result keeps the local
 * part and IDN domains as typed and lower-cases the domain's ASCII letters.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "email_parse.h"

/* the first n bytes of s are prefix (lower case), in any case */
static bool
CaseInsensitivePrefix(const char *s, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		if (tolower((unsigned char) s[i]) != prefix[i])
			return false;
	return true;
}

#define LOCAL_MAX 64
#define DOMAIN_MAX 253
#define LABEL_MAX 63

/*
 * Length of the white-space character at p: ASCII white space, or a UTF-8
 * Unicode space (no-break, en/em and the other U+2000 spaces, zero-width
 * space, line/paragraph separators, narrow no-break, ideographic space,
 * the byte-order mark); 0 when there is none.
 */
static int
SpaceAt(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *) p;
	long		left = end - p;

	if (left >= 1 && (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r')))
		return 1;
	if (left >= 2 && u[0] == 0xC2 && u[1] == 0xA0)
		return 2;				/* U+00A0 */
	if (left >= 3)
	{
		if (u[0] == 0xE1 && u[1] == 0x9A && u[2] == 0x80)
			return 3;			/* U+1680 */
		if (u[0] == 0xE2 && u[1] == 0x80 &&
			((u[2] >= 0x80 && u[2] <= 0x8B) || u[2] == 0xA8 || u[2] == 0xA9 || u[2] == 0xAF))
			return 3;			/* U+2000..U+200B, U+2028, U+2029, U+202F */
		if (u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0x9F)
			return 3;			/* U+205F */
		if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80)
			return 3;			/* U+3000 */
		if (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
			return 3;			/* U+FEFF */
	}
	return 0;
}

/* length of the white space ending just before end, 0 when none */
static int
SpaceBefore(const char *start, const char *end)
{
	for (int n = 1; n <= 3 && end - n >= start; n++)
		if (SpaceAt(end - n, end) == n)
			return n;
	return 0;
}

/* does [s, s + len) hold any white space? */
static bool
HasSpace(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (SpaceAt(s + i, s + len) > 0)
			return true;
	return false;
}

/*
 * the part before @: 1 to 64 bytes, no dot at either end, nothing RFC 5321
 * forbids unquoted
 */
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

/*
 * the part after @: labels of letters, digits and hyphens, a top-level label
 * that is not all digits
 */
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
 * Normalize in[0..len) into out (room for len + 1 bytes: the result is never
 * longer than the input).  Returns the result's length, or -1 when the text
 * is not one address.
 */
int
cc_normalize_email(const char *in, int len, char *out)
{
	const char *p = in;
	const char *end = in + len;
	const char *at = NULL;
	int			n;
	int			local_len,
				domain_len;

	while (p < end && (n = SpaceAt(p, end)) > 0)
		p += n;
	while (end > p && (n = SpaceBefore(p, end)) > 0)
		end -= n;
	/* "Name <address>" */
	if (end > p && end[-1] == '>')
	{
		const char *lt = NULL;

		for (const char *q = p; q < end - 1; q++)
			if (*q == '<')
				lt = q;
		if (lt == NULL)
			return -1;
		p = lt + 1;
		end--;
	}
	if (end - p > 7 && CaseInsensitivePrefix(p, "mailto:", 7))
		p += 7;
	/* a trailing dot of a fully qualified domain */
	if (end > p && end[-1] == '.')
		end--;

	for (const char *q = p; q < end; q++)
	{
		if (*q == '@')
		{
			if (at != NULL)
				return -1;
			at = q;
		}
	}
	if (at == NULL)
		return -1;
	local_len = at - p;
	domain_len = end - at - 1;
	if (!LocalPartIsValid(p, local_len) || !DomainIsValid(at + 1, domain_len) ||
		HasSpace(p, end - p))
		return -1;

	memcpy(out, p, local_len);
	out[local_len] = '@';
	for (int i = 0; i < domain_len; i++)
	{
		char		c = at[1 + i];

		out[local_len + 1 + i] = (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
	}
	out[local_len + domain_len + 1] = '\0';
	return local_len + domain_len + 1;
}
