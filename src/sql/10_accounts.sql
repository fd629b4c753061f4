-- ===================================================================
-- 10_accounts.sql: accounts (the businesses), their managers, and which
-- database roles may act in which account.
-- ===================================================================

CREATE TABLE customercard.accounts (
    account_id      bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (pg_catalog.length(name) BETWEEN 1 AND 200),
    default_region  text CHECK (default_region ~ '^[A-Z]{2}$'),
    currency        text NOT NULL DEFAULT 'RUB' CHECK (currency ~ '^[A-Z]{3}$'),
    is_default      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- the default traffic source: imported rows without a funnel subscribe
    -- to it (no foreign key: on Citus this is a reference table; set by
    -- set_default_traffic_source(), which checks them)
    default_funnel_id bigint,
    default_lgt_id  bigint,
    CHECK (default_lgt_id IS NULL OR default_funnel_id IS NOT NULL)
);
CREATE UNIQUE INDEX accounts_one_default ON customercard.accounts (is_default) WHERE is_default;
COMMENT ON TABLE customercard.accounts IS 'The businesses whose cards this database keeps; one is the default account';

-- pg_restore loads the dumped default account after CREATE EXTENSION made a
-- fresh one: take over the dumped values instead of failing on the key.
CREATE FUNCTION customercard.accounts_restore_default() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.is_default AND EXISTS (SELECT 1 FROM customercard.accounts a
                                  WHERE a.account_id OPERATOR(pg_catalog.=) NEW.account_id AND a.is_default) THEN
        UPDATE customercard.accounts a
           SET name = NEW.name, default_region = NEW.default_region, currency = NEW.currency,
               created_at = NEW.created_at, updated_at = NEW.updated_at
         WHERE a.account_id OPERATOR(pg_catalog.=) NEW.account_id;
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_restore_default BEFORE INSERT ON customercard.accounts
    FOR EACH ROW EXECUTE FUNCTION customercard.accounts_restore_default();

INSERT INTO customercard.accounts (name, default_region, currency, is_default)
VALUES ('Default', 'RU', 'RUB', true);

CREATE FUNCTION customercard.account_currency() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.currency FROM customercard.accounts a
     WHERE a.account_id OPERATOR(pg_catalog.=) customercard.require_account_id()
$$;
COMMENT ON FUNCTION customercard.account_currency() IS
    'The current account''s main currency: the default currency of orders';

CREATE TABLE customercard.managers (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id() REFERENCES customercard.accounts,
    manager_id  bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(name) BETWEEN 1 AND 200),
    email       text CHECK (email IS NULL OR customercard.normalize_email(email) IS NOT NULL),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, manager_id)
);
COMMENT ON TABLE customercard.managers IS 'Staff of an account: personal managers, task and call owners';

CREATE TABLE customercard.role_bindings (
    account_id  bigint NOT NULL REFERENCES customercard.accounts,
    role        regrole NOT NULL,
    bound_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    bound_by    text NOT NULL DEFAULT customercard.current_actor(),
    PRIMARY KEY (account_id, role)
);
CREATE INDEX role_bindings_role ON customercard.role_bindings (role);
COMMENT ON TABLE customercard.role_bindings IS
    'Which database roles may act in which account; maintained by bind_role() and unbind_role()';

-- Upserts that share an identifier (a channel id, an e-mail, a phone) wait
-- for each other on a row here: identifiers hash into 1,024 slots per
-- account, each slot a row made the first time it is needed.  Row locks,
-- where the advisory locks of 0.1 were: upsert_lock() alone takes them
-- (no role has a right on the table), so a role of another account can
-- neither take nor hold them, and they need no room in the shared lock
-- table however many an import holds until it commits.
CREATE TABLE customercard.upsert_locks (
    account_id  bigint NOT NULL,   -- (no foreign key: upsert_lock() makes rows for the caller's own account only)
    slot        integer NOT NULL CHECK (slot BETWEEN 0 AND 1023),
    PRIMARY KEY (account_id, slot)
);
COMMENT ON TABLE customercard.upsert_locks IS
    'The rows upserts of one identifier serialise on: 1,024 slots per account, made when first needed; locked by upsert_lock() only';

CREATE TRIGGER role_bindings_invalidate AFTER INSERT OR UPDATE OR DELETE ON customercard.role_bindings
    FOR EACH ROW EXECUTE FUNCTION customercard.invalidate_tenancy_cache();
CREATE TRIGGER accounts_invalidate AFTER INSERT OR UPDATE OR DELETE ON customercard.accounts
    FOR EACH ROW EXECUTE FUNCTION customercard.invalidate_tenancy_cache();
