/*-------------------------------------------------------------------------
 *
 * csv_parse.h
 *	  The pure C CSV reader of import_csv, shared by the extension and the
 *	  fuzzer (no PostgreSQL headers, no allocation of its own).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CSV_PARSE_H
#define CSV_PARSE_H

#include <stddef.h>

typedef enum CsvError
{
	CSV_OK = 0,
	CSV_UNCLOSED_QUOTE,			/* a quoted field never closed */
	CSV_TEXT_AFTER_QUOTE,		/* text between a closing quote and the separator */
	CSV_QUOTE_IN_FIELD			/* a quote inside an unquoted field */
} CsvError;

typedef struct CsvCallbacks
{
	/* a field's text (quotes undone; not NUL-terminated), of the record at line */
	void		(*field) (void *arg, const char *text, size_t len, int line);
	/* the record's last field has been given */
	void		(*record_end) (void *arg, int line);
	void	   *arg;
} CsvCallbacks;

/*
 * Read s[0..len): RFC 4180 as spreadsheets write it -- an optional UTF-8 byte
 * order mark, CRLF or LF, separator ',' or ';' (whichever comes first
 * outside quotes on the first line), fields quoted with "" for a quote and
 * line breaks inside.  Blank lines give no record.  scratch must hold len
 * bytes.  On error, returns its kind and sets *error_line.
 */
extern CsvError cc_parse_csv(const char *s, size_t len, char *scratch, const CsvCallbacks *cb, int *error_line);

#endif							/* CSV_PARSE_H */
