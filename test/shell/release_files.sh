#!/usr/bin/env bash
# The release files agree with the one source of the version, the control
# file: META.json (PGXN, read by Python's json), CHANGELOG.md's newest entry,
# LICENSE with the libphonenumber notice, an upgrade step into the current
# version from every released one, and the version the server installs.
# Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster with customercard installed.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
CURRENT=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/customercard.control")
echo "1..9"

ok "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["version"], m["provides"]["customercard"]["version"])' "$ROOT/META.json")" \
   "$CURRENT.0 $CURRENT.0" "META.json's version and provides.customercard.version are $CURRENT.0 (PGXN's semver of $CURRENT)"
ok "$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(list(m["license"])[0], m["meta-spec"]["version"])' "$ROOT/META.json")" \
   "PostgreSQL 1.0.0" "META.json names the PostgreSQL License and PGXN meta-spec 1.0.0"
ok "$(grep -m1 '^## ' "$ROOT/CHANGELOG.md" | awk '{print $2}')" "$CURRENT" "CHANGELOG.md's newest entry is $CURRENT"
ok "$(grep -c -e 'PostgreSQL License' -e 'Apache License, Version 2.0' -e 'The Libphonenumber Authors' "$ROOT/LICENSE")" 3 \
   "LICENSE: the PostgreSQL License, and the Apache-2.0 notice of the libphonenumber metadata"

# every released version reaches the current one step by step
missing=""
for f in "$ROOT"/upgrade/customercard--*.sql; do
    v=$(basename "$f" .sql | sed 's/^customercard--//')
    case "$v" in *--*) continue;; esac
    w=$v
    while [ "$w" != "$CURRENT" ]; do
        # a released step (.sql), or the one in the making (.in, built by make)
        step=$(cd "$ROOT/upgrade" && { ls customercard--"$w"--*.sql customercard--"$w"--*.in 2>/dev/null || true; } | head -1)
        [ -n "$step" ] || { missing="$missing $w"; break; }
        w=$(echo "$step" | sed "s/^customercard--$w--\(.*\)\.\(sql\|in\)$/\1/")
    done
done
ok "${missing:-none}" none "an upgrade path leads from every released version to $CURRENT"
nolog=""
for v in $CURRENT $(cd "$ROOT/upgrade" && ls customercard--*.sql | grep -v -- '--.*--' | sed 's/customercard--\(.*\)\.sql/\1/'); do
    grep -q "^## $v\b" "$ROOT/CHANGELOG.md" || nolog="$nolog $v"
done
ok "${nolog:-none}" none "CHANGELOG.md has an entry for every released version and for $CURRENT"
ok "$(q postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'customercard'")" "$CURRENT" \
   "the server offers $CURRENT as customercard's default version"

# the front door stays small, and every link between the documents leads somewhere
ok "$([ "$(wc -c < "$ROOT/README.md")" -lt 15000 ] && echo small || echo "$(wc -c < "$ROOT/README.md") bytes")" small \
   "README.md is under 15 kB (long chapters live in docs/)"
ok "$(python3 - "$ROOT" <<'PY'
import os, re, sys
root = sys.argv[1]
def anchors(path):
    out = set()
    for line in open(path, encoding='utf-8'):
        m = re.match(r'#+ (.*)', line)
        if m:
            a = re.sub(r'[^\w\- ]', '', m.group(1).strip().lower()).replace(' ', '-')
            out.add(a)
    return out
bad = []
files = ['README.md', 'CHANGELOG.md'] + ['docs/' + f for f in sorted(os.listdir(os.path.join(root, 'docs'))) if f.endswith('.md')]
for f in files:
    text = open(os.path.join(root, f), encoding='utf-8').read()
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+:', target):
            continue
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(root, os.path.dirname(f), path)) if path else os.path.join(root, f)
        if not os.path.exists(full):
            bad.append(f + ': ' + target)
        elif frag and full.endswith('.md') and frag not in anchors(full):
            bad.append(f + ': ' + target)
print(', '.join(bad) or 'none')
PY
)" none "every link in README.md, CHANGELOG.md and docs/ leads to a file and heading that exist"
