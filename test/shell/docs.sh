#!/usr/bin/env bash
# The documents say what the tree and the code do:
#  - every ```sql block of README.md runs, in order, on a fresh install
#    (one session, stopping at the first error);
#  - every block of docs/reference.md marked <!-- runnable --> runs on a
#    fresh install, and each of its lines that ends in "-- result" gives
#    that result;
#  - docs/development.md's layout names every file of src/, src/sql/,
#    tools/, bench/ and test/scripts/, and nothing that is not there;
#  - docs/security.md's list of SECURITY DEFINER functions (the first
#    paragraph of its section) names exactly those of pg_proc, and its
#    count in words is theirs.
# Prints TAP.  Needs PGHOST/PGPORT/PGUSER (a superuser) of a cluster.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
DB=cc_docs
WORK=$(mktemp -d /tmp/cc_docs.XXXXXX)
trap 'rm -rf "$WORK"; dropdb --if-exists $DB 2>/dev/null' EXIT
echo "1..8"

# blocks FILE MARKED: the ```sql blocks of FILE (only those after a
# <!-- runnable --> line when MARKED is 1), each ending with a line "-- end of block"
blocks() {
    python3 - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
marked = sys.argv[2] == '1'
for m in re.finditer(r'(<!-- runnable -->\n)?```sql\n(.*?)```', text, re.S):
    if marked and not m.group(1):
        continue
    print(m.group(2).rstrip('\n'))
    print('-- end of block')
PY
}

fresh() { dropdb --if-exists $DB 2>/dev/null; createdb $DB; q $DB -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null; }

fresh
blocks "$ROOT/README.md" 0 > "$WORK/readme.sql"
nblocks=$(grep -c '^-- end of block' "$WORK/readme.sql")
if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -f "$WORK/readme.sql" 2>&1); then res=ran; else res="failed: $(echo "$out" | grep -m1 ERROR)"; fi
ok "$res" ran "README.md's $nblocks SQL blocks run in order on a fresh install"
ok "$(q $DB -c "SELECT (c.card -> 'custom' ->> 'Course level') || ' ' || (c.card -> 'contact' ->> 'name')
                  FROM (SELECT customercard.card_json(1) AS card) c" 2>&1)" "3 Anna Petrova" \
   "... and the card they write holds what the example sent (custom field, name)"

fresh
blocks "$ROOT/docs/reference.md" 1 > "$WORK/reference.sql"
nref=$(grep -c '^-- end of block' "$WORK/reference.sql")
if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d $DB -f "$WORK/reference.sql" 2>&1); then res=ran; else res="failed: $(echo "$out" | grep -m1 ERROR)"; fi
ok "$res" ran "docs/reference.md's $nref runnable blocks run on a fresh install"
# each "statement; -- result" line, run after the SET lines of its block
wrong=$(python3 - "$WORK/reference.sql" <<'PY'
import re, subprocess, sys
setup, bad, n = [], [], 0
for line in open(sys.argv[1], encoding='utf-8'):
    line = line.rstrip('\n')
    if line == '-- end of block':
        setup = []
        continue
    if re.match(r'SET\s', line):
        setup.append(line)
        continue
    m = re.match(r'(SELECT .*;)\s+--\s+(\S.*)$', line)
    if not m:
        continue
    n += 1
    got = subprocess.run(['psql', '-X', '-q', '-At', '-d', 'cc_docs', '-c', '\n'.join(setup + [m.group(1)])],
                         capture_output=True, text=True).stdout.strip()
    if got != m.group(2).strip():
        bad.append('%s gave %r, says %r' % (m.group(1), got, m.group(2)))
print('; '.join(bad) if bad else 'none of %d' % n)
PY
)
ok "$(echo "$wrong" | sed 's/none of [1-9][0-9]*/none/')" none "... and each line's result is what its comment says ($wrong)"

layout=$(python3 - "$ROOT" <<'PY'
import os, re, sys
root = sys.argv[1]
doc = open(os.path.join(root, 'docs/development.md'), encoding='utf-8').read()
layout = doc[doc.index('## Layout'):]
layout = layout[:layout.index('\n## ', 10)] if '\n## ' in layout[10:] else layout
named = set(re.findall(r'`([^`\s]+)`', layout))
missing = []
for d, ext in (('src', ('.c', '.h')), ('src/sql', ('.sql',)), ('test/scripts', ('.sh',)), ('bench', ('.sh', '.cc'))):
    for f in sorted(os.listdir(os.path.join(root, d))):
        if f.endswith(ext) and f not in named and os.path.join(d, f) not in named:
            missing.append(os.path.join(d, f))
for f in sorted(os.listdir(os.path.join(root, 'tools'))):
    if 'tools/' + f not in named and 'tools/' + f + '/' not in named:
        missing.append('tools/' + f)
print(' '.join(missing) or 'none')
gone = [n for n in named if re.fullmatch(r'[\w.]+\.(c|h|sql|sh|cc)', n)
        and not any(os.path.exists(os.path.join(root, d, n)) for d in ('src', 'src/sql', 'test/scripts', 'bench'))
        and n not in ('customercard--VERSION.sql',)]
print(' '.join(sorted(gone)) or 'none')
PY
)
ok "$(echo "$layout" | sed -n 1p)" none "docs/development.md's layout names every file of src/, src/sql/, tools/, bench/ and test/scripts/"
ok "$(echo "$layout" | sed -n 2p)" none "... and every file it names of those is in the tree"

# docs/security.md's SECURITY DEFINER functions, against the catalog
fresh
named=$(python3 - "$ROOT/docs/security.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
section = text.split('## SECURITY DEFINER functions', 1)[1]
para = section.strip().split('\n- ', 1)[0]
count = re.match(r'\s*(\S+)', para).group(1)
print(count)
print(','.join(sorted(set(re.findall(r'`([a-z_]+)`', para)))))
PY
)
word=$(echo "$named" | sed -n 1p)
catalog=$(q $DB -c "SELECT string_agg(DISTINCT p.proname, ',' ORDER BY p.proname) FROM pg_proc p WHERE p.pronamespace = 'customercard'::regnamespace AND p.prosecdef")
listed=$(q $DB -c "SELECT string_agg(DISTINCT n, ',' ORDER BY n) FROM unnest(string_to_array('$(echo "$named" | sed -n 2p)', ',')) n
                    WHERE EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = 'customercard'::regnamespace AND p.proname = n)")
ok "$listed" "$catalog" "docs/security.md names exactly the SECURITY DEFINER functions of pg_proc"
nsec=$(q $DB -c "SELECT count(DISTINCT p.proname) FROM pg_proc p WHERE p.pronamespace = 'customercard'::regnamespace AND p.prosecdef")
words=(zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty)
spelled() { local v=$1; if [ "$v" -le 20 ]; then echo "${words[$v]}"; else local t=("" "" twenty thirty forty); local u=$((v % 10)); echo "${t[$((v / 10))]}$([ $u -gt 0 ] && echo "-${words[$u]}")"; fi; }
ok "$(echo "$word" | tr "A-Z" "a-z")" "$(spelled "$nsec")" "... and gives their number ($nsec) in words"
