-- forget_contact: the person's data is gone from the card, its
-- tombstones, the log and the merge journal; the business's figures stay.
BEGIN;
SELECT plan(26);

SELECT customercard.create_account('Forget test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.default_region = 'RU';

SELECT customercard.upsert_contact('{"name": "Anna Smirnova", "phones": ["+7 912 555-44-33"], "emails": ["anna.smirnova@example.com"],
                                     "channel": {"kind": "telegram", "external_id": "tg-anna-777"}, "tags": ["buyer"]}') AS p \gset
INSERT INTO customercard.contacts (name, ip, city) VALUES ('A. Smirnova', '192.0.2.77', 'Kazan') RETURNING contact_id AS t \gset
INSERT INTO customercard.emails (contact_id, email, raw) VALUES (:t, 'anya@example.com', 'Anya@Example.com');
INSERT INTO customercard.custom_fields (name) VALUES ('Passport') RETURNING field_id AS fld \gset
INSERT INTO customercard.custom_values (contact_id, field_id, value) VALUES (:t, :fld, '4510 123456');
INSERT INTO customercard.addresses (contact_id, city, line, zip) VALUES (:p, 'Kazan', 'Baumana 5, apt 12', '420111');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:p, 'F-1', 'Course', 990, 'paid') RETURNING order_id AS ord \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:ord, :p, 990, 'succeeded');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:t, 'F-2', 'Webinar', 10, 'paid');
INSERT INTO customercard.comments (contact_id, body, attachments) VALUES (:t, 'Anna said her passport is 4510 123456', '{https://files.example/anna.jpg}');
INSERT INTO customercard.calls (contact_id, started_at, result, recording_url) VALUES (:p, now(), 'answered', 'https://rec.example/anna.mp3');
INSERT INTO customercard.page_visits (contact_id, url, visitor_id) VALUES (:p, 'https://school.example/', 'cookie-anna');
UPDATE customercard.contacts SET name = 'Anna S.' WHERE contact_id = :p;
SELECT customercard.log_event(:p, 'crm_exported', '{"crm": "amoCRM", "email": "ANNA.SMIRNOVA@example.com", "deal_id": 4711}');
SELECT customercard.merge(:p, :t) AS m \gset
SELECT customercard.upsert_contact('{"name": "Other Person", "phones": ["+7 900 000-00-00"]}') AS other \gset

-- an export that holds Anna's record, and a failure that names her address
SELECT customercard.bulk_enqueue('export', filter => '{}') AS exp \gset
SELECT count(*) FROM (SELECT customercard.bulk_run_batch(:acct, :exp, 1000) FROM generate_series(1, 3)) x;
INSERT INTO customercard.bulk_job_failures (job_id, contact_id, reason)
VALUES (:exp, :p, 'the email channel anna.smirnova@example.com belongs to contact 1');

CREATE TEMP TABLE figures AS
SELECT (SELECT row(invoiced, paid)::text FROM customercard.card_finance WHERE contact_id = :p AND currency = 'RUB') AS finance,
       (SELECT count(*) FROM customercard.orders WHERE contact_id IN (:p, :t)) AS orders,
       (SELECT count(*) FROM customercard.action_log WHERE contact_id IN (:p, :t)) AS log_rows,
       (SELECT count(*) FROM customercard.comments WHERE contact_id IN (:p, :t)) AS comments;
CREATE TEMP TABLE other_before AS SELECT to_jsonb(c) AS img FROM customercard.contacts c WHERE contact_id = :other;

SELECT lives_ok(format('SELECT customercard.forget_contact(%s)', :t), 'forget_contact, given the tombstone''s id, forgets the person');

SELECT is((SELECT count(*) FROM customercard.contacts WHERE contact_id IN (:p, :t)
            AND num_nonnulls(name, first_name, last_name, middle_name, nickname, avatar_url, ip, city, note) > 0), 0::bigint,
    'names, IP, city and note are gone from the card and its tombstone');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE contact_id IN (:p, :t) AND forgotten_at IS NOT NULL), 2::bigint, 'both are marked forgotten');
SELECT is((SELECT count(*) FROM customercard.phones WHERE contact_id IN (:p, :t))
          + (SELECT count(*) FROM customercard.emails WHERE contact_id IN (:p, :t))
          + (SELECT count(*) FROM customercard.addresses WHERE contact_id IN (:p, :t))
          + (SELECT count(*) FROM customercard.custom_values WHERE contact_id IN (:p, :t)), 0::bigint,
    'phones, e-mails, addresses and custom values are erased');
SELECT is((SELECT count(*) FROM customercard.channels WHERE contact_id IN (:p, :t) AND (external_id LIKE '%anna%' OR username IS NOT NULL)), 0::bigint,
    'channels keep their kind, not the external id');
SELECT is((SELECT count(*) FROM customercard.channels WHERE contact_id = :p), 1::bigint, '... the channel row itself stays');
SELECT is((SELECT string_agg(body, '|') FROM customercard.comments WHERE contact_id IN (:p, :t)), '(erased on request)', 'comment texts are erased');
SELECT is((SELECT count(*) FROM customercard.comments WHERE contact_id IN (:p, :t) AND attachments <> '{}'), 0::bigint, '... and their attachments');
SELECT is((SELECT count(*) FROM customercard.calls WHERE contact_id = :p AND recording_url IS NOT NULL)
          + (SELECT count(*) FROM customercard.page_visits WHERE contact_id = :p AND visitor_id IS NOT NULL), 0::bigint,
    'call recordings and visitor cookies are erased');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE contact_id IN (:p, :t)
            AND (details::text ILIKE '%anna%' OR details::text ILIKE '%smirnova%' OR details::text ILIKE '%4510%'
                 OR details::text LIKE '%79125554433%' OR details::text LIKE '%192.0.2.77%')), 0::bigint,
    'no log row of the person holds their data any more');
SELECT is((SELECT details ->> 'deal_id' FROM customercard.action_log WHERE contact_id = :p AND event = 'crm_exported'), '4711',
    '... while the rest of the details stay');
SELECT is((SELECT count(*) FROM customercard.merges WHERE merge_id = :m
            AND (journal::text ILIKE '%anna%' OR journal::text ILIKE '%smirnova%' OR journal::text LIKE '%4510%' OR journal::text LIKE '%192.0.2.77%')),
    0::bigint, 'the merge journal holds none of it either');
SELECT ok(customercard.bulk_export_csv(:exp) NOT ILIKE '%smirnova%' AND customercard.bulk_export_csv(:exp) LIKE '%Other Person%',
    'her record left the export, the others'' stayed');
SELECT is((SELECT reason FROM customercard.bulk_failures WHERE job = :exp AND contact_id = :p), '(erased on request)',
    'a bulk failure''s reason that named her address is erased');
SELECT results_eq('SELECT finance, orders, log_rows + 1, comments FROM figures',
    format($$SELECT (SELECT row(invoiced, paid)::text FROM customercard.card_finance WHERE contact_id = %1$s AND currency = 'RUB'),
                    (SELECT count(*) FROM customercard.orders WHERE contact_id IN (%1$s, %2$s)),
                    (SELECT count(*) FROM customercard.action_log WHERE contact_id IN (%1$s, %2$s)),
                    (SELECT count(*) FROM customercard.comments WHERE contact_id IN (%1$s, %2$s))$$, :p, :t),
    'orders, sums and counts are unchanged (the log has one event more)');
SELECT results_eq(format($$SELECT event, details FROM customercard.action_log WHERE contact_id = %s AND event = 'forgotten'$$, :p),
    $$VALUES ('forgotten', '{"contacts": 2}'::jsonb)$$, 'one forgotten event on the card, naming nothing personal');
SELECT is((SELECT count(*) FROM customercard.audience_search('{"search": "+7 912 555-44-33"}')), 0::bigint, 'the old phone finds nobody');
SELECT is((SELECT img FROM other_before), (SELECT to_jsonb(c) FROM customercard.contacts c WHERE contact_id = :other), 'other people are untouched');
SELECT throws_ok('UPDATE customercard.action_log SET details = ''{}''', '42501', NULL, 'afterwards the log is append-only again');

SELECT throws_ok('SELECT customercard.forget_contact(-1)', '42704', NULL, 'an unknown contact');
CREATE ROLE cc_t_forget_manager IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_t_forget_manager', :acct);
SET ROLE cc_t_forget_manager;
SELECT throws_ok(format('SELECT customercard.forget_contact(%s)', :other), '42501', NULL, 'a manager cannot forget people');
RESET ROLE;
SELECT lives_ok(format('SELECT customercard.forget_contact(%s)', :p), 'forgetting again is harmless');

-- an unmerge would bring a forgotten contact back: refused, whichever side was named
SELECT throws_ok(format('SELECT customercard.unmerge(%s)', :m), '55000', NULL,
    'unmerge of a merge whose survivor was forgotten is refused (55000)');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE contact_id IN (:p, :t) AND forgotten_at IS NOT NULL), 2::bigint,
    '... both contacts stay forgotten');
SELECT customercard.upsert_contact('{"name": "Side A", "emails": ["side-a@example.com"]}') AS sa \gset
SELECT customercard.upsert_contact('{"name": "Side B", "emails": ["side-b@example.com"]}') AS sb \gset
SELECT customercard.merge(:sa, :sb) AS m2 \gset
SELECT customercard.forget_contact(:sb);
SELECT throws_like(format('SELECT customercard.unmerge(%s)', :m2), '%was forgotten%',
    '... and of one forgotten by its absorbed contact''s id, with the reason');
SELECT is((SELECT string_agg(coalesce(name, '-') || ' ' || (forgotten_at IS NOT NULL), ',' ORDER BY contact_id) FROM customercard.contacts WHERE contact_id IN (:sa, :sb)),
    '- true,- true', '... the absorbed contact is not brought back live');

SELECT * FROM finish();
ROLLBACK;
