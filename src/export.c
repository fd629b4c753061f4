/*-------------------------------------------------------------------------
 *
 * export.c
 *	  customercard.export_xlsx(filter jsonb): the audience as an .xlsx file
 *	  (one sheet, a header row, tags and custom fields as columns), written
 *	  with libxlsxwriter.
 *
 * The rows come from customercard.export_rows(filter) through SPI, as the
 * caller (row-level security applies).  libxlsxwriter 1.1.4 (Debian 12)
 * writes to a file only, so the workbook goes to a private temporary file
 * that is read back as bytea and removed, also on error.
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

/*
 * the export's rows (export_rows_of through SPI) written as a workbook at
 * path
 */
static void
WriteWorkbook(const char *path, Jsonb *filter, Datum groups, bool groups_null, bool legacy)
{
	Oid			argtypes[2] = {JSONBOID, TEXTARRAYOID};
	Datum		args[2] = {JsonbPGetDatum(filter), (Datum) 0};
	Oid			gtypes[1] = {TEXTARRAYOID};
	Datum		gargs[1] = {groups};
	char		gnulls[1] = {groups_null ? 'n' : ' '};
	bool		with_tags,
				with_channels,
				with_custom;
	StringInfoData sql;
	Datum	   *names;
	int			nnames;
	ArrayType  *namearr;
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_format *bold;
	lxw_format *datefmt;
	TupleDesc	desc;
	int			ncols;

	/* the column groups asked for (export_groups checks them); 0.1's SQL,
	 * until ALTER EXTENSION ... UPDATE, has no groups and no messenger link */
	if (legacy)
	{
		with_tags = with_custom = true;
		with_channels = false;
	}
	else if (SPI_execute_with_args("SELECT 'tags' = ANY (g), 'channels' = ANY (g), 'custom' = ANY (g) "
								   "  FROM customercard.export_groups($1) g",
								   1, gtypes, gargs, gnulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the column groups");
	else
	{
		bool		isnull;

		with_tags = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		with_channels = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		with_custom = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	}
	/* the columns: the fixed ones, then each custom field of the account */
	/* cppcheck-suppress legacyUninitvar ; the branch without with_custom ends in elog(ERROR) */
	if (SPI_execute(with_custom
					? "SELECT coalesce(array_agg(f.name ORDER BY f.name), '{}') FROM customercard.custom_fields f "
					" WHERE f.account_id = customercard.require_account_id()"
					: "SELECT '{}'::text[]", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the custom fields");
	{
		bool		isnull;

		namearr = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	deconstruct_array(namearr, TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &nnames);
	args[1] = PointerGetDatum(namearr);
	/* fixed fragments only: the groups choose among them */
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT r.contact_id, r.name, r.phone, r.email, r.status, r.created_at_utc, ");
	/* cppcheck-suppress legacyUninitvar ; the branch without with_tags ends in elog(ERROR) */
	if (with_tags)
		appendStringInfoString(&sql, "r.tags, ");
	if (with_channels)
		appendStringInfoString(&sql, "r.channel, r.connection, r.social_id, ");
	appendStringInfoString(&sql, "ARRAY(SELECT r.custom ->> f FROM unnest($2::text[]) WITH ORDINALITY u (f, o) ORDER BY o) "
						   "  FROM customercard.export_rows($1) r ORDER BY r.contact_id");
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

PG_FUNCTION_INFO_V1(export_xlsx);

/* customercard.export_xlsx(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS bytea */
Datum
export_xlsx(PG_FUNCTION_ARGS)
{
	Jsonb	   *filter = PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0);
	char		path[MAXPGPATH];
	int			fd;
	bytea	   *result = NULL;

	if (filter == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("export_xlsx needs a filter"),
				 errhint("Pass '{}' for the whole audience.")));
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

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		WriteWorkbook(path, filter, PG_NARGS() > 1 ? PG_GETARG_DATUM(1) : (Datum) 0, PG_NARGS() < 2 || PG_ARGISNULL(1),
					  PG_NARGS() < 2);
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
	PG_RETURN_BYTEA_P(result);
}
