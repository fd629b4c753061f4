-- The quick card (#34 item 7): Leeloo's compact card beside a chat, with
-- exactly its fields.
BEGIN;
SELECT plan(14);

SELECT customercard.create_account('Quick card', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.custom_fields (name) VALUES ('Level'), ('Course');
SELECT customercard.upsert_contact('{"first_name": "Ada", "last_name": "Lovelace",
    "emails": ["ada@example.com", "ada2@example.com"], "phones": ["+7 912 345 67 89", "+7 912 345 67 80"],
    "tags": ["vip", "beta"], "custom": {"Level": "3", "Course": "Math"},
    "channels": [{"kind": "telegram", "external_id": "tg-ada", "avatar_url": "https://t.me/i/ada.jpg"}]}') AS ada \gset
INSERT INTO customercard.tasks (contact_id, title, due_at) VALUES (:ada, 'Call back', '2030-01-02'), (:ada, 'Send invoice', '2030-01-01'),
    (:ada, 'Someday', NULL);
INSERT INTO customercard.tasks (contact_id, title, status, done_at) VALUES (:ada, 'Done already', 'done', now());
INSERT INTO customercard.comments (contact_id, body, created_at) VALUES
    (:ada, 'first', now() - interval '3 days'), (:ada, 'second', now() - interval '2 days'),
    (:ada, repeat('x', 300), now() - interval '1 day'), (:ada, 'latest', now());
SELECT customercard.upsert_contact('{"nickname": "ghost"}') AS ghost \gset

-- 1: the columns
SELECT is(ARRAY(SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = 'customercard' AND table_name = 'card_quick' ORDER BY ordinal_position),
    '{contact_id,avatar_url,name,tags,phone,email,open_tasks,custom,comments}', 'card_quick has exactly its fields');
-- 2..10: Ada's
SELECT results_eq(format('SELECT avatar_url, name, tags, phone::text, email FROM customercard.card_quick WHERE contact_id = %s', :ada),
    $$VALUES ('https://t.me/i/ada.jpg'::text, 'Ada Lovelace'::text, '{beta,vip}'::text[], '+79123456789'::text, 'ada@example.com'::text)$$,
    'avatar (the messenger''s when the contact has none), name, tags, the primary phone and e-mail');
SELECT is((SELECT jsonb_path_query_array(open_tasks, '$[*].title') FROM customercard.card_quick WHERE contact_id = :ada),
    '["Send invoice", "Call back", "Someday"]', 'the open tasks, soonest first, those without a due time last');
SELECT is((SELECT custom FROM customercard.card_quick WHERE contact_id = :ada), '{"Level": "3", "Course": "Math"}', 'the custom fields');
SELECT is((SELECT jsonb_path_query_array(comments, '$[*].body') FROM customercard.card_quick WHERE contact_id = :ada),
    jsonb_build_array('latest', repeat('x', 240), 'second'), 'the latest three comments, newest first, cut to 240 characters');
SELECT is((SELECT jsonb_path_query_array(comments, '$[*].cut') FROM customercard.card_quick WHERE contact_id = :ada),
    '[false, true, false]', '... saying which were cut');
SELECT is((SELECT comments -> 0 ->> 'author' FROM customercard.card_quick WHERE contact_id = :ada), 'system', '... with their author');
UPDATE customercard.contacts SET avatar_url = 'https://cdn.example/ada.png' WHERE contact_id = :ada;
SELECT is((SELECT avatar_url FROM customercard.card_quick WHERE contact_id = :ada), 'https://cdn.example/ada.png',
    'the contact''s own picture comes first');
SELECT results_eq(format('SELECT name, tags, phone::text, email, open_tasks, custom, comments FROM customercard.card_quick WHERE contact_id = %s', :ghost),
    $$VALUES ('ghost'::text, '{}'::text[], NULL::text, NULL::text, '[]'::jsonb, '{}'::jsonb, '[]'::jsonb)$$,
    'a contact with nothing: the nickname, empty lists, no phone or e-mail');
SELECT is((SELECT name FROM customercard.card_quick WHERE contact_id = :ada), (SELECT name FROM customercard.card WHERE contact_id = :ada),
    'the same name as the card');
-- 11..12: live contacts only
SELECT customercard.upsert_contact('{"name": "Ada again"}') AS dup \gset
SELECT customercard.merge(:ada, :dup) AS m \gset
SELECT is_empty(format('SELECT 1 FROM customercard.card_quick WHERE contact_id = %s', :dup), 'a merged contact has no quick card');
UPDATE customercard.contacts SET deleted_at = now() WHERE contact_id = :ghost;
SELECT is_empty(format('SELECT 1 FROM customercard.card_quick WHERE contact_id = %s', :ghost), 'nor a deleted one');
-- 13..14: tenancy
SELECT customercard.create_account('Other', 'RU', 'RUB') AS acct2 \gset
SET customercard.account_id = :acct2;
SELECT is_empty(format('SELECT 1 FROM customercard.card_quick WHERE contact_id = %s', :ada), 'another account sees no quick card of ours');
SET customercard.account_id = :acct;
CREATE ROLE cc_quick_reader IN ROLE customercard_reader;
SELECT customercard.bind_role('cc_quick_reader', :acct);
SET ROLE cc_quick_reader;
SELECT is((SELECT count(*) FROM customercard.card_quick), 1::bigint, 'a reader of the account reads it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
