-- What the card shows that nothing tested (issue 34 item 8): a task's
-- description, a letter's unsubscribed and marked-as-spam times, an
-- order's paid_at and (0.3) the login of the partner paid for it; a
-- letter whose sending group is deleted keeps everything but the group.
BEGIN;
SELECT plan(10);

SELECT customercard.create_account('Card fields', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Gleb"}') AS c \gset

INSERT INTO customercard.tasks (contact_id, title, description) VALUES (:c, 'Call back', 'about the autumn course, after 18:00');
SELECT is((SELECT description FROM customercard.card_tasks WHERE contact_id = :c), 'about the autumn course, after 18:00',
    'card_tasks shows a task''s description');
SELECT is(customercard.card_json(:c) #>> '{tasks,0,description}', 'about the autumn course, after 18:00', '... and so does card_json');

INSERT INTO customercard.emails_sent (contact_id, kind, subject, sent_at, opened_at, unsubscribed_at) VALUES
    (:c, 'instant', 'Autumn course', '2026-09-01 10:00+00', '2026-09-01 11:00+00', '2026-09-02 08:00+00');
INSERT INTO customercard.emails_sent (contact_id, kind, subject, sent_at, spam_at) VALUES
    (:c, 'autoseries', 'Lesson 2', '2026-09-03 10:00+00', '2026-09-03 12:30+00');
SELECT results_eq(format('SELECT subject, unsubscribed_at, spam_at, outcome FROM customercard.card_emails WHERE contact_id = %s ORDER BY sent_at', :c),
    $$VALUES ('Autumn course'::text, '2026-09-02 08:00+00'::timestamptz, NULL::timestamptz, 'unsubscribed'::text),
             ('Lesson 2', NULL, '2026-09-03 12:30+00', 'spam')$$,
    'card_emails shows when a letter made them unsubscribe or mark it as spam');

INSERT INTO customercard.orders (contact_id, number, offer, amount, status, paid_at) VALUES (:c, 'G-1', 'Course', 300, 'paid', '2026-09-05 09:00+00')
RETURNING order_id AS o \gset
INSERT INTO customercard.payouts (order_id, kind, amount, recipient) VALUES (:o, 'partner', 30, 'partner_ivan'), (:o, 'partner', 5, 'partner_ivan'),
                                                                              (:o, 'co_author', 50, 'author_1');
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:o, :c, 300, 'succeeded');
SELECT results_eq(format('SELECT paid_at, partner, paid_amount FROM customercard.card_orders WHERE order_id = %s', :o),
    $$VALUES ('2026-09-05 09:00+00'::timestamptz, 'partner_ivan'::text, 300::numeric)$$,
    'card_orders shows when the order was paid and the partner''s login (a co-author is no partner), its sums unchanged by the payouts');
SELECT is(customercard.card_json(:c) #>> '{orders,0,partner}', 'partner_ivan', '... and so does card_json');
INSERT INTO customercard.orders (contact_id, number, offer, amount) VALUES (:c, 'G-2', 'Book', 10) RETURNING order_id AS o2 \gset
SELECT is((SELECT partner FROM customercard.card_orders WHERE order_id = :o2), NULL, 'an order without a partner has none');

-- a deleted sending group: the letter stays, its group empty (JustClick), logged
INSERT INTO customercard.groups (name) VALUES ('Autumn list') RETURNING group_id AS g \gset
INSERT INTO customercard.emails_sent (contact_id, kind, subject, group_id, letter_number) VALUES (:c, 'autoseries', 'Lesson 3', :g, 3)
RETURNING email_sent_id AS letter \gset
SET customercard.actor = 'admin:olga';
DELETE FROM customercard.groups WHERE group_id = :g;
SELECT results_eq(format('SELECT subject, group_id, "group", letter_number FROM customercard.card_emails WHERE email_sent_id = %s', :letter),
    $$VALUES ('Lesson 3'::text, NULL::bigint, NULL::text, 3)$$, 'deleting a sending group keeps its letters, their group empty');
SELECT results_eq(format($$SELECT actor, details -> 'fields' ? 'group_id' FROM customercard.action_log
                            WHERE contact_id = %s AND event = 'row_changed' AND details ->> 'section' = 'emails_sent'$$, :c),
    $$VALUES ('admin:olga'::text, true)$$, '... the letter''s change logged with the actor');
INSERT INTO customercard.groups (name) VALUES ('Members list') RETURNING group_id AS g2 \gset
INSERT INTO customercard.group_members (contact_id, group_id) VALUES (:c, :g2);
SELECT is(tap.sqlstate_of(format('DELETE FROM customercard.groups WHERE group_id = %s', :g2)), '23503',
    'a group with members is not deleted (take the members out first)');
SELECT is((SELECT count(*) FROM customercard.emails_sent WHERE contact_id = :c), 3::bigint, 'no letter is lost');

SELECT * FROM finish();
ROLLBACK;
