/*-------------------------------------------------------------------------
 *
 * fuzz_xlsx.c
 *	  libFuzzer harness for the .xlsx reader (src/xlsx_read.c).
 *
 *	  make fuzz FUZZ_TARGETS=xlsx FUZZ_SECONDS=600
 *
 * Random bytes are rarely a zip, so an input whose first byte is even is
 * split at the bytes "\x01" into a sheet, shared strings and styles part,
 * zipped (with libzip, into memory) beside a fixed workbook: the XML
 * parsing is fuzzed behind a valid archive.  An odd first byte hands the
 * rest to the reader as the archive itself.  Besides no crash and no
 * out-of-bounds access or leak (ASan), it checks: the result is one of the
 * reader's errors, the detail is a NUL-terminated string, cells come in
 * order (rows rising, columns rising within a row, 1 to 16384) and never
 * empty; a part over the limit is refused, never read past it.  Inputs
 * whose first byte is a multiple of 4 are interrupted at a chunk of the
 * first part (the reader must free everything it holds: ASan's leak check).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_common.h"
#include <string.h>
#include <zip.h>

#include "xlsx_read.h"

typedef struct Order
{
	int			row;
	int			col;
	long		cells;
	int			interrupt;		/* stop at the first chunk */
	int			asked;
} Order;

static int
Interrupted(void *arg)
{
	Order	   *o = arg;

	o->asked++;
	return o->interrupt;
}

static int
Cell(void *arg, int row, int col, const char *text, size_t len)
{
	Order	   *o = arg;

	REQUIRE(len > 0 && text != NULL);
	REQUIRE(col >= 1 && col <= 16384 && row >= 1);
	REQUIRE(row > o->row || (row == o->row && col > o->col));
	o->row = row;
	o->col = col;
	o->cells++;
	return o->cells > 100000;	/* the caller may stop the reader */
}

static const char workbook[] =
	"<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
	"xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
	"<sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char rels[] =
	"<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
	"<Relationship Id=\"rId1\" Type=\"worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>";

static void
Add(zip_t *z, const char *name, const void *data, size_t len)
{
	zip_source_t *s = zip_source_buffer(z, data, len, 0);

	REQUIRE(s != NULL);
	REQUIRE(zip_file_add(z, name, s, ZIP_FL_OVERWRITE) >= 0);
}

/* a zip of the parts, in memory (malloc'd, *len bytes) */
static void *
Zip(const uint8_t *data, size_t size, size_t *len)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t	   *z;
	const uint8_t *part[3] = {data, NULL, NULL};
	size_t		plen[3] = {size, 0, 0};
	const char *names[3] = {"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml"};
	int			n = 1;
	void	   *out;
	zip_stat_t	st;

	for (size_t i = 0; i < size && n < 3; i++)
		if (data[i] == 1)
		{
			plen[n - 1] = data + i - part[n - 1];
			part[n] = data + i + 1;
			plen[n] = size - i - 1;
			n++;
		}
	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	REQUIRE(src != NULL);
	z = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	REQUIRE(z != NULL);
	zip_source_keep(src);
	Add(z, "xl/workbook.xml", workbook, sizeof(workbook) - 1);
	Add(z, "xl/_rels/workbook.xml.rels", rels, sizeof(rels) - 1);
	for (int i = 0; i < n; i++)
		Add(z, names[i], part[i], plen[i]);
	REQUIRE(zip_close(z) == 0);
	REQUIRE(zip_source_stat(src, &st) == 0);
	*len = (size_t) st.size;
	out = malloc(*len ? *len : 1);
	REQUIRE(out != NULL);
	REQUIRE(zip_source_open(src) == 0);
	REQUIRE(zip_source_read(src, out, *len) == (zip_int64_t) *len);
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&ze);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Order		o = {0, 0, 0, 0, 0};
	XlsxCallbacks cb = {Cell, &o, Interrupted};
	char		detail[256];
	XlsxError	err;
	size_t		max_part = 512;

	if (size < 1)
		return 0;
	memset(detail, 'x', sizeof(detail));
	o.interrupt = data[0] % 4 == 0;
	if (data[0] % 2 == 0)
	{
		size_t		len;
		void	   *zip = Zip(data + 1, size - 1, &len);

		err = cc_read_xlsx(zip, len, max_part, &cb, detail, sizeof(detail));
		/* a part is at most size - 1 bytes: over the limit only if the input is */
		REQUIRE(err != XLSX_TOO_BIG || size - 1 > max_part);
		REQUIRE(err != XLSX_NOT_ZIP);	/* the archive is sound */
		free(zip);
	}
	else
		err = cc_read_xlsx(data + 1, size - 1, max_part, &cb, detail, sizeof(detail));
	REQUIRE(err >= XLSX_OK && err <= XLSX_INTERRUPTED);
	/* asked between chunks: an interrupted read ends at once, with no cell */
	REQUIRE(err != XLSX_INTERRUPTED || (o.interrupt && o.asked == 1 && o.cells == 0));
	REQUIRE(!o.interrupt || err != XLSX_OK);
	REQUIRE(memchr(detail, '\0', sizeof(detail)) != NULL);
	REQUIRE(err == XLSX_OK || detail[0] != '\0');
	return 0;
}
