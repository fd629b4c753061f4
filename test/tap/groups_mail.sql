-- E-mails and groups in JustClick's detail:
-- e-mails sent name their sending group, letter number and name, the
-- instant letter's number and the automatic chain's actions; group
-- memberships have a status; automatic groups (their rules add and remove
-- members) a manager cannot leave by hand (42501 with a hint); joinings keep
-- the ad and keys UTM marks; clicks keep the partner's mark.
BEGIN;
SELECT plan(17);

SELECT customercard.create_account('Groups and mail', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Ada", "emails": ["ada@example.com"]}') AS ada \gset
INSERT INTO customercard.groups (name, is_automatic) VALUES ('Webinar leads', false), ('Bought the course', true);
SELECT group_id AS manual FROM customercard.groups WHERE account_id = :acct AND name = 'Webinar leads' \gset
SELECT group_id AS auto FROM customercard.groups WHERE account_id = :acct AND name = 'Bought the course' \gset

-- 1..3: e-mails sent in detail
INSERT INTO customercard.emails_sent (contact_id, kind, subject, group_id, letter_number, letter_name, chain_actions)
VALUES (:ada, 'autoseries', 'Lesson 2', :manual, 2, 'Second lesson', '{"added to group Bought the course", "tag paid"}');
INSERT INTO customercard.emails_sent (contact_id, kind, subject, instant_number) VALUES (:ada, 'instant', 'Sale ends today', 17);
SELECT results_eq(format($$SELECT kind, "group", letter_number, letter_name, instant_number, chain_actions
                            FROM customercard.card_emails WHERE contact_id = %s ORDER BY email_sent_id$$, :ada),
    $$VALUES ('autoseries'::text, 'Webinar leads'::text, 2, 'Second lesson'::text, NULL::integer, '{"added to group Bought the course","tag paid"}'::text[]),
             ('instant', NULL, NULL, NULL, 17, '{}')$$,
    'card_emails: the sending group, letter number and name, instant letter number, chain actions');
SELECT throws_ok(format($$INSERT INTO customercard.emails_sent (contact_id, kind, subject, letter_number) VALUES (%s, 'instant', 'x', 0)$$, :ada),
    '23514', NULL, 'a letter number below 1: 23514');
SELECT is(customercard.card_json(:ada) -> 'emails_sent' -> 1 ->> 'letter_name', 'Second lesson', 'card_json''s emails_sent show them');

-- 4..7: memberships with a status, ad and keys marks
INSERT INTO customercard.group_members (group_id, contact_id, utm_source, utm_ad, utm_keys, status)
VALUES (:manual, :ada, 'yandex', 'ad-42', 'курс маркетинга', 'unconfirmed');
INSERT INTO customercard.group_members (group_id, contact_id) VALUES (:auto, :ada);
SELECT results_eq(format($$SELECT "group", status, utm_ad, utm_keys, is_automatic FROM customercard.card_groups WHERE contact_id = %s ORDER BY "group"$$, :ada),
    $$VALUES ('Bought the course'::text, 'active'::text, NULL::text, NULL::text, true), ('Webinar leads', 'unconfirmed', 'ad-42', 'курс маркетинга', false)$$,
    'card_groups: each membership''s status, its ad and keys UTM marks, whether the group is automatic');
SELECT throws_ok(format($$UPDATE customercard.group_members SET status = 'gone' WHERE contact_id = %s$$, :ada),
    '23514', NULL, 'a status that is none: 23514');
UPDATE customercard.group_members SET status = 'unsubscribed' WHERE contact_id = :ada AND group_id = :manual;
SELECT isnt((SELECT left_at FROM customercard.group_members WHERE contact_id = :ada AND group_id = :manual), NULL,
    'unsubscribing stamps when the person left');
SELECT is((SELECT details -> 'fields' -> 'status' ->> 'new' FROM customercard.action_log
            WHERE contact_id = :ada AND event = 'row_changed' AND details ->> 'section' = 'group_members' ORDER BY log_id DESC LIMIT 1),
    'unsubscribed', 'the status change is logged');

-- 8..13: an automatic group cannot be left by a manager's hand
CREATE ROLE cc_gm_manager IN ROLE customercard_manager;
CREATE ROLE cc_gm_admin IN ROLE customercard_admin;
SELECT customercard.bind_role('cc_gm_manager', :acct);
SELECT customercard.bind_role('cc_gm_admin', :acct);
SET ROLE cc_gm_manager;
SELECT is(tap.sqlstate_of(format('DELETE FROM customercard.group_members WHERE contact_id = %s AND group_id = %s', :ada, :auto)),
    '42501', 'a manager cannot take a contact out of an automatic group: 42501');
SELECT alike(tap.hint_of(format('DELETE FROM customercard.group_members WHERE contact_id = %s AND group_id = %s', :ada, :auto)),
    '%rules%', '... the hint says its rules decide');
SELECT is(tap.sqlstate_of(format($$UPDATE customercard.group_members SET status = 'unsubscribed' WHERE contact_id = %s AND group_id = %s$$, :ada, :auto)),
    '42501', '... nor unsubscribe it there');
SELECT is(tap.sqlstate_of(format($$UPDATE customercard.group_members SET group_id = %s WHERE contact_id = %s AND group_id = %s$$, :manual, :ada, :auto)),
    '42501', '... nor move the membership to another group');
SELECT lives_ok(format($$UPDATE customercard.group_members SET status = 'active' WHERE contact_id = %s AND group_id = %s$$, :ada, :manual),
    'a manual group''s membership a manager changes as before');
RESET ROLE;
SET ROLE cc_gm_admin;
SELECT lives_ok(format($$UPDATE customercard.group_members SET status = 'unsubscribed' WHERE contact_id = %s AND group_id = %s$$, :ada, :auto),
    'an admin may (the automation runs with the account''s admin or app role)');
RESET ROLE;

-- 14..15: partner marks on clicks
INSERT INTO customercard.clicks (contact_id, url, utm_source, partner) VALUES (:ada, 'https://school.example/pro', 'vk', 'partner-77');
SELECT is((SELECT partner FROM customercard.card_clicks WHERE contact_id = :ada), 'partner-77', 'a click keeps the partner''s mark');
SELECT is(customercard.card_json(:ada) -> 'clicks' -> 0 ->> 'partner', 'partner-77', '... in card_json too');

-- 16..17: merge keeps the earlier joining with its marks and the livelier status; forget keeps memberships
SELECT customercard.upsert_contact('{"name": "Ada twin"}') AS twin \gset
INSERT INTO customercard.group_members (group_id, contact_id, joined_at, utm_ad, status) VALUES (:manual, :twin, '2020-01-01', 'ad-1', 'active');
SELECT customercard.merge(:ada, :twin);
SELECT results_eq(format('SELECT utm_ad, status FROM customercard.group_members WHERE contact_id = %s AND group_id = %s', :ada, :manual),
    $$VALUES ('ad-1'::text, 'active'::text)$$, 'merge: the earlier joining''s marks, and active if either membership is');
SELECT customercard.forget_contact(:ada);
SELECT is((SELECT count(*) FROM customercard.group_members WHERE contact_id = :ada), 2::bigint, 'forget_contact keeps the memberships (counts)');

SELECT * FROM finish();
ROLLBACK;
