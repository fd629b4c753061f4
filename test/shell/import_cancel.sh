#!/usr/bin/env bash
# The import parsers are linear in their input and honour a cancel: files
# of the shapes that once took quadratic time or could not be stopped -- an
# .xlsx whose styles hold N custom number formats and N cell formats, one
# with millions of shared strings, a CSV whose header has 100,000 columns,
# a JSON array of 16 million objects -- each run under
# statement_timeout = 1s, and each call ends within 2.5 s of its start
# (done, or cancelled with 57014); pg_terminate_backend ends an import
# in the middle of reading a workbook within 1.5 s.  (The bounds are wide:
# before, the styles alone took minutes and a workbook was read to its end
# whatever the cancel.)  Prints TAP.  Needs PGHOST/PGPORT/PGUSER (a
# superuser) of a cluster; /usr/bin/python3.
set -euo pipefail
DB=cc_import_cancel
W=$(mktemp -d)
chmod 755 "$W"
trap 'psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"'$DB'"'" >/dev/null 2>&1; dropdb --if-exists $DB >/dev/null 2>&1; rm -rf $W' EXIT
dropdb --if-exists $DB >/dev/null 2>&1; createdb $DB
psql -X -q -d $DB -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
/usr/bin/python3 - "$W" <<'PY'
import os, sys, zipfile
w = sys.argv[1]
def workbook(path, styles='', strings='<si><t>name</t></si><si><t>Ann</t></si>',
             rows='<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'):
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships'
    z = zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED)
    z.writestr('[Content_Types].xml', '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
    z.writestr('xl/workbook.xml', '<workbook %s xmlns:r="%s"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>' % (ns, rel))
    z.writestr('xl/_rels/workbook.xml.rels', '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               '<Relationship Id="rId1" Type="%s/worksheet" Target="worksheets/sheet1.xml"/></Relationships>' % rel)
    z.writestr('xl/styles.xml', '<styleSheet %s>%s</styleSheet>' % (ns, styles))
    z.writestr('xl/sharedStrings.xml', '<sst %s>%s</sst>' % (ns, strings))
    z.writestr('xl/worksheets/sheet1.xml', '<worksheet %s><sheetData>%s</sheetData></worksheet>' % (ns, rows))
    z.close()
    os.chmod(path, 0o644)
n = 200000
workbook(w + '/styles.xlsx', styles='<numFmts>%s</numFmts><cellXfs>%s</cellXfs>' % (
    ''.join('<numFmt numFmtId="%d" formatCode="yyyy-mm-dd"/>' % (200 + i) for i in range(n)),
    ''.join('<xf numFmtId="%d"/>' % (200 + (i * 7919) % n) for i in range(n))))
workbook(w + '/strings.xlsx', strings='<si><t>name</t></si><si><t>Ann</t></si>' + '<si><t>s</t></si>' * 12000000)
with open(w + '/many.json', 'w') as f:
    f.write('[' + ','.join('{"name":"n%d"}' % i for i in range(16000000)) + ']')
os.chmod(w + '/many.json', 0o644)
with open(w + '/wide.csv', 'w') as f:
    f.write(','.join('custom:c%d' % i for i in range(100000)) + '\r\n' + ','.join('v' for i in range(100000)) + '\r\n')
os.chmod(w + '/wide.csv', 0o644)
PY
echo "1..5"
n=0
# timed FILE SQL: the call's outcome (done, or the SQLSTATE) and whether it ended within 2.5 s
timed() {
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(psql -X -q -At -d $DB -v VERBOSITY=sqlstate -c "SET statement_timeout = '1s'" -c "SET customercard.account_id = 1" -c "$2" 2>&1 | tail -1 || true)
    t1=$(date +%s%N)
    case "$out" in ERROR:*57014*) out=cancelled ;; ERROR:*) ;; *) out=done ;; esac
    echo "$out $(( (t1 - t0) / 1000000 < 2500 )) ($(( (t1 - t0) / 1000000 )) ms)"
}
ok() { n=$((n + 1)); case "$1" in "$2"*) echo "ok $n - $3${1#"$2"}" ;; *) echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2...";; esac; }
r=$(timed "$W/styles.xlsx" "SELECT count(*) FROM customercard.import_xlsx(pg_read_binary_file('$W/styles.xlsx'))")
ok "$(echo "$r" | cut -d' ' -f2-)" "1" "a workbook with 200,000 number formats and 200,000 cell formats ends (done or cancelled) within 2.5 s under statement_timeout = 1s $(echo "$r" | cut -d' ' -f1)"
r=$(timed "$W/strings.xlsx" "SELECT count(*) FROM customercard.import_xlsx(pg_read_binary_file('$W/strings.xlsx'))")
ok "$r" "cancelled 1" "a workbook of 12 million shared strings (204 MB of XML) is cancelled while it is read, within 2.5 s"
r=$(timed "$W/wide.csv" "SELECT count(*) FROM customercard.import_csv(pg_read_file('$W/wide.csv'))")
ok "$(echo "$r" | cut -d' ' -f2-)" "1" "a CSV whose header has 100,000 columns ends within 2.5 s under statement_timeout = 1s $(echo "$r" | cut -d' ' -f1)"
r=$(timed "$W/many.json" "SELECT count(*) FROM customercard.import_json(pg_read_file('$W/many.json'))")
ok "$r" "cancelled 1" "a JSON array of 16 million objects (300 MB) is cancelled while it is read, within 2.5 s"
# pg_terminate_backend in the middle of reading the workbook
PGAPPNAME=cc_cancel_me psql -X -q -d $DB -c "SET customercard.account_id = 1" \
    -c "SELECT count(*) FROM customercard.import_xlsx(pg_read_binary_file('$W/strings.xlsx'))" >/dev/null 2>&1 &
for i in $(seq 1 100); do
    [ "$(psql -X -q -At -d $DB -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cc_cancel_me' AND query LIKE '%import_xlsx%' AND state = 'active'")" = 1 ] && break
    sleep 0.05
done
sleep 0.5
t0=$(date +%s%N)
psql -X -q -At -d $DB -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cc_cancel_me'" >/dev/null
for i in $(seq 1 200); do
    [ "$(psql -X -q -At -d $DB -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cc_cancel_me'")" = 0 ] && break
    sleep 0.02
done
t1=$(date +%s%N)
gone=$(psql -X -q -At -d $DB -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cc_cancel_me'")
ok "$gone $(( (t1 - t0) / 1000000 < 1500 )) ($(( (t1 - t0) / 1000000 )) ms)" "0 1" "pg_terminate_backend ends an import in the middle of reading a workbook within 1.5 s"
wait || true
