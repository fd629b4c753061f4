/*-------------------------------------------------------------------------
 *
 * immutable.c
 *	  Row guards: rows that nobody may change (comments, the action log),
 *	  the comment length limit, and updated_at stamping.
 *
 * The guards are triggers, not privileges, so that they hold for every
 * role, the table owner and superusers included.  The only way past them
 * is customercard_scrub_in_progress, which only the forget path sets, in C,
 * for the rows it scrubs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "customercard.h"

bool		customercard_scrub_in_progress = false;

static TriggerData *
TriggerContext(FunctionCallInfo fcinfo, const char *name)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s() must be called as a trigger", name)));
	return (TriggerData *) fcinfo->context;
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

	if (customercard_scrub_in_progress && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);

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
	if (CustomercardRestoring())
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(trigdata->tg_newtuple, tupdesc, 1, &attnum, &value, &isnull));
}
