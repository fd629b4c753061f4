/*-------------------------------------------------------------------------
 *
 * import.c
 *	  Importing contacts: import_json (a JSON array of objects: PostgreSQL's
 *	  parser finds them, each parsed with
 *	  cJSON), import_csv (RFC 4180, with a header row) and import_xlsx (the
 *	  first sheet of a workbook, xlsx_read.c, with a header row).
 *
 * Both parse the whole input before anything is written, so a malformed
 * file changes nothing.  Then the rows are written IMPORT_SET_ROWS at a
 * time by customercard.import_set (47_import_export.sql): a statement per
 * section for the rows it can take at once, the others through
 * upsert_contact's path, each row as it would be written alone in line
 * order.  A row that is refused (bad phone, unknown funnel, ...) is
 * reported with its line and the reason, the others stay.  With
 * all_or_nothing, any refused row fails the whole import instead.  Errors
 * that are not about a row's data (privileges, cancel, out of memory) end
 * the import as usual.  The SQL of 0.1 and 0.2 (before ALTER EXTENSION ...
 * UPDATE) and a Citus cluster write each row through upsert_contact's path
 * in its own subtransaction, as does a set that import_set refuses as a
 * whole.
 *
 * cJSON allocates through palloc (cJSON_InitHooks), so an error anywhere
 * cannot leak its memory: it lives in the function's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cjson/cJSON.h>

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "csv_parse.h"
#include "customercard.h"
#include "xlsx_read.h"

/* cJSON's allocations in palloc'd memory, freed with the call's context */
static void *
CjsonAlloc(size_t size)
{
	return palloc(size);
}

static void
CjsonFree(void *p)
{
	if (p != NULL)
		pfree(p);
}

/* cJSON allocates with palloc from here on (set before every parse) */
static void
UseCjsonWithPalloc(void)
{
	cJSON_Hooks hooks = {CjsonAlloc, CjsonFree};

	cJSON_InitHooks(&hooks);
}

typedef struct ImportState
{
	ReturnSetInfo *rsinfo;
	bool		all_or_nothing;
	int			rejected;
	StringInfoData first_rejection;
	char	   *settings;		/* the file's settings, checked (import_check_settings) */
	bool		collect;		/* import_rows: give each row's object instead of importing it */
	bool		legacy;			/* called by 0.1's SQL (no settings argument): rows through upsert_contact_ex */
	bool		by_set;			/* import_set is there (0.3's SQL) and the schema is not distributed */
	/* the rows read and not written yet, in line order (json NULL: rejected for reason) */
	MemoryContext pending_cxt;
	int			npending;
	int			nwrite;			/* of them, rows to write */
	int			maxpending;
	struct PendingRow *pending;
} ImportState;

typedef struct PendingRow
{
	int			line;
	char	   *json;
	char	   *reason;
} PendingRow;

/* rows written by one import_set call: bounded memory, few statements a row */
#define IMPORT_SET_ROWS 5000

/* a refused row is one whose data is wrong, not one the server gave up on */
static bool
RowError(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION ||
		class == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		sqlerrcode == ERRCODE_UNDEFINED_OBJECT;
}

/*
 * In a PG_CATCH of a subtransaction begun in cxt under owner: the error
 * copied, the subtransaction rolled back; an error that is not about a
 * row's data is thrown on.
 */
static ErrorData *
RolledBackRowError(MemoryContext cxt, ResourceOwner owner)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	if (!RowError(edata->sqlerrcode))
		ReThrowError(edata);
	return edata;
}

/* one row of the import's report (line, status, contact, reason) */
static void
EmitRow(ImportState *st, int line, const char *status, int64 contact_id, const char *reason)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, contact_id == 0, reason == NULL};

	values[0] = Int32GetDatum(line);
	values[1] = CStringGetTextDatum(status);
	values[2] = Int64GetDatum(contact_id);
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
	pfree(DatumGetPointer(values[1]));
	if (reason)
		pfree(DatumGetPointer(values[3]));
}

/* import_rows' row: (line, the contact's object, or why there is none) */
static void
EmitCollected(ImportState *st, int line, const char *json, const char *reason)
{
	Datum		values[3];
	bool		nulls[3] = {false, json == NULL, reason == NULL};

	values[0] = Int32GetDatum(line);
	values[1] = json ? DirectFunctionCall1(jsonb_in, CStringGetDatum(json)) : (Datum) 0;
	values[2] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
	if (json)
		pfree(DatumGetPointer(values[1]));
	if (reason)
		pfree(DatumGetPointer(values[2]));
}

/* a rejected line: reported, and counted for all_or_nothing */
static void
Rejected(ImportState *st, int line, const char *reason)
{
	if (st->rejected++ == 0)
		appendStringInfo(&st->first_rejection, "line %d: %s", line, reason);
	EmitRow(st, line, "rejected", 0, reason);
}

static void FlushRows(ImportState *st);

/* a row read: kept for the next set (json NULL: a line rejected for reason) */
static void
Pend(ImportState *st, int line, const char *json, const char *reason)
{
	MemoryContext old;
	PendingRow *r;

	if (st->pending_cxt == NULL)
		st->pending_cxt = AllocSetContextCreate(CurrentMemoryContext, "customercard import rows", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(st->pending_cxt);
	if (st->npending == st->maxpending)
	{
		st->maxpending = st->maxpending ? st->maxpending * 2 : 256;
		st->pending = st->pending ? repalloc(st->pending, sizeof(PendingRow) * st->maxpending)
			: palloc(sizeof(PendingRow) * st->maxpending);
	}
	r = &st->pending[st->npending++];
	r->line = line;
	r->json = json ? pstrdup(json) : NULL;
	r->reason = reason ? pstrdup(reason) : NULL;
	MemoryContextSwitchTo(old);
	if (json && ++st->nwrite >= IMPORT_SET_ROWS)
		FlushRows(st);
}

/* a line that is no row (import_rows: given back with why) */
static void
Reject(ImportState *st, int line, const char *reason)
{
	if (st->collect)
		EmitCollected(st, line, NULL, reason);
	else
		Pend(st, line, NULL, reason);
}

/* one contact (a JSON object's text) to import (or, collecting, given back) */
static void
ImportRow(ImportState *st, int line, const char *json)
{
	if (st->collect)
		EmitCollected(st, line, json, NULL);
	else
		Pend(st, line, json, NULL);
}

static void ImportRowNow(ImportState *st, int line, const char *json, MemoryContext cxt);

/*
 * one row through upsert_contact in a subtransaction: a bad row is rejected,
 * the others go on
 */
static void
ImportRowNow(ImportState *st, int line, const char *json, MemoryContext cxt)
{
	ResourceOwner owner = CurrentResourceOwner;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2] = {CStringGetTextDatum(json), CStringGetTextDatum(st->settings)};

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		bool		isnull;
		int64		id;
		bool		created;

		if (SPI_execute_with_args(st->legacy
								  ? "SELECT r.upserted_id, r.created FROM customercard.upsert_contact_ex($1::jsonb) r"
								  : "SELECT r.upserted_id, r.created FROM customercard.import_upsert($1::jsonb, $2::jsonb) r",
								  st->legacy ? 1 : 2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "import_upsert returned no row");
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		created = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		SPI_freetuptable(SPI_tuptable);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		EmitRow(st, line, created ? "created" : "updated", id, NULL);
	}
	PG_CATCH();
	{
		Rejected(st, line, RolledBackRowError(cxt, owner)->message);
	}
	PG_END_TRY();
}

/*
 * The pending rows through import_set in a subtransaction; false when it
 * refused the set as a whole for a row's data (nothing of it is written).
 */
static bool
WriteSet(ImportState *st)
{
	MemoryContext cxt = st->pending_cxt;	/* reset after the set */
	MemoryContext caller = MemoryContextSwitchTo(cxt);
	ResourceOwner owner = CurrentResourceOwner;
	Datum	   *lines = palloc(sizeof(Datum) * st->nwrite);
	Datum	   *jsons = palloc(sizeof(Datum) * st->nwrite);
	int			n = 0;
	Oid			argtypes[3] = {TEXTOID, INT4ARRAYOID, TEXTARRAYOID};
	Datum		args[3];
	int64	   *ids = palloc(sizeof(int64) * st->nwrite);
	char	  **status = palloc(sizeof(char *) * st->nwrite);
	char	  **reasons = palloc(sizeof(char *) * st->nwrite);
	bool		ok = true;

	for (int i = 0; i < st->npending; i++)
		if (st->pending[i].json)
		{
			lines[n] = Int32GetDatum(st->pending[i].line);
			jsons[n] = CStringGetTextDatum(st->pending[i].json);
			n++;
		}
	args[0] = CStringGetTextDatum(st->settings);
	args[1] = PointerGetDatum(construct_array(lines, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(jsons, n, TEXTOID, -1, false, TYPALIGN_INT));

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT r.status, r.contact_id, r.reason "
								  "FROM customercard.import_set($1::pg_catalog.jsonb, $2, $3::pg_catalog.jsonb[]) r",
								  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != (uint64) n)
			elog(ERROR, "import_set did not give a row per line");
		for (int i = 0; i < n; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		id;
			char	   *reason;

			status[i] = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 1));
			id = SPI_getbinval(tup, desc, 2, &isnull);
			ids[i] = isnull ? 0 : DatumGetInt64(id);
			reason = SPI_getvalue(tup, desc, 3);
			reasons[i] = reason ? MemoryContextStrdup(cxt, reason) : NULL;
		}
		SPI_freetuptable(SPI_tuptable);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		(void) RolledBackRowError(cxt, owner);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	if (!ok)
		return false;

	/* the report in line order, with the lines that are no row among them */
	for (int i = 0, k = 0; i < st->npending; i++)
	{
		PendingRow *r = &st->pending[i];

		if (r->json == NULL)
			Rejected(st, r->line, r->reason);
		else
		{
			if (strcmp(status[k], "rejected") == 0)
				Rejected(st, r->line, reasons[k] ? reasons[k] : "rejected");
			else
				EmitRow(st, r->line, status[k], ids[k], NULL);
			k++;
		}
	}
	return true;
}

/* the pending rows written and reported */
static void
FlushRows(ImportState *st)
{
	if (st->npending == 0)
		return;
	if (!st->by_set || st->nwrite == 0 || !WriteSet(st))
	{
		MemoryContext caller = CurrentMemoryContext;
		MemoryContext row = AllocSetContextCreate(st->pending_cxt, "customercard import row", ALLOCSET_DEFAULT_SIZES);

		for (int i = 0; i < st->npending; i++)
		{
			PendingRow *r = &st->pending[i];

			CHECK_FOR_INTERRUPTS();
			MemoryContextSwitchTo(row);
			if (r->json == NULL)
				Rejected(st, r->line, r->reason);
			else
				ImportRowNow(st, r->line, r->json, row);
			MemoryContextSwitchTo(caller);
			MemoryContextReset(row);
		}
	}
	st->npending = st->nwrite = st->maxpending = 0;
	st->pending = NULL;
	MemoryContextReset(st->pending_cxt);
}

/* all_or_nothing with a rejected row: the error that undoes the whole import */
static void
Finish(ImportState *st)
{
	if (st->all_or_nothing && st->rejected > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%d row(s) of the import were refused; nothing was imported", st->rejected),
				 errdetail("The first: %s", st->first_rejection.data),
				 errhint("Fix those rows, or import with all_or_nothing => false to keep the good rows and get a report.")));
}

/*
 * Connect to SPI and check the file's settings (the third argument), before
 * any row is read: bad settings are an error that imports nothing.
 */
static void
ConnectAndCheckSettings(ImportState *st, FunctionCallInfo fcinfo)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];
	char		nulls[1] = {' '};
	MemoryContext outer = CurrentMemoryContext;
	char	   *checked;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (st->collect || st->legacy)
		return;					/* import_enqueue checks them; 0.1's SQL has none */
	/* 0.2's SQL (until ALTER EXTENSION ... UPDATE) has no import_set; Citus writes row by row */
	if (SPI_execute("SELECT 1 WHERE pg_catalog.to_regprocedure("
					"'customercard.import_set(pg_catalog.jsonb, integer[], pg_catalog.jsonb[])') IS NOT NULL",
					true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up import_set");
	st->by_set = SPI_processed == 1 && !CustomercardDistributed();
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		args[0] = PG_GETARG_DATUM(2);
	else
		nulls[0] = 'n';			/* import_check_settings reads NULL as {} */
	if (SPI_execute_with_args("SELECT customercard.import_check_settings(customercard.require_account_id(), $1)::text",
							  1, argtypes, args, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "import_check_settings returned no row");
	checked = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	st->settings = MemoryContextStrdup(outer, checked ? checked : "{}");
}

/* the report's tuplestore, the settings checked, the account fixed */
static void
StartImport(ImportState *st, FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, 0);
	st->rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st->all_or_nothing = PG_NARGS() > 1 && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	st->rejected = 0;
	st->settings = "{}";
	st->collect = false;
	st->by_set = false;
	st->pending_cxt = NULL;
	st->npending = st->nwrite = st->maxpending = 0;
	st->pending = NULL;
	/* 0.1's import_json and import_csv, until ALTER EXTENSION ... UPDATE */
	st->legacy = PG_NARGS() < 3;
	initStringInfo(&st->first_rejection);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("nothing to import"),
				 errhint("Pass the file's text.")));
}

static void ImportJson(ImportState *st, FunctionCallInfo fcinfo, char *s, int len);
static void ImportCsv(ImportState *st, FunctionCallInfo fcinfo, const char *s, int len);
static void ImportXlsx(ImportState *st, FunctionCallInfo fcinfo, const char *data, size_t len);

PG_FUNCTION_INFO_V1(import_json);

/*
 * customercard.import_json(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
 * RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
 * line = the object's position in the array, from 1.
 */
Datum
import_json(PG_FUNCTION_ARGS)
{
	ImportState st;
	text	   *data;

	StartImport(&st, fcinfo);
	data = PG_GETARG_TEXT_PP(0);
	ImportJson(&st, fcinfo, text_to_cstring(data), VARSIZE_ANY_EXHDR(data));
	return (Datum) 0;
}

/* a malformed JSON document, at (within s[0..len), else its start); detail may be NULL */
static void
JsonMalformed(const char *s, int len, const char *at, const char *detail)
{
	int			offset = (at && at >= s && at <= s + len) ? (int) (at - s) : 0;
	int			lineno = 1;

	for (int i = 0; i < offset; i++)
		if (s[i] == '\n')
			lineno++;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("the JSON is malformed at character %d (text line %d)",
					pg_mbstrlen_with_len(s, offset) + 1, lineno),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("Nothing was imported. Fix the file and import it again.")));
}

/*
 * The top-level elements of a JSON document, as PostgreSQL's own parser
 * (the one jsonb's input uses, escapes checked) finds them: what jsonb
 * refuses is refused, at the token where it fails -- cJSON alone accepts
 * [-01], [2.], [.5], raw control characters in strings, bad \u escapes
 * and a form feed as whitespace.  Linear in the input, interruptible at
 * every object, array and element; nesting is bounded by the stack depth
 * check, as for jsonb.
 */
typedef struct JsonElements
{
	JsonLexContext *lex;
	const char *base;
	int			depth;
	bool		array;			/* the document is an array */
	int			n;
	int			cap;
	int		   *start;			/* each element of the array: its offsets */
	int		   *end;
} JsonElements;

static JSON_ACTION_RESULT
JsonArrayStart(void *state)
{
	JsonElements *e = state;

	CHECK_FOR_INTERRUPTS();
	if (e->depth++ == 0)
		e->array = true;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
JsonObjectStart(void *state)
{
	JsonElements *e = state;

	CHECK_FOR_INTERRUPTS();
	e->depth++;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
JsonNestEnd(void *state)
{
	JsonElements *e = state;

	e->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
JsonElementStart(void *state, bool isnull)
{
	JsonElements *e = state;

	CHECK_FOR_INTERRUPTS();
	if (e->depth != 1)
		JSON_ACTION_DONE;
	if (e->n == e->cap)
	{
		e->cap = e->cap ? e->cap * 2 : 1024;
		e->start = e->start ? repalloc(e->start, sizeof(int) * e->cap) : palloc(sizeof(int) * e->cap);
		e->end = e->end ? repalloc(e->end, sizeof(int) * e->cap) : palloc(sizeof(int) * e->cap);
	}
	e->start[e->n] = (int) (e->lex->token_start - e->base);
	JSON_ACTION_DONE;
}

static JSON_ACTION_RESULT
JsonElementEnd(void *state, bool isnull)
{
	JsonElements *e = state;

	if (e->depth == 1)
		e->end[e->n++] = (int) (e->lex->prev_token_terminator - e->base);
	JSON_ACTION_DONE;
}

/* the elements of the document s[0..len); a document jsonb refuses is an error */
static void
ReadJsonElements(char *s, int len, JsonElements *e)
{
	JsonSemAction sem;
	JsonParseErrorType error;

	memset(e, 0, sizeof(*e));
	memset(&sem, 0, sizeof(sem));
	e->lex = JsonLexerFor(s, len);
	e->base = s;
	sem.semstate = e;
	sem.array_start = JsonArrayStart;
	sem.array_end = JsonNestEnd;
	sem.object_start = JsonObjectStart;
	sem.object_end = JsonNestEnd;
	sem.array_element_start = JsonElementStart;
	sem.array_element_end = JsonElementEnd;
	error = pg_parse_json(e->lex, &sem);
	if (error != JSON_SUCCESS)
		JsonMalformed(s, len, e->lex->token_start ? e->lex->token_start : s + len, json_errdetail(error, e->lex));
}

/*
 * a JSON array of contact objects, s[0..len) NUL-terminated: each object
 * goes to upsert_contact as cJSON prints it (parsed one at a time)
 */
static void
ImportJson(ImportState *st, FunctionCallInfo fcinfo, char *s, int len)
{
	JsonElements e;

	/* a byte order mark before the document is the file's, as with CSV */
	if (len >= 3 && (unsigned char) s[0] == 0xEF && (unsigned char) s[1] == 0xBB && (unsigned char) s[2] == 0xBF)
	{
		s += 3;
		len -= 3;
	}
	ReadJsonElements(s, len, &e);
	if (!e.array)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the JSON must be an array of contact objects"),
				 errhint("Nothing was imported. Wrap the objects in [ ... ].")));

	ConnectAndCheckSettings(st, fcinfo);
	UseCjsonWithPalloc();
	for (int i = 0; i < e.n; i++)
	{
		int			line = i + 1;
		cJSON	   *item;
		char	   *json;

		CHECK_FOR_INTERRUPTS();
		if (s[e.start[i]] != '{')
		{
			Reject(st, line, "not a JSON object");
			continue;
		}
		item = cJSON_ParseWithLength(s + e.start[i], e.end[i] - e.start[i]);
		if (item == NULL)		/* (valid JSON deeper than cJSON nests) */
			JsonMalformed(s, len, s + e.start[i], "The object nests deeper than an import reads.");
		json = cJSON_PrintUnformatted(item);
		if (json == NULL)
			elog(ERROR, "could not print a JSON object");
		cJSON_Delete(item);
		ImportRow(st, line, json);
		pfree(json);
	}
	FlushRows(st);
	SPI_finish();
	Finish(st);
}

/* ---------------------------------------------------------------- CSV */

typedef struct CsvRecord
{
	int			line;			/* the text line the record starts on */
	List	   *fields;			/* char * */
} CsvRecord;

/* a table's columns: the key of the contact data each header cell names */
typedef struct TableColumns
{
	const char *what;
	int			ncolumns;
	char	  **columns;
} TableColumns;

/*
 * import_csv reads the text twice: first only counting each record's
 * fields (a malformed or ragged file is refused before anything is
 * written), then importing each record as it is read, so only a set of
 * rows is held at a time.
 */
typedef struct CsvCount
{
	int			records;
	int			header;			/* the header's fields */
	int			fields;			/* the current record's */
} CsvCount;

typedef struct CsvCollect
{
	ImportState *st;
	FunctionCallInfo fcinfo;
	MemoryContext record_cxt;	/* the current record's fields, reset after it */
	CsvRecord  *current;
	bool		have_header;
	TableColumns columns;
} CsvCollect;

static void TableHeader(ImportState *st, FunctionCallInfo fcinfo, CsvRecord *head, const char *what, TableColumns *t);
static void TableRow(ImportState *st, TableColumns *t, CsvRecord *rec);

/* csv_parse callbacks of the first reading */
static void
CountField(void *arg, const char *text, size_t len, int line)
{
	CHECK_FOR_INTERRUPTS();
	((CsvCount *) arg)->fields++;
}

static void
CountRecord(void *arg, int line)
{
	CsvCount   *c = arg;

	if (c->records++ == 0)
		c->header = c->fields;
	else if (c->fields != c->header)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("CSV line %d has %d fields, the header %d", line, c->fields, c->header),
				 errhint("Nothing was imported. Quote fields that hold the separator.")));
	c->fields = 0;
}

/*
 * csv_parse callback: a field of the current record.  A cell that an
 * export neutralised against formula injection -- a ' before apostrophes
 * and then =, +, -, @, a tab or a carriage return (csv_field) -- is read
 * as it was before, without that one '.
 */
static void
CollectField(void *arg, const char *text, size_t len, int line)
{
	CsvCollect *c = arg;
	size_t		quotes = 0;
	MemoryContext old;

	/* (the reader holds nothing to free: a cancel may leave it here) */
	CHECK_FOR_INTERRUPTS();

	while (quotes < len && text[quotes] == '\'')
		quotes++;
	if (quotes > 0 && quotes < len && strchr("=+-@\t\r", text[quotes]) != NULL)
	{
		text++;
		len--;
	}
	old = MemoryContextSwitchTo(c->record_cxt);
	if (c->current == NULL)
	{
		c->current = palloc0(sizeof(CsvRecord));
		c->current->line = line;
	}
	c->current->fields = lappend(c->current->fields, pnstrdup(text, len));
	MemoryContextSwitchTo(old);
}

/* csv_parse callback: the record is complete -- the header, or a row imported */
static void
CollectRecord(void *arg, int line)
{
	CsvCollect *c = arg;

	if (!c->have_header)
	{
		TableHeader(c->st, c->fcinfo, c->current, "CSV", &c->columns);
		c->have_header = true;
	}
	else
		TableRow(c->st, &c->columns, c->current);
	c->current = NULL;
	MemoryContextReset(c->record_cxt);
}

/* a CSV text read through csv_parse.c's callbacks; a malformed file is an error naming its line */
static void
ParseCsv(const char *s, int len, const CsvCallbacks *cb)
{
	char	   *scratch = palloc(len + 1);
	int			line = 0;

	switch (cc_parse_csv(s, len, scratch, cb, &line))
	{
		case CSV_OK:
			break;
		case CSV_UNCLOSED_QUOTE:
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("CSV line %d: a quoted field is never closed", line),
					 errhint("Nothing was imported. Close the quote, or double a quote inside a field (\"\").")));
			break;
		case CSV_TEXT_AFTER_QUOTE:
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("CSV line %d: text after a closing quote", line),
					 errhint("Nothing was imported. Quote the whole field, and double the quotes inside it.")));
			break;
		case CSV_QUOTE_IN_FIELD:
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("CSV line %d: a quote inside an unquoted field", line),
					 errhint("Nothing was imported. Quote the field and double the quote: \"say \"\"hi\"\"\".")));
			break;
	}
	pfree(scratch);
}

/* the CSV columns and the contact JSON keys they become */
static const char *const csv_scalar_columns[] = {
	"name", "first_name", "last_name", "middle_name", "nickname", "avatar_url", "gender", "timezone",
	"country", "city", "ip", "note", "status", "funnel", "lgt", "block", NULL
};

/*
 * a CSV column that maps to one key of the contact data (not a list, tag or
 * custom field)
 */
static bool
IsScalarColumn(const char *c)
{
	for (int i = 0; csv_scalar_columns[i]; i++)
		if (strcmp(c, csv_scalar_columns[i]) == 0)
			return true;
	return false;
}

/* a list cell ("a; b, c") split into a JSON array */
static void
AppendList(StringInfo json, const char *v)
{
	char	   *copy = pstrdup(v);
	char	   *tok;
	char	   *save;
	bool		first = true;

	appendStringInfoChar(json, '[');
	for (tok = strtok_r(copy, ";,", &save); tok; tok = strtok_r(NULL, ";,", &save))
	{
		char	   *t = tok;
		char	   *e;

		while (*t == ' ')
			t++;
		e = t + strlen(t);
		while (e > t && e[-1] == ' ')
			*--e = '\0';
		if (*t == '\0')
			continue;
		if (!first)
			appendStringInfoChar(json, ',');
		escape_json(json, t);
		first = false;
	}
	appendStringInfoChar(json, ']');
	pfree(copy);
}

/* a custom field of the current account by this name (SPI connected) */
static bool
IsCustomField(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};

	if (SPI_execute_with_args("SELECT 1 FROM customercard.custom_fields f "
							  "WHERE f.account_id = customercard.require_account_id() AND f.name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up custom fields");
	return SPI_processed > 0;
}

/*
 * A table's header row (the CSV and .xlsx imports' common part): the
 * settings checked, each column mapped to its key of the contact data.
 * what names the format in messages ("CSV", "sheet").
 */
static void
TableHeader(ImportState *st, FunctionCallInfo fcinfo, CsvRecord *head, const char *what, TableColumns *t)
{
	MemoryContext keep = CurrentMemoryContext;
	int			ncolumns = list_length(head->fields);
	char	  **columns = palloc(sizeof(char *) * ncolumns);

	ConnectAndCheckSettings(st, fcinfo);
	MemoryContextSwitchTo(keep);

	for (int i = 0; i < ncolumns; i++)
	{
		char	   *raw = pstrdup(list_nth(head->fields, i));
		char	   *c;

		/* trimmed; names compared in lower case, a custom field's name as written */
		while (*raw == ' ')
			raw++;
		for (char *e = raw + strlen(raw); e > raw && e[-1] == ' ';)
			*--e = '\0';
		c = str_tolower(raw, strlen(raw), DEFAULT_COLLATION_OID);
		if (strncmp(c, "custom:", 7) == 0 && raw[7] != '\0')
			columns[i] = psprintf("custom:%s", raw + 7);
		else if (strcmp(c, "phone") == 0 || strcmp(c, "phones") == 0)
			columns[i] = "phones";
		else if (strcmp(c, "email") == 0 || strcmp(c, "emails") == 0)
			columns[i] = "emails";
		else if (IsScalarColumn(c) || strcmp(c, "tags") == 0 ||
				 strcmp(c, "channel") == 0 || strcmp(c, "social_id") == 0 || strcmp(c, "connection") == 0)
			columns[i] = c;
		else if (strcmp(c, "contact_id") == 0 || strcmp(c, "created_at_utc") == 0)
			columns[i] = psprintf("ignored:%s", c);	/* an export's own columns: ids are not imported */
		else if (IsCustomField(raw))
			columns[i] = psprintf("custom:%s", raw);	/* an export's column of a custom field */
		else
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("%s column \"%s\" is not known", what, raw),
					 errhint("Nothing was imported. Columns: name, first_name, last_name, middle_name, nickname, avatar_url, gender, "
							 "timezone, country, city, ip, note, status, phone(s), email(s), tags, funnel, lgt, block, "
							 "channel with social_id (and connection), custom:<field name> or a custom field's name.")));
	}
	/* a column twice: sorted, neighbours (not every pair: a header may be long) */
	if (ncolumns > 1)
	{
		char	  **sorted = palloc(sizeof(char *) * ncolumns);

		memcpy(sorted, columns, sizeof(char *) * ncolumns);
		qsort(sorted, ncolumns, sizeof(char *), pg_qsort_strcmp);
		for (int i = 1; i < ncolumns; i++)
			if (strcmp(sorted[i - 1], sorted[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
						 errmsg("%s column \"%s\" appears twice", what, sorted[i]),
						 errhint("Nothing was imported. Keep one column of each name.")));
		pfree(sorted);
	}
	t->what = what;
	t->ncolumns = ncolumns;
	t->columns = columns;
}

/* a row of a table, under its header, to import */
static void
TableRow(ImportState *st, TableColumns *t, CsvRecord *rec)
{
	int			ncolumns = t->ncolumns;
	char	  **columns = t->columns;

	{
		StringInfoData json;
		StringInfoData custom;
		StringInfoData channel;
		bool		any = false;

		CHECK_FOR_INTERRUPTS();
		initStringInfo(&json);
		initStringInfo(&custom);
		initStringInfo(&channel);
		appendStringInfoChar(&json, '{');
		for (int i = 0; i < ncolumns; i++)
		{
			const char *v = list_nth(rec->fields, i);
			const char *c = columns[i];

			if (*v == '\0' || strncmp(c, "ignored:", 8) == 0)
				continue;		/* an empty cell says nothing */
			if (strncmp(c, "custom:", 7) == 0)
			{
				appendStringInfoString(&custom, custom.len ? "," : "");
				escape_json(&custom, c + 7);
				appendStringInfoChar(&custom, ':');
				escape_json(&custom, v);
				continue;
			}
			if (strcmp(c, "channel") == 0 || strcmp(c, "social_id") == 0 || strcmp(c, "connection") == 0)
			{
				appendStringInfoString(&channel, channel.len ? "," : "");
				escape_json(&channel, strcmp(c, "channel") == 0 ? "kind" : strcmp(c, "social_id") == 0 ? "external_id" : "connection");
				appendStringInfoChar(&channel, ':');
				escape_json(&channel, v);
				continue;
			}
			if (any)
				appendStringInfoChar(&json, ',');
			any = true;
			if (strcmp(c, "phones") == 0 || strcmp(c, "emails") == 0 || strcmp(c, "tags") == 0)
			{
				escape_json(&json, c);
				appendStringInfoChar(&json, ':');
				/* several phones or e-mails in one cell: separated by ; or , */
				AppendList(&json, v);
			}
			else
			{
				escape_json(&json, c);
				appendStringInfoChar(&json, ':');
				escape_json(&json, v);
			}
		}
		if (custom.len)
			appendStringInfo(&json, "%s\"custom\":{%s}", any ? "," : "", custom.data), any = true;
		if (channel.len)
			appendStringInfo(&json, "%s\"channel\":{%s}", any ? "," : "", channel.data), any = true;
		appendStringInfoChar(&json, '}');
		if (!any)
			Reject(st, rec->line, "the line is empty");
		else
			ImportRow(st, rec->line, json.data);
		pfree(json.data);
		pfree(custom.data);
		pfree(channel.data);
	}
}

/* the last rows written, the import's end */
static void
EndImport(ImportState *st)
{
	FlushRows(st);
	SPI_finish();
	Finish(st);
}

PG_FUNCTION_INFO_V1(import_csv);

/*
 * customercard.import_csv(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
 * RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
 * Columns: name, first_name, ..., status, phone(s), email(s), tags, funnel,
 * lgt, block, channel (a kind) with social_id (and connection), custom:<field>.
 */
Datum
import_csv(PG_FUNCTION_ARGS)
{
	ImportState st;
	text	   *data;

	StartImport(&st, fcinfo);
	data = PG_GETARG_TEXT_PP(0);
	ImportCsv(&st, fcinfo, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	return (Datum) 0;
}

/* import_csv and the CSV queue: the records read, then each imported */
static void
ImportCsv(ImportState *st, FunctionCallInfo fcinfo, const char *s, int len)
{
	CsvCount	count = {0, 0, 0};
	CsvCallbacks counting = {CountField, CountRecord, &count};
	CsvCollect	c;
	CsvCallbacks importing = {CollectField, CollectRecord, &c};

	ParseCsv(s, len, &counting);
	if (count.records == 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("the CSV is empty"),
				 errhint("The first line names the columns: name, phone, email, ...")));
	memset(&c, 0, sizeof(c));
	c.st = st;
	c.fcinfo = fcinfo;
	c.record_cxt = AllocSetContextCreate(CurrentMemoryContext, "customercard CSV record", ALLOCSET_DEFAULT_SIZES);
	ParseCsv(s, len, &importing);
	EndImport(st);
}

/*
 * The first sheet's rows, imported as they are read (xlsx_read.c calls back
 * a cell at a time, rows in order): the first row is the header, each row
 * after it is imported when the next one starts (or the sheet ends), and
 * its memory freed, so only a set of rows is held.  An error while a row is
 * imported is caught here and the reader stopped, so that it is raised
 * after the reader has freed its parser and archive, not thrown through
 * them.
 */
typedef struct SheetCollect
{
	ImportState *st;
	FunctionCallInfo fcinfo;
	MemoryContext row_cxt;		/* the current row's cells, reset after it */
	MemoryContext caller_cxt;
	int			row;			/* the current row's number, 0 before the first */
	char	  **vals;			/* its cells' text by column, 1-based */
	int			nvals;
	int			ncols;			/* the header's last column with a name */
	char	  **names;			/* the header's, by column (in the caller's memory) */
	int			head_row;
	TableColumns columns;
	ErrorData  *error;			/* what stopped the reader */
} SheetCollect;

/*
 * xlsx_read callback, between chunks of XML: a cancel or a terminate is
 * pending (the reader then frees what it holds, and ImportXlsx takes the
 * interrupt)
 */
static int
XlsxInterrupted(void *arg)
{
	return QueryCancelPending || ProcDiePending;
}

/* the current row is complete: the header's names taken, or the row imported */
static void
SheetRowDone(SheetCollect *c)
{
	MemoryContext old;
	CsvRecord  *rec;

	if (c->row == 0)
		return;
	if (c->names == NULL)
	{
		/* the header: a name per column up to its last */
		old = MemoryContextSwitchTo(c->caller_cxt);
		c->names = palloc0(sizeof(char *) * (c->nvals + 1));
		for (int i = 1; i <= c->nvals; i++)
			if (c->vals[i] != NULL)
			{
				c->names[i] = pstrdup(c->vals[i]);
				c->ncols = i;
			}
		c->head_row = c->row;
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(c->row_cxt);
	rec = palloc0(sizeof(CsvRecord));
	rec->line = c->row;
	for (int i = 1; i <= c->ncols; i++)
		if (c->names[i] != NULL)
			rec->fields = lappend(rec->fields, i <= c->nvals && c->vals[i] ? c->vals[i] : "");
	MemoryContextSwitchTo(old);
	if (c->row == c->head_row)
		TableHeader(c->st, c->fcinfo, rec, "sheet", &c->columns);
	else
		TableRow(c->st, &c->columns, rec);
	MemoryContextReset(c->row_cxt);
	c->vals = NULL;
	c->nvals = 0;
}

/* xlsx_read callback: a cell of the first sheet; a row before it is done */
static int
CollectCell(void *arg, int row, int col, const char *text, size_t len)
{
	SheetCollect *c = arg;
	MemoryContext old = CurrentMemoryContext;

	PG_TRY();
	{
		CHECK_FOR_INTERRUPTS();
		if (row != c->row)
		{
			SheetRowDone(c);
			c->row = row;
		}
		/* a column without a name must be empty */
		if (c->names != NULL && (col > c->ncols || c->names[col] == NULL))
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("sheet row %d has a value in column %d, which row %d does not name", row, col, c->head_row),
					 errhint("Nothing was imported. Give every column with values a name in the first row.")));
		MemoryContextSwitchTo(c->row_cxt);
		if (col > c->nvals)
		{
			int			n = Max(col, c->nvals * 2);

			char	  **vals = palloc0(sizeof(char *) * (n + 1));

			if (c->vals != NULL)
				memcpy(vals, c->vals, sizeof(char *) * (c->nvals + 1));
			c->vals = vals;
			c->nvals = n;
		}
		c->vals[col] = pnstrdup(text, len);
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(c->caller_cxt);
		c->error = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return c->error != NULL;
}

PG_FUNCTION_INFO_V1(import_xlsx);

/*
 * customercard.import_xlsx(data bytea, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
 * RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
 * The first sheet of an .xlsx workbook: its first row names the columns
 * (those of import_csv), each row after it is a contact; line is the
 * sheet's row number.
 */
Datum
import_xlsx(PG_FUNCTION_ARGS)
{
	ImportState st;
	bytea	   *data;

	StartImport(&st, fcinfo);
	data = PG_GETARG_BYTEA_PP(0);
	ImportXlsx(&st, fcinfo, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	return (Datum) 0;
}

/* import_xlsx: the first sheet's rows as CSV's records, each imported as it is read */
static void
ImportXlsx(ImportState *st, FunctionCallInfo fcinfo, const char *data, size_t len)
{
	SheetCollect c;
	XlsxCallbacks cb = {CollectCell, &c, XlsxInterrupted};
	char		detail[512];
	XlsxError	err;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.fcinfo = fcinfo;
	c.caller_cxt = CurrentMemoryContext;
	c.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "customercard sheet row", ALLOCSET_DEFAULT_SIZES);
	err = cc_read_xlsx(data, len, (size_t) customercard_import_max_unpacked * 1024, &cb, detail, sizeof(detail));
	if (c.error != NULL)
		ReThrowError(c.error);
	switch (err)
	{
		case XLSX_OK:
			break;
		case XLSX_TOO_BIG:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the workbook is too big to import: %s", detail),
					 errhint("Nothing was imported. Split the file, queue it with customercard.import_enqueue(), or raise customercard.import_max_unpacked (now %d kB).",
							 customercard_import_max_unpacked)));
			break;
		case XLSX_NO_MEMORY:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory reading the workbook: %s", detail)));
			break;
		case XLSX_INTERRUPTED:
			CHECK_FOR_INTERRUPTS();
			/* (a cancel held off for now) */
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("the import was interrupted while reading the workbook")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("this is not a readable .xlsx workbook: %s", detail),
					 errhint("Nothing was imported. Save the file as an Excel workbook (.xlsx); for CSV use customercard.import_csv().")));
			break;
	}
	if (c.row == 0)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("the first sheet is empty"),
				 errhint("Its first row names the columns: name, phone, email, ...")));
	SheetRowDone(&c);
	EndImport(st);
}

PG_FUNCTION_INFO_V1(import_rows);

/*
 * customercard.import_rows(data bytea, format text)
 * RETURNS TABLE (line integer, data jsonb, reason text)
 * The rows of a file as import_json, import_csv or import_xlsx read them --
 * each one's upsert_contact object, or why it has none -- importing
 * nothing: import_enqueue's parser.  A malformed file is the same error.
 */
Datum
import_rows(PG_FUNCTION_ARGS)
{
	ImportState st;
	bytea	   *data;
	char	   *format;

	StartImport(&st, fcinfo);
	st.collect = true;
	st.legacy = false;
	st.all_or_nothing = false;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the file's format is missing"),
				 errhint("Give \"csv\", \"json\" or \"xlsx\".")));
	data = PG_GETARG_BYTEA_PP(0);
	format = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(format, "xlsx") == 0)
		ImportXlsx(&st, fcinfo, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	else if (strcmp(format, "csv") == 0 || strcmp(format, "json") == 0)
	{
		int			len = VARSIZE_ANY_EXHDR(data);
		char	   *s = palloc(len + 1);

		memcpy(s, VARDATA_ANY(data), len);
		s[len] = '\0';
		/* text in the database's encoding, as import_csv and import_json get it */
		if (!pg_verifymbstr(s, len, true) || memchr(s, '\0', len) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("the %s file is not valid %s text", format, GetDatabaseEncodingName()),
					 errhint("Nothing was queued. Save the file as UTF-8.")));
		if (format[0] == 'c')
			ImportCsv(&st, fcinfo, s, len);
		else
			ImportJson(&st, fcinfo, s, len);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown import format \"%s\"", format),
				 errhint("Give \"csv\", \"json\" or \"xlsx\".")));
	return (Datum) 0;
}
