/*-------------------------------------------------------------------------
 *
 * phone_parse.h
 *	  The pure C phone core: text to (country code, national significant
 *	  number) the way libphonenumber's PhoneNumberUtil::Parse does it,
 *	  validity, region and formatting, over the generated metadata tables.
 *	  Shared by the extension, the fuzzer and the differential test.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHONE_PARSE_H
#define PHONE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "phone_tables.h"

#define PH_MAX_NSN 17			/* libphonenumber's kMaxLengthForNsn */
#define PH_MAX_E164 18			/* digits of country code + NSN we store */
#define PH_MAX_FORMATTED 96

typedef struct PhNumber
{
	int			cc;
	int			nsn_len;
	char		nsn[PH_MAX_NSN + 1];
} PhNumber;

typedef enum PhStyle
{
	PH_E164, PH_INTERNATIONAL, PH_NATIONAL, PH_RFC3966
} PhStyle;

/* region by ISO code (upper or lower case); NULL when unknown */
extern const PhRegion *ph_region_by_code(const char *code, int len);

/* libphonenumber's Parse(); false where it returns an error */
extern bool ph_parse(const char *text, int len, const PhRegion *region,
					 PhNumber *out);

/* libphonenumber's IsValidNumber() */
extern bool ph_is_valid(const PhNumber *num);

/* GetRegionCodeForNumber(): the region, NULL for "ZZ" */
extern const PhRegion *ph_number_region(const PhNumber *num);

/* IsNumberGeographical(): 1 geographical, 0 not, -1 when its type is UNKNOWN */
extern int	ph_number_geographical(const PhNumber *num);

/*
 * parse + valid, canonical: the number whose E.164 text parses back to
 * itself.  libphonenumber's Parse is not always idempotent (an input can give
 * +52 1..., whose E.164 text then parses as +52 ... without the 1); a stored
 * value must survive its own output, so we take the fixed point.
 */
extern bool ph_parse_valid(const char *text, int len, const PhRegion *region,
						   PhNumber *out);

/* parse + valid + E.164 into out (PH_MAX_E164 + 2 bytes); length or -1 */
extern int	ph_normalize(const char *text, int len, const PhRegion *region,
						 char *out);

/* the stored form: the digits of the E.164 number as an integer, and back */
extern int64_t ph_pack(const PhNumber *num);
extern bool ph_unpack(int64_t packed, PhNumber *num);

/* Format(); out has PH_MAX_FORMATTED bytes; returns the length */
extern int	ph_format(const PhNumber *num, PhStyle style, char *out);

#endif							/* PHONE_PARSE_H */
