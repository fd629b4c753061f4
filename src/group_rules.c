/*-------------------------------------------------------------------------
 *
 * group_rules.c
 *	  Group memberships: the status's time, and automatic groups.
 *
 * A membership that becomes unsubscribed records when the person left
 * (left_at), and one that becomes active or unconfirmed again forgets it.
 * An automatic group (groups.is_automatic) is kept by its rules: nobody but
 * the account's admins and applications (customercard_admin,
 * customercard_app), the extension owner and superusers takes a member out
 * of it — deleting the membership, unsubscribing it or moving it to another
 * group is 42501 for a manager.  A C trigger, as the others: on Citus it
 * reads the group from the co-located shard.  A restore and the card
 * rewrites (merge, unmerge, forget) bring rows as they were and pass.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "customercard.h"

/* the row's status column holds this status */
static bool
StatusIs(Relation rel, HeapTuple tuple, const char *status)
{
	bool		isnull;
	Datum		d = CustomercardColumn(rel, tuple, "status", &isnull);

	return !isnull && strcmp(TextDatumGetCString(d), status) == 0;
}

/* the group's name when it is automatic, else NULL */
static char *
AutomaticGroup(int64 account, Datum group_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		args[2] = {Int64GetDatum(account), group_id};
	char	   *name = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_plan(CustomercardPlanFor("SELECT name FROM %s WHERE account_id = $1 AND group_id = $2 AND is_automatic",
											 "groups", account, 2, types),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading a group failed");
	if (SPI_processed > 0)
	{
		char	   *n = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		name = SPI_palloc(strlen(n) + 1);	/* (in the caller's context) */
		strcpy(name, n);
	}
	SPI_finish();
	return name;
}

PG_FUNCTION_INFO_V1(group_member_rules);

/* BEFORE UPDATE OR DELETE ON group_members */
Datum
group_member_rules(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	old,
				new = NULL;
	bool		isnull;
	bool		leaves;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "group_member_rules() must be called as a BEFORE UPDATE OR DELETE ROW trigger");
	rel = trigdata->tg_relation;
	old = trigdata->tg_trigtuple;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		new = trigdata->tg_newtuple;
	if (CustomercardRestoring(rel) || customercard_scrub_in_progress)
		return PointerGetDatum(new != NULL ? new : old);

	/* taken out of its group: deleted, moved, or unsubscribed there */
	leaves = new == NULL ||
		DatumGetInt64(CustomercardColumn(rel, old, "group_id", &isnull)) !=
		DatumGetInt64(CustomercardColumn(rel, new, "group_id", &isnull)) ||
		(!StatusIs(rel, old, "unsubscribed") && StatusIs(rel, new, "unsubscribed"));
	if (leaves && !CustomercardActingAsAdmin())
	{
		int64		account = DatumGetInt64(CustomercardColumn(rel, old, "account_id", &isnull));
		char	   *group = AutomaticGroup(account, CustomercardColumn(rel, old, "group_id", &isnull));

		if (group != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("group \"%s\" is automatic: a manager cannot take a contact out of it by hand", group),
					 errhint("Its rules add and remove its members; change the rules, or ask an admin of the account "
							 "(customercard_admin) to do it.")));
	}
	if (new == NULL)
		return PointerGetDatum(old);

	/* the status's time: when the person left, while they are out */
	if (StatusIs(rel, new, "unsubscribed") != StatusIs(rel, old, "unsubscribed"))
	{
		int			col = CustomercardAttnum(rel, "left_at");
		bool		out = StatusIs(rel, new, "unsubscribed");
		Datum		val = TimestampTzGetDatum(CustomercardChangeTime());
		bool		valnull = !out;

		return PointerGetDatum(heap_modify_tuple_by_cols(new, RelationGetDescr(rel), 1, &col, &val, &valnull));
	}
	return PointerGetDatum(new);
}
