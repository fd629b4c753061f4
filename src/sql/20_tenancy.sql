-- ===================================================================
-- 20_tenancy.sql: accounts and role bindings, row-level security on every
-- table, pg_dump registration and updated_at stamping.  Runs after every
-- table exists.  (The four roles' privileges are in 99_grants.sql.)
-- ===================================================================

CREATE FUNCTION customercard.calling_role() RETURNS regrole
    AS 'MODULE_PATHNAME', 'calling_role'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.calling_role() IS
    'The role judged for tenancy: inside customercard''s SECURITY DEFINER functions the caller, else current_user';

-- Raise 42501 unless the caller is an admin who may act in the account.
CREATE FUNCTION customercard.assert_account_admin(account_id bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller regrole := customercard.calling_role();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customercard.accounts a WHERE a.account_id OPERATOR(pg_catalog.=) assert_account_admin.account_id) THEN
        RAISE EXCEPTION 'account % does not exist', assert_account_admin.account_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'List the accounts with SELECT * FROM customercard.accounts; members of customercard_app create them with customercard.create_account().';
    END IF;
    IF NOT pg_catalog.pg_has_role(caller::oid, 'customercard_admin', 'USAGE')
       OR NOT customercard.account_may_act(assert_account_admin.account_id) THEN
        RAISE EXCEPTION 'role "%" is not an admin of account %', caller, assert_account_admin.account_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only members of customercard_admin bound to the account (or members of customercard_app) manage its role bindings.';
    END IF;
END
$$;

-- Does caller administer role (may grant its membership): a superuser; a
-- CREATEROLE role, for a role that is not a superuser (PostgreSQL 15's
-- rule); a role holding it WITH ADMIN OPTION.
CREATE FUNCTION customercard.administers(caller regrole, role regrole) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.rolsuper
           OR (c.rolcreaterole AND NOT r.rolsuper)
           OR pg_catalog.pg_has_role(caller::oid, role::oid, 'MEMBER WITH ADMIN OPTION')
      FROM pg_catalog.pg_roles c, pg_catalog.pg_roles r
     WHERE c.oid OPERATOR(pg_catalog.=) caller::oid AND r.oid OPERATOR(pg_catalog.=) role::oid
$$;

CREATE FUNCTION customercard.bind_role(role regrole, account_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL OR account_id IS NULL THEN
        RAISE EXCEPTION 'bind_role needs a role and an account'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.bind_role(''role_name'', account_id).';
    END IF;
    PERFORM customercard.assert_account_admin(account_id);
    -- a binding lets the role and all its members act in the account: only
    -- a role the caller administers, never a shared role of the extension
    IF (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) role::oid)
       OPERATOR(pg_catalog.=) ANY (ARRAY['customercard_reader', 'customercard_manager', 'customercard_admin', 'customercard_app']) THEN
        RAISE EXCEPTION 'role % is shared by every account and cannot be bound to one', role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Bind the account''s own roles (a group role of its staff, or their logins).';
    END IF;
    IF NOT customercard.administers(customercard.calling_role(), role) THEN
        RAISE EXCEPTION 'role % may not bind role %: it does not administer it', customercard.calling_role(), role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Bind roles you created or hold WITH ADMIN OPTION; a superuser can grant that.';
    END IF;
    INSERT INTO customercard.role_bindings (account_id, role)
    VALUES (bind_role.account_id, bind_role.role)
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION customercard.bind_role(regrole, bigint) IS
    'Let a role (and its members) act in an account; a role may be bound to several accounts';

CREATE FUNCTION customercard.unbind_role(role regrole, account_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    removed integer;
BEGIN
    IF role IS NULL OR account_id IS NULL THEN
        RAISE EXCEPTION 'unbind_role needs a role and an account'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.unbind_role(''role_name'', account_id).';
    END IF;
    PERFORM customercard.assert_account_admin(account_id);
    DELETE FROM customercard.role_bindings b
     WHERE b.account_id OPERATOR(pg_catalog.=) unbind_role.account_id
       AND b.role OPERATOR(pg_catalog.=) unbind_role.role;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed > 0;
END
$$;
COMMENT ON FUNCTION customercard.unbind_role(regrole, bigint) IS
    'Take back a role''s binding to an account; true when there was one';

CREATE FUNCTION customercard.create_account(name text, default_region text DEFAULT NULL, currency text DEFAULT 'RUB')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    caller regrole := customercard.calling_role();
    new_id bigint;
BEGIN
    IF NOT pg_catalog.pg_has_role(caller::oid, 'customercard_app', 'USAGE') THEN
        RAISE EXCEPTION 'role "%" may not create accounts', caller
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Accounts are created by members of customercard_app (the application''s role) or a superuser.';
    END IF;
    IF default_region IS NOT NULL AND default_region !~ '^[A-Za-z]{2}$' THEN
        RAISE EXCEPTION 'invalid default region "%"', default_region
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an ISO 3166 alpha-2 code such as ''RU'' or ''DE''.';
    END IF;
    IF currency IS NULL OR currency !~ '^[A-Za-z]{3}$' THEN
        RAISE EXCEPTION 'invalid currency "%"', currency
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an ISO 4217 code such as ''RUB'', ''EUR'' or ''USD''.';
    END IF;
    INSERT INTO customercard.accounts (name, default_region, currency)
    VALUES (create_account.name, pg_catalog.upper(create_account.default_region), pg_catalog.upper(create_account.currency))
    RETURNING account_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION customercard.create_account(text, text, text) IS
    'Create an account (a business); for members of customercard_app';

-- Every table: RLS, pg_dump registration; updated_at stamping where present.
DO $setup$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname,
               EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attname OPERATOR(pg_catalog.=) 'updated_at'
                          AND NOT a.attisdropped) AS has_updated_at
          FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
         ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('ALTER TABLE customercard.%I ENABLE ROW LEVEL SECURITY', t.relname);
        IF t.relname NOT IN ('accounts', 'role_bindings') THEN
            EXECUTE pg_catalog.format(
                'CREATE POLICY account_isolation ON customercard.%I '
                'USING (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id())) '
                'WITH CHECK (account_id OPERATOR(pg_catalog.=) (SELECT customercard.current_account_id()))', t.relname);
        END IF;
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('customercard.%I', t.relname)::regclass, '');
        IF t.has_updated_at THEN
            EXECUTE pg_catalog.format(
                'CREATE TRIGGER touch_updated_at BEFORE UPDATE ON customercard.%I '
                'FOR EACH ROW EXECUTE FUNCTION customercard.touch_updated_at()', t.relname);
        END IF;
    END LOOP;
    FOR t IN
        SELECT c.relname FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'S'
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(pg_catalog.format('customercard.%I', t.relname)::regclass, '');
    END LOOP;
END
$setup$;

-- A role sees the accounts it may act in; bindings likewise.
CREATE POLICY accounts_visible ON customercard.accounts
    USING (customercard.account_may_act(account_id));
CREATE POLICY role_bindings_visible ON customercard.role_bindings FOR SELECT
    USING (customercard.account_may_act(account_id));
