-- bulk_preview: what a job would do before it is
-- queued (how many it selects, would change, are already so, cannot be
-- acted on; a sample of changes), changing nothing; for every action the
-- preview agrees with what the job then does.
BEGIN;
SELECT plan(41);

SELECT customercard.create_account('Bulk preview', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'manager:olga';
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
INSERT INTO customercard.contacts (name, city, status)
SELECT 'Preview person ' || i, CASE WHEN i % 4 = 0 THEN 'Kazan' ELSE 'Perm' END,
       CASE WHEN i % 5 = 0 THEN 'archived' ELSE 'active' END
  FROM generate_series(1, 30) i;
CREATE TEMP TABLE people AS SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS i
  FROM customercard.contacts WHERE account_id = :acct;
INSERT INTO customercard.phones (contact_id, phone, raw)
SELECT contact_id, '+7 900 ' || lpad(contact_id::text, 7, '0'), 'x' FROM people WHERE i % 3 = 0;
INSERT INTO customercard.tags (name) VALUES ('promo') RETURNING tag_id AS promo \gset
INSERT INTO customercard.contact_tags (contact_id, tag_id) SELECT contact_id, :promo FROM people WHERE i % 2 = 0;
INSERT INTO customercard.funnels (name) VALUES ('Webinar funnel') RETURNING funnel_id AS funnel \gset
INSERT INTO customercard.subscriptions (contact_id, funnel_id) SELECT contact_id, :funnel FROM people WHERE i <= 10;
INSERT INTO customercard.sales_plans (name) VALUES ('Spring sale') RETURNING plan_id AS plan \gset
INSERT INTO customercard.sales_plan_members (plan_id, contact_id) SELECT :plan, contact_id FROM people WHERE i <= 3;
INSERT INTO customercard.custom_fields (name) VALUES ('Source') RETURNING field_id AS source \gset
INSERT INTO customercard.custom_values (contact_id, field_id, value) SELECT contact_id, :source, 'ads' FROM people WHERE i <= 6;
-- contact 30's phone is contact 27's too: an SMS channel of it can be made once
UPDATE customercard.phones SET phone = (SELECT phone FROM customercard.phones p JOIN people USING (contact_id) WHERE i = 27)
 WHERE contact_id = (SELECT contact_id FROM people WHERE i = 30);
INSERT INTO customercard.channels (contact_id, kind, external_id)
SELECT contact_id, 'sms', (SELECT phone::text FROM customercard.phones p WHERE p.contact_id = people.contact_id) FROM people WHERE i = 27;

-- what the job did: the contacts it wrote a log event for
CREATE FUNCTION pg_temp.job_changed(acct bigint, job bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE mark bigint := (SELECT coalesce(max(log_id), 0) FROM customercard.action_log WHERE account_id = acct);
BEGIN
    PERFORM tap.run_job(acct, job);
    RETURN (SELECT count(DISTINCT contact_id) FROM customercard.action_log WHERE account_id = acct AND log_id > mark);
END $$;
-- preview, then the same job: the preview's would_change and the job's
CREATE FUNCTION pg_temp.agree(action text, params jsonb, filter jsonb DEFAULT '{"search": "Preview person"}') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    acct bigint := customercard.current_account_id();
    p jsonb := customercard.bulk_preview(action, params, filter => filter);
BEGIN
    RETURN (p ->> 'would_change') || ' of ' || (p ->> 'selected') || ', job ' ||
           pg_temp.job_changed(acct, customercard.bulk_enqueue(action, params, filter => filter));
END $$;
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('/', (SELECT count(*) FROM customercard.action_log), (SELECT count(*) FROM customercard.tags),
                     (SELECT count(*) FROM customercard.bulk_jobs), (SELECT count(*) FROM customercard.contact_tags),
                     (SELECT string_agg(status || city, ',' ORDER BY contact_id) FROM customercard.contacts))
$$;

-- ------------------------------------------------------------ the figures
SELECT pg_temp.state() AS before_previews \gset
SELECT is(customercard.bulk_preview('add_tag', '{"tag": "promo"}', filter => '{"search": "Preview person"}') - 'sample',
          '{"action": "add_tag", "selected": 30, "would_change": 15, "already": 15, "cannot": 0}',
          'add_tag: selected, would change, already tagged');
SELECT is(customercard.bulk_preview('add_tag', '{"tag": "promo"}', filter => '{"search": "Preview person"}') -> 'sample' -> 0,
          jsonb_build_object('contact_id', (SELECT contact_id FROM people WHERE i = 1), 'field', 'tags', 'before', NULL, 'after', 'promo'),
          '... the sample: contact, field, before, after, in the job''s order');
SELECT is(jsonb_array_length(customercard.bulk_preview('add_tag', '{"tag": "promo"}', filter => '{"search": "Preview person"}') -> 'sample'), 15,
          '... every change, up to 20');
SELECT is(jsonb_array_length(customercard.bulk_preview('set_field', '{"field": "note", "value": "hello"}', filter => '{"search": "Preview person"}') -> 'sample'), 20,
          '... at most 20');
SELECT is(customercard.bulk_preview('add_tag', '{"tag": "brand new"}', filter => '{"search": "Preview person"}') ->> 'would_change', '30',
          'a tag nobody has: every contact would get it');
SELECT is(customercard.bulk_preview('remove_tag', '{"tag": "promo"}', contact_ids => ARRAY(SELECT contact_id FROM people WHERE i <= 4)) - 'sample',
          '{"action": "remove_tag", "selected": 4, "would_change": 2, "already": 2, "cannot": 0}', 'remove_tag over chosen ids');
SELECT is(customercard.bulk_preview('archive', filter => '{}') - 'sample',
          '{"action": "archive", "selected": 30, "would_change": 24, "already": 6, "cannot": 0}', 'archive: the archived ones are already so');
SELECT is((customercard.bulk_preview('unarchive', filter => '{}') -> 'sample' -> 0) - 'contact_id',
          '{"field": "status", "before": "archived", "after": "active"}', 'unarchive: the sample''s before and after');
SELECT is(customercard.bulk_preview('set_field', '{"field": "city", "value": "Kazan"}', filter => '{}') - 'sample',
          '{"action": "set_field", "selected": 30, "would_change": 23, "already": 7, "cannot": 0}', 'set_field: the contacts whose value differs');
SELECT is((customercard.bulk_preview('set_field', '{"field": "city", "value": "Kazan"}', filter => '{}') -> 'sample' -> 0) - 'contact_id',
          '{"field": "city", "before": "Perm", "after": "Kazan"}', '... before and after');
SELECT is(customercard.bulk_preview('set_field', '{"field": "Source", "value": "ads"}', filter => '{}') ->> 'would_change', '24',
          'set_field of a custom field');
SELECT is(customercard.bulk_preview('subscribe', '{"funnel": "Webinar funnel"}', filter => '{}') ->> 'would_change', '20',
          'subscribe: the ones without an open period');
SELECT is(customercard.bulk_preview('unsubscribe', '{"funnel": "Webinar funnel"}', filter => '{}') ->> 'would_change', '10',
          'unsubscribe: the ones with one');
SELECT is(customercard.bulk_preview('add_to_sales_plan', '{"plan": "Spring sale"}', filter => '{}') ->> 'already', '3',
          'add_to_sales_plan: the members are already in');
SELECT is(customercard.bulk_preview('assign_manager', jsonb_build_object('manager_id', :olga), filter => '{}') ->> 'would_change', '30',
          'assign_manager');
SELECT is(customercard.bulk_preview('create_channel', '{"kind": "sms"}', filter => '{}') - 'sample',
          '{"action": "create_channel", "selected": 30, "would_change": 8, "already": 1, "cannot": 21}',
          'create_channel: the ones without a phone, or whose number is another''s channel, cannot');
SELECT is(customercard.bulk_preview('delete', contact_ids => ARRAY(SELECT contact_id FROM people WHERE i <= 2)) ->> 'would_change', '2', 'delete');
SELECT is(customercard.bulk_preview('export', '{}', filter => '{}') - 'sample',
          '{"action": "export", "selected": 30, "would_change": 0, "already": 0, "cannot": 0, "exported": 30}', 'export changes nothing, exports them all');
SELECT is(customercard.bulk_preview('set_field', jsonb_build_object('field', 'note', 'value', $h$'); DROP TABLE customercard.tags; --$h$),
                                     filter => '{}') -> 'sample' -> 0 ->> 'after',
          $h$'); DROP TABLE customercard.tags; --$h$, 'a hostile value is data: it reaches the preview''s query as a parameter');
SELECT is(pg_temp.state(), :'before_previews', 'previews change nothing: no log row, tag, job or value');

-- ------------------------------------------------------------ errors
SELECT throws_ok($$SELECT customercard.bulk_preview('add_tag', '{"tag": "x"}')$$, '22023', 'bulk_preview needs exactly one of contact_ids and filter', 'neither ids nor a filter');
SELECT throws_ok($$SELECT customercard.bulk_preview('launch_rockets', filter => '{}')$$, '22023', NULL, 'an unknown action');
SELECT throws_ok($$SELECT customercard.bulk_preview('archive', contact_ids => ARRAY[-1])$$, '42704', NULL, 'an id that is no contact');
SELECT throws_ok($$SELECT customercard.bulk_preview('archive', filter => '{"colour": "red"}')$$, '22023', NULL, 'a filter with an unknown key');
SELECT throws_ok($$SELECT customercard.bulk_preview('remove_tag', '{"tag": "never used"}', filter => '{}')$$, '42704', NULL, 'removing a tag that does not exist');
SELECT customercard.create_account('Other shop', 'RU', 'RUB') AS other \gset
SET customercard.account_id = :other;
SELECT customercard.upsert_contact('{"name": "Not yours"}') AS theirs \gset
SET customercard.account_id = :acct;
SELECT throws_ok(format('SELECT customercard.bulk_preview(%L, contact_ids => ARRAY[%s])', 'archive', :theirs), '42704', NULL,
    'another account''s contact cannot be previewed: it is no contact here');
CREATE ROLE cc_preview_reader IN ROLE customercard_reader;
SELECT customercard.bind_role('cc_preview_reader', :acct);
SET ROLE cc_preview_reader;
SELECT throws_ok($$SELECT customercard.bulk_preview('archive', filter => '{}')$$, '42501', NULL, 'a reader may not preview bulk actions');
RESET ROLE;

-- ------------------------------------------------------------ the preview agrees with the job
SELECT is(pg_temp.agree('add_tag', '{"tag": "promo"}'), '15 of 30, job 15', 'add_tag: preview and job agree');
SELECT is(pg_temp.agree('remove_tag', '{"tag": "promo"}', '{"status": "archived"}'), '6 of 6, job 6', 'remove_tag');
SELECT is(pg_temp.agree('set_field', '{"field": "city", "value": "Kazan"}'), '23 of 30, job 23', 'set_field');
SELECT is(pg_temp.agree('set_field', '{"field": "Source", "value": "mail"}'), '30 of 30, job 30', 'set_field of a custom field');
SELECT is(pg_temp.agree('subscribe', '{"funnel": "Webinar funnel"}'), '20 of 30, job 20', 'subscribe');
SELECT is(pg_temp.agree('unsubscribe', '{"funnel": "Webinar funnel"}', '{"status": "active"}'), '24 of 24, job 24', 'unsubscribe');
SELECT is(pg_temp.agree('add_to_sales_plan', '{"plan": "Spring sale"}'), '27 of 30, job 27', 'add_to_sales_plan');
SELECT is(pg_temp.agree('assign_manager', jsonb_build_object('manager_id', :olga), '{"status": "archived"}'), '6 of 6, job 6', 'assign_manager');
SELECT is(pg_temp.agree('create_channel', '{"kind": "sms"}'), '8 of 30, job 8', 'create_channel');
SELECT is(pg_temp.agree('archive', '{}'), '24 of 30, job 24', 'archive');
SELECT is(pg_temp.agree('unarchive', '{}', '{"search": "Preview person 1"}'), '12 of 12, job 12', 'unarchive: one word of digits matches 1, 10-19, 21');
SELECT is(pg_temp.agree('blacklist', '{}', '{"search": "Preview person 2"}'), '12 of 12, job 12', 'blacklist');
SELECT is(pg_temp.agree('delete', '{}', '{"search": "Preview person 3"}'), '4 of 4, job 4', 'delete');
SELECT is(pg_temp.agree('export', '{}'), '0 of 26, job 0', 'export: nothing changes (the deleted are no longer selected)');

SELECT * FROM finish();
ROLLBACK;
