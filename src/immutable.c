/*-------------------------------------------------------------------------
 *
 * immutable.c
 *	  Row guards: rows that nobody may change (comments, the action log),
 *	  the comment length limit, and updated_at stamping.
 *
 * The guards are triggers, not privileges, so that they hold for every
 * role, the table owner and superusers included.  The only ways past them
 * are the card rewrite switch (below), and archive_action_log(), which
 * moves old log rows into action_log_archive.
 *
 * The card rewrite switch.  merge(), unmerge() and forget_contact() move a
 * contact's comments and log rows to another contact, or scrub them; they
 * are recorded by their own events (merged, unmerged, forgotten), so while
 * they run the per-row log triggers, updated_at stamping and the points
 * sync stand aside too.  card_rewrite(true) turns the switch on: only the
 * extension owner may call it (those functions are SECURITY DEFINER and
 * owned by it; EXECUTE is granted to nobody), and it turns itself off when
 * the (sub)transaction that set it ends or aborts, so an error caught by a
 * savepoint cannot leave it on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"

#include "customercard.h"

bool		customercard_scrub_in_progress = false;
static SubTransactionId rewrite_subxact = InvalidSubTransactionId;
static bool archive_in_progress = false;

/*
 * the trigger data, or an error when the function was not called as a
 * trigger
 */
static TriggerData *
TriggerContext(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

/* the rewrite switch (merge, forget) lasts no longer than its transaction */
static void
RewriteXactCallback(XactEvent event, void *arg)
{
	customercard_scrub_in_progress = false;
	rewrite_subxact = InvalidSubTransactionId;
}

static void
RewriteSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if ((event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB) &&
		mySubid == rewrite_subxact)
	{
		customercard_scrub_in_progress = false;
		rewrite_subxact = InvalidSubTransactionId;
	}
}

PG_FUNCTION_INFO_V1(card_rewrite);

/* customercard.card_rewrite(on boolean): the card rewrite switch, see above */
Datum
card_rewrite(PG_FUNCTION_ARGS)
{
	static bool callbacks = false;
	bool		on = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);

	if (GetUserId() != CustomercardExtensionOwner())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("card_rewrite() is internal to merge, unmerge and forget_contact"),
				 errhint("Call customercard.merge(), customercard.unmerge() or customercard.forget_contact().")));
	if (!callbacks)
	{
		RegisterXactCallback(RewriteXactCallback, NULL);
		RegisterSubXactCallback(RewriteSubXactCallback, NULL);
		callbacks = true;
	}
	customercard_scrub_in_progress = on;
	rewrite_subxact = on ? GetCurrentSubTransactionId() : InvalidSubTransactionId;
	PG_RETURN_VOID();
}

/*
 * The table a trigger fired on, as users know it: on a Citus node the
 * trigger fires on a shard, named "<table>_<shard id>" (none of this
 * extension's tables ends in "_<digits>").
 */
static const char *
LogicalTableName(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	const char *end = name + strlen(name);
	const char *p = end;

	while (p > name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p == end || p == name || p[-1] != '_' || !CustomercardDistributed())
		return name;
	return pnstrdup(name, p - 1 - name);
}

PG_FUNCTION_INFO_V1(refuse_change);

/*
 * BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) trigger:
 * the table is append-only.
 */
Datum
refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerContext(fcinfo, "refuse_change");
	const char *table;
	const char *what;

	/* a rewrite may move or scrub rows, never delete them */
	if (customercard_scrub_in_progress && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	table = LogicalTableName(trigdata->tg_relation);
	if (archive_in_progress && TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) &&
		strcmp(table, "action_log") == 0)
		return PointerGetDatum(trigdata->tg_trigtuple);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		what = "updated";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		what = "deleted";
	else
		what = "truncated";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("rows of customercard.%s cannot be %s", table, what),
			 errdetail("customercard.%s is append-only, for every role.", table),
			 strcmp(table, "comments") == 0
			 ? errhint("Add a new comment instead; customercard.forget_contact() erases a person's comments on request.")
			 : errhint("Record a new event instead; customercard.forget_contact() scrubs a person's data on request.")));
	PG_RETURN_NULL();			/* not reached */
}

PG_FUNCTION_INFO_V1(check_comment);

/* BEFORE INSERT row trigger on comments: the body fits comment_max_length */
Datum
check_comment(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerContext(fcinfo, "check_comment");
	HeapTuple	tuple = trigdata->tg_trigtuple;
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			attnum = SPI_fnumber(tupdesc, "body");
	bool		isnull;
	Datum		body;

	if (attnum <= 0)
		elog(ERROR, "customercard.comments has no column \"body\"");
	body = heap_getattr(tuple, attnum, tupdesc, &isnull);
	if (!isnull)
	{
		text	   *t = DatumGetTextPP(body);
		int			chars = pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

		if (chars > customercard_comment_max_length)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("comment is %d characters long, over the limit of %d", chars, customercard_comment_max_length),
					 errhint("Shorten the comment, or split it into several; the limit is the setting customercard.comment_max_length.")));
	}
	return PointerGetDatum(tuple);
}

PG_FUNCTION_INFO_V1(touch_updated_at);

/* BEFORE UPDATE row trigger: updated_at = the statement's timestamp */
Datum
touch_updated_at(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerContext(fcinfo, "touch_updated_at");
	Relation	rel = trigdata->tg_relation;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			attnum = SPI_fnumber(tupdesc, "updated_at");
	Datum		value = TimestampTzGetDatum(CustomercardChangeTime());
	bool		isnull = false;

	if (attnum <= 0)
		elog(ERROR, "table \"%s\" has no column \"updated_at\"", RelationGetRelationName(rel));
	if (CustomercardRestoring(rel) || customercard_scrub_in_progress)
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, tupdesc, 1, &attnum, &value, &isnull));
}

/* move the log rows of one account (or, account NULL, all) older than before */
static uint64
ArchiveRows(Datum before, Datum account, bool all_accounts)
{
	Oid			types[2] = {TIMESTAMPTZOID, INT8OID};
	Datum		args[2] = {before, account};
	char		nulls[2] = {' ', all_accounts ? 'n' : ' '};
	uint64		moved = 0;
	char	   *volatile log = "customercard.action_log";
	char	   *volatile archive = "customercard.action_log_archive";

	if (!all_accounts)
	{
		/* (copied: on one node the answer is a static buffer) */
		log = pstrdup(CustomercardRelationFor("action_log", DatumGetInt64(account)));
		archive = pstrdup(CustomercardRelationFor("action_log_archive", DatumGetInt64(account)));
	}
	archive_in_progress = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* one account: its shards when they are here (names of this code, not input) */
		if (SPI_execute_with_args(psprintf("WITH moved AS (DELETE FROM %s l "
										   "  WHERE l.at < $1 AND ($2 IS NULL OR l.account_id = $2) RETURNING l.*) "
										   "INSERT INTO %s "
										   "  (account_id, log_id, contact_id, event, actor, at, details) "
										   "SELECT account_id, log_id, contact_id, event, actor, at, details FROM moved",
										   log, archive),
								  2, types, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not archive the action log");
		moved = SPI_processed;
		SPI_finish();
	}
	PG_FINALLY();
	{
		archive_in_progress = false;
	}
	PG_END_TRY();
	return moved;
}

/* archive_action_log is for superusers, with a cut-off in the past */
static void
CheckArchiveCaller(FunctionCallInfo fcinfo, int before_arg)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may archive the action log"),
				 errhint("Archiving moves every account's history; a DBA runs it, for example monthly with pg_cron.")));
	if (PG_ARGISNULL(before_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("archive_action_log needs a cut-off time"),
				 errhint("Call customercard.archive_action_log(now() - interval '1 year').")));
}

/* on a cluster: one delegated call per account, on the account's node */
static uint64
ArchiveDelegated(Datum before, Datum account, bool all_accounts)
{
	Oid			types[2] = {INT8OID, TIMESTAMPTZOID};
	uint64		moved = 0;
	SPITupleTable *accounts;
	uint64		n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (all_accounts)
	{
		if (SPI_execute("SELECT account_id FROM customercard.accounts ORDER BY account_id", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list the accounts");
		accounts = SPI_tuptable;
		n = SPI_processed;
	}
	else
	{
		accounts = NULL;
		n = 1;
	}
	for (uint64 i = 0; i < n; i++)
	{
		Datum		args[2];
		bool		isnull = false;

		args[0] = accounts ? SPI_getbinval(accounts->vals[i], accounts->tupdesc, 1, &isnull) : account;
		args[1] = before;
		/* the FROM form, which Citus delegates to the account's node */
		if (SPI_execute_with_args("SELECT n FROM customercard.archive_action_log_of($1, $2) n",
								  2, types, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not archive the action log of an account");
		moved += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return moved;
}

PG_FUNCTION_INFO_V1(archive_action_log);

/*
 * customercard.archive_action_log(before timestamptz, account_id bigint DEFAULT NULL)
 * Move log rows older than before (of one account, or all) into
 * customercard.action_log_archive, keeping the hot log small.  For
 * superusers: it is a DBA's maintenance, e.g. a monthly pg_cron job.
 */
Datum
archive_action_log(PG_FUNCTION_ARGS)
{
	bool		all_accounts = PG_ARGISNULL(1);
	Datum		account = all_accounts ? (Datum) 0 : PG_GETARG_DATUM(1);

	CheckArchiveCaller(fcinfo, 0);
	if (CustomercardDistributed())
		PG_RETURN_INT64((int64) ArchiveDelegated(PG_GETARG_DATUM(0), account, all_accounts));
	PG_RETURN_INT64((int64) ArchiveRows(PG_GETARG_DATUM(0), account, all_accounts));
}

PG_FUNCTION_INFO_V1(archive_action_log_of);

/*
 * customercard.archive_action_log_of(acct bigint, before timestamptz): the
 * work of archive_action_log in one account, on the node holding it (a
 * delegated function on Citus, where the archive switch must be in the
 * backend whose triggers see the deletes).
 */
Datum
archive_action_log_of(PG_FUNCTION_ARGS)
{
	CheckArchiveCaller(fcinfo, 1);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("archive_action_log_of needs an account")));
	CustomercardAssertAccountHere(PG_GETARG_INT64(0), "archive_action_log");
	PG_RETURN_INT64((int64) ArchiveRows(PG_GETARG_DATUM(1), PG_GETARG_DATUM(0), false));
}
