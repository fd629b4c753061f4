-- Duplicates (SPEC §4): candidates with scores and reasons across formats,
-- switchboard keys weigh little, similar names count, groups over the
-- account, pairs marked as different people never come back.
\set SHOW_CONTEXT never
-- errors shown as SQLSTATE, message and hint, with ids (which depend on the
-- order tests run in) written as N
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hnt text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hnt = PG_EXCEPTION_HINT;
  RETURN st || ': ' || regexp_replace(msg, '-?[0-9]+', 'N', 'g') || ' (hint: ' || hnt || ')';
END $$;
SELECT customercard.create_account('Duplicates test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.default_region = 'RU';
SELECT customercard.upsert_contact('{"name": "Ivan Petrov", "phones": ["+7 912 345-67-89"]}') AS ivan \gset
-- the same number typed the Russian way, and a close spelling of the name
INSERT INTO customercard.contacts (name) VALUES ('Ivan Petrov') RETURNING contact_id AS ivan2 \gset
INSERT INTO customercard.phones (contact_id, phone, raw) VALUES (:ivan2, '8 (912) 345 67 89', '8 (912) 345 67 89');
-- same e-mail in another case, and a telegram id
SELECT customercard.upsert_contact('{"name": "Petrov I.", "emails": ["ivan@example.com"]}') AS ivan3 \gset
INSERT INTO customercard.emails (contact_id, email) VALUES (:ivan, 'ivan@example.com');
-- a switchboard: 12 colleagues share one office number with Ivan
INSERT INTO customercard.phones (contact_id, phone, raw) VALUES (:ivan, '+7 343 222-33-44', 'office');
INSERT INTO customercard.contacts (name) SELECT 'Colleague ' || i FROM generate_series(1, 12) i;
INSERT INTO customercard.phones (contact_id, phone, raw)
SELECT contact_id, '+7 343 222-33-44', 'office' FROM customercard.contacts WHERE account_id = :acct AND name LIKE 'Colleague %';
-- a namesake with nothing else in common
INSERT INTO customercard.contacts (name) VALUES ('Ivan Petrova') RETURNING contact_id AS namesake \gset

SELECT d.contact_id = :ivan2 AS is_ivan2, d.contact_id = :ivan3 AS is_ivan3, d.contact_id = :namesake AS is_namesake,
       round(d.score::numeric, 2) AS score, d.reasons
  FROM customercard.duplicate_candidates(:ivan) d
 WHERE d.contact_id IN (:ivan2, :ivan3, :namesake);
-- a colleague is a candidate only through the switchboard, weakly
SELECT count(*) AS colleagues, max(d.score) < 0.2 AS all_weak
  FROM customercard.duplicate_candidates(:ivan) d JOIN customercard.contacts c ON c.account_id = :acct AND c.contact_id = d.contact_id
 WHERE c.name LIKE 'Colleague %';

-- groups over the account: Ivan's three cards form one; the switchboard links nobody
SELECT array_length(contact_ids, 1) AS size, contact_ids = ARRAY[:ivan, :ivan2, :ivan3]::bigint[] AS ivans, reasons
  FROM customercard.duplicate_groups();
SELECT array_length(contact_ids, 1) AS size_when_13_sharers_are_allowed FROM customercard.duplicate_groups(20);

-- marked as different people: never proposed again, in either direction
SELECT customercard.not_duplicates(:ivan2, :ivan);
SELECT count(*) AS ivan2_still_candidate FROM customercard.duplicate_candidates(:ivan) WHERE contact_id = :ivan2;
SELECT count(*) AS ivan_still_candidate FROM customercard.duplicate_candidates(:ivan2) WHERE contact_id = :ivan;
SELECT contact_ids = ARRAY[:ivan, :ivan3]::bigint[] AS ivan2_left_the_group FROM customercard.duplicate_groups();
SELECT customercard.not_duplicates(:ivan, :ivan2);   -- again: no error
SELECT pg_temp.error_of(format('SELECT customercard.not_duplicates(%s, %s)', :ivan, :ivan));
SELECT pg_temp.error_of(format('SELECT customercard.not_duplicates(%s, -5)', :ivan));
RESET customercard.account_id;
