-- The section registry (card_sections()): every table with a
-- contact's rows is declared, as a section or as not one; every section has
-- its log triggers and its merge rule; and in every section each INSERT,
-- UPDATE and DELETE writes exactly the expected events, once, with the
-- session's actor (a section's specific events where it has them,
-- row_added / row_changed / row_deleted for the rest).
BEGIN;
SELECT plan(9 + 10 + (SELECT count(*)::int FROM customercard.card_sections() s, unnest(CASE WHEN s.writes = '{INSERT}' THEN '{1}'::int[] ELSE '{1,2,3}' END)) + 1 + 2 + 3);

-- ---------------------------------------------------------------- the catalog
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'contact_id' AND NOT a.attisdropped)
              AND c.relname::text NOT IN (SELECT tbl FROM customercard.card_sections())
              AND c.relname::text NOT IN (SELECT tbl FROM customercard.card_not_sections())),
          NULL, 'every table with a contact_id column is declared: a section, or not one with why');
SELECT is((SELECT count(*)::int FROM customercard.card_sections() s JOIN customercard.card_not_sections() n USING (tbl)), 0,
          '... and not both');
-- every table that records a browser visitor id feeds related contacts and
-- duplicates (contact_visitors, contact_key_hits): none is listed by hand
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'visitor_id' AND NOT a.attisdropped)
              AND pg_get_viewdef('customercard.contact_visitors'::regclass) !~ ('\mcustomercard\.' || c.relname || '\M')),
          NULL, 'every table with a visitor_id column is in contact_visitors (related contacts)');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
            WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'visitor_id' AND NOT a.attisdropped)
              AND (SELECT p.prosrc FROM pg_proc p WHERE p.oid = 'customercard.contact_key_hits(bigint, bigint)'::regprocedure)
                  !~ ('JOIN customercard\.' || c.relname || ' b\s+ON b\.account_id = acct AND b\.visitor_id = k\.value')),
          NULL, 'every table with a visitor_id column is probed by contact_key_hits (duplicates and related contacts)');
SELECT is((SELECT count(*)::int FROM pg_class c
            WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r'
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'visitor_id' AND NOT a.attisdropped)),
          cardinality(customercard.visitor_tables()), '... and visitor_tables() names each of them once, no more (8 today)');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE to_regclass('customercard.' || s.tbl) IS NULL
               OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ('customercard.' || s.tbl)::regclass AND a.attname = 'contact_id')),
          NULL, 'every declared section is a table with a contact_id');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = ('customercard.' || s.tbl)::regclass
                      AND t.tgname IN ('log_insert', 'zz_log_change')) <> 2),
          NULL, 'every section has its log triggers (AFTER INSERT, BEFORE UPDATE OR DELETE)');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname IN ('log_insert', 'zz_log_change') AND c.relname::text NOT IN (SELECT tbl FROM customercard.card_sections())),
          NULL, '... and no table but a section has them');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE s.tbl <> 'contacts' AND s.tbl NOT IN (SELECT m.tbl FROM customercard.merge_sections() m)),
          NULL, 'every section but the contacts themselves has a merge rule');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE NOT has_any_column_privilege('customercard_manager', 'customercard.' || s.tbl, 'INSERT')),
          NULL, 'managers may write every section, as declared');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE has_table_privilege('customercard_manager', 'customercard.' || s.tbl, 'DELETE') <> ('DELETE' = ANY (s.writes))),
          NULL, '... deleting only where declared');
-- ---------------------------------------------------------------- every declaration complete, every declared behaviour there
SELECT is((SELECT array_agg(d.tbl || ': ' || k ORDER BY d.tbl, k) FROM customercard.section_declarations() d,
                  jsonb_object_keys(d.decl) k
            WHERE k NOT IN ('writes', 'system_set', 'personal', 'key', 'match', 'assign', 'primary', 'forget', 'forget_set',
                            'forget_where', 'scrub_values', 'card', 'export')),
          NULL, 'no declaration has a key docs/sections.md does not name');
SELECT is((SELECT array_agg(d.tbl || ': ' || k ORDER BY d.tbl, k) FROM customercard.section_declarations() d,
                  unnest(ARRAY['writes', 'forget', 'card', 'export'] || CASE WHEN d.tbl <> 'contacts' THEN ARRAY['key'] END) k
            WHERE NOT d.decl ? k),
          NULL, 'every declaration says what managers write, what forget does, its card blocks, its export columns and (but the contacts) its key');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE NOT s.writes <@ '{INSERT,UPDATE,DELETE}' OR NOT 'INSERT' = ANY (s.writes)
               OR s.forget NOT IN ('delete', 'keep', 'erase')
               OR (s.forget = 'erase' AND s.personal IS NULL AND s.forget_set = '{}')
               OR (s.assign IS NOT NULL AND s.match IS NULL)
               OR jsonb_array_length(s.card) = 0),
          NULL, 'every declaration''s values are of their kinds (writes, forget, an erase with something to erase, assign with match, a card block)');
SELECT is((SELECT array_agg(s.tbl || '.' || c ORDER BY s.tbl, c) FROM customercard.card_sections() s,
                  unnest(s.personal || s.system_set || ARRAY[s.key] || ARRAY(SELECT jsonb_object_keys(s.forget_set))) c
            WHERE c IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = ('customercard.' || s.tbl)::regclass
                                                   AND a.attname = c AND NOT a.attisdropped)),
          NULL, 'every declared column (personal, system-set, key, what forget sets) is a column of its table');
SELECT is((SELECT array_agg(s.tbl || ' → ' || (b ->> 'from') ORDER BY s.tbl) FROM customercard.card_sections() s,
                  jsonb_array_elements(s.card) b
            WHERE to_regclass('customercard.' || (b ->> 'from')) IS NULL
               OR (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = to_regclass('customercard.' || (b ->> 'from'))
                      AND a.attname IN ('contact_id', 'account_id')) <> 2
               OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(coalesce(b -> 'columns', '[]') || coalesce(b -> 'object', '[]')) c
                           WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass('customercard.' || (b ->> 'from'))
                                               AND a.attname = c))
               OR NOT (b ? 'order' OR b ? 'one' OR b ? 'object')),
          NULL, 'every card block reads a relation with contact_id and account_id, by columns it has, in an order');
SELECT is((SELECT array_agg(k ORDER BY k) FROM (SELECT b ->> 'key' AS k FROM customercard.card_sections() s, jsonb_array_elements(s.card) b) x
            GROUP BY k HAVING count(*) > 1),
          NULL, 'no two card blocks have the same key');
SELECT customercard.upsert_contact('{"name": "Key check"}') AS key_check \gset
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(customercard.card_json(:key_check)) k),
          (SELECT array_agg(k ORDER BY k) FROM (SELECT b ->> 'key' AS k FROM customercard.card_sections() s, jsonb_array_elements(s.card) b
                                                UNION ALL SELECT unnest(ARRAY['contact_id', 'requested_id', 'related', 'merges', 'log_total', 'log'])) x),
          'card_json has the sections'' blocks (and the contact''s ids, relations, merges and log), no other key');
SELECT is((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY a (attname, mode, attnum)
            WHERE p.oid = 'customercard.export_rows_of(bigint, bigint[])'::regprocedure AND a.mode = 't'),
          (SELECT array_agg(c ORDER BY x.o) FROM (SELECT c, min(o) AS o FROM (
                SELECT c, (SELECT array_position(ARRAY['contact_id', 'name', 'phone', 'email', 'status', 'created_at_utc', 'tags', 'channel', 'connection', 'social_id', 'custom'], c)) AS o
                  FROM customercard.card_sections() s, unnest(s.export) c) y GROUP BY c) x),
          'every column of export_rows is given by a declared section, and no section declares one it lacks');
SELECT is((SELECT array_agg(c ORDER BY c) FROM (SELECT c FROM customercard.card_sections() s, unnest(s.export) c GROUP BY c HAVING count(*) > 1) x),
          NULL, '... each by one section');
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE s.forget IN ('delete', 'erase')
              AND position(format(CASE s.forget WHEN 'delete' THEN 'DELETE FROM customercard.%I t WHERE' ELSE 'UPDATE customercard.%I t SET' END, s.tbl)
                           IN pg_get_functiondef('customercard.forget_apply(bigint, bigint)'::regprocedure)) = 0),
          NULL, 'forget_contact erases every section whose declaration says so');
SELECT is(customercard.describe_event('row_changed', '{"section": "orders", "fields": {"amount": {"old": 100, "new": 150}}}'),
          'Order changed: amount "100" → "150"', 'row_changed reads as what changed, from old to new');

-- ---------------------------------------------------------------- every section, every operation
SELECT customercard.upsert_contact('{"name": "Anna", "emails": ["anna@example.com"]}') AS c \gset
INSERT INTO customercard.managers (manager_id, name) VALUES (7, 'Olga');
INSERT INTO customercard.tags (tag_id, name) VALUES (7, 'vip'), (8, 'new');
INSERT INTO customercard.custom_fields (field_id, name) VALUES (7, 'shoe_size');
INSERT INTO customercard.funnels (funnel_id, name) VALUES (7, 'Free lesson');
INSERT INTO customercard.sales_plans (plan_id, name) VALUES (7, 'Q3');
INSERT INTO customercard.call_campaigns (campaign_id, name) VALUES (7, 'Win back');
INSERT INTO customercard.groups (group_id, name) VALUES (7, 'Course chat');
INSERT INTO customercard.webinars (webinar_id, name) VALUES (7, 'Launch day');
INSERT INTO customercard.orders (order_id, contact_id, number, offer, amount) VALUES (70, :c, 'A-70', 'Course', 100);
SET customercard.actor = 'manager:7';

CREATE TEMP TABLE cases (section text, op text, sql text, events text);
INSERT INTO cases VALUES
 ('contacts', 'INSERT', 'INSERT INTO customercard.contacts (contact_id, name) VALUES (9001, ''Boris'')', 'contact_created'),
 ('contacts', 'UPDATE', 'UPDATE customercard.contacts SET name = ''Anna P'', ip = ''10.0.0.1'' WHERE contact_id = :c', 'field_changed,row_changed'),
 ('contacts', 'DELETE', 'UPDATE customercard.contacts SET deleted_at = now() WHERE contact_id = 9001', 'contact_deleted'),
 ('phones', 'INSERT', 'INSERT INTO customercard.phones (phone_id, contact_id, phone, raw) VALUES (70, :c, ''+79123456789'', ''8 912 345 67 89'')', 'field_changed'),
 ('phones', 'UPDATE', 'UPDATE customercard.phones SET kind = ''work'' WHERE phone_id = 70', 'row_changed'),
 ('phones', 'DELETE', 'DELETE FROM customercard.phones WHERE phone_id = 70', 'field_changed'),
 ('emails', 'INSERT', 'INSERT INTO customercard.emails (email_id, contact_id, email, raw) VALUES (70, :c, ''a2@example.com'', ''a2@example.com'')', 'field_changed'),
 ('emails', 'UPDATE', 'UPDATE customercard.emails SET email = ''a3@example.com'', raw = ''a3@example.com'' WHERE email_id = 70', 'field_changed,row_changed'),
 ('emails', 'DELETE', 'DELETE FROM customercard.emails WHERE email_id = 70', 'field_changed'),
 ('addresses', 'INSERT', 'INSERT INTO customercard.addresses (address_id, contact_id, city) VALUES (70, :c, ''Omsk'')', 'row_added'),
 ('addresses', 'UPDATE', 'UPDATE customercard.addresses SET city = ''Tomsk'' WHERE address_id = 70', 'row_changed'),
 ('addresses', 'DELETE', 'DELETE FROM customercard.addresses WHERE address_id = 70', 'row_deleted'),
 ('channels', 'INSERT', 'INSERT INTO customercard.channels (channel_id, contact_id, kind, external_id) VALUES (70, :c, ''telegram'', ''700'')', 'channel_created'),
 ('channels', 'UPDATE', 'UPDATE customercard.channels SET archived_at = now() WHERE channel_id = 70', 'row_changed'),
 ('channels', 'DELETE', 'DELETE FROM customercard.channels WHERE channel_id = 70', 'channel_deleted'),
 ('contact_tags', 'INSERT', 'INSERT INTO customercard.contact_tags (contact_id, tag_id) VALUES (:c, 7)', 'tag_added'),
 ('contact_tags', 'UPDATE', 'UPDATE customercard.contact_tags SET tag_id = 8 WHERE contact_id = :c AND tag_id = 7', 'row_changed'),
 ('contact_tags', 'DELETE', 'DELETE FROM customercard.contact_tags WHERE contact_id = :c AND tag_id = 8', 'tag_removed'),
 ('custom_values', 'INSERT', 'INSERT INTO customercard.custom_values (contact_id, field_id, value) VALUES (:c, 7, ''38'')', 'custom_field_set'),
 ('custom_values', 'UPDATE', 'UPDATE customercard.custom_values SET value = ''39'' WHERE contact_id = :c AND field_id = 7', 'custom_field_set'),
 ('custom_values', 'DELETE', 'DELETE FROM customercard.custom_values WHERE contact_id = :c AND field_id = 7', 'custom_field_set'),
 ('subscriptions', 'INSERT', 'INSERT INTO customercard.subscriptions (subscription_id, contact_id, funnel_id) VALUES (70, :c, 7)', 'subscribed'),
 ('subscriptions', 'UPDATE', 'UPDATE customercard.subscriptions SET unsubscribed_at = now() WHERE subscription_id = 70', 'unsubscribed'),
 ('subscriptions', 'DELETE', 'DELETE FROM customercard.subscriptions WHERE subscription_id = 70', 'row_deleted'),
 ('orders', 'INSERT', 'INSERT INTO customercard.orders (order_id, contact_id, number, offer, amount) VALUES (71, :c, ''A-71'', ''Course'', 100)', 'order_created'),
 ('orders', 'UPDATE', 'UPDATE customercard.orders SET amount = 150, status = ''pending'' WHERE order_id = 71', 'order_status_changed,row_changed'),
 ('orders', 'DELETE', 'DELETE FROM customercard.orders WHERE order_id = 71', 'row_deleted'),
 ('payments', 'INSERT', 'INSERT INTO customercard.payments (payment_id, order_id, contact_id, amount, status) VALUES (70, 70, :c, 60, ''succeeded'')', 'payment_succeeded'),
 ('payments', 'UPDATE', 'UPDATE customercard.payments SET amount = 90 WHERE payment_id = 70', 'row_changed'),
 ('payments', 'DELETE', 'DELETE FROM customercard.payments WHERE payment_id = 70', 'row_deleted'),
 ('sales_plan_members', 'INSERT', 'INSERT INTO customercard.sales_plan_members (plan_id, contact_id) VALUES (7, :c)', 'sales_plan_added'),
 ('sales_plan_members', 'UPDATE', 'UPDATE customercard.sales_plan_members SET status = ''won'' WHERE plan_id = 7 AND contact_id = :c', 'row_changed'),
 ('sales_plan_members', 'DELETE', 'DELETE FROM customercard.sales_plan_members WHERE plan_id = 7 AND contact_id = :c', 'row_deleted'),
 ('tasks', 'INSERT', 'INSERT INTO customercard.tasks (task_id, contact_id, title) VALUES (70, :c, ''Call back'')', 'task_created'),
 ('tasks', 'UPDATE', 'UPDATE customercard.tasks SET status = ''cancelled'' WHERE task_id = 70', 'row_changed'),
 ('tasks', 'DELETE', 'DELETE FROM customercard.tasks WHERE task_id = 70', 'row_deleted'),
 ('calls', 'INSERT', 'INSERT INTO customercard.calls (call_id, contact_id, started_at, result) VALUES (70, :c, now(), ''answered'')', 'call'),
 ('calls', 'UPDATE', 'UPDATE customercard.calls SET duration_s = 60 WHERE call_id = 70', 'row_changed'),
 ('calls', 'DELETE', 'DELETE FROM customercard.calls WHERE call_id = 70', 'row_deleted'),
 ('call_campaign_members', 'INSERT', 'INSERT INTO customercard.call_campaign_members (campaign_id, contact_id) VALUES (7, :c)', 'row_added'),
 ('call_campaign_members', 'UPDATE', 'UPDATE customercard.call_campaign_members SET status = ''reached'' WHERE campaign_id = 7', 'row_changed'),
 ('call_campaign_members', 'DELETE', 'DELETE FROM customercard.call_campaign_members WHERE campaign_id = 7', 'row_deleted'),
 ('webinar_visits', 'INSERT', 'INSERT INTO customercard.webinar_visits (visit_id, contact_id, webinar, joined_at) VALUES (70, :c, ''Intro'', now())', 'webinar_viewed'),
 ('webinar_visits', 'UPDATE', 'UPDATE customercard.webinar_visits SET chat_messages = 3 WHERE visit_id = 70', 'row_changed'),
 ('webinar_visits', 'DELETE', 'DELETE FROM customercard.webinar_visits WHERE visit_id = 70', 'row_deleted'),
 ('webinar_registrations', 'INSERT', 'INSERT INTO customercard.webinar_registrations (webinar_id, contact_id) VALUES (7, :c)', 'row_added'),
 ('webinar_registrations', 'UPDATE', 'UPDATE customercard.webinar_registrations SET attended = true WHERE webinar_id = 7', 'row_changed'),
 ('webinar_registrations', 'DELETE', 'DELETE FROM customercard.webinar_registrations WHERE webinar_id = 7', 'row_deleted'),
 ('page_visits', 'INSERT', 'INSERT INTO customercard.page_visits (visit_id, contact_id, url) VALUES (70, :c, ''https://example.com/'')', 'page_visited'),
 ('page_visits', 'UPDATE', 'UPDATE customercard.page_visits SET title = ''Home'' WHERE visit_id = 70', 'row_changed'),
 ('page_visits', 'DELETE', 'DELETE FROM customercard.page_visits WHERE visit_id = 70', 'row_deleted'),
 ('clicks', 'INSERT', 'INSERT INTO customercard.clicks (click_id, contact_id, url) VALUES (70, :c, ''https://example.com/a'')', 'row_added'),
 ('clicks', 'UPDATE', 'UPDATE customercard.clicks SET utm_source = ''vk'' WHERE click_id = 70', 'row_changed'),
 ('clicks', 'DELETE', 'DELETE FROM customercard.clicks WHERE click_id = 70', 'row_deleted'),
 ('emails_sent', 'INSERT', 'INSERT INTO customercard.emails_sent (email_sent_id, contact_id, kind, subject) VALUES (70, :c, ''instant'', ''Hello'')', 'row_added'),
 ('emails_sent', 'UPDATE', 'UPDATE customercard.emails_sent SET opened_at = now() WHERE email_sent_id = 70', 'row_changed'),
 ('emails_sent', 'DELETE', 'DELETE FROM customercard.emails_sent WHERE email_sent_id = 70', 'row_deleted'),
 ('group_members', 'INSERT', 'INSERT INTO customercard.group_members (group_id, contact_id) VALUES (7, :c)', 'membership'),
 ('group_members', 'UPDATE', 'UPDATE customercard.group_members SET partner = ''p1'' WHERE group_id = 7', 'row_changed'),
 ('group_members', 'DELETE', 'DELETE FROM customercard.group_members WHERE group_id = 7', 'row_deleted'),
 ('messages', 'INSERT', 'INSERT INTO customercard.messages (message_id, contact_id, direction, body) VALUES (70, :c, ''in'', ''Hello, is the course on?'')', 'row_added'),
 ('messages', 'UPDATE', 'UPDATE customercard.messages SET read_at = now() WHERE message_id = 70', 'row_changed'),
 ('messages', 'DELETE', 'DELETE FROM customercard.messages WHERE message_id = 70', 'row_deleted'),
 ('comments', 'INSERT', 'INSERT INTO customercard.comments (contact_id, body) VALUES (:c, ''called'')', 'comment_added'),
 ('balance_transactions', 'INSERT', 'INSERT INTO customercard.balance_transactions (contact_id, currency, amount, reason) VALUES (:c, ''bonus'', 100, ''gift'')', 'row_added');
UPDATE cases SET sql = replace(sql, ':c', :'c');

-- run one case; its new log rows as 'event,event' in log order, and whether all have the actor
CREATE FUNCTION pg_temp.run_case(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before bigint := (SELECT coalesce(max(log_id), 0) FROM customercard.action_log);
    got text;
    actors boolean;
BEGIN
    EXECUTE s;
    SELECT string_agg(event, ',' ORDER BY log_id), bool_and(actor = 'manager:7') INTO got, actors
      FROM customercard.action_log WHERE log_id > before;
    RETURN coalesce(got, '(none)') || CASE WHEN actors THEN '' ELSE ' (not the actor)' END;
END $$;

SELECT is(pg_temp.run_case(k.sql), k.events, k.section || ' ' || k.op || ': ' || k.events || ', once, with the actor')
  FROM cases k ORDER BY k.section = 'contacts' DESC, k.section, CASE k.op WHEN 'INSERT' THEN 1 WHEN 'UPDATE' THEN 2 ELSE 3 END;
-- (the append-only sections, comments and the ledger, change never: their guards refuse it, tap/guards)
SELECT is((SELECT array_agg(s.tbl ORDER BY s.tbl) FROM customercard.card_sections() s
            WHERE ARRAY(SELECT k.op FROM cases k WHERE k.section = s.tbl ORDER BY k.op)
                  <> CASE WHEN s.writes = '{INSERT}' THEN '{INSERT}'::text[] ELSE '{DELETE,INSERT,UPDATE}' END),
          NULL, 'every section has its cases: INSERT, UPDATE, DELETE (append-only ones INSERT only)');

-- forget_contact scrubs the person's data out of these events too
SELECT customercard.forget_contact(:c);
SELECT is((SELECT count(*)::int FROM customercard.action_log
            WHERE contact_id = :c AND event LIKE 'row_%' AND details::text ~ '(Omsk|Tomsk|Anna|10\.0\.0\.1)'), 0,
          'forget_contact leaves no personal value in row_added / row_changed / row_deleted events');
SELECT cmp_ok((SELECT count(*)::int FROM customercard.action_log WHERE contact_id = :c AND event LIKE 'row_%'), '>', 10,
          '... which stay, counted');

SELECT * FROM finish();
ROLLBACK;
