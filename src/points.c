/*-------------------------------------------------------------------------
 *
 * points.c
 *	  Keeps contacts.points equal to the sum of its 'points' ledger rows.
 *
 * The ledger (balance_transactions) is the truth: inserting a 'points' row
 * adds its amount to contacts.points, and editing contacts.points by hand
 * writes the difference to the ledger as a 'manual edit' row.  A restore
 * brings both back as dumped, so the ledger trigger stands aside then.  A backend-
 * local flag stops each trigger from reacting to the other's write; it is
 * cleared on error too, so an aborted statement cannot leave it set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/rel.h"

#include "customercard.h"

/* a write made to keep the balance and the ledger in step: not logged again (log_triggers.c) */
bool		customercard_points_syncing = false;

#define syncing customercard_points_syncing

/* run sql with args while the flag is set; the flag is cleared on any exit */
/* (sql names table's rows of the account in args[0] with its one %s) */
static void
RunSyncing(const char *sql, const char *table, Oid *argtypes, Datum *args, int expected)
{
	syncing = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_plan(CustomercardPlanFor(sql, table, DatumGetInt64(args[0]), 3, argtypes),
							 args, NULL, false, 0) != expected)
			elog(ERROR, "points synchronisation failed");
		SPI_finish();
	}
	PG_FINALLY();
	{
		syncing = false;
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(points_edit_to_ledger);

/* BEFORE UPDATE OF points ON contacts: a hand edit becomes a ledger row */
Datum
points_edit_to_ledger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		old_null,
				new_null;
	Datum		old_points,
				new_points;
	int64		delta;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		elog(ERROR, "points_edit_to_ledger() must be called as an UPDATE trigger");
	/* a merge moves ledger rows and sets both balances itself */
	if (syncing || customercard_scrub_in_progress)
		return PointerGetDatum(trigdata->tg_newtuple);

	old_points = CustomercardColumn(trigdata->tg_relation, trigdata->tg_trigtuple, "points", &old_null);
	new_points = CustomercardColumn(trigdata->tg_relation, trigdata->tg_newtuple, "points", &new_null);
	if (old_null || new_null)
		return PointerGetDatum(trigdata->tg_newtuple);
	delta = DatumGetInt64(new_points) - DatumGetInt64(old_points);
	if (delta != 0)
	{
		Oid			types[3] = {INT8OID, INT8OID, INT8OID};
		Datum		args[3];
		bool		isnull;

		args[0] = CustomercardColumn(trigdata->tg_relation, trigdata->tg_newtuple, "account_id", &isnull);
		args[1] = CustomercardColumn(trigdata->tg_relation, trigdata->tg_newtuple, "contact_id", &isnull);
		args[2] = Int64GetDatum(delta);
		/* every column given: a Citus shard has no column defaults */
		RunSyncing("INSERT INTO %s (transaction_id, account_id, contact_id, currency, amount, reason, actor, at) "
				   "VALUES (pg_catalog.nextval('customercard.balance_transactions_transaction_id_seq'), $1, $2, 'points', $3, "
				   "'manual edit', customercard.current_actor(), pg_catalog.now())",
				   "balance_transactions", types, args, SPI_OK_INSERT);
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}

PG_FUNCTION_INFO_V1(ledger_to_points);

/* AFTER INSERT ON balance_transactions: a 'points' row moves the balance */
Datum
ledger_to_points(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	bool		isnull;
	Datum		currency;
	Oid			types[3] = {INT8OID, INT8OID, NUMERICOID};
	Datum		args[3];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "ledger_to_points() must be called as an INSERT trigger");
	tuple = trigdata->tg_trigtuple;
	if (syncing || CustomercardRestoring(trigdata->tg_relation) || customercard_scrub_in_progress)
		return PointerGetDatum(tuple);
	currency = CustomercardColumn(trigdata->tg_relation, tuple, "currency", &isnull);
	if (isnull || strcmp(TextDatumGetCString(currency), "points") != 0)
		return PointerGetDatum(tuple);

	args[0] = CustomercardColumn(trigdata->tg_relation, tuple, "account_id", &isnull);
	args[1] = CustomercardColumn(trigdata->tg_relation, tuple, "contact_id", &isnull);
	args[2] = CustomercardColumn(trigdata->tg_relation, tuple, "amount", &isnull);
	RunSyncing("UPDATE %s SET points = points + $3::bigint "
			   "WHERE account_id = $1 AND contact_id = $2",
			   "contacts", types, args, SPI_OK_UPDATE);
	return PointerGetDatum(tuple);
}
