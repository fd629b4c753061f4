-- One-step bulk actions as Leeloo does them (#34 item 3): create_channel
-- ("create e-mail subscribers") subscribes the new subscriber to a funnel /
-- LGT and tags it in the same job; preview and undo included.
BEGIN;
SELECT plan(16);

SELECT customercard.create_account('Create channel', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.funnels (name) VALUES ('Newsletter') RETURNING funnel_id AS nl \gset
INSERT INTO customercard.lgts (funnel_id, name) VALUES (:nl, 'Site form') RETURNING lgt_id AS site \gset
SELECT customercard.upsert_contact('{"name": "A", "emails": ["a@example.com"]}') AS a \gset
SELECT customercard.upsert_contact('{"name": "B", "emails": ["b@example.com"], "tags": ["news"]}') AS b \gset
SELECT customercard.upsert_contact('{"name": "C", "phones": ["+7 912 345 67 89"]}') AS c \gset
CREATE TEMP VIEW state AS
SELECT k.contact_id,
       (SELECT count(*) FROM customercard.channels ch WHERE ch.contact_id = k.contact_id AND ch.kind = 'email') AS channels,
       (SELECT count(*) FROM customercard.subscriptions s JOIN customercard.channels ch USING (account_id, channel_id)
         WHERE s.contact_id = k.contact_id AND ch.kind = 'email' AND s.lgt_id IS NOT NULL) AS subscribed,
       (SELECT array_agg(t.name ORDER BY t.name) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
         WHERE ct.contact_id = k.contact_id) AS tags
  FROM customercard.contacts k;

-- 1..2: the preview
SELECT is(customercard.bulk_preview('create_channel', '{"kind": "email", "funnel": "Newsletter", "lgt": "Site form", "tags": ["news", "promo"]}',
                                    ARRAY[:a, :b, :c]::bigint[]) - 'sample' - 'action',
    '{"selected": 3, "would_change": 2, "already": 0, "cannot": 1}', 'the preview: two new subscribers, one contact without an e-mail');
SELECT is((SELECT count(*) FROM customercard.tags WHERE name = 'promo'), 0::bigint, '... and it makes no tag');

-- 3..7: the job
SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "funnel": "Newsletter", "lgt": "Site form", "tags": ["news", "promo"]}',
                                 ARRAY[:a, :b, :c]::bigint[]) AS job \gset
SELECT cmp_ok(tap.run_job(:acct, :job), '>=', 1, 'create_channel with a funnel, an LGT and tags runs');
SELECT results_eq(format('SELECT contact_id, channels, subscribed, tags FROM state WHERE contact_id IN (%s, %s, %s) ORDER BY contact_id', :a, :b, :c),
    format($$VALUES (%s::bigint, 1::bigint, 1::bigint, '{news,promo}'::text[]), (%s, 1, 1, '{news,promo}'), (%s, 0, 0, NULL)$$, :a, :b, :c),
    'each new e-mail subscriber is subscribed through its new channel (with the LGT) and tagged; the contact without an e-mail is not');
SELECT is((SELECT count(*) FROM customercard.subscriptions s JOIN customercard.channels ch USING (account_id, channel_id)
            WHERE s.funnel_id = :nl AND ch.kind = 'email' AND ch.external_id IN ('a@example.com', 'b@example.com')), 2::bigint,
    '... the subscription is the channel''s: the funnel through that very channel');
SELECT is((SELECT reason FROM customercard.bulk_job_failures WHERE job_id = :job AND contact_id = :c), 'the contact has no e-mail address',
    '... the contact it could not act on is reported with why');
SELECT is((SELECT done + failed FROM customercard.bulk_progress WHERE job = :job), 3, '... and the job counts all three');

-- 8..11: undo and redo
SELECT customercard.bulk_undo(:job) AS undo \gset
SELECT cmp_ok(tap.run_job(:acct, :undo), '>=', 1, 'its undo runs');
SELECT results_eq(format('SELECT contact_id, channels, subscribed, tags FROM state WHERE contact_id IN (%s, %s) ORDER BY contact_id', :a, :b),
    format($$VALUES (%s::bigint, 0::bigint, 0::bigint, NULL::text[]), (%s, 0, 0, '{news}')$$, :a, :b),
    'the undo takes the channels, subscriptions and the tags it added away (a tag the contact had stays)');
SELECT is_empty(format('SELECT 1 FROM customercard.bulk_job_failures WHERE job_id = %s', :undo), '... with nothing it could not put back');
SELECT customercard.bulk_undo(:undo) AS redo \gset
SELECT cmp_ok(tap.run_job(:acct, :redo), '>=', 1, 'undoing the undo runs');
SELECT results_eq(format('SELECT contact_id, channels, subscribed, tags FROM state WHERE contact_id IN (%s, %s) ORDER BY contact_id', :a, :b),
    format($$VALUES (%s::bigint, 1::bigint, 1::bigint, '{news,promo}'::text[]), (%s, 1, 1, '{news,promo}')$$, :a, :b),
    '... puts all of it back (the channel before the subscription through it)');

-- 13..16: bad parameters
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "lgt": "Site form"}', '{1}')$$), '22023',
    'an LGT without its funnel: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "funnel": "Nope"}', '{1}')$$), '42704',
    'an unknown funnel: 42704');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "tags": "news"}', '{1}')$$), '22023',
    'tags that are not an array of names: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.bulk_enqueue('create_channel', '{"kind": "email", "tags": ["ok", " "]}', '{1}')$$), '22023',
    'an empty tag name: 22023');

SELECT * FROM finish();
ROLLBACK;
