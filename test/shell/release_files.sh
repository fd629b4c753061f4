#!/usr/bin/env bash
# The release files agree with the one source of the version, the control
# file: META.json (PGXN, read by Python's json), CHANGELOG.md's newest entry,
# LICENSE with the libphonenumber notice, an upgrade step into the current
# version from every released one, and the version the server installs.
# Prints TAP.  Needs PGHOST/PGPORT/PGUSER of a cluster with customercard installed.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
CURRENT=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/customercard.control")
echo "1..7"

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
        step=$(cd "$ROOT/upgrade" && ls customercard--"$w"--*.sql 2>/dev/null | head -1)
        [ -n "$step" ] || { missing="$missing $w"; break; }
        w=$(echo "$step" | sed "s/^customercard--$w--\(.*\)\.sql$/\1/")
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
