/*-------------------------------------------------------------------------
 *
 * export.c
 *	  customercard.export_xlsx(filter jsonb): the audience as an .xlsx file
 *	  (one sheet, a header row, tags and custom fields as columns), written
 *	  with libxlsxwriter; customercard.bulk_export_xlsx(job_id): the same
 *	  workbook of the rows an export job queued with {"format": "xlsx"}
 *	  stored batch by batch.
 *
 * The rows come from customercard.export_rows(filter), or the job's stored
 * rows, through SPI, as the caller (row-level security applies).
 * libxlsxwriter 1.1.4 (Debian 12) writes to a file only, so the workbook
 * goes to a private temporary file that is read back as bytea and removed,
 * also on error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>
#include <sys/stat.h>
#include <xlsxwriter.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"

#include "customercard.h"

/* a libxlsxwriter error as this extension's error */
static void
CheckXlsx(lxw_error err, const char *what)
{
	if (err != LXW_NO_ERROR)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not write the .xlsx (%s): %s", what, lxw_strerror(err))));
}

/* the columns of a workbook: the column groups, and the custom fields' names */
typedef struct ExportColumns
{
	bool		with_tags;
	bool		with_channels;
	ArrayType  *names;			/* text[] */
} ExportColumns;

/* the first row of an SPI query's result: three columns, as ExportColumns */
static void
ColumnsFromResult(ExportColumns *cols)
{
	bool		isnull;

	if (SPI_processed != 1)
		elog(ERROR, "could not read the export's columns");
	cols->with_tags = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	cols->with_channels = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	cols->names = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
}

/*
 * export_xlsx's columns: the column groups asked for (export_groups checks
 * them; 0.1's SQL, until ALTER EXTENSION ... UPDATE, has no groups and no
 * messenger link) and the account's custom fields when custom is one
 */
static void
FilterColumns(Datum groups, bool groups_null, bool legacy, ExportColumns *cols)
{
	Oid			gtypes[1] = {TEXTARRAYOID};
	Datum		gargs[1] = {groups};
	char		gnulls[1] = {groups_null ? 'n' : ' '};

	if (SPI_execute_with_args(legacy
							  ? "SELECT true, false, coalesce(array_agg(f.name ORDER BY f.name), '{}') "
							  "  FROM customercard.custom_fields f WHERE f.account_id = customercard.require_account_id()"
							  : "SELECT 'tags' = ANY (g), 'channels' = ANY (g), "
							  "       CASE WHEN 'custom' = ANY (g) THEN "
							  "            (SELECT coalesce(array_agg(f.name ORDER BY f.name), '{}') FROM customercard.custom_fields f "
							  "              WHERE f.account_id = customercard.require_account_id()) ELSE '{}' END "
							  "  FROM customercard.export_groups($1) g",
							  legacy ? 0 : 1, gtypes, gargs, gnulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the column groups");
	ColumnsFromResult(cols);
}

/*
 * rows (a query's FROM item r with export_rows_of's columns, over $1) written
 * as a workbook at path: the fixed columns the groups choose, then a column
 * per custom field name ($2)
 */
static void
WriteWorkbook(const char *path, const ExportColumns *cols, const char *rows, Oid arg1type, Datum arg1)
{
	Oid			argtypes[2] = {arg1type, TEXTARRAYOID};
	Datum		args[2] = {arg1, PointerGetDatum(cols->names)};
	StringInfoData sql;
	Datum	   *names;
	int			nnames;
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_format *bold;
	lxw_format *datefmt;
	TupleDesc	desc;
	int			ncols;

	deconstruct_array(cols->names, TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &nnames);
	/* fixed fragments only: the groups choose among them */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT r.contact_id, r.name, r.phone, r.email, r.status, r.created_at_utc, ");
	if (cols->with_tags)
		appendStringInfoString(&sql, "r.tags, ");
	if (cols->with_channels)
		appendStringInfoString(&sql, "r.channel, r.connection, r.social_id, ");
	appendStringInfo(&sql, "ARRAY(SELECT r.custom ->> f FROM unnest($2::text[]) WITH ORDINALITY u (f, o) ORDER BY o) "
					 "  FROM %s ORDER BY r.contact_id", rows);
	if (SPI_execute_with_args(sql.data, 2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the export rows");
	desc = SPI_tuptable->tupdesc;
	ncols = desc->natts - 1;		/* the last one: the custom values */

	wb = workbook_new(path);
	if (wb == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not create the .xlsx workbook")));
	PG_TRY();
	{
		ws = workbook_add_worksheet(wb, "Audience");
		bold = workbook_add_format(wb);
		format_set_bold(bold);
		datefmt = workbook_add_format(wb);
		format_set_num_format(datefmt, "yyyy-mm-dd hh:mm");
		for (int c = 0; c < ncols; c++)
			CheckXlsx(worksheet_write_string(ws, 0, c, NameStr(TupleDescAttr(desc, c)->attname), bold), "header");
		for (int c = 0; c < nnames; c++)
			CheckXlsx(worksheet_write_string(ws, 0, ncols + c, TextDatumGetCString(names[c]), bold), "header");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];

			for (int c = 0; c < ncols; c++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tuple, desc, c + 1, &isnull);
				Oid			type = TupleDescAttr(desc, c)->atttypid;

				if (isnull)
					continue;
				if (type == INT8OID)
					CheckXlsx(worksheet_write_number(ws, r + 1, c, (double) DatumGetInt64(d), NULL), "number");
				else if (type == TIMESTAMPOID)
				{
					struct pg_tm tm;
					fsec_t		fsec;
					lxw_datetime dt;

					if (timestamp2tm(DatumGetTimestamp(d), NULL, &tm, &fsec, NULL, NULL) == 0)
					{
						dt.year = tm.tm_year;
						dt.month = tm.tm_mon;
						dt.day = tm.tm_mday;
						dt.hour = tm.tm_hour;
						dt.min = tm.tm_min;
						dt.sec = tm.tm_sec;
						CheckXlsx(worksheet_write_datetime(ws, r + 1, c, &dt, datefmt), "date");
					}
				}
				else
				{
					char	   *s = SPI_getvalue(tuple, desc, c + 1);

					/* a cell holds at most 32,767 characters */
					if (strlen(s) > 32767)
						s[32767] = '\0';
					CheckXlsx(worksheet_write_string(ws, r + 1, c, s, NULL), "cell");
				}
			}
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tuple, desc, ncols + 1, &isnull);
				Datum	   *vals;
				bool	   *vnulls;
				int			nvals;

				deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &vals, &vnulls, &nvals);
				for (int c = 0; c < nvals; c++)
					if (!vnulls[c])
					{
						char	   *v = TextDatumGetCString(vals[c]);

						if (strlen(v) > 32767)
							v[32767] = '\0';
						CheckXlsx(worksheet_write_string(ws, r + 1, ncols + c, v, NULL), "cell");
					}
			}
		}
		worksheet_freeze_panes(ws, 1, 0);
		worksheet_autofilter(ws, 0, 0, SPI_processed, ncols + nnames - 1);
	}
	PG_CATCH();
	{
		workbook_close(wb);
		PG_RE_THROW();
	}
	PG_END_TRY();
	CheckXlsx(workbook_close(wb), "close");
}

/* the source of a workbook's rows */
typedef struct WorkbookSource
{
	bool		job;			/* an export job's stored rows, else a filter's audience */
	Datum		arg;			/* the job id, or the filter (jsonb) */
	Datum		groups;			/* export_xlsx: the column groups */
	bool		groups_null;
	bool		legacy;			/* export_xlsx called by 0.1's SQL (no groups) */
} WorkbookSource;

/*
 * an xlsx export job's stored rows (JSON lines of export_rows_of's columns,
 * bulk_apply's) as the FROM item r, over $1 the job id
 */
#define JOB_ROWS \
	"(SELECT x.* FROM customercard.bulk_job_output o " \
	"   CROSS JOIN LATERAL pg_catalog.regexp_split_to_table(o.data, E'\\n') l " \
	"   CROSS JOIN LATERAL pg_catalog.jsonb_to_record(l::jsonb) AS x (contact_id bigint, name text, phone text, " \
	"        email text, status text, created_at_utc timestamp, tags text, channel text, connection text, " \
	"        social_id text, custom jsonb) " \
	"  WHERE o.account_id = customercard.require_account_id() AND o.job_id = $1) r"

/*
 * The workbook as bytea: written to a private temporary file (libxlsxwriter
 * 1.1.4 writes files only), read back and removed, also on error.
 */
static bytea *
WorkbookBytes(const WorkbookSource *src)
{
	char		path[MAXPGPATH];
	int			fd;
	bytea	   *result = NULL;

	snprintf(path, sizeof(path), "/tmp/customercard-export-%d-XXXXXX", MyProcPid);
	fd = mkstemp(path);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a temporary file for the .xlsx: %m")));
	close(fd);
	PG_TRY();
	{
		struct stat st;
		FILE	   *f;
		ExportColumns cols;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (src->job)
		{
			/* the job's columns, fixed when it was queued (bulk_export_job checks the job) */
			Oid			types[1] = {INT8OID};
			Datum		args[1] = {src->arg};

			if (SPI_execute_with_args("SELECT j.p -> 'groups' ? 'tags', j.p -> 'groups' ? 'channels', "
									  "       ARRAY(SELECT f ->> 1 FROM pg_catalog.jsonb_array_elements(j.p -> 'custom_fields') "
									  "               WITH ORDINALITY x (f, o) ORDER BY o) "
									  "  FROM (SELECT customercard.bulk_export_job($1, 'xlsx') AS p) j",
									  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "could not read the export job");
			ColumnsFromResult(&cols);
			WriteWorkbook(path, &cols, JOB_ROWS, INT8OID, src->arg);
		}
		else
		{
			FilterColumns(src->groups, src->groups_null, src->legacy, &cols);
			WriteWorkbook(path, &cols, "customercard.export_rows($1) r", JSONBOID, src->arg);
		}
		SPI_finish();

		if (stat(path, &st) != 0)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the .xlsx back: %m")));
		result = palloc(VARHDRSZ + st.st_size);
		SET_VARSIZE(result, VARHDRSZ + st.st_size);
		f = AllocateFile(path, PG_BINARY_R);
		if (f == NULL || fread(VARDATA(result), 1, st.st_size, f) != (size_t) st.st_size)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the .xlsx back: %m")));
		FreeFile(f);
	}
	PG_FINALLY();
	{
		unlink(path);
	}
	PG_END_TRY();
	return result;
}

PG_FUNCTION_INFO_V1(export_xlsx);

/* customercard.export_xlsx(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS bytea */
Datum
export_xlsx(PG_FUNCTION_ARGS)
{
	WorkbookSource src = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export_xlsx needs a filter"),
				 errhint("Pass '{}' for the whole audience.")));
	src.arg = PG_GETARG_DATUM(0);
	src.legacy = PG_NARGS() < 2;
	src.groups_null = PG_NARGS() < 2 || PG_ARGISNULL(1);
	src.groups = src.groups_null ? (Datum) 0 : PG_GETARG_DATUM(1);
	PG_RETURN_BYTEA_P(WorkbookBytes(&src));
}

PG_FUNCTION_INFO_V1(bulk_export_xlsx);

/* customercard.bulk_export_xlsx(job_id bigint) RETURNS bytea: an xlsx export job's workbook */
Datum
bulk_export_xlsx(PG_FUNCTION_ARGS)
{
	WorkbookSource src = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bulk_export_xlsx needs a job id"),
				 errhint("Pass the id bulk_enqueue('export', '{\"format\": \"xlsx\"}', ...) returned.")));
	src.job = true;
	src.arg = PG_GETARG_DATUM(0);
	PG_RETURN_BYTEA_P(WorkbookBytes(&src));
}
