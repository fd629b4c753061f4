-- The dialog history, a section added by
-- docs/sections.md's recipe alone: messages in threads, card_messages,
-- the card's last activity and unread count, the has_unread filter, and
-- what the declaration gives it: card_json, log, merge, unmerge, forget,
-- the managers' grants (the author is the session's actor, not theirs).
BEGIN;
SELECT plan(22);

SELECT customercard.create_account('Messages test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Olga", "channel": {"kind": "telegram", "connection": "school_bot", "external_id": "tg-1"}}') AS o \gset
SELECT customercard.upsert_contact('{"name": "Pavel"}') AS p \gset
SELECT channel_id AS ch FROM customercard.channels WHERE contact_id = :o \gset

SET customercard.actor = 'bot:school_bot';
INSERT INTO customercard.messages (contact_id, thread, channel_id, direction, body, sent_at) VALUES
    (:o, 'main', :ch, 'out', 'Welcome to the course!', '2026-11-01 10:00+00'),
    (:o, 'main', :ch, 'in', 'When does it start?', '2026-11-01 10:05+00'),
    (:o, 'support', :ch, 'in', 'I cannot log in', '2026-11-02 09:00+00');
SET customercard.actor = 'manager:1';
INSERT INTO customercard.messages (contact_id, thread, direction, body, attachments, sent_at, read_at) VALUES
    (:p, 'main', 'in', 'Thanks', '{https://files.example/receipt.pdf}', '2026-11-03 08:00+00', '2026-11-03 08:10+00');

-- ------------------------------------------------------------ the view and the card
SELECT is((SELECT array_agg(body ORDER BY sent_at DESC) FROM customercard.card_messages WHERE contact_id = :o),
          '{"I cannot log in","When does it start?","Welcome to the course!"}', 'card_messages: the dialog, newest first');
SELECT is((SELECT array_agg(DISTINCT thread ORDER BY thread) FROM customercard.card_messages WHERE contact_id = :o),
          '{main,support}', '... in its threads');
SELECT is((SELECT channel_kind || '/' || connection FROM customercard.card_messages WHERE contact_id = :o AND direction = 'out'),
          'telegram/school_bot', '... with the channel and connection it went through');
SELECT is((SELECT array_agg(author ORDER BY sent_at) FROM customercard.card_messages WHERE contact_id = :o),
          '{bot:school_bot,bot:school_bot,bot:school_bot}', 'the author is the session''s actor (the bot that recorded them)');
SELECT is((SELECT count(*)::int FROM customercard.card_messages WHERE contact_id = :o AND is_unread), 2,
          'incoming messages not read are unread; outgoing ones never are');
SELECT is((SELECT unread_messages FROM customercard.card WHERE contact_id = :o), 2::bigint, 'card: the unread count');
SELECT is((SELECT unread_messages FROM customercard.card WHERE contact_id = :p), 0::bigint, '... 0 when every incoming one is read');
INSERT INTO customercard.messages (contact_id, direction, body, sent_at) VALUES (:p, 'out', 'See you tomorrow', now() + interval '1 hour');
SELECT is((SELECT last_activity FROM customercard.card WHERE contact_id = :p), now() + interval '1 hour',
          'card: last activity counts the messages (one later than every change)');

SELECT is(jsonb_array_length(customercard.card_json(:o) -> 'messages'), 3, 'card_json: the messages block');
SELECT is(customercard.card_json(:o) -> 'messages' -> 0 ->> 'body', 'I cannot log in', '... newest first');
SELECT ok(NOT (customercard.card_json(:o) -> 'messages' -> 0 ?| ARRAY['contact_id', 'account_id']), '... without the ids');

-- ------------------------------------------------------------ the audience
SELECT is(ARRAY(SELECT customercard.audience_ids('{"has_unread": true}') ORDER BY 1), ARRAY[:o::bigint],
          'has_unread: contacts with incoming messages not read');
SELECT is(ARRAY(SELECT customercard.audience_ids('{"has_unread": false}') ORDER BY 1), ARRAY[:p::bigint], '... and false: the others');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"has_unread": "yes"}')$$), '22023', 'has_unread must be a boolean');
UPDATE customercard.messages SET read_at = now() WHERE contact_id = :o AND direction = 'in';
SELECT is(customercard.audience_count('{"has_unread": true}'), 0::bigint, 'reading them clears it');

-- ------------------------------------------------------------ what the declaration gives it
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :o AND event = 'row_added' AND details ->> 'section' = 'messages'), 3,
          'the log: each message added is logged');
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :o AND event = 'row_changed' AND details ->> 'section' = 'messages'), 2,
          '... and each read');
SELECT is(tap.sqlstate_of(format($$SET LOCAL ROLE customercard_manager; INSERT INTO customercard.messages (contact_id, direction, body, author) VALUES (%s, 'out', 'x', 'manager:999')$$, :o)),
          '42501', 'a manager cannot write the author');
RESET ROLE;

SELECT customercard.merge(:o, :p) AS m \gset
SELECT is((SELECT count(*)::int FROM customercard.messages WHERE contact_id = :o), 5, 'merge: the absorbed''s messages move to the survivor');
SELECT customercard.unmerge(:m);
SELECT is((SELECT count(*)::int FROM customercard.messages WHERE contact_id = :p), 2, 'unmerge: they move back');

SELECT customercard.forget_contact(:o);
SELECT is((SELECT array_agg(DISTINCT body) FROM customercard.messages WHERE contact_id = :o), '{"(erased on request)"}',
          'forget_contact: the texts are erased, the messages counted');
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :o AND details::text ~ '(log in|start\?|Welcome)'), 0,
          '... and out of the log');

SELECT * FROM finish();
ROLLBACK;
