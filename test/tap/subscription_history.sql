-- Funnel and LGT history (Leeloo's "history of LGT subscriptions in the
-- chosen funnel", "unsubscribe from a particular LGT"): a subscriptions row
-- is one period; re-subscribing starts a new one
-- and keeps the ended one; unsubscribing from one LGT ends that LGT only;
-- card_subscriptions is the current state (the latest period of each
-- funnel, channel and LGT), card_subscription_history every period.
BEGIN;
SELECT plan(24);

SELECT customercard.create_account('Subscription history', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.funnels (name) VALUES ('Course'), ('Other') ;
SELECT funnel_id AS course FROM customercard.funnels WHERE account_id = :acct AND name = 'Course' \gset
SELECT funnel_id AS other FROM customercard.funnels WHERE account_id = :acct AND name = 'Other' \gset
INSERT INTO customercard.lgts (funnel_id, name) VALUES (:course, 'Widget'), (:course, 'Landing'), (:other, 'Link');
SELECT lgt_id AS widget FROM customercard.lgts WHERE account_id = :acct AND name = 'Widget' \gset
SELECT lgt_id AS landing FROM customercard.lgts WHERE account_id = :acct AND name = 'Landing' \gset

SELECT customercard.upsert_contact('{"name": "Ada", "channels": [{"kind": "telegram", "external_id": "tg-ada", "connection": "bot1"}],
                                     "funnel": "Course", "lgt": "Widget"}') AS a \gset
SELECT channel_id AS tg FROM customercard.channels WHERE contact_id = :a \gset

-- 1..4: re-subscribing keeps the ended period
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a), 1::bigint, 'the first subscription: one period');
UPDATE customercard.subscriptions SET unsubscribed_at = now() WHERE contact_id = :a;
SELECT customercard.upsert_contact('{"channels": [{"kind": "telegram", "external_id": "tg-ada", "connection": "bot1"}],
                                     "funnel": "Course", "lgt": "Widget"}') = :a AS same \gset
SELECT ok(:'same'::boolean, 'the same person comes back through the same LGT');
SELECT results_eq(format('SELECT lgt_id, channel_id, unsubscribed_at IS NULL FROM customercard.subscriptions WHERE contact_id = %s ORDER BY subscription_id', :a),
    format('VALUES (%s::bigint, %s::bigint, false), (%1$s, %2$s, true)', :widget, :tg),
    're-subscribing starts a new period: the ended one stays as it was');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE contact_id = :a AND event = 'subscribed'), 2::bigint,
    'each period''s start is logged as subscribed');

-- 5..6: an upsert of a subscribed person changes nothing
SELECT customercard.upsert_contact('{"channels": [{"kind": "telegram", "external_id": "tg-ada", "connection": "bot1"}],
                                     "funnel": "Course", "lgt": "Widget"}') AS ignored \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a), 2::bigint, 'subscribed already: no new period');
SELECT customercard.upsert_contact('{"channels": [{"kind": "telegram", "external_id": "tg-ada", "connection": "bot1"}],
                                     "funnel": "Course"}') AS ignored \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a), 2::bigint,
    'the funnel without an LGT: any open period of the funnel will do');

-- 7..9: a second LGT of the same funnel is a subscription of its own; ending one ends that LGT only
SELECT customercard.upsert_contact('{"channels": [{"kind": "telegram", "external_id": "tg-ada", "connection": "bot1"}],
                                     "funnel": "Course", "lgt": "Landing"}') AS ignored \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a AND unsubscribed_at IS NULL), 2::bigint,
    'another LGT of the funnel: a second open period');
SELECT customercard.bulk_enqueue('unsubscribe', '{"funnel": "Course", "lgt": "Landing"}', ARRAY[:a::bigint]) AS j \gset
SELECT tap.run_job(:acct, :j) AS batches \gset
SELECT results_eq(format('SELECT lgt_id, unsubscribed_at IS NULL FROM customercard.subscriptions WHERE contact_id = %s ORDER BY subscription_id', :a),
    format('VALUES (%s::bigint, false), (%1$s, true), (%s, false)', :widget, :landing),
    'unsubscribing from one LGT ends that LGT only');
SELECT is(ARRAY(SELECT customercard.audience_ids('{"funnel": "Course"}')), ARRAY[:a::bigint], 'still in the funnel through the other LGT');

-- 10..11: the bulk subscribe starts a new period, the bulk unsubscribe without an LGT ends the funnel
SELECT customercard.bulk_enqueue('subscribe', '{"funnel": "Course", "lgt": "Landing"}', ARRAY[:a::bigint]) AS j \gset
SELECT tap.run_job(:acct, :j) AS batches \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a AND lgt_id = :landing), 2::bigint,
    'bulk subscribe through an ended LGT: a new period beside the ended one');
SELECT customercard.bulk_enqueue('unsubscribe', '{"funnel": "Course"}', ARRAY[:a::bigint]) AS j \gset
SELECT tap.run_job(:acct, :j) AS batches \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a AND unsubscribed_at IS NULL), 0::bigint,
    'unsubscribe from the funnel: every LGT of it ends');
SELECT customercard.bulk_enqueue('subscribe', '{"funnel": "Course"}', ARRAY[:a::bigint]) AS j \gset
SELECT tap.run_job(:acct, :j) AS batches \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a), 5::bigint,
    'bulk subscribe to the ended funnel: a fifth period');

-- 13..16: the views
SELECT results_eq(format('SELECT lgt, channel_kind, is_active FROM customercard.card_subscriptions WHERE contact_id = %s ORDER BY lgt NULLS FIRST, channel_kind NULLS FIRST', :a),
    $$VALUES (NULL::text, NULL::text, true), ('Landing', NULL, false), ('Landing', 'telegram', false), ('Widget', 'telegram', false)$$,
    'card_subscriptions: the latest period of each funnel, channel and LGT');
SELECT is((SELECT count(*) FROM customercard.card_subscription_history WHERE contact_id = :a), 5::bigint,
    'card_subscription_history: every period, ended ones too');
SELECT results_eq(format($$SELECT funnel, lgt, channel_kind, connection, period FROM customercard.card_subscription_history
                            WHERE contact_id = %s AND lgt = 'Widget' ORDER BY subscribed_at, subscription_id$$, :a),
    $$VALUES ('Course', 'Widget', 'telegram', 'bot1', 1::bigint), ('Course', 'Widget', 'telegram', 'bot1', 2)$$,
    '... with funnel, LGT, channel, connection and the period''s number');
SELECT is(jsonb_array_length(customercard.card_json(:a) -> 'subscription_history'), 5, 'card_json''s subscription_history: every period');
SELECT is(jsonb_array_length(customercard.card_json(:a) -> 'subscriptions'), 4, 'card_json''s subscriptions: the current state');

-- 18..19: a period cannot be open twice
SELECT throws_ok(format('INSERT INTO customercard.subscriptions (contact_id, funnel_id) VALUES (%s, %s)', :a, :course),
    '23505', NULL, 'a second open period of the same funnel, channel and LGT: 23505');
SELECT lives_ok(format($$INSERT INTO customercard.subscriptions (contact_id, funnel_id, subscribed_at, unsubscribed_at)
                         VALUES (%s, %s, '2020-01-01', '2020-02-01')$$, :a, :course),
    'an ended period can be recorded beside the open one (history brought from elsewhere)');

-- 20..22: merge keeps every period, combines two open ones
SELECT customercard.upsert_contact('{"name": "Ada twin", "funnel": "Course"}') AS b \gset
UPDATE customercard.subscriptions SET subscribed_at = '2019-06-01' WHERE contact_id = :b;
INSERT INTO customercard.subscriptions (contact_id, funnel_id, lgt_id, subscribed_at, unsubscribed_at)
VALUES (:b, :course, :widget, '2019-01-01', '2019-02-01');
SELECT customercard.merge(:a, :b) AS m \gset
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :a), 7::bigint,
    'merge: the open periods of the same funnel combined, every ended one kept (6 + 2 - 1)');
SELECT results_eq(format('SELECT subscribed_at FROM customercard.subscriptions WHERE contact_id = %s AND unsubscribed_at IS NULL', :a),
    $$VALUES ('2019-06-01'::timestamptz)$$, '... the combined period starts at the earlier start');
SELECT customercard.unmerge(:m);
SELECT results_eq(format('SELECT count(*), count(*) FILTER (WHERE unsubscribed_at IS NULL) FROM customercard.subscriptions WHERE contact_id = %s', :b),
    $$VALUES (2::bigint, 1::bigint)$$, 'unmerge gives the absorbed contact its periods back');

-- 23..24: forget keeps the periods (business counts); another account sees none
SELECT customercard.forget_contact(:b);
SELECT is((SELECT count(*) FROM customercard.subscriptions WHERE contact_id = :b), 2::bigint, 'forget_contact keeps the periods');
SELECT customercard.create_account('Other school', 'RU', 'RUB') AS acct2 \gset
SET customercard.account_id = :acct2;
SELECT is((SELECT count(*) FROM customercard.card_subscription_history), 0::bigint, 'another account sees no period');

SELECT * FROM finish();
ROLLBACK;
