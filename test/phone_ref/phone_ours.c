/*
 * phone_ours.c — our side of the differential phone test: the extension's
 * pure C phone core on the same input lines as phone_ref.
 *
 * Output per line: "-" when the text is not a valid number, else
 * "E164<TAB>REGION<TAB>INTERNATIONAL<TAB>NATIONAL<TAB>RFC3966".  phone_ref
 * prints the same, except that for numbers libphonenumber parses but calls
 * invalid it prints "possible E164" or "impossible E164" (we print "-").
 */
#include <stdio.h>
#include <string.h>

#include "phone_parse.h"

int
main(void)
{
	static char line[1 << 16];

	while (fgets(line, sizeof line, stdin))
	{
		char	   *tab = strchr(line, '\t');
		size_t		n = strlen(line);
		const PhRegion *region;
		PhNumber	num;
		char		e164[PH_MAX_FORMATTED], intl[PH_MAX_FORMATTED],
					nat[PH_MAX_FORMATTED], rfc[PH_MAX_FORMATTED];
		const PhRegion *r;

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!tab)
		{
			puts("-");
			continue;
		}
		region = ph_region_by_code(line, (int) (tab - line));
		if (!ph_parse_valid(tab + 1, (int) (line + n - tab - 1), region, &num))
		{
			puts("-");
			continue;
		}
		r = ph_number_region(&num);
		ph_format(&num, PH_E164, e164);
		ph_format(&num, PH_INTERNATIONAL, intl);
		ph_format(&num, PH_NATIONAL, nat);
		ph_format(&num, PH_RFC3966, rfc);
		printf("%s\t%s\t%s\t%s\t%s\t%d\n", e164, r ? r->id : "ZZ", intl, nat, rfc, ph_number_geographical(&num));
	}
	return 0;
}
