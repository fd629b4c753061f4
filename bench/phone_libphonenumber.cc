// bench/phone_libphonenumber.cc: libphonenumber's own speed on the benchmark
// inputs, the comparison point of bench/phone.sh.  Reads one input per line,
// parses it in REGION and formats E.164, as normalize_phone does; prints the
// best of ROUNDS runs as numbers per second.  Benchmark-only (never linked
// into the extension).
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
	std::vector<std::string> in;
	std::string line;
	PhoneNumberUtil *u = PhoneNumberUtil::GetInstance();
	double best = 0;
	long valid = 0;

	std::ios::sync_with_stdio(false);
	while (std::getline(std::cin, line))
		in.push_back(line);
	for (int r = 0; r < rounds; r++)
	{
		auto t0 = std::chrono::steady_clock::now();
		valid = 0;
		for (const std::string &s : in)
		{
			PhoneNumber n;
			std::string out;
			if (u->Parse(s, region, &n) == PhoneNumberUtil::NO_PARSING_ERROR && u->IsValidNumber(n))
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
