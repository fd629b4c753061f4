-- ===================================================================
-- 48_citus.sql: scale-out on Citus (new in 0.2).  distribute_on_citus()
-- turns the one-node schema into a distributed one, by account_id:
-- accounts and role_bindings become reference tables (every node reads
-- tenancy locally), every other table is distributed colocated with
-- contacts.  Superusers only (nothing is granted).
-- ===================================================================

-- This node's share of every sequence of the extension: the coordinator
-- (group 0) keeps 1 .. 2^48 - 1, a worker of group g takes g * 2^48 ..
-- (g + 1) * 2^48 - 1, so rows written on workers (log rows, ledger rows)
-- never take an id another node gives.  Run on every node by
-- distribute_on_citus(); a value already past the range start is kept.
CREATE FUNCTION customercard.citus_sequence_ranges() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g bigint := (SELECT groupid FROM pg_catalog.pg_dist_local_group);
    lo bigint;
    hi bigint;
    s record;
    n integer := 0;
BEGIN
    -- this node's own sequences only: Citus would otherwise send the change on
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    lo := CASE WHEN g = 0 THEN 1 ELSE g * (1::bigint << 48) END;
    hi := (g + 1) * (1::bigint << 48) - 1;
    FOR s IN SELECT c.relname, q.last_value
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_sequences q
                 ON q.schemaname OPERATOR(pg_catalog.=) 'customercard' AND q.sequencename OPERATOR(pg_catalog.=) c.relname
              WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'S'
    LOOP
        EXECUTE pg_catalog.format('ALTER SEQUENCE customercard.%I MINVALUE %s MAXVALUE %s START WITH %s', s.relname, lo, hi, lo)
                || CASE WHEN s.last_value IS NULL OR s.last_value < lo
                        THEN pg_catalog.format(' RESTART WITH %s', lo) ELSE '' END;
        n := n + 1;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.citus_sequence_ranges() IS
    'Give this Citus node its own range of every customercard sequence (group g: g * 2^48 ...); run on every node by distribute_on_citus()';

-- One step of distribute_on_citus() on every worker; an error on any of
-- them is an error here.  The commands are this function's own.
CREATE FUNCTION customercard.citus_on_workers(step text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    command text := CASE step
        WHEN 'sequence_ranges' THEN 'SELECT customercard.citus_sequence_ranges()'
        WHEN 'policies' THEN 'SELECT customercard.citus_node_forms()'
        WHEN 'drop_account_fks' THEN 'SELECT customercard.citus_drop_account_fks()'
        WHEN 'shard_grants' THEN 'SELECT customercard.citus_shard_grants()' END;
    r record;
BEGIN
    IF command IS NULL THEN
        RAISE EXCEPTION 'unknown step "%" of distribute_on_citus()', step USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR r IN SELECT * FROM pg_catalog.run_command_on_workers(command) LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION 'on worker %:%: %', r.nodename, r.nodeport, r.result
                USING ERRCODE = 'external_routine_exception', DETAIL = 'The command was: ' || command;
        END IF;
    END LOOP;
END
$$;

-- INSERT on this node's shards for the roles that may insert into their
-- table.  The tables grant INSERT on every column but the system-set ones
-- (grant_writes()), and those are checked where the statement is planned;
-- but Citus writes a row into a shard with every column named, the
-- defaults' values included, so the shards need INSERT on all of them.
-- Run on every node by distribute_on_citus() (again after shards move).
CREATE FUNCTION customercard.citus_shard_grants() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR r IN SELECT DISTINCT pg_catalog.to_regclass(pg_catalog.format('%I.%I', ns.nspname, c.relname OPERATOR(pg_catalog.||) '_' OPERATOR(pg_catalog.||) s.shardid)) AS shard,
                    x.grantee::regrole AS grantee
               FROM pg_catalog.pg_dist_shard s
               JOIN pg_catalog.pg_dist_placement pl ON pl.shardid OPERATOR(pg_catalog.=) s.shardid
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid
               JOIN pg_catalog.pg_namespace ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attacl IS NOT NULL
              CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) x
              WHERE ns.nspname OPERATOR(pg_catalog.=) 'customercard'
                AND pl.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)
                AND x.privilege_type OPERATOR(pg_catalog.=) 'INSERT' LOOP
        CONTINUE WHEN r.shard IS NULL;
        EXECUTE pg_catalog.format('GRANT INSERT ON %s TO %s', r.shard, r.grantee);
        n := n + 1;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;

-- The first distribution's part of that: Citus gives the new shards the
-- table's grants, so for the while the roles that insert into a table also
-- hold INSERT on its system-set columns (widen true), and lose it again on
-- this node's table once the shards exist (widen false).
CREATE FUNCTION customercard.citus_widen_inserts(widen boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR r IN SELECT DISTINCT s.tbl, s.col, x.grantee::regrole AS grantee
               FROM customercard.system_set_columns() s
               JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) s.tbl AND a.attacl IS NOT NULL
              CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) x
              WHERE x.privilege_type OPERATOR(pg_catalog.=) 'INSERT' LOOP
        IF widen THEN
            EXECUTE pg_catalog.format('GRANT INSERT (%I) ON %s TO %s', r.col, r.tbl, r.grantee);
        ELSE
            EXECUTE pg_catalog.format('REVOKE INSERT (%I) ON %s FROM %s', r.col, r.tbl, r.grantee);
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
END
$$;

-- The foreign keys to accounts, dropped while accounts becomes a reference
-- table (Citus would otherwise convert the tables around it, views and all).
CREATE FUNCTION customercard.citus_drop_account_fks() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY customercard.citus_account_fk_tables() LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I DROP CONSTRAINT IF EXISTS %I', t, t || '_account_id_fkey');
    END LOOP;
END
$$;

CREATE FUNCTION customercard.citus_account_fk_tables() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$ SELECT ARRAY['managers', 'role_bindings', 'contacts'] $$;

-- The functions that do the work of one call in one account, over many
-- tables (merge, unmerge, forget, archiving the log, upsert, log_event, a
-- bulk job's batch, whose statements journal their changes):
-- on a cluster each call runs on the node
-- holding the account's shards, as one local piece of the transaction
-- (Citus's delegated distributed functions, forced so that it holds inside
-- the public function and a transaction block).  There the append-only
-- switch, the log buffer and the locks are that backend's own.  Their
-- first argument is the account.
CREATE FUNCTION customercard.citus_delegated() RETURNS regprocedure[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['customercard.merge_apply(bigint, bigint, bigint, text[])',
                 'customercard.unmerge_apply(bigint, bigint)',
                 'customercard.forget_apply(bigint, bigint)',
                 'customercard.archive_action_log_of(bigint, timestamptz)',
                 'customercard.upsert_contact_in(bigint, jsonb)',
                 'customercard.log_event_in(bigint, bigint, text, jsonb)',
                 'customercard.bulk_batch_apply(bigint, bigint, bigint[])']::regprocedure[]
$$;

CREATE FUNCTION customercard.account_is_here(account_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'account_is_here' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.account_is_here(bigint) IS
    'Whether this node holds the account''s rows: always on one node; on Citus, where its shards are';

CREATE FUNCTION customercard.citus_distributed() RETURNS boolean
    AS 'MODULE_PATHNAME', 'citus_distributed' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.citus_distributed() IS
    'Whether distribute_on_citus() has distributed the schema (false on one node)';

-- First step of a citus_delegated() function (and of one in C): it works on the node of
-- the account.  Elsewhere Citus did not delegate the call (see
-- docs/scaling.md), and its statements would be refused or, for the
-- append-only rows, meet a guard whose switch is in another backend.
CREATE FUNCTION customercard.assert_account_here(acct bigint, what text) RETURNS void
    AS 'MODULE_PATHNAME', 'assert_account_here' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- Distribute the schema on a Citus cluster, from the coordinator.  Running
-- it again changes nothing (and gives a worker added since its sequence
-- range).  Returns the tables it distributed.
CREATE FUNCTION customercard.distribute_on_citus() RETURNS SETOF regclass
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
    n integer;
    bindings jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
        RAISE EXCEPTION 'Citus is not installed in database "%"', pg_catalog.current_database()
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'On a Citus coordinator: CREATE EXTENSION citus; add the workers (citus_add_node), then CREATE EXTENSION customercard and SELECT customercard.distribute_on_citus().';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'distribute_on_citus() runs on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Connect to the coordinator of the cluster and call it there.';
    END IF;
    -- on every node (the database settings Citus sends on itself; the rest on
    -- this node and then each worker, again for a worker added since): the
    -- extension's triggers run on the shards,
    -- SET LOCAL of the account and the actor reaches the workers, each node
    -- has its own range of ids, and the policies take the form Citus accepts
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- foreign keys to reference tables want one connection per node
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', true);
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', pg_catalog.current_database());
    EXECUTE pg_catalog.format('ALTER DATABASE %I SET citus.propagate_set_commands = local', pg_catalog.current_database());
    PERFORM customercard.citus_sequence_ranges();
    PERFORM customercard.citus_node_forms();
    PERFORM customercard.citus_on_workers('sequence_ranges');
    PERFORM customercard.citus_on_workers('policies');

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) 'customercard.contacts'::regclass) THEN
        PERFORM customercard.citus_delegate();
        PERFORM customercard.citus_shard_grants();
        PERFORM customercard.citus_on_workers('shard_grants');
        RETURN;     -- distributed already
    END IF;

    -- foreign keys to accounts wait until accounts is a reference table;
    -- until then Citus would convert the tables around it (and the views)
    PERFORM customercard.citus_drop_account_fks();
    PERFORM customercard.citus_on_workers('drop_account_fks');

    -- role_bindings hold role OIDs, which differ per node: copied in binary
    -- they would name other roles on the workers, so they are inserted again
    -- as role names once the table is a reference table
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(b.account_id, b.role::text, b.bound_at, b.bound_by))
      INTO bindings FROM customercard.role_bindings b;
    DELETE FROM customercard.role_bindings;

    ALTER TABLE customercard.accounts DISABLE TRIGGER accounts_restore_default;
    PERFORM pg_catalog.create_reference_table('customercard.accounts');
    ALTER TABLE customercard.accounts ENABLE TRIGGER accounts_restore_default;
    PERFORM pg_catalog.create_reference_table('customercard.role_bindings');
    RETURN NEXT 'customercard.accounts'::regclass;
    RETURN NEXT 'customercard.role_bindings'::regclass;

    PERFORM customercard.citus_widen_inserts(true);
    -- every other table by account_id, colocated, in foreign-key order;
    -- managers first, as contacts refer to it
    PERFORM pg_catalog.create_distributed_table('customercard.managers', 'account_id', colocate_with => 'none');
    RETURN NEXT 'customercard.managers'::regclass;
    LOOP
        n := 0;
        FOR t IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
                  WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) c.oid)
                    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                                     WHERE f.conrelid OPERATOR(pg_catalog.=) c.oid AND f.contype OPERATOR(pg_catalog.=) 'f'
                                       AND f.confrelid OPERATOR(pg_catalog.<>) c.oid
                                       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p
                                                        WHERE p.logicalrelid OPERATOR(pg_catalog.=) f.confrelid))
                  ORDER BY c.relname
        LOOP
            PERFORM pg_catalog.create_distributed_table(t.rel, 'account_id', colocate_with => 'customercard.managers');
            RETURN NEXT t.rel;
            n := n + 1;
        END LOOP;
        EXIT WHEN n = 0;
    END LOOP;
    -- the rows copied into the shards are the data now; the coordinator's
    -- local copies go (past the append-only guards: nothing is lost, the
    -- shards hold every row)
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
    FOR t IN SELECT p.logicalrelid AS rel FROM pg_catalog.pg_dist_partition p
              WHERE p.logicalrelid::text LIKE 'customercard.%' LOOP
        PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.rel);
    END LOOP;
    PERFORM pg_catalog.set_config('session_replication_role', 'origin', true);

    FOR t IN SELECT x AS tbl FROM pg_catalog.unnest(customercard.citus_account_fk_tables()) x LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I ADD CONSTRAINT %I FOREIGN KEY (account_id) REFERENCES customercard.accounts',
                                  t.tbl, t.tbl || '_account_id_fkey');
    END LOOP;
    FOR t IN SELECT (b ->> 0)::bigint AS account_id, b ->> 1 AS role, (b ->> 2)::timestamptz AS bound_at, b ->> 3 AS bound_by
               FROM pg_catalog.jsonb_array_elements(coalesce(bindings, '[]')) b LOOP
        EXECUTE pg_catalog.format('INSERT INTO customercard.role_bindings (account_id, role, bound_at, bound_by) VALUES (%s, %L::regrole, %L, %L)',
                                  t.account_id, t.role, t.bound_at, t.bound_by);
    END LOOP;
    PERFORM customercard.citus_widen_inserts(false);
    PERFORM customercard.citus_delegate();
END
$$;

COMMENT ON FUNCTION customercard.distribute_on_citus() IS
    'On a Citus coordinator: make accounts and role_bindings reference tables and distribute every other table by account_id, colocated with contacts; again, it changes nothing';

-- Make citus_delegated() distributed functions, by their account argument,
-- colocated with contacts (again after an update that replaced them).
CREATE FUNCTION customercard.citus_delegate() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    f regprocedure;
BEGIN
    FOREACH f IN ARRAY customercard.citus_delegated() LOOP
        PERFORM pg_catalog.create_distributed_function(f, 'acct', colocate_with => 'customercard.contacts',
                                                       force_delegation => true);
    END LOOP;
END
$$;

-- This node's objects in the forms Citus accepts: the row-level security
-- policies call the account function in the qual, not in a sub-select, and
-- not as an equality (see below); card_json is planned at each call.  Run on every node by
-- distribute_on_citus().
CREATE FUNCTION customercard.citus_node_forms() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t record;
    n integer := 0;
BEGIN
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
    FOR t IN SELECT p.polrelid::regclass AS rel FROM pg_catalog.pg_policy p
              WHERE p.polname OPERATOR(pg_catalog.=) 'account_isolation'
                AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) OPERATOR(pg_catalog.~) 'SELECT'
                AND p.polrelid IN (SELECT c.oid FROM pg_catalog.pg_class c
                                    WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace)
    LOOP
        -- = ANY (ARRAY[...]) keeps the account out of the planner's equivalence
        -- classes: an equality there makes PostgreSQL 15 derive a
        -- pseudo-constant qual for outer joins, which Citus refuses
        EXECUTE pg_catalog.format('ALTER POLICY account_isolation ON %s USING (%s) WITH CHECK (%s)', t.rel,
                                  'account_id OPERATOR(pg_catalog.=) ANY (ARRAY[customercard.current_account_id()])',
                                  'account_id OPERATOR(pg_catalog.=) customercard.current_account_id()');
        n := n + 1;
    END LOOP;
    -- card_json plans at each call on a cluster: Citus cannot plan the
    -- generic plan of its statement (parameters in its sub-queries); and it
    -- reads as the caller, under the policies: its shard queries run on the
    -- workers as the role that sent them, where the owner would act in no
    -- account
    ALTER FUNCTION customercard.card_json(bigint) RESET plan_cache_mode SECURITY INVOKER;
    -- and so does upsert_contact_fields: in a delegated call Citus checks
    -- that each statement names the call's account, which a generic plan
    -- leaves a parameter
    ALTER FUNCTION customercard.upsert_contact_fields(bigint, bigint[], jsonb[]) RESET plan_cache_mode;
    PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'on', true);
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.citus_node_forms() IS
    'Rewrite the account_isolation policies without a sub-select, card_json''s plan mode and security and upsert_contact_fields'' plan mode, as Citus requires; run on every node by distribute_on_citus()';
