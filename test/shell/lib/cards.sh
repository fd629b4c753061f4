# cards.sh: sourced by the shell tests that need a full account and a
# fingerprint of every row (dump/restore, upgrade).  Needs PGHOST/PGPORT/PGUSER.
SHELL_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SHELL_LIB/../../.." && pwd)

q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$@"; }
n=0
ok() { n=$((n + 1)); if [ "$1" = "$2" ]; then echo "ok $n - $3"; else echo "not ok $n - $3"; echo "#   got:  $1"; echo "#   want: $2"; fi; }

# fill_full_account DB: 300 generated contacts with every section, and the
# journals too: a merge, a pair kept apart, a forgotten person, finished
# bulk jobs with failures and export output, log rows, a second account.
# Only the public API of every released version, so that it fills the
# oldest version the upgrade test installs as well as the current one.
fill_full_account() {
    q "$1" -f "$ROOT/bench/gen/demo_data.sql" >/dev/null
    q "$1" -c "SELECT count(*) FROM customercard_demo.generate(300)" >/dev/null
    q "$1" >/dev/null <<'SQL'
SELECT customercard.not_duplicates(1, 2);
SELECT customercard.merge(3, 4);
SELECT customercard.forget_contact(5);
SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "connection": "mailer"}', filter => '{}');
SELECT customercard.bulk_enqueue('export', filter => '{}');
SELECT customercard.bulk_run_batch(b.account_id, b.job_id, 100000) FROM customercard.bulk_jobs b, generate_series(1, 2) g;
UPDATE customercard.accounts SET name = 'Школа Анны', default_region = 'KZ' WHERE is_default;
SELECT customercard.create_account('Second shop', 'DE', 'EUR');
SET customercard.account_id = 2;
SELECT customercard.upsert_contact('{"name": "Zweiter Kunde", "emails": ["k@example.de"], "tags": ["neu"]}');
SELECT customercard.log_event(contact_id, 'crm_exported', '{"crm": "amoCRM"}') FROM customercard.contacts WHERE account_id = 2;
SQL
}

# fingerprint DB: one line per table of schema customercard, its row count
# and the md5 of its rows as ordered text (a temporary function: no server
# feature such as XML is assumed)
fingerprint() {
    q "$1" <<'SQL'
CREATE FUNCTION pg_temp.rows_of(rel name) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, ''|'' ORDER BY t::text)), '''') FROM customercard.%I t', rel)
       INTO r;
    RETURN r;
END $$;
SELECT string_agg(c.relname || '=' || pg_temp.rows_of(c.relname), E'\n' ORDER BY c.relname)
  FROM pg_class c WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r';
SQL
}
