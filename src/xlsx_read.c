/*-------------------------------------------------------------------------
 *
 * xlsx_read.c
 *	  Reading the first sheet of an .xlsx workbook: libzip opens the archive
 *	  in memory, expat parses its parts as they are unpacked.
 *
 * An .xlsx (ECMA-376, SpreadsheetML) is a zip of XML parts.  The reader
 * takes xl/workbook.xml (the first <sheet>, and whether dates count from
 * 1904), xl/_rels/workbook.xml.rels (where that sheet's part is),
 * xl/sharedStrings.xml (the strings cells point to) and xl/styles.xml
 * (which cell styles show a number as a date), then streams the sheet
 * through expat 64 kB at a time, so that a 100,000-row sheet never stands
 * in memory as a tree: only the shared strings are kept.  Every part is
 * counted as it is unpacked and refused past max_part bytes, whatever the
 * archive's directory claims (a zip bomb); expat's own protection refuses
 * entity expansion attacks.  Everything is malloc'd here and freed on every
 * path; the cell callback is the caller's.
 *
 *-------------------------------------------------------------------------
 */
#include "xlsx_read.h"

#include <expat.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define CHUNK 65536
#define NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

typedef struct Buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
	int			oom;
} Buf;

/*
 * append to a growing buffer; past the part limit the reader stops with
 * XLSX_TOO_BIG
 */
static void
BufAdd(Buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = (b->len + n + 1) * 2;
		char	   *p = realloc(b->s, cap);

		if (p == NULL)
		{
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* a custom number format of styles.xml */
typedef struct StyleFormat
{
	int			id;
	int			kind;
	size_t		order;			/* of definition: a later one of an id wins */
} StyleFormat;

typedef struct Reader
{
	zip_t	   *zip;
	size_t		max_part;
	XlsxError	err;
	char	   *detail;
	size_t		detail_len;
	/* workbook */
	char	   *sheet_rid;
	int			date1904;
	char	   *sheet_path;
	/* shared strings */
	char	  **strings;
	size_t	   *string_lens;
	size_t		nstrings;
	size_t		strings_cap;
	/*
	 * styles: per cell format (xf), 0 none, 1 date, 2 date and time, 3 time
	 * (xf_kind holds each xf's numFmtId until the part is read)
	 */
	int		   *xf_kind;
	size_t		nxf;
	size_t		xf_cap;
	StyleFormat *fmts;			/* custom numFmts: id, kind, order */
	size_t		nfmts;
	size_t		fmts_cap;
	/* parsing state */
	int			in_text;		/* inside a <t> that counts */
	int			in_rph;			/* inside phonetic runs (<rPh>), which do not */
	int			in_cellxfs;
	int			in_value;		/* <v> of a cell */
	int			in_cell;		/* inside a <c> */
	int			in_inline;		/* <is> of a cell */
	Buf			text;
	int			row;
	int			col;
	char		cell_type[16];
	int			cell_style;
	int			stopped;
	const XlsxCallbacks *cb;
	XML_Parser	parser;
} Reader;

static void Fail(Reader *r, XlsxError err, const char *fmt,...) __attribute__((format(printf, 3, 4)));

/* the first error stops the reader (later ones would only hide it) */
static void
Fail(Reader *r, XlsxError err, const char *fmt,...)
{
	va_list		ap;

	if (r->err != XLSX_OK)
		return;
	r->err = err;
	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is right above (the analyzer loses it) */
	vsnprintf(r->detail, r->detail_len, fmt, ap);
	va_end(ap);
	if (r->parser)
		XML_StopParser(r->parser, XML_FALSE);
}

/*
 * room for one more element in *array (of n, with *cap allocated), the
 * allocation doubled when full: appending stays linear
 */
static int
Grow(Reader *r, void **array, size_t *cap, size_t n, size_t size)
{
	void	   *p;
	size_t		want;

	if (n < *cap)
		return 1;
	want = *cap ? *cap * 2 : 64;
	p = realloc(*array, want * size);
	if (p == NULL)
	{
		Fail(r, XLSX_NO_MEMORY, "out of memory");
		return 0;
	}
	*array = p;
	*cap = want;
	return 1;
}

/* the local name of an expat name "uri local" (namespace processing on) */
static const char *
Local(const char *name)
{
	const char *sp = strrchr(name, ' ');

	return sp ? sp + 1 : name;
}

/* an XML attribute's value by name, NULL when absent */
static const char *
Attr(const char **atts, const char *name)
{
	for (int i = 0; atts[i]; i += 2)
		if (strcmp(atts[i], name) == 0)
			return atts[i + 1];
	return NULL;
}

/* feed one part of the archive to parser p, CHUNK bytes at a time; 0 when it is absent */
static int
ParsePart(Reader *r, const char *name, XML_StartElementHandler start, XML_EndElementHandler end,
		  XML_CharacterDataHandler chars, int required)
{
	zip_file_t *f;
	char	   *chunk;
	size_t		total = 0;
	zip_int64_t n;
	XML_Parser	p;

	if (r->err != XLSX_OK)
		return 0;
	f = zip_fopen(r->zip, name, 0);
	if (f == NULL)
	{
		zip_error_t *ze = zip_get_error(r->zip);

		if (zip_error_code_zip(ze) == ZIP_ER_NOENT)
		{
			if (required)
				Fail(r, XLSX_NOT_XLSX, "the archive has no %s", name);
		}
		else
			Fail(r, XLSX_NOT_ZIP, "%s cannot be unpacked: %s", name, zip_strerror(r->zip));
		zip_error_clear(r->zip);
		return 0;
	}
	p = XML_ParserCreateNS(NULL, ' ');
	chunk = malloc(CHUNK);
	if (p == NULL || chunk == NULL)
	{
		Fail(r, XLSX_NO_MEMORY, "out of memory reading %s", name);
		if (p)
			XML_ParserFree(p);
		free(chunk);
		zip_fclose(f);
		return 0;
	}
	r->parser = p;
	XML_SetUserData(p, r);
	XML_SetElementHandler(p, start, end);
	XML_SetCharacterDataHandler(p, chars);
	for (;;)
	{
		int			last;

		n = zip_fread(f, chunk, CHUNK);
		if (n < 0)
		{
			Fail(r, XLSX_NOT_ZIP, "%s cannot be unpacked: %s", name, zip_file_strerror(f));
			break;
		}
		total += (size_t) n;
		if (r->cb->interrupted && r->cb->interrupted(r->cb->arg))
		{
			Fail(r, XLSX_INTERRUPTED, "interrupted while reading %s", name);
			break;
		}
		if (total > r->max_part)
		{
			Fail(r, XLSX_TOO_BIG, "%s unpacks to more than %zu bytes", name, r->max_part);
			break;
		}
		last = n == 0;
		if (XML_Parse(p, chunk, (int) n, last) == XML_STATUS_ERROR)
		{
			if (XML_GetErrorCode(p) != XML_ERROR_ABORTED)
				Fail(r, XLSX_BAD_XML, "%s is not well-formed XML (line %lu: %s)", name,
					 (unsigned long) XML_GetCurrentLineNumber(p), XML_ErrorString(XML_GetErrorCode(p)));
			break;
		}
		if (last || r->err != XLSX_OK || r->stopped)
			break;
	}
	r->parser = NULL;
	XML_ParserFree(p);
	free(chunk);
	zip_fclose(f);
	return r->err == XLSX_OK;
}

/* expat handlers of the parts where text and element ends mean nothing */
static void
NoChars(void *ud, const XML_Char *s, int len)
{
}

static void
NoEnd(void *ud, const XML_Char *name)
{
}

/* ------------------------------------------------------------ workbook and its relationships */

/* workbook.xml: the first sheet's relationship id */
static void
WorkbookStart(void *ud, const XML_Char *name, const XML_Char **atts)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (strcmp(l, "workbookPr") == 0)
	{
		const char *d = Attr(atts, "date1904");

		r->date1904 = d && (strcmp(d, "1") == 0 || strcmp(d, "true") == 0);
	}
	else if (strcmp(l, "sheet") == 0 && r->sheet_rid == NULL)
	{
		const char *id = Attr(atts, NS_REL " id");

		if (id == NULL)
			Fail(r, XLSX_BAD_XML, "xl/workbook.xml: the first sheet has no r:id");
		else if ((r->sheet_rid = strdup(id)) == NULL)
			Fail(r, XLSX_NO_MEMORY, "out of memory");
	}
}

/* workbook.xml.rels: the first sheet's part name */
static void
RelsStart(void *ud, const XML_Char *name, const XML_Char **atts)
{
	Reader	   *r = ud;
	const char *id;
	const char *target;

	if (strcmp(Local(name), "Relationship") != 0 || r->sheet_path != NULL)
		return;
	id = Attr(atts, "Id");
	target = Attr(atts, "Target");
	if (id == NULL || target == NULL || strcmp(id, r->sheet_rid) != 0)
		return;
	/* relative to xl/, or absolute in the package */
	if (target[0] == '/')
		r->sheet_path = strdup(target + 1);
	else if ((r->sheet_path = malloc(strlen(target) + 4)) != NULL)
		sprintf(r->sheet_path, "xl/%s", target);
	if (r->sheet_path == NULL)
		Fail(r, XLSX_NO_MEMORY, "out of memory");
}

/* ------------------------------------------------------------ shared strings */

/* sharedStrings.xml: a string item begins */
static void
StringsStart(void *ud, const XML_Char *name, const XML_Char **atts)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (strcmp(l, "si") == 0)
		r->text.len = 0;
	else if (strcmp(l, "rPh") == 0)
		r->in_rph++;
	else if (strcmp(l, "t") == 0 && r->in_rph == 0)
		r->in_text = 1;
}

/* sharedStrings.xml: a string item ends: it joins the table */
static void
StringsEnd(void *ud, const XML_Char *name)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (strcmp(l, "rPh") == 0)
		r->in_rph--;
	else if (strcmp(l, "t") == 0)
		r->in_text = 0;
	else if (strcmp(l, "si") == 0)
	{
		char	   *s;

		if (r->nstrings == r->strings_cap)
		{
			size_t		cap = r->strings_cap ? r->strings_cap * 2 : 256;
			char	  **ns = realloc(r->strings, cap * sizeof(char *));
			size_t	   *nl;

			if (ns == NULL)
			{
				Fail(r, XLSX_NO_MEMORY, "out of memory reading the shared strings");
				return;
			}
			r->strings = ns;
			nl = realloc(r->string_lens, cap * sizeof(size_t));
			if (nl == NULL)
			{
				Fail(r, XLSX_NO_MEMORY, "out of memory reading the shared strings");
				return;
			}
			r->string_lens = nl;
			r->strings_cap = cap;
		}
		s = malloc(r->text.len + 1);
		if (s == NULL || r->text.oom)
		{
			free(s);
			Fail(r, XLSX_NO_MEMORY, "out of memory reading the shared strings");
			return;
		}
		memcpy(s, r->text.s ? r->text.s : "", r->text.len);
		s[r->text.len] = '\0';
		r->strings[r->nstrings] = s;
		r->string_lens[r->nstrings++] = r->text.len;
		r->text.len = 0;
	}
}

/* the text of the element being read (a string, a cell's value) */
static void
TextChars(void *ud, const XML_Char *s, int len)
{
	Reader	   *r = ud;

	if (r->in_text || r->in_value)
	{
		BufAdd(&r->text, s, (size_t) len);
		if (r->text.oom)
			Fail(r, XLSX_NO_MEMORY, "out of memory");
	}
}

/* ------------------------------------------------------------ styles: which show a date */

/* a number format code's kind: 0 a number, 1 a date, 2 date and time, 3 a time */
static int
FormatKind(const char *code)
{
	int			date = 0,
				time = 0,
				month = 0;

	for (const char *c = code; *c; c++)
	{
		switch (*c)
		{
			case '"':			/* quoted text */
				for (c++; *c && *c != '"'; c++)
					;
				if (!*c)
					c--;
				break;
			case '\\':			/* an escaped character */
			case '_':			/* a space as wide as the next character */
			case '*':			/* fill with the next character */
				if (c[1])
					c++;
				break;
			case '[':			/* [Red], [$-409]; [h] [m] [s] are elapsed time */
				if ((c[1] == 'h' || c[1] == 'H' || c[1] == 'm' || c[1] == 'M' || c[1] == 's' || c[1] == 'S'))
					time = 1;
				for (c++; *c && *c != ']'; c++)
					;
				if (!*c)
					c--;
				break;
			case 'y': case 'Y': case 'd': case 'D': case 'e':
				date = 1;
				break;
			case 'h': case 'H': case 's': case 'S':
				time = 1;
				break;
			case 'm': case 'M':
				month = 1;
				break;
			case ';':			/* the positive section decides */
				goto done;
			default:
				break;
		}
	}
done:
	if (strncmp(code, "General", 7) == 0)
		return 0;
	if (month && !time)
		date = 1;
	return date && time ? 2 : date ? 1 : time ? 3 : 0;
}

/* the kinds of the built-in formats (ECMA-376 18.8.30) */
static int
BuiltinKind(int id)
{
	if (id >= 14 && id <= 17)
		return 1;
	if (id >= 18 && id <= 21)
		return 3;
	if (id == 22)
		return 2;
	if ((id >= 27 && id <= 31) || (id >= 34 && id <= 36) || (id >= 50 && id <= 58))
		return 1;
	if (id == 32 || id == 33 || (id >= 45 && id <= 47))
		return 3;
	return 0;
}

/* styles.xml: which cell formats are dates */
static void
StylesStart(void *ud, const XML_Char *name, const XML_Char **atts)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (strcmp(l, "numFmt") == 0)
	{
		const char *id = Attr(atts, "numFmtId");
		const char *code = Attr(atts, "formatCode");

		if (id == NULL || code == NULL)
			return;
		if (!Grow(r, (void **) &r->fmts, &r->fmts_cap, r->nfmts, sizeof(StyleFormat)))
			return;
		r->fmts[r->nfmts].id = atoi(id);
		r->fmts[r->nfmts].kind = FormatKind(code);
		r->fmts[r->nfmts].order = r->nfmts;
		r->nfmts++;
	}
	else if (strcmp(l, "cellXfs") == 0)
		r->in_cellxfs = 1;
	else if (strcmp(l, "xf") == 0 && r->in_cellxfs)
	{
		const char *id = Attr(atts, "numFmtId");

		if (!Grow(r, (void **) &r->xf_kind, &r->xf_cap, r->nxf, sizeof(int)))
			return;
		r->xf_kind[r->nxf++] = id ? atoi(id) : 0;
	}
}

/* custom formats by id, then by order of definition */
static int
FormatOrder(const void *a, const void *b)
{
	const StyleFormat *x = a;
	const StyleFormat *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * styles.xml read: each xf's numFmtId becomes its kind -- the last custom
 * format of that id, else the built-in one (a binary search each)
 */
static void
ResolveStyles(Reader *r)
{
	if (r->nfmts > 1)
		qsort(r->fmts, r->nfmts, sizeof(StyleFormat), FormatOrder);
	for (size_t x = 0; x < r->nxf; x++)
	{
		int			fmt = r->xf_kind[x];
		int			kind = BuiltinKind(fmt);
		size_t		lo = 0,
					hi = r->nfmts;

		/* the first format with an id above fmt; the one before it may match */
		while (lo < hi)
		{
			size_t		mid = lo + (hi - lo) / 2;

			if (r->fmts[mid].id <= fmt)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 && r->fmts[lo - 1].id == fmt)
			kind = r->fmts[lo - 1].kind;
		r->xf_kind[x] = kind;
	}
}

/* styles.xml: the date formats are known */
static void
StylesEnd(void *ud, const XML_Char *name)
{
	Reader	   *r = ud;

	if (strcmp(Local(name), "cellXfs") == 0)
		r->in_cellxfs = 0;
}

/* ------------------------------------------------------------ the sheet */

/* days since 1970-01-01 to a civil date (H. Hinnant's algorithm) */
static void
CivilFromDays(long z, int *y, int *m, int *d)
{
	long		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

/* a serial number as Excel's date: 0 when it is not one (out of range) */
static int
FormatDate(Reader *r, double serial, int kind, char *out, size_t outlen)
{
	double		whole;
	long		days,
				secs;
	int			y,
				m,
				d;

	if (!isfinite(serial) || serial < 0 || serial > 2958465.0)	/* 9999-12-31 */
		return 0;
	secs = lround((serial - floor(serial)) * 86400.0);
	whole = floor(serial);
	if (secs >= 86400)
	{
		secs -= 86400;
		whole += 1;
	}
	if (kind == 3)
	{
		snprintf(out, outlen, "%02ld:%02ld:%02ld", secs / 3600, secs / 60 % 60, secs % 60);
		return 1;
	}
	if (r->date1904)
		days = (long) whole - 24107;	/* 1904-01-01 is day 0 */
	else if (whole >= 61)
		days = (long) whole - 25569;	/* Excel counts 1900-02-29, which was not */
	else if (whole >= 1)
		days = (long) whole - 25568;
	else
		return 0;
	CivilFromDays(days, &y, &m, &d);
	if (kind == 1 && secs == 0)
		snprintf(out, outlen, "%04d-%02d-%02d", y, m, d);
	else
		snprintf(out, outlen, "%04d-%02d-%02d %02ld:%02ld:%02ld", y, m, d, secs / 3600, secs / 60 % 60, secs % 60);
	return 1;
}

/* "B12" to its column (2); 0 when it does not start with letters */
static int
ColumnOf(const char *ref)
{
	int			col = 0;

	for (; *ref >= 'A' && *ref <= 'Z'; ref++)
	{
		col = col * 26 + (*ref - 'A' + 1);
		if (col > 16384)
			return -1;
	}
	return col;
}

/* the sheet: a row or cell begins (its reference, type and style) */
static void
SheetStart(void *ud, const XML_Char *name, const XML_Char **atts)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (r->in_cell && (strcmp(l, "row") == 0 || strcmp(l, "c") == 0 || strcmp(l, "sheetData") == 0))
	{
		/* (its cells would come out of order, or twice) */
		Fail(r, XLSX_BAD_XML, "the sheet has a %s inside a cell (row %d)", l, r->row);
		return;
	}
	if (strcmp(l, "row") == 0)
	{
		const char *n = Attr(atts, "r");
		int			row = n ? atoi(n) : r->row + 1;

		if (row <= r->row || row > 1048576)
		{
			Fail(r, XLSX_BAD_XML, "the sheet's rows are out of order (row %s after %d)", n ? n : "?", r->row);
			return;
		}
		r->row = row;
		r->col = 0;
	}
	else if (strcmp(l, "c") == 0)
	{
		const char *ref = Attr(atts, "r");
		const char *t = Attr(atts, "t");
		const char *s = Attr(atts, "s");
		int			col = ref ? ColumnOf(ref) : r->col + 1;

		if (col <= 0 || col <= r->col)
		{
			Fail(r, XLSX_BAD_XML, "the sheet's cells are out of order (cell %s in row %d)", ref ? ref : "?", r->row);
			return;
		}
		if (r->row == 0)
			r->row = 1;
		r->col = col;
		r->in_cell = 1;
		snprintf(r->cell_type, sizeof(r->cell_type), "%s", t ? t : "n");
		r->cell_style = s ? atoi(s) : 0;
		r->text.len = 0;
		if (r->text.s)
			r->text.s[0] = '\0';
	}
	else if (strcmp(l, "v") == 0)
		r->in_value = 1;
	else if (strcmp(l, "is") == 0)
		r->in_inline = 1;
	else if (strcmp(l, "rPh") == 0)
		r->in_rph++;
	else if (strcmp(l, "t") == 0 && r->in_inline && r->in_rph == 0)
		r->in_text = 1;
}

/* a cell's text to the caller: shared strings looked up, dates as ISO text */
static void
EmitCell(Reader *r)
{
	const char *text = r->text.s ? r->text.s : "";
	size_t		len = r->text.len;
	char		num[64];

	if (strcmp(r->cell_type, "s") == 0)
	{
		char	   *end;
		unsigned long i = strtoul(text, &end, 10);

		if (len == 0 || *end != '\0' || i >= r->nstrings)
		{
			Fail(r, XLSX_BAD_XML, "cell in row %d, column %d names shared string \"%.20s\", which the workbook does not have",
				 r->row, r->col, text);
			return;
		}
		text = r->strings[i];
		len = r->string_lens[i];
	}
	else if (strcmp(r->cell_type, "b") == 0)
	{
		text = strcmp(text, "1") == 0 || strcmp(text, "true") == 0 ? "true" : "false";
		len = strlen(text);
	}
	else if (strcmp(r->cell_type, "e") == 0)
		return;					/* #N/A, #DIV/0!: nothing to import */
	else if (strcmp(r->cell_type, "n") == 0 && len > 0)
	{
		char	   *end;
		double		v = strtod(text, &end);
		int			kind = r->cell_style >= 0 && (size_t) r->cell_style < r->nxf ? r->xf_kind[r->cell_style] : 0;

		if (*end != '\0')
		{
			Fail(r, XLSX_BAD_XML, "cell in row %d, column %d holds \"%.20s\", which is not a number", r->row, r->col, text);
			return;
		}
		if (kind != 0 && FormatDate(r, v, kind, num, sizeof(num)))
		{
			text = num;
			len = strlen(num);
		}
		else if (strpbrk(text, "eE") && isfinite(v) && v == floor(v) && fabs(v) < 1e17)
		{
			/* 7.9123456789E+10 as the digits it stands for */
			snprintf(num, sizeof(num), "%.0f", v);
			text = num;
			len = strlen(num);
		}
	}
	if (len == 0)
		return;
	if (r->cb->cell(r->cb->arg, r->row, r->col, text, len) != 0)
	{
		r->stopped = 1;
		XML_StopParser(r->parser, XML_FALSE);
	}
}

/* the sheet: a cell or row ends */
static void
SheetEnd(void *ud, const XML_Char *name)
{
	Reader	   *r = ud;
	const char *l = Local(name);

	if (strcmp(l, "v") == 0)
		r->in_value = 0;
	else if (strcmp(l, "is") == 0)
		r->in_inline = 0;
	else if (strcmp(l, "rPh") == 0)
		r->in_rph--;
	else if (strcmp(l, "t") == 0)
		r->in_text = 0;
	else if (strcmp(l, "c") == 0)
	{
		r->in_cell = 0;
		if (r->err == XLSX_OK)
			EmitCell(r);
	}
}

XlsxError
cc_read_xlsx(const void *data, size_t len, size_t max_part,
			 const XlsxCallbacks *cb, char *detail, size_t detail_len)
{
	Reader		r;
	zip_error_t ze;
	zip_source_t *src;

	memset(&r, 0, sizeof(r));
	r.max_part = max_part;
	r.detail = detail;
	r.detail_len = detail_len;
	r.cb = cb;
	detail[0] = '\0';
	zip_error_init(&ze);
	src = zip_source_buffer_create(data, len, 0, &ze);
	if (src == NULL)
	{
		snprintf(detail, detail_len, "%s", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return XLSX_NO_MEMORY;
	}
	r.zip = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (r.zip == NULL)
	{
		snprintf(detail, detail_len, "not a zip archive, which an .xlsx file is (%s)", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return XLSX_NOT_ZIP;
	}
	zip_error_fini(&ze);

	ParsePart(&r, "xl/workbook.xml", WorkbookStart, NoEnd, NoChars, 1);
	if (r.err == XLSX_OK && r.sheet_rid == NULL)
		Fail(&r, XLSX_NOT_XLSX, "xl/workbook.xml names no sheet");
	ParsePart(&r, "xl/_rels/workbook.xml.rels", RelsStart, NoEnd, NoChars, 1);
	if (r.err == XLSX_OK && r.sheet_path == NULL)
		Fail(&r, XLSX_NOT_XLSX, "xl/_rels/workbook.xml.rels does not say where sheet %s is", r.sheet_rid);
	ParsePart(&r, "xl/sharedStrings.xml", StringsStart, StringsEnd, TextChars, 0);
	r.in_text = 0;
	r.in_rph = 0;
	ParsePart(&r, "xl/styles.xml", StylesStart, StylesEnd, NoChars, 0);
	if (r.err == XLSX_OK)
		ResolveStyles(&r);
	if (r.err == XLSX_OK)
		ParsePart(&r, r.sheet_path, SheetStart, SheetEnd, TextChars, 1);

	zip_discard(r.zip);
	for (size_t i = 0; i < r.nstrings; i++)
		free(r.strings[i]);
	free(r.strings);
	free(r.string_lens);
	free(r.xf_kind);
	free(r.fmts);
	free(r.text.s);
	free(r.sheet_rid);
	free(r.sheet_path);
	return r.err;
}
