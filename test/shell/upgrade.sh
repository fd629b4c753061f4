#!/usr/bin/env bash
# The upgrade path (contrib's oldextversions, pg_cron's upgrade walk): for
# every released version frozen in upgrade/customercard--X.sql, install X,
# fill it through its public API, ALTER EXTENSION customercard UPDATE, then
#  - the extension is at the control file's default_version;
#  - every object of schema customercard equals a fresh install's: pg_dump
#    --binary-upgrade --schema-only dumps extension members one by one
#    (tables, columns in order, types, defaults, constraints, indexes,
#    policies, triggers, functions with volatility/security/search_path and
#    body, grants as init privileges, comments), normalised of OIDs and of
#    the stored "missing value" of a column added with a default (how the
#    old rows hold it; the default itself is compared); the
#    pg_extension_config_dump entries are compared by name;
#  - every row of every table is still there (the columns the old version
#    had), and every contact's card_json still holds all it held;
#  - the comparison is not vacuous: one changed default in the fresh
#    install is reported.
# Released scripts never change: their sha256 sums are pinned here.
# Prints TAP.  Needs PGHOST/PGPORT/PGUSER (a superuser) of a cluster.
set -euo pipefail
source "$(dirname "$0")/lib/cards.sh"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CURRENT=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/customercard.control")
FRESH=cc_up_fresh
WORK=$(mktemp -d /tmp/cc_upgrade.XXXXXX)
# every released version before the current one
OLD_VERSIONS=$(cd "$ROOT/upgrade" && ls customercard--*.sql | grep -v -- '--.*--' | sed 's/customercard--\(.*\)\.sql/\1/' \
               | grep -vx -F "$CURRENT" | sort -V)
trap 'rm -rf "$WORK"; dropdb --if-exists $FRESH; for v in $OLD_VERSIONS; do dropdb --if-exists "cc_up_$(echo $v | tr . _)"; done' EXIT

# released install scripts, byte for byte as they shipped
declare -A RELEASED=(
    [0.1]=e853fd30e43f30f244052a97dce0a87dd367de3f667093697ad892829d3d0829
    [0.2]=995029d524d25382a610a35ede07120da83791e0816190f00fa5cd44454df863
)
# released step scripts too
declare -A RELEASED_STEPS=(
    [0.1--0.2]=bce5e71376c559dd5df46dfc573462dc44c258c2f26abfc86461743baa2cdd8c
)

# schema DB: the extension's objects, one by one, without OIDs or dump keys
schema() {
    $PGBIN/pg_dump --binary-upgrade --schema-only --no-owner --exclude-schema=public --exclude-schema=customercard_demo -d "$1" 2>/dev/null \
    | grep -v -e '^\\restrict ' -e '^\\unrestrict ' -e 'binary_upgrade_set_next_' -e '^-- Dumped ' -e '^SELECT pg_catalog.setval(' \
              -e '^-- set missing value\.' -e 'binary_upgrade_set_missing_value(' \
    | sed -E '/^-- For binary upgrade, set .*relfrozenxid/,/^WHERE /d' \
    | sed -E "s/^(SELECT pg_catalog.binary_upgrade_create_empty_extension\('customercard', 'customercard', [a-z]+, )'[^']*'.*/\1(config tables below)/" \
    | cat -s
    q "$1" -c "SELECT 'config dump: ' || c::regclass || ' ' || coalesce(nullif(w, ''), 'all rows')
                 FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, w)
                WHERE e.extname = 'customercard' ORDER BY 1"
}

dropdb --if-exists $FRESH; createdb $FRESH
q $FRESH -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
schema $FRESH > "$WORK/fresh.schema"
versions=$(echo $OLD_VERSIONS | wc -w)
# next_released V: the released version after V, if any (the walk passes it)
next_released() { echo $OLD_VERSIONS | tr ' ' '\n' | awk -v v="$1" 'f {print; exit} $0 == v {f = 1}'; }
# (the current version, when released, is the end of every walk, not a stop on it)
walks=0
for v in $OLD_VERSIONS; do [ -n "$(next_released "$v")" ] && walks=$((walks + 1)); done
released=$(cd "$ROOT/upgrade" && ls customercard--*.sql | grep -v -- '--.*--' | sed 's/customercard--\(.*\)\.sql/\1/' | sort -V)
echo "1..$((versions * 6 + 2 + walks * 2 + $(echo $released | wc -w) + ${#RELEASED_STEPS[@]}))"
for v in $released; do
    ok "$(sha256sum "$ROOT/upgrade/customercard--$v.sql" | cut -d' ' -f1)" "${RELEASED[$v]:-not pinned}" \
       "customercard--$v.sql is the released $v install script, unchanged"
done
for step in "${!RELEASED_STEPS[@]}"; do
    ok "$(sha256sum "$ROOT/upgrade/customercard--$step.sql" 2>/dev/null | cut -d' ' -f1)" "${RELEASED_STEPS[$step]}" \
       "customercard--$step.sql is the released step, unchanged"
done
ok "$(q $FRESH -c "SELECT extversion FROM pg_extension WHERE extname = 'customercard'")" "$CURRENT" \
   "a fresh install is at the control file's default_version ($CURRENT)"

for v in $OLD_VERSIONS; do
    db="cc_up_$(echo $v | tr . _)"

    dropdb --if-exists "$db"; createdb "$db"
    q "$db" -c "CREATE EXTENSION customercard VERSION '$v' CASCADE" 2>/dev/null
    fill_full_account "$db"
    # between installing this build and ALTER EXTENSION ... UPDATE, the old
    # version's SQL calls this library: its imports, exports and triggers work
    ok "$(q "$db" -c "SELECT (SELECT string_agg(status, ',') FROM customercard.import_csv(E'name,email\nOld api,old.api@example.com\n'))
                         || ' ' || (customercard.export_csv('{}') LIKE E'\uFEFFcontact_id,%')
                         || ' ' || (length(customercard.export_xlsx('{}')) > 1000)" 2>&1)" "created true true" \
       "$v's SQL runs on this build's library until the update (import_csv, export_csv, export_xlsx)"
    # what the old version holds: each table's columns and rows, each card
    q "$db" >/dev/null <<'SQL'
CREATE TABLE public.up_tables AS
SELECT c.relname, array_agg(quote_ident(a.attname) ORDER BY a.attnum) AS cols
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
 GROUP BY c.relname;
CREATE FUNCTION public.up_rows(rel text, cols text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(x, ''|'' ORDER BY x)), '''')
                      FROM (SELECT ROW(%s)::text AS x FROM customercard.%I) t', array_to_string(cols, ', '), rel) INTO r;
    RETURN r;
END $$;
CREATE TABLE public.up_rows_before AS SELECT relname, public.up_rows(relname, cols) AS fp FROM public.up_tables;
CREATE TABLE public.up_cards_before AS
SELECT a.account_id, c.contact_id, customercard.card_json(c.contact_id) AS card
  FROM customercard.accounts a, LATERAL (SELECT set_config('customercard.account_id', a.account_id::text, true)) s,
       LATERAL (SELECT contact_id FROM customercard.contacts c WHERE c.account_id = a.account_id) c;
SQL
    cards=$(q "$db" -c "SELECT count(*) FROM public.up_cards_before")

    # the walk through the next release: v updated to it is that release
    w=$(next_released "$v")
    if [ -n "$w" ]; then
        fw="cc_up_fresh_$(echo $w | tr . _)"
        dropdb --if-exists "$fw"; createdb "$fw"
        q "$fw" -c "CREATE EXTENSION customercard VERSION '$w' CASCADE" 2>/dev/null
        schema "$fw" > "$WORK/fresh-$w.schema"
        dropdb "$fw"
        out=$(q "$db" -c "ALTER EXTENSION customercard UPDATE TO '$w'" 2>&1) || true
        ok "$out|$(q "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'customercard'")" "|$w" \
           "ALTER EXTENSION customercard UPDATE TO '$w' takes $v to the release $w"
        schema "$db" > "$WORK/$v-$w.schema"
        if diff -u "$WORK/fresh-$w.schema" "$WORK/$v-$w.schema" > "$WORK/$v-$w.diff"; then
            ok same same "$v updated to $w has the objects of a fresh $w install"
        else
            ok "differs (fresh ← → updated)" same "$v updated to $w has the objects of a fresh $w install"
            head -60 "$WORK/$v-$w.diff" | sed 's/^/#   /'
        fi
    fi

    out=$(q "$db" -c "ALTER EXTENSION customercard UPDATE" 2>&1) || true
    ok "$out|$(q "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'customercard'")" "|$CURRENT" \
       "ALTER EXTENSION customercard UPDATE takes $v to $CURRENT"

    schema "$db" > "$WORK/$v.schema"
    objects=$(grep -c '^-- Name: .*; Schema: customercard;' "$WORK/$v.schema" || true)
    if [ "$objects" -lt 500 ]; then
        ok "$objects objects dumped" "the extension's objects" "$v updated to $CURRENT has the objects of a fresh $CURRENT install"
    elif diff -u "$WORK/fresh.schema" "$WORK/$v.schema" > "$WORK/$v.diff"; then
        ok same same "$v updated to $CURRENT has the objects of a fresh $CURRENT install ($objects objects)"
    else
        ok "differs (fresh ← → updated)" same "$v updated to $CURRENT has the objects of a fresh $CURRENT install"
        head -80 "$WORK/$v.diff" | sed 's/^/#   /'
    fi

    ok "$(q "$db" -c "SELECT coalesce(string_agg(b.relname || ' ' || b.fp || ' -> ' || coalesce(public.up_rows(t.relname, t.cols), 'gone'), '; '), 'none')
                        FROM public.up_rows_before b JOIN public.up_tables t USING (relname)
                       WHERE b.fp IS DISTINCT FROM public.up_rows(t.relname, t.cols)")" none \
       "every row of every $v table is still there after the update"

    # (finance is left out: 0.2 computes invoiced and income by JustClick's
    # definitions; tap/payments checks them by hand; and the person's local
    # time, which is the clock's; and the card's time zone and offset, which
    # 0.3 takes from the phone where none is stated: the stated one is the
    # contact block's, compared)
    ok "$(q "$db" -c "SELECT count(*) FILTER (WHERE (s.card_now - 'finance' #- '{card,local_time}' #- '{card,timezone}' #- '{card,utc_offset}')
                                                   @> (b.card - 'finance' #- '{card,local_time}' #- '{card,timezone}' #- '{card,utc_offset}')) || ' of ' || count(*)
                        FROM public.up_cards_before b,
                             LATERAL (SELECT set_config('customercard.account_id', b.account_id::text, true)) g,
                             LATERAL (SELECT customercard.card_json(b.contact_id) AS card_now) s")" "$cards of $cards" \
       "every card of $v still holds all it held ($cards cards)"

    # not vacuous: a difference in one default is reported
    q $FRESH -c "ALTER TABLE customercard.contacts ALTER COLUMN status SET DEFAULT 'archived'"
    schema $FRESH > "$WORK/fresh-changed.schema"
    q $FRESH -c "ALTER TABLE customercard.contacts ALTER COLUMN status SET DEFAULT 'active'"
    ok "$(diff "$WORK/fresh-changed.schema" "$WORK/$v.schema" | grep -c "DEFAULT 'archived'" || true)" 1 \
       "the comparison reports a changed column default"
done

# the current version's script is built from src/sql, never edited by hand
ok "$(cat "$ROOT"/src/sql/*.sql | cmp - "$ROOT/customercard--$CURRENT.sql" && echo built)" built \
   "customercard--$CURRENT.sql is src/sql/*.sql concatenated"
