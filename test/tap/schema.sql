-- The schema's promises, checked against the catalog: Citus-ready keys,
-- no IDENTITY, every table registered for pg_dump and under row-level
-- security, SECURITY DEFINER functions with a pinned search_path, views
-- that run as the reader.
BEGIN;
SELECT plan(17);

CREATE TEMP VIEW cc_tables AS
SELECT c.oid, c.relname FROM pg_class c
 WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'r';

SELECT set_eq(
    $$SELECT relname::text FROM cc_tables$$,
    ARRAY['accounts', 'managers', 'role_bindings', 'contacts', 'phones', 'emails', 'addresses', 'balance_transactions',
          'channels', 'tags', 'contact_tags', 'custom_fields', 'custom_values', 'funnels', 'funnel_blocks', 'lgts',
          'subscriptions', 'orders', 'payments', 'payouts', 'sales_plans', 'sales_plan_members', 'tasks', 'calls',
          'call_campaigns', 'call_campaign_members', 'comments', 'webinar_visits', 'page_visits', 'clicks',
          'emails_sent', 'groups', 'group_members', 'action_log', 'action_log_archive', 'merges', 'not_duplicates', 'bulk_jobs', 'bulk_job_items', 'bulk_job_failures', 'bulk_job_output', 'upsert_locks', 'event_kinds', 'messages', 'import_marks', 'bulk_job_rows', 'bulk_job_journal', 'webinars', 'webinar_registrations'],
    'every table of the card exists');

SELECT is_empty(
    $$SELECT relname FROM cc_tables t
       WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'account_id'
                          AND a.atttypid = 'bigint'::regtype AND a.attnotnull)$$,
    'every table has account_id bigint NOT NULL');

SELECT is_empty(
    $$SELECT conrelid::regclass::text || ' ' || conname FROM pg_constraint k
       WHERE k.connamespace = 'customercard'::regnamespace AND k.contype IN ('p', 'u', 'f')
         AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = k.conrelid
                          AND a.attnum = ANY (k.conkey) AND a.attname = 'account_id')$$,
    'every primary, unique and foreign key includes account_id');

SELECT is_empty(
    $$SELECT i.indexrelid::regclass::text FROM pg_index i JOIN cc_tables t ON t.oid = i.indrelid
       WHERE i.indisunique AND t.relname <> 'accounts'   -- the tenants themselves: a reference table on Citus
         AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indrelid
                          AND a.attnum = ANY (i.indkey) AND a.attname = 'account_id')$$,
    'every unique index of a tenant table includes account_id');

SELECT is_empty(
    $$SELECT conrelid::regclass::text || ' ' || conname FROM pg_constraint k
       WHERE k.connamespace = 'customercard'::regnamespace AND k.contype = 'f'
         AND (k.confdeltype IN ('n', 'd') OR k.confupdtype IN ('n', 'd'))$$,
    'no foreign key sets NULL or a default');

SELECT is_empty(
    $$SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute a JOIN cc_tables t ON t.oid = a.attrelid
       WHERE a.attidentity <> '' OR a.attgenerated <> ''$$,
    'no IDENTITY or generated columns');

SELECT is_empty(
    $$SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute a JOIN cc_tables t ON t.oid = a.attrelid
       WHERE a.attname ~ '_id$' AND a.attname NOT IN ('external_id', 'visitor_id') AND a.atttypid <> 'bigint'::regtype
         AND NOT a.attisdropped$$,
    'every *_id column is bigint (channel external ids and visitor cookies are text)');

SELECT is_empty(
    $$SELECT relname FROM cc_tables t
       WHERE NOT t.oid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'customercard')::oid[])$$,
    'every table is registered with pg_extension_config_dump');

SELECT is_empty(
    $$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'S'
         AND NOT c.oid = ANY ((SELECT extconfig FROM pg_extension WHERE extname = 'customercard')::oid[])$$,
    'every sequence is registered with pg_extension_config_dump, so restored ids do not collide');

SELECT is_empty(
    $$SELECT t.relname FROM cc_tables t JOIN pg_class c ON c.oid = t.oid
       WHERE NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid)$$,
    'every table has row-level security enabled and a policy');

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p
       WHERE p.pronamespace = 'customercard'::regnamespace AND p.prosecdef
         AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
    'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');

SELECT is_empty(
    $$SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'v'
         AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)$$,
    'every view runs with the reader''s rights (security_invoker), so RLS applies');

SELECT set_eq(
    $$SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'customercard'::regnamespace AND c.relkind = 'v'$$,
    ARRAY['card', 'card_channels', 'card_subscriptions', 'card_subscription_history', 'card_upcoming', 'card_balance_ledger', 'card_orders', 'card_finance', 'card_sales_plans',
          'card_tasks', 'card_calls', 'card_webinars', 'card_webinar_registrations', 'card_comments', 'card_log', 'card_related', 'card_merges',
          'card_visits', 'card_clicks', 'card_emails', 'card_groups', 'card_balance', 'card_call_campaigns', 'card_tags', 'card_custom_values', 'card_payments', 'card_messages', 'card_order_calls',
          'card_quick', 'contact_visitors', 'bulk_progress', 'bulk_failures'],
    'every card view exists, contact_visitors, and the bulk views');

SELECT is_empty(
    $$SELECT k.conrelid::regclass::text || ' ' || k.conname FROM pg_constraint k
       WHERE k.connamespace = 'customercard'::regnamespace AND k.contype = 'f'
         AND NOT EXISTS (SELECT 1 FROM pg_index i
                          WHERE i.indrelid = k.conrelid
                            AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) ~ '^\(?\w+ IS NOT NULL\)?$')
                            AND (SELECT array_agg(x ORDER BY x) FROM unnest(i.indkey[0:array_length(k.conkey, 1) - 1]) x)
                                = (SELECT array_agg(x ORDER BY x) FROM unnest(k.conkey) x))$$,
    'every foreign key has an index leading with its columns (partial only on IS NOT NULL)');

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
       WHERE p.pronamespace = 'customercard'::regnamespace AND a.grantee = 0
      UNION ALL
      SELECT c.relname::text FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
       WHERE c.relnamespace = 'customercard'::regnamespace AND a.grantee = 0$$,
    'PUBLIC holds no privilege on any function, table, view or sequence');

SELECT is(
    (SELECT count(*)::int FROM customercard.accounts WHERE is_default),
    1, 'a default account exists after CREATE EXTENSION');

-- without Citus, distributing is a clear error that says how to set it up
SELECT throws_ok('SELECT customercard.distribute_on_citus()', '55000',
    'Citus is not installed in database "' || current_database() || '"',
    'distribute_on_citus() without Citus is 55000');

SELECT * FROM finish();
ROLLBACK;
