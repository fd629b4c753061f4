-- A confirmed payment pays its order (issue 34 item 1): when an order's
-- succeeded payments cover its amount it becomes paid, with paid_at, and
-- the log says so (order_status_changed, with the actor); a partial payment
-- leaves it as it is with the part paid in card_orders; paid_at is set
-- whenever an order becomes paid, by any path; card_finance counts each
-- sum of money once -- each figure against a sum done by hand.
BEGIN;
SELECT plan(15);

SELECT customercard.create_account('Order payments', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
SELECT format('manager:%s', :olga) AS olga_actor \gset
SET customercard.actor = :'olga_actor';
SELECT customercard.upsert_contact('{"name": "Vera"}') AS c \gset

-- a manual order paid by a confirmed manual payment
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_manual) VALUES (:c, 'Q-1', 'Course', 1000, 'pending', true) RETURNING order_id AS o1 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status, is_manual) VALUES (:o1, :c, 1000, 'pending', true) RETURNING payment_id AS p1 \gset
SELECT is((SELECT status FROM customercard.orders WHERE order_id = :o1), 'pending', 'a pending manual payment pays nothing yet');
SELECT customercard.confirm_payment(:p1);
SELECT results_eq(format('SELECT status, paid_at IS NOT NULL, paid_amount, is_active FROM customercard.card_orders WHERE order_id = %s', :o1),
    $$VALUES ('paid'::text, true, 1000::numeric, false)$$, 'confirm_payment pays the order: paid, with paid_at, out of the active orders');
SELECT results_eq(format($$SELECT details ->> 'old', details ->> 'new', actor FROM customercard.action_log
                           WHERE contact_id = %s AND event = 'order_status_changed' AND (details ->> 'order_id')::bigint = %s$$, :c, :o1),
    format($$VALUES ('pending'::text, 'paid'::text, %L::text)$$, :'olga_actor'), '... logged as order_status_changed, with the actor');

-- a payment system pays in two parts
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-2', 'Book', 500, 'new') RETURNING order_id AS o2 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o2, :c, 200, 'succeeded');
INSERT INTO customercard.payments (order_id, contact_id, amount, status, error_code) VALUES (:o2, :c, 300, 'failed', 'card_declined');
SELECT results_eq(format('SELECT status, paid_at IS NULL, paid_amount, is_active FROM customercard.card_orders WHERE order_id = %s', :o2),
    $$VALUES ('new'::text, true, 200::numeric, true)$$, 'a partial payment leaves the order as it was, the paid part in card_orders');
SELECT results_eq(format('SELECT expected, paid FROM customercard.card_finance WHERE contact_id = %s', :c),
    $$VALUES (300::numeric, 1200::numeric)$$, 'card_finance: the paid part is paid, only the rest expected (money counted once)');
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o2, :c, 300, 'succeeded');
SELECT results_eq(format('SELECT status, paid_at IS NOT NULL, paid_amount FROM customercard.card_orders WHERE order_id = %s', :o2),
    $$VALUES ('paid'::text, true, 500::numeric)$$, 'the payment that covers the rest pays it');

-- a status written by hand, and an order written paid
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-3', 'Consult', 50, 'new') RETURNING order_id AS o3 \gset
UPDATE customercard.orders SET status = 'paid' WHERE order_id = :o3;
SELECT is((SELECT paid_at IS NOT NULL FROM customercard.orders WHERE order_id = :o3), true, 'a status set to paid by hand sets paid_at');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-4', 'Old sale', 70, 'paid') RETURNING order_id AS o4 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, paid_at) VALUES (:c, 'Q-5', 'Imported sale', 80, 'paid', '2025-05-05 10:00+00') RETURNING order_id AS o5 \gset
SELECT results_eq(format('SELECT paid_at IS NOT NULL, paid_at = ''2025-05-05 10:00+00'' FROM customercard.orders WHERE order_id IN (%s, %s) ORDER BY order_id', :o4, :o5),
    $$VALUES (true, false), (true, true)$$, 'an order written paid gets paid_at, unless the writer gave it');
-- an overpayment pays it too; a refunded order stays refunded
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-6', 'Tip', 10, 'pending') RETURNING order_id AS o6 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o6, :c, 15, 'succeeded');
SELECT is((SELECT status FROM customercard.orders WHERE order_id = :o6), 'paid', 'a payment above the amount pays the order');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-7', 'Returned', 40, 'refunded') RETURNING order_id AS o7 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o7, :c, 40, 'succeeded');
SELECT is((SELECT status FROM customercard.orders WHERE order_id = :o7), 'refunded', 'a refunded or cancelled order keeps its status');
-- one order still waits for all its money, one for its confirmation
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-8', 'Plan', 900, 'pending') RETURNING order_id AS o8 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'Q-9', 'Invoice', 250, 'confirmed') RETURNING order_id AS o9 \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o9, :c, 100, 'succeeded');

-- the figures, each against a sum done by hand:
-- orders 1000 paid, 500 paid, 50 paid, 70 paid, 80 paid, 10 paid (15 in), 40 refunded (40 in), 900 pending, 250 confirmed (100 in)
SELECT is((SELECT invoiced FROM customercard.card_finance WHERE contact_id = :c), (1000 + 500 + 50 + 70 + 80 + 10 + 40 + 900 + 250)::numeric,
    'invoiced: every order');
SELECT is((SELECT paid FROM customercard.card_finance WHERE contact_id = :c), (1000 + 200 + 300 + 15 + 40 + 100)::numeric,
    'paid: every succeeded payment, once');
SELECT is((SELECT expected FROM customercard.card_finance WHERE contact_id = :c), 900::numeric,
    'expected: what new and pending orders still wait for');
SELECT is((SELECT confirmed FROM customercard.card_finance WHERE contact_id = :c), (250 - 100)::numeric,
    'confirmed: what confirmed orders still wait for');
SELECT results_eq(format('SELECT sales_count, total_paid FROM customercard.card WHERE contact_id = %s', :c),
    $$VALUES (6::bigint, 1655::numeric)$$, 'the card counts the paid orders as sales, and the money paid');

SELECT * FROM finish();
ROLLBACK;
