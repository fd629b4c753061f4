-- bulk_undo: for every action, job then undo leaves
-- every table as before the job, row for row (a snapshot of every card
-- table, as test/tap/merge.sql takes), except values changed again since,
-- which are reported; the preview agrees with what the job journals; undo
-- of an undo redoes; a half-run job's undo; merged and forgotten contacts;
-- the journal's life (prune, forget); the errors.  Concurrent editing
-- while an undo runs: test/shell/bulk_undo.sh.
BEGIN;
SELECT plan(59);

SELECT customercard.create_account('Bulk undo', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'manager:olga';
INSERT INTO customercard.managers (name) VALUES ('Olga') RETURNING manager_id AS olga \gset
INSERT INTO customercard.managers (name) VALUES ('Pavel') RETURNING manager_id AS pavel \gset
INSERT INTO customercard.contacts (name, city, status, manager_id, gender, gender_source)
SELECT 'Undo person ' || i, CASE WHEN i % 4 = 0 THEN 'Kazan' ELSE 'Perm' END,
       CASE WHEN i % 5 = 0 THEN 'archived' WHEN i = 7 THEN 'blacklisted' ELSE 'active' END,
       CASE WHEN i % 3 = 0 THEN :olga END, CASE WHEN i % 6 = 0 THEN 'female' END, CASE WHEN i % 6 = 0 THEN 'channel' END
  FROM generate_series(1, 30) i;
CREATE TEMP TABLE people AS SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS i
  FROM customercard.contacts WHERE account_id = :acct;
SELECT contact_id AS p1 FROM people WHERE i = 1 \gset
SELECT contact_id AS p2 FROM people WHERE i = 2 \gset
SELECT contact_id AS p4 FROM people WHERE i = 4 \gset
SELECT contact_id AS p6 FROM people WHERE i = 6 \gset
INSERT INTO customercard.phones (contact_id, phone, raw)
SELECT contact_id, '+7 900 ' || lpad(contact_id::text, 7, '0'), 'x' FROM people WHERE i % 3 = 0;
INSERT INTO customercard.emails (contact_id, email) SELECT contact_id, 'undo' || i || '@example.com' FROM people WHERE i % 2 = 0;
INSERT INTO customercard.tags (name) VALUES ('promo') RETURNING tag_id AS promo \gset
-- (the earlier tags carry another author and date: a wrong restore shows)
SET customercard.actor = 'manager:ivan';
INSERT INTO customercard.contact_tags (contact_id, tag_id, added_at)
SELECT contact_id, :promo, '2025-03-01'::timestamptz + i * interval '1 hour' FROM people WHERE i % 2 = 0;
SET customercard.actor = 'manager:olga';
INSERT INTO customercard.funnels (name) VALUES ('Webinar funnel') RETURNING funnel_id AS funnel \gset
INSERT INTO customercard.lgts (funnel_id, name) VALUES (:funnel, 'Landing') RETURNING lgt_id AS lgt \gset
INSERT INTO customercard.subscriptions (contact_id, funnel_id, lgt_id, subscribed_at)
SELECT contact_id, :funnel, :lgt, '2025-01-01' FROM people WHERE i <= 10;
INSERT INTO customercard.subscriptions (contact_id, funnel_id, subscribed_at, unsubscribed_at)
SELECT contact_id, :funnel, '2024-01-01', '2024-06-01' FROM people WHERE i BETWEEN 11 AND 15;
INSERT INTO customercard.sales_plans (name) VALUES ('Spring sale') RETURNING plan_id AS plan \gset
INSERT INTO customercard.sales_plan_members (plan_id, contact_id, status) SELECT :plan, contact_id, 'in_progress' FROM people WHERE i <= 3;
INSERT INTO customercard.custom_fields (name) VALUES ('Source') RETURNING field_id AS source \gset
INSERT INTO customercard.custom_values (contact_id, field_id, value)
SELECT contact_id, :source, CASE WHEN i <= 3 THEN 'ads' ELSE 'friends' END FROM people WHERE i <= 6;
INSERT INTO customercard.channels (contact_id, kind, external_id) SELECT contact_id, 'email', 'undo2@example.com' FROM people WHERE i = 2;

-- every row of the account's contacts in every card table (the log aside:
-- the job and its undo each add events), without the updated_at stamps
CREATE FUNCTION pg_temp.snapshot() RETURNS TABLE (tbl text, img jsonb) LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    RETURN QUERY SELECT 'contacts', to_jsonb(c) - 'updated_at' FROM customercard.contacts c
                  WHERE c.account_id = customercard.current_account_id();
    FOR t IN SELECT m.tbl FROM customercard.merge_sections() m WHERE m.tbl <> 'action_log' LOOP
        RETURN QUERY EXECUTE format('SELECT %L, to_jsonb(x) - ''updated_at'' FROM customercard.%I x WHERE x.account_id = $1', t, t)
        USING customercard.current_account_id();
    END LOOP;
END $$;
CREATE TEMP TABLE snap_before (tbl text, img jsonb);
-- a job over everyone, then its undo, both run off: what differs from the
-- snapshot before the job after the job (rows), after the undo (rows,
-- should be 0), and the undo's failures
CREATE FUNCTION pg_temp.round_trip(action text, params jsonb DEFAULT '{}', filter jsonb DEFAULT '{"search": "Undo person"}')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    acct bigint := customercard.current_account_id();
    job bigint;
    undo bigint;
    changed bigint;
    left_ bigint;
BEGIN
    TRUNCATE snap_before;
    INSERT INTO snap_before SELECT * FROM pg_temp.snapshot();
    job := customercard.bulk_enqueue(action, params, filter => filter);
    PERFORM tap.run_job(acct, job);
    SELECT count(*) INTO changed FROM ((SELECT * FROM pg_temp.snapshot() EXCEPT ALL SELECT * FROM snap_before)
                                       UNION ALL (SELECT * FROM snap_before EXCEPT ALL SELECT * FROM pg_temp.snapshot())) d;
    undo := customercard.bulk_undo(job);
    PERFORM tap.run_job(acct, undo);
    SELECT count(*) INTO left_ FROM ((SELECT * FROM pg_temp.snapshot() EXCEPT ALL SELECT * FROM snap_before)
                                     UNION ALL (SELECT * FROM snap_before EXCEPT ALL SELECT * FROM pg_temp.snapshot())) d;
    RETURN format('changed %s, left %s, failed %s', changed, left_,
                  (SELECT b.failed FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = undo));
END $$;

-- ------------------------------------------------------------ every action, job -> undo
-- (changed counts rows that differ, twice for a changed row: old and new image)
SELECT is(pg_temp.round_trip('add_tag', '{"tag": "promo"}'), 'changed 15, left 0, failed 0', 'add_tag undone: the 15 new tags go, the 15 older ones stay as they were');
SELECT is(pg_temp.round_trip('add_tag', '{"tag": "brand new"}'), 'changed 30, left 0, failed 0', 'add_tag of a new tag undone (the tag itself stays, on nobody)');
SELECT is(pg_temp.round_trip('remove_tag', '{"tag": "promo"}'), 'changed 15, left 0, failed 0', 'remove_tag undone: the tags come back with their first date and author');
SELECT is(pg_temp.round_trip('archive'), 'changed 48, left 0, failed 0', 'archive undone: each card its own status back (blacklisted, active)');
SELECT is(pg_temp.round_trip('unarchive'), 'changed 12, left 0, failed 0', 'unarchive undone');
SELECT is(pg_temp.round_trip('blacklist'), 'changed 58, left 0, failed 0', 'blacklist undone');
SELECT is(pg_temp.round_trip('delete'), 'changed 60, left 0, failed 0', 'delete undone: the cards come back');
SELECT is(pg_temp.round_trip('assign_manager', format('{"manager_id": %s}', :pavel)::jsonb), 'changed 60, left 0, failed 0',
    'assign_manager undone: Olga''s cards are hers again, the others have none');
SELECT is(pg_temp.round_trip('assign_manager', '{"manager_id": null}'), 'changed 20, left 0, failed 0', 'taking the manager away undone');
SELECT is(pg_temp.round_trip('subscribe', format('{"funnel": "Webinar funnel", "lgt": %s}', :lgt)::jsonb), 'changed 20, left 0, failed 0',
    'subscribe undone: the new periods go, the open and the ended ones stay');
SELECT is(pg_temp.round_trip('unsubscribe', '{"funnel": "Webinar funnel"}'), 'changed 20, left 0, failed 0',
    'unsubscribe undone: the periods it ended are open again');
SELECT is(pg_temp.round_trip('add_to_sales_plan', '{"plan": "Spring sale"}'), 'changed 27, left 0, failed 0',
    'add_to_sales_plan undone: the three members who were in it keep their status');
SELECT is(pg_temp.round_trip('create_channel', '{"kind": "email"}'), 'changed 14, left 0, failed 0',
    'create_channel undone: the channels it made go, the one there before stays');
SELECT is(pg_temp.round_trip('set_field', format('{"field": %s, "value": "bot"}', :source)::jsonb), 'changed 36, left 0, failed 0',
    'set_field of a custom field undone: new values go, changed ones get their old value');
SELECT is(pg_temp.round_trip('set_field', format('{"field": %s, "value": null}', :source)::jsonb), 'changed 6, left 0, failed 0',
    'clearing a custom field undone: the values come back');
SELECT is(pg_temp.round_trip('set_field', '{"field": "city", "value": "Kazan"}'), 'changed 46, left 0, failed 0', 'set_field of a column undone');
SELECT is(pg_temp.round_trip('set_field', '{"field": "gender", "value": "male"}'), 'changed 60, left 0, failed 0',
    'set_field gender undone: the gender and where it came from');
SELECT is(pg_temp.round_trip('archive', filter => '{"status": "active"}'), 'changed 46, left 0, failed 0', 'a job from a filter, undone');

-- the preview says what the job will journal
SELECT is((customercard.bulk_preview('add_tag', '{"tag": "promo"}', filter => '{"search": "Undo person"}') ->> 'would_change')::bigint,
          15::bigint, 'the preview''s would_change ...');
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "promo"}', filter => '{"search": "Undo person"}') AS j_tag \gset
SELECT tap.run_job(:acct, :j_tag);
SELECT is((SELECT count(DISTINCT contact_id) FROM customercard.bulk_job_journal WHERE account_id = :acct AND job_id = :j_tag), 15::bigint,
    '... is how many contacts the job journals');

-- ------------------------------------------------------------ changed since
SET customercard.actor = 'manager:5';
DELETE FROM customercard.contact_tags WHERE account_id = :acct AND tag_id = :promo AND contact_id = :p1;
INSERT INTO customercard.contact_tags (contact_id, tag_id) VALUES (:p1, :promo);
SET customercard.actor = 'manager:olga';
SELECT customercard.bulk_undo(:j_tag) AS u_tag \gset
SELECT results_eq(format('SELECT action, status, total FROM customercard.bulk_progress WHERE job = %s', :u_tag),
    $$VALUES ('undo', 'queued', 15)$$, 'bulk_undo queues a job over the contacts the job changed');
SELECT tap.run_job(:acct, :u_tag);
SELECT is((SELECT count(*) FROM customercard.contact_tags WHERE account_id = :acct AND tag_id = :promo), 16::bigint,
    'the undo removed the job''s tags but the one a manager removed and added again');
SELECT alike((SELECT reason FROM customercard.bulk_failures WHERE job = :u_tag AND contact_id = :p1),
    'tag ' || :promo || ' changed since by manager:5 at %', 'it is reported: what, by whom and when');
SELECT results_eq(format('SELECT done, failed FROM customercard.bulk_progress WHERE job = %s', :u_tag), $$VALUES (14, 1)$$,
    'the undo counts it failed, the others done');

-- the undo's own changes are logged with the undo's actor
SELECT customercard.bulk_enqueue('archive', contact_ids => ARRAY[:p1, :p2]) AS j_arch \gset
SELECT tap.run_job(:acct, :j_arch);
SET customercard.actor = 'manager:kate';
SELECT customercard.bulk_undo(:j_arch) AS u_arch \gset
SET customercard.actor = 'manager:olga';
SELECT tap.run_job(:acct, :u_arch);
SELECT results_eq(format($$SELECT count(*), min(actor) FROM customercard.action_log
                            WHERE account_id = %s AND event = 'unarchived' AND actor = 'manager:kate'$$, :acct),
    $$VALUES (2::bigint, 'manager:kate')$$, 'each change of an undo is an event with the actor who asked for the undo');

-- a column edited since is left alone and reported; one edited back is as before
SELECT customercard.bulk_enqueue('set_field', '{"field": "city", "value": "Omsk"}', contact_ids => ARRAY[:p1, :p2, :p4]) AS j_city \gset
SELECT tap.run_job(:acct, :j_city);
SET customercard.actor = 'manager:5';
UPDATE customercard.contacts SET city = 'Tomsk' WHERE account_id = :acct AND contact_id = :p1;
UPDATE customercard.contacts SET city = 'Perm' WHERE account_id = :acct AND contact_id = :p2;
SET customercard.actor = 'manager:olga';
SELECT customercard.bulk_undo(:j_city) AS u_city \gset
SELECT tap.run_job(:acct, :u_city);
SELECT results_eq(format('SELECT city FROM customercard.contacts WHERE contact_id IN (%s, %s, %s) ORDER BY contact_id', :p1, :p2, :p4),
    $$VALUES ('Tomsk'), ('Perm'), ('Kazan')$$, 'the edited city stays, the others have their old one');
SELECT alike((SELECT string_agg(contact_id || ': ' || reason, '; ') FROM customercard.bulk_failures WHERE job = :u_city),
    :p1 || ': city changed since by manager:5 at %', 'only the city edited to another value is reported, with who and when');

-- ------------------------------------------------------------ undo of an undo
SELECT customercard.bulk_enqueue('remove_tag', '{"tag": "promo"}', filter => '{"search": "Undo person"}') AS j_rm \gset
SELECT tap.run_job(:acct, :j_rm);
CREATE TEMP TABLE after_job AS SELECT * FROM pg_temp.snapshot();
SELECT customercard.bulk_undo(:j_rm) AS u_rm \gset
SELECT tap.run_job(:acct, :u_rm);
SELECT is((SELECT count(*) FROM customercard.contact_tags WHERE account_id = :acct AND tag_id = :promo), 16::bigint, 'the undo put the tags back');
SELECT customercard.bulk_undo(:u_rm) AS redo \gset
SELECT tap.run_job(:acct, :redo);
SELECT set_eq('SELECT * FROM pg_temp.snapshot()', 'SELECT * FROM after_job', 'undoing the undo redoes the job, row for row');
SELECT customercard.bulk_undo(:redo) AS u_redo \gset
SELECT tap.run_job(:acct, :u_redo);
SELECT is((SELECT count(*) FROM customercard.contact_tags WHERE account_id = :acct AND tag_id = :promo), 16::bigint, '... and its undo undoes again');
SELECT customercard.bulk_undo(:j_rm) AS again \gset
SELECT tap.run_job(:acct, :again);
SELECT results_eq(format('SELECT done, failed FROM customercard.bulk_progress WHERE job = %s', :again), $$VALUES (16, 0)$$,
    'undoing a job twice does nothing the second time: every row is as before it');

-- ------------------------------------------------------------ a half-run job
SELECT customercard.bulk_enqueue('set_field', '{"field": "note", "value": "called"}', filter => '{"search": "Undo person"}') AS j_half \gset
SELECT customercard.bulk_run_batch(:acct, :j_half, 7);
SELECT customercard.bulk_run_batch(:acct, :j_half, 7);
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND note = 'called'), 14::bigint, 'a job stopped after two batches ...');
SELECT customercard.bulk_undo(:j_half) AS u_half \gset
SELECT is((SELECT status FROM customercard.bulk_progress WHERE job = :j_half), 'cancelled', '... is cancelled by its undo');
SELECT is(customercard.bulk_run_batch(:acct, :j_half, 7), 0, '... so no further batch of it runs');
SELECT tap.run_job(:acct, :u_half);
SELECT results_eq(format('SELECT total, done FROM customercard.bulk_progress WHERE job = %s', :u_half), $$VALUES (14, 14)$$,
    'the undo puts back the committed batches');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND note IS NOT NULL), 0::bigint, '... and nothing is left of the job');

-- an undo is cancellable like any job: only its committed batches stand,
-- and undoing the cancelled undo redoes just those
SELECT customercard.bulk_enqueue('set_field', '{"field": "note", "value": "again"}', filter => '{"search": "Undo person"}') AS j_again \gset
SELECT tap.run_job(:acct, :j_again);
SELECT count(*) AS n_again FROM customercard.contacts WHERE account_id = :acct AND note = 'again' \gset
SELECT customercard.bulk_undo(:j_again) AS u_again \gset
SELECT customercard.bulk_run_batch(:acct, :u_again, 5);
SELECT customercard.bulk_cancel(:u_again);
SELECT is(customercard.bulk_run_batch(:acct, :u_again, 5), 0, 'a cancelled undo runs no further batch ...');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND note = 'again'), :n_again - 5::bigint,
    '... and the 5 cards of its one batch stay put back');
SELECT customercard.bulk_undo(:u_again) AS r_again \gset
SELECT tap.run_job(:acct, :r_again);
SELECT results_eq(format('SELECT total, done, failed FROM customercard.bulk_progress WHERE job = %s', :r_again), $$VALUES (5, 5, 0)$$,
    'undoing the cancelled undo redoes those 5 only ...');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND note = 'again'), :n_again::bigint,
    '... and every card holds the job''s value again');
UPDATE customercard.contacts SET note = NULL WHERE account_id = :acct AND note = 'again';

-- ------------------------------------------------------------ merged and forgotten contacts
SELECT customercard.bulk_enqueue('add_tag', '{"tag": "vip"}', contact_ids => ARRAY[:p2, :p4, :p6]) AS j_vip \gset
SELECT tap.run_job(:acct, :j_vip);
SELECT customercard.merge(:p4, :p2) AS m \gset
SELECT customercard.forget_contact(:p6);
SELECT is((SELECT count(*) FROM customercard.bulk_job_journal WHERE account_id = :acct AND job_id = :j_vip AND contact_id = :p6
            AND after = '{}'), 1::bigint, 'forget_contact empties the person''s images in the undo journal');
SELECT customercard.bulk_undo(:j_vip) AS u_vip \gset
SELECT tap.run_job(:acct, :u_vip);
SELECT is((SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
            WHERE ct.account_id = :acct AND t.name = 'vip' AND ct.contact_id IN (:p2, :p4)), 0::bigint,
    'a contact merged after the job is undone through its survivor (the absorbed''s tag moved there)');
SELECT is((SELECT reason FROM customercard.bulk_failures WHERE job = :u_vip AND contact_id = :p6), 'the contact was forgotten',
    'a forgotten contact is skipped and reported');
SELECT is((SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
            WHERE ct.account_id = :acct AND t.name = 'vip' AND ct.contact_id = :p6), 1::bigint, '... its tag left as it is');

-- a card's own columns go back on the card, merged or not: the survivor keeps its own
INSERT INTO customercard.contacts (name, status) VALUES ('Undo merge absorbed', 'active') RETURNING contact_id AS q1 \gset
INSERT INTO customercard.contacts (name, status) VALUES ('Undo merge survivor', 'blacklisted') RETURNING contact_id AS q2 \gset
SELECT customercard.bulk_enqueue('archive', contact_ids => ARRAY[:q1, :q2]) AS j_qa \gset
SELECT tap.run_job(:acct, :j_qa);
SELECT customercard.merge(:q2, :q1);
SELECT customercard.bulk_undo(:j_qa) AS u_qa \gset
SELECT tap.run_job(:acct, :u_qa);
SELECT results_eq(format('SELECT status FROM customercard.contacts WHERE contact_id IN (%s, %s) ORDER BY contact_id = %s', :q1, :q2, :q1),
    $$VALUES ('blacklisted'), ('active')$$, 'after a merge the survivor gets its own status back, the tombstone its own');

-- ------------------------------------------------------------ a row that cannot come back
INSERT INTO customercard.tags (name) VALUES ('short-lived') RETURNING tag_id AS short \gset
INSERT INTO customercard.contact_tags (contact_id, tag_id) VALUES (:p1, :short), (:p2, :short);
SELECT customercard.bulk_enqueue('remove_tag', '{"tag": "short-lived"}', contact_ids => ARRAY[:p1]) AS j_short \gset
SELECT tap.run_job(:acct, :j_short);
DELETE FROM customercard.contact_tags WHERE account_id = :acct AND tag_id = :short;
DELETE FROM customercard.tags WHERE account_id = :acct AND tag_id = :short;
SELECT customercard.bulk_undo(:j_short) AS u_short \gset
SELECT is(tap.run_job(:acct, :u_short), 1, 'a tag deleted since: the undo still runs');
SELECT alike((SELECT reason FROM customercard.bulk_failures WHERE job = :u_short AND contact_id = :p1), 'cannot be put back: %foreign key%',
    '... and reports the row it cannot put back');

-- ------------------------------------------------------------ errors
SELECT customercard.bulk_enqueue('export', filter => '{}') AS j_export \gset
SELECT throws_ok(format('SELECT customercard.bulk_undo(%s)', :j_export), '22023', NULL, 'an export has nothing to undo');
SELECT throws_ok('SELECT customercard.bulk_undo(-1)', '42704', NULL, 'an unknown job');
SELECT throws_ok('SELECT customercard.bulk_undo(NULL)', '42704', NULL, 'no job');
SELECT is((SELECT count(*) FROM customercard.bulk_jobs WHERE account_id = :acct AND action = 'undo' AND params ->> 'job_id' = :j_export::text),
    0::bigint, 'a refused undo queues nothing');
SELECT customercard.create_account('Other', 'RU', 'RUB') AS other \gset
SET customercard.account_id = :other;
SELECT throws_ok(format('SELECT customercard.bulk_undo(%s)', :j_tag), '42704', NULL, 'another account''s job is not there to undo');
SET customercard.account_id = :acct;
CREATE ROLE cc_undo_reader IN ROLE customercard_reader;
SELECT customercard.bind_role('cc_undo_reader', :acct);
SET ROLE cc_undo_reader;
SELECT throws_ok(format('SELECT customercard.bulk_undo(%s)', :j_tag), '42501', NULL, 'a reader may not undo jobs');
RESET ROLE;
-- the journal is the extension's word: what an undo puts back (dates,
-- authors, values) comes from rows no role of an account writes
CREATE ROLE cc_undo_manager IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_undo_manager', :acct);
SET ROLE cc_undo_manager;
SELECT throws_ok(format($$INSERT INTO customercard.bulk_job_journal (job_id, contact_id, tbl, row_key, before)
                          VALUES (%s, %s, 'contact_tags', %s, '{"added_by": "manager:ghost"}')$$, :j_tag, :p1, :promo),
    '42501', NULL, 'a manager cannot write an undo journal row ...');
SELECT throws_ok(format($$UPDATE customercard.bulk_job_journal SET before = '{"added_by": "manager:ghost"}' WHERE job_id = %s$$, :j_tag),
    '42501', NULL, '... nor change one');
RESET ROLE;

-- ------------------------------------------------------------ the journal goes with its job
SELECT customercard.bulk_undo(:j_tag) AS u_pending \gset
UPDATE customercard.bulk_jobs SET finished_at = now() - interval '40 days' WHERE account_id = :acct AND status <> 'queued';
SELECT ok(customercard.bulk_prune() > 0, 'bulk_prune deletes old jobs ...');
SELECT is((SELECT count(*) FROM customercard.bulk_job_journal j WHERE j.account_id = :acct
            AND NOT EXISTS (SELECT 1 FROM customercard.bulk_jobs b WHERE b.account_id = j.account_id AND b.job_id = j.job_id)),
    0::bigint, '... with their journals');
SELECT is((SELECT count(*) FROM customercard.bulk_job_journal WHERE account_id = :acct AND job_id = :j_tag), 15::bigint,
    '... but a job an undo still waits for stays, journal and all');
SELECT tap.run_job(:acct, :u_pending);
SELECT is((SELECT status FROM customercard.bulk_progress WHERE job = :u_pending), 'done', 'and that undo runs');

SELECT * FROM finish();
ROLLBACK;
