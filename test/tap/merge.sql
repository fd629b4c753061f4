-- Merging: every section moves, collisions are combined and never
-- dropped, the survivor keeps its fields unless told otherwise, tombstones
-- resolve to their survivor; unmerge gives back every row of both contacts
-- exactly as before (a full snapshot of every table); the errors.
BEGIN;
SELECT plan(62);

SELECT customercard.create_account('Merge test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'manager:olga';

-- every row of some contacts, table by table, as jsonb; the log without the
-- events that merge and unmerge add about themselves
CREATE FUNCTION pg_temp.snapshot(ids bigint[]) RETURNS TABLE (tbl text, img jsonb) LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    RETURN QUERY SELECT 'contacts', to_jsonb(c) FROM customercard.contacts c WHERE c.contact_id = ANY (ids);
    RETURN QUERY SELECT 'not_duplicates', to_jsonb(n) FROM customercard.not_duplicates n
                  WHERE n.contact_a = ANY (ids) OR n.contact_b = ANY (ids);
    FOR t IN SELECT m.tbl FROM customercard.merge_sections() m LOOP
        RETURN QUERY EXECUTE format('SELECT %L, to_jsonb(x) FROM customercard.%I x WHERE x.contact_id = ANY ($1) %s',
                                    t, t, CASE WHEN t = 'action_log' THEN 'AND x.event NOT IN (''merged'', ''unmerged'')' ELSE '' END) USING ids;
    END LOOP;
    RETURN QUERY SELECT 'payouts', to_jsonb(p) FROM customercard.payouts p JOIN customercard.orders o USING (account_id, order_id)
                  WHERE o.contact_id = ANY (ids);
END $$;
CREATE FUNCTION pg_temp.rows_of(t text, id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM customercard.%I WHERE contact_id = $1', t) INTO n USING id;
    RETURN n;
END $$;

-- ------------------------------------------------------------ two full cards
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
INSERT INTO customercard.contacts (name, city, note, gender, gender_source, created_at)
VALUES ('Ivan Petrov', 'Perm', 'Pays on time', 'male', 'manual', '2024-01-10') RETURNING contact_id AS s \gset
INSERT INTO customercard.contacts (name, first_name, city, timezone, ip, status, manager_id, created_at)
VALUES ('Ivan P.', 'Ivan', 'Yekaterinburg', 'Asia/Yekaterinburg', '10.1.2.3', 'unsubscribed', :olga, '2023-05-01')
RETURNING contact_id AS a \gset
INSERT INTO customercard.contacts (name) VALUES ('Someone else') RETURNING contact_id AS x \gset

INSERT INTO customercard.phones (contact_id, phone, raw, is_primary) VALUES
    (:s, '+7 912 345-67-89', '+7 912 345-67-89', true), (:s, '+7 913 000-00-01', '+7 913 000-00-01', false),
    (:a, '8 (912) 345 67 89', '8 (912) 345 67 89', true), (:a, '+7 914 111-22-33', '+7 914 111-22-33', false);
INSERT INTO customercard.emails (contact_id, email, raw, is_primary) VALUES
    (:s, 'ivan@example.com', 'ivan@example.com', true),
    (:a, 'ivan@example.com', 'IVAN@example.com', false), (:a, 'vanya@example.com', 'vanya@example.com', true);
INSERT INTO customercard.addresses (contact_id, city, line) VALUES (:a, 'Yekaterinburg', 'Lenina 1');
INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason) VALUES
    (:s, 'points', 10, 'welcome'), (:a, 'points', 5, 'quiz'), (:a, 'bonus', 3, 'gift');
INSERT INTO customercard.channels (contact_id, kind, connection, external_id, username) VALUES
    (:s, 'vk', 'school_bot', 'vk100', 'ivan');
INSERT INTO customercard.channels (contact_id, kind, connection, external_id, username) VALUES
    (:a, 'telegram', 'school_bot', 'tg42', 'vanya') RETURNING channel_id AS last_channel \gset
INSERT INTO customercard.tags (name) VALUES ('course'), ('vip'), ('webinar');
INSERT INTO customercard.contact_tags (contact_id, tag_id, added_at, added_by)
SELECT :s, tag_id, '2024-03-01', 'manager:s' FROM customercard.tags WHERE account_id = :acct AND name IN ('course', 'vip');
INSERT INTO customercard.contact_tags (contact_id, tag_id, added_at, added_by)
SELECT :a, tag_id, '2024-01-01', 'manager:a' FROM customercard.tags WHERE account_id = :acct AND name IN ('course', 'webinar');
INSERT INTO customercard.custom_fields (name) VALUES ('City'), ('Source'), ('Empty');
INSERT INTO customercard.custom_values (contact_id, field_id, value)
SELECT :s, field_id, CASE name WHEN 'City' THEN 'Perm' ELSE '' END FROM customercard.custom_fields
 WHERE account_id = :acct AND name IN ('City', 'Empty');
INSERT INTO customercard.custom_values (contact_id, field_id, value)
SELECT :a, field_id, CASE name WHEN 'City' THEN 'Ekb' WHEN 'Source' THEN 'ads' ELSE 'filled' END FROM customercard.custom_fields
 WHERE account_id = :acct;
INSERT INTO customercard.funnels (name) VALUES ('Both left'), ('One left'), ('Only absorbed');
INSERT INTO customercard.subscriptions (contact_id, funnel_id, subscribed_at, unsubscribed_at)
SELECT :s, funnel_id, '2024-02-01', CASE name WHEN 'Both left' THEN timestamptz '2024-03-01' END
  FROM customercard.funnels WHERE account_id = :acct AND name IN ('Both left', 'One left');
INSERT INTO customercard.subscriptions (contact_id, funnel_id, subscribed_at, unsubscribed_at)
SELECT :a, funnel_id, '2024-01-01', '2024-04-01' FROM customercard.funnels WHERE account_id = :acct AND name IN ('Both left', 'One left');
INSERT INTO customercard.subscriptions (contact_id, channel_id, funnel_id)
SELECT :a, :last_channel, funnel_id FROM customercard.funnels WHERE account_id = :acct AND name = 'Only absorbed';
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:s, 'M-1', 'Course', 1000, 'paid');
INSERT INTO customercard.orders (contact_id, number, offer, amount, status) VALUES (:a, 'M-2', 'Webinar', 500, 'paid')
RETURNING order_id AS a_order \gset
INSERT INTO customercard.payments (order_id, contact_id, amount, status) VALUES (:a_order, :a, 500, 'succeeded');
INSERT INTO customercard.payouts (order_id, kind, amount) VALUES (:a_order, 'partner', 50);
INSERT INTO customercard.sales_plans (name) VALUES ('Spring') RETURNING plan_id AS plan \gset
INSERT INTO customercard.sales_plan_members (plan_id, contact_id, status, amount) VALUES (:plan, :s, 'new', NULL), (:plan, :a, 'in_progress', 100);
INSERT INTO customercard.tasks (contact_id, title) VALUES (:s, 'Call back'), (:a, 'Send invoice');
INSERT INTO customercard.calls (contact_id, started_at, result) VALUES (:a, '2024-05-01', 'answered');
INSERT INTO customercard.call_campaigns (name) VALUES ('Autumn calls') RETURNING campaign_id AS camp \gset
INSERT INTO customercard.call_campaign_members (campaign_id, contact_id, included_at, comment) VALUES
    (:camp, :s, '2024-06-01', NULL), (:camp, :a, '2024-05-01', 'asked to call in the evening');
INSERT INTO customercard.comments (contact_id, body) VALUES (:s, 'Survivor comment'), (:a, 'Absorbed comment');
INSERT INTO customercard.webinar_visits (contact_id, webinar, joined_at) VALUES (:a, 'Intro', '2024-05-02');
INSERT INTO customercard.page_visits (contact_id, url, visitor_id) VALUES (:a, 'https://school.example/pay', 'v-1');
INSERT INTO customercard.clicks (contact_id, url) VALUES (:a, 'https://school.example/l');
INSERT INTO customercard.emails_sent (contact_id, kind, subject) VALUES (:a, 'instant', 'Welcome');
INSERT INTO customercard.groups (name) VALUES ('Readers') RETURNING group_id AS grp \gset
INSERT INTO customercard.group_members (group_id, contact_id, joined_at, partner) VALUES
    (:grp, :s, '2024-06-01', NULL), (:grp, :a, '2024-02-01', 'partner-7');
SELECT customercard.not_duplicates(:a, :x);
INSERT INTO customercard.action_log (contact_id, event, at) VALUES (:a, 'crm_exported', '2019-01-01');
SELECT customercard.archive_action_log('2020-01-01', :acct) AS archived \gset

CREATE TEMP TABLE before_merge AS SELECT * FROM pg_temp.snapshot(ARRAY[:s, :a]::bigint[]);
SELECT cmp_ok((SELECT count(DISTINCT tbl)::int FROM before_merge), '>=', 24, 'the two cards have rows in every section');

-- ------------------------------------------------------------ the preview
SELECT results_eq(
    format($$SELECT field, survivor_value, absorbed_value, merged_value FROM customercard.merge_preview(%s, %s)
             WHERE field IN ('name', 'first_name', 'city', 'status', 'points', 'phone', 'custom:City', 'custom:Empty', 'count:contact_tags')
             ORDER BY field$$, :s, :a),
    $$VALUES ('city', 'Perm', 'Yekaterinburg', 'Perm'), ('count:contact_tags', '2', '2', '3'),
             ('custom:City', 'Perm', 'Ekb', 'Perm'), ('custom:Empty', '', 'filled', 'filled'),
             ('first_name', NULL, 'Ivan', 'Ivan'), ('name', 'Ivan Petrov', 'Ivan P.', 'Ivan Petrov'),
             ('phone', '+79123456789', '+79123456789', '+79123456789'),
             ('points', '10', '5', '15'), ('status', 'active', 'unsubscribed', 'unsubscribed')$$,
    'merge_preview: the three columns, the merged value by the rules');
SELECT is((SELECT merged_value FROM customercard.merge_preview(:s, :a, '{city}') WHERE field = 'city'), 'Yekaterinburg',
    'merge_preview with take_from_absorbed shows the absorbed''s value');

-- ------------------------------------------------------------ merge
SELECT customercard.merge(:s, :a) AS m1 \gset
SELECT is((SELECT merged_into FROM customercard.contacts WHERE contact_id = :a), :s::bigint, 'the absorbed contact is a tombstone pointing at the survivor');
SELECT is(customercard.resolve_contact(:a), :s::bigint, 'its id resolves to the survivor');
SELECT is((customercard.card_json(:a) ->> 'contact_id')::bigint, :s::bigint, 'card_json of the tombstone is the survivor''s card');
SELECT is((SELECT array_agg(t.tbl ORDER BY t.tbl) FROM customercard.merge_sections() t
            WHERE pg_temp.rows_of(t.tbl, :a) > CASE t.tbl WHEN 'action_log' THEN 1 ELSE 0 END), NULL,
    'no section keeps a row on the tombstone (but its own merged event)');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE contact_id = :a AND event = 'merged'), 1::bigint, '... that event');

SELECT results_eq(format('SELECT name, first_name, city, timezone, host(ip), status, manager_id, points, created_at, gender FROM customercard.contacts WHERE contact_id = %s', :s),
    format($$VALUES ('Ivan Petrov', 'Ivan', 'Perm', 'Asia/Yekaterinburg', '10.1.2.3', 'unsubscribed', %s::bigint, 15::bigint, '2023-05-01'::timestamptz, 'male')$$, :olga),
    'fields: the survivor''s, the absorbed''s where the survivor''s are empty; most restrictive status; points add; earliest created');
SELECT is((SELECT sum(amount) FROM customercard.balance_transactions WHERE contact_id = :s AND currency = 'points'), 15.00::numeric,
    'the points ledger moved with the points');
SELECT results_eq(format('SELECT phone::text, is_primary FROM customercard.phones WHERE contact_id = %s ORDER BY phone', :s),
    $$VALUES ('+79123456789', true), ('+79130000001', false), ('+79141112233', false)$$,
    'phones: the same number once (typed two ways), the survivor''s primary stays primary');
SELECT results_eq(format('SELECT email, is_primary FROM customercard.emails WHERE contact_id = %s ORDER BY email', :s),
    $$VALUES ('ivan@example.com', true), ('vanya@example.com', false)$$, 'e-mails: the same address once, one primary');
SELECT results_eq(format($$SELECT g.name, ct.added_at, ct.added_by FROM customercard.contact_tags ct JOIN customercard.tags g USING (account_id, tag_id)
                            WHERE ct.contact_id = %s ORDER BY g.name$$, :s),
    $$VALUES ('course', '2024-01-01'::timestamptz, 'manager:a'), ('vip', '2024-03-01', 'manager:s'), ('webinar', '2024-01-01', 'manager:a')$$,
    'tags: the same tag once, with its earliest date');
SELECT results_eq(format($$SELECT f.name, v.value FROM customercard.custom_values v JOIN customercard.custom_fields f USING (account_id, field_id)
                            WHERE v.contact_id = %s ORDER BY f.name$$, :s),
    $$VALUES ('City', 'Perm'), ('Empty', 'filled'), ('Source', 'ads')$$,
    'custom fields: the survivor''s value, the absorbed''s where it had none or an empty one');
SELECT results_eq(format($$SELECT f.name, s.subscribed_at, s.unsubscribed_at FROM customercard.subscriptions s JOIN customercard.funnels f USING (account_id, funnel_id)
                            WHERE s.contact_id = %s ORDER BY f.name, s.subscribed_at$$, :s),
    $$VALUES ('Both left', '2024-01-01'::timestamptz, '2024-04-01'::timestamptz), ('Both left', '2024-02-01', '2024-03-01'),
             ('One left', '2024-01-01', '2024-04-01'), ('One left', '2024-02-01', NULL), ('Only absorbed', now(), NULL)$$,
    'subscriptions: every period of both kept (ended ones are history; two open ones of a funnel become one, tap/subscription_history)');
SELECT results_eq(format('SELECT status, amount FROM customercard.sales_plan_members WHERE contact_id = %s', :s),
    $$VALUES ('in_progress', 100.00::numeric)$$, 'the same sales plan membership once, combined');
SELECT results_eq(format('SELECT joined_at, partner FROM customercard.group_members WHERE contact_id = %s', :s),
    $$VALUES ('2024-02-01'::timestamptz, 'partner-7')$$, 'group membership once, with the earlier joining''s attribution');
SELECT results_eq(format('SELECT included_at, comment FROM customercard.call_campaign_members WHERE contact_id = %s', :s),
    $$VALUES ('2024-05-01'::timestamptz, 'asked to call in the evening')$$, 'call campaign membership once, combined');
SELECT is(pg_temp.rows_of('orders', :s) + pg_temp.rows_of('payments', :s) + pg_temp.rows_of('tasks', :s) + pg_temp.rows_of('comments', :s)
          + pg_temp.rows_of('calls', :s) + pg_temp.rows_of('webinar_visits', :s) + pg_temp.rows_of('page_visits', :s)
          + pg_temp.rows_of('clicks', :s) + pg_temp.rows_of('emails_sent', :s) + pg_temp.rows_of('channels', :s)
          + pg_temp.rows_of('addresses', :s) + pg_temp.rows_of('action_log_archive', :s),
          16::bigint, 'orders, payments, tasks, comments, calls, visits, clicks, e-mails, channels, addresses, archived log: all moved');
SELECT is((SELECT count(*) FROM customercard.card_log WHERE contact_id = :s AND event = 'comment_added'), 2::bigint,
    'the survivor''s log holds the absorbed''s history');
SELECT results_eq(format($$SELECT details ->> 'survivor_id', details ->> 'absorbed_id', actor FROM customercard.action_log
                            WHERE contact_id = %s AND event = 'merged'$$, :s),
    format($$VALUES ('%s', '%s', 'manager:olga')$$, :s, :a), 'a merged event on the survivor names both, and who merged');
SELECT is((SELECT count(*) FROM customercard.action_log l WHERE l.contact_id IN (:s, :a) AND l.event <> 'merged'
            AND l.at = (SELECT m.at FROM customercard.action_log m WHERE m.contact_id = :s AND m.event = 'merged')),
          0::bigint, 'the rows moved quietly: no per-row events');
SELECT is((SELECT count(*) FROM customercard.not_duplicates WHERE contact_a = LEAST(:s, :x) AND contact_b = GREATEST(:s, :x)), 1::bigint,
    'a pair judged different with the absorbed holds for the survivor');
SELECT is((SELECT count(*) FROM customercard.related_contacts(:a)), (SELECT count(*) FROM customercard.related_contacts(:s)),
    'related_contacts of the tombstone are the survivor''s');

-- ------------------------------------------------------------ unmerge: the snapshot
SELECT lives_ok(format('SELECT customercard.unmerge(%s)', :m1), 'unmerge');
SELECT set_eq('SELECT tbl, img - ''updated_at'' FROM pg_temp.snapshot(ARRAY[' || :s || ', ' || :a || ']::bigint[]) WHERE tbl <> ''contacts''',
              'SELECT tbl, img - ''updated_at'' FROM before_merge WHERE tbl <> ''contacts''',
              'every row of both cards in every section is back as it was before the merge');
SELECT set_eq('SELECT tbl, img FROM pg_temp.snapshot(ARRAY[' || :s || ', ' || :a || ']::bigint[]) WHERE tbl NOT IN (''contacts'', ''action_log'')',
              'SELECT tbl, img FROM before_merge WHERE tbl NOT IN (''contacts'', ''action_log'')',
              '... updated_at included');
SELECT set_eq(format('SELECT img - ''updated_at'' - ''note'' FROM pg_temp.snapshot(ARRAY[%s, %s]::bigint[]) WHERE tbl = ''contacts''', :s, :a),
              'SELECT img - ''updated_at'' - ''note'' FROM before_merge WHERE tbl = ''contacts''',
              'both contact rows are back: fields, points, status, created');
SELECT is((SELECT img FROM pg_temp.snapshot(ARRAY[:a]::bigint[]) WHERE tbl = 'contacts'),
          (SELECT img FROM before_merge WHERE tbl = 'contacts' AND (img ->> 'contact_id')::bigint = :a),
          'the absorbed contact row is exactly as it was');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE contact_id IN (:s, :a) AND event = 'unmerged'), 2::bigint,
    'an unmerged event on both');
SELECT results_eq(format('SELECT undone_by FROM customercard.merges WHERE merge_id = %s AND undone_at IS NOT NULL', :m1),
    $$VALUES ('manager:olga')$$, 'the journal says who undid it');
SELECT throws_ok(format('SELECT customercard.unmerge(%s)', :m1), '55000', NULL, 'unmerging twice is an error');

-- ------------------------------------------------------------ later rows stay with the survivor
SELECT customercard.merge(:a, :s, '{name, city}') AS m2 \gset
SELECT results_eq(format('SELECT name, city, note FROM customercard.contacts WHERE contact_id = %s', :a),
    $$VALUES ('Ivan Petrov', 'Perm', 'Pays on time')$$, 'take_from_absorbed takes the named fields (and empty ones) from the absorbed');
SELECT is(customercard.upsert_contact('{"phones": ["+7 913 000 00 01"]}'), :a::bigint,
    'upsert_contact matching a moved phone finds the survivor');
SELECT is(customercard.upsert_contact('{"channel": {"kind": "vk", "connection": "school_bot", "external_id": "vk100"}}'), :a::bigint,
    '... and a moved channel');
INSERT INTO customercard.tasks (contact_id, title) VALUES (:a, 'Added after the merge') RETURNING task_id AS later_task \gset
UPDATE customercard.contacts SET timezone = 'Europe/Moscow' WHERE contact_id = :a;
SELECT customercard.unmerge(:m2);
SELECT is((SELECT contact_id FROM customercard.tasks WHERE task_id = :later_task), :a::bigint, 'a row added to the survivor after the merge stays with it');
SELECT results_eq(format('SELECT name, city, timezone FROM customercard.contacts WHERE contact_id = %s', :a),
    $$VALUES ('Ivan P.', 'Yekaterinburg', 'Europe/Moscow')$$, 'fields the merge set go back; an edit made since stays');
SELECT is((SELECT name FROM customercard.contacts WHERE contact_id = :s), 'Ivan Petrov', 'the absorbed one is itself again');
DELETE FROM customercard.tasks WHERE task_id = :later_task;

-- ------------------------------------------------------------ chains
INSERT INTO customercard.contacts (name) VALUES ('Chain C') RETURNING contact_id AS c \gset
SELECT customercard.merge(:s, :a) AS m3 \gset
SELECT customercard.merge(:c, :s) AS m4 \gset
SELECT is(customercard.resolve_contact(:a), :c::bigint, 'a chain of tombstones resolves to the last survivor');
SELECT is((customercard.card_json(:a) ->> 'contact_id')::bigint, :c::bigint, 'card_json follows the chain');
SELECT is(pg_temp.rows_of('orders', :c), 2::bigint, 'the chain''s rows are all on the last survivor');
SELECT throws_ok(format('SELECT customercard.unmerge(%s)', :m3), '2BP01',
    format('merge %s cannot be undone while the later merge %s of the same contacts stands', :m3, :m4),
    'undoing a merge that a later one depends on is refused');
SELECT is(tap.hint_of(format('SELECT customercard.unmerge(%s)', :m3)), format('Undo merge %s first: SELECT customercard.unmerge(%s);', :m4, :m4),
    '... and the hint says which one to undo first');
SELECT lives_ok(format('SELECT customercard.unmerge(%s)', :m4), 'undo the later merge');
SELECT lives_ok(format('SELECT customercard.unmerge(%s)', :m3), 'then the earlier one');
SELECT set_eq('SELECT tbl, img - ''updated_at'' FROM pg_temp.snapshot(ARRAY[' || :s || ', ' || :a || ']::bigint[]) WHERE tbl NOT IN (''contacts'', ''action_log'')',
              'SELECT tbl, img - ''updated_at'' FROM before_merge WHERE tbl NOT IN (''contacts'', ''action_log'')',
              'after the chain is undone both cards are as before');
SELECT is(pg_temp.rows_of('orders', :c), 0::bigint, '... and C has none of their rows');

-- ------------------------------------------------------------ errors
SELECT throws_ok(format('SELECT customercard.merge(%s, %s)', :s, :s), '22023', format('contact %s cannot be merged into itself', :s),
    'merging a contact into itself');
SELECT customercard.merge(:s, :a) AS m5 \gset
SELECT throws_ok(format('SELECT customercard.merge(%s, %s)', :a, :x), '42809', NULL, 'merging into a tombstone');
SELECT throws_ok(format('SELECT customercard.merge(%s, %s)', :x, :a), '42809', NULL, 'merging a tombstone into another');
SELECT is(tap.hint_of(format('SELECT customercard.merge(%s, %s)', :x, :a)),
    format('Merge with contact %s, the survivor, instead; or undo merge %s first.', :s, :m5), '... the hint names the survivor and the merge');
SELECT throws_ok(format('SELECT customercard.merge(%s, %s, ''{favourite_colour}'')', :s, :x), '22023',
    'take_from_absorbed names an unknown field: ''favourite_colour''', 'an unknown field to take is refused');
SELECT throws_ok('SELECT customercard.unmerge(-1)', '42704', NULL, 'an unknown merge');
SELECT customercard.create_account('Other business', 'RU', 'RUB') AS other \gset
SET customercard.account_id = :other;
INSERT INTO customercard.contacts (name) VALUES ('Other person') RETURNING contact_id AS o \gset
SET customercard.account_id = :acct;
SELECT throws_ok(format('SELECT customercard.merge(%s, %s)', :x, :o), '42704', NULL, 'a contact of another account cannot be merged');
SET customercard.account_id = :other;
SELECT throws_ok(format('SELECT customercard.unmerge(%s)', :m5), '42704', NULL, '... nor a merge undone from another account');
SET customercard.account_id = :acct;
SELECT is((SELECT count(*) FROM customercard.merges WHERE merge_id = :m5 AND undone_at IS NULL), 1::bigint, '... which stays in place');

-- a manager may preview, not merge
CREATE ROLE cc_t_merge_manager IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_t_merge_manager', :acct);
SET ROLE cc_t_merge_manager;
SELECT throws_ok(format('SELECT customercard.merge(%s, %s)', :s, :x), '42501', NULL, 'a manager cannot merge');
SELECT throws_ok(format('SELECT customercard.unmerge(%s)', :m5), '42501', NULL, '... nor unmerge');
SELECT lives_ok(format('SELECT * FROM customercard.merge_preview(%s, %s)', :s, :x), '... but may preview');
SELECT throws_ok('SELECT customercard.card_rewrite(true)', '42501', NULL, 'nobody but merge and forget may turn on the rewrite switch');
RESET ROLE;
SELECT throws_ok('UPDATE customercard.comments SET body = ''changed''', '42501', NULL,
    'after a merge the comments are append-only again (the switch is off)');

-- every table holding a contact's rows takes part in merges
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'customercard'
             JOIN pg_attribute at ON at.attrelid = c.oid AND at.attname = 'contact_id' AND NOT at.attisdropped
            WHERE c.relkind IN ('r', 'p')
              AND c.relname::text NOT IN (SELECT m.tbl FROM customercard.merge_sections() m)
              AND c.relname::text <> ALL (customercard.merge_unlisted())), NULL,
    'every table with a contact_id column is moved by merges or deliberately left out');

SELECT * FROM finish();
ROLLBACK;
