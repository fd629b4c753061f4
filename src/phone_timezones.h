/*-------------------------------------------------------------------------
 *
 * phone_timezones.h
 *	  libphonenumber's prefix -> time zones map as C tables (generated into
 *	  phone_timezones.c by tools/phonemeta/gen_phone_timezones.py), and the
 *	  longest-prefix lookup over a number's E.164 digits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHONE_TIMEZONES_H
#define PHONE_TIMEZONES_H

#include <stdint.h>

typedef struct PhTzPrefix
{
	uint8_t		len;			/* digits of the prefix (country code first) */
	uint32_t	digits;			/* the prefix as a number */
	uint16_t	set;			/* offset of its zone set in ph_tz_sets */
} PhTzPrefix;

extern const int ph_tz_name_count;
extern const char *const ph_tz_names[];
extern const uint16_t ph_tz_sets[];
extern const int ph_tz_prefix_count;
extern const PhTzPrefix ph_tz_prefixes[];

/*
 * The zones of the longest prefix of digits (E.164 digits, no '+') in the
 * map: a pointer to the set's count followed by that many indexes into
 * ph_tz_names; NULL when no prefix matches.
 */
extern const uint16_t *ph_timezones(const char *digits, int len);

#endif							/* PHONE_TIMEZONES_H */
