/*
 * export_metadata.cc — writes the numbering metadata compiled into
 * libphonenumber (Debian's libphonenumber8, built from Google's
 * PhoneNumberMetadata.xml) as JSON, the input of gen_phone_tables.c.
 *
 * A maintainer's tool: it runs only when the metadata is refreshed
 * (make -C tools/phonemeta), never in the build of the extension, and it is
 * never linked into it.  Its output, phonenumber-metadata.json, is committed.
 *
 * Why not the JSON that libphonenumber-js ships: that file is a lossy
 * re-encoding (it merges equal fixed-line/mobile patterns, recomputes possible
 * lengths, drops some formats), and the numbers must come out exactly as
 * libphonenumber's, so we export the very metadata the reference uses.
 */
#include <phonenumbers/phonemetadata.pb.h>
#include <cstdio>
#include <iostream>
#include <string>

namespace i18n { namespace phonenumbers {
int metadata_size();
const void *metadata_get();
} }

using namespace i18n::phonenumbers;

static std::string q(const std::string &s)
{
	std::string o = "\"";
	for (unsigned char c : s)
	{
		if (c == '"' || c == '\\') { o += '\\'; o += (char) c; }
		else if (c < 0x20) { char b[8]; snprintf(b, sizeof b, "\\u%04x", c); o += b; }
		else o += (char) c;
	}
	return o + "\"";
}

static void desc(const char *name, const PhoneNumberDesc &d, bool &first)
{
	if (!d.has_national_number_pattern() && d.possible_length_size() == 0)
		return;
	std::cout << (first ? "" : ",") << "\n   " << q(name) << ": {\"pattern\": "
			  << q(d.national_number_pattern()) << ", \"lengths\": [";
	for (int i = 0; i < d.possible_length_size(); i++)
		std::cout << (i ? "," : "") << d.possible_length(i);
	std::cout << "], \"local_lengths\": [";
	for (int i = 0; i < d.possible_length_local_only_size(); i++)
		std::cout << (i ? "," : "") << d.possible_length_local_only(i);
	std::cout << "]}";
	first = false;
}

static void formats(const char *name,
					const google::protobuf::RepeatedPtrField<NumberFormat> &fs)
{
	std::cout << ",\n  " << q(name) << ": [";
	for (int i = 0; i < fs.size(); i++)
	{
		const NumberFormat &f = fs.Get(i);
		std::cout << (i ? "," : "") << "\n   {\"pattern\": " << q(f.pattern())
				  << ", \"format\": " << q(f.format()) << ", \"leading_digits\": [";
		for (int j = 0; j < f.leading_digits_pattern_size(); j++)
			std::cout << (j ? ", " : "") << q(f.leading_digits_pattern(j));
		std::cout << "], \"national_prefix_formatting_rule\": "
				  << q(f.national_prefix_formatting_rule())
				  << ", \"domestic_carrier_code_formatting_rule\": "
				  << q(f.domestic_carrier_code_formatting_rule()) << "}";
	}
	std::cout << "]";
}

int main(int argc, char **argv)
{
	PhoneMetadataCollection c;
	if (!c.ParseFromArray(metadata_get(), metadata_size()))
	{
		std::cerr << "cannot parse the compiled-in metadata\n";
		return 1;
	}
	std::cout << "{\"libphonenumber_version\": " << q(argc > 1 ? argv[1] : "unknown")
			  << ",\n \"licence\": \"Apache-2.0 (libphonenumber, Copyright (C) 2009 The Libphonenumber Authors)\""
			  << ",\n \"regions\": [";
	for (int i = 0; i < c.metadata_size(); i++)
	{
		const PhoneMetadata &m = c.metadata(i);
		bool first = true;
		std::cout << (i ? "," : "") << "\n {\"id\": " << q(m.id())
				  << ", \"country_code\": " << m.country_code()
				  << ", \"main_country_for_code\": " << (m.main_country_for_code() ? "true" : "false")
				  << ",\n  \"international_prefix\": " << q(m.international_prefix())
				  << ", \"preferred_international_prefix\": " << q(m.preferred_international_prefix())
				  << ",\n  \"national_prefix\": " << q(m.national_prefix())
				  << ", \"national_prefix_for_parsing\": " << q(m.national_prefix_for_parsing())
				  << ", \"national_prefix_transform_rule\": " << q(m.national_prefix_transform_rule())
				  << ",\n  \"leading_digits\": " << q(m.leading_digits())
				  << ", \"same_mobile_and_fixed_line_pattern\": " << (m.same_mobile_and_fixed_line_pattern() ? "true" : "false")
				  << ",\n  \"descs\": {";
		desc("general", m.general_desc(), first);
		desc("premium_rate", m.premium_rate(), first);
		desc("toll_free", m.toll_free(), first);
		desc("shared_cost", m.shared_cost(), first);
		desc("voip", m.voip(), first);
		desc("personal_number", m.personal_number(), first);
		desc("pager", m.pager(), first);
		desc("uan", m.uan(), first);
		desc("voicemail", m.voicemail(), first);
		desc("fixed_line", m.fixed_line(), first);
		desc("mobile", m.mobile(), first);
		std::cout << "}";
		formats("number_formats", m.number_format());
		formats("intl_number_formats", m.intl_number_format());
		std::cout << "}";
	}
	std::cout << "\n]}\n";
	return 0;
}
