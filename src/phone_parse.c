/*-------------------------------------------------------------------------
 *
 * phone_parse.c
 *	  Parsing, validating and formatting phone numbers like libphonenumber.
 *
 * This follows PhoneNumberUtil::Parse step by step (ExtractPossibleNumber,
 * IsViablePhoneNumber, MaybeStripExtension, MaybeExtractCountryCode,
 * MaybeStripNationalPrefixAndCarrierCode, TestNumberLength), then
 * IsValidNumber, GetRegionCodeForNumber and Format, over the tables that
 * tools/phonemeta generates from libphonenumber's own metadata.  The
 * differential test (test/phone_ref) holds it to libphonenumber's answers.
 *
 * Where exact agreement would need Unicode tables we do not carry (which
 * non-ASCII characters are letters, RFC 3966 phone-context parameters), the
 * code refuses the input: the promise is never a different number than
 * libphonenumber's, and NULL where unsure keeps it.
 *
 * Pure C: no allocation, no PostgreSQL headers; inputs longer than
 * PH_MAX_INPUT bytes are refused.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <string.h>

#include "phone_parse.h"

#define PH_MAX_INPUT 1024
#define PH_MIN_NSN 2

typedef enum
{
	VR_POSSIBLE, VR_LOCAL_ONLY, VR_TOO_SHORT, VR_TOO_LONG, VR_INVALID_LENGTH
} LengthResult;

typedef enum
{
	CC_OK, CC_INVALID, CC_TOO_SHORT_AFTER_IDD
} CcResult;

typedef enum
{
	FROM_PLUS, FROM_IDD, FROM_DEFAULT
} CcSource;

/*
 * A digit string under construction.  More than PH_MAX_DIGITS digits can
 * never become a valid number (the prefixes parsing strips are far shorter
 * than the excess over PH_MAX_NSN), so longer inputs are refused early.
 */
#define PH_MAX_DIGITS 64
typedef struct Digits
{
	int			len;
	char		d[PH_MAX_DIGITS + 1];
} Digits;

/* ------------------------------------------------------------ characters */

/* code points of the digit zero of every Unicode Nd block (Unicode 15) */
static const uint32_t nd_zeros[] = {
	0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66,
	0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810,
	0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
	0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30,
	0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
	0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50,
	0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
	0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950, 0x1FBF0
};

/*
 * the digit value of a Unicode Nd code point outside ASCII (binary search),
 * -1 if none
 */
static int
nd_value_slow(uint32_t c)
{
	int			lo = 0,
				hi = (int) (sizeof(nd_zeros) / sizeof(nd_zeros[0])) - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (c < nd_zeros[mid])
			hi = mid - 1;
		else if (c >= nd_zeros[mid] + 10)
			lo = mid + 1;
		else
			return (int) (c - nd_zeros[mid]);
	}
	return -1;
}

/* the digit value of a Unicode Nd character, else -1 */
static inline __attribute__((always_inline)) int
nd_value(uint32_t c)
{
	if (c - '0' <= 9)
		return (int) (c - '0');
	if (c < 0x660)
		return -1;
	return nd_value_slow(c);
}

static inline __attribute__((always_inline)) bool
is_plus(uint32_t c)
{
	return c == '+' || c == 0xFF0B;
}

/* kValidPunctuation's ASCII members: - x X space ( ) . [ ] / ~ */
static const uint8_t ascii_punct[128] = {
	[' '] = 1, ['('] = 1, [')'] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,
	['X'] = 1, ['['] = 1, [']'] = 1, ['x'] = 1, ['~'] = 1
};

static bool is_punct_slow(uint32_t c);

/* kValidPunctuation, matched case-insensitively (so 'X' too) */
static inline __attribute__((always_inline)) bool
is_punct(uint32_t c)
{
	if (c < 128)
		return ascii_punct[c] != 0;
	return is_punct_slow(c);
}

/*
 * the punctuation libphonenumber allows between digits, outside the ASCII
 * fast path
 */
static bool
is_punct_slow(uint32_t c)
{
	switch (c)
	{
		case 0xA0: case 0xAD: case 0x200B: case 0x2060: case 0x3000:
		case 0x2212: case 0x30FC: case 0xFF08: case 0xFF09: case 0xFF3B:
		case 0xFF3D: case 0x2053: case 0x223C:
			return true;
	}
	return (c >= 0x2010 && c <= 0x2015) || (c >= 0xFF0D && c <= 0xFF0F);
}

/* an ASCII letter (the vanity keypad and extension labels) */
static inline __attribute__((always_inline)) bool
is_ascii_alpha(uint32_t c)
{
	return ((c | 32) - 'a') <= 25;
}

/*
 * TrimUnwantedEndChars drops trailing characters that are neither letters,
 * numbers nor '#'.  We know the categories of ASCII and of a few punctuation
 * blocks; any other character is kept, as if it were a letter, which at
 * worst makes the input unparseable (NULL) rather than a wrong number.
 */
static bool
is_unwanted_end(uint32_t c)
{
	if (c < 0x80)
		return !((c >= '0' && c <= '9') || is_ascii_alpha(c) || c == '#');
	if (c >= 0xA0 && c <= 0xBF)
		return !(c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 ||
				 c == 0xB9 || c == 0xBA || (c >= 0xBC && c <= 0xBE));
	if (c == 0xD7 || c == 0xF7)
		return true;
	if (c >= 0x2000 && c <= 0x206F)
		return true;
	/* symbols without letters or numbers among them: ™ ℠ №, arrows, maths,
	 * technical, box drawing, shapes, dingbats before the circled digits,
	 * emoji */
	if (c == 0x2116 || c == 0x2117 || c == 0x2120 || c == 0x2122)
		return true;
	if ((c >= 0x2190 && c <= 0x245F) || (c >= 0x2500 && c <= 0x2775) ||
		(c >= 0x2794 && c <= 0x27BF) || (c >= 0x1F300 && c <= 0x1F6FF) ||
		(c >= 0x1F900 && c <= 0x1F9FF))
		return true;
	if ((c >= 0x3000 && c <= 0x3004) || (c >= 0x3008 && c <= 0x3020))
		return true;
	if ((c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
		(c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65))
		return true;
	return false;
}

/* simple case folding for the letters of the extension labels */
static uint32_t
fold(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c + 32;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c == 0x17F)
		return 's';
	return c;
}

/* one UTF-8 sequence at s into *out; its length, or 0 when malformed */
static int
utf8_decode(const char *s, int len, uint32_t *out)
{
	int			i = 0,
				n = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		uint32_t	cp;
		int			extra,
					k;

		/* ASCII, most of what is typed: no sequence to check */
		if (c < 0x80)
		{
			if (c == 0)
				return -1;
			out[n++] = c;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
		{
			cp = c & 0x1F;
			extra = 1;
		}
		else if ((c & 0xF0) == 0xE0)
		{
			cp = c & 0x0F;
			extra = 2;
		}
		else if ((c & 0xF8) == 0xF0)
		{
			cp = c & 0x07;
			extra = 3;
		}
		else
			return -1;
		if (i + extra >= len)
			return -1;
		for (k = 1; k <= extra; k++)
		{
			unsigned char cc = (unsigned char) s[i + k];

			if ((cc & 0xC0) != 0x80)
				return -1;
			cp = (cp << 6) | (cc & 0x3F);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
			(extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			(cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
			return -1;
		out[n++] = cp;
		i += extra + 1;
	}
	return n;
}

/* ------------------------------------------------------------ extensions */

/* matches a label (lower-case code points) at cps[i]; returns its length */
static int
label_at(const uint32_t *cps, int i, int n, const uint32_t *label, int llen)
{
	int			k;

	if (i + llen > n)
		return -1;
	for (k = 0; k < llen; k++)
		if (fold(cps[i + k]) != label[k])
			return -1;
	return llen;
}

/* what may come before an extension's label (x, ext, доб, ...) */
static bool
is_sep_before_label(uint32_t c)
{
	return c == ' ' || c == 0xA0 || c == '\t' || c == ',';
}

/* what may come after an extension's label, before its digits */
static bool
is_sep_after_label(uint32_t c)
{
	return c == ' ' || c == 0xA0 || c == '\t' || c == ',' || c == '-';
}

/* white space only */
static bool
is_sep_no_comma(uint32_t c)
{
	return c == ' ' || c == 0xA0 || c == '\t';
}

/* [:\.．]?[ \xA0\t,-]* up to end */
static bool
after_label_to(const uint32_t *cps, int i, int end)
{
	if (i < end && (cps[i] == ':' || cps[i] == '.' || cps[i] == 0xFF0E))
		i++;
	while (i < end && is_sep_after_label(cps[i]))
		i++;
	return i == end;
}

#define L(...) {__VA_ARGS__}
typedef struct Label
{
	int			len;
	uint32_t	cp[12];
} Label;

/* e?xt(?:ensi(?:o\u0301?|ó))?n? | (?:ｅ)?ｘｔ(?:ｎ)? | доб | anexo */
static const Label explicit_labels[] = {
	{3, L('e', 'x', 't')}, {4, L('e', 'x', 't', 'n')}, {2, L('x', 't')}, {3, L('x', 't', 'n')},
	{8, L('e', 'x', 't', 'e', 'n', 's', 'i', 'o')}, {9, L('e', 'x', 't', 'e', 'n', 's', 'i', 'o', 'n')},
	{9, L('e', 'x', 't', 'e', 'n', 's', 'i', 'o', 0x301)}, {10, L('e', 'x', 't', 'e', 'n', 's', 'i', 'o', 0x301, 'n')},
	{8, L('e', 'x', 't', 'e', 'n', 's', 'i', 0xF3)}, {9, L('e', 'x', 't', 'e', 'n', 's', 'i', 0xF3, 'n')},
	{7, L('x', 't', 'e', 'n', 's', 'i', 'o')}, {8, L('x', 't', 'e', 'n', 's', 'i', 'o', 'n')},
	{8, L('x', 't', 'e', 'n', 's', 'i', 'o', 0x301)}, {9, L('x', 't', 'e', 'n', 's', 'i', 'o', 0x301, 'n')},
	{7, L('x', 't', 'e', 'n', 's', 'i', 0xF3)}, {8, L('x', 't', 'e', 'n', 's', 'i', 0xF3, 'n')},
	{3, L(0xFF45, 0xFF58, 0xFF54)}, {4, L(0xFF45, 0xFF58, 0xFF54, 0xFF4E)},
	{2, L(0xFF58, 0xFF54)}, {3, L(0xFF58, 0xFF54, 0xFF4E)},
	{3, L(0x434, 0x43E, 0x431)}, {5, L('a', 'n', 'e', 'x', 'o')}
};

/* [xｘ#＃~～] | int | ｉｎｔ */
static const Label ambiguous_labels[] = {
	{1, L('x')}, {1, L(0xFF58)}, {1, L('#')}, {1, L(0xFF03)}, {1, L('~')}, {1, L(0xFF5E)},
	{3, L('i', 'n', 't')}, {3, L(0xFF49, 0xFF4E, 0xFF54)}
};

/* the ASCII characters an extension's marker can begin with (folded) */
static const bool ext_start[128] = {
	['e'] = true, ['x'] = true, ['a'] = true, ['i'] = true, ['#'] = true, ['~'] = true, [';'] = true, [','] = true
};

/*
 * one of the labels starts at cps[i] (case-insensitively), followed by a
 * separator
 */
static bool
labelled_prefix(const uint32_t *cps, int i, int end, const Label *labels, int nlabels)
{
	int			k;
	uint32_t	first;

	while (i < end && is_sep_before_label(cps[i]))
		i++;
	if (i == end)
		return false;
	first = fold(cps[i]);
	for (k = 0; k < nlabels; k++)
		if (labels[k].cp[0] == first)
			break;
	if (k == nlabels)
		return false;
	for (k = 0; k < nlabels; k++)
	{
		int			m = label_at(cps, i, end, labels[k].cp, labels[k].len);

		if (m > 0 && after_label_to(cps, i + m, end))
			return true;
	}
	return false;
}

/*
 * Does the extension pattern for parsing match cps[i..n) in full?  Sets the
 * extension's digits.  The digit group of every alternative is the trailing
 * run of digits (labels and separators hold none), so each alternative is a
 * check of what precedes that run.
 */
static bool
extension_at(const uint32_t *cps, int i, int n, int *dstart, int *dend)
{
	int			end = n,
				ds;
	bool		hash = false;
	int			ndig;

	/* no alternative starts with a digit: most positions end here */
	if (i >= n || nd_value(cps[i]) >= 0)
		return false;
	if (cps[end - 1] == '#')
	{
		hash = true;
		end--;
	}
	/*
	 * Without a closing '#', every alternative has, after spaces, a label's
	 * first letter (e, x, a, i, #, ~ in ASCII, or another script's), ',' or
	 * ';': anything else in ASCII (a dash, a bracket, a digit) is none
	 */
	if (!hash)
	{
		int			k = i;

		while (k < end && is_sep_no_comma(cps[k]))
			k++;
		if (k < end && cps[k] < 128 && !ext_start[fold(cps[k])])
			return false;
	}
	/* labels and separators hold no digits: the first digit starts the run */
	for (ds = i; ds < end && nd_value(cps[ds]) < 0; ds++)
		;
	if (ds == end)
		return false;
	for (ndig = ds; ndig < end; ndig++)
		if (nd_value(cps[ndig]) < 0)
			return false;
	ndig = end - ds;
	*dstart = ds;
	*dend = end;

	/* ;ext=(\d{1,20}) */
	if (!hash && ndig <= 20 && ds - i == 5)
	{
		static const uint32_t rfc[] = {';', 'e', 'x', 't', '='};

		if (label_at(cps, i, ds, rfc, 5) == 5)
			return true;
	}
	/* explicit labels, up to 20 digits */
	if (ndig <= 20 && labelled_prefix(cps, i, ds, explicit_labels,
									  sizeof(explicit_labels) / sizeof(Label)))
		return true;
	/* ambiguous labels, up to 9 digits */
	if (ndig <= 9 && labelled_prefix(cps, i, ds, ambiguous_labels,
									 sizeof(ambiguous_labels) / sizeof(Label)))
		return true;
	/* [- ]+(\d{1,6})# */
	if (hash && ndig <= 6 && ds > i)
	{
		int			k = i;

		while (k < ds && (cps[k] == '-' || cps[k] == ' '))
			k++;
		if (k == ds)
			return true;
	}
	/* [ \xA0\t]*(?:,{2}|;)[:\.．]?[ \xA0\t,-]*(\d{1,15})#? */
	{
		int			k = i;

		while (k < ds && is_sep_no_comma(cps[k]))
			k++;
		if (ndig <= 15 && k + 1 < ds && cps[k] == ',' && cps[k + 1] == ',' &&
			after_label_to(cps, k + 2, ds))
			return true;
		if (ndig <= 15 && k < ds && cps[k] == ';' && after_label_to(cps, k + 1, ds))
			return true;
		/* [ \xA0\t]*(?:,)+[:\.．]?[ \xA0\t,-]*(\d{1,9})#? */
		if (ndig <= 9 && k < ds && cps[k] == ',')
		{
			while (k < ds && cps[k] == ',')
				k++;
			if (after_label_to(cps, k, ds))
				return true;
		}
	}
	return false;
}

static void extension_candidates(const uint32_t *cps, int n, int *from, int *to);

/* IsViablePhoneNumber */
static bool
is_viable(const uint32_t *cps, int n)
{
	int			i = 0,
				digits = 0,
				t;

	if (n < PH_MIN_NSN)
		return false;
	if (n == 2 && nd_value(cps[0]) >= 0 && nd_value(cps[1]) >= 0)
		return true;
	while (i < n && is_plus(cps[i]))
		i++;
	while (i < n && digits < 3)
	{
		if (nd_value(cps[i]) >= 0)
			digits++;
		else if (!is_punct(cps[i]) && cps[i] != '*')
			return false;
		i++;
	}
	if (digits < 3)
		return false;
	/* (digits first: most of what follows is digits) */
	for (t = i; t < n; t++)
		if (!(nd_value(cps[t]) >= 0 || is_punct(cps[t]) || cps[t] == '*' ||
			  is_ascii_alpha(cps[t])))
			break;
	if (t == n)
		return true;
	{
		int			from,
					to;

		extension_candidates(cps, n, &from, &to);
		if (from < i)
			from = i;
		if (to > t + 1)
			to = t + 1;
		for (i = from; i < to; i++)
		{
			int			a,
						b;

			if (extension_at(cps, i, n, &a, &b))
				return true;
		}
	}
	return false;
}

/*
 * Where an extension can start: every alternative is non-digits followed by
 * the trailing run of digits (and maybe '#'), so only positions in the block
 * of non-digits just before that run.  Sets [*from, *to).
 */
static void
extension_candidates(const uint32_t *cps, int n, int *from, int *to)
{
	int			end = n,
				ds,
				k;

	*from = *to = 0;
	if (n > 0 && cps[n - 1] == '#')
		end--;
	ds = end;
	while (ds > 0 && nd_value(cps[ds - 1]) >= 0)
		ds--;
	if (ds == end)
		return;
	k = ds;
	while (k > 0 && nd_value(cps[k - 1]) < 0)
		k--;
	*from = k;
	*to = ds;
}

/* MaybeStripExtension: returns the new length */
static int
strip_extension(const uint32_t *cps, int n)
{
	int			i,
				from,
				to;

	extension_candidates(cps, n, &from, &to);
	for (i = from; i < to; i++)
	{
		int			a,
					b;

		if (extension_at(cps, i, n, &a, &b))
			return is_viable(cps, i) ? i : n;
	}
	return n;
}

/* ------------------------------------------------------------ digits */

static const char keypad[26] = {
	'2', '2', '2', '3', '3', '3', '4', '4', '4', '5', '5', '5', '6',
	'6', '6', '7', '7', '7', '7', '8', '8', '8', '9', '9', '9', '9'
};

/* how many ASCII letters */
static int
count_letters(const uint32_t *cps, int n)
{
	int			letters = 0;

	for (int i = 0; i < n; i++)
		if (is_ascii_alpha(cps[i]))
			letters++;
	return letters;
}

/* a vanity number read on the keypad: ASCII digits and letters as digits */
static bool
keypad_digits(const uint32_t *cps, int n, Digits *out)
{
	out->len = 0;
	for (int i = 0; i < n; i++)
	{
		uint32_t	c = cps[i];

		if (!(c >= '0' && c <= '9') && !is_ascii_alpha(c))
			continue;
		if (out->len == PH_MAX_DIGITS)
			return false;
		out->d[out->len++] = (c >= '0' && c <= '9') ? (char) c : keypad[fold(c) - 'a'];
	}
	out->d[out->len] = '\0';
	return true;
}

/* PhoneNumberUtil::Normalize; false when too many digits to be a number */
static bool
normalize_digits(const uint32_t *cps, int n, Digits *out)
{
	int			i,
				letters = 0;

	/*
	 * One pass as digits, counting the letters on the way; with three
	 * letters or more (a vanity number) the keypad reading is the one, which
	 * is rare, so only then a second pass
	 */
	out->len = 0;
	for (i = 0; i < n; i++)
	{
		uint32_t	c = cps[i];
		int			v;

		if (is_ascii_alpha(c))
		{
			letters++;
			continue;
		}
		v = nd_value(c);
		if (v >= 0)
		{
			if (out->len == PH_MAX_DIGITS)
				return letters + count_letters(cps + i + 1, n - i - 1) >= 3 ? keypad_digits(cps, n, out) : false;
			out->d[out->len++] = (char) ('0' + v);
		}
	}
	if (letters >= 3)
		return keypad_digits(cps, n, out);
	out->d[out->len] = '\0';
	return true;
}

/* ------------------------------------------------------------ metadata */

/* calling code -> index + 1 into ph_calling_codes (0: none), built on first use */
static uint8_t country_code_index[1000];
static bool country_code_index_ready = false;

/*
 * a country calling code's metadata (a table indexed on first use), NULL
 * when unassigned
 */
static const PhCallingCode *
calling_code(int cc)
{
	if (cc <= 0 || cc >= 1000)
		return NULL;
	if (!country_code_index_ready)
	{
		int			i;

		for (i = 0; i < ph_ncalling_codes; i++)
			country_code_index[ph_calling_codes[i].cc] = (uint8_t) (i + 1);
		country_code_index_ready = true;
	}
	return country_code_index[cc] ? &ph_calling_codes[country_code_index[cc] - 1] : NULL;
}

/* GetRegionCodeForCountryCode + metadata: the main region of a code */
static const PhRegion *
main_region(int cc)
{
	const PhCallingCode *c = calling_code(cc);

	return c ? &ph_regions[ph_cc_regions[c->first]] : NULL;
}

/*
 * A region by its two-letter code, either case.  One table slot per letter
 * pair, filled on first use: an account of many countries names another
 * region on every row (a binary search by strcmp was a tenth of a parse).
 */
const PhRegion *
ph_region_by_code(const char *code, int len)
{
	static uint16_t by_letters[26 * 26];	/* index into ph_regions, plus one */
	static bool by_letters_ready = false;
	int			a,
				b;

	if (!by_letters_ready)
	{
		for (int i = 0; i < ph_nregion_ids; i++)
		{
			const PhRegion *r = &ph_regions[ph_region_by_id[i]];

			if (r->id[0] >= 'A' && r->id[0] <= 'Z' && r->id[1] >= 'A' && r->id[1] <= 'Z' && r->id[2] == '\0')
				by_letters[(r->id[0] - 'A') * 26 + (r->id[1] - 'A')] = (uint16_t) (ph_region_by_id[i] + 1);
		}
		by_letters_ready = true;
	}
	if (len != 2)
		return NULL;
	a = (code[0] >= 'a' && code[0] <= 'z') ? code[0] - 'a' : code[0] - 'A';
	b = (code[1] >= 'a' && code[1] <= 'z') ? code[1] - 'a' : code[1] - 'A';
	if (a < 0 || a >= 26 || b < 0 || b >= 26 || by_letters[a * 26 + b] == 0)
		return NULL;
	return &ph_regions[by_letters[a * 26 + b] - 1];
}

/* the DFA: which of the eleven descriptions match s in full */
static unsigned
desc_matches(const PhRegion *r, const char *s, int len)
{
	unsigned	st = 1;
	int			i;

	for (i = 0; i < len && st; i++)
		st = r->dfa[st][s[i] - '0'];
	return r->accept[st];
}

/* matcher_api MatchNationalNumber on the general description */
static bool
matches_general(const PhRegion *r, const char *s, int len)
{
	return (desc_matches(r, s, len) & 1u) != 0;
}

/* TestNumberLength for the general description */
static LengthResult
test_length(const PhRegion *r, int len)
{
	const PhDesc *g = &r->desc[PH_GENERAL];
	int			min,
				max;

	if (g->lengths == 0)
		return VR_INVALID_LENGTH;
	if (len < 32 && (g->local_lengths & (1u << len)))
		return VR_LOCAL_ONLY;
	min = __builtin_ctz(g->lengths);
	max = 31 - __builtin_clz(g->lengths);
	if (len == min)
		return VR_POSSIBLE;
	if (len < min)
		return VR_TOO_SHORT;
	if (len > max)
		return VR_TOO_LONG;
	return (g->lengths & (1u << len)) ? VR_POSSIBLE : VR_INVALID_LENGTH;
}

/*
 * GetNumberTypeHelper(): the description of the number's type, in
 * libphonenumber's order of checks, or -1 for UNKNOWN.  A fixed line that may
 * as well be a mobile (FIXED_LINE_OR_MOBILE) is PH_FIXED_LINE.
 */
static int
number_type(const PhRegion *r, const char *nsn, int len)
{
	unsigned	m = desc_matches(r, nsn, len);
	int			d;

#define DESC_OK(d_) (r->desc[d_].has_pattern && (m & (1u << (d_))) && \
					 (r->desc[d_].nlengths == 0 || \
					  (len < 32 && (r->desc[d_].lengths & (1u << len)))))

	if (!DESC_OK(PH_GENERAL))
		return -1;
	for (d = PH_PREMIUM_RATE; d <= PH_FIXED_LINE; d++)
		if (DESC_OK(d))
			return d;
	if (!r->same_mobile_fixed && DESC_OK(PH_MOBILE))
		return PH_MOBILE;
	return -1;
#undef DESC_OK
}

/* GetNumberTypeHelper(...) != UNKNOWN */
static bool
has_number_type(const PhRegion *r, const char *nsn, int len)
{
	return number_type(r, nsn, len) >= 0;
}

/* MaybeStripNationalPrefixAndCarrierCode */
static bool
strip_national_prefix(const PhRegion *r, Digits *num)
{
	int			caps[2 * (PH_MAX_GROUPS + 1)];
	int			end;
	bool		viable;

	if (num->len == 0 || r->npfp.code == NULL)
		return false;
	end = ph_match(&r->npfp, num->d, num->len, false, caps);
	if (end < 0)
		return false;
	viable = matches_general(r, num->d, num->len);
	if (r->transform[0] != '\0' && r->npfp.ngroups >= 1)
	{
		int			g = r->npfp.ngroups >= 2 ? 2 : 1;

		if (caps[2 * g] >= 0 && caps[2 * g + 1] > caps[2 * g])
		{
			Digits		t;
			const char *p;

			t.len = 0;
			for (p = r->transform; *p; p++)
			{
				if (p[0] == '$' && p[1] >= '0' && p[1] <= '9')
				{
					int			k = p[1] - '0';

					if (k <= r->npfp.ngroups && caps[2 * k] >= 0)
					{
						memcpy(t.d + t.len, num->d + caps[2 * k], caps[2 * k + 1] - caps[2 * k]);
						t.len += caps[2 * k + 1] - caps[2 * k];
					}
					p++;
				}
				else
					t.d[t.len++] = *p;
				if (t.len > PH_MAX_DIGITS - 2)
					return false;
			}
			if (t.len + (num->len - end) > PH_MAX_DIGITS)
				return false;
			memcpy(t.d + t.len, num->d + end, num->len - end);
			t.len += num->len - end;
			t.d[t.len] = '\0';
			if (viable && !matches_general(r, t.d, t.len))
				return false;
			*num = t;
			return true;
		}
	}
	if (viable && !matches_general(r, num->d + end, num->len - end))
		return false;
	memmove(num->d, num->d + end, num->len - end);
	num->len -= end;
	num->d[num->len] = '\0';
	return true;
}

/* ------------------------------------------------------------ parsing */

/*
 * the country calling code at the start of num, taken off it; 0 when none
 * fits
 */
static int
extract_country_code(Digits *num)
{
	int			i,
				v = 0;

	if (num->len == 0 || num->d[0] == '0')
		return 0;
	for (i = 1; i <= 3 && i <= num->len; i++)
	{
		v = v * 10 + (num->d[i - 1] - '0');
		if (calling_code(v))
		{
			memmove(num->d, num->d + i, num->len - i);
			num->len -= i;
			num->d[num->len] = '\0';
			return v;
		}
	}
	return 0;
}

/* MaybeExtractCountryCode over cps[0..n); sets *cc (0: none) */
static CcResult
extract_cc(const PhRegion *region, const uint32_t *cps, int n, Digits *num, int *cc)
{
	CcSource	src = FROM_DEFAULT;

	*cc = 0;
	num->len = 0;
	num->d[0] = '\0';
	if (n > 0)
	{
		if (is_plus(cps[0]))
		{
			int			i = 0;

			while (i < n && is_plus(cps[i]))
				i++;
			if (!normalize_digits(cps + i, n - i, num))
				return CC_INVALID;
			src = FROM_PLUS;
		}
		else
		{
			if (!normalize_digits(cps, n, num))
				return CC_INVALID;
			if (region)
			{
				int			end = ph_match(&region->idd, num->d, num->len, false, NULL);

				if (end >= 0 && !(end < num->len && num->d[end] == '0'))
				{
					memmove(num->d, num->d + end, num->len - end);
					num->len -= end;
					num->d[num->len] = '\0';
					src = FROM_IDD;
				}
			}
		}
	}
	if (src != FROM_DEFAULT)
	{
		if (num->len <= PH_MIN_NSN)
			return CC_TOO_SHORT_AFTER_IDD;
		*cc = extract_country_code(num);
		return *cc ? CC_OK : CC_INVALID;
	}
	if (region)
	{
		char		ccs[8];
		int			cclen = 0,
					v = region->cc;
		char		rev[8];
		int			k = 0;

		do
		{
			rev[k++] = (char) ('0' + v % 10);
			v /= 10;
		} while (v);
		while (k)
			ccs[cclen++] = rev[--k];
		/* cppcheck-suppress uninitvar ; the do-while above wrote at least one digit */
		if (num->len >= cclen && memcmp(num->d, ccs, cclen) == 0)
		{
			Digits		pot;

			pot.len = num->len - cclen;
			memcpy(pot.d, num->d + cclen, pot.len);
			pot.d[pot.len] = '\0';
			strip_national_prefix(region, &pot);
			if ((!matches_general(region, num->d, num->len) &&
				 matches_general(region, pot.d, pot.len)) ||
				test_length(region, num->len) == VR_TOO_LONG)
			{
				*num = pot;
				*cc = region->cc;
			}
		}
	}
	return CC_OK;
}

bool
ph_parse(const char *text, int len, const PhRegion *region, PhNumber *out)
{
	uint32_t	cps[PH_MAX_INPUT];
	int			n,
				s,
				e,
				i,
				cc;
	const uint32_t *nat;
	int			nlen;
	Digits		num;
	const PhRegion *md;
	CcResult	res;

	if (len <= 0 || len > PH_MAX_INPUT)
		return false;
	/* RFC 3966 phone-context: refused (see the file header) */
	for (i = 0; i + 15 <= len; i++)
		if (text[i] == ';' && memcmp(text + i, ";phone-context=", 15) == 0)
			return false;
	n = utf8_decode(text, len, cps);
	if (n <= 0)
		return false;

	/* ExtractPossibleNumber */
	for (s = 0; s < n; s++)
		if (is_plus(cps[s]) || nd_value(cps[s]) >= 0)
			break;
	if (s == n)
		return false;
	e = n;
	while (e > s && is_unwanted_end(cps[e - 1]))
		e--;
	{
		int			cut = -1,
					isub = -1;

		for (i = s; i < e; i++)
		{
			uint32_t	c = cps[i];

			if (c == '\n')
				return false;
			/* (.*)[\\/] *x: cut at the last second-number marker */
			if (c == '\\' || c == '/')
			{
				int			k = i + 1;

				while (k < e && cps[k] == ' ')
					k++;
				if (k < e && cps[k] == 'x')
					cut = i;
			}
			else if (c == ';' && isub < 0 && i + 6 <= e && cps[i + 1] == 'i' &&
					 cps[i + 2] == 's' && cps[i + 3] == 'u' && cps[i + 4] == 'b' &&
					 cps[i + 5] == '=')
				isub = i;
		}
		if (cut >= 0)
			e = cut;
		/* ;isub= and everything after it (searched after the cut) */
		if (isub >= 0 && isub + 6 <= e)
			e = isub;
	}
	nat = cps + s;
	nlen = e - s;

	if (!is_viable(nat, nlen))
		return false;
	if (region == NULL && !is_plus(nat[0]))
		return false;
	nlen = strip_extension(nat, nlen);

	res = extract_cc(region, nat, nlen, &num, &cc);
	if (res != CC_OK)
	{
		if (res == CC_INVALID && nlen > 0 && is_plus(nat[0]))
		{
			i = 0;
			while (i < nlen && is_plus(nat[i]))
				i++;
			if (extract_cc(region, nat + i, nlen - i, &num, &cc) != CC_OK || cc == 0)
				return false;
		}
		else
			return false;
	}
	if (cc != 0)
		md = main_region(cc);
	else
	{
		md = region;
		if (md == NULL)
			return false;
		cc = md->cc;
	}
	if (num.len < PH_MIN_NSN)
		return false;
	if (md)
	{
		Digits		pot = num;
		LengthResult lr;

		strip_national_prefix(md, &pot);
		lr = test_length(md, pot.len);
		if (lr != VR_TOO_SHORT && lr != VR_LOCAL_ONLY && lr != VR_INVALID_LENGTH)
			num = pot;
	}
	if (num.len < PH_MIN_NSN || num.len > PH_MAX_NSN)
		return false;
	out->cc = cc;
	out->nsn_len = num.len;
	memcpy(out->nsn, num.d, num.len);
	out->nsn[num.len] = '\0';
	return true;
}

/* ------------------------------------------------------------ validity */

const PhRegion *
ph_number_region(const PhNumber *num)
{
	const PhCallingCode *c = calling_code(num->cc);
	int			i;

	if (c == NULL)
		return NULL;
	if (c->count == 1)
		return &ph_regions[ph_cc_regions[c->first]];
	for (i = 0; i < c->count; i++)
	{
		const PhRegion *r = &ph_regions[ph_cc_regions[c->first + i]];

		if (r->leading_digits.code)
		{
			if (ph_match(&r->leading_digits, num->nsn, num->nsn_len, false, NULL) >= 0)
				return r;
		}
		else if (has_number_type(r, num->nsn, num->nsn_len))
			return r;
	}
	return NULL;
}

bool
ph_is_valid(const PhNumber *num)
{
	const PhRegion *r = ph_number_region(num);

	return r != NULL && has_number_type(r, num->nsn, num->nsn_len);
}

/*
 * IsNumberGeographical(GetNumberType(number), country code): a fixed line
 * (or one that may be a mobile too), or a mobile of the countries whose
 * mobile numbers have area codes; 1 geographical, 0 not, -1 UNKNOWN type.
 */
int
ph_number_geographical(const PhNumber *num)
{
	const PhRegion *r = ph_number_region(num);
	int			type = r ? number_type(r, num->nsn, num->nsn_len) : -1;

	if (type < 0)
		return -1;
	if (type == PH_FIXED_LINE)
		return 1;
	/* libphonenumber's geo_mobile_countries_: Mexico, Argentina, Brazil, Indonesia, China */
	return type == PH_MOBILE &&
		(num->cc == 52 || num->cc == 54 || num->cc == 55 || num->cc == 62 || num->cc == 86);
}

bool
ph_parse_valid(const char *text, int len, const PhRegion *region, PhNumber *out)
{
	int			round;

	if (!ph_parse(text, len, region, out) || !ph_is_valid(out))
		return false;
	/*
	 * Parsing "+<cc><nsn>" finds the same country code (codes are a prefix
	 * code) and then only strips the national prefix, so that step alone
	 * says whether the E.164 text reads back as another number.
	 */
	for (round = 0; round < 4; round++)
	{
		const PhRegion *md = main_region(out->cc);
		Digits		pot;
		LengthResult lr;
		PhNumber	again;

		pot.len = out->nsn_len;
		memcpy(pot.d, out->nsn, out->nsn_len + 1);
		if (md == NULL || !strip_national_prefix(md, &pot))
			break;
		lr = test_length(md, pot.len);
		if (lr == VR_TOO_SHORT || lr == VR_LOCAL_ONLY || lr == VR_INVALID_LENGTH ||
			pot.len < PH_MIN_NSN || pot.len > PH_MAX_NSN ||
			(pot.len == out->nsn_len && memcmp(pot.d, out->nsn, pot.len) == 0))
			break;
		again.cc = out->cc;
		again.nsn_len = pot.len;
		memcpy(again.nsn, pot.d, pot.len + 1);
		if (!ph_is_valid(&again))
			break;
		*out = again;
	}
	return true;
}

int
ph_normalize(const char *text, int len, const PhRegion *region, char *out)
{
	PhNumber	num;
	int			n;

	if (!ph_parse_valid(text, len, region, &num))
		return -1;
	n = ph_format(&num, PH_E164, out);
	return n;
}

/* ------------------------------------------------------------ storage */

int64_t
ph_pack(const PhNumber *num)
{
	uint64_t	v = (uint64_t) num->cc;
	int			i;

	for (i = 0; i < num->nsn_len; i++)
	{
		if (v > (UINT64_C(0x7fffffffffffffff) - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t) (num->nsn[i] - '0');
	}
	return (int64_t) v;
}

/* the number a stored int64 packs, false when it is not one */
bool
ph_unpack(int64_t packed, PhNumber *num)
{
	char		buf[24];
	int			n = 0,
				i,
				v = 0;
	uint64_t	u;

	if (packed <= 0)
		return false;
	for (u = (uint64_t) packed; u; u /= 10)
		buf[n++] = (char) ('0' + u % 10);
	/* buf holds the digits reversed */
	for (i = 1; i <= 3 && i <= n; i++)
	{
		v = v * 10 + (buf[n - i] - '0');
		if (calling_code(v))
		{
			int			k;

			num->cc = v;
			num->nsn_len = n - i;
			if (num->nsn_len < PH_MIN_NSN || num->nsn_len > PH_MAX_NSN)
				return false;
			for (k = 0; k < num->nsn_len; k++)
				num->nsn[k] = buf[n - i - 1 - k];
			num->nsn[num->nsn_len] = '\0';
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------ formatting */

typedef struct Out
{
	char	   *buf;
	int			len;
	int			cap;
} Out;

/* append to the formatted number, cut at its capacity */
static void
put(Out *o, const char *s, int n)
{
	if (n > o->cap - 1 - o->len)
		n = o->cap - 1 - o->len;
	if (n > 0)
	{
		memcpy(o->buf + o->len, s, n);
		o->len += n;
	}
	o->buf[o->len] = '\0';
}

/* append a number in decimal */
static void
put_int(Out *o, int v)
{
	char		b[12];
	int			n = 0;
	char		r[12];
	int			k = 0;

	do
	{
		r[k++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v);
	while (k)
		b[n++] = r[--k];
	put(o, b, n);
}

/* RE2 rewrite: $N is group N of the match in subject s */
static void
rewrite(Out *o, const char *rule, const char *s, const int *caps, int ngroups)
{
	const char *p;

	for (p = rule; *p; p++)
	{
		if (p[0] == '$' && p[1] >= '0' && p[1] <= '9')
		{
			int			k = p[1] - '0';

			if (k <= ngroups && caps[2 * k] >= 0)
				put(o, s + caps[2 * k], caps[2 * k + 1] - caps[2 * k]);
			p++;
		}
		else
			put(o, p, 1);
	}
}

/* RE2::GlobalReplace(subject, pattern, rule) */
static void
global_replace(Out *o, const PhProg *pattern, const char *s, int len, const char *rule)
{
	int			pos = 0;

	while (pos <= len)
	{
		int			start,
					m = -1;
		int			caps[2 * (PH_MAX_GROUPS + 1)];

		for (start = pos; start <= len; start++)
		{
			m = ph_match(pattern, s + start, len - start, false, caps);
			if (m >= 0)
				break;
		}
		if (m < 0)
		{
			put(o, s + pos, len - pos);
			return;
		}
		{
			int			k;

			/* captures are relative to s + start */
			for (k = 0; k < 2 * (PH_MAX_GROUPS + 1); k++)
				if (caps[k] >= 0)
					caps[k] += start;
		}
		put(o, s + pos, start - pos);
		rewrite(o, rule, s, caps, pattern->ngroups);
		if (m == 0)
		{
			if (start < len)
				put(o, s + start, 1);
			pos = start + 1;
		}
		else
			pos = start + m;
	}
}

int
ph_format(const PhNumber *num, PhStyle style, char *buf)
{
	Out			o = {buf, 0, PH_MAX_FORMATTED};
	const PhRegion *md;
	const PhFormat *fmts;
	const PhFormat *chosen = NULL;
	int			nf,
				i;
	char		body[PH_MAX_FORMATTED];
	Out			b = {body, 0, PH_MAX_FORMATTED};

	buf[0] = '\0';
	if (style == PH_E164)
	{
		put(&o, "+", 1);
		put_int(&o, num->cc);
		put(&o, num->nsn, num->nsn_len);
		return o.len;
	}
	md = main_region(num->cc);
	if (md == NULL)
	{
		put(&o, num->nsn, num->nsn_len);
		return o.len;
	}
	if (md->nintl_formats == 0 || style == PH_NATIONAL)
	{
		fmts = md->formats;
		nf = md->nformats;
	}
	else
	{
		fmts = md->intl_formats;
		nf = md->nintl_formats;
	}
	for (i = 0; i < nf; i++)
	{
		if (fmts[i].leading.code &&
			ph_match(&fmts[i].leading, num->nsn, num->nsn_len, false, NULL) < 0)
			continue;
		if (ph_match(&fmts[i].pattern, num->nsn, num->nsn_len, true, NULL) >= 0)
		{
			chosen = &fmts[i];
			break;
		}
	}
	body[0] = '\0';
	if (chosen == NULL)
		put(&b, num->nsn, num->nsn_len);
	else
	{
		char		rule[PH_MAX_FORMATTED];
		Out			r = {rule, 0, PH_MAX_FORMATTED};
		const char *f = chosen->format;

		rule[0] = '\0';
		if (style == PH_NATIONAL && chosen->np_rule[0] != '\0')
		{
			/* the first $N of the format becomes the prefix rule, whose $1 is that $N */
			const char *p = f;

			while (*p && !(p[0] == '$' && p[1] >= '0' && p[1] <= '9'))
				p++;
			if (*p)
			{
				const char *q;

				put(&r, f, (int) (p - f));
				for (q = chosen->np_rule; *q; q++)
				{
					if (q[0] == '$' && (q[1] == '1' || q[1] == '0'))
					{
						put(&r, p, 2);
						q++;
					}
					else
						put(&r, q, 1);
				}
				put(&r, p + 2, (int) strlen(p + 2));
				f = rule;
			}
		}
		global_replace(&b, &chosen->pattern, num->nsn, num->nsn_len, f);
	}
	if (style == PH_RFC3966)
	{
		/* leading punctuation dropped, every run of it becomes "-" */
		uint32_t	cps[PH_MAX_FORMATTED];
		int			n = utf8_decode(body, b.len, cps),
					k = 0;
		char		tmp[PH_MAX_FORMATTED];
		Out			t = {tmp, 0, PH_MAX_FORMATTED};

		if (n < 0)
			n = 0;
		while (k < n && is_punct(cps[k]))
			k++;
		for (; k < n; k++)
		{
			if (is_punct(cps[k]))
			{
				while (k + 1 < n && is_punct(cps[k + 1]))
					k++;
				put(&t, "-", 1);
			}
			else
			{
				char		c = (char) cps[k];

				if (cps[k] < 0x80)
					put(&t, &c, 1);
			}
		}
		memcpy(body, tmp, t.len + 1);
		b.len = t.len;
		put(&o, "tel:+", 5);
		put_int(&o, num->cc);
		put(&o, "-", 1);
	}
	else if (style == PH_INTERNATIONAL)
	{
		put(&o, "+", 1);
		put_int(&o, num->cc);
		put(&o, " ", 1);
	}
	put(&o, body, b.len);
	return o.len;
}
