/*-------------------------------------------------------------------------
 *
 * action_log.c
 *	  The buffered writer of customercard.action_log, and log_event().
 *
 * Design note.  The row triggers (log_triggers.c) fire once per changed
 * row; an INSERT through SPI for each would start an executor per row and
 * cost several times the change itself.  So rows are appended to a
 * backend-local buffer and written when the statement that fired them
 * finishes: an ExecutorFinish hook runs after the statement's AFTER
 * triggers, and flushes.  Every 5000 rows the buffer is flushed early, so
 * memory stays bounded.  On one node a flush of 64 rows or more puts the
 * rows straight into the log's heap, a thousand at a time, and then their
 * index entries, as COPY FROM writes (MultiInsertLogRows: a WAL record and
 * a buffer lock per page, no executor per row).  Fewer rows, a log that is
 * not the plain table the extension made (a DBA's trigger, rule or
 * column), and Citus take one
 *     INSERT INTO customercard.action_log ... SELECT FROM unnest($1, ..., $6)
 * through SPI (the logical table name, so Citus routes it).
 *
 * COPY runs no executor: a ProcessUtility hook writes its rows when it
 * ends.  Anything else left over is written at the start of the next
 * statement, or at commit, whichever comes first.  Inside a
 * subtransaction only its own rows are written, so rolling it back cannot
 * take its parent's rows along; a subtransaction that aborts drops the rows
 * it queued, a transaction that aborts drops all.  So a log row is never
 * lost, nor written for a change that did not happen.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "tcop/utility.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "action_log.h"
#include "customercard.h"

#define FLUSH_AT 5000

/*
 * The extension's own event kinds (docs/reference.md, the action log);
 * is_log_event(), the log's CHECK, reads this list.
 */
const char *const action_log_events[] = {
	"call", "subscribed", "unsubscribed", "payment_succeeded", "payment_failed", "payment_confirmed",
	"task_created", "task_done", "task_rescheduled", "order_created",
	"order_status_changed", "sales_plan_added", "webinar_viewed", "membership",
	"merged", "unmerged", "tag_added", "tag_removed", "channel_created",
	"channel_deleted", "custom_field_set", "field_changed", "archived",
	"unarchived", "contact_created", "contact_deleted", "page_visited",
	"comment_added", "crm_exported", "forgotten",
	/* what no event above tells of: any section's rows added, changed, deleted */
	"row_added", "row_changed", "row_deleted", NULL
};

/*
 * the kinds log_event() may write: events that happen outside the database.
 * Every other kind is the extension's word alone (its triggers and
 * functions write it).
 */
static const char *const outside_events[] = {"crm_exported", NULL};

/*
 * an event an application may write through log_event (not one the extension
 * writes itself)
 */
static bool
IsOutsideEvent(const char *event)
{
	for (int i = 0; outside_events[i] != NULL; i++)
		if (strcmp(outside_events[i], event) == 0)
			return true;
	return false;
}

/*
 * A kind an account's admin may register (customercard.event_kinds) for
 * log_event: "source.event", lower case, a dot apart -- "amocrm.deal_won".
 * No kind of the extension's has a dot, so a registered kind is never one
 * of them, today's or a later release's.
 */
bool
ActionLogIsRegistrableKind(const char *event)
{
	size_t		len = strlen(event);
	bool		dot = false;
	bool		start = true;	/* at the start of a part */

	if (len < 3 || len > 63)
		return false;
	for (const char *c = event; *c; c++)
	{
		if (*c == '.')
		{
			if (start)
				return false;
			dot = true;
			start = true;
		}
		else if (*c >= 'a' && *c <= 'z')
			start = false;
		else if (((*c >= '0' && *c <= '9') || *c == '_') && !start)
			continue;
		else
			return false;
	}
	return dot && !start;
}

/* has the account's admin registered this kind? */
static bool
EventKindIsRegistered(int64 account, const char *event)
{
	Oid			argtypes[2] = {INT8OID, TEXTOID};
	Datum		args[2] = {Int64GetDatum(account), CStringGetTextDatum(event)};
	bool		found;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM customercard.event_kinds k "
							  "WHERE k.account_id OPERATOR(pg_catalog.=) $1 AND k.kind OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up event kind \"%s\"", event);
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/* the kinds log_event takes, for its error hint */
static char *
OutsideEventList(void)
{
	StringInfoData known;

	initStringInfo(&known);
	for (int i = 0; outside_events[i] != NULL; i++)
		appendStringInfo(&known, "%s%s", i ? ", " : "", outside_events[i]);
	appendStringInfoString(&known, ", and the kinds an admin of the account registers (customercard.event_kinds)");
	return known.data;
}

typedef struct LogBuffer
{
	MemoryContext cxt;			/* child of TopTransactionContext */
	Datum		actor_text;		/* the last actor, reused while it stays the same */
	int			n;
	int			size;
	Datum	   *account;
	Datum	   *contact;
	Datum	   *event;
	Datum	   *actor;
	Datum	   *at;
	Datum	   *details;
} LogBuffer;

typedef struct SubLevel
{
	SubTransactionId subid;
	int			buffered;		/* buffer length when it started */
} SubLevel;

static LogBuffer buffer;
static bool flushing = false;
static SubLevel *sublevels = NULL;
static int	nsublevels = 0;
static int	maxsublevels = 0;
static Datum *event_texts = NULL;	/* text of each event kind, made once */
static Datum empty_details = (Datum) 0;	/* '{}' */

static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;

/*
 * How many executors are running or finishing, as pg_stat_statements counts
 * them: a statement started inside another (a SQL function in an index
 * expression or a CHECK, a trigger's query) is nested.
 */
static int	exec_nesting = 0;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void FlushActionLog(void);

/* rows below this index belong to an enclosing subtransaction */
static int
FlushFloor(void)
{
	return nsublevels > 0 ? Min(sublevels[nsublevels - 1].buffered, buffer.n) : 0;
}

/* one of the extension's own event kinds (is_log_event(), the log's CHECK) */
bool
ActionLogEventIsKnown(const char *event)
{
	for (int i = 0; action_log_events[i] != NULL; i++)
		if (strcmp(action_log_events[i], event) == 0)
			return true;
	return false;
}

/* room for twice as many buffered rows, in the transaction's memory */
static void
GrowBuffer(void)
{
	MemoryContext old;
	int			size = buffer.size == 0 ? 256 : buffer.size * 2;

	if (buffer.cxt == NULL)
		buffer.cxt = AllocSetContextCreate(TopTransactionContext, "customercard action log buffer",
										   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(buffer.cxt);
#define GROW(field) buffer.field = buffer.field ? repalloc(buffer.field, size * sizeof(Datum)) : palloc(size * sizeof(Datum))
	GROW(account);
	GROW(contact);
	GROW(event);
	GROW(actor);
	GROW(at);
	GROW(details);
#undef GROW
	MemoryContextSwitchTo(old);
	buffer.size = size;
}

/*
 * the buffer is empty again (its rows were written, or the transaction
 * ended)
 */
static void
ForgetBuffer(void)
{
	/* the memory goes with TopTransactionContext */
	memset(&buffer, 0, sizeof(buffer));
}

/* the event's text, made once per backend for the extension's fixed list */
static Datum
EventText(const char *event)
{
	int			n = 0;

	if (event_texts == NULL)
	{
		while (action_log_events[n] != NULL)
			n++;
		event_texts = MemoryContextAllocZero(TopMemoryContext, n * sizeof(Datum));
	}
	for (int i = 0; action_log_events[i] != NULL; i++)
		if (strcmp(action_log_events[i], event) == 0)
		{
			if (event_texts[i] == (Datum) 0)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				event_texts[i] = PointerGetDatum(cstring_to_text(event));
				MemoryContextSwitchTo(old);
			}
			return event_texts[i];
		}
	/* an account's registered kind (log_event checked it), in the buffer's memory */
	if (ActionLogIsRegistrableKind(event))
		return PointerGetDatum(cstring_to_text(event));
	elog(ERROR, "unknown action log event \"%s\"", event);
	return (Datum) 0;			/* not reached */
}

/* the '{}' details of an event without any, made once per backend */
static Datum
EmptyDetails(void)
{
	if (empty_details == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		JsonbParseState *st = NULL;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		empty_details = PointerGetDatum(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
		MemoryContextSwitchTo(old);
	}
	return empty_details;
}

/*
 * Queue one log row.  The actor and the time are taken now: the setting
 * customercard.actor and the statement's start.
 */
void
ActionLogAppend(int64 account_id, int64 contact_id, const char *event, Jsonb *details)
{
	MemoryContext old;
	int			i;

	if (buffer.cxt == NULL || buffer.n == buffer.size)
		GrowBuffer();
	old = MemoryContextSwitchTo(buffer.cxt);
	i = buffer.n;
	buffer.account[i] = Int64GetDatum(account_id);
	buffer.contact[i] = Int64GetDatum(contact_id);
	buffer.event[i] = EventText(event);
	{
		const char *actor = CustomercardActor();

		size_t		len = strlen(actor);
		text	   *last = (text *) DatumGetPointer(buffer.actor_text);

		if (last == NULL || VARSIZE(last) - VARHDRSZ != len || memcmp(VARDATA(last), actor, len) != 0)
			buffer.actor_text = PointerGetDatum(cstring_to_text_with_len(actor, len));
		buffer.actor[i] = buffer.actor_text;
	}
	buffer.at[i] = TimestampTzGetDatum(CustomercardChangeTime());
	buffer.details[i] = details != NULL ? datumCopy(PointerGetDatum(details), false, -1) : EmptyDetails();
	MemoryContextSwitchTo(old);
	buffer.n++;

	if (buffer.n - FlushFloor() >= FLUSH_AT)
		FlushActionLog();
}

/*
 * an array of n values of a type, as the multi-row INSERT of a flush takes
 * them
 */
static ArrayType *
ToArray(Datum *values, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_array(values, n, type, typlen, typbyval, typalign);
}

/* %s: the log, or on Citus the account's shard of it */
/* (every column given: a Citus shard has no column defaults) */
static const char *const flush_sql =
	"INSERT INTO %s (log_id, account_id, contact_id, event, actor, at, details) "
	"SELECT pg_catalog.nextval('customercard.action_log_log_id_seq'), r.* "
	"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), "
	"pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6)) r";

/* one INSERT of rows through SPI (connected), into the log's relation for account */
static void
InsertLogRows(LogBuffer *rows, int64 account)
{
	Oid			types[6] = {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TIMESTAMPTZARRAYOID, JSONBARRAYOID};
	Datum		args[6];

	args[0] = PointerGetDatum(ToArray(rows->account, rows->n, INT8OID));
	args[1] = PointerGetDatum(ToArray(rows->contact, rows->n, INT8OID));
	args[2] = PointerGetDatum(ToArray(rows->event, rows->n, TEXTOID));
	args[3] = PointerGetDatum(ToArray(rows->actor, rows->n, TEXTOID));
	args[4] = PointerGetDatum(ToArray(rows->at, rows->n, TIMESTAMPTZOID));
	args[5] = PointerGetDatum(ToArray(rows->details, rows->n, JSONBOID));
	if (SPI_execute_plan(CustomercardPlanFor(flush_sql, "action_log", account, 6, types),
						 args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the action log");
}

static Oid	ActionLogRelid(void);

/* the log's columns, in the order of a LogBuffer's fields */
static const char *const log_columns[] = {"account_id", "log_id", "contact_id", "event", "actor", "at", "details"};

#define LOG_COLUMNS lengthof(log_columns)
#define MULTI_INSERT_AT 1000	/* rows a table_multi_insert takes at once */
/*
 * fewer rows go through the INSERT's cached plan: a multi-insert sets up an
 * executor state, opens the indexes and builds the CHECK's expression from
 * the catalog, each flush (a statement that flushes a row at a time, as the
 * points ledger's trigger makes one, spent a fifth of its time there)
 */
#define MULTI_INSERT_FROM 64

/*
 * Can the rows go straight into the log's heap and indexes?  When it is the
 * plain table the extension made: no row or statement trigger on insert (a
 * DBA's, or a foreign key's, which the executor would fire), no rule,
 * and no column beyond ours (whose default would be needed).  attmap[c]
 * is the attribute number - 1 of log_columns[c].
 */
static bool
LogTakesMultiInsert(Relation rel, int *attmap)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL ||
		(trig != NULL && (trig->trig_insert_before_row || trig->trig_insert_after_row ||
						  trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
						  trig->trig_insert_after_statement || trig->trig_insert_new_table)))
		return false;
	for (int c = 0; c < (int) LOG_COLUMNS; c++)
		attmap[c] = -1;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		int			c;

		if (att->attisdropped)
			continue;
		for (c = 0; c < (int) LOG_COLUMNS; c++)
			if (strcmp(NameStr(att->attname), log_columns[c]) == 0)
				break;
		if (c == (int) LOG_COLUMNS || att->attgenerated)
			return false;
		attmap[c] = a;
	}
	for (int c = 0; c < (int) LOG_COLUMNS; c++)
		if (attmap[c] < 0)
			return false;
	return true;
}

/*
 * an executor state whose range table is the log, for ExecConstraints and
 * the index inserts (as COPY FROM sets one up)
 */
static ResultRelInfo *
LogResultRelation(EState *estate, Oid relid)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	ResultRelInfo *rri = makeNode(ResultRelInfo);

	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	{
		RTEPermissionInfo *perm = makeNode(RTEPermissionInfo);

		perm->relid = relid;
		perm->requiredPerms = ACL_INSERT;
		rte->perminfoindex = 1;
#if PG_VERSION_NUM >= 180000
		ExecInitRangeTable(estate, list_make1(rte), list_make1(perm), bms_make_singleton(1));
#else
		ExecInitRangeTable(estate, list_make1(rte), list_make1(perm));
#endif
	}
#else
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(estate, list_make1(rte));
#endif
	ExecInitResultRelation(estate, rri, 1);
	ExecOpenIndices(rri, false);
	return rri;
}

/*
 * The rows straight into the log (single node), the way COPY FROM writes:
 * heap_multi_insert a thousand at a time (a WAL record and a buffer lock per
 * page, not per row), then their index entries; each row's constraints
 * checked first, ids from the log's sequence.  False, having written
 * nothing, when the log is not the plain table this takes
 * (LogTakesMultiInsert): the INSERT of InsertLogRows writes them then.
 */
static bool
MultiInsertLogRows(LogBuffer *rows)
{
	Oid			relid = ActionLogRelid();
	Oid			seq = get_relname_relid("action_log_log_id_seq", get_namespace_oid("customercard", false));
	Relation	rel;
	int			attmap[LOG_COLUMNS];
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	BulkInsertState bistate;
	CommandId	cid;
	Datum	   *columns[LOG_COLUMNS];

	if (!OidIsValid(relid) || !OidIsValid(seq))
		return false;
	rel = table_open(relid, RowExclusiveLock);
	if (!LogTakesMultiInsert(rel, attmap))
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	table_close(rel, NoLock);	/* (the executor state holds it from here) */

	columns[0] = rows->account;
	columns[2] = rows->contact;
	columns[3] = rows->event;
	columns[4] = rows->actor;
	columns[5] = rows->at;
	columns[6] = rows->details;

	/* the rows are a new command's, as an INSERT through SPI made them */
	CommandCounterIncrement();
	cid = GetCurrentCommandId(true);
	estate = CreateExecutorState();
	rri = LogResultRelation(estate, relid);
	rel = rri->ri_RelationDesc;
	bistate = GetBulkInsertState();
	slots = palloc(sizeof(TupleTableSlot *) * Min(rows->n, MULTI_INSERT_AT));
	for (int i = 0; i < Min(rows->n, MULTI_INSERT_AT); i++)
		slots[i] = table_slot_create(rel, &estate->es_tupleTable);

	for (int done = 0; done < rows->n;)
	{
		int			n = Min(rows->n - done, MULTI_INSERT_AT);
		MemoryContext old;

		for (int i = 0; i < n; i++)
		{
			TupleTableSlot *slot = slots[i];

			ExecClearTuple(slot);
			memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
			for (int c = 0; c < (int) LOG_COLUMNS; c++)
			{
				slot->tts_values[attmap[c]] = c == 1 ? Int64GetDatum(nextval_internal(seq, false)) : columns[c][done + i];
				slot->tts_isnull[attmap[c]] = false;
			}
			ExecStoreVirtualTuple(slot);
			if (rel->rd_att->constr)
				ExecConstraints(rri, slot, estate);
		}
		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		table_multi_insert(rel, slots, n, cid, 0, bistate);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < n; i++)
		{
			if (rri->ri_NumIndices > 0)
				list_free(ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL
#if PG_VERSION_NUM >= 160000
												, false
#endif
												));
			ExecClearTuple(slots[i]);
		}
		ResetPerTupleExprContext(estate);
		done += n;
	}

	FreeBulkInsertState(bistate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
	pfree(slots);
	return true;
}

/* Write the buffered rows with one INSERT through SPI (one per account on Citus) */
static void
FlushActionLog(void)
{
	LogBuffer	rows;
	Oid			save_userid;
	int			save_sec_context;

	int			floor = FlushFloor();
	int			n = buffer.n - floor;

	if (flushing || n <= 0)
		return;
	/* take the tail [floor, n) out of the buffer; the rows below stay */
	rows = buffer;
	rows.account += floor;
	rows.contact += floor;
	rows.event += floor;
	rows.actor += floor;
	rows.at += floor;
	rows.details += floor;
	rows.n = n;
	rows.cxt = NULL;
	buffer.n = floor;
	flushing = true;
	/*
	 * Written as the extension's owner: roles get no INSERT on the log, so
	 * nobody forges entries; the rows' accounts come from rows that passed
	 * row-level security, or from log_event()'s checked account.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(CustomercardExtensionOwner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (!CustomercardDistributed())
		{
			if (rows.n < MULTI_INSERT_FROM || !MultiInsertLogRows(&rows))
				InsertLogRows(&rows, 0);
		}
		else
		{
			/*
			 * On Citus each account's rows go to its own shard of the log,
			 * the one colocated with the rows that were changed (citus.c)
			 */
			LogBuffer	part = rows;
			int			done = 0;

			part.account = palloc(sizeof(Datum) * rows.n);
			part.contact = palloc(sizeof(Datum) * rows.n);
			part.event = palloc(sizeof(Datum) * rows.n);
			part.actor = palloc(sizeof(Datum) * rows.n);
			part.at = palloc(sizeof(Datum) * rows.n);
			part.details = palloc(sizeof(Datum) * rows.n);
			while (done < rows.n)
			{
				int64		account = 0;
				bool		first = true;

				part.n = 0;
				for (int i = 0; i < rows.n; i++)
				{
					/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): rows.n > 0, so the arrays are there */
					if (rows.account[i] == (Datum) 0)
						continue;	/* taken */
					if (first)
						account = DatumGetInt64(rows.account[i]), first = false;
					if (DatumGetInt64(rows.account[i]) != account)
						continue;
					part.account[part.n] = rows.account[i];
					part.contact[part.n] = rows.contact[i];
					part.event[part.n] = rows.event[i];
					part.actor[part.n] = rows.actor[i];
					part.at[part.n] = rows.at[i];
					part.details[part.n] = rows.details[i];
					part.n++;
					rows.account[i] = (Datum) 0;
				}
				InsertLogRows(&part, account);
				done += part.n;
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
		flushing = false;
		/* reclaim the memory once nothing is left */
		if (buffer.n == 0 && buffer.cxt != NULL)
		{
			MemoryContextDelete(buffer.cxt);
			ForgetBuffer();
		}
	}
	PG_END_TRY();
}

/*
 * the OID of customercard.action_log, InvalidOid before the extension is
 * created
 */
static Oid
ActionLogRelid(void)
{
	Oid			nsp = get_namespace_oid("customercard", true);

	return OidIsValid(nsp) ? get_relname_relid("action_log", nsp) : InvalidOid;
}

/* does the statement read the log (its range table names action_log)? */
static bool
ReadsActionLog(QueryDesc *queryDesc)
{
	ListCell   *lc;
	Oid			log = ActionLogRelid();

	if (!OidIsValid(log))
		return false;
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && rte->relid == log)
			return true;
	}
	return false;
}

/*
 * Rows left by a COPY or by the statement that loaded us are written before
 * the next statement; and before a nested statement that reads the log.
 * Any other nested statement -- a SQL function of an index expression runs
 * one per row -- leaves the buffer alone: flushing there wrote the outer
 * statement's rows one INSERT each.
 */
static void
LogExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (buffer.n > 0 && ActiveSnapshotSet() && (exec_nesting == 0 || ReadsActionLog(queryDesc)))
		FlushActionLog();
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * counts the executor's nesting, so that a flush waits for the outermost
 * statement
 */
static void
LogExecutorRun(EXECUTOR_RUN_ARGS)
{
	exec_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			EXECUTOR_RUN_CALL(prev_ExecutorRun);
		else
			EXECUTOR_RUN_CALL(standard_ExecutorRun);
	}
	PG_FINALLY();
	{
		exec_nesting--;
	}
	PG_END_TRY();
}

/* the same for ExecutorFinish, where AFTER triggers fire */
static void
LogExecutorFinish(QueryDesc *queryDesc)
{
	exec_nesting++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		exec_nesting--;
	}
	PG_END_TRY();
	/*
	 * The statement's AFTER row triggers have fired: write what they queued
	 * -- at the end of a top-level statement, or of a nested one that
	 * changed rows (a function's UPDATE, so that its next statement reads
	 * the rows); a nested SELECT leaves them to the statement around it.
	 * A SELECT portal finishes at portal cleanup, without a snapshot; rows
	 * it queued (only log_event writes at once anyway) wait for the next
	 * statement or the commit.
	 */
	if (ActiveSnapshotSet() &&
		(exec_nesting == 0 || queryDesc->operation != CMD_SELECT || queryDesc->plannedstmt->hasModifyingCTE))
		FlushActionLog();
}

/* after a utility statement (COPY above all): write what its triggers queued */
static void
LogProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				  ProcessUtilityContext context, ParamListInfo params,
				  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	if (buffer.n > 0 && ActiveSnapshotSet() && IsTransactionState())
		FlushActionLog();
}

/*
 * at commit the buffered rows are written (in the transaction); at its end,
 * forgotten
 */
static void
LogXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (buffer.n > 0)
			{
				PushActiveSnapshot(GetTransactionSnapshot());
				FlushActionLog();
				PopActiveSnapshot();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			ForgetBuffer();
			flushing = false;
			nsublevels = 0;
			break;
	}
}

/* a rolled back subtransaction takes back the rows it buffered */
static void
LogSubXactCallback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_START_SUB:
			if (nsublevels == maxsublevels)
			{
				maxsublevels = maxsublevels ? maxsublevels * 2 : 16;
				sublevels = sublevels ? repalloc(sublevels, maxsublevels * sizeof(SubLevel))
					: MemoryContextAlloc(TopMemoryContext, maxsublevels * sizeof(SubLevel));
			}
			sublevels[nsublevels].subid = mySubid;
			sublevels[nsublevels].buffered = buffer.n;
			nsublevels++;
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			/* drop the rows of the failed subtransaction, keep the ones before it */
			while (nsublevels > 0)
			{
				SubLevel   *top = &sublevels[--nsublevels];

				if (top->subid == mySubid)
				{
					if (buffer.n > top->buffered)
						buffer.n = top->buffered;
					break;
				}
			}
			flushing = false;
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			if (nsublevels > 0 && sublevels[nsublevels - 1].subid == mySubid)
				nsublevels--;
			break;
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			break;
	}
}

/* installs the executor and utility hooks (from _PG_init) */
void
ActionLogInit(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = LogExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = LogExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = LogExecutorFinish;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = LogProcessUtility;
	RegisterXactCallback(LogXactCallback, NULL);
	RegisterSubXactCallback(LogSubXactCallback, NULL);
}

PG_FUNCTION_INFO_V1(is_log_event);

/*
 * customercard.is_log_event(text): the CHECK of action_log.event, cheap to
 * set up per statement: a kind of the extension's, or one an account may
 * register (log_event checks that it is registered)
 */
Datum
is_log_event(PG_FUNCTION_ARGS)
{
	char	   *event = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(ActionLogEventIsKnown(event) || ActionLogIsRegistrableKind(event));
}


/* details || '{"via": "log_event"}': a reader tells an outside event from the extension's own */
static Jsonb *
MarkOutside(Jsonb *details)
{
	Datum		mark = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"via\": \"log_event\"}"));

	if (details == NULL)
		return DatumGetJsonbP(mark);
	/* || keeps the right side's value of a key both have */
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(details), mark));
}

/*
 * Write an outside event on a contact of account (the current one): a kind
 * log_event may write, details a JSON object or NULL; a merged contact's id
 * logs on its survivor.
 */
static void
LogOutsideEvent(int64 account, int64 contact_id, const char *event, Jsonb *details)
{
	int64		resolved;

	if (ActionLogIsRegistrableKind(event))
	{
		if (!EventKindIsRegistered(account, event))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event kind \"%s\" is not registered in account " INT64_FORMAT, event, account),
					 errhint("An admin of the account registers it: SELECT customercard.register_event_kind('%s', 'what it means').", event)));
	}
	else if (!ActionLogEventIsKnown(event))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown action log event \"%s\"", event),
				 errhint("log_event records events from outside the database: %s.", OutsideEventList())));
	else if (!IsOutsideEvent(event))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("event \"%s\" is written by customercard itself, not through log_event", event),
				 errhint("log_event records events from outside the database: %s.", OutsideEventList())));
	if (details != NULL && !JB_ROOT_IS_OBJECT(details))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log_event details must be a JSON object"),
				 errhint("Pass something like '{\"crm\": \"amoCRM\", \"deal_id\": 42}'.")));
	if (details != NULL && VARSIZE_ANY_EXHDR(details) > (Size) customercard_log_event_max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("log_event details of %zu bytes are more than customercard.log_event_max_bytes (%d)",
						(Size) VARSIZE_ANY_EXHDR(details), customercard_log_event_max_bytes),
				 errdetail("Nothing was logged: the log keeps every row for good."),
				 errhint("Log a short summary and a reference to where the document is kept.")));
	details = MarkOutside(details);

	/* a merged contact's events go to its survivor; an unknown id is an error */
	{
		Oid			argtype = INT8OID;
		Datum		arg = Int64GetDatum(contact_id);
		bool		isnull;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT customercard.resolve_contact($1)", 1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not resolve contact " INT64_FORMAT, contact_id);
		resolved = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
	}
	ActionLogAppend(account, resolved, event, details);
	FlushActionLog();
}

#define LOG_EVENT_NULLS_HINT "Call customercard.log_event(contact_id, 'crm_exported', '{\"crm\": \"amoCRM\"}')."

/*
 * customercard.log_event_in(acct bigint, contact_id bigint, event text, details jsonb)
 * The work of log_event(contact_id, event, details) in account acct, which
 * must be the current account.  On Citus a distributed function by acct
 * (distribute_on_citus()): it runs on the account's node, in the connection
 * that already holds the transaction's writes there, so log_event may
 * follow other writes in one transaction.
 */
PG_FUNCTION_INFO_V1(log_event_in);

/* log_event's work in an account (delegated to the account's node on Citus) */
Datum
log_event_in(PG_FUNCTION_ARGS)
{
	int64		account = CustomercardCurrentAccount(true);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("log_event needs a contact id and an event"),
				 errhint(LOG_EVENT_NULLS_HINT)));
	if (PG_ARGISNULL(0) || PG_GETARG_INT64(0) != account)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("account %s is not the account this session acts in",
						PG_ARGISNULL(0) ? "NULL" : psprintf(INT64_FORMAT, PG_GETARG_INT64(0))),
				 errhint("Call customercard.log_event(contact_id, event, details).")));
	CustomercardAssertAccountHere(account, "log_event");
	LogOutsideEvent(account, PG_GETARG_INT64(1), text_to_cstring(PG_GETARG_TEXT_PP(2)),
					PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	PG_RETURN_VOID();
}

/*
 * customercard.log_event(contact_id, event, details) as 0.1 declared it, in
 * C: kept so that the 0.1 install script loads with this library (0.2's
 * log_event calls log_event_in).
 */
PG_FUNCTION_INFO_V1(log_event);

/*
 * SQL log_event(contact_id, event, details): an event that happened outside
 * the database
 */
Datum
log_event(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("log_event needs a contact id and an event"),
				 errhint(LOG_EVENT_NULLS_HINT)));
	LogOutsideEvent(CustomercardCurrentAccount(true), PG_GETARG_INT64(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
					PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	PG_RETURN_VOID();
}
