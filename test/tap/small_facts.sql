-- The card's small facts: the person's local time and
-- UTC offset; an avatar per channel; related contacts with who they are;
-- the points ledger linked to the order that earned or spent them; the
-- upcoming actions (Leeloo's "when the action will be done").
BEGIN;
SELECT plan(19);

SELECT customercard.create_account('Small facts', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Ada", "timezone": "Asia/Yekaterinburg", "city": "Ekb",
    "emails": ["ada@example.com"], "phones": ["+7 912 345 67 89"],
    "channels": [{"kind": "telegram", "external_id": "tg-ada", "avatar_url": "https://t.me/i/ada.jpg"}]}') AS ada \gset
SELECT customercard.upsert_contact('{"name": "Ada twin", "city": "Perm", "emails": ["twin@example.com"]}') AS twin \gset
-- (the same phone typed in by hand: an upsert would have matched Ada by it)
INSERT INTO customercard.phones (contact_id, phone, raw, is_primary) VALUES (:twin, '8 912 345 67 89', '8 912 345 67 89', true);
SELECT customercard.upsert_contact('{"name": "Nobody"}') AS nobody \gset

-- 1..3: local time and offset
SELECT results_eq(format('SELECT local_time, utc_offset FROM customercard.card WHERE contact_id = %s', :ada),
    $$VALUES (now() AT TIME ZONE 'Asia/Yekaterinburg', interval '5 hours')$$, 'card: the person''s local time and UTC offset');
SELECT is((SELECT local_time FROM customercard.card WHERE contact_id = :nobody), NULL, '... none without a time zone');
SELECT is(customercard.card_json(:ada) -> 'card' ->> 'utc_offset', '05:00:00', 'card_json shows them');

-- 4..6: an avatar per channel
SELECT is((SELECT avatar_url FROM customercard.card_channels WHERE contact_id = :ada), 'https://t.me/i/ada.jpg',
    'a channel''s avatar, from upsert_contact');
SELECT customercard.upsert_contact('{"channels": [{"kind": "telegram", "external_id": "tg-ada", "avatar_url": "https://t.me/i/ada2.jpg"}]}') AS ignored \gset
SELECT is((SELECT avatar_url FROM customercard.channels WHERE contact_id = :ada), 'https://t.me/i/ada2.jpg', '... a new one replaces it');
SELECT is(tap.sqlstate_of($$SELECT customercard.upsert_contact('{"channels": [{"kind": "vk", "external_id": "1", "avatar_url": 5}]}')$$),
    '22023', 'an avatar that is not a string: 22023');

-- 7..8: related contacts with who they are
SELECT results_eq(format('SELECT related_id, name, email, phone::text, city, shared FROM customercard.card_related WHERE contact_id = %s', :ada),
    format($$VALUES (%s::bigint, 'Ada twin'::text, 'twin@example.com'::text, '+79123456789'::text, 'Perm'::text, '{phone}'::text[])$$, :twin),
    'card_related: the other person''s name, e-mail, phone and city, and what they share');
SELECT is(customercard.card_json(:ada) -> 'related' -> 0 ->> 'name', 'Ada twin', 'card_json''s related: with the name');

-- 9..10: the points ledger linked to its order
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:ada, 'P-1', 'Course', 1000, 'paid')
RETURNING order_id AS o \gset
INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason, order_id) VALUES (:ada, 'points', 50, 'bought the course', :o);
SELECT results_eq(format('SELECT currency, amount, order_id, order_number FROM customercard.card_balance_ledger WHERE contact_id = %s', :ada),
    format($$VALUES ('points'::text, 50::numeric, %s::bigint, 'P-1'::text)$$, :o), 'the ledger row names the order that earned the points');
SELECT throws_ok(format($$INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason, order_id) VALUES (%s, 'points', 5, 'x', -1)$$, :twin),
    '23503', NULL, 'an order that does not exist: 23503');

-- 11..16: upcoming actions
INSERT INTO customercard.tasks (contact_id, title, due_at) VALUES (:ada, 'Call about the course', now() + interval '1 day');
INSERT INTO customercard.tasks (contact_id, title, due_at, status) VALUES (:ada, 'Old task', now() - interval '1 day', 'done');
INSERT INTO customercard.call_campaigns (name) VALUES ('Win back') RETURNING campaign_id AS camp \gset
INSERT INTO customercard.call_campaign_members (campaign_id, contact_id, call_back_at, status) VALUES (:camp, :ada, now() + interval '2 days', 'call_back');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_recurring, next_charge_at)
VALUES (:ada, 'R-1', 'Subscription', 300, 'paid', true, now() + interval '3 days');
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "later"}', ARRAY[:ada::bigint], run_at => now() + interval '4 days') AS job \gset
SELECT results_eq(format('SELECT kind, what FROM customercard.card_upcoming WHERE contact_id = %s ORDER BY at', :ada),
    $$VALUES ('task'::text, 'Call about the course'::text), ('call_back', 'Win back'), ('recurring_charge', 'R-1 Subscription'), ('bulk_job', 'add_tag')$$,
    'card_upcoming: open tasks, call-backs, next recurring charges and scheduled bulk jobs, by when they will happen');
SELECT is((SELECT count(*) FROM customercard.card_upcoming WHERE contact_id = :twin), 0::bigint, '... nothing for a contact with nothing ahead');
SELECT is(jsonb_array_length(customercard.card_json(:ada) -> 'upcoming'), 4, 'card_json''s upcoming');
SELECT customercard.stop_recurring((SELECT order_id FROM customercard.orders WHERE number = 'R-1' AND account_id = :acct));
SELECT customercard.bulk_cancel(:job);
SELECT results_eq(format('SELECT kind FROM customercard.card_upcoming WHERE contact_id = %s ORDER BY at', :ada),
    $$VALUES ('task'::text), ('call_back')$$, 'a stopped recurring order and a cancelled job are not upcoming');
UPDATE customercard.tasks SET status = 'done' WHERE contact_id = :ada;
UPDATE customercard.call_campaign_members SET status = 'reached', call_back_at = NULL WHERE contact_id = :ada;
SELECT is((SELECT count(*) FROM customercard.card_upcoming WHERE contact_id = :ada), 0::bigint, 'done work is not upcoming');
-- 17..19: related through a browser: visitor ids carried by orders, payments and subscriptions
SELECT customercard.upsert_contact('{"name": "Buyer"}') AS buyer \gset
SELECT customercard.upsert_contact('{"name": "Subscriber"}') AS subscriber \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, visitor_id) VALUES (:buyer, 'V-1', 'Course', 10, 'new', 'cookie-77')
RETURNING order_id AS vo \gset
INSERT INTO customercard.funnels (name) VALUES ('Browser funnel') RETURNING funnel_id AS bf \gset
INSERT INTO customercard.subscriptions (contact_id, funnel_id, visitor_id) VALUES (:subscriber, :bf, 'cookie-77');
SELECT results_eq(format('SELECT related_id, name, shared, shared_values FROM customercard.card_related WHERE contact_id = %s', :buyer),
    format($$VALUES (%s::bigint, 'Subscriber'::text, '{visitor_id}'::text[], '{cookie-77}'::text[])$$, :subscriber),
    'related contacts from the same browser: an order''s and a subscription''s visitor id');
INSERT INTO customercard.payments (order_id, contact_id, amount, status, visitor_id) VALUES (:vo, :buyer, 10, 'failed', 'cookie-88');
INSERT INTO customercard.page_visits (contact_id, url, visitor_id) VALUES (:nobody, 'https://school.example/', 'cookie-88');
SELECT is((SELECT array_agg(related_id ORDER BY related_id) FROM customercard.card_related WHERE contact_id = :buyer),
    ARRAY[:nobody::bigint, :subscriber::bigint], '... and a payment''s');
SELECT customercard.forget_contact(:buyer);
SELECT results_eq(format($$SELECT (SELECT count(*) FROM customercard.orders WHERE contact_id = %1$s AND visitor_id IS NOT NULL)
                                + (SELECT count(*) FROM customercard.payments WHERE contact_id = %1$s AND visitor_id IS NOT NULL),
                                (SELECT count(*) FROM customercard.orders WHERE contact_id = %1$s)$$, :buyer),
    $$VALUES (0::bigint, 1::bigint)$$, 'forget_contact erases those visitor ids and keeps the orders');

SELECT customercard.create_account('Other', 'RU', 'RUB') AS acct2 \gset
SET customercard.account_id = :acct2;
SELECT is((SELECT count(*) FROM customercard.card_upcoming), 0::bigint, 'another account sees none of it');

SELECT * FROM finish();
ROLLBACK;
