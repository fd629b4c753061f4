-- Webinars as JustClick and GetCourse show them: a
-- webinar (name, launch, starts/ends), who registered and whether they
-- came ("registered for but not attended"); visits keep the viewing
-- intervals and the texts of the chat messages written there;
-- card_webinars shows each registration with its visits and when the
-- webinar took place.
BEGIN;
SELECT plan(32);

SELECT customercard.create_account('Webinars', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'manager:1';
SELECT customercard.upsert_contact('{"name": "Ada", "emails": ["ada@example.com"]}') AS ada \gset
SELECT customercard.upsert_contact('{"name": "Bob", "emails": ["bob@example.com"]}') AS bob \gset
SELECT customercard.upsert_contact('{"name": "Cy", "emails": ["cy@example.com"]}') AS cy \gset

-- 1..3: the webinar
INSERT INTO customercard.webinars (name, launch, starts_at, ends_at)
VALUES ('Marketing 101', 3, '2026-03-01 16:00+00', '2026-03-01 18:00+00') RETURNING webinar_id AS w \gset
SELECT throws_ok($$INSERT INTO customercard.webinars (name, launch, starts_at, ends_at) VALUES ('Bad', 1, '2026-03-02', '2026-03-01')$$,
    '23514', NULL, 'a webinar that ends before it starts: 23514');
SELECT throws_ok($$INSERT INTO customercard.webinars (name, launch) VALUES ('Marketing 101', 3)$$,
    '23505', NULL, 'the same webinar and launch twice: 23505');
SELECT ok(has_any_column_privilege('customercard_manager', 'customercard.webinars', 'INSERT')
          AND NOT has_table_privilege('customercard_manager', 'customercard.webinars', 'DELETE'),
    'managers create and edit webinars; admins delete them');

-- 4..8: registrations and attendance
INSERT INTO customercard.webinar_registrations (webinar_id, contact_id, registered_at) VALUES
    (:w, :ada, '2026-02-20 10:00+00'), (:w, :bob, '2026-02-21 10:00+00');
SELECT throws_ok(format('INSERT INTO customercard.webinar_registrations (webinar_id, contact_id) VALUES (%s, %s)', :w, :ada),
    '23505', NULL, 'registering twice for the same webinar: 23505');
INSERT INTO customercard.webinar_visits (webinar_id, contact_id, joined_at, left_at, chat)
VALUES (:w, :bob, '2026-03-01 16:02+00', '2026-03-01 16:40+00',
        '[{"at": "2026-03-01 16:05+00", "text": "Hello from Omsk!"}, {"at": "2026-03-01 16:30+00", "text": "How much is the course?"}]'),
       (:w, :bob, '2026-03-01 17:00+00', '2026-03-01 17:55+00', '[]');
SELECT results_eq(format('SELECT contact_id, attended FROM customercard.webinar_registrations WHERE webinar_id = %s ORDER BY contact_id', :w),
    format('VALUES (%s::bigint, false), (%s::bigint, true)', :ada, :bob),
    'a visit marks the registration attended; one without a visit stays not attended');
INSERT INTO customercard.webinar_visits (webinar_id, contact_id, joined_at) VALUES (:w, :cy, '2026-03-01 16:10+00');
INSERT INTO customercard.webinar_registrations (webinar_id, contact_id, registered_at) VALUES (:w, :cy, '2026-03-01 16:09+00');
SELECT is((SELECT attended FROM customercard.webinar_registrations WHERE webinar_id = :w AND contact_id = :cy), true,
    'a registration recorded after the visit is attended too');
SELECT is((SELECT array_agg(contact_id) FROM customercard.card_webinars WHERE webinar_id = :w AND registered AND NOT attended),
    ARRAY[:ada::bigint], 'registered for but not attended: card_webinars tells');
SELECT results_eq(format('SELECT webinar, launch FROM customercard.webinar_visits WHERE contact_id = %s', :cy),
    $$VALUES ('Marketing 101'::text, 3)$$, 'a visit given the webinar''s id carries its name and launch');

-- 9..12: a visit named as in 0.1 (name and launch, no id) finds or makes its webinar
INSERT INTO customercard.webinar_visits (contact_id, webinar, launch, joined_at) VALUES (:ada, 'Marketing 101', 3, '2026-03-01 17:30+00');
SELECT is((SELECT webinar_id FROM customercard.webinar_visits WHERE contact_id = :ada), :w::bigint,
    'a visit named by webinar and launch belongs to that webinar');
SELECT is((SELECT attended FROM customercard.webinar_registrations WHERE webinar_id = :w AND contact_id = :ada), true,
    '... and marks the registration attended');
INSERT INTO customercard.webinar_visits (contact_id, webinar, joined_at) VALUES (:ada, 'Intro', '2026-01-10 10:00+00'), (:bob, 'Intro', '2026-01-10 10:05+00');
SELECT results_eq($$SELECT count(DISTINCT v.webinar_id), min(w.name), bool_and(w.starts_at IS NULL) FROM customercard.webinar_visits v
                    JOIN customercard.webinars w USING (account_id, webinar_id) WHERE v.webinar = 'Intro'$$,
    $$VALUES (1::bigint, 'Intro'::text, true)$$, 'an unknown webinar name makes one webinar (its times unknown)');
SELECT throws_ok(format($$INSERT INTO customercard.webinar_visits (contact_id, joined_at) VALUES (%s, now())$$, :ada),
    '23502', NULL, 'a visit names its webinar (by id or by name): 23502');

-- 13..17: chat texts
SELECT results_eq(format('SELECT chat_messages, chat -> 1 ->> ''text'' FROM customercard.webinar_visits WHERE contact_id = %s ORDER BY joined_at', :bob),
    $$VALUES (0, NULL::text), (2, 'How much is the course?'), (0, NULL)$$, 'a visit keeps its chat texts; chat_messages counts them');
SELECT is(tap.sqlstate_of(format($$INSERT INTO customercard.webinar_visits (webinar_id, contact_id, joined_at, chat) VALUES (%s, %s, now(), '{"text": "hi"}')$$, :w, :ada)),
    '22023', 'a chat that is not an array: 22023');
SELECT is(tap.sqlstate_of(format($$INSERT INTO customercard.webinar_visits (webinar_id, contact_id, joined_at, chat) VALUES (%s, %s, now(), '[{"at": "2026-03-01 16:05+00"}]')$$, :w, :ada)),
    '22023', 'a chat message without its text: 22023');
SELECT alike(tap.hint_of(format($$INSERT INTO customercard.webinar_visits (webinar_id, contact_id, joined_at, chat) VALUES (%s, %s, now(), '[{"at": "yesterday-ish", "text": "hi"}]')$$, :w, :ada)),
    '%"at"%"text"%', '... a message''s time that is no time: the hint shows the form');
UPDATE customercard.webinar_visits SET chat_messages = 5 WHERE contact_id = :bob AND chat <> '[]';
SELECT throws_ok(format($$UPDATE customercard.webinar_visits SET chat_messages = 1 WHERE contact_id = %s AND chat <> '[]'$$, :bob),
    '23514', NULL, 'fewer chat messages than the texts kept: 23514 (more is fine: the platform may send only some texts)');

-- 18..22: the card
SELECT results_eq(format($$SELECT count(*), min(webinar), min(launch), min(starts_at), max(ends_at), min(registered_at), bool_and(attended),
                                  sum(watched_s)::int, sum(chat_messages)::int
                             FROM customercard.card_webinars WHERE contact_id = %s AND webinar_id = %s$$, :bob, :w),
    $$VALUES (2::bigint, 'Marketing 101'::text, 3, '2026-03-01 16:00+00'::timestamptz, '2026-03-01 18:00+00'::timestamptz,
              '2026-02-21 10:00+00'::timestamptz, true, 93 * 60, 5)$$,
    'card_webinars: each visit with the webinar, when it took place, the registration, watched time and chat');
SELECT is((SELECT chat -> 0 ->> 'text' FROM customercard.card_webinars WHERE contact_id = :bob AND webinar_id = :w ORDER BY joined_at LIMIT 1),
    'Hello from Omsk!', '... and its chat texts');
SELECT results_eq(format('SELECT webinar, registered, attended FROM customercard.card_webinars WHERE contact_id = %s ORDER BY joined_at', :bob),
    $$VALUES ('Intro'::text, false, true), ('Marketing 101', true, true), ('Marketing 101', true, true)$$,
    'a webinar watched without registering is shown too');
SELECT is((SELECT jsonb_agg(b ->> 'webinar') FROM jsonb_array_elements(customercard.card_json(:bob) -> 'webinars') b),
    '["Marketing 101", "Marketing 101", "Intro"]', 'card_json''s webinars: the visits, latest first');
SELECT is((customercard.card_json(:bob) -> 'webinar_registrations' -> 0) - 'webinar_id',
    '{"webinar": "Marketing 101", "launch": 3, "starts_at": "2026-03-01T16:00:00+00:00", "ends_at": "2026-03-01T18:00:00+00:00",
      "registered_at": "2026-02-21T10:00:00+00:00", "attended": true, "visits": 2}'::jsonb,
    'card_json''s webinar_registrations: the webinar, when, attended, how many visits');

-- 23..24: the log
SELECT ok(EXISTS (SELECT 1 FROM customercard.action_log WHERE contact_id = :ada AND event = 'row_added'
                   AND details ->> 'section' = 'webinar_registrations' AND actor = 'manager:1'),
    'a registration is logged, with the actor');
SELECT ok(EXISTS (SELECT 1 FROM customercard.action_log WHERE contact_id = :ada AND event = 'row_changed'
                   AND details ->> 'section' = 'webinar_registrations' AND details -> 'fields' -> 'attended' ->> 'new' = 'true'),
    '... and its becoming attended');

-- 25..27: merge combines the registrations of one webinar, moves the visits; unmerge undoes it
SELECT customercard.merge(:ada, :bob) AS m \gset
SELECT results_eq(format('SELECT registered_at, attended FROM customercard.webinar_registrations WHERE contact_id = %s', :ada),
    $$VALUES ('2026-02-20 10:00+00'::timestamptz, true)$$, 'merge: one registration per webinar, the earlier, attended if either was');
SELECT is((SELECT count(*) FROM customercard.webinar_visits WHERE contact_id = :ada), 5::bigint, '... every visit moves');
SELECT customercard.unmerge(:m);
SELECT results_eq(format('SELECT contact_id, registered_at FROM customercard.webinar_registrations WHERE webinar_id = %s ORDER BY contact_id', :w),
    format($$VALUES (%s::bigint, '2026-02-20 10:00+00'::timestamptz), (%s, '2026-02-21 10:00+00'), (%s, '2026-03-01 16:09+00')$$, :ada, :bob, :cy),
    'unmerge gives each their registration back');

-- 28..30: forget erases the chat texts, keeps the counts and the registrations
SELECT customercard.forget_contact(:bob);
SELECT results_eq(format('SELECT sum(chat_messages)::int, bool_and(chat = ''[]'') FROM customercard.webinar_visits WHERE contact_id = %s', :bob),
    $$VALUES (5, true)$$, 'forget_contact erases the chat texts, keeps how many there were');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE contact_id = :bob AND details::text LIKE '%Omsk%'), 0::bigint,
    '... and leaves none in the log');
SELECT is((SELECT count(*) FROM customercard.webinar_registrations WHERE contact_id = :bob), 1::bigint, '... the registration stays (a count)');

-- a manager's visit that names a webinar the account does not have
SELECT customercard.upsert_contact('{"name": "Visitor of a new webinar"}') AS wm_contact \gset
CREATE ROLE cc_t_webinar_manager IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_t_webinar_manager', :acct);
SET ROLE cc_t_webinar_manager;
INSERT INTO customercard.webinar_visits (contact_id, webinar, launch, joined_at) VALUES (:wm_contact, 'Made by a manager', 2, now());
SELECT results_eq($$SELECT w.name, w.launch, w.webinar_id = v.webinar_id FROM customercard.webinar_visits v
                    JOIN customercard.webinars w USING (account_id, webinar_id) WHERE v.webinar = 'Made by a manager'$$,
    $$VALUES ('Made by a manager'::text, 2, true)$$, 'a manager''s visit naming an unknown webinar makes it, in her account, its id the sequence''s');
SELECT throws_ok($$INSERT INTO customercard.webinars (webinar_id, name) VALUES (999999, 'Chosen id')$$, '42501', NULL,
    '... while she still cannot choose a webinar''s id');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
