-- Gender from the messenger (#34 item 5): a channel's reported gender fills
-- the contact's with source channel unless a person set it; a manual value
-- is never overwritten.
BEGIN;
SELECT plan(13);

SELECT customercard.create_account('Channel gender', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'fb-bot';

-- 1..3: a new subscriber
SELECT customercard.upsert_contact('{"name": "Olga", "channel": {"kind": "facebook", "external_id": "fb-1", "gender": "female"}}') AS olga \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :olga),
    $$VALUES ('female'::text, 'channel'::text)$$, 'a new subscriber takes the gender its messenger reports, source channel');
SELECT results_eq(format($$SELECT actor, details ->> 'new' FROM customercard.action_log WHERE contact_id = %s AND event = 'field_changed' AND details ->> 'field' = 'gender'$$, :olga),
    $$VALUES ('fb-bot'::text, 'female'::text)$$, 'logged as a change of the gender, with the actor');
SELECT customercard.upsert_contact('{"channel": {"kind": "facebook", "external_id": "fb-1", "gender": "m"}}') AS ignored \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :olga),
    $$VALUES ('male'::text, 'channel'::text)$$, 'a later report replaces a gender that came from a channel (m is male)');

-- 4..6: a person's value wins
SELECT customercard.upsert_contact(format('{"contact_id": %s, "gender": "female"}', :olga)::jsonb) AS ignored \gset
SELECT customercard.upsert_contact('{"channel": {"kind": "facebook", "external_id": "fb-1", "gender": "male"}}') AS ignored \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :olga),
    $$VALUES ('female'::text, 'manual'::text)$$, 'a manual gender is never overwritten by a channel');
SELECT customercard.upsert_contact('{"name": "Ivan", "gender": "male", "channel": {"kind": "vk", "external_id": "vk-1", "gender": "female"}}') AS ivan \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :ivan),
    $$VALUES ('male'::text, 'manual'::text)$$, 'the same call''s own gender wins over its channel''s');
SELECT customercard.upsert_contact('{"name": "Set by hand"}') AS hand \gset
UPDATE customercard.contacts SET gender = 'female' WHERE contact_id = :hand;
SELECT customercard.upsert_contact(format('{"contact_id": %s, "channel": {"kind": "vk", "external_id": "vk-2", "gender": "male"}}', :hand)::jsonb) AS ignored \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :hand),
    $$VALUES ('female'::text, NULL::text)$$, 'a gender written by hand without a source is a person''s too');

-- 7..8: unknown and several channels
SELECT customercard.upsert_contact('{"name": "Unsure", "channel": {"kind": "vk", "external_id": "vk-3", "gender": "unknown"}}') AS unsure \gset
SELECT results_eq(format('SELECT gender, gender_source FROM customercard.contacts WHERE contact_id = %s', :unsure),
    $$VALUES (NULL::text, NULL::text)$$, '"unknown" reports nothing');
SELECT customercard.upsert_contact('{"name": "Two", "channels": [{"kind": "vk", "external_id": "vk-4"},
    {"kind": "facebook", "external_id": "fb-4", "gender": "F"}, {"kind": "telegram", "external_id": "tg-4", "gender": "male"}]}') AS two \gset
SELECT is((SELECT gender FROM customercard.contacts WHERE contact_id = :two), 'female', 'of several channels the first that reports one (case-insensitive)');

-- 9..11: bad input changes nothing
SELECT is(tap.sqlstate_of($$SELECT customercard.upsert_contact('{"name": "X", "channel": {"kind": "vk", "external_id": "vk-9", "gender": "robot"}}')$$),
    '22023', 'an unknown gender in a channel: 22023');
SELECT matches(tap.hint_of($$SELECT customercard.upsert_contact('{"name": "X", "channel": {"kind": "vk", "external_id": "vk-9", "gender": "robot"}}')$$),
    'male, female', '... the hint names the values');
SELECT is(tap.sqlstate_of($$SELECT customercard.upsert_contact('{"name": "X", "channel": {"kind": "vk", "external_id": "vk-9", "gender": 2}}')$$),
    '22023', 'a number: 22023');

-- 12..13: imports take it too
SELECT is((SELECT status FROM customercard.import_json('[{"name": "Imported", "channel": {"kind": "vk", "external_id": "vk-10", "gender": "female"}}]')),
    'created', 'import_json: a row whose channel reports a gender');
SELECT results_eq($$SELECT c.gender, c.gender_source FROM customercard.contacts c JOIN customercard.channels ch USING (account_id, contact_id)
                    WHERE ch.external_id = 'vk-10'$$,
    $$VALUES ('female'::text, 'channel'::text)$$, '... gives the contact that gender, source channel');

SELECT * FROM finish();
ROLLBACK;
