#!/usr/bin/env bash
# import_xlsx: workbooks written by openpyxl (shared
# strings, numbers, booleans, dates with a date style, empty cells), and by
# hand the way Excel, LibreOffice and Google Sheets write theirs (inline
# strings, formula strings, a 1904 workbook, phones stored as numbers with
# an exponent, phonetic runs, absolute part paths), imported and read back;
# a broken zip, broken XML, a file that is not .xlsx and a zip bomb are
# clear errors (22P02, 54000) that change nothing.  Prints TAP.  Needs
# PGHOST/PGPORT/PGUSER of a cluster; /usr/bin/python3 with Debian's openpyxl.
set -euo pipefail
DB=cc_xlsx_in
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
q -c "INSERT INTO customercard.custom_fields (name, kind) VALUES ('Birthday', 'date'), ('Paid', 'boolean'), ('Score', 'number')" >/dev/null

/usr/bin/python3 - "$W" <<'PY'
import datetime, sys, zipfile, openpyxl
w = sys.argv[1]
# openpyxl: shared strings, numbers, booleans, a date and a date-time, an empty cell
wb = openpyxl.Workbook()
ws = wb.active
ws.append(["name", "phone", "email", "custom:Birthday", "custom:Paid", "custom:Score", "tags", "city"])
ws.append(["Анна Смирнова", "+7 912 345-67-89", "anna@example.com", datetime.date(1990, 3, 15), True, 4.5, "vip; вебинар", None])
ws.append(["Boris", 79123456780, None, datetime.datetime(2026, 11, 30, 14, 5, 0), False, 10, None, "Omsk"])
ws.append([None, None, None, None, None, None, None, None])
ws.append(["Carl", None, "carl@example.com", None, None, None, None, None])
wb.create_sheet("Second").append(["name"])
wb.save(w + "/openpyxl.xlsx")

def pack(path, parts):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
def book(extra="", target="worksheets/sheet1.xml"):
    return {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        "xl/workbook.xml": f'<x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">{extra}<x:sheets><x:sheet name="Лист1" sheetId="1" r:id="rId7"/></x:sheets></x:workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Target="styles.xml"/><Relationship Id="rId7" Target="{target}"/></Relationships>',
        "xl/styles.xml": f'<styleSheet {NS}><numFmts count="1"><numFmt numFmtId="165" formatCode="[$-419]d\\ mmmm\\ yyyy"/></numFmts><cellStyleXfs><xf numFmtId="14"/></cellStyleXfs><cellXfs><xf numFmtId="0"/><xf numFmtId="165"/><xf numFmtId="49"/></cellXfs></styleSheet>',
    }
# Excel/LibreOffice style: inline strings, a formula's string result, rich
# text with phonetic runs in shared strings, a phone as a number with an
# exponent, a 1904 workbook's date, the sheet at an absolute path
p = book('<x:workbookPr date1904="1"/>', "/xl/worksheets/data.xml")
p["xl/sharedStrings.xml"] = f'<sst {NS}><si><r><t>Dmit</t></r><r><rPr><b/></rPr><t xml:space="preserve">ry </t></r><r><t>Petrov</t></r><rPh sb="0" eb="1"><t>ペ</t></rPh></si></sst>'
p["xl/worksheets/data.xml"] = (f'<worksheet {NS}><sheetData>'
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Name</t></is></c><c r="B1" t="inlineStr"><is><t>Phones</t></is></c>'
    '<c r="C1" t="str"><f>"custom:"&amp;"Birthday"</f><v>custom:Birthday</v></c><c r="D1" t="inlineStr"><is><t>E-MAIL</t></is></c></row>'
    '<row r="3"><c r="A3" t="s"><v>0</v></c><c r="B3"><v>7.9123456781E+10</v></c><c r="C3" s="1"><v>31490</v></c>'
    '<c r="D3" t="e"><v>#N/A</v></c></row>'
    '</sheetData></worksheet>')
p["xl/worksheets/sheet1.xml"] = "<not the first sheet/>"
pack(w + "/excel.xlsx", p)
# a header naming E-MAIL: not a column we know -> an error naming it
# broken: XML that does not close
b = book(); b["xl/worksheets/sheet1.xml"] = f'<worksheet {NS}><sheetData><row r="1"><c t="inlineStr"><is><t>name</t></is></c>'
pack(w + "/badxml.xlsx", b)
# a row inside a cell (found by fuzz_xlsx: its cells came out twice and out of order)
b = book(); b["xl/worksheets/sheet1.xml"] = (f'<worksheet {NS}><sheetData><row r="1"><c t="inlineStr"><is><t>name'
    '<sheetData><row r="2"><c r="E2" t="inlineStr"><is><t>x</t></is></c></row></sheetData></t></is></c></row></sheetData></worksheet>')
pack(w + "/nested.xlsx", b)
# not an .xlsx: a zip without a workbook
pack(w + "/notxlsx.xlsx", {"word/document.xml": "<document/>"})
# a zip bomb: a sheet of 300 MB of spaces, deflated to a few hundred kB
b = book()
with zipfile.ZipFile(w + "/bomb.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in b.items():
        z.writestr(name, text)
    with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
        f.write(f'<worksheet {NS}><sheetData>'.encode())
        chunk = b" " * (1 << 20)
        for _ in range(300):
            f.write(chunk)
        f.write(b"</sheetData></worksheet>")
open(w + "/garbage.xlsx", "wb").write(b"name,phone\nAnna,+79123456789\n")
zipped = open(w + "/openpyxl.xlsx", "rb").read()
open(w + "/truncated.xlsx", "wb").write(zipped[: len(zipped) // 2])
PY
echo "1..15"
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }
# the file as a bytea literal, in a script (a big one is too long for a command line)
lit() { printf "decode('%s', 'base64')" "$(base64 -w0 "$W/$1")"; }
imp() {
    echo "SELECT string_agg(line || ':' || status || coalesce(':' || reason, ''), ' ' ORDER BY line) FROM customercard.import_xlsx($(lit "$1"))" > $W/q.sql
    q -f $W/q.sql 2>&1
}
err_state() {
    echo "DO \$\$ BEGIN PERFORM * FROM customercard.import_xlsx($(lit "$1"));
          EXCEPTION WHEN OTHERS THEN RAISE NOTICE '% %', SQLSTATE, SQLERRM; END \$\$" > $W/q.sql
    q -f $W/q.sql 2>&1 | sed -n 's/^psql:[^ ]* NOTICE:  //p; s/^NOTICE:  //p'
}

ok "$(imp openpyxl.xlsx)" "2:created 3:created 5:created" "openpyxl's workbook: a line per row, numbered as the sheet's rows (an empty row is not in the file)"
ok "$(q -c "SELECT string_agg(c.name || '|' || coalesce(p.phone::text, '-') || '|' || coalesce(e.email, '-') || '|' || coalesce(c.city, '-'), ' ' ORDER BY c.contact_id)
              FROM customercard.contacts c LEFT JOIN customercard.phones p USING (account_id, contact_id) LEFT JOIN customercard.emails e USING (account_id, contact_id)")" \
   "Анна Смирнова|+79123456789|anna@example.com|- Boris|+79123456780|-|Omsk Carl|-|carl@example.com|-" \
   "shared strings (Cyrillic), a phone stored as a number, empty cells: read right"
ok "$(q -c "SELECT string_agg(f.name || '=' || v.value, ' ' ORDER BY c.contact_id, f.name) FROM customercard.custom_values v
              JOIN customercard.custom_fields f USING (account_id, field_id) JOIN customercard.contacts c USING (account_id, contact_id)")" \
   "Birthday=1990-03-15 Paid=true Score=4.5 Birthday=2026-11-30 14:05:00 Paid=false Score=10" \
   "dates (a serial number with a date style) as dates, date-times with their time, booleans, numbers"
ok "$(q -c "SELECT string_agg(t.name, ',' ORDER BY t.name) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)")" "vip,вебинар" "a tags cell splits as in import_csv"
ok "$(err_state excel.xlsx)" '22P04 sheet column "E-MAIL" is not known' "a column import_csv does not know is named, with nothing imported"
/usr/bin/python3 - "$W" <<'PY'
import sys, zipfile
w = sys.argv[1]
zin = zipfile.ZipFile(w + "/excel.xlsx")
with zipfile.ZipFile(w + "/excel2.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
    for i in zin.infolist():
        data = zin.read(i.filename)
        if i.filename == "xl/worksheets/data.xml":
            data = data.replace(b"<t>E-MAIL</t>", b"<t>EMAIL</t>")
        z.writestr(i, data)
PY
ok "$(imp excel2.xlsx)" "3:created" "Excel's and LibreOffice's forms (inline strings, a formula's string, rich text, a skipped row): imported"
ok "$(q -c "SELECT c.name || '|' || p.phone::text || '|' || v.value FROM customercard.contacts c JOIN customercard.phones p USING (account_id, contact_id)
              JOIN customercard.custom_values v USING (account_id, contact_id) WHERE c.name LIKE 'Dmit%'")" \
   "Dmitry Petrov|+79123456781|1990-03-20" \
   "rich text without its phonetic runs, 7.9123456781E+10 as its digits, a 1904 workbook's date, an error cell as empty"
ok "$(err_state badxml.xlsx)" "22P02 this is not a readable .xlsx workbook: xl/worksheets/sheet1.xml is not well-formed XML (line 1: no element found)" "broken XML: 22P02 naming the part and the line"
ok "$(err_state nested.xlsx)" "22P02 this is not a readable .xlsx workbook: the sheet has a sheetData inside a cell (row 1)" "a row inside a cell: 22P02, no cell read twice or out of order"
ok "$(err_state notxlsx.xlsx)" "22P02 this is not a readable .xlsx workbook: the archive has no xl/workbook.xml" "a zip that is not a workbook: 22P02"
ok "$(err_state garbage.xlsx | cut -c1-69)" "22P02 this is not a readable .xlsx workbook: not a zip archive, which" "a CSV file given as .xlsx: 22P02"
ok "$(err_state bomb.xlsx)" "54000 the workbook is too big to import: xl/worksheets/sheet1.xml unpacks to more than 268435456 bytes" "a zip bomb (300 MB of spaces): 54000, read no further than the limit"
ok "$(err_state truncated.xlsx | cut -c1-69)" "22P02 this is not a readable .xlsx workbook: not a zip archive, which" "a truncated download: 22P02"
echo "SELECT customercard.import_enqueue($(lit openpyxl.xlsx), 'xlsx')" > $W/q.sql
job=$(q -f $W/q.sql)
q -c "CALL customercard.bulk_run()" >/dev/null
ok "$(q -c "SELECT string_agg(line || ':' || status, ' ' ORDER BY line) FROM customercard.import_report($job)")" "2:updated 3:updated 5:updated" \
   "the workbook through the queue (import_enqueue, the runner): the same rows, matched and updated"
ok "$(q -c "SELECT count(*) FROM customercard.contacts")" "4" "... and the failed imports changed nothing"
