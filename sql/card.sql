-- The card: one contact with every section filled by hand, read back
-- through each section view, the card row and card_json.
\set SHOW_CONTEXT never
SET TimeZone = 'UTC';
SET customercard.actor = 'manager:7';

INSERT INTO customercard.managers (manager_id, name) VALUES (7, 'Olga Manager');
SELECT customercard.upsert_contact('{"name": "Ivan Sidorov", "phones": ["8 (912) 000-11-22"], "emails": ["ivan@example.com"],
    "channels": [{"kind": "telegram", "external_id": "555", "connection": "bot"}, {"kind": "email", "external_id": "ivan@example.com"}],
    "tags": ["student"]}') AS ivan \gset
-- a second profile of the same person (as an import would leave it): same phone, another e-mail
INSERT INTO customercard.contacts (name) VALUES ('Ivan (second profile)') RETURNING contact_id AS twin \gset
INSERT INTO customercard.phones (contact_id, phone, raw, is_primary) VALUES (:twin, '89120001122', '+7 912 000 11 22 (old)', true);
INSERT INTO customercard.emails (contact_id, email, is_primary) VALUES (:twin, 'other@example.com', true);
UPDATE customercard.contacts SET manager_id = 7, note = 'wants the advanced course' WHERE contact_id = :ivan;

INSERT INTO customercard.funnels (funnel_id, name) VALUES (1, 'Free lesson');
INSERT INTO customercard.lgts (lgt_id, funnel_id, name, kind) VALUES (1, 1, 'Instagram link', 'link');
INSERT INTO customercard.funnel_blocks (block_id, funnel_id, name, position) VALUES (1, 1, 'Day 1', 1);
INSERT INTO customercard.subscriptions (contact_id, channel_id, funnel_id, lgt_id, block_id, subscribed_at)
SELECT :ivan, channel_id, 1, 1, 1, '2026-01-10 10:00+00' FROM customercard.channels WHERE contact_id = :ivan AND kind = 'telegram';

-- orders in RUB: 1000 paid (partner 100, call centre 50, co-author 200, expense 30),
-- 500 new, 700 confirmed, 300 refunded (paid, then refunded 300), 900 cancelled; and 20 EUR paid
INSERT INTO customercard.orders (order_id, contact_id, number, offer, amount, currency, status, manager_id, utm_source, created_at) VALUES
    (1, :ivan, 'A-1', 'Course Pro', 1000, 'RUB', 'paid', 7, 'instagram', '2026-02-01 09:00+00'),
    (2, :ivan, 'A-2', 'Course Basic', 500, 'RUB', 'new', NULL, NULL, '2026-02-02 09:00+00'),
    (3, :ivan, 'A-3', 'Course Basic', 700, 'RUB', 'confirmed', NULL, NULL, '2026-02-03 09:00+00'),
    (4, :ivan, 'A-4', 'Workbook', 300, 'RUB', 'refunded', NULL, NULL, '2026-02-04 09:00+00'),
    (5, :ivan, 'A-5', 'Mentoring', 900, 'RUB', 'cancelled', NULL, NULL, '2026-02-05 09:00+00'),
    (6, :ivan, 'E-1', 'Course Pro (EU)', 20, 'EUR', 'paid', NULL, NULL, '2026-02-06 09:00+00');
INSERT INTO customercard.payments (order_id, contact_id, amount, status, error_code, created_at) VALUES
    (1, :ivan, 1000, 'failed', 'insufficient_funds', '2026-02-01 09:05+00'),
    (1, :ivan, 1000, 'succeeded', NULL, '2026-02-01 09:10+00'),
    (4, :ivan, 300, 'succeeded', NULL, '2026-02-04 09:10+00'),
    (6, :ivan, 20, 'succeeded', NULL, '2026-02-06 09:10+00');
INSERT INTO customercard.payouts (order_id, kind, amount) VALUES
    (1, 'partner', 100), (1, 'call_centre', 50), (1, 'co_author', 200), (1, 'expense', 30), (4, 'refund', 300);

INSERT INTO customercard.sales_plans (plan_id, name) VALUES (1, 'Upsell Q1');
INSERT INTO customercard.sales_plan_members (plan_id, contact_id, status, amount, manager_id, manager_pinned, added_at)
VALUES (1, :ivan, 'in_progress', 5000, 7, true, '2026-02-10 12:00+00');
INSERT INTO customercard.tasks (contact_id, title, due_at, status, manager_id, created_at, done_at) VALUES
    (:ivan, 'Call about the advanced course', '2026-03-01 10:00+00', 'open', 7, '2026-02-10 12:00+00', NULL),
    (:ivan, 'Send the invoice', '2026-02-02 10:00+00', 'done', 7, '2026-02-01 12:00+00', '2026-02-02 09:00+00');
INSERT INTO customercard.calls (contact_id, manager_id, direction, started_at, duration_s, result, recording_url) VALUES
    (:ivan, 7, 'out', '2026-02-11 15:00+00', 240, 'answered', 'https://rec.example/1.mp3'),
    (:ivan, 7, 'out', '2026-02-12 15:00+00', 0, 'no_answer', NULL);
INSERT INTO customercard.call_campaigns (campaign_id, name) VALUES (1, 'Spring reactivation');
INSERT INTO customercard.call_campaign_members (campaign_id, contact_id, included_at, call_back_at, status, comment, manager_id)
VALUES (1, :ivan, '2026-03-01 08:00+00', '2026-03-02 08:00+00', 'call_back', 'busy at work', 7);
INSERT INTO customercard.webinar_visits (contact_id, webinar, launch, joined_at, left_at, chat_messages, visitor_id)
VALUES (:ivan, 'How to start', 3, '2026-01-15 18:00+00', '2026-01-15 19:30+00', 4, 'v-1');
INSERT INTO customercard.page_visits (contact_id, visitor_id, url, title, utm_source, visited_at)
VALUES (:ivan, 'v-1', 'https://school.example/pro', 'Course Pro', 'instagram', '2026-01-20 10:00+00'),
       (:twin, 'v-1', 'https://school.example/', 'Home', NULL, '2026-01-21 10:00+00');
INSERT INTO customercard.clicks (contact_id, visitor_id, url, utm_source, utm_campaign, utm_ad, utm_keys, clicked_at)
VALUES (:ivan, 'v-1', 'https://school.example/pro?utm_source=mail', 'mail', 'spring', 'banner-2', 'pro course', '2026-01-22 10:00+00');
INSERT INTO customercard.emails_sent (contact_id, kind, subject, sent_at, opened_at, clicked_at)
VALUES (:ivan, 'autoseries', 'Lesson 1', '2026-01-11 08:00+00', '2026-01-11 09:00+00', NULL),
       (:ivan, 'instant', 'Your invoice', '2026-02-01 08:00+00', '2026-02-01 08:30+00', '2026-02-01 08:31+00');
INSERT INTO customercard.groups (group_id, name) VALUES (1, 'Spring stream');
INSERT INTO customercard.group_members (group_id, contact_id, joined_at, partner, tag, utm_source)
VALUES (1, :ivan, '2026-01-12 08:00+00', 'partner-12', 'spring', 'vk');
INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason, at) VALUES
    (:ivan, 'bonus', 150, 'welcome bonus', '2026-01-10 10:00+00'),
    (:ivan, 'bonus', -50, 'paid part of an order', '2026-02-01 10:00+00'),
    (:ivan, 'points', 40, 'webinar attendance', '2026-01-15 20:00+00');
INSERT INTO customercard.addresses (contact_id, kind, country, city, zip, line)
VALUES (:ivan, 'delivery', 'RU', 'Perm', '614000', 'Lenina 1, apt 2');
INSERT INTO customercard.comments (contact_id, body, attachments, created_at)
VALUES (:ivan, 'Asked for an installment plan', '{https://files.example/scan.pdf}', '2026-02-03 11:00+00');
INSERT INTO customercard.action_log (contact_id, event, at, details)
VALUES (:ivan, 'crm_exported', '2026-02-04 12:00+00', '{"crm": "amoCRM"}');

-- each section view
SELECT kind, connection, external_id, is_active FROM customercard.card_channels WHERE contact_id = :ivan ORDER BY channel_id;
SELECT funnel, lgt, channel_kind, block, subscribed_at, is_active FROM customercard.card_subscriptions WHERE contact_id = :ivan;
SELECT number, offer, amount, currency, status, paid_amount, failed_payments, manager, utm_source
  FROM customercard.card_orders WHERE contact_id = :ivan ORDER BY order_id;
SELECT currency, invoiced, expected, confirmed, paid, refunds, expenses, income,
       partner_payouts, call_centre_payouts, co_author_payouts, profit, orders_count
  FROM customercard.card_finance WHERE contact_id = :ivan ORDER BY currency;
SELECT plan, status, amount, manager, manager_pinned FROM customercard.card_sales_plans WHERE contact_id = :ivan;
SELECT title, status, is_current, manager FROM customercard.card_tasks WHERE contact_id = :ivan ORDER BY task_id;
SELECT started_at, direction, duration_s, result, manager, recording_url FROM customercard.card_calls WHERE contact_id = :ivan ORDER BY call_id;
SELECT webinar, launch, watched_s, chat_messages FROM customercard.card_webinars WHERE contact_id = :ivan;
SELECT author, body, attachments FROM customercard.card_comments WHERE contact_id = :ivan;
-- the log fills itself from the changes above (times are today's; the imported event keeps its own)
SELECT description, event, actor FROM customercard.card_log WHERE contact_id = :ivan ORDER BY log_id;
SELECT date, time, description FROM customercard.card_log WHERE contact_id = :ivan AND event = 'crm_exported';
SELECT related_id = :twin AS is_twin, shared, shared_values FROM customercard.card_related WHERE contact_id = :ivan;
SELECT url, title, utm_source FROM customercard.card_visits WHERE contact_id = :ivan;
SELECT url, utm_source, utm_campaign, utm_ad, utm_keys FROM customercard.card_clicks WHERE contact_id = :ivan;
SELECT kind, subject, outcome FROM customercard.card_emails WHERE contact_id = :ivan ORDER BY sent_at;
SELECT "group", partner, tag, utm_source FROM customercard.card_groups WHERE contact_id = :ivan;
SELECT currency, balance, transactions FROM customercard.card_balance WHERE contact_id = :ivan ORDER BY currency;
SELECT campaign, call_back_at, status, comment, manager FROM customercard.card_call_campaigns WHERE contact_id = :ivan;
SELECT count(*) AS merges FROM customercard.card_merges WHERE contact_id = :ivan;

-- the card row
SELECT name, phone, email, tags, channels_count, manager_name, note, points, total_paid, orders_count,
       sales_count, open_tasks
  FROM customercard.card WHERE contact_id = :ivan;

-- card_json: every section present, and the same figures
SELECT array_agg(k ORDER BY k) AS sections FROM jsonb_object_keys(customercard.card_json(:ivan)) AS k;
SELECT jsonb_array_length(j -> 'orders') AS orders, jsonb_array_length(j -> 'channels') AS channels,
       jsonb_array_length(j -> 'tasks') AS tasks, jsonb_array_length(j -> 'calls') AS calls,
       jsonb_array_length(j -> 'webinars') AS webinars, jsonb_array_length(j -> 'visits') AS visits,
       jsonb_array_length(j -> 'clicks') AS clicks, jsonb_array_length(j -> 'emails_sent') AS emails_sent,
       jsonb_array_length(j -> 'groups') AS groups, jsonb_array_length(j -> 'comments') AS comments,
       jsonb_array_length(j -> 'related') AS related, jsonb_array_length(j -> 'subscriptions') AS subscriptions,
       jsonb_array_length(j -> 'sales_plans') AS sales_plans, jsonb_array_length(j -> 'call_campaigns') AS call_campaigns,
       jsonb_array_length(j -> 'addresses') AS addresses, jsonb_array_length(j -> 'balance') AS balances,
       j -> 'log_total' AS log_total, j #> '{finance,1,profit}' AS rub_profit, j -> 'custom' AS custom
  FROM customercard.card_json(:ivan) AS j;

-- a tombstone's id gives the survivor's card; an unknown id is an error
UPDATE customercard.contacts SET merged_into = :ivan WHERE contact_id = :twin;
SELECT (customercard.card_json(:twin) ->> 'contact_id')::bigint = :ivan AS tombstone_resolves;
SELECT count(*) AS live_cards FROM customercard.card WHERE contact_id IN (:ivan, :twin);
SELECT customercard.card_json(987654321);
