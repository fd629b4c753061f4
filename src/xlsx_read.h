/*-------------------------------------------------------------------------
 *
 * xlsx_read.h
 *	  The pure C .xlsx reader of import_xlsx (libzip + expat), shared by the
 *	  extension and the fuzzer (no PostgreSQL headers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef XLSX_READ_H
#define XLSX_READ_H

#include <stddef.h>

typedef enum XlsxError
{
	XLSX_OK = 0,
	XLSX_NOT_ZIP,				/* not a zip archive, or a broken one */
	XLSX_NOT_XLSX,				/* a zip, but no workbook or sheet in it */
	XLSX_BAD_XML,				/* a part is not well-formed XML, or not as the format says */
	XLSX_TOO_BIG,				/* a part unpacks to more than the limit */
	XLSX_NO_MEMORY,
	XLSX_INTERRUPTED			/* the interrupted callback said to stop */
} XlsxError;

typedef struct XlsxCallbacks
{
	/*
	 * A cell of the first sheet that holds something: its 1-based row and
	 * column, and its text (not NUL-terminated): shared and inline strings
	 * as written, numbers as stored (integral ones without an exponent),
	 * booleans as true/false, dates (a serial number with a date style) as
	 * YYYY-MM-DD or YYYY-MM-DD HH:MM:SS.  Rows come in order; returns
	 * nonzero to stop reading (as XLSX_OK).
	 */
	int			(*cell) (void *arg, int row, int col, const char *text, size_t len);
	void	   *arg;

	/*
	 * Asked between chunks of every part (64 kB of XML at a time, a bounded
	 * amount of work): nonzero stops the reader with XLSX_INTERRUPTED,
	 * having freed what it holds.  NULL: never.
	 */
	int			(*interrupted) (void *arg);
} XlsxCallbacks;

/*
 * Read the first sheet of the workbook data[0..len).  No part may unpack to
 * more than max_part bytes (counted as they are read, whatever the archive
 * claims).  The work is linear in what the parts unpack to (the styles'
 * formats are looked up in a sorted array, every array grows by doubling).  On error, returns its kind and writes what was wrong into
 * detail (NUL-terminated, at most detail_len bytes).
 */
extern XlsxError cc_read_xlsx(const void *data, size_t len, size_t max_part,
							  const XlsxCallbacks *cb, char *detail, size_t detail_len);

#endif							/* XLSX_READ_H */
