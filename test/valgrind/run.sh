#!/usr/bin/env bash
# Run the C paths of customercard (duplicate_groups, merge/unmerge/forget
# through the rewrite switch, import_json/import_csv with good and bad
# files, export_xlsx, bulk batches) in a single-user backend under
# valgrind, and report errors whose stack passes through customercard.so
# or the libraries it links (cJSON, libxlsxwriter, libzip, expat, ICU).  Not part of `make
# test` (it takes a minute); run it after changing C code:
#   bash test/valgrind/run.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_deps
command -v valgrind >/dev/null || as_root apt-get install -y -qq valgrind >/dev/null
build_install
DIR=$(mktemp -d /tmp/customercard-valgrind.XXXXXX)
as_root chown postgres "$DIR"
trap 'as_root rm -rf "$DIR"' EXIT
as_root runuser -u postgres -- $PGBIN/initdb -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_root runuser -u postgres -- valgrind --error-limit=no --num-callers=30 --leak-check=full --log-file="$DIR/valgrind.log" \
    $PGBIN/postgres --single -j -D "$DIR/data" postgres < "$ROOT/test/valgrind/c_paths.sql" > "$DIR/out.txt" 2>&1
grep "ERROR SUMMARY\|definitely lost:" "$DIR/valgrind.log"
ours=$(awk '/^==[0-9]+== [A-Z0-9]/ { block = $0; next } /^==[0-9]+==    (at|by)/ { block = block "\n" $0 }
            /^==[0-9]+== $/ { if (block ~ /customercard\.so|libcjson|libxlsxwriter|libzip|libexpat|libicuuc/) print block; block = "" }' "$DIR/valgrind.log")
if [ -n "$ours" ]; then echo "$ours"; echo "valgrind: errors in customercard's code"; exit 1; fi
echo "valgrind: no error with customercard.so, cJSON, libxlsxwriter, libzip expat or ICU on the stack (the others are PostgreSQL's own, known: WAL padding, regex cache)"
