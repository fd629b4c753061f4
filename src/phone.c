/*-------------------------------------------------------------------------
 *
 * phone.c
 *	  The customercard.phone type and the phone functions (docs/reference.md, Phones).
 *
 * A phone is the E.164 number's digits as one int8 (country codes are a
 * prefix code, so the digits alone say where the country code ends): eight
 * bytes, passed by value, compared, sorted and hashed by the int8 routines.
 * Text becomes a phone through phone_parse.c, which follows libphonenumber;
 * only numbers libphonenumber calls valid are accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "customercard.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "phone_parse.h"
#include "phone_timezones.h"

PG_FUNCTION_INFO_V1(phone_in);
PG_FUNCTION_INFO_V1(phone_out);
PG_FUNCTION_INFO_V1(phone_recv);
PG_FUNCTION_INFO_V1(phone_send);
PG_FUNCTION_INFO_V1(normalize_phone);
PG_FUNCTION_INFO_V1(phone_region);
PG_FUNCTION_INFO_V1(format_phone);
PG_FUNCTION_INFO_V1(phone_metadata_version);
PG_FUNCTION_INFO_V1(phone_is_valid);
PG_FUNCTION_INFO_V1(phone_timezones);
PG_FUNCTION_INFO_V1(phone_timezone);

/*
 * The region for national formats: customercard.default_region, else the
 * current account's default_region; NULL when neither is set.
 */
static const PhRegion *
DefaultRegion(void)
{
	const char *s = customercard_default_region_setting;
	int64		account;

	if (s != NULL && s[0] != '\0')
		return ph_region_by_code(s, (int) strlen(s));
	account = CustomercardCurrentAccount(false);
	if (account > 0)
	{
		const char *r = CustomercardAccountRegion(account);

		if (r[0] != '\0')
			return ph_region_by_code(r, 2);
	}
	return NULL;
}

/*
 * the text begins with '+' after spaces: the stored form, or an
 * international number
 */
static bool
StartsWithPlus(const char *s, int len)
{
	int			i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < len && s[i] == '+';
}

/*
 * Parse text as a valid number; region_given: use region even when NULL.
 * An international number needs no region, so the account is not looked up
 * for one (pg_restore, API inputs in E.164).
 */
static bool
ParseValid(const char *s, int len, bool region_given, const PhRegion *region,
		   PhNumber *num, const PhRegion **used)
{
	*used = region;
	if (!region_given && StartsWithPlus(s, len) &&
		ph_parse_valid(s, len, NULL, num))
		return true;
	if (!region_given)
		*used = region = DefaultRegion();
	return ph_parse_valid(s, len, region, num);
}

/*
 * The stored form as phone_out prints it: '+' and the E.164 digits, nothing
 * else.  It is read back whatever the compiled metadata says of the number,
 * so that values stored under older metadata survive pg_dump/restore, COPY
 * and casts after a metadata refresh (a type's input accepts all its output
 * prints).  Typed input in any other form is validated.
 */
static bool
IsStoredForm(const char *s, int len)
{
	int			i;

	if (len < 3 || len > 20 || s[0] != '+' || s[1] == '0')
		return false;
	for (i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* a stored value: a known country calling code and at least the 4 digits
 * of the shortest national numbers any metadata has had */
static bool
UnpackStored(int64 v, PhNumber *num)
{
	return ph_unpack(v, num) && num->nsn_len >= 4;
}

/*
 * the stored form itself: '+' and the E.164 digits, whatever the metadata
 * says
 */
static bool
ParseStored(const char *s, int len, PhNumber *num)
{
	int64		v = 0;
	int			i;

	for (i = 1; i < len; i++)
	{
		if (v > (PG_INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return UnpackStored(v, num);
}

/*
 * the number packed into the int64 the type stores, or an error naming the
 * input
 */
static int64
PackOrError(const PhNumber *num, const char *input)
{
	int64		v = ph_pack(num);

	if (v <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("phone number \"%s\" is too long to store", input)));
	return v;
}

/* a stored value as a number (stored values are always valid packings) */
static PhNumber
Unpack(int64 v)
{
	PhNumber	num;

	if (!ph_unpack(v, &num))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid customercard.phone value " INT64_FORMAT, v)));
	return num;
}

Datum
phone_in(PG_FUNCTION_ARGS)
{
	char	   *s = PG_GETARG_CSTRING(0);
	int			len = (int) strlen(s);
	PhNumber	num;
	const PhRegion *region;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
		s = (char *) pg_do_encoding_conversion((unsigned char *) s, len,
											   GetDatabaseEncoding(), PG_UTF8);
	len = (int) strlen(s);
	if (IsStoredForm(s, len))
	{
		if (!ph_parse_valid(s, len, NULL, &num) && !ParseStored(s, len, &num))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type customercard.phone: \"%s\"", PG_GETARG_CSTRING(0)),
					 errdetail("No country has that calling code, or the national number is shorter than 4 digits."),
					 errhint("Check the country code and the digits after the +.")));
	}
	else if (!ParseValid(s, len, false, NULL, &num, &region))
	{
		if (region != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type customercard.phone: \"%s\"", PG_GETARG_CSTRING(0)),
					 errdetail("It is not a valid number of region %s, nor a valid international number.", region->id),
					 errhint("Write the number with + and the country code (+7 912 345-67-89), or set customercard.default_region to the region it belongs to.")));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type customercard.phone: \"%s\"", PG_GETARG_CSTRING(0)),
					 errdetail("It is not a valid international number, and no region is set for national numbers."),
					 errhint("Write the number with + and the country code (+7 912 345-67-89), or set customercard.default_region (or the account's default_region) so that national numbers such as 8 912 345-67-89 are understood.")));
	}
	PG_RETURN_INT64(PackOrError(&num, PG_GETARG_CSTRING(0)));
}

Datum
phone_out(PG_FUNCTION_ARGS)
{
	PhNumber	num = Unpack(PG_GETARG_INT64(0));
	char		buf[PH_MAX_FORMATTED];

	ph_format(&num, PH_E164, buf);
	PG_RETURN_CSTRING(pstrdup(buf));
}

Datum
phone_recv(PG_FUNCTION_ARGS)
{
	StringInfo	msg = (StringInfo) PG_GETARG_POINTER(0);
	int64		v = pq_getmsgint64(msg);
	PhNumber	num;

	if (!UnpackStored(v, &num))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid external customercard.phone value " INT64_FORMAT, v),
				 errhint("The binary form is the E.164 number's digits as an int8.")));
	PG_RETURN_INT64(v);
}

Datum
phone_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint64(&buf, PG_GETARG_INT64(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* normalize_phone(input text, region text DEFAULT NULL): E.164 or NULL, never an error */
Datum
normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *t;
	char	   *s;
	int			len;
	PhNumber	num;
	const PhRegion *region = NULL;
	bool		region_given = false;
	char		buf[PH_MAX_FORMATTED];

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	t = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	if (!PG_ARGISNULL(1))
	{
		text	   *r = PG_GETARG_TEXT_PP(1);

		/* a table lookup: as cheap when the region changes row by row */
		region = ph_region_by_code(VARDATA_ANY(r), VARSIZE_ANY_EXHDR(r));
		region_given = true;
	}
	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		s = (char *) pg_do_encoding_conversion((unsigned char *) s, len,
											   GetDatabaseEncoding(), PG_UTF8);
		len = (int) strlen(s);
	}
	if (!ParseValid(s, len, region_given, region, &num, &region))
		PG_RETURN_NULL();
	len = ph_format(&num, PH_E164, buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, len));
}

/* phone_is_valid(phone): is the stored number valid under the compiled metadata */
Datum
phone_is_valid(PG_FUNCTION_ARGS)
{
	PhNumber	num = Unpack(PG_GETARG_INT64(0));

	PG_RETURN_BOOL(ph_is_valid(&num));
}

Datum
phone_region(PG_FUNCTION_ARGS)
{
	PhNumber	num = Unpack(PG_GETARG_INT64(0));
	const PhRegion *r = ph_number_region(&num);

	if (r == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(r->id));
}

Datum
format_phone(PG_FUNCTION_ARGS)
{
	PhNumber	num = Unpack(PG_GETARG_INT64(0));
	char	   *style = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PhStyle		st;
	char		buf[PH_MAX_FORMATTED];
	int			len;

	if (pg_strcasecmp(style, "e164") == 0)
		st = PH_E164;
	else if (pg_strcasecmp(style, "international") == 0)
		st = PH_INTERNATIONAL;
	else if (pg_strcasecmp(style, "national") == 0)
		st = PH_NATIONAL;
	else if (pg_strcasecmp(style, "rfc3966") == 0)
		st = PH_RFC3966;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown phone format style \"%s\"", style),
				 errhint("Use one of e164, international, national, rfc3966.")));
	/* cppcheck-suppress legacyUninitvar ; every path without st ends in ereport(ERROR) */
	len = ph_format(&num, st, buf);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf, len));
}

Datum
phone_metadata_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ph_metadata_version));
}

/* ph_timezones: the longest prefix of digits in the map, by binary search per length */
const uint16_t *
ph_timezones(const char *digits, int len)
{
	for (int n = Min(len, 9); n >= 1; n--)
	{
		uint32_t	key = 0;
		int			lo = 0,
					hi = ph_tz_prefix_count - 1;

		for (int i = 0; i < n; i++)
			key = key * 10 + (uint32_t) (digits[i] - '0');
		while (lo <= hi)
		{
			int			mid = lo + (hi - lo) / 2;
			const PhTzPrefix *p = &ph_tz_prefixes[mid];

			if (p->len == n && p->digits == key)
				return &ph_tz_sets[p->set];
			if (p->len < n || (p->len == n && p->digits < key))
				lo = mid + 1;
			else
				hi = mid - 1;
		}
	}
	return NULL;
}

/*
 * The zone set of a stored number as libphonenumber's
 * PhoneNumberToTimeZonesMapper.getTimeZonesForNumber() finds it: a number
 * tied to a place by the longest prefix of its digits, any other (a mobile,
 * a toll-free number) by its country code alone; NULL for a number whose
 * type is unknown or that no prefix names.
 */
static const uint16_t *
NumberTimezones(int64 packed)
{
	PhNumber	num = Unpack(packed);
	char		buf[PH_MAX_FORMATTED];
	int			len = ph_format(&num, PH_E164, buf);
	int			geo = ph_number_geographical(&num);

	if (geo < 0)
		return NULL;
	/* E.164 text: '+', the country code, the national number */
	if (geo == 0)
		len = 1 + snprintf(buf + 1, sizeof(buf) - 1, "%d", num.cc);
	return ph_timezones(buf + 1, len - 1);
}

/* phone_timezones(phone): the time zones its prefix belongs to, '{}' when none */
Datum
phone_timezones(PG_FUNCTION_ARGS)
{
	const uint16_t *set = NumberTimezones(PG_GETARG_INT64(0));
	int			n = set ? set[0] : 0;
	Datum	   *zones = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		zones[i] = CStringGetTextDatum(ph_tz_names[set[i + 1]]);
	PG_RETURN_ARRAYTYPE_P(construct_array(zones, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* phone_timezone(phone): its one time zone, NULL when it has several or none */
Datum
phone_timezone(PG_FUNCTION_ARGS)
{
	const uint16_t *set = NumberTimezones(PG_GETARG_INT64(0));

	if (set == NULL || set[0] != 1)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ph_tz_names[set[1]]));
}
