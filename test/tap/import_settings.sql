-- Imports with settings for the whole file: the bot
-- (connection) and channel kind of the file's social ids, a funnel and LGT,
-- tags, which identifier the import needs; the account's default traffic
-- source for rows without a funnel; re-importing onto the same bot updates,
-- never duplicates; Leeloo's Viber rule (at most two imports of a
-- subscriber in 12 hours).  Bad settings change nothing.
BEGIN;
SELECT plan(29);

SELECT customercard.create_account('Import settings', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.funnels (name) VALUES ('Free lesson'), ('Webinar') ;
INSERT INTO customercard.lgts (funnel_id, name) SELECT funnel_id, 'Instagram ads' FROM customercard.funnels WHERE name = 'Webinar';

-- ---------------------------------------------------------------- settings checked first
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '{"bot": "x"}')$$, '22023',
                 'unknown import setting "bot"', 'an unknown setting: 22023');
SELECT is(tap.hint_of($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '{"bot": "x"}')$$),
          'The settings are connection, channel_kind, funnel, lgt, block, tags, require.', '... naming the settings there are');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '{"channel_kind": "icq"}')$$, '22023',
                 NULL, 'a channel kind that is none: 22023');
SELECT throws_ok($$SELECT * FROM customercard.import_json('[{"name": "Anna"}]', settings => '{"funnel": "Paid course"}')$$, '42704',
                 NULL, 'an unknown funnel: 42704');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '{"lgt": "Instagram ads"}')$$, '22023',
                 '"lgt" needs its "funnel"', 'an LGT without its funnel: 22023');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '["telegram"]')$$, '22023',
                 NULL, 'settings that are not an object: 22023');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name\nAnna\n', settings => '{"require": "phone"}')$$, '22023',
                 NULL, '"require" is social_id or email');
SELECT is((SELECT count(*)::int FROM customercard.contacts), 0, '... and none of them imported anything');

-- ---------------------------------------------------------------- a messenger import onto one bot
CREATE TEMP TABLE r1 AS SELECT * FROM customercard.import_csv(E'name,social_id,tags\nAnna,tg-1,vip\nBoris,tg-2,\nNo id,,\n',
    settings => '{"connection": "school_bot", "channel_kind": "telegram", "funnel": "Webinar", "lgt": "Instagram ads",
                  "tags": ["imported"], "require": "social_id"}');
SELECT results_eq('SELECT line, status, reason FROM r1 ORDER BY line',
    $$VALUES (2, 'created', NULL::text), (3, 'created', NULL), (4, 'rejected', 'the row has no social_id, which an import of messenger subscribers needs')$$,
    'require social_id: a row without one is rejected with that reason');
SELECT results_eq($$SELECT c.name, ch.kind, ch.connection, ch.external_id FROM customercard.channels ch JOIN customercard.contacts c USING (account_id, contact_id) ORDER BY c.name$$,
    $$VALUES ('Anna', 'telegram', 'school_bot', 'tg-1'), ('Boris', 'telegram', 'school_bot', 'tg-2')$$,
    'the social ids become channels of the file''s bot and kind');
SELECT results_eq($$SELECT c.name, v.funnel, v.lgt, v.source FROM customercard.card_subscriptions v JOIN customercard.contacts c USING (account_id, contact_id) ORDER BY c.name$$,
    $$VALUES ('Anna', 'Webinar', 'Instagram ads', 'import'), ('Boris', 'Webinar', 'Instagram ads', 'import')$$,
    'the file''s funnel and LGT subscribe every row, recorded as from an import');
SELECT results_eq($$SELECT c.name, array_agg(t.tag ORDER BY t.tag) FROM customercard.card_tags t JOIN customercard.contacts c USING (account_id, contact_id) GROUP BY c.name ORDER BY c.name$$,
    $$VALUES ('Anna', '{imported,vip}'::text[]), ('Boris', '{imported}')$$,
    'the file''s tags are added to each row''s own');

-- the same subscribers again, onto the same bot: updated, not duplicated
CREATE TEMP TABLE r2 AS SELECT * FROM customercard.import_csv(E'name,social_id\nAnna Petrova,tg-1\nBoris,tg-2\n',
    settings => '{"connection": "school_bot", "channel_kind": "telegram"}');
SELECT results_eq('SELECT line, status FROM r2 ORDER BY line', $$VALUES (2, 'updated'), (3, 'updated')$$,
                  're-imported onto the same bot: matched by the social id there, updated');
SELECT is((SELECT count(*)::int FROM customercard.contacts), 2, '... no duplicate');
-- onto another bot the same ids are other subscribers
SELECT is((SELECT string_agg(status, ',') FROM customercard.import_csv(E'name,social_id\nAnna,tg-1\n',
                                                                        settings => '{"connection": "shop_bot", "channel_kind": "telegram"}')),
          'created', 'the same social id on another bot is another subscriber');

-- a row's own values win over the file's
SELECT is((SELECT string_agg(status, ',') FROM customercard.import_csv(E'name,funnel,channel,social_id\nCarl,Free lesson,vk,vk-9\n',
                                                                        settings => '{"connection": "school_bot", "channel_kind": "telegram", "funnel": "Webinar"}')),
          'created', 'a row with its own funnel and channel kind');
SELECT results_eq($$SELECT v.funnel, v.channel_kind FROM customercard.card_subscriptions v JOIN customercard.contacts c USING (account_id, contact_id) WHERE c.name = 'Carl'$$,
    $$VALUES ('Free lesson', 'vk')$$, '... keeps them: the row wins');

-- ---------------------------------------------------------------- an e-mail list
SELECT results_eq($$SELECT line, status FROM customercard.import_csv(E'name,email\nDora,dora@example.com\nEve,\n', settings => '{"require": "email"}') ORDER BY line$$,
    $$VALUES (2, 'created'), (3, 'rejected')$$, 'require email: a row without an address is rejected');
SELECT is((SELECT reason FROM customercard.import_json('[{"name": "Fay", "phones": ["+79120000001"]}]', settings => '{"require": "email"}')),
          'the row has no e-mail, which an import of an e-mail list needs', '... with that reason (JSON too)');

-- ---------------------------------------------------------------- the account's default traffic source
SELECT customercard.set_default_traffic_source('Free lesson');
SELECT is((SELECT string_agg(status, ',') FROM customercard.import_csv(E'name,phone\nGleb,+79120000002\n')), 'created', 'a row without a funnel, and no funnel in the settings');
SELECT results_eq($$SELECT v.funnel, v.source FROM customercard.card_subscriptions v JOIN customercard.contacts c USING (account_id, contact_id) WHERE c.name = 'Gleb'$$,
    $$VALUES ('Free lesson', 'default traffic source')$$, '... subscribes to the account''s default traffic source, recorded as such');
SELECT throws_ok($$SET LOCAL ROLE customercard_manager; SELECT customercard.set_default_traffic_source(NULL)$$, '42501', NULL,
                 'only admins set the default traffic source');
RESET ROLE;

-- ---------------------------------------------------------------- an export imported back
INSERT INTO customercard.custom_fields (name) VALUES ('Course');
UPDATE customercard.contacts SET name = 'Anna P.' WHERE name = 'Anna Petrova';
SELECT customercard.upsert_contact('{"channel": {"kind": "telegram", "connection": "school_bot", "external_id": "tg-1"}, "custom": {"Course": "Python"}}');
SELECT count(*) AS before FROM customercard.contacts \gset
SELECT results_eq($$SELECT status, count(*)::int FROM customercard.import_csv(customercard.export_csv('{}')) GROUP BY status$$,
    format('VALUES (%L, %s)', 'updated', :before),
    'the account''s export imported back: every row matched (by its channel''s social id on its bot, its e-mail or phone), updated');
SELECT is((SELECT count(*)::int FROM customercard.contacts), :before, '... no duplicate');
SELECT is((SELECT v.value FROM customercard.custom_values v JOIN customercard.channels ch USING (account_id, contact_id)
            WHERE ch.external_id = 'tg-1' AND ch.connection = 'school_bot'), 'Python', '... a custom field''s column read back by its name');

-- ---------------------------------------------------------------- Viber: twice in 12 hours
SELECT results_eq($$SELECT line, status FROM customercard.import_csv(E'name,channel,social_id\nVera,viber,vb-1\nVera,viber,vb-1\nVera,viber,vb-1\n',
                                                                      settings => '{"connection": "viber_bot"}') ORDER BY line$$,
    $$VALUES (2, 'created'), (3, 'updated'), (4, 'rejected')$$, 'a Viber subscriber imported twice in 12 hours: the third time is rejected');
SELECT matches((SELECT reason FROM customercard.import_csv(E'name,channel,social_id\nVera,viber,vb-1\n', settings => '{"connection": "viber_bot"}')),
    '^Viber subscriber vb-1 was imported twice in the last 12 hours; it may be imported again from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$',
    '... with the time from which it may be imported again');
SELECT is((SELECT string_agg(status, ',') FROM customercard.import_csv(E'name,channel,social_id\nVera,viber,vb-2\n', settings => '{"connection": "viber_bot"}')),
          'created', 'another Viber subscriber is not held back');
SELECT throws_ok($$SET LOCAL ROLE customercard_manager; SELECT * FROM customercard.import_marks$$, '42501', NULL,
                 'managers cannot read (or clear) the marks the rule counts');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
