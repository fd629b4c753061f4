-- Work tied to an order: calls, tasks and comments name
-- the order they are about; card_order_calls is JustClick's "calls by
-- invoice" (order number, products, status, comment, responsible), in
-- card_json too; contact_log(..., order_id => ...) gives one order's
-- events (GetCourse): the order's own, its payments', calls', tasks' and
-- comments', and nothing else.
BEGIN;
SELECT plan(9);

SELECT customercard.create_account('Order work', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
SELECT customercard.upsert_contact('{"name": "Semyon"}') AS c \gset
INSERT INTO customercard.orders (contact_id, number, offer, products, amount) VALUES (:c, 'W-1', 'Course', '{Python,SQL}', 900) RETURNING order_id AS o1 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount) VALUES (:c, 'W-2', 'Book', 50) RETURNING order_id AS o2 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status, error_code) VALUES (:o1, :c, 900, 'failed', 'card_declined');
INSERT INTO customercard.calls (contact_id, order_id, manager_id, started_at, result, reason, duration_s)
VALUES (:c, :o1, :olga, '2026-11-20 10:00+00', 'answered', 'will pay on Friday', 120) RETURNING call_id AS call1 \gset
INSERT INTO customercard.calls (contact_id, started_at, result) VALUES (:c, '2026-11-21 10:00+00', 'no_answer');
INSERT INTO customercard.tasks (contact_id, order_id, title) VALUES (:c, :o1, 'Call back about W-1') RETURNING task_id AS t1 \gset
INSERT INTO customercard.tasks (contact_id, title) VALUES (:c, 'Birthday greeting');
INSERT INTO customercard.comments (contact_id, order_id, body) VALUES (:c, :o1, 'Asked for an installment plan');
INSERT INTO customercard.comments (contact_id, body) VALUES (:c, 'Likes webinars');
UPDATE customercard.calls SET duration_s = 130 WHERE call_id = :call1;
UPDATE customercard.orders SET status = 'pending' WHERE order_id = :o2;

SELECT results_eq(format('SELECT order_number, products, order_status, result, comment, responsible FROM customercard.card_order_calls WHERE contact_id = %s', :c),
    $$VALUES ('W-1', '{Python,SQL}'::text[], 'new', 'answered', 'will pay on Friday', 'Olga')$$,
    'card_order_calls: the call about W-1 with its order number, products, status, comment and the responsible manager');
SELECT is(jsonb_array_length(customercard.card_json(:c) -> 'order_calls'), 1, 'card_json''s order_calls block');
SELECT is((SELECT array_agg(order_id IS NOT NULL ORDER BY task_id) FROM customercard.card_tasks WHERE contact_id = :c), '{t,f}',
          'tasks name their order');
SELECT is((SELECT count(*)::int FROM customercard.card_comments WHERE contact_id = :c AND order_id = :o1), 1, 'comments name their order');

SELECT is((SELECT array_agg(event ORDER BY log_id) FROM customercard.contact_log(:c, order_id => :o1)),
          '{order_created,payment_failed,call,task_created,comment_added,row_changed}',
          'contact_log(order_id => W-1): the order''s events, its payment''s, call''s (added and changed), task''s and comment''s');
SELECT is((SELECT array_agg(event ORDER BY log_id) FROM customercard.contact_log(:c, order_id => :o2)), '{order_created,order_status_changed}',
          '... and for W-2 only its own');
SELECT is((SELECT count(*)::int FROM customercard.contact_log(:c)), (SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c),
          'without order_id: every event');
SELECT is((SELECT count(*)::int FROM customercard.contact_log(:c, ARRAY['call'], order_id => :o1)), 1, 'with events too: both filters');
SELECT throws_ok(format($$INSERT INTO customercard.calls (contact_id, order_id, started_at, result) VALUES (%s, 0, now(), 'answered')$$, :c),
                 '23503', NULL, 'an order that does not exist: 23503');

SELECT * FROM finish();
ROLLBACK;
