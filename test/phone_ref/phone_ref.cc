/*
 * phone_ref.cc — the reference side of the differential phone test: Debian's
 * libphonenumber (C++), used only here, never linked into the extension.
 *
 *   phone_ref corpus SEED N   generate N test inputs "REGION<TAB>TEXT":
 *                             numbers of every region in every format,
 *                             mutated, some garbage (what a fuzzer tries)
 *   phone_ref typed SEED N    N numbers as people type them into a CRM
 *                             (what an import reads): every region and
 *                             type in turn, well formed, a region per row
 *   phone_ref check           for each input line print libphonenumber's
 *                             verdict (see phone_ours.c for the format)
 */
#include <phonenumbers/phonenumberutil.h>
#include <phonenumbers/phonenumber.pb.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

static std::mt19937_64 rng;

static int pick(int n) { return (int) (rng() % (uint64_t) n); }

static std::string fullwidth(const std::string &s)
{
	std::string o;
	for (char c : s)
		if (c >= '0' && c <= '9')
		{
			o += "\xEF\xBC";
			o += (char) (0x90 + (c - '0'));
		}
		else
			o += c;
	return o;
}

static std::string replace_all(std::string s, const std::string &a, const std::string &b)
{
	size_t p = 0;
	while ((p = s.find(a, p)) != std::string::npos)
	{
		s.replace(p, a.size(), b);
		p += b.size();
	}
	return s;
}

static std::string digits_only(const std::string &s)
{
	std::string o;
	for (char c : s)
		if (c >= '0' && c <= '9')
			o += c;
	return o;
}

static void corpus(uint64_t seed, long n)
{
	PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
	std::set<std::string> rs;
	u->GetSupportedRegions(&rs);
	std::vector<std::string> regions(rs.begin(), rs.end());
	std::set<int> ngs;
	u->GetSupportedGlobalNetworkCallingCodes(&ngs);
	rng.seed(seed);
	static const PhoneNumberUtil::PhoneNumberType types[] = {
		PhoneNumberUtil::FIXED_LINE, PhoneNumberUtil::MOBILE, PhoneNumberUtil::TOLL_FREE,
		PhoneNumberUtil::PREMIUM_RATE, PhoneNumberUtil::SHARED_COST, PhoneNumberUtil::VOIP,
		PhoneNumberUtil::PERSONAL_NUMBER, PhoneNumberUtil::PAGER, PhoneNumberUtil::UAN,
		PhoneNumberUtil::VOICEMAIL};
	static const char *noise[] = {"Phone: ", "tel. ", "моб. ", "", "", "", "  ", "(", "#", "Tel:"};
	static const char *ext[] = {" ext. 12", " x123", " доб. 45", ",,12", ";ext=7", " #9", " - 503#", " ext 1234567"};

	for (long i = 0; i < n; i++)
	{
		const std::string &region = regions[pick((int) regions.size())];
		PhoneNumber num;
		std::string text;

		if (pick(50) == 0)
		{
			/* noise: random bytes from a phone-ish alphabet */
			static const char *alpha[] = {"0", "1", "2", "5", "7", "8", "9", "+", " ", "-", "(", ")", ".", "/",
				"x", "e", "t", "#", ";", ",", "\xC2\xA0", "\xEF\xBC\x91", "a", "Z", "*", "~", "\xE2\x80\x93"};
			int len = 1 + pick(24);
			for (int k = 0; k < len; k++)
				text += alpha[pick(sizeof alpha / sizeof *alpha)];
		}
		else
		{
			if (!u->GetExampleNumberForType(region, types[pick(pick(3) ? 2 : 10)], &num) &&
				!u->GetExampleNumber(region, &num))
				continue;
			/* vary the subscriber digits, sometimes the length */
			std::string nsn;
			u->GetNationalSignificantNumber(num, &nsn);
			int keep = (int) nsn.size() > 4 ? (int) nsn.size() - 1 - pick(4) : (int) nsn.size();
			for (size_t k = keep; k < nsn.size(); k++)
				nsn[k] = (char) ('0' + pick(10));
			int r = pick(20);
			if (r == 0 && nsn.size() > 3)
				nsn.pop_back();
			else if (r == 1)
				nsn += (char) ('0' + pick(10));
			PhoneNumber v;
			if (u->Parse("+" + std::to_string(num.country_code()) + nsn, "ZZ", &v) != PhoneNumberUtil::NO_PARSING_ERROR)
				continue;
			int style = pick(12);
			std::string f;
			switch (style)
			{
				case 0: u->Format(v, PhoneNumberUtil::E164, &f); break;
				case 1: case 2: u->Format(v, PhoneNumberUtil::INTERNATIONAL, &f); break;
				case 3: case 4: case 5: u->Format(v, PhoneNumberUtil::NATIONAL, &f); break;
				case 6: u->Format(v, PhoneNumberUtil::RFC3966, &f); break;
				case 7:
				{
					/* out-of-country dialling from another region: 00 49 ..., 810 ..., 011 ... */
					const std::string &from = regions[pick((int) regions.size())];
					u->FormatOutOfCountryCallingNumber(v, from, &f);
					text = f;
					f.clear();
					/* parse with the calling region */
					std::cout << from << "\t" << text << "\n";
					continue;
				}
				case 8: u->Format(v, PhoneNumberUtil::NATIONAL, &f); f = digits_only(f); break;
				case 9: u->Format(v, PhoneNumberUtil::INTERNATIONAL, &f); f = digits_only(f); break;
				case 10: f = std::to_string(v.country_code()) + nsn; break;
				default: u->Format(v, PhoneNumberUtil::NATIONAL, &f); f = replace_all(f, " ", "-"); break;
			}
			text = f;
			int dec = pick(10);
			if (dec == 0) text = fullwidth(text);
			else if (dec == 1) text = replace_all(text, " ", "\xC2\xA0");
			else if (dec == 2) text = noise[pick(10)] + text;
			else if (dec == 3) text += ext[pick(8)];
			else if (dec == 4) text = replace_all(text, "+", "00");
		}
		/* mutations: characters inserted, dropped or replaced */
		if (pick(5) == 0)
		{
			static const char *alpha[] = {"0", "1", "7", "8", "9", "+", " ", "-", "(", ")", ".", "/", "x", "X",
				"ext", "#", ";", ",", ",,", ":", "\xC2\xA0", "\xEF\xBC\x91", "\xD9\xA3", "a", "Z", "*", "~",
				"\xE2\x80\x93", "\xE3\x80\x80", "\xEF\xBC\x8B", "\xD0\xB4\xD0\xBE\xD0\xB1", "\\", "tel:",
				";isub=", ";ext=", "00", "810", "011", "\xC3\xA9", "\xE2\x84\xA2", "\t"};
			int m = 1 + pick(3);
			for (int k = 0; k < m; k++)
			{
				size_t at = text.empty() ? 0 : (size_t) pick((int) text.size() + 1);
				/* stay on UTF-8 boundaries */
				while (at < text.size() && ((unsigned char) text[at] & 0xC0) == 0x80)
					at++;
				int op = pick(3);
				if (op == 0 || text.empty())
					text.insert(at, alpha[pick(sizeof alpha / sizeof *alpha)]);
				else if (at < text.size())
				{
					size_t e = at + 1;
					while (e < text.size() && ((unsigned char) text[e] & 0xC0) == 0x80)
						e++;
					text.erase(at, e - at);
					if (op == 2)
						text.insert(at, alpha[pick(sizeof alpha / sizeof *alpha)]);
				}
			}
		}
		/* parse in the number's region mostly, sometimes elsewhere or nowhere */
		int rr = pick(10);
		std::string parse_region = rr < 7 ? region : rr < 9 ? regions[pick((int) regions.size())] : "ZZ";
		for (char &c : text)
			if (c == '\t' || c == '\n')
				c = ' ';
		std::cout << parse_region << "\t" << text << "\n";
	}
	(void) ngs;
}

/*
 * Numbers as people type them: libphonenumber's example number of each
 * region and type in turn (its last digits varied), written as a person
 * writes it -- national with the trunk prefix, with spaces, dashes, dots or
 * none; international with +, 00 or a region's own prefix (8 10 from
 * Russia); the area code in brackets; a tel: URI; with an extension, a
 * no-break space, full-width digits, a word before or after.  The row's
 * region is the number's own, or for an international form sometimes the
 * writer's elsewhere.
 */
static void typed(uint64_t seed, long n)
{
	PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
	std::set<std::string> rs;
	u->GetSupportedRegions(&rs);
	std::vector<std::string> regions(rs.begin(), rs.end());
	rng.seed(seed);
	static const PhoneNumberUtil::PhoneNumberType types[] = {
		PhoneNumberUtil::MOBILE, PhoneNumberUtil::FIXED_LINE, PhoneNumberUtil::MOBILE, PhoneNumberUtil::TOLL_FREE,
		PhoneNumberUtil::MOBILE, PhoneNumberUtil::FIXED_LINE, PhoneNumberUtil::VOIP, PhoneNumberUtil::PREMIUM_RATE,
		PhoneNumberUtil::SHARED_COST, PhoneNumberUtil::PERSONAL_NUMBER, PhoneNumberUtil::UAN, PhoneNumberUtil::PAGER};
	const int ntypes = sizeof types / sizeof *types;
	static const char *before[] = {"Phone: ", "тел. ", "моб.: ", "Tel ", "mob ", "WhatsApp "};
	static const char *after[] = {" (mobile)", " моб.", " - work", " (WhatsApp)", " home"};
	static const char *ext[] = {" ext. 12", " x123", " доб. 45", " ext 7"};
	static const char *from_8_10[] = {"RU", "BY", "KZ"};
	long made = 0;

	for (long i = 0; made < n; i++)
	{
		const std::string &region = regions[(size_t) i % regions.size()];
		PhoneNumber num;
		if (!u->GetExampleNumberForType(region, types[(i / (long) regions.size()) % ntypes], &num))
			continue;
		std::string nsn;
		u->GetNationalSignificantNumber(num, &nsn);
		for (size_t k = nsn.size() > 4 ? nsn.size() - 1 - pick(3) : nsn.size(); k < nsn.size(); k++)
			nsn[k] = (char) ('0' + pick(10));
		PhoneNumber v;
		if (u->Parse("+" + std::to_string(num.country_code()) + nsn, "ZZ", &v) != PhoneNumberUtil::NO_PARSING_ERROR)
			continue;
		std::string text, parse_region = region;
		bool international = true;
		switch (pick(16))
		{
			case 0: case 1: case 2: case 3:
				u->Format(v, PhoneNumberUtil::NATIONAL, &text); international = false; break;
			case 4: u->Format(v, PhoneNumberUtil::NATIONAL, &text); text = replace_all(text, " ", "-"); international = false; break;
			case 5: u->Format(v, PhoneNumberUtil::NATIONAL, &text); text = replace_all(text, " ", "."); international = false; break;
			case 6: u->Format(v, PhoneNumberUtil::NATIONAL, &text); text = digits_only(text); international = false; break;
			case 7: case 8: case 9: u->Format(v, PhoneNumberUtil::INTERNATIONAL, &text); break;
			case 10: u->Format(v, PhoneNumberUtil::E164, &text); break;
			case 11: u->Format(v, PhoneNumberUtil::INTERNATIONAL, &text); text = replace_all(text, "+", "00"); break;
			case 12:
				/* dialled from Russia, Belarus or Kazakhstan: 8 10 ... */
				parse_region = from_8_10[pick(3)];
				u->FormatOutOfCountryCallingNumber(v, parse_region, &text);
				text = replace_all(text, "~", " ");	/* (its mark for the dial tone) */
				international = false;
				break;
			case 13:
			{
				/* +44 (20) 7946 0018: the group after the country code in brackets */
				u->Format(v, PhoneNumberUtil::INTERNATIONAL, &text);
				size_t a = text.find(' ');
				size_t b = a == std::string::npos ? a : text.find(' ', a + 1);
				if (b != std::string::npos)
					text = text.substr(0, a + 1) + "(" + text.substr(a + 1, b - a - 1) + ")" + text.substr(b);
				break;
			}
			case 14: u->Format(v, PhoneNumberUtil::RFC3966, &text); break;
			default: u->Format(v, PhoneNumberUtil::INTERNATIONAL, &text); text = replace_all(text, " ", "-"); break;
		}
		if (international && pick(7) == 0)
			parse_region = regions[pick((int) regions.size())];
		if (text.compare(0, 4, "tel:") != 0)
		{
			if (pick(12) == 0) text += ext[pick(4)];
			if (pick(10) == 0) text = replace_all(text, " ", "\xC2\xA0");
			if (pick(20) == 0) text = fullwidth(text);
			if (pick(12) == 0) text = before[pick(6)] + text;
			else if (pick(25) == 0) text += after[pick(5)];
			if (pick(20) == 0) text = " " + text + " ";
		}
		std::cout << parse_region << "\t" << text << "\n";
		made++;
	}
}

static void check()
{
	PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
	std::string line;

	while (std::getline(std::cin, line))
	{
		size_t tab = line.find('\t');
		std::string region = line.substr(0, tab), text = line.substr(tab + 1);
		PhoneNumber num;

		if (u->Parse(text, region, &num) != PhoneNumberUtil::NO_PARSING_ERROR)
		{
			std::cout << "-\n";
			continue;
		}
		std::string e164, intl, nat, rfc, rc;
		/* the phone type keeps no extension */
		num.clear_extension();
		u->Format(num, PhoneNumberUtil::E164, &e164);
		if (!u->IsValidNumber(num))
		{
			std::cout << (u->IsPossibleNumber(num) ? "possible " : "impossible ") << e164 << "\n";
			continue;
		}
		/* the fixed point of Parse(Format(E164)), as the type stores it */
		std::string canon = "";
		for (int round = 0; round < 4; round++)
		{
			PhoneNumber again;
			std::string e2;
			if (u->Parse(e164, "ZZ", &again) != PhoneNumberUtil::NO_PARSING_ERROR || !u->IsValidNumber(again))
				break;
			u->Format(again, PhoneNumberUtil::E164, &e2);
			if (e2 == e164)
				break;
			canon = "\tcanonical from " + e164;
			num = again;
			e164 = e2;
		}
		u->Format(num, PhoneNumberUtil::INTERNATIONAL, &intl);
		u->Format(num, PhoneNumberUtil::NATIONAL, &nat);
		u->Format(num, PhoneNumberUtil::RFC3966, &rfc);
		u->GetRegionCodeForNumber(num, &rc);
		/* whether it is tied to a place: the time zones' rule (1, 0; -1 for an unknown type) */
		PhoneNumberUtil::PhoneNumberType type = u->GetNumberType(num);
		int geo = type == PhoneNumberUtil::UNKNOWN ? -1 : u->IsNumberGeographical(type, num.country_code()) ? 1 : 0;
		std::cout << e164 << "\t" << rc << "\t" << intl << "\t" << nat << "\t" << rfc << "\t" << geo << canon << "\n";
	}
}

int main(int argc, char **argv)
{
	std::ios::sync_with_stdio(false);
	if (argc == 4 && std::string(argv[1]) == "corpus")
		corpus(strtoull(argv[2], NULL, 10), atol(argv[3]));
	else if (argc == 4 && std::string(argv[1]) == "typed")
		typed(strtoull(argv[2], NULL, 10), atol(argv[3]));
	else if (argc == 2 && std::string(argv[1]) == "check")
		check();
	else
	{
		std::cerr << "usage: phone_ref corpus SEED N | phone_ref typed SEED N | phone_ref check\n";
		return 2;
	}
	return 0;
}
