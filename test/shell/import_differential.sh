#!/usr/bin/env bash
# The set path of the imports against the row path, on twin databases.
# Generated files (IMPORT_DIFF_FILES of them, IMPORT_DIFF_ROWS rows each,
# IMPORT_DIFF_SEED repeats a run) -- duplicates inside a file, rows that
# match the account's contacts by channel, e-mail and phone, bad phones,
# e-mails, genders, IPs and custom values, unknown funnels, rows missing
# what the file's "require" setting asks for, Viber subscribers, JSON rows
# with contact ids, phone objects and channel lists -- are imported three
# ways into copies of one database:
#   set:   import_csv / import_json (import_set, a statement per section)
#   queue: import_enqueue and the runner's batches (import_batch)
#   row:   each row of import_rows through import_upsert alone, in line
#          order, in a subtransaction (upsert_contact's path, as 0.2 did)
# Then every card table, the report and every log event (contacts named by
# the first line that made them, other ids and times left out) must be the
# same.  IMPORT_DIFF_BREAK=1 makes the row path differ on purpose (a tag
# more per row) to show the comparison fails.  Prints TAP.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILES=${IMPORT_DIFF_FILES:-8}
ROWS=${IMPORT_DIFF_ROWS:-300}
SEED=${IMPORT_DIFF_SEED:-$RANDOM}
W=$(mktemp -d)
DBS="cc_idiff_base cc_idiff_set cc_idiff_queue cc_idiff_row"
trap '[ -n "${IMPORT_DIFF_KEEP:-}" ] || { for d in $DBS; do dropdb --if-exists $d >/dev/null 2>&1; done; rm -rf $W; }' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }

echo "1..$((FILES * 3 + 1))"
echo "# seed $SEED"
for d in $DBS; do dropdb --if-exists $d >/dev/null 2>&1; done
createdb cc_idiff_base
q cc_idiff_base -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
# the account: funnels, custom fields, a manager, and contacts the files match
q cc_idiff_base >/dev/null <<'SQL'
SET customercard.account_id = 1;
UPDATE customercard.accounts SET default_region = 'RU' WHERE account_id = 1;
INSERT INTO customercard.funnels (name) VALUES ('Webinar'), ('Free lesson');
INSERT INTO customercard.lgts (funnel_id, name) SELECT funnel_id, 'Ads' FROM customercard.funnels WHERE name = 'Webinar';
INSERT INTO customercard.custom_fields (name, kind) VALUES ('Level', 'number'), ('Note', 'text'), ('Since', 'date'), ('Paid', 'boolean');
INSERT INTO customercard.managers (name) VALUES ('Olga');
SELECT customercard.upsert_contact(jsonb_build_object(
           'name', 'Seed ' || i,
           'phones', jsonb_build_array('+7 900 000-' || lpad(i::text, 4, '0')),
           'emails', jsonb_build_array('seed' || i || '@example.com'),
           'channel', jsonb_build_object('kind', 'telegram', 'external_id', 'tg-seed-' || i, 'connection', 'bot1'),
           'tags', jsonb_build_array('seeded'),
           'custom', jsonb_build_object('Note', 'seed note ' || i)))
  FROM generate_series(1, 40) i;
-- a merged pair: rows matching the tombstone's keys land on the survivor
SELECT customercard.merge(2, 3);
SQL
for d in set queue row; do createdb -T cc_idiff_base cc_idiff_$d; done

python3 - "$W" "$FILES" "$ROWS" "$SEED" <<'PY'
import csv, io, json, random, sys
w, files, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
def phone():
    k = rnd.random()
    if k < 0.25: return '+7 900 000-%04d' % rnd.randint(1, 45)           # the seeded ones, and a few more
    if k < 0.35: return '8 (900) 000-%02d-%02d' % divmod(rnd.randint(1, 45), 100)  # the same, typed nationally
    if k < 0.38: return rnd.choice(['12', 'abc', '+7 900', '000'])        # not phones
    return '+7 912 %03d-%02d-%02d' % (rnd.randint(0, 30), rnd.randint(0, 99), rnd.randint(0, 99))
def email():
    k = rnd.random()
    if k < 0.25: return 'Seed%d@Example.com' % rnd.randint(1, 45)
    if k < 0.28: return rnd.choice(['not-an-email', 'a@', '@b.c'])
    return 'user%d@mail.example' % rnd.randint(1, rows // 3)
def social():
    k = rnd.random()
    if k < 0.3: return 'tg-seed-%d' % rnd.randint(1, 45)
    return 'tg-%d' % rnd.randint(1, rows // 4)
def maybe(p, f):
    return f() if rnd.random() < p else ''
settings_pool = [{}, {"connection": "bot1", "channel_kind": "telegram", "tags": ["imported"]},
                 {"funnel": "Webinar", "lgt": "Ads"}, {"require": "email", "tags": ["list"]},
                 {"require": "social_id", "channel_kind": "telegram", "connection": "bot1", "funnel": "Free lesson"}]
for f in range(files):
    settings = settings_pool[f % len(settings_pool)]
    if f % 3 == 2:
        # JSON: keys the set leaves to the row path too
        out = []
        for i in range(rows):
            o = {}
            if rnd.random() < 0.8: o['name'] = rnd.choice(['Anna', 'Boris', 'Вера', '  Gleb ', '', 'X' * 600]) + maybe(0.5, lambda: str(rnd.randint(1, 9)))
            if rnd.random() < 0.5: o['phones'] = [phone() for _ in range(rnd.randint(0, 2))]
            if rnd.random() < 0.2: o['phone'] = rnd.choice([phone(), 79120000000 + rnd.randint(0, 50)])
            if rnd.random() < 0.5: o['emails'] = [email() for _ in range(rnd.randint(0, 2))]
            if rnd.random() < 0.1: o['phones'] = [{"phone": phone(), "kind": rnd.choice(['work', 'home', 'fax']), "primary": rnd.random() < 0.5}]
            if rnd.random() < 0.4: o['channel'] = {"kind": rnd.choice(['telegram', 'telegram', 'vk', 'viber', 'icq']), "external_id": social()}
            if rnd.random() < 0.05: o['channels'] = [{"kind": "vk", "external_id": social()}]
            if rnd.random() < 0.08: o['contact_id'] = rnd.choice([1, 3, 7, 99999])
            if rnd.random() < 0.05: o['manager_id'] = rnd.choice([1, 2])
            if rnd.random() < 0.05: o['created_at'] = rnd.choice(['2026-01-02', 'yesterday-ish'])
            if rnd.random() < 0.3: o['tags'] = rnd.choice([['vip'], ['a', 'b', 'vip'], [' vip '], [''], 'vip', None])
            if rnd.random() < 0.3: o['custom'] = rnd.choice([{"Level": rnd.choice([1, '2.5', 'x'])}, {"Note": None}, {"Nope": 1},
                                                             {"Since": rnd.choice(['2026-01-01', 'soon'])}, {"Paid": rnd.choice([True, 'maybe'])}])
            if rnd.random() < 0.1: o['funnel'] = rnd.choice(['Webinar', 'Free lesson', 'Nope', 1])
            if rnd.random() < 0.05: o['lgt'] = 'Ads'
            if rnd.random() < 0.1: o['gender'] = rnd.choice(['m', 'F', 'unknown', 'robot', None])
            if rnd.random() < 0.05: o['status'] = rnd.choice(['archived', 'gone', None])
            if rnd.random() < 0.05: o['ip'] = rnd.choice(['10.0.0.1', '::1', '300.1.1.1'])
            if rnd.random() < 0.03: o['nonsense'] = 1
            out.append(o)
        open('%s/f%d.json' % (w, f), 'w').write(json.dumps(out, ensure_ascii=False))
    else:
        cols = ['name', 'phone', 'email', 'tags', 'social_id', 'channel', 'funnel', 'custom:Level', 'Note', 'gender', 'status', 'ip', 'timezone']
        if f % 2:
            cols.append('connection')
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator='\r\n')
        wr.writerow(cols)
        for i in range(rows):
            r = {'name': maybe(0.9, lambda: rnd.choice(['Anna', 'Boris', 'Вера', 'Gleb']) + ' ' + str(rnd.randint(1, 50))),
                 'phone': maybe(0.6, lambda: '; '.join(phone() for _ in range(rnd.randint(1, 2)))),
                 'email': maybe(0.6, email), 'tags': maybe(0.4, lambda: rnd.choice(['vip', 'a, b', 'vip; new'])),
                 'social_id': maybe(0.5, social), 'channel': '',
                 'funnel': maybe(0.1, lambda: rnd.choice(['Webinar', 'Free lesson', 'Nope'])),
                 'custom:Level': maybe(0.2, lambda: rnd.choice(['1', '2.5', 'x'])), 'Note': maybe(0.2, lambda: 'note %d' % rnd.randint(1, 5)),
                 'gender': maybe(0.1, lambda: rnd.choice(['m', 'female', 'robot'])), 'status': maybe(0.05, lambda: rnd.choice(['archived', 'gone'])),
                 'ip': maybe(0.05, lambda: rnd.choice(['10.0.0.1', '300.1.1.1'])), 'timezone': maybe(0.05, lambda: rnd.choice(['Europe/Moscow', 'Mars/Base'])),
                 'connection': maybe(0.3, lambda: rnd.choice(['bot1', 'bot2']))}
            if r['social_id'] and rnd.random() < 0.9 or rnd.random() < 0.05:
                r['channel'] = rnd.choice(['telegram'] * 12 + ['vk'] * 6 + ['viber', 'icq'])
            else:
                r['channel'] = ''
            if rnd.random() < 0.03:
                r = {c: '' for c in cols}                       # an empty line
            wr.writerow([r[c] for c in cols])
        open('%s/f%d.csv' % (w, f), 'w').write(buf.getvalue())
    open('%s/f%d.settings' % (w, f), 'w').write(json.dumps(settings))
PY

# the rows, the report and the log of a database as comparable text
cat > "$W/canon.sql" <<'SQL'
SET customercard.account_id = 1;
CREATE TEMP TABLE report AS SELECT * FROM public.report_rows;
CREATE FUNCTION pg_temp.cc(id bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN id IS NULL THEN NULL WHEN id <= 40 THEN 'E' || id
                ELSE coalesce('L' || (SELECT min(lpad(r.f, 4) || ':' || lpad(r.line::text, 6, '0')) FROM pg_temp.report r WHERE r.contact_id = id), 'X?') END
$$;
CREATE FUNCTION pg_temp.noids(d jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(d::text,
               '"(\w+_at|at)": \{[^{}]*\}', '"\1": {time}', 'g'),
               '"(\w+_at|at)": "[^"]*"', '"\1": time', 'g'),
               '"(\w+_id|id)": [0-9]+', '"\1": id', 'g')
$$;
SELECT 'contact ' || pg_temp.cc(c.contact_id) || ' ' || row(c.name, c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url, c.gender,
       c.gender_source, c.timezone, c.country, c.city, c.ip, c.note, c.status, c.manager_id, pg_temp.cc(c.merged_into), c.deleted_at IS NULL)::text
  FROM customercard.contacts c
UNION ALL SELECT 'phone ' || pg_temp.cc(p.contact_id) || ' ' || row(p.phone::text, p.raw, p.kind, p.is_primary)::text FROM customercard.phones p
UNION ALL SELECT 'email ' || pg_temp.cc(e.contact_id) || ' ' || row(e.email, e.raw, e.is_primary, e.status)::text FROM customercard.emails e
UNION ALL SELECT 'channel ' || pg_temp.cc(h.contact_id) || ' ' || row(h.kind, h.connection, h.external_id, h.username, h.avatar_url)::text
  FROM customercard.channels h
UNION ALL SELECT 'subscription ' || pg_temp.cc(s.contact_id) || ' ' || row(h.kind, h.external_id, f.name, l.name, s.source, s.unsubscribed_at IS NULL)::text
  FROM customercard.subscriptions s JOIN customercard.funnels f USING (account_id, funnel_id)
  LEFT JOIN customercard.lgts l USING (account_id, lgt_id) LEFT JOIN customercard.channels h USING (account_id, channel_id)
UNION ALL SELECT 'tag ' || t.name FROM customercard.tags t
UNION ALL SELECT 'contact_tag ' || pg_temp.cc(ct.contact_id) || ' ' || t.name || ' ' || ct.added_by
  FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
UNION ALL SELECT 'custom ' || pg_temp.cc(v.contact_id) || ' ' || f.name || '=' || v.value
  FROM customercard.custom_values v JOIN customercard.custom_fields f USING (account_id, field_id)
UNION ALL SELECT 'viber mark ' || row(m.connection, m.external_id)::text FROM customercard.import_marks m
UNION ALL SELECT 'report ' || r.f || ':' || r.line || ' ' || row(r.status, pg_temp.cc(r.contact_id),
                  regexp_replace(r.reason, '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', 'time', 'g'))::text FROM pg_temp.report r
UNION ALL SELECT 'log ' || pg_temp.cc(g.contact_id) || ' ' || g.event || ' ' || g.actor || ' ' || pg_temp.noids(g.details)
  FROM customercard.action_log g
ORDER BY 1;
SQL

for d in set queue row; do q cc_idiff_$d -c "CREATE TABLE public.report_rows (f text, line integer, status text, contact_id bigint, reason text)"; done
BREAK=${IMPORT_DIFF_BREAK:-0}
for f in $(seq 0 $((FILES - 1))); do
    if [ -f "$W/f$f.csv" ]; then fmt=csv; else fmt=json; fi
    file="$W/f$f.$fmt"
    settings=$(cat "$W/f$f.settings")
    for d in set queue row; do
        {
            echo "SET customercard.account_id = 1;"
            echo "SET customercard.actor = 'importer';"
            printf "CREATE TEMP TABLE doc AS SELECT convert_from(decode('%s', 'base64'), 'UTF8') AS t;\n" "$(base64 -w0 "$file")"
            case $d in
            set)
                echo "INSERT INTO public.report_rows SELECT 'f$f', r.* FROM customercard.import_$fmt((SELECT t FROM doc), false, '$settings') r;" ;;
            queue)
                cat <<SQL
SELECT customercard.import_enqueue(convert_to((SELECT t FROM doc), 'UTF8'), '$fmt', '$settings') AS job \gset
SELECT customercard.bulk_run_batch(1, :job, 37) FROM generate_series(1, $ROWS / 37 + 2);
INSERT INTO public.report_rows SELECT 'f$f', r.* FROM customercard.import_report(:job) r;
SQL
                ;;
            row)
                cat <<SQL
DO \$do\$
DECLARE
    checked jsonb := customercard.import_check_settings(1, '$settings');
    r record;
    u record;
BEGIN
    FOR r IN SELECT * FROM customercard.import_rows(convert_to((SELECT t FROM doc), 'UTF8'), '$fmt') ORDER BY line LOOP
        IF r.data IS NULL THEN
            INSERT INTO public.report_rows VALUES ('f$f', r.line, 'rejected', NULL, r.reason);
            CONTINUE;
        END IF;
        BEGIN
            SELECT * INTO u FROM customercard.import_upsert(CASE WHEN $BREAK = 1 THEN r.data || '{"tags": ["broken"]}' ELSE r.data END, checked);
            INSERT INTO public.report_rows VALUES ('f$f', r.line, CASE WHEN u.created THEN 'created' ELSE 'updated' END, u.upserted_id, NULL);
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
            INSERT INTO public.report_rows VALUES ('f$f', r.line, 'rejected', NULL, SQLERRM);
        END;
    END LOOP;
END
\$do\$;
SQL
                ;;
            esac
        } > "$W/run_$d.sql"
        q cc_idiff_$d -f "$W/run_$d.sql" >/dev/null
    done
    for d in set queue row; do
        psql -X -q -At -v ON_ERROR_STOP=1 -d cc_idiff_$d -f "$W/canon.sql" > "$W/$d.txt" 2>"$W/$d.err" || true
    done
    rows_seen=$(grep -c '^report ' "$W/row.txt" || true)
    kinds=$(grep '^report ' "$W/row.txt" | grep -c 'rejected' || true)
    ok "$(cmp -s "$W/set.txt" "$W/row.txt" && echo same || { diff "$W/row.txt" "$W/set.txt" | head -8 | sed 's/^/#   /' >&2; echo differ; })" same \
       "file $f ($fmt, settings $settings, $rows_seen lines so far, $kinds rejected): import_$fmt (the set) = each row through upsert_contact's path"
    ok "$(cmp -s "$W/queue.txt" "$W/row.txt" && echo same || { diff "$W/row.txt" "$W/queue.txt" | head -8 | sed 's/^/#   /' >&2; echo differ; })" same \
       "... import_enqueue's batches of 37 = the same"
    ok "$(cat "$W/set.err" "$W/queue.err" "$W/row.err")" "" "... and the comparison ran cleanly"
done
ok "$(grep -o '^report [^ ]* ([a-z]*' "$W/row.txt" | sed 's/.*(//' | sort -u | tr '\n' ' ')" "created rejected updated " \
   "the files made, updated and rejected rows"
