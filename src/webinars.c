/*-------------------------------------------------------------------------
 *
 * webinars.c
 *	  Webinar visits and registrations kept consistent with their webinar.
 *
 * A visit belongs to a webinar (webinar_id); its webinar and launch columns
 * are the webinar's name and launch, kept for readers of 0.1's columns.  A
 * visit given the webinar's id takes its name and launch; one given only
 * the name (and launch), as 0.1 wrote them, finds that webinar or makes it
 * (its times unknown).  A visit's chat is a JSON array of the messages the
 * person wrote there, {"at": time, "text": string}; chat_messages counts at
 * least those.  A registration is attended once the person has a visit of
 * the webinar, whichever is recorded first.
 *
 * These are C triggers for the reason the log's are: on Citus they run on
 * the shard, and reach the account's rows of the other tables through the
 * co-located shards (CustomercardPlanFor), never a distributed query.  A
 * restore and the card rewrites (merge, unmerge, forget) bring rows as they
 * were, so the triggers stand aside then.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/rel.h"

#include "customercard.h"

#define CHAT_TEXT_MAX 10000
#define CHAT_HINT "Send \"chat\" as [{\"at\": \"2026-03-01 16:05+03\", \"text\": \"Hello!\"}, ...]: " \
	"each message the time it was written and its text (at most 10000 characters)."

/* the column's value differs between old and new (binary comparison) */
static bool
ColumnChanged(Relation rel, HeapTuple old, HeapTuple new, const char *name)
{
	int			attnum = CustomercardAttnum(rel, name);
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	bool		oldnull,
				newnull;
	Datum		o = heap_getattr(old, attnum, RelationGetDescr(rel), &oldnull);
	Datum		n = heap_getattr(new, attnum, RelationGetDescr(rel), &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datumIsEqual(o, n, att->attbyval, att->attlen);
}

/* text PostgreSQL reads as a date and time (a chat message's "at") */
static bool
IsTime(const char *s)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				tz;
	struct pg_tm tm;
	fsec_t		fsec;

	if (strlen(s) > MAXDATELEN)
		return false;
	return ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) == 0 &&
		DecodeDateTimeFields(field, ftype, nf, &dtype, &tm, &fsec, &tz) == 0 &&
		(dtype == DTK_DATE || dtype == DTK_NOW || dtype == DTK_TODAY ||
		 dtype == DTK_YESTERDAY || dtype == DTK_TOMORROW);
}

/*
 * a visit's chat that is not an array of {at, text}: the error naming the
 * message
 */
static void
ChatError(const char *what, int message)
{
	if (message > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("chat message %d of the webinar visit %s", message, what),
				 errhint(CHAT_HINT)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the webinar visit's chat %s", what),
			 errhint(CHAT_HINT)));
}

/* check a chat's form; returns how many messages it holds */
static int
CheckChat(Jsonb *chat)
{
	JsonbIterator *it;
	JsonbValue	v;
	int			n = 0;

	if (!JB_ROOT_IS_ARRAY(chat) || JB_ROOT_IS_SCALAR(chat))
		ChatError("must be a JSON array of messages", 0);
	it = JsonbIteratorInit(&chat->root);
	(void) JsonbIteratorNext(&it, &v, true);	/* WJB_BEGIN_ARRAY */
	while (JsonbIteratorNext(&it, &v, true) == WJB_ELEM)
	{
		bool		has_at = false,
					has_text = false;
		JsonbIterator *msg;
		JsonbValue	key;

		n++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ChatError("must be an object {\"at\": ..., \"text\": ...}", n);
		msg = JsonbIteratorInit(v.val.binary.data);
		(void) JsonbIteratorNext(&msg, &key, true);	/* WJB_BEGIN_OBJECT */
		while (JsonbIteratorNext(&msg, &key, true) == WJB_KEY)
		{
			char	   *name = pnstrdup(key.val.string.val, key.val.string.len);
			JsonbValue	val;

			(void) JsonbIteratorNext(&msg, &val, true);	/* WJB_VALUE */
			if (strcmp(name, "at") == 0)
			{
				if (val.type != jbvString ||
					!IsTime(pnstrdup(val.val.string.val, val.val.string.len)))
					ChatError("has an \"at\" that is not a time", n);
				has_at = true;
			}
			else if (strcmp(name, "text") == 0)
			{
				if (val.type != jbvString ||
					pg_mbstrlen_with_len(val.val.string.val, val.val.string.len) > CHAT_TEXT_MAX)
					ChatError("has a \"text\" that is not a string of at most 10000 characters", n);
				has_text = true;
			}
			else
				ChatError(psprintf("has an unknown key \"%s\"", name), n);
		}
		if (!has_at || !has_text)
			ChatError(has_at ? "has no \"text\"" : "has no \"at\"", n);
	}
	return n;
}

/* a value of a query run by a kept plan (NULL when no row) */
static bool
QueryRow(const char *sql, const char *table, int64 account, int nargs, Oid *types, Datum *args, const char *nulls)
{
	int			rc = SPI_execute_plan(CustomercardPlanFor(sql, table, account, nargs, types), args, nulls, false, 1);

	if (rc < 0)
		elog(ERROR, "webinar query failed: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * A webinar a visit names that the account does not have yet, made in the
 * caller's account: as the tables' owner, the way PostgreSQL's foreign key
 * checks run, because its id comes from the sequence and no role writes
 * ids (docs/security.md, "What the extension alone writes"); managers may
 * make webinars.  The caller's rights come back after the statement (and
 * with an error, at the transaction's abort).
 */
static bool
MakeWebinar(Relation rel, int64 account, Oid *types, Datum *args, const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	bool		made;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(rel->rd_rel->relowner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
	made = QueryRow("INSERT INTO %s (webinar_id, account_id, name, launch) "
					"VALUES (pg_catalog.nextval('customercard.webinars_webinar_id_seq'), $1, $2, $3) "
					"ON CONFLICT DO NOTHING RETURNING webinar_id",
					"webinars", account, 3, types, args, nulls);
	SetUserIdAndSecContext(save_userid, save_sec);
	return made;
}

PG_FUNCTION_INFO_V1(webinar_visit_links);

/*
 * BEFORE INSERT OR UPDATE ON webinar_visits: the visit's webinar (by id,
 * else by name and launch, made when missing), its name and launch from
 * it, the chat checked and counted.
 */
Datum
webinar_visit_links(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple,
				old = NULL;
	bool		isnull,
				name_null,
				launch_null;
	int64		account;
	Datum		webinar_id;
	int			cols[4];
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			ncols = 0;
	bool		resolve;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "webinar_visit_links() must be called as a BEFORE ROW trigger");
	rel = trigdata->tg_relation;
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		old = trigdata->tg_trigtuple;
		tuple = trigdata->tg_newtuple;
	}
	else
		tuple = trigdata->tg_trigtuple;
	if (CustomercardRestoring(rel) || customercard_scrub_in_progress)
		return PointerGetDatum(tuple);

	account = DatumGetInt64(CustomercardColumn(rel, tuple, "account_id", &isnull));
	webinar_id = CustomercardColumn(rel, tuple, "webinar_id", &isnull);
	resolve = old == NULL || ColumnChanged(rel, old, tuple, "webinar_id") ||
		ColumnChanged(rel, old, tuple, "webinar") || ColumnChanged(rel, old, tuple, "launch");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (resolve && !isnull &&
		(old == NULL || ColumnChanged(rel, old, tuple, "webinar_id")))
	{
		/* the webinar's id: its name and launch (an unknown id: the foreign key says so) */
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		args[2] = {Int64GetDatum(account), webinar_id};

		if (QueryRow("SELECT name, launch FROM %s WHERE account_id = $1 AND webinar_id = $2",
					 "webinars", account, 2, types, args, NULL))
		{
			cols[ncols] = CustomercardAttnum(rel, "webinar");
			values[ncols] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[ncols]);
			if (!nulls[ncols])
				values[ncols] = SPI_datumTransfer(values[ncols], false, -1);
			ncols++;
			cols[ncols] = CustomercardAttnum(rel, "launch");
			values[ncols] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[ncols]);
			ncols++;
		}
	}
	else if (resolve)
	{
		/* by name and launch: that webinar, made if there is none */
		Datum		name = CustomercardColumn(rel, tuple, "webinar", &name_null);
		Datum		launch = CustomercardColumn(rel, tuple, "launch", &launch_null);
		Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
		Datum		args[3] = {Int64GetDatum(account), name, launch};
		char		argnulls[3] = {' ', ' ', launch_null ? 'n' : ' '};

		if (!name_null)
		{
			if (!QueryRow("SELECT webinar_id FROM %s WHERE account_id = $1 AND name = $2 "
						  "AND launch IS NOT DISTINCT FROM $3",
						  "webinars", account, 3, types, args, argnulls) &&
				!MakeWebinar(rel, account, types, args, argnulls) &&
				!QueryRow("SELECT webinar_id FROM %s WHERE account_id = $1 AND name = $2 "
						  "AND launch IS NOT DISTINCT FROM $3",
						  "webinars", account, 3, types, args, argnulls))
				elog(ERROR, "the webinar of a visit could not be found or made");
			cols[ncols] = CustomercardAttnum(rel, "webinar_id");
			values[ncols] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[ncols]);
			ncols++;
		}
	}
	SPI_finish();

	/* the chat: its form, and at least as many messages counted */
	if (old == NULL || ColumnChanged(rel, old, tuple, "chat"))
	{
		Datum		chat = CustomercardColumn(rel, tuple, "chat", &isnull);

		if (!isnull)
		{
			int			n = CheckChat(DatumGetJsonbP(chat));
			Datum		counted = CustomercardColumn(rel, tuple, "chat_messages", &isnull);

			if (isnull || DatumGetInt32(counted) < n)
			{
				cols[ncols] = CustomercardAttnum(rel, "chat_messages");
				values[ncols] = Int32GetDatum(n);
				nulls[ncols] = false;
				ncols++;
			}
		}
	}

	if (ncols == 0)
		return PointerGetDatum(tuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, RelationGetDescr(rel), ncols, cols, values, nulls));
}

/* is there a visit of this webinar by this contact / mark the registration attended */
static const char *const has_visit_sql =
	"SELECT 1 FROM %s WHERE account_id = $1 AND webinar_id = $2 AND contact_id = $3";
static const char *const attended_sql =
	"UPDATE %s SET attended = true WHERE account_id = $1 AND webinar_id = $2 AND contact_id = $3 AND NOT attended";

PG_FUNCTION_INFO_V1(webinar_attendance);

/*
 * AFTER INSERT OR UPDATE OF webinar_id ON webinar_visits: the person's
 * registration for the webinar is attended.  BEFORE INSERT ON
 * webinar_registrations: attended when a visit is recorded already.
 */
Datum
webinar_attendance(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	bool		isnull;
	int64		account;
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		args[3];
	bool		registration;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "webinar_attendance() must be called as a ROW trigger");
	rel = trigdata->tg_relation;
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	registration = TRIGGER_FIRED_BEFORE(trigdata->tg_event);
	if (CustomercardRestoring(rel) || customercard_scrub_in_progress)
		return PointerGetDatum(tuple);
	if (registration && DatumGetBool(CustomercardColumn(rel, tuple, "attended", &isnull)))
		return PointerGetDatum(tuple);

	account = DatumGetInt64(CustomercardColumn(rel, tuple, "account_id", &isnull));
	args[0] = Int64GetDatum(account);
	args[1] = CustomercardColumn(rel, tuple, "webinar_id", &isnull);
	if (isnull)
		return PointerGetDatum(tuple);
	args[2] = CustomercardColumn(rel, tuple, "contact_id", &isnull);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (registration)
	{
		bool		visited = QueryRow(has_visit_sql, "webinar_visits", account, 3, types, args, NULL);

		SPI_finish();
		if (visited)
		{
			int			col = CustomercardAttnum(rel, "attended");
			Datum		val = BoolGetDatum(true);
			bool		valnull = false;

			return PointerGetDatum(heap_modify_tuple_by_cols(tuple, RelationGetDescr(rel), 1, &col, &val, &valnull));
		}
		return PointerGetDatum(tuple);
	}
	if (SPI_execute_plan(CustomercardPlanFor(attended_sql, "webinar_registrations", account, 3, types),
						 args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "marking a webinar registration attended failed");
	SPI_finish();
	return PointerGetDatum(tuple);
}
