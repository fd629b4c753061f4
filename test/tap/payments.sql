-- Payments a manager handles and JustClick's figures: a manual payment confirmed once, by whom and when, logged; a
-- recurring order's next charge and stop_recurring; the manager pinned to
-- a payment; false orders out of the orders tab and the figures; the
-- active orders; card_finance by JustClick's definitions, each figure
-- checked against a sum done by hand.
BEGIN;
SELECT plan(25);

SELECT customercard.create_account('Payments test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
CREATE ROLE cc_pay_mgr IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_pay_mgr', :acct);
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
INSERT INTO customercard.managers (name) VALUES ('Pavel') RETURNING manager_id AS pavel \gset
SELECT customercard.upsert_contact('{"name": "Irina"}') AS c \gset
SET customercard.actor TO DEFAULT;
SELECT format('manager:%s', :olga) AS olga_actor \gset

-- orders: paid 1000 (payouts: partner 100, call centre 50, co-author 30,
-- expense 70, refund 200), new 500, cancelled 300, a false one 9999
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_manual) VALUES (:c, 'P-1', 'Course', 1000, 'pending', true) RETURNING order_id AS o1 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'P-2', 'Book', 500, 'new') RETURNING order_id AS o2 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:c, 'P-3', 'Webinar', 300, 'cancelled') RETURNING order_id AS o3 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_false) VALUES (:c, 'P-4', 'Test', 9999, 'paid', true) RETURNING order_id AS o4 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount, status, is_recurring, next_charge_at)
VALUES (:c, 'P-5', 'Club', 0, 'new', true, '2027-01-01') RETURNING order_id AS o5 \gset
INSERT INTO customercard.payouts (order_id, kind, amount) VALUES
    (:o1, 'partner', 100), (:o1, 'call_centre', 50), (:o1, 'co_author', 30), (:o1, 'expense', 70), (:o1, 'refund', 200);
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o4, :c, 9999, 'succeeded');

-- ---------------------------------------------------------------- a manual payment
INSERT INTO customercard.payments (order_id, contact_id, amount, status, is_manual, manager_id)
VALUES (:o1, :c, 1000, 'pending', true, :pavel) RETURNING payment_id AS py \gset
SELECT throws_ok($$INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (1, 1, 1, 'pending')$$, '23514', NULL,
                 'only a manual payment waits for confirmation');
SELECT is((SELECT paid FROM customercard.card_finance WHERE contact_id = :c), 0::numeric, 'a pending payment is not paid yet');
SELECT throws_ok(format('SELECT customercard.confirm_payment(%s)', :py), '22023', NULL,
                 'confirming needs the confirming manager as the actor');
SET customercard.actor = :'olga_actor';
SELECT throws_ok(format($$SET LOCAL ROLE cc_pay_mgr; UPDATE customercard.payments SET confirmed_by = %s WHERE payment_id = %s$$, :olga, :py),
                 '42501', NULL, 'a manager cannot write confirmed_by: only confirm_payment does');
RESET ROLE;
SELECT lives_ok(format($$SET LOCAL ROLE cc_pay_mgr; SELECT customercard.confirm_payment(%s)$$, :py), 'a manager confirms it');
RESET ROLE;
SELECT results_eq(format('SELECT status, confirmed_by, confirmed_at IS NOT NULL, manager FROM customercard.card_payments WHERE payment_id = %s', :py),
    format($$VALUES ('succeeded', %s::bigint, true, 'Pavel')$$, :olga), '... succeeded, by whom and when; the pinned manager shown');
SELECT results_eq(format($$SELECT event, actor, details ->> 'confirmed_by' FROM customercard.action_log WHERE contact_id = %s AND event = 'payment_confirmed'$$, :c),
    format($$VALUES ('payment_confirmed', %L, %L)$$, :'olga_actor', :olga), '... logged once, with the actor');
SELECT throws_ok(format('SELECT customercard.confirm_payment(%s)', :py), '55000', NULL, 'confirming twice: 55000');
SELECT throws_ok(format('SELECT customercard.confirm_payment(%s)', (SELECT payment_id FROM customercard.payments WHERE order_id = :o4)), '55000', NULL,
                 'a payment system''s payment is not confirmed: 55000');
SELECT throws_ok('SELECT customercard.confirm_payment(0)', '42704', NULL, 'an unknown payment: 42704');
SELECT results_eq(format('SELECT status, paid_at IS NOT NULL FROM customercard.orders WHERE order_id = %s', :o1),
    $$VALUES ('paid'::text, true)$$, '... and the confirmation paid the order (its payments cover it)');

-- ---------------------------------------------------------------- recurring orders
SELECT is((SELECT next_charge_at FROM customercard.card_orders WHERE order_id = :o5), '2027-01-01'::timestamptz, 'a recurring order shows its next charge');
SELECT lives_ok(format('SELECT customercard.stop_recurring(%s)', :o5), 'stop_recurring');
SELECT results_eq(format('SELECT next_charge_at, recurring_stopped_at IS NOT NULL FROM customercard.card_orders WHERE order_id = %s', :o5),
    $$VALUES (NULL::timestamptz, true)$$, '... no next charge, the time it stopped kept');
SELECT is((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c AND event = 'row_changed'
            AND details -> 'fields' ? 'recurring_stopped_at' AND actor = :'olga_actor'), 1, '... logged, with the actor');
SELECT throws_ok(format('SELECT customercard.stop_recurring(%s)', :o5), '55000', NULL, 'stopping twice: 55000');
SELECT throws_ok(format('SELECT customercard.stop_recurring(%s)', :o2), '55000', NULL, 'an order that is not recurring: 55000');
SELECT throws_ok(format($$UPDATE customercard.orders SET next_charge_at = now() WHERE order_id = %s$$, :o2), '23514', NULL,
                 'only a recurring order has a next charge');

-- ---------------------------------------------------------------- false orders, active orders
SELECT is((SELECT array_agg(number ORDER BY number) FROM customercard.card_orders WHERE contact_id = :c), '{P-1,P-2,P-3,P-5}',
          'a false order is not in the orders tab');
SELECT is((SELECT array_agg(number ORDER BY number) FROM customercard.card_orders WHERE contact_id = :c AND is_active), '{P-2,P-5}',
          'the active orders: not paid, refunded or cancelled');
SELECT results_eq(format('SELECT orders_count, total_paid FROM customercard.card WHERE contact_id = %s', :c),
    $$VALUES (4::bigint, 1000::numeric)$$, 'the card''s figures leave the false order out');

-- ---------------------------------------------------------------- JustClick's figures, by hand
-- «Счетов»: every order created, any status: 1000 + 500 + 300 + 0 (not the false 9999)
SELECT is((SELECT invoiced FROM customercard.card_finance WHERE contact_id = :c), (1000 + 500 + 300 + 0)::numeric, 'invoiced («Счетов»): every order, any status, cancelled too');
SELECT is((SELECT paid FROM customercard.card_finance WHERE contact_id = :c), 1000::numeric, 'paid: the confirmed payment, not the false order''s');
-- «Доходы»: paid - expenses = 1000 - 70
SELECT is((SELECT income FROM customercard.card_finance WHERE contact_id = :c), (1000 - 70)::numeric, 'income («Доходы»): paid - expenses (refunds not subtracted)');
-- «Прибыль»: income - partner - call centre - co-author - refunds = 930 - 100 - 50 - 30 - 200
SELECT is((SELECT profit FROM customercard.card_finance WHERE contact_id = :c), (930 - 100 - 50 - 30 - 200)::numeric,
          'profit («Прибыль»): income - partner, call-centre and co-author payouts - refunds');

SELECT * FROM finish();
ROLLBACK;
