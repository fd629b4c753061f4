#!/usr/bin/env bash
# merge, unmerge and forget_contact on a coordinator and two workers give
# the cards they give on one node.  The same script of an application — a
# pooled role that sets the account and the actor with SET LOCAL in each
# transaction — runs in a database distributed by distribute_on_citus() and
# in a one-node database on the coordinator (no Citus in it); the cards
# after each step must be the same, but for ids and times (log rows and
# merges take ids from the node that writes them).  Then: each of the three
# runs on the account's node as one delegated call, also in a session that
# first used every read function (a Citus planner state can stop delegation
# for a session: docs/scaling.md), and so does upsert_contact; and a call Citus did not delegate is a
# clear error; card_json, audience_search and a bulk batch touch the
# account's shards only; archive_action_log runs account by account on their nodes,
# and the append-only guards name tables, not shards.  Prints TAP.  Needs CITUS_DIR and PGHOST/PGPORT of the
# coordinator (test/scripts/run_citus_tests.sh sets them).
set -euo pipefail
source "$(dirname "$0")/../scripts/citus.sh"
source "$(dirname "$0")/../shell/lib/cards.sh"
DIST=cc_merge_dist
LOCAL=cc_merge_local
cleanup() {
    psql -X -q -d $DIST -c "DROP EXTENSION IF EXISTS customercard CASCADE" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $LOCAL WITH (FORCE)" >/dev/null 2>&1 || true
    for node in $CITUS_NODES; do
        psql -X -q -p "$(citus_port "$CITUS_DIR" $node)" -d postgres -c "DROP DATABASE IF EXISTS $DIST WITH (FORCE)" >/dev/null 2>&1 || true
    done
    psql -X -q -d postgres -c "DROP ROLE IF EXISTS cc_m_app" >/dev/null 2>&1 || true
}
cleanup; trap cleanup EXIT
echo "1..15"

citus_create_db "$CITUS_DIR" $DIST
q $DIST -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
q $DIST -c "SELECT count(*) FROM customercard.distribute_on_citus()" >/dev/null 2>&1
q postgres -c "CREATE DATABASE $LOCAL"
q $LOCAL -c "CREATE EXTENSION customercard CASCADE" 2>/dev/null
# made where Citus is, so that every node has the role
q $DIST -c "CREATE ROLE cc_m_app LOGIN IN ROLE customercard_app, customercard_admin"
for db in $DIST $LOCAL; do q $db -c "SELECT customercard.create_account('Second shop', 'DE', 'EUR')" >/dev/null; done

# tx DB SQL...: one transaction of the application in account 1
tx() { local db=$1; shift; { printf 'BEGIN;\nSET LOCAL customercard.account_id = 1;\nSET LOCAL customercard.actor = %s;\n' "'app:merge'";
                             printf '%s\n' "$@"; echo 'COMMIT;'; } | psql -X -q -At -v ON_ERROR_STOP=1 -U cc_m_app -d "$db"; }

# fill DB [N]: two cards of one person with rows in every kind of section,
# colliding ones too, the order numbered A-N; prints their ids.  (INSERT ... SELECT under row-level security
# is a COPY on Citus, which it refuses: a DO block instead)
fill() {
    local x y
    tx "$1" "INSERT INTO customercard.custom_fields (name) VALUES ('city_of_birth'), ('shoe_size') ON CONFLICT DO NOTHING;" >/dev/null
    x=$(tx "$1" "SELECT customercard.upsert_contact('{\"name\": \"Anna Petrova\", \"phones\": [\"8 912 345 67 89\"], \"emails\": [\"anna@example.ru\"],
                  \"tags\": [\"vip\", \"webinar\"], \"custom\": {\"city_of_birth\": \"Omsk\"}, \"channel\": {\"kind\": \"telegram\", \"external_id\": 100}}');")
    y=$(tx "$1" "SELECT customercard.upsert_contact('{\"name\": \"А. Петрова\", \"phones\": [\"+7 913 000 11 22\"], \"emails\": [\"anna.p@example.ru\"],
                  \"tags\": [\"webinar\", \"course\"], \"custom\": {\"city_of_birth\": \"Tomsk\", \"shoe_size\": \"38\"},
                  \"channel\": {\"kind\": \"vk\", \"external_id\": 200}}');")
    tx "$1" "INSERT INTO customercard.comments (contact_id, body) VALUES ($y, 'called, wants the course');" \
            "INSERT INTO customercard.orders (contact_id, number, offer, amount, currency, status) VALUES ($y, 'A-${2:-1}', 'Course', 5000, 'RUB', 'paid');" \
            "DO \$\$ DECLARE o bigint := (SELECT order_id FROM customercard.orders WHERE contact_id = $y);
             BEGIN INSERT INTO customercard.payments (contact_id, order_id, amount, status) VALUES ($y, o, 5000, 'succeeded'); END \$\$;" \
            "INSERT INTO customercard.tasks (contact_id, title) VALUES ($y, 'Send the invoice');" >/dev/null
    echo "$x $y"
}
# card DB ID X Y: the card of ID; its ids and times masked but for the
# two contacts' ids, which read X and Y (ids depend on the node that gave
# them); its log in a fixed order
card() {
    tx "$1" "SELECT customercard.card_json($2);" | python3 -c '
import json, re, sys
names = {int(sys.argv[1]): "X", int(sys.argv[2]): "Y"}
keep = {"contact_id", "requested_id", "survivor_id", "absorbed_id", "related_id"}
def mask(k, v):
    if isinstance(v, dict):
        return {a: mask(a, b) for a, b in v.items()}
    if isinstance(v, list):
        return [mask(k, x) for x in v]
    if k in keep and isinstance(v, int):
        return names.get(v, "other")
    if k and re.search(r"(^|_)(id|at)$|^(date|time|last_activity)$", k) and v is not None:
        return "~"
    if k == "description" and isinstance(v, str):
        return re.sub(r"\d+", "~", v)     # "Merge 5 undone"
    return v
c = mask(None, json.loads(sys.stdin.read()))
c["log"] = sorted(c["log"], key=lambda e: json.dumps(e, sort_keys=True))
print(json.dumps(c, sort_keys=True, ensure_ascii=False))' "$3" "$4"
}
steps() {
    local db=$1 out=$2 m x y
    set -- $(fill "$db"); x=$1; y=$2
    m=$(tx "$db" "SELECT customercard.merge($x, $y, '{name, custom:city_of_birth}');")
    { echo "merged:"; card "$db" $x $x $y; } > "$out"
    tx "$db" "SELECT customercard.unmerge($m);" >/dev/null
    { echo "unmerged:"; card "$db" $x $x $y; card "$db" $y $x $y; } >> "$out"
    tx "$db" "SELECT customercard.merge($y, $x);" >/dev/null
    tx "$db" "SELECT customercard.forget_contact($x);" >/dev/null
    { echo "forgotten:"; card "$db" $y $x $y; } >> "$out"
}
T=$(mktemp -d); trap 'cleanup; rm -rf "$T"' EXIT
steps $LOCAL "$T/local"
steps $DIST "$T/dist"
for part in merged unmerged forgotten; do
    ok "$(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/dist" | md5sum)" "$(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/local" | md5sum)" \
       "the cards after $part are those of one node"
    [ "$(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/dist")" = "$(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/local")" ] ||
        diff <(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/local" | tr ',' '\n') <(sed -n "/^$part:/,/^[a-z]*:$/p" "$T/dist" | tr ',' '\n') | head -20 | sed 's/^/#   /'
done
ok "$(q $DIST -c "SELECT string_agg(DISTINCT actor, ',') || ' ' || count(*) FILTER (WHERE event IN ('merged', 'unmerged', 'forgotten'))
                    FROM customercard.action_log WHERE account_id = 1")" "app:merge 7" \
   "every log row of the account, written on its worker, has the SET LOCAL actor (2 merges, 1 unmerge, 1 forget)"

# each call is one delegated call to the worker holding the account
remote() {   # remote SQL...: the commands the coordinator sends, one per line
    tx $DIST "SET LOCAL citus.log_remote_commands = on;" "SET LOCAL client_min_messages = notice;" "$@" 2>&1 >/dev/null |
        grep -o 'issuing .*' | sed 's/^issuing //' | grep -v '^SAVEPOINT\|^RELEASE SAVEPOINT\|^BEGIN\|^COMMIT\|^PREPARE\|^SET LOCAL' || true
}
set -- $(fill $DIST 2); s=$1; a=$2
cmds=$(remote "SELECT customercard.merge($s, $a);")
ok "$(echo "$cmds" | grep -c 'merge_apply')|$(echo "$cmds" | grep -Evc 'merge_apply|[a-z]_[0-9]{4,} ')" "1|0" \
   "merge is one delegated call (merge_apply) on the account's node, and sends nothing else but single-shard reads"
# a session that first used the read functions (card_json among them) still delegates
m=$(q $DIST -c "SELECT max(merge_id) FROM customercard.merges WHERE account_id = 1 AND undone_at IS NULL")
cmds=$(remote "SELECT count(*) FROM customercard.card_json($s);" "SELECT count(*) FROM customercard.audience_search('{\"search\": \"Anna\"}');" \
              "SELECT count(*) FROM customercard.contact_log($s);" "SELECT count(*) FROM customercard.export_rows('{}');" \
              "SELECT count(*) FROM customercard.duplicate_candidates($s);" "SELECT customercard.unmerge($m);")
ok "$(echo "$cmds" | grep -c 'unmerge_apply')" 1 "... and so is unmerge, in a transaction that first read the card, the audience, the log, the export and duplicates"
cmds=$(remote "SELECT customercard.forget_contact($a);")
ok "$(echo "$cmds" | grep -c 'forget_apply')" 1 "... and forget_contact"
cmds=$(remote "SELECT customercard.upsert_contact('{\"name\": \"Boris\", \"phones\": [\"+7 903 111 22 33\"], \"tags\": [\"vip\"]}');")
ok "$(echo "$cmds" | grep -c .)|$(echo "$cmds" | grep -c 'upsert_contact_in')" "1|1" \
   "upsert_contact sends the coordinator's one command: the delegated upsert_contact_in"

# card_json, the audience and a bulk batch read and write the shards of
# the account only, on its node: every command goes to one node, and every
# shard it names holds account 1's hash range
touches() {   # touches SQL...: "<nodes>|<shards named>|<shards of other accounts>"
    local log ids
    log=$(tx $DIST "SET LOCAL citus.log_remote_commands = on;" "SET LOCAL client_min_messages = notice;" "$@" 2>&1 >/dev/null || true)
    ids=$(echo "$log" | grep 'issuing' | grep -oE '[a-z]_[0-9]{5,}\b' | grep -oE '[0-9]+$' | sort -u | paste -sd, -)
    echo "$(echo "$log" | grep -o 'on server [^ ]*' | sort -u | wc -l)|$(q $DIST -c "
        SELECT count(*) FILTER (WHERE p.partmethod = 'h') || '|' ||
               count(*) FILTER (WHERE p.partmethod = 'h' AND NOT (worker_hash(1::bigint) BETWEEN s.shardminvalue::integer AND s.shardmaxvalue::integer))
          FROM pg_dist_shard s JOIN pg_dist_partition p USING (logicalrelid) WHERE s.shardid IN (${ids:-0})")"
}
r=$(touches "SELECT count(*) FROM customercard.card_json($s);")
ok "$(echo "$r" | sed -E 's/^1\|[1-9][0-9]*\|0$/one node, the account'"'"'s shards/')" "one node, the account's shards" \
   "card_json reads the account's shards only, on one node ($r)"
r=$(touches "SELECT count(*) FROM customercard.audience_search('{\"search\": \"Anna\"}');")
ok "$(echo "$r" | sed -E 's/^1\|[1-9][0-9]*\|0$/one node, the account'"'"'s shards/')" "one node, the account's shards" \
   "audience_search reads the account's shards only, on one node ($r)"
job=$(tx $DIST "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"bulk\"}', NULL, '{}');")
r=$(touches "SELECT customercard.bulk_run_batch(1, $job, 50);")
ok "$(echo "$r" | sed -E 's/^1\|[1-9][0-9]*\|0$/one node, the account'"'"'s shards/')|$(q $DIST -c "SELECT done > 0 FROM customercard.bulk_jobs WHERE job_id = $job")" \
   "one node, the account's shards|t" "a bulk batch writes the account's shards only, on one node ($r)"

# called where the account is not (as if Citus had not delegated it): a clear error, nothing done
set -- $(fill $DIST 3); s=$1; a=$2
# (another function in FROM: Citus delegates only a bare SELECT f(...))
err=$(psql -X -q -At -d $DIST -c "SELECT customercard.merge_apply(1, $s, $a, '{}') FROM generate_series(1, 1)" 2>&1 | head -1 || true)
ok "$(echo "$err" | grep -o 'ran on a node that does not hold the account')" "ran on a node that does not hold the account" \
   "merge_apply run on the coordinator (not delegated) stops with 55000 ..."
ok "$(q $DIST -c "SELECT count(*) FROM customercard.contacts WHERE account_id = 1 AND contact_id IN ($s, $a) AND merged_into IS NULL")" 2 \
   "... before it changes anything"

# archiving the log: one delegated call per account, on its node
before=$(q $DIST -c "SELECT count(*) FROM customercard.action_log")
ok "$(q $DIST -c "SELECT customercard.archive_action_log(now() + interval '1 minute')")|$(q $DIST -c "SELECT count(*) FROM customercard.action_log")|$(q $DIST -c "SELECT count(*) FROM customercard.action_log_archive")" \
   "$before|0|$before" "archive_action_log moves every account's log rows into the archive on the cluster ($before)"
# the guards name the table, not the shard they fired on
ok "$(psql -X -q -At -d $DIST -c "UPDATE customercard.comments SET body = 'x'" 2>&1 | head -1)" \
   "ERROR:  rows of customercard.comments cannot be updated" "an append-only guard's error names the table, not its shard"
