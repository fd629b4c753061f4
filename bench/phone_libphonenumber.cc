// bench/phone_libphonenumber.cc: libphonenumber's own speed on the benchmark
// inputs, the comparison point of bench/phone.sh.  Reads one input per line,
// parses it in REGION and formats E.164, as normalize_phone does; prints the
// best of ROUNDS runs as numbers per second.  REGION "-": each line is
// "REGION<TAB>TEXT", parsed in its own region (the per-row corpus).
// Benchmark-only (never linked into the extension).
#include <phonenumbers/phonenumberutil.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

int main(int argc, char **argv)
{
	std::string region = argc > 1 ? argv[1] : "RU";
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	bool per_row = region == "-";
	std::vector<std::string> in, regions;
	std::string line;
	PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
	double best = 0;
	long valid = 0;

	std::ios::sync_with_stdio(false);
	while (std::getline(std::cin, line))
	{
		size_t tab = per_row ? line.find('\t') : std::string::npos;
		if (tab != std::string::npos)
		{
			regions.push_back(line.substr(0, tab));
			in.push_back(line.substr(tab + 1));
		}
		else
		{
			regions.push_back(region);
			in.push_back(line);
		}
	}
	for (int r = 0; r < rounds; r++)
	{
		auto t0 = std::chrono::steady_clock::now();
		valid = 0;
		for (size_t i = 0; i < in.size(); i++)
		{
			PhoneNumber n;
			std::string out;
			if (u->Parse(in[i], regions[i], &n) == PhoneNumberUtil::NO_PARSING_ERROR && u->IsValidNumber(n))
			{
				u->Format(n, PhoneNumberUtil::E164, &out);
				valid++;
			}
		}
		double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
		if (in.size() / secs > best)
			best = in.size() / secs;
	}
	std::cout << (long) best << " " << valid << "\n";
	return 0;
}
