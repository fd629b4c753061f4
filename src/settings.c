/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The customercard.* settings (GUCs) with real types and validation.
 *
 * customercard.account_id      the account this session acts in (bigint as
 *                              text; empty = the role's only bound account,
 *                              or the default one for privileged roles)
 * customercard.actor           who makes the changes (manager id or a system
 *                              name); empty = "system"
 * customercard.default_region  ISO 3166 alpha-2 region for national phone
 *                              formats; empty = the account's default
 * customercard.comment_max_length
 *                              longest comment body, in characters
 * customercard.import_max_unpacked
 *                              largest unpacked part of an .xlsx workbook
 * customercard.log_event_max_bytes
 *                              largest details of one log_event call
 * customercard.bulk_max_queued_jobs
 *                              most jobs an account may have queued
 *
 * The limits are the DBA's (PGC_SUSET): a tenant's role cannot raise them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "utils/builtins.h"
#include "utils/guc.h"

#include "customercard.h"

char	   *customercard_account_id_setting = NULL;
char	   *customercard_actor_setting = NULL;
char	   *customercard_default_region_setting = NULL;
int			customercard_comment_max_length = 1000;
int			customercard_import_max_unpacked = 262144;	/* kB */
int			customercard_log_event_max_bytes = 65536;
int			customercard_bulk_max_queued_jobs = 1000;

#define ACTOR_MAX_LENGTH 200

/* customercard.account_id must be empty or a positive bigint */
static bool
CheckAccountId(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	int64		value;
	char	   *end;

	if (s == NULL || *s == '\0')
		return true;
	errno = 0;
	value = strtoi64(s, &end, 10);
	while (*end == ' ')
		end++;
	if (errno != 0 || end == s || *end != '\0' || value <= 0)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("invalid value for customercard.account_id: \"%s\"", s);
		GUC_check_errhint("Set it to the positive bigint id of an account in customercard.accounts, or to an empty string for the default account.");
		return false;
	}
	return true;
}

/* customercard.default_region must be empty or two ASCII letters; stored upper-case */
static bool
CheckDefaultRegion(char **newval, void **extra, GucSource source)
{
	char	   *s = *newval;

	if (s == NULL || *s == '\0')
		return true;
	if (strlen(s) != 2 || !isalpha((unsigned char) s[0]) || !isalpha((unsigned char) s[1]))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("invalid value for customercard.default_region: \"%s\"", s);
		GUC_check_errhint("Use an ISO 3166 alpha-2 region code such as \"RU\", \"DE\" or \"US\".");
		return false;
	}
	s[0] = pg_ascii_toupper((unsigned char) s[0]);
	s[1] = pg_ascii_toupper((unsigned char) s[1]);
	return true;
}

/*
 * customercard.actor is at most 200 bytes, with no control character: a
 * line break or a carriage return in it would forge lines in an exported
 * log (C0 and C1 controls, DEL, and U+2028/U+2029, the line and paragraph
 * separators, in UTF-8)
 */
static bool
CheckActor(char **newval, void **extra, GucSource source)
{
	const unsigned char *s = (const unsigned char *) *newval;

	if (s == NULL)
		return true;
	if (strlen((const char *) s) > ACTOR_MAX_LENGTH)
	{
		GUC_check_errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION);
		GUC_check_errmsg("customercard.actor is longer than %d bytes", ACTOR_MAX_LENGTH);
		GUC_check_errhint("Use a manager id or a short system name.");
		return false;
	}
	for (const unsigned char *p = s; *p; p++)
	{
		bool		control = *p < 0x20 || *p == 0x7F ||
			(p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) ||
			(p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9));

		if (control)
		{
			GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
			GUC_check_errmsg("customercard.actor may not hold a control character (byte %d holds one)", (int) (p - s) + 1);
			GUC_check_errhint("Use a manager id or a short system name on one line, without tabs or line breaks.");
			return false;
		}
	}
	return true;
}

/* the customercard.* settings (from _PG_init) */
void
CustomercardDefineSettings(void)
{
	DefineCustomStringVariable("customercard.account_id",
							   "Account that this session acts in.",
							   "Empty means the only account the role is bound to; for customercard_app members and superusers, the default account.",
							   &customercard_account_id_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckAccountId, NULL, NULL);

	DefineCustomStringVariable("customercard.actor",
							   "Who makes the changes: a manager id or a system name, recorded in the action log.",
							   "Empty means \"system\".",
							   &customercard_actor_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckActor, NULL, NULL);

	DefineCustomStringVariable("customercard.default_region",
							   "ISO 3166 alpha-2 region used for phone numbers typed in national format.",
							   "Empty means the current account's default_region.",
							   &customercard_default_region_setting,
							   "",
							   PGC_USERSET,
							   0,
							   CheckDefaultRegion, NULL, NULL);

	DefineCustomIntVariable("customercard.comment_max_length",
							"Longest comment body accepted, in characters.",
							NULL,
							&customercard_comment_max_length,
							1000,
							1,
							1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("customercard.import_max_unpacked",
							"Largest part of an imported .xlsx workbook, unpacked (a sheet, its shared strings).",
							"Counted as the workbook is read: a zip bomb stops there.",
							&customercard_import_max_unpacked,
							262144,
							64,
							1048576,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("customercard.log_event_max_bytes",
							"Largest details of one log_event call, in bytes as stored (jsonb).",
							"The log keeps every row for good: a larger payload is refused (54000).",
							&customercard_log_event_max_bytes,
							65536,
							256,
							104857600,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("customercard.bulk_max_queued_jobs",
							"Most bulk and import jobs an account may have queued or running at once.",
							"Beyond it bulk_enqueue, import_enqueue and bulk_undo are refused (54000).",
							&customercard_bulk_max_queued_jobs,
							1000,
							1,
							1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("customercard");
}

/* The actor of the current change: the setting, or "system" when unset */
const char *
CustomercardActor(void)
{
	if (customercard_actor_setting == NULL || customercard_actor_setting[0] == '\0')
		return "system";
	return customercard_actor_setting;
}

PG_FUNCTION_INFO_V1(current_actor);

/* customercard.current_actor() RETURNS text */
Datum
current_actor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(CustomercardActor()));
}
