-- Tenancy and security: a role bound to account A can neither read nor
-- change account B's rows, also after setting customercard.account_id to B,
-- also through every view and card_json; readers write nothing; the app
-- role switches accounts; comments and the log are append-only for all.
-- The roles are LOGIN roles; SET SESSION AUTHORIZATION makes the session
-- exactly theirs (session_user and current_user), as a login would.
BEGIN;
SELECT plan(65);

-- pgTAP keeps its bookkeeping in temp tables; let the switched-to roles write it.
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;

CREATE ROLE cc_t_mgr_a LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_t_reader_a LOGIN IN ROLE customercard_reader;
CREATE ROLE cc_t_admin_a LOGIN IN ROLE customercard_admin;
CREATE ROLE cc_t_app LOGIN IN ROLE customercard_app;
CREATE ROLE cc_t_nobody LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_t_two LOGIN IN ROLE customercard_manager;
CREATE ROLE cc_t_team NOLOGIN;
CREATE ROLE cc_t_member LOGIN IN ROLE customercard_manager, cc_t_team;
CREATE ROLE cc_t_newhire LOGIN IN ROLE customercard_manager;
GRANT cc_t_newhire TO cc_t_admin_a WITH ADMIN OPTION;

SELECT customercard.create_account('Shop B', 'DE', 'EUR') AS b \gset
SELECT account_id AS a FROM customercard.accounts WHERE is_default \gset
SELECT customercard.bind_role('cc_t_mgr_a', :a);
SELECT customercard.bind_role('cc_t_reader_a', :a);
SELECT customercard.bind_role('cc_t_admin_a', :a);
SELECT customercard.bind_role('cc_t_two', :a);
SELECT customercard.bind_role('cc_t_two', :b);
SELECT customercard.bind_role('cc_t_team', :b);

-- data in both accounts
SELECT customercard.upsert_contact('{"name": "A one", "emails": ["a1@example.com"], "tags": ["a-tag"]}') AS a1 \gset
SELECT customercard.upsert_contact('{"name": "A two"}') AS a2 \gset
INSERT INTO customercard.comments (contact_id, body) VALUES (:a1, 'about A one');
SET customercard.account_id = :'b';
SELECT customercard.upsert_contact('{"name": "B one", "emails": ["b1@example.com"], "phones": ["+49 30 123456"], "tags": ["b-tag"],
    "channel": {"kind": "telegram", "external_id": "777"}}') AS b1 \gset
INSERT INTO customercard.orders (contact_id, number, offer, amount) VALUES (:b1, 'B-1', 'Kurs', 10);
INSERT INTO customercard.comments (contact_id, body) VALUES (:b1, 'about B one');
INSERT INTO customercard.tasks (contact_id, title) VALUES (:b1, 'call B one');
RESET customercard.account_id;

CREATE FUNCTION pg_temp.view_rows(v text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM customercard.%I', v) INTO n;
    RETURN n;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.view_rows(text) TO PUBLIC;
CREATE TEMP VIEW cc_views AS SELECT relname::text AS v FROM pg_class
 WHERE relnamespace = 'customercard'::regnamespace AND relkind = 'v';
GRANT SELECT ON cc_views TO PUBLIC;

-- ---------------------------------------------------------------- manager of A
SET SESSION AUTHORIZATION cc_t_mgr_a;
SELECT is(customercard.current_account_id(), :'a'::bigint, 'a role bound to one account acts there without the setting');
SELECT is((SELECT count(*)::int FROM customercard.contacts), 2, 'the manager of A sees A''s contacts');
SELECT is((SELECT count(*)::int FROM customercard.accounts), 1, 'the manager of A sees only account A');
SELECT is((SELECT count(*)::int FROM customercard.contacts WHERE contact_id = :b1), 0, 'B''s contact is invisible by id');
SELECT is((SELECT count(*)::int FROM customercard.card), 2, 'the card view shows A''s contacts');
SELECT throws_ok(format('SELECT customercard.card_json(%s)', :b1), '42704', NULL, 'card_json of B''s contact: does not exist');
SELECT lives_ok('UPDATE customercard.contacts SET note = ''edited'' WHERE contact_id = ' || :a1, 'the staff note stays editable');
-- the audience functions are SECURITY DEFINER: they must act in the caller's account only
SELECT is(ARRAY(SELECT contact_id FROM customercard.audience_search('{}') ORDER BY 1), ARRAY[:a1, :a2]::bigint[],
    'audience_search as the manager of A: A''s contacts only');
SELECT is(customercard.audience_count('{"tag": "b-tag"}'), 0::bigint, 'audience_count: B''s tag names match nothing in A');
SELECT is(customercard.audience_count('{"search": "+49 30 123456"}'), 0::bigint, 'audience search by B''s phone finds nothing in A');

SET customercard.account_id = :'b';
SELECT is(customercard.current_account_id(), NULL, 'set to B, the manager of A acts in no account');
SELECT is((SELECT count(*)::int FROM customercard.contacts), 0, 'set to B: no contacts');
SELECT is_empty($$SELECT v FROM cc_views WHERE pg_temp.view_rows(v) > 0$$, 'set to B: every card view is empty');
SELECT is_empty($$SELECT t.relname FROM pg_class t
                   WHERE t.relnamespace = 'customercard'::regnamespace AND t.relkind = 'r'
                     AND has_table_privilege(t.oid, 'SELECT') AND pg_temp.view_rows(t.relname::text) > 0
                     AND t.relname NOT IN ('accounts', 'role_bindings')$$,
    'set to B: every table is empty');
SELECT throws_ok(format('SELECT customercard.card_json(%s)', :b1), '42704', NULL, 'set to B: card_json of B''s contact fails');
SELECT throws_ok('SELECT * FROM customercard.audience_search(''{}'')', '42501', NULL, 'set to B: audience_search is refused');
SELECT throws_ok('SELECT customercard.audience_count(''{}'')', '42501', NULL, 'set to B: audience_count is refused');
SELECT throws_ok('SELECT customercard.audience_ids(''{}'')', '42501', NULL, 'set to B: audience_ids is refused');
SELECT throws_ok('INSERT INTO customercard.contacts (name) VALUES (''intruder'')', '42501',
    'role "cc_t_mgr_a" is not bound to account ' || :'b', 'set to B: inserting is refused, naming the account');
SELECT throws_ok('SELECT customercard.upsert_contact(''{"name": "intruder"}'')', '42501', NULL, 'set to B: upsert_contact is refused');
UPDATE customercard.contacts SET note = 'hacked' WHERE contact_id = :b1;
DELETE FROM customercard.tasks WHERE contact_id = :b1;
DELETE FROM customercard.phones WHERE contact_id = :b1;
RESET customercard.account_id;
SELECT throws_ok(format('SELECT * FROM customercard.upsert_contact_in(%s, ''{"name": "intruder"}'')', :b), '42501', NULL,
    'upsert_contact_in (the part of upsert_contact Citus delegates) refuses an account other than the session''s');
SELECT is((SELECT array_agg(f::text ORDER BY f::text)
             FROM unnest(ARRAY['customercard.merge_apply(bigint, bigint, bigint, text[])', 'customercard.unmerge_apply(bigint, bigint)',
                               'customercard.forget_apply(bigint, bigint)', 'customercard.archive_action_log_of(bigint, timestamptz)',
                               'customercard.upsert_contact_in(bigint, jsonb)']::regprocedure[]) f
            WHERE has_function_privilege(f, 'EXECUTE')),
          ARRAY['customercard.upsert_contact_in(bigint,jsonb)'],
          'of the functions that take the account as an argument, a manager may call only upsert_contact_in, which checks it');
SELECT throws_ok(format('INSERT INTO customercard.contacts (account_id, name) VALUES (%s, ''intruder'')', :b), '42501', NULL,
    'an explicit account_id of B is refused by the policy');
SELECT throws_ok(format('INSERT INTO customercard.tags (account_id, name) VALUES (%s, ''x'')', :b), '42501', NULL,
    'no row of any table can be written into B');
SELECT throws_ok(format('UPDATE customercard.contacts SET account_id = %s WHERE contact_id = %s', :b, :a2), '42501', NULL,
    'a row cannot be moved into B');
SELECT throws_ok(format('SELECT customercard.bind_role(''cc_t_mgr_a'', %s)', :b), '42501', NULL,
    'a manager cannot bind itself to B');
SELECT throws_ok('SELECT customercard.create_account(''mine'')', '42501', NULL, 'a manager cannot create accounts');
SELECT throws_ok('UPDATE customercard.comments SET body = ''rewritten''', '42501', NULL, 'comments cannot be updated');
SELECT throws_ok('DELETE FROM customercard.comments', '42501', NULL, 'comments cannot be deleted');
SELECT throws_ok(format('INSERT INTO customercard.comments (contact_id, body) VALUES (%s, repeat(''я'', 1001))', :a1),
    '22001', 'comment is 1001 characters long, over the limit of 1000', 'an over-long comment is refused with the limit');
SELECT lives_ok(format('INSERT INTO customercard.comments (contact_id, body) VALUES (%s, repeat(''я'', 1000))', :a1),
    'a comment at the limit is accepted');
SELECT throws_ok('SET customercard.comment_max_length = 5000', '42501', NULL, 'a manager cannot change the comment limit');
RESET SESSION AUTHORIZATION;

-- B's rows are untouched
SET customercard.account_id = :'b';
SELECT is((SELECT note FROM customercard.contacts WHERE contact_id = :b1), NULL, 'B''s note was not changed');
SELECT is((SELECT count(*)::int FROM customercard.tasks), 1, 'B''s task was not deleted');
SELECT is((SELECT count(*)::int FROM customercard.phones), 1, 'B''s phone was not deleted');
RESET customercard.account_id;

-- ---------------------------------------------------------------- reader of A
SET SESSION AUTHORIZATION cc_t_reader_a;
SELECT is((SELECT count(*)::int FROM customercard.card), 2, 'a reader reads A''s cards');
SELECT ok((customercard.card_json(:a1) ->> 'contact_id')::bigint = :a1, 'a reader reads card_json');
SELECT throws_ok('INSERT INTO customercard.contacts (name) VALUES (''x'')', '42501', NULL, 'a reader cannot insert');
SELECT throws_ok('UPDATE customercard.contacts SET note = ''x''', '42501', NULL, 'a reader cannot update');
SELECT throws_ok('DELETE FROM customercard.emails', '42501', NULL, 'a reader cannot delete');
SELECT throws_ok('SELECT customercard.upsert_contact(''{"name": "x"}'')', '42501', NULL, 'a reader cannot run upsert_contact');
SELECT throws_ok(format('INSERT INTO customercard.comments (contact_id, body) VALUES (%s, ''x'')', :a1), '42501', NULL,
    'a reader cannot comment');
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------- not bound, several accounts, group binding
SET SESSION AUTHORIZATION cc_t_nobody;
SELECT is((SELECT count(*)::int FROM customercard.contacts), 0, 'a role bound to no account sees nothing');
SET customercard.account_id = :'a';
SELECT is((SELECT count(*)::int FROM customercard.contacts), 0, '... also after setting the account');
RESET SESSION AUTHORIZATION;
RESET customercard.account_id;

SET SESSION AUTHORIZATION cc_t_two;
SELECT throws_ok('INSERT INTO customercard.contacts (name) VALUES (''x'')', '42501',
    'role "cc_t_two" is bound to 2 accounts and customercard.account_id is not set',
    'a role bound to two accounts must say which it acts in');
SET customercard.account_id = :'b';
SELECT is((SELECT count(*)::int FROM customercard.contacts), 1, 'bound to both, it sees B when set to B');
RESET SESSION AUTHORIZATION;
RESET customercard.account_id;

SET SESSION AUTHORIZATION cc_t_member;
SELECT is((SELECT count(*)::int FROM customercard.contacts), 1, 'a member of a bound group role acts in the group''s account');
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------- app role switches
SET SESSION AUTHORIZATION cc_t_app;
SET customercard.account_id = :'a';
SELECT is((SELECT count(*)::int FROM customercard.contacts), 2, 'the app role sees A when set to A');
SET customercard.account_id = :'b';
SELECT is((SELECT count(*)::int FROM customercard.contacts), 1, 'the app role sees B when set to B');
SELECT lives_ok('SELECT customercard.upsert_contact(''{"name": "B two"}'')', 'the app role writes into B');
RESET SESSION AUTHORIZATION;
RESET customercard.account_id;

-- ---------------------------------------------------------------- admin of A
SET SESSION AUTHORIZATION cc_t_admin_a;
SELECT lives_ok('SET customercard.comment_max_length = 20', 'an admin may change the comment limit');
SELECT throws_ok(format('INSERT INTO customercard.comments (contact_id, body) VALUES (%s, repeat(''x'', 21))', :a1),
    '22001', 'comment is 21 characters long, over the limit of 20', 'the new limit applies');
RESET customercard.comment_max_length;
SELECT throws_ok(format('SELECT customercard.bind_role(''cc_t_nobody'', %s)', :b), '42501', NULL,
    'an admin of A cannot bind roles to B');
SELECT throws_ok(format('SELECT customercard.bind_role(''customercard_manager'', %s)', :a), '42501', NULL,
    'an admin of A cannot bind the shared customercard_manager role (every manager would act in A)');
SELECT throws_ok(format('SELECT customercard.bind_role(''cc_t_member'', %s)', :a), '42501', NULL,
    'an admin of A cannot bind a role it does not administer (another tenant''s login)');
SELECT lives_ok(format('SELECT customercard.bind_role(''cc_t_newhire'', %s)', :a),
    'an admin of A binds a role it administers (ADMIN OPTION)');
SELECT ok(customercard.unbind_role('cc_t_mgr_a', :a), 'an admin of A unbinds a manager from A');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION cc_t_mgr_a;
SELECT is((SELECT count(*)::int FROM customercard.contacts), 0, 'the unbound manager sees nothing, at once');
RESET SESSION AUTHORIZATION;

-- ---------------------------------------------------------------- for every role
SELECT throws_ok('DELETE FROM customercard.comments', '42501', NULL, 'not even a superuser deletes comments');
SELECT throws_ok(format('SELECT customercard.bind_role(''customercard_admin'', %s)', :a), '42501', NULL,
    'not even a superuser binds a shared customercard_* role');
SELECT throws_ok('TRUNCATE customercard.comments', '42501', NULL, 'not even a superuser truncates comments');


-- ---------------------------------------------------------------- no SQL from caller text
-- Dynamic SQL is spliced only from this extension's own text and catalog
-- names: the functions that run it are these, each reviewed; a new one
-- fails here until it is reviewed and added.
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'customercard'::regnamespace AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
              AND p.prosrc ~* '\mEXECUTE\M'),
          ARRAY['audience_count', 'audience_ids', 'audience_search', 'bulk_preview', 'bulk_run_batch', 'bulk_set_contacts', 'bulk_undo_table',
                'citus_drop_account_fks', 'citus_node_forms',
                'citus_sequence_ranges', 'citus_shard_grants', 'citus_widen_inserts', 'distribute_on_citus', 'forget_apply',
                'generate_card_json', 'generate_forget_apply', 'generate_merge_statements', 'generate_section_label', 'generate_visitor_lookups', 'grant_writes', 'ids_named', 'import_write', 'merge_preview',
                'merge_primary_target', 'merge_retrying', 'merge_set_primary', 'restore_rows', 'schedule_bulk_runner', 'unmerge_section'],
          'dynamic SQL runs only in the reviewed functions');
SELECT is((SELECT count(*)::int FROM pg_proc p, unnest(p.proargnames) a
            WHERE p.pronamespace = 'customercard'::regnamespace AND a IN ('expr', 'extra', 'fragment', 'sql', 'query', 'where_clause')),
          0, 'no function takes an SQL fragment as an argument');
SELECT throws_ok($$SELECT customercard.ids_named(1, '"x"', 'contacts; SELECT 1')$$, '22023', NULL,
    'ids_named looks up only its fixed list of tables');
SELECT throws_ok($$SELECT customercard.merge_primary_target(1, 'contacts', 1, 2, false)$$, '22023', NULL,
    'the merge''s primary-row helpers take only the sections that have primary rows');

SELECT * FROM finish();
ROLLBACK;
