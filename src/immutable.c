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

static TriggerData *
TriggerContext(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
}

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

PG_FUNCTION_INFO_V1(refuse_change);

/*
 * BEFORE UPDATE OR DELETE (row) and BEFORE TRUNCATE (statement) trigger:
 * the table is append-only.
 */
Datum
refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = TriggerContext(fcinfo, "refuse_change");
	const char *table = RelationGetRelationName(trigdata->tg_relation);
	const char *what;

	/* a rewrite may move or scrub rows, never delete them */
	if (customercard_scrub_in_progress && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
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
	Datum		value = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
	bool		isnull = false;

	if (attnum <= 0)
		elog(ERROR, "table \"%s\" has no column \"updated_at\"", RelationGetRelationName(rel));
	if (CustomercardRestoring() || customercard_scrub_in_progress)
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, tupdesc, 1, &attnum, &value, &isnull));
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
	Oid			types[2] = {TIMESTAMPTZOID, INT8OID};
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	uint64		moved = 0;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may archive the action log"),
				 errhint("Archiving moves every account's history; a DBA runs it, for example monthly with pg_cron.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("archive_action_log needs a cut-off time"),
				 errhint("Call customercard.archive_action_log(now() - interval '1 year').")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';

	archive_in_progress = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("WITH moved AS (DELETE FROM customercard.action_log l "
								  "  WHERE l.at < $1 AND ($2 IS NULL OR l.account_id = $2) RETURNING l.*) "
								  "INSERT INTO customercard.action_log_archive "
								  "  (account_id, log_id, contact_id, event, actor, at, details) "
								  "SELECT account_id, log_id, contact_id, event, actor, at, details FROM moved",
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
	PG_RETURN_INT64((int64) moved);
}
