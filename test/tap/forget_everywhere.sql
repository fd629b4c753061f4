-- Erased means erased: after forget_contact no value that identifies the
-- person -- names, phones in any form, e-mails, messenger ids and
-- usernames, the IP, visitor ids -- is left in any column of any table of
-- the schema (the list of tables and columns is taken from the catalog, so
-- a table added later is searched the day it is added): not in the card's
-- sections, the log at any depth, merge journals, bulk job filters,
-- failures, queued and rejected import rows, stored exports, import marks.
-- And a queued import cannot bring the person back.
BEGIN;
SELECT plan(8);

SELECT customercard.create_account('Erasure test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.default_region = 'RU';
SET customercard.actor = 'manager:7';

-- the person, with everything
SELECT customercard.upsert_contact('{"name": "Zinaida Quokkova", "first_name": "Zinaida", "last_name": "Quokkova",
                                     "phones": ["+7 912 555-44-33"], "emails": ["zina.quokkova@example.com"],
                                     "channel": {"kind": "telegram", "external_id": "tg-zina-9911", "username": "zinaquokka"},
                                     "tags": ["buyer"]}') AS p \gset
UPDATE customercard.contacts SET ip = '192.0.2.177', note = 'prefers calls to 8 912 555 44 33', city = 'Kazan' WHERE contact_id = :p;
INSERT INTO customercard.contacts (name, ip) VALUES ('Z. Quokkova', '192.0.2.177') RETURNING contact_id AS t \gset
INSERT INTO customercard.emails (contact_id, email, raw) VALUES (:t, 'zq.old@example.com', 'ZQ.Old@Example.com');
INSERT INTO customercard.tasks (contact_id, title, description)
VALUES (:p, 'Call Zinaida Quokkova at 8 (912) 555-44-33', 'she wrote from zina.quokkova@example.com');
INSERT INTO customercard.page_visits (contact_id, url, visitor_id, title)
VALUES (:p, 'https://school.example/lesson?email=zina.quokkova%40example.com&u=zina.quokkova@example.com', 'cookie-zina-3141', 'Lesson 1');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, visitor_id)
VALUES (:p, 'Z-1', 'Course for Zinaida Quokkova', 990, 'paid', 'cookie-zina-3141');
INSERT INTO customercard.comments (contact_id, body) VALUES (:p, 'Zinaida asked to call +79125554433');
INSERT INTO customercard.calls (contact_id, started_at, result, recording_url) VALUES (:p, now(), 'answered', 'https://rec.example/zina-quokkova.mp3');
INSERT INTO customercard.messages (contact_id, direction, body) VALUES (:p, 'in', 'Hi, this is Zinaida Quokkova, tg zinaquokka');
SELECT customercard.log_event(:p, 'crm_exported', '{"crm": "amoCRM", "deal": {"people": [{"who": "Zinaida Quokkova", "phone": "+7 (912) 555-44-33"}]},
                                                   "note": "mail ZINA.QUOKKOVA@example.com", "ids": ["tg-zina-9911", 4711]}');
SELECT customercard.merge(:p, :t) AS m \gset
-- a Viber subscriber imported (the import leaves a mark)
SELECT count(*) FROM customercard.import_csv(E'name,phone,channel,social_id\r\nZinaida Quokkova,+79125554433,viber,viber-zina-5522\r\n');
SELECT customercard.upsert_contact('{"name": "Other Person", "phones": ["+7 900 000-00-00"], "emails": ["other@example.com"]}') AS other \gset
-- a stored export, a job found by a search for her e-mail, a failure naming her
SELECT customercard.bulk_enqueue('export', filter => '{}') AS exp \gset
SELECT count(*) FROM (SELECT customercard.bulk_run_batch(:acct, :exp, 1000) FROM generate_series(1, 3)) x;
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "found"}', filter => '{"search": "zina.quokkova@example.com"}') AS found \gset
INSERT INTO customercard.bulk_job_failures (job_id, contact_id, reason)
VALUES (:exp, :other, 'the email channel zina.quokkova@example.com belongs to contact ' || :p);
-- a queued import naming her (another form of her phone, her e-mail in capitals), a rejected row, and another person
SELECT customercard.import_enqueue(convert_to(E'name,phone,email\r\n'
    'Zinaida Q.,8 912 555 44 33,ZINA.QUOKKOVA@EXAMPLE.COM\r\n'
    'New Person,+7 900 111-22-33,new.person@example.com\r\n'
    '"Quokkova, Zinaida",,zina.quokkova@example.com\r\n', 'UTF8'), 'csv') AS imp \gset
-- an import run before the erasure, whose row of hers was rejected (its data kept for the report)
SELECT customercard.import_enqueue(convert_to(E'name,phone,email\r\nZinaida Quokkova,+7 912 555-44-33,not-an-email\r\n', 'UTF8'), 'csv') AS rejected \gset
SELECT customercard.bulk_run_batch(:acct, :rejected, 100);

CREATE FUNCTION pg_temp.hits(vals text[], phone_digits text) RETURNS TABLE (tbl text, col text, found text)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v text;
BEGIN
    FOR c IN SELECT r.relname, a.attname
               FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
              WHERE r.relnamespace = 'customercard'::regnamespace AND r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
                AND (a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'jsonb'::regtype, 'json'::regtype,
                                    'bytea'::regtype, 'inet'::regtype, 'text[]'::regtype, 'customercard.phone'::regtype)
                     OR format_type(a.atttypid, NULL) LIKE 'customercard.%')
              ORDER BY 1, 2 LOOP
        FOREACH v IN ARRAY vals LOOP
            RETURN QUERY EXECUTE format('SELECT %L, %L, %L FROM customercard.%I x WHERE strpos(lower(x.%I::text), %L) > 0 LIMIT 1',
                                        c.relname, c.attname, v, c.relname, c.attname, v);
        END LOOP;
        RETURN QUERY EXECUTE format($q$SELECT %L, %L, 'phone digits' FROM customercard.%I x
                                      WHERE strpos(regexp_replace(x.%I::text, '[^0-9]', '', 'g'), %L) > 0 LIMIT 1$q$,
                                    c.relname, c.attname, c.relname, c.attname, phone_digits);
    END LOOP;
END $$;
CREATE TEMP TABLE her (v text);
INSERT INTO her VALUES ('zinaida'), ('quokkova'), ('zina.quokkova@example.com'), ('zq.old@example.com'), ('tg-zina-9911'),
                       ('zinaquokka'), ('viber-zina-5522'), ('192.0.2.177'), ('cookie-zina-3141');
CREATE TEMP TABLE before AS SELECT DISTINCT tbl FROM pg_temp.hits(ARRAY(SELECT v FROM her), '9125554433');
SELECT cmp_ok((SELECT count(*) FROM before), '>=', 15::bigint,
    'before forget_contact the search finds her in 15 tables or more (the search works)');
SELECT ok((SELECT array_agg(tbl) FROM before) @> ARRAY['action_log', 'bulk_job_rows', 'bulk_jobs', 'bulk_job_output', 'bulk_job_failures',
                                                      'import_marks', 'merges', 'tasks', 'page_visits', 'orders'],
    '... among them the queues, outputs, marks, filters, journals and free text the issue named');

SELECT customercard.forget_contact(:p);
SELECT is((SELECT string_agg(format('%s.%s: %s', tbl, col, found), '; ' ORDER BY tbl, col, found)
             FROM pg_temp.hits(ARRAY(SELECT v FROM her), '9125554433')), NULL,
    'after forget_contact no value of hers is in any column of any table of the schema (names, phone in any form, e-mails, messenger ids and username, IP, visitor id)');
SELECT results_eq(format('SELECT line, status, reason FROM customercard.import_report(%s) ORDER BY line', :imp),
    $$VALUES (2, 'rejected', '(erased on request)'), (3, 'queued', NULL::text), (4, 'rejected', '(erased on request)')$$,
    'the queued import''s rows that named her are refused, the report saying so without her values; the other person''s row stays queued');
SELECT is((SELECT failed FROM customercard.bulk_jobs WHERE job_id = :imp), 2, '... and counted as failed');
-- run the queued import: it cannot bring her back
SELECT count(*) FROM (SELECT customercard.bulk_run_batch(:acct, :imp, 100) FROM generate_series(1, 2)) x;
SELECT results_eq(format('SELECT line, status FROM customercard.import_report(%s) ORDER BY line', :imp),
    $$VALUES (2, 'rejected'), (3, 'created'), (4, 'rejected')$$, 'running the import creates the other person only');
SELECT is((SELECT count(*) FROM customercard.contacts c WHERE c.account_id = :acct AND c.forgotten_at IS NULL
            AND (EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id AND lower(e.email) LIKE '%quokkova%')
                 OR EXISTS (SELECT 1 FROM customercard.phones h WHERE h.account_id = c.account_id AND h.contact_id = c.contact_id AND h.phone::text = '+79125554433'))),
    0::bigint, '... no contact with her e-mail or phone came back');
SELECT is((SELECT string_agg(format('%s.%s: %s', tbl, col, found), '; ') FROM pg_temp.hits(ARRAY(SELECT v FROM her), '9125554433')), NULL,
    '... and her values are still nowhere');

SELECT * FROM finish();
ROLLBACK;
