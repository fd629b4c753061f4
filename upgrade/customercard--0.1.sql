-- customercard install script, concatenated by the Makefile from the files
-- of src/sql in name order.  Edit those files, not the result.
\echo Use "CREATE EXTENSION customercard" to load this file. \quit
-- ===================================================================
-- 01_roles.sql: the extension's roles (cluster-wide, so created only when
-- missing).  Each includes the one before: reader < manager < admin < app.
-- ===================================================================
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['customercard_reader', 'customercard_manager',
                             'customercard_admin', 'customercard_app']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

DO $grants$
BEGIN
    IF NOT pg_catalog.pg_has_role('customercard_manager', 'customercard_reader', 'MEMBER') THEN
        GRANT customercard_reader TO customercard_manager;
    END IF;
    IF NOT pg_catalog.pg_has_role('customercard_admin', 'customercard_manager', 'MEMBER') THEN
        GRANT customercard_manager TO customercard_admin;
    END IF;
    IF NOT pg_catalog.pg_has_role('customercard_app', 'customercard_admin', 'MEMBER') THEN
        GRANT customercard_admin TO customercard_app;
    END IF;
END
$grants$;

GRANT USAGE ON SCHEMA customercard TO customercard_reader;
-- ===================================================================
-- 02_core_functions.sql: C functions the schema is built on.
-- ===================================================================

CREATE FUNCTION customercard.current_account_id() RETURNS bigint
    AS 'MODULE_PATHNAME', 'current_account_id'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.current_account_id() IS
    'The account this statement acts in (setting customercard.account_id, else the role''s only bound account, else for privileged roles the default account); NULL when the role may not act there';

CREATE FUNCTION customercard.require_account_id() RETURNS bigint
    AS 'MODULE_PATHNAME', 'require_account_id'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.require_account_id() IS
    'Like current_account_id(), but an error that says why when the role may not act in the account; the default of every account_id column';

CREATE FUNCTION customercard.account_may_act(account_id bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'account_may_act'
    LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.account_may_act(bigint) IS
    'Whether the acting role may act in the account: bound to it, or privileged (customercard_app, superuser)';

CREATE FUNCTION customercard.current_actor() RETURNS text
    AS 'MODULE_PATHNAME', 'current_actor'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION customercard.current_actor() IS
    'Who makes the current change: the setting customercard.actor, or ''system'' when unset';

CREATE FUNCTION customercard.normalize_email(text) RETURNS text
    AS 'MODULE_PATHNAME', 'normalize_email'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.normalize_email(text) IS
    'An e-mail address trimmed, unwrapped from "Name <...>" or mailto:, its domain lower-cased; NULL when the text is not one address';

CREATE FUNCTION customercard.email_key(text) RETURNS text
    AS 'MODULE_PATHNAME', 'email_key'
    LANGUAGE C IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
COMMENT ON FUNCTION customercard.email_key(text) IS
    'The lower-cased form e-mails are matched by; leakproof, so lookups by it use their index under row-level security';

CREATE FUNCTION customercard.is_valid_timezone(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'is_valid_timezone'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.is_valid_timezone(text) IS
    'Whether the text names a time zone PostgreSQL knows, such as ''Europe/Moscow''';

CREATE FUNCTION customercard.is_log_event(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'is_log_event'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.is_log_event(text) IS
    'Whether the text is an action log event kind (the CHECK of action_log.event; log_event() lists them in its hint)';

-- trigger functions
CREATE FUNCTION customercard.refuse_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'refuse_change' LANGUAGE C;
CREATE FUNCTION customercard.check_comment() RETURNS trigger
    AS 'MODULE_PATHNAME', 'check_comment' LANGUAGE C;
CREATE FUNCTION customercard.touch_updated_at() RETURNS trigger
    AS 'MODULE_PATHNAME', 'touch_updated_at' LANGUAGE C;
CREATE FUNCTION customercard.invalidate_tenancy_cache() RETURNS trigger
    AS 'MODULE_PATHNAME', 'invalidate_tenancy_cache' LANGUAGE C;
CREATE FUNCTION customercard.points_edit_to_ledger() RETURNS trigger
    AS 'MODULE_PATHNAME', 'points_edit_to_ledger' LANGUAGE C;
CREATE FUNCTION customercard.ledger_to_points() RETURNS trigger
    AS 'MODULE_PATHNAME', 'ledger_to_points' LANGUAGE C;
-- ===================================================================
-- 05_phone.sql: the customercard.phone type (SPEC §3).
--
-- Eight bytes, passed by value: the digits of the E.164 number as an int8.
-- Input takes whatever people type and follows libphonenumber (metadata
-- compiled into the module, see tools/phonemeta); output is E.164.
-- ===================================================================

CREATE TYPE customercard.phone;

CREATE FUNCTION customercard.phone_in(cstring) RETURNS customercard.phone
    AS 'MODULE_PATHNAME', 'phone_in' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
CREATE FUNCTION customercard.phone_out(customercard.phone) RETURNS cstring
    AS 'MODULE_PATHNAME', 'phone_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customercard.phone_recv(internal) RETURNS customercard.phone
    AS 'MODULE_PATHNAME', 'phone_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customercard.phone_send(customercard.phone) RETURNS bytea
    AS 'MODULE_PATHNAME', 'phone_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE customercard.phone (
    INPUT = customercard.phone_in,
    OUTPUT = customercard.phone_out,
    RECEIVE = customercard.phone_recv,
    SEND = customercard.phone_send,
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double,
    STORAGE = plain,
    CATEGORY = 'U'
);
COMMENT ON TYPE customercard.phone IS
    'A phone number in E.164 (8 bytes); input in any format people type, national numbers in the region of customercard.default_region or the account';

-- Comparison is int8's: same bytes, same order, same hash.  LEAKPROOF, so
-- that row-level security does not stop index use.
CREATE FUNCTION customercard.phone_eq(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_ne(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_lt(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_le(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8le' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_gt(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_ge(customercard.phone, customercard.phone) RETURNS boolean
    AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_cmp(customercard.phone, customercard.phone) RETURNS integer
    AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_sortsupport(internal) RETURNS void
    AS 'btint8sortsupport' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customercard.phone_hash(customercard.phone) RETURNS integer
    AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;
CREATE FUNCTION customercard.phone_hash_extended(customercard.phone, bigint) RETURNS bigint
    AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT LEAKPROOF PARALLEL SAFE;

CREATE OPERATOR customercard.= (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_eq, COMMUTATOR = OPERATOR(customercard.=),
    NEGATOR = OPERATOR(customercard.<>), RESTRICT = eqsel, JOIN = eqjoinsel,
    HASHES, MERGES);
CREATE OPERATOR customercard.<> (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_ne, COMMUTATOR = OPERATOR(customercard.<>),
    NEGATOR = OPERATOR(customercard.=), RESTRICT = neqsel, JOIN = neqjoinsel);
CREATE OPERATOR customercard.< (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_lt, COMMUTATOR = OPERATOR(customercard.>),
    NEGATOR = OPERATOR(customercard.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR customercard.<= (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_le, COMMUTATOR = OPERATOR(customercard.>=),
    NEGATOR = OPERATOR(customercard.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR customercard.> (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_gt, COMMUTATOR = OPERATOR(customercard.<),
    NEGATOR = OPERATOR(customercard.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR customercard.>= (
    LEFTARG = customercard.phone, RIGHTARG = customercard.phone,
    FUNCTION = customercard.phone_ge, COMMUTATOR = OPERATOR(customercard.<=),
    NEGATOR = OPERATOR(customercard.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);

CREATE OPERATOR CLASS customercard.phone_ops DEFAULT FOR TYPE customercard.phone USING btree AS
    OPERATOR 1 customercard.<,
    OPERATOR 2 customercard.<=,
    OPERATOR 3 customercard.=,
    OPERATOR 4 customercard.>=,
    OPERATOR 5 customercard.>,
    FUNCTION 1 customercard.phone_cmp(customercard.phone, customercard.phone),
    FUNCTION 2 customercard.phone_sortsupport(internal);
CREATE OPERATOR CLASS customercard.phone_hash_ops DEFAULT FOR TYPE customercard.phone USING hash AS
    OPERATOR 1 customercard.=,
    FUNCTION 1 customercard.phone_hash(customercard.phone),
    FUNCTION 2 customercard.phone_hash_extended(customercard.phone, bigint);

-- text in, text out: through the type's input and output
CREATE CAST (text AS customercard.phone) WITH INOUT AS ASSIGNMENT;
CREATE CAST (varchar AS customercard.phone) WITH INOUT AS ASSIGNMENT;
CREATE CAST (customercard.phone AS text) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION customercard.normalize_phone(input text, region text DEFAULT NULL) RETURNS text
    AS 'MODULE_PATHNAME', 'normalize_phone' LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION customercard.normalize_phone(text, text) IS
    'E.164 text of a valid phone number typed in any format, else NULL (never an error); national numbers are read in region, or customercard.default_region, or the account''s default_region';

CREATE FUNCTION customercard.phone_region(customercard.phone) RETURNS text
    AS 'MODULE_PATHNAME', 'phone_region' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_region(customercard.phone) IS
    'The region (ISO 3166 alpha-2) a number belongs to, as libphonenumber decides it; 001 for non-geographic numbers';

CREATE FUNCTION customercard.format_phone(customercard.phone, style text) RETURNS text
    AS 'MODULE_PATHNAME', 'format_phone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.format_phone(customercard.phone, text) IS
    'A number formatted as libphonenumber does: e164, international, national or rfc3966';

CREATE FUNCTION customercard.phone_metadata_version() RETURNS text
    AS 'MODULE_PATHNAME', 'phone_metadata_version' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_metadata_version() IS
    'The libphonenumber release whose numbering metadata is compiled in';
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
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
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

CREATE TRIGGER role_bindings_invalidate AFTER INSERT OR UPDATE OR DELETE ON customercard.role_bindings
    FOR EACH ROW EXECUTE FUNCTION customercard.invalidate_tenancy_cache();
CREATE TRIGGER accounts_invalidate AFTER INSERT OR UPDATE OR DELETE ON customercard.accounts
    FOR EACH ROW EXECUTE FUNCTION customercard.invalidate_tenancy_cache();
-- ===================================================================
-- 11_contacts.sql: the contact and its personal data: phones, e-mails,
-- addresses, and the balance ledger.
-- ===================================================================

CREATE TABLE customercard.contacts (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id() REFERENCES customercard.accounts,
    contact_id      bigserial NOT NULL,
    name            text CHECK (pg_catalog.length(name) <= 500),
    first_name      text CHECK (pg_catalog.length(first_name) <= 200),
    last_name       text CHECK (pg_catalog.length(last_name) <= 200),
    middle_name     text CHECK (pg_catalog.length(middle_name) <= 200),
    nickname        text CHECK (pg_catalog.length(nickname) <= 200),
    avatar_url      text,
    gender          text CHECK (gender IN ('male', 'female')),
    gender_source   text CHECK (gender_source IN ('channel', 'manual')),
    timezone        text CHECK (customercard.is_valid_timezone(timezone)),
    country         text,
    city            text,
    ip              inet,
    note            text,
    manager_id      bigint,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'unsubscribed', 'blacklisted', 'archived')),
    points          bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deleted_at      timestamptz,
    merged_into     bigint,
    forgotten_at    timestamptz,
    PRIMARY KEY (account_id, contact_id),
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    FOREIGN KEY (account_id, merged_into) REFERENCES customercard.contacts,
    CHECK (merged_into IS DISTINCT FROM contact_id),
    CHECK (gender_source IS NULL OR gender IS NOT NULL)
) WITH (fillfactor = 90);     -- room for HOT updates: notes, statuses and points change often
CREATE INDEX contacts_live_created ON customercard.contacts (account_id, created_at DESC, contact_id DESC)
    WHERE merged_into IS NULL AND deleted_at IS NULL;
CREATE INDEX contacts_manager ON customercard.contacts (account_id, manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX contacts_merged_into ON customercard.contacts (account_id, merged_into) WHERE merged_into IS NOT NULL;
-- tombstones and deleted cards by id: bulk jobs look up only these
CREATE INDEX contacts_gone ON customercard.contacts (account_id, contact_id) WHERE merged_into IS NOT NULL OR deleted_at IS NOT NULL;
COMMENT ON TABLE customercard.contacts IS
    'One person as a business knows them; deleted_at marks a deleted card, merged_into a tombstone of a merge';

CREATE TABLE customercard.phones (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    phone_id    bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    phone       customercard.phone NOT NULL,      -- E.164, 8 bytes
    raw         text,
    kind        text NOT NULL DEFAULT 'mobile' CHECK (kind IN ('mobile', 'work', 'home', 'other')),
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, phone_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    UNIQUE (account_id, contact_id, phone)
);
CREATE UNIQUE INDEX phones_one_primary ON customercard.phones (account_id, contact_id) WHERE is_primary;
CREATE INDEX phones_lookup ON customercard.phones (account_id, phone);
COMMENT ON TABLE customercard.phones IS 'Phone numbers of a contact: the number beside the raw text as typed';

CREATE TABLE customercard.emails (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    email_id    bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    email       text NOT NULL CHECK (customercard.normalize_email(email) OPERATOR(pg_catalog.=) email),
    raw         text,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, email_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE UNIQUE INDEX emails_once_per_contact ON customercard.emails (account_id, contact_id, customercard.email_key(email));
CREATE UNIQUE INDEX emails_one_primary ON customercard.emails (account_id, contact_id) WHERE is_primary;
CREATE INDEX emails_lookup ON customercard.emails (account_id, customercard.email_key(email));
COMMENT ON TABLE customercard.emails IS 'E-mail addresses of a contact: normalized beside the raw text as typed';

CREATE TABLE customercard.addresses (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    address_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    kind        text NOT NULL DEFAULT 'postal' CHECK (kind IN ('postal', 'delivery')),
    country     text,
    region      text,
    city        text,
    zip         text,
    line        text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, address_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX addresses_contact ON customercard.addresses (account_id, contact_id);
COMMENT ON TABLE customercard.addresses IS 'Postal and delivery addresses (filled from orders of physical goods)';

CREATE TABLE customercard.balance_transactions (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    transaction_id  bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    currency        text NOT NULL CHECK (currency IN ('bonus', 'coins', 'deposit', 'points')),
    amount          numeric(14, 2) NOT NULL CHECK (amount <> 0),
    reason          text NOT NULL CHECK (pg_catalog.length(reason) BETWEEN 1 AND 500),
    actor           text NOT NULL DEFAULT customercard.current_actor(),
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, transaction_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    CHECK (currency <> 'points' OR amount OPERATOR(pg_catalog.=) pg_catalog.trunc(amount))
);
CREATE INDEX balance_transactions_contact ON customercard.balance_transactions (account_id, contact_id, currency);
COMMENT ON TABLE customercard.balance_transactions IS
    'The internal balance ledger (bonus, coins, deposit, points); a contact''s balances are the sums, contacts.points follows the points rows';

CREATE TRIGGER contacts_points_to_ledger BEFORE UPDATE OF points ON customercard.contacts
    FOR EACH ROW EXECUTE FUNCTION customercard.points_edit_to_ledger();
CREATE TRIGGER balance_transactions_to_points AFTER INSERT ON customercard.balance_transactions
    FOR EACH ROW EXECUTE FUNCTION customercard.ledger_to_points();
-- ===================================================================
-- 12_channels.sql: messenger and e-mail/SMS channels, tags, custom fields,
-- funnels with their blocks and lead-generation tools, subscriptions.
-- ===================================================================

CREATE TABLE customercard.channels (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    channel_id      bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('telegram', 'whatsapp', 'viber', 'vk', 'ok', 'facebook',
                                                  'instagram', 'max', 'avito', 'web', 'email', 'sms', 'other')),
    connection      text,           -- the bot / connection the contact came through
    external_id     text NOT NULL CHECK (pg_catalog.length(external_id) BETWEEN 1 AND 200),   -- social_id
    username        text,
    subscribed_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, channel_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    UNIQUE NULLS NOT DISTINCT (account_id, kind, connection, external_id)
);
CREATE INDEX channels_contact ON customercard.channels (account_id, contact_id);
CREATE INDEX channels_external_id ON customercard.channels (account_id, external_id);
-- the audience's messenger filter
CREATE INDEX channels_kind ON customercard.channels (account_id, kind, contact_id) WHERE archived_at IS NULL;
COMMENT ON TABLE customercard.channels IS
    'Messenger, e-mail and SMS accounts of a contact: kind, the connection (bot) it came through, its external id (social_id)';

CREATE TABLE customercard.tags (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    tag_id      bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, tag_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.tags IS 'Tags of an account';

CREATE TABLE customercard.contact_tags (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_id  bigint NOT NULL,
    tag_id      bigint NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    added_by    text NOT NULL DEFAULT customercard.current_actor(),
    PRIMARY KEY (account_id, contact_id, tag_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, tag_id) REFERENCES customercard.tags
);
CREATE INDEX contact_tags_tag ON customercard.contact_tags (account_id, tag_id, contact_id);
COMMENT ON TABLE customercard.contact_tags IS 'Tags on contacts, with when and by whom';

CREATE TABLE customercard.custom_fields (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    field_id    bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    kind        text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'number', 'date', 'boolean', 'url')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, field_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.custom_fields IS 'Definitions of an account''s custom contact fields';

CREATE TABLE customercard.custom_values (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_id  bigint NOT NULL,
    field_id    bigint NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, contact_id, field_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, field_id) REFERENCES customercard.custom_fields
);
CREATE INDEX custom_values_field ON customercard.custom_values (account_id, field_id);
COMMENT ON TABLE customercard.custom_values IS 'Custom field values of contacts';

CREATE TABLE customercard.funnels (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    funnel_id   bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at timestamptz,
    PRIMARY KEY (account_id, funnel_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.funnels IS 'Funnels (tunnels): the automated message chains contacts subscribe to';

CREATE TABLE customercard.funnel_blocks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    block_id    bigserial NOT NULL,
    funnel_id   bigint NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'delay', 'condition', 'action', 'form')),
    position    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, block_id),
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels
);
CREATE INDEX funnel_blocks_funnel ON customercard.funnel_blocks (account_id, funnel_id, position);
COMMENT ON TABLE customercard.funnel_blocks IS 'Blocks (steps) of a funnel';

CREATE TABLE customercard.lgts (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    lgt_id      bigserial NOT NULL,
    funnel_id   bigint NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    kind        text NOT NULL DEFAULT 'link' CHECK (kind IN ('link', 'widget', 'landing', 'qr', 'form', 'ad', 'other')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, lgt_id),
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels,
    UNIQUE (account_id, funnel_id, name)
);
COMMENT ON TABLE customercard.lgts IS 'Lead-generation tools (LGT): the entry points that subscribe contacts to a funnel';

CREATE TABLE customercard.subscriptions (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    subscription_id bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    channel_id      bigint,
    funnel_id       bigint NOT NULL,
    lgt_id          bigint,
    block_id        bigint,         -- where in the funnel the contact is now
    subscribed_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    unsubscribed_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, subscription_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, channel_id) REFERENCES customercard.channels,
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels,
    FOREIGN KEY (account_id, lgt_id) REFERENCES customercard.lgts,
    FOREIGN KEY (account_id, block_id) REFERENCES customercard.funnel_blocks,
    UNIQUE NULLS NOT DISTINCT (account_id, contact_id, funnel_id, channel_id),
    CHECK (unsubscribed_at IS NULL OR unsubscribed_at >= subscribed_at)
);
CREATE INDEX subscriptions_funnel ON customercard.subscriptions (account_id, funnel_id, contact_id);
CREATE INDEX subscriptions_lgt ON customercard.subscriptions (account_id, lgt_id, contact_id) WHERE lgt_id IS NOT NULL;
CREATE INDEX subscriptions_channel ON customercard.subscriptions (account_id, channel_id) WHERE channel_id IS NOT NULL;
CREATE INDEX subscriptions_block ON customercard.subscriptions (account_id, block_id) WHERE block_id IS NOT NULL;
COMMENT ON TABLE customercard.subscriptions IS 'A contact''s subscription to a funnel through a channel, with the LGT that brought it';
-- ===================================================================
-- 13_commerce.sql: orders, payments, payouts, sales plans.
-- Money is numeric(14,2) in the order's currency; payments and payouts
-- take their currency from their order.
-- ===================================================================

CREATE TABLE customercard.orders (
    account_id          bigint NOT NULL DEFAULT customercard.require_account_id(),
    order_id            bigserial NOT NULL,
    contact_id          bigint NOT NULL,
    number              text NOT NULL CHECK (pg_catalog.length(number) BETWEEN 1 AND 100),
    offer               text NOT NULL CHECK (pg_catalog.length(offer) BETWEEN 1 AND 500),
    products            text[] NOT NULL DEFAULT '{}',
    amount              numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency            text NOT NULL DEFAULT customercard.account_currency() CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'pending', 'confirmed', 'paid', 'failed', 'refunded', 'cancelled')),
    is_manual           boolean NOT NULL DEFAULT false,
    is_recurring        boolean NOT NULL DEFAULT false,
    payment_error_code  text,
    manager_id          bigint,
    utm_source          text,
    utm_medium          text,
    utm_campaign        text,
    utm_content         text,
    utm_term            text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    paid_at             timestamptz,
    PRIMARY KEY (account_id, order_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    UNIQUE (account_id, number)
);
CREATE INDEX orders_contact ON customercard.orders (account_id, contact_id, created_at DESC);
CREATE INDEX orders_offer ON customercard.orders (account_id, offer, status, contact_id);
CREATE INDEX orders_manager ON customercard.orders (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.orders IS 'Orders (deals): offer, amount, status, UTM marks';

CREATE TABLE customercard.payments (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    payment_id      bigserial NOT NULL,
    order_id        bigint NOT NULL,
    contact_id      bigint NOT NULL,
    amount          numeric(14, 2) NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    method          text,
    error_code      text,
    is_manual       boolean NOT NULL DEFAULT false,
    confirmed_by    bigint,         -- the manager who confirmed a manual payment
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, payment_id),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, confirmed_by) REFERENCES customercard.managers,
    CHECK (status = 'failed' OR error_code IS NULL),
    CHECK (confirmed_by IS NULL OR is_manual)
);
CREATE INDEX payments_order ON customercard.payments (account_id, order_id);
CREATE INDEX payments_contact ON customercard.payments (account_id, contact_id);
CREATE INDEX payments_confirmed_by ON customercard.payments (account_id, confirmed_by) WHERE confirmed_by IS NOT NULL;
COMMENT ON TABLE customercard.payments IS 'Payment attempts of orders: succeeded or failed with an error code; manual ones confirmed by a manager';

CREATE TABLE customercard.payouts (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    payout_id   bigserial NOT NULL,
    order_id    bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('partner', 'call_centre', 'co_author', 'expense', 'refund')),
    amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
    recipient   text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, payout_id),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders
);
CREATE INDEX payouts_order ON customercard.payouts (account_id, order_id);
COMMENT ON TABLE customercard.payouts IS 'Money going out for an order: partner, call-centre and co-author commissions, expenses, refunds';

CREATE TABLE customercard.sales_plans (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    plan_id     bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at timestamptz,
    PRIMARY KEY (account_id, plan_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.sales_plans IS 'Sales plans (pipelines) that contacts are worked through';

CREATE TABLE customercard.sales_plan_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    plan_id         bigint NOT NULL,
    contact_id      bigint NOT NULL,
    status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'won', 'lost')),
    amount          numeric(14, 2) CHECK (amount >= 0),
    manager_id      bigint,
    manager_pinned  boolean NOT NULL DEFAULT false,
    added_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, plan_id, contact_id),
    FOREIGN KEY (account_id, plan_id) REFERENCES customercard.sales_plans,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    CHECK (NOT manager_pinned OR manager_id IS NOT NULL)
);
CREATE INDEX sales_plan_members_contact ON customercard.sales_plan_members (account_id, contact_id);
CREATE INDEX sales_plan_members_manager ON customercard.sales_plan_members (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.sales_plan_members IS 'Contacts in sales plans: status, amount, manager (pinned or not)';
-- ===================================================================
-- 14_work.sql: managers' work on a contact: tasks, calls, call campaigns,
-- comments (immutable once written).
-- ===================================================================

CREATE TABLE customercard.tasks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    task_id     bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    title       text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(title)) BETWEEN 1 AND 500),
    description text,
    due_at      timestamptz,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    reschedules integer NOT NULL DEFAULT 0 CHECK (reschedules >= 0),
    manager_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    done_at     timestamptz,
    PRIMARY KEY (account_id, task_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    CHECK ((status = 'done') = (done_at IS NOT NULL))
);
CREATE INDEX tasks_contact ON customercard.tasks (account_id, contact_id, status);
CREATE INDEX tasks_manager ON customercard.tasks (account_id, manager_id, status, due_at) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.tasks IS 'Manager tasks about a contact: due time, status, how often rescheduled';

CREATE TABLE customercard.calls (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    call_id         bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    manager_id      bigint,
    direction       text NOT NULL DEFAULT 'out' CHECK (direction IN ('in', 'out')),
    started_at      timestamptz NOT NULL,
    duration_s      integer NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    result          text NOT NULL CHECK (result IN ('answered', 'no_answer', 'busy', 'unreachable', 'failed')),
    reason          text,
    recording_url   text,
    PRIMARY KEY (account_id, call_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers
);
CREATE INDEX calls_contact ON customercard.calls (account_id, contact_id, started_at DESC);
CREATE INDEX calls_manager ON customercard.calls (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.calls IS 'Phone calls with a contact: manager, direction, duration, result, recording';

CREATE TABLE customercard.call_campaigns (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    campaign_id bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, campaign_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.call_campaigns IS 'Call campaigns (JustClick call tasks)';

CREATE TABLE customercard.call_campaign_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    campaign_id     bigint NOT NULL,
    contact_id      bigint NOT NULL,
    included_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    call_back_at    timestamptz,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'call_back', 'reached', 'not_reached', 'refused', 'done')),
    comment         text,
    manager_id      bigint,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, campaign_id, contact_id),
    FOREIGN KEY (account_id, campaign_id) REFERENCES customercard.call_campaigns,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers
);
CREATE INDEX call_campaign_members_contact ON customercard.call_campaign_members (account_id, contact_id);
CREATE INDEX call_campaign_members_manager ON customercard.call_campaign_members (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.call_campaign_members IS 'Contacts in call campaigns: when included, when to call back, status, comment, manager';

CREATE TABLE customercard.comments (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    comment_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    author      text NOT NULL DEFAULT customercard.current_actor(),
    body        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(body)) > 0),
    attachments text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, comment_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX comments_contact ON customercard.comments (account_id, contact_id, created_at DESC);
COMMENT ON TABLE customercard.comments IS
    'Comments on a contact: immutable once written, at most customercard.comment_max_length characters';

CREATE TRIGGER comments_check BEFORE INSERT ON customercard.comments
    FOR EACH ROW EXECUTE FUNCTION customercard.check_comment();
CREATE TRIGGER comments_immutable BEFORE UPDATE OR DELETE ON customercard.comments
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();
CREATE TRIGGER comments_no_truncate BEFORE TRUNCATE ON customercard.comments
    FOR EACH STATEMENT EXECUTE FUNCTION customercard.refuse_change();
-- ===================================================================
-- 15_activity.sql: what a contact did: webinars, page visits, link clicks,
-- e-mails sent to them, groups joined.  visitor_id is the browser cookie
-- where the source has one.
-- ===================================================================

CREATE TABLE customercard.webinar_visits (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    visit_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    webinar         text NOT NULL CHECK (pg_catalog.length(webinar) BETWEEN 1 AND 500),
    launch          integer CHECK (launch > 0),
    joined_at       timestamptz NOT NULL,
    left_at         timestamptz,
    watched_s       integer CHECK (watched_s >= 0),
    chat_messages   integer NOT NULL DEFAULT 0 CHECK (chat_messages >= 0),
    visitor_id      text,
    PRIMARY KEY (account_id, visit_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    CHECK (left_at IS NULL OR left_at >= joined_at)
);
CREATE INDEX webinar_visits_contact ON customercard.webinar_visits (account_id, contact_id, joined_at DESC);
CREATE INDEX webinar_visits_visitor ON customercard.webinar_visits (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.webinar_visits IS 'Webinar attendance: which webinar and launch, joined/left, seconds watched, chat messages';

CREATE TABLE customercard.page_visits (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    visit_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    url             text NOT NULL,
    title           text,
    referrer        text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    utm_content     text,
    utm_term        text,
    visited_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, visit_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX page_visits_contact ON customercard.page_visits (account_id, contact_id, visited_at DESC);
CREATE INDEX page_visits_visitor ON customercard.page_visits (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.page_visits IS 'Pages a contact visited, with referrer and UTM marks';

CREATE TABLE customercard.clicks (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    click_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    url             text NOT NULL,
    utm_source      text,
    utm_campaign    text,
    utm_ad          text,
    utm_keys        text,
    clicked_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, click_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX clicks_contact ON customercard.clicks (account_id, contact_id, clicked_at DESC);
CREATE INDEX clicks_visitor ON customercard.clicks (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.clicks IS 'Tracked link clicks with UTM source, campaign, ad and keys';

CREATE TABLE customercard.emails_sent (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    email_sent_id   bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    kind            text NOT NULL CHECK (kind IN ('autoseries', 'instant', 'chain', 'process', 'funnel')),
    subject         text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    opened_at       timestamptz,
    clicked_at      timestamptz,
    unsubscribed_at timestamptz,
    spam_at         timestamptz,
    PRIMARY KEY (account_id, email_sent_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX emails_sent_contact ON customercard.emails_sent (account_id, contact_id, sent_at DESC);
CREATE INDEX emails_sent_visitor ON customercard.emails_sent (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.emails_sent IS 'E-mails sent to a contact: kind, subject, opened/clicked/unsubscribed/spam times';

CREATE TABLE customercard.groups (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    group_id    bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, group_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.groups IS 'Groups (lists) contacts join, e.g. through a sign-up form';

CREATE TABLE customercard.group_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    group_id        bigint NOT NULL,
    contact_id      bigint NOT NULL,
    joined_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    partner         text,
    tag             text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    visitor_id      text,
    PRIMARY KEY (account_id, group_id, contact_id),
    FOREIGN KEY (account_id, group_id) REFERENCES customercard.groups,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX group_members_contact ON customercard.group_members (account_id, contact_id);
CREATE INDEX group_members_visitor ON customercard.group_members (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.group_members IS 'Contacts in groups, with the partner, tag and UTM of joining';
-- ===================================================================
-- 16_journal.sql: the action log (append-only), the merge journal and the
-- bulk job queue.
-- ===================================================================

CREATE TABLE customercard.action_log (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    log_id      bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    event       text NOT NULL,
    actor       text NOT NULL DEFAULT customercard.current_actor(),
    at          timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, log_id),
    -- No foreign key to contacts, by design: a check per log row would
    -- double the cost of logging and take a FOR KEY SHARE lock on the
    -- contact.  The writers guarantee the contact (triggers fire on its
    -- rows; log_event resolves the id), and contacts are never deleted.
    CHECK (customercard.is_log_event(event))
);
-- (account_id, contact_id) alone: its duplicates deduplicate into posting
-- lists, so the index stays small and cheap to insert into; a card's few
-- hundred rows are sorted by time after the lookup.
CREATE INDEX action_log_contact ON customercard.action_log (account_id, contact_id);
COMMENT ON TABLE customercard.action_log IS 'Everything that happened on a card: append-only for every role';

-- ids are handed out 100 at a time per session: one sequence lock per 100
-- log rows; ids of concurrent sessions interleave (the log orders by time)
ALTER SEQUENCE customercard.action_log_log_id_seq CACHE 100;

CREATE TRIGGER action_log_append_only BEFORE UPDATE OR DELETE ON customercard.action_log
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();
CREATE TRIGGER action_log_no_truncate BEFORE TRUNCATE ON customercard.action_log
    FOR EACH STATEMENT EXECUTE FUNCTION customercard.refuse_change();

-- Old log rows, moved here by archive_action_log() so that the hot log stays
-- small.  Nobody may change these rows; only the owner (the DBA) may delete
-- them, after exporting them: the one place history can be dropped.
CREATE TABLE customercard.action_log_archive (
    account_id  bigint NOT NULL,
    log_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    event       text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    details     jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, log_id)
);
CREATE INDEX action_log_archive_contact ON customercard.action_log_archive (account_id, contact_id);
COMMENT ON TABLE customercard.action_log_archive IS
    'Action log rows older than the archive cut-off (archive_action_log); rows are never changed';
CREATE TRIGGER action_log_archive_immutable BEFORE UPDATE ON customercard.action_log_archive
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();

CREATE FUNCTION customercard.archive_action_log(before timestamptz, account_id bigint DEFAULT NULL)
RETURNS bigint
    AS 'MODULE_PATHNAME', 'archive_action_log' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.archive_action_log(timestamptz, bigint) IS
    'Move action log rows older than the cut-off (of one account, or all) into action_log_archive; for superusers';

CREATE TABLE customercard.merges (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    merge_id    bigserial NOT NULL,
    survivor_id bigint NOT NULL,
    absorbed_id bigint NOT NULL,
    merged_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    merged_by   text NOT NULL DEFAULT customercard.current_actor(),
    undone_at   timestamptz,
    undone_by   text,
    journal     jsonb NOT NULL DEFAULT '{}',     -- what unmerge needs to restore both cards
    PRIMARY KEY (account_id, merge_id),
    FOREIGN KEY (account_id, survivor_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, absorbed_id) REFERENCES customercard.contacts,
    CHECK (survivor_id <> absorbed_id)
);
CREATE INDEX merges_survivor ON customercard.merges (account_id, survivor_id);
CREATE INDEX merges_absorbed ON customercard.merges (account_id, absorbed_id);
COMMENT ON TABLE customercard.merges IS 'The merge journal: who was merged into whom, and what undoing it restores';

-- Pairs a person has judged to be different people: never proposed again.
CREATE TABLE customercard.not_duplicates (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_a   bigint NOT NULL,
    contact_b   bigint NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    marked_by   text NOT NULL DEFAULT customercard.current_actor(),
    PRIMARY KEY (account_id, contact_a, contact_b),
    FOREIGN KEY (account_id, contact_a) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, contact_b) REFERENCES customercard.contacts,
    CHECK (contact_a < contact_b)
);
CREATE INDEX not_duplicates_b ON customercard.not_duplicates (account_id, contact_b);
COMMENT ON TABLE customercard.not_duplicates IS 'Pairs of contacts marked as different people (contact_a < contact_b): duplicate searches skip them';

CREATE TABLE customercard.bulk_jobs (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigserial NOT NULL,
    action      text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',      -- checked and resolved at enqueue (ids of tags, funnels, plans)
    filter      jsonb,                            -- the audience filter the selection was frozen from, if any
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    total       integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    done        integer NOT NULL DEFAULT 0 CHECK (done >= 0),
    failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    position    bigint NOT NULL DEFAULT 0,        -- the last contact id worked through (keyset)
    batches     integer NOT NULL DEFAULT 0,
    actor       text NOT NULL DEFAULT customercard.current_actor(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    run_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at  timestamptz,
    progress_at timestamptz,                      -- when progress was last committed
    finished_at timestamptz,
    error       text,
    PRIMARY KEY (account_id, job_id),
    CHECK (done + failed <= total)
);
CREATE INDEX bulk_jobs_due ON customercard.bulk_jobs (account_id, run_at) WHERE status IN ('queued', 'running');
CREATE INDEX bulk_jobs_finished ON customercard.bulk_jobs (account_id, finished_at) WHERE finished_at IS NOT NULL;
COMMENT ON TABLE customercard.bulk_jobs IS 'Bulk actions over many contacts, run gradually by bulk_run()';

-- The selection of a job, frozen at enqueue; worked through in contact id
-- order; bulk_prune() deletes the items of jobs that have ended.  No foreign
-- key, by design (as for the action log): a check per row made freezing a
-- million contacts take 8 s instead of 1.5; only bulk_enqueue writes here,
-- for the job it has just made.
CREATE TABLE customercard.bulk_job_items (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    PRIMARY KEY (account_id, job_id, contact_id)
);
COMMENT ON TABLE customercard.bulk_job_items IS 'The contacts of a bulk job not yet worked through (frozen at enqueue)';

CREATE TABLE customercard.bulk_job_failures (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, job_id, contact_id),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE
);
COMMENT ON TABLE customercard.bulk_job_failures IS 'Contacts a bulk job could not act on, with the reason';

-- What an export job writes: CSV in chunks, one per batch, in order.
CREATE TABLE customercard.bulk_job_output (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    chunk       integer NOT NULL,
    data        text NOT NULL,
    PRIMARY KEY (account_id, job_id, chunk),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE
);
COMMENT ON TABLE customercard.bulk_job_output IS 'The CSV an export job wrote, chunk by chunk (customercard.bulk_export_csv reads it whole)';

-- ------------------------------------------------------------------ the log's writers
CREATE FUNCTION customercard.log_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'log_change' LANGUAGE C;
COMMENT ON FUNCTION customercard.log_change() IS
    'AFTER ROW trigger of the card tables: writes their changes to the action log; the argument is the logical table name';

CREATE FUNCTION customercard.log_event(contact_id bigint, event text, details jsonb DEFAULT '{}')
RETURNS void
    AS 'MODULE_PATHNAME', 'log_event' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.log_event(bigint, text, jsonb) IS
    'Record an event that happened outside the database (e.g. crm_exported) on a contact of the current account';
-- ===================================================================
-- 20_tenancy.sql: accounts and role bindings, row-level security on every
-- table, pg_dump registration, updated_at stamping, and the privileges of
-- the four roles.  Runs after every table exists.
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

CREATE FUNCTION customercard.bind_role(role regrole, account_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF role IS NULL OR account_id IS NULL THEN
        RAISE EXCEPTION 'bind_role needs a role and an account'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.bind_role(''role_name'', account_id).';
    END IF;
    PERFORM customercard.assert_account_admin(account_id);
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
-- ===================================================================
-- 21_log_triggers.sql: every card table feeds the action log through the
-- C row trigger log_change(), named by its logical table: AFTER INSERT,
-- and BEFORE UPDATE OR DELETE as the last BEFORE trigger (see log_triggers.c).
-- ===================================================================
DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'phones', 'emails', 'channels', 'contact_tags', 'custom_values',
                             'subscriptions', 'orders', 'payments', 'sales_plan_members', 'tasks', 'calls',
                             'webinar_visits', 'page_visits', 'comments', 'group_members']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER log_insert AFTER INSERT ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
        -- BEFORE triggers fire in name order: this one must be the last
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER zz_log_change BEFORE UPDATE OR DELETE ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
    END LOOP;
END
$triggers$;
-- ===================================================================
-- 30_upsert.sql: writing a card from an application: upsert_contact(jsonb).
-- The JSON import and the demo data go through the same path.
-- ===================================================================

-- Follow merged_into from a contact to its live survivor in the current account.
CREATE FUNCTION customercard.resolve_contact(contact_id bigint) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.current_account_id();
    cur bigint := resolve_contact.contact_id;
    nxt bigint;
    hops integer := 0;
BEGIN
    LOOP
        SELECT c.merged_into INTO nxt FROM customercard.contacts c
         WHERE c.account_id OPERATOR(pg_catalog.=) acct AND c.contact_id OPERATOR(pg_catalog.=) cur;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'contact % does not exist in account %', resolve_contact.contact_id, coalesce(acct::text, '(none)')
                USING ERRCODE = 'undefined_object',
                      HINT = 'Check the contact id and the setting customercard.account_id.';
        END IF;
        EXIT WHEN nxt IS NULL;
        cur := nxt;
        hops := hops + 1;
        IF hops > 1000 THEN
            RAISE EXCEPTION 'merge chain of contact % does not end', resolve_contact.contact_id
                USING ERRCODE = 'data_corrupted', HINT = 'Inspect customercard.merges for a cycle.';
        END IF;
    END LOOP;
    RETURN cur;
END
$$;
COMMENT ON FUNCTION customercard.resolve_contact(bigint) IS
    'The live contact for an id: itself, or the survivor its merges lead to; an error when it is not in the current account';

CREATE FUNCTION customercard.upsert_error(message text, hint text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = message, ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

-- The JSON type a key must have; an error naming the key otherwise.
CREATE FUNCTION customercard.expect_json_type(data jsonb, key text, types text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    got text := pg_catalog.jsonb_typeof(data -> key);
    described text;
BEGIN
    IF got IS NOT NULL AND got <> 'null' AND NOT got = ANY (types) THEN
        SELECT pg_catalog.string_agg(CASE WHEN t IN ('object', 'array') THEN 'an ' ELSE 'a ' END || t, ' or ')
          INTO described FROM pg_catalog.unnest(types) AS t;
        PERFORM customercard.upsert_error(
            pg_catalog.format('contact data key "%s" must be %s, not %s', key, described,
                              CASE WHEN got IN ('object', 'array') THEN 'an ' ELSE 'a ' END || got),
            'See the README section "upsert_contact" for the shape of each key.');
    END IF;
END
$$;

-- upsert_contact_ex also says whether the contact is new (the imports' report)
CREATE FUNCTION customercard.upsert_contact_ex(data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known constant text[] := ARRAY['contact_id', 'name', 'first_name', 'last_name', 'middle_name', 'nickname',
        'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status',
        'manager_id', 'created_at', 'phone', 'phones', 'email', 'emails', 'channel', 'channels', 'tags', 'custom',
        'funnel', 'lgt'];
    scalar_text constant text[] := ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname',
        'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status', 'created_at'];
    channel_kinds constant text[] := ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'ok', 'facebook', 'instagram',
        'max', 'avito', 'web', 'email', 'sms', 'other'];
    acct bigint := customercard.require_account_id();
    k text;
    v jsonb;
    cid bigint;
    phones jsonb := '[]';
    emails jsonb := '[]';
    chans jsonb := '[]';
    ph record;
    em record;
    ch record;
    lock_keys text[] := '{}';
    norm text;
    is_new boolean := false;
    sub_funnel bigint;
    sub_lgt bigint;
    fid bigint;
    fkind text;
    tid bigint;
BEGIN
    IF data IS NULL OR jsonb_typeof(data) <> 'object' THEN
        PERFORM customercard.upsert_error('contact data must be a JSON object',
            'Pass something like ''{"name": "Anna", "phones": ["+7 912 345-67-89"]}''.');
    END IF;
    FOR k IN SELECT jsonb_object_keys(data) LOOP
        IF NOT k = ANY (known) THEN
            PERFORM customercard.upsert_error(format('unknown key "%s" in contact data', k),
                'Known keys: ' || array_to_string(known, ', ') || '.');
        END IF;
    END LOOP;
    FOREACH k IN ARRAY scalar_text LOOP
        PERFORM customercard.expect_json_type(data, k, ARRAY['string']);
    END LOOP;
    PERFORM customercard.expect_json_type(data, 'contact_id', ARRAY['number']);
    PERFORM customercard.expect_json_type(data, 'manager_id', ARRAY['number']);
    PERFORM customercard.expect_json_type(data, 'phone', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'email', ARRAY['string']);
    PERFORM customercard.expect_json_type(data, 'phones', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'emails', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'channel', ARRAY['object']);
    PERFORM customercard.expect_json_type(data, 'channels', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'funnel', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'lgt', ARRAY['string', 'number']);
    IF data ? 'lgt' AND NOT data ? 'funnel' THEN
        PERFORM customercard.upsert_error('"lgt" needs its "funnel"', 'Send {"funnel": "...", "lgt": "..."}: an LGT belongs to a funnel.');
    END IF;
    IF data ? 'funnel' THEN
        -- checked before anything is written: an unknown funnel or LGT is an error
        sub_funnel := customercard.bulk_lookup(acct, data, 'funnel', 'funnels', 'funnel_id');
        sub_lgt := customercard.bulk_lookup(acct, data, 'lgt', 'lgts', 'lgt_id', format('t.funnel_id = %s', sub_funnel), false);
    END IF;
    PERFORM customercard.expect_json_type(data, 'tags', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'custom', ARRAY['object']);

    -- phones: strings, numbers or {"phone", "kind", "primary"}
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'phones', '[]')) x
             UNION ALL SELECT data -> 'phone' WHERE jsonb_typeof(data -> 'phone') IN ('string', 'number') LOOP
        IF jsonb_typeof(v) = 'object' THEN
            PERFORM customercard.expect_json_type(v, 'phone', ARRAY['string', 'number']);
            PERFORM customercard.expect_json_type(v, 'kind', ARRAY['string']);
            PERFORM customercard.expect_json_type(v, 'primary', ARRAY['boolean']);
        ELSIF jsonb_typeof(v) NOT IN ('string', 'number') THEN
            PERFORM customercard.upsert_error(format('each phone must be a string or an object, not %s', jsonb_typeof(v)),
                'Use "phones": ["+7 912 345-67-89"] or [{"phone": "...", "kind": "work", "primary": true}].');
        END IF;
        k := CASE WHEN jsonb_typeof(v) = 'object' THEN v ->> 'phone' ELSE v #>> '{}' END;
        norm := customercard.normalize_phone(k);
        IF norm IS NULL THEN
            PERFORM customercard.upsert_error(format('"%s" is not a valid phone number', k),
                coalesce('National numbers are read as numbers of region '
                         || (SELECT coalesce(nullif(pg_catalog.current_setting('customercard.default_region', true), ''), a.default_region)
                               FROM customercard.accounts a WHERE a.account_id = acct)
                         || '; write others with + and the country code, like +49 30 123456.',
                         'No region is set for national numbers: write the number with + and the country code (+7 912 345-67-89), or set customercard.default_region or the account''s default_region.'));
        END IF;
        phones := phones || jsonb_build_array(jsonb_build_object('phone', norm, 'raw', k,
            'kind', coalesce(v ->> 'kind', 'mobile'), 'primary', coalesce((v ->> 'primary')::boolean, false)));
        lock_keys := lock_keys || ('phone:' || norm);
    END LOOP;

    -- e-mails: strings or {"email", "primary"}
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'emails', '[]')) x
             UNION ALL SELECT data -> 'email' WHERE jsonb_typeof(data -> 'email') = 'string' LOOP
        IF jsonb_typeof(v) = 'object' THEN
            PERFORM customercard.expect_json_type(v, 'email', ARRAY['string']);
            PERFORM customercard.expect_json_type(v, 'primary', ARRAY['boolean']);
        ELSIF jsonb_typeof(v) <> 'string' THEN
            PERFORM customercard.upsert_error(format('each e-mail must be a string or an object, not %s', jsonb_typeof(v)),
                'Use "emails": ["anna@example.com"] or [{"email": "...", "primary": true}].');
        END IF;
        k := CASE WHEN jsonb_typeof(v) = 'object' THEN v ->> 'email' ELSE v #>> '{}' END;
        norm := customercard.normalize_email(k);
        IF norm IS NULL THEN
            PERFORM customercard.upsert_error(format('"%s" is not an e-mail address', k),
                'Use one address such as anna@example.com.');
        END IF;
        emails := emails || jsonb_build_array(jsonb_build_object('email', norm, 'raw', k,
            'primary', coalesce((v ->> 'primary')::boolean, false)));
        lock_keys := lock_keys || ('email:' || customercard.email_key(norm));
    END LOOP;

    -- channels: {"kind", "external_id" (or "social_id"), "connection", "username", "subscribed_at"}
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'channels', '[]')) x
             UNION ALL SELECT data -> 'channel' WHERE jsonb_typeof(data -> 'channel') = 'object' LOOP
        IF jsonb_typeof(v) <> 'object' THEN
            PERFORM customercard.upsert_error(format('each channel must be an object, not %s', jsonb_typeof(v)),
                'Use "channel": {"kind": "telegram", "external_id": "123456"}.');
        END IF;
        FOR k IN SELECT jsonb_object_keys(v) LOOP
            IF NOT k = ANY (ARRAY['kind', 'external_id', 'social_id', 'connection', 'username', 'subscribed_at']) THEN
                PERFORM customercard.upsert_error(format('unknown key "%s" in channel', k),
                    'Known channel keys: kind, external_id (or social_id), connection, username, subscribed_at.');
            END IF;
        END LOOP;
        PERFORM customercard.expect_json_type(v, 'kind', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'external_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'social_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'connection', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'username', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'subscribed_at', ARRAY['string']);
        IF NOT coalesce(v ->> 'kind' = ANY (channel_kinds), false) THEN
            PERFORM customercard.upsert_error(format('unknown channel kind "%s"', coalesce(v ->> 'kind', '(none)')),
                'Channel kinds: ' || array_to_string(channel_kinds, ', ') || '.');
        END IF;
        k := coalesce(v #>> '{external_id}', v #>> '{social_id}');
        IF k IS NULL OR btrim(k) = '' THEN
            PERFORM customercard.upsert_error('a channel needs an external_id',
                'Give the messenger''s user id as "external_id" (or "social_id").');
        END IF;
        chans := chans || jsonb_build_array(jsonb_build_object('kind', v ->> 'kind', 'external_id', k,
            'connection', v ->> 'connection', 'username', v ->> 'username', 'subscribed_at', v ->> 'subscribed_at'));
        lock_keys := lock_keys || ('channel:' || (v ->> 'kind') || ':' || k);
    END LOOP;

    IF data ? 'gender' AND NOT coalesce(lower(data ->> 'gender') = ANY (ARRAY['male', 'female', 'm', 'f', 'unknown']), true) THEN
        PERFORM customercard.upsert_error(format('unknown gender "%s"', data ->> 'gender'),
            'Use "male", "female", or "unknown" (or null).');
    END IF;
    IF data ? 'gender_source' AND NOT coalesce(data ->> 'gender_source' = ANY (ARRAY['channel', 'manual']), true) THEN
        PERFORM customercard.upsert_error(format('unknown gender source "%s"', data ->> 'gender_source'),
            'Use "channel" (the messenger said so) or "manual" (a manager set it).');
    END IF;
    IF data ? 'status' AND NOT coalesce(data ->> 'status' = ANY (ARRAY['active', 'unsubscribed', 'blacklisted', 'archived']), true) THEN
        PERFORM customercard.upsert_error(format('unknown status "%s"', data ->> 'status'),
            'Use active, unsubscribed, blacklisted or archived.');
    END IF;
    IF data ? 'timezone' AND NOT coalesce(customercard.is_valid_timezone(data ->> 'timezone'), true) THEN
        PERFORM customercard.upsert_error(format('unknown time zone "%s"', data ->> 'timezone'),
            'Use a zone name such as Europe/Moscow or Asia/Yekaterinburg (see pg_timezone_names).');
    END IF;

    IF jsonb_typeof(data -> 'manager_id') = 'number' AND NOT EXISTS (SELECT 1 FROM customercard.managers m
            WHERE m.account_id = acct AND m.manager_id = (data ->> 'manager_id')::numeric) THEN
        RAISE EXCEPTION 'manager % does not exist in account %', data ->> 'manager_id', acct
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Add the manager to customercard.managers first, or leave manager_id out.';
    END IF;

    IF data ? 'tags' AND EXISTS (SELECT 1 FROM jsonb_array_elements(data -> 'tags') t
                                 WHERE jsonb_typeof(t) <> 'string' OR btrim(t #>> '{}') = '') THEN
        PERFORM customercard.upsert_error('tags must be non-empty strings', 'Use "tags": ["vip", "webinar-2026"].');
    END IF;

    -- Serialize upserts that share an identifier, so two sessions cannot both
    -- create the same person.  Identifiers hash into 1,024 locks per account,
    -- taken in order: a transaction that upserts many contacts (an import)
    -- holds at most 1,024 lock slots, where one lock per identifier ran out
    -- of shared lock memory after a few thousand rows.
    PERFORM pg_advisory_xact_lock((acct % 2147483647)::integer, bucket)
       FROM (SELECT DISTINCT (hashtextextended(key, 0) & 1023)::integer AS bucket
               FROM unnest(lock_keys) AS key ORDER BY 1) keys;

    -- Match: explicit id, then channel external id, then e-mail, then phone.
    IF data ? 'contact_id' AND jsonb_typeof(data -> 'contact_id') = 'number' THEN
        cid := customercard.resolve_contact((data ->> 'contact_id')::bigint);
    END IF;
    IF cid IS NULL THEN
        SELECT c.contact_id INTO cid
          FROM jsonb_to_recordset(chans) AS j(kind text, external_id text, connection text)
          JOIN customercard.channels c ON c.account_id = acct AND c.kind = j.kind AND c.external_id = j.external_id
                                      AND (j.connection IS NULL OR c.connection IS NOT DISTINCT FROM j.connection)
         ORDER BY c.channel_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT e.contact_id INTO cid
          FROM jsonb_to_recordset(emails) AS j(email text)
          JOIN customercard.emails e ON e.account_id = acct AND customercard.email_key(e.email) = customercard.email_key(j.email)
          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
         ORDER BY e.email_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT p.contact_id INTO cid
          FROM jsonb_to_recordset(phones) AS j(phone customercard.phone)
          JOIN customercard.phones p ON p.account_id = acct AND p.phone OPERATOR(customercard.=) j.phone
          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = p.contact_id AND c.deleted_at IS NULL
         ORDER BY p.phone_id LIMIT 1;
    END IF;
    IF cid IS NOT NULL THEN
        cid := customercard.resolve_contact(cid);
    END IF;

    BEGIN
        IF cid IS NULL THEN
            INSERT INTO customercard.contacts (account_id, created_at)
            VALUES (acct, coalesce((data ->> 'created_at')::timestamptz, now()))
            RETURNING contact_id INTO cid;
            is_new := true;
        END IF;

        UPDATE customercard.contacts c SET
            name          = CASE WHEN data ? 'name' THEN nullif(btrim(data ->> 'name'), '') ELSE c.name END,
            first_name    = CASE WHEN data ? 'first_name' THEN nullif(btrim(data ->> 'first_name'), '') ELSE c.first_name END,
            last_name     = CASE WHEN data ? 'last_name' THEN nullif(btrim(data ->> 'last_name'), '') ELSE c.last_name END,
            middle_name   = CASE WHEN data ? 'middle_name' THEN nullif(btrim(data ->> 'middle_name'), '') ELSE c.middle_name END,
            nickname      = CASE WHEN data ? 'nickname' THEN nullif(btrim(data ->> 'nickname'), '') ELSE c.nickname END,
            avatar_url    = CASE WHEN data ? 'avatar_url' THEN data ->> 'avatar_url' ELSE c.avatar_url END,
            gender        = CASE WHEN data ? 'gender' THEN
                                CASE lower(data ->> 'gender') WHEN 'm' THEN 'male' WHEN 'f' THEN 'female'
                                     WHEN 'unknown' THEN NULL ELSE lower(data ->> 'gender') END
                            ELSE c.gender END,
            gender_source = CASE WHEN data ? 'gender' THEN
                                CASE WHEN data ->> 'gender' IS NULL OR lower(data ->> 'gender') = 'unknown' THEN NULL
                                     ELSE coalesce(data ->> 'gender_source', 'manual') END
                            ELSE c.gender_source END,
            timezone      = CASE WHEN data ? 'timezone' THEN data ->> 'timezone' ELSE c.timezone END,
            country       = CASE WHEN data ? 'country' THEN data ->> 'country' ELSE c.country END,
            city          = CASE WHEN data ? 'city' THEN data ->> 'city' ELSE c.city END,
            ip            = CASE WHEN data ? 'ip' THEN (data ->> 'ip')::inet ELSE c.ip END,
            note          = CASE WHEN data ? 'note' THEN data ->> 'note' ELSE c.note END,
            status        = CASE WHEN data ? 'status' THEN coalesce(data ->> 'status', 'active') ELSE c.status END,
            manager_id    = CASE WHEN data ? 'manager_id' THEN (data ->> 'manager_id')::bigint ELSE c.manager_id END
         WHERE c.account_id = acct AND c.contact_id = cid
           AND (data ?| ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender',
                              'timezone', 'country', 'city', 'ip', 'note', 'status', 'manager_id']);
    EXCEPTION
        WHEN check_violation OR invalid_text_representation OR invalid_datetime_format
             OR datetime_field_overflow OR foreign_key_violation OR numeric_value_out_of_range THEN
            PERFORM customercard.upsert_error('contact data has an invalid value: ' || SQLERRM,
                'gender is male, female or unknown; status is active, unsubscribed, blacklisted or archived; '
                'timezone is a zone name such as Europe/Moscow; ip an IP address; manager_id a manager of the account.');
    END;

    FOR ph IN SELECT * FROM jsonb_to_recordset(phones) AS j(phone customercard.phone, raw text, kind text, "primary" boolean) LOOP
        IF ph.kind NOT IN ('mobile', 'work', 'home', 'other') THEN
            PERFORM customercard.upsert_error(format('unknown phone kind "%s"', ph.kind), 'Phone kinds: mobile, work, home, other.');
        END IF;
        IF ph."primary" THEN
            UPDATE customercard.phones q SET is_primary = false
             WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary AND q.phone OPERATOR(customercard.<>) ph.phone;
        END IF;
        INSERT INTO customercard.phones AS p (account_id, contact_id, phone, raw, kind, is_primary)
        VALUES (acct, cid, ph.phone, ph.raw, ph.kind,
                ph."primary" OR NOT EXISTS (SELECT 1 FROM customercard.phones q
                                             WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary))
        ON CONFLICT (account_id, contact_id, phone) DO UPDATE SET is_primary = true
            WHERE ph."primary" AND NOT p.is_primary;
    END LOOP;

    FOR em IN SELECT * FROM jsonb_to_recordset(emails) AS j(email text, raw text, "primary" boolean) LOOP
        IF em."primary" THEN
            UPDATE customercard.emails q SET is_primary = (customercard.email_key(q.email) = customercard.email_key(em.email))
             WHERE q.account_id = acct AND q.contact_id = cid
               AND (q.is_primary OR customercard.email_key(q.email) = customercard.email_key(em.email));
        END IF;
        IF NOT EXISTS (SELECT 1 FROM customercard.emails e
                        WHERE e.account_id = acct AND e.contact_id = cid
                          AND customercard.email_key(e.email) = customercard.email_key(em.email)) THEN
            INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
            VALUES (acct, cid, em.email, em.raw,
                    em."primary" OR NOT EXISTS (SELECT 1 FROM customercard.emails q
                                                 WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary));
        END IF;
    END LOOP;

    FOR ch IN SELECT * FROM jsonb_to_recordset(chans)
                  AS j(kind text, external_id text, connection text, username text, subscribed_at timestamptz) LOOP
        -- without a connection, any connection of this contact's channel is the same channel
        IF ch.connection IS NULL AND EXISTS (SELECT 1 FROM customercard.channels c
                WHERE c.account_id = acct AND c.contact_id = cid AND c.kind = ch.kind AND c.external_id = ch.external_id) THEN
            CONTINUE;
        END IF;
        INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id, username, subscribed_at)
        VALUES (acct, cid, ch.kind, ch.connection, ch.external_id, ch.username, coalesce(ch.subscribed_at, now()))
        ON CONFLICT (account_id, kind, connection, external_id) DO UPDATE
            SET username = coalesce(EXCLUDED.username, customercard.channels.username)
            WHERE customercard.channels.contact_id = cid;
    END LOOP;

    -- a funnel (and the LGT that brought the contact): subscribed through the
    -- channel sent along, if any; an unsubscribed subscription is renewed
    IF sub_funnel IS NOT NULL THEN
        INSERT INTO customercard.subscriptions AS s (account_id, contact_id, channel_id, funnel_id, lgt_id)
        VALUES (acct, cid,
                (SELECT c.channel_id FROM customercard.channels c
                  WHERE c.account_id = acct AND c.contact_id = cid
                    AND (c.kind, c.external_id) IN (SELECT j.kind, j.external_id FROM jsonb_to_recordset(chans) AS j(kind text, external_id text))
                  ORDER BY c.channel_id LIMIT 1),
                sub_funnel, sub_lgt)
        ON CONFLICT (account_id, contact_id, funnel_id, channel_id) DO UPDATE
            SET unsubscribed_at = NULL, lgt_id = coalesce(s.lgt_id, EXCLUDED.lgt_id)
            WHERE s.unsubscribed_at IS NOT NULL;
    END IF;

    FOR k IN SELECT DISTINCT btrim(t #>> '{}') FROM jsonb_array_elements(coalesce(data -> 'tags', '[]')) t LOOP
        INSERT INTO customercard.tags (account_id, name) VALUES (acct, k) ON CONFLICT (account_id, name) DO NOTHING;
        SELECT t.tag_id INTO tid FROM customercard.tags t WHERE t.account_id = acct AND t.name = k;
        INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id) VALUES (acct, cid, tid)
        ON CONFLICT DO NOTHING;
    END LOOP;

    FOR k, v IN SELECT * FROM jsonb_each(coalesce(data -> 'custom', '{}')) LOOP
        SELECT f.field_id, f.kind INTO fid, fkind FROM customercard.custom_fields f WHERE f.account_id = acct AND f.name = k;
        IF fid IS NULL THEN
            RAISE EXCEPTION 'custom field "%" does not exist', k
                USING ERRCODE = 'undefined_object',
                      HINT = format('An admin creates it: INSERT INTO customercard.custom_fields (name, kind) VALUES (%L, ''text'').', k);
        END IF;
        IF jsonb_typeof(v) = 'null' THEN
            DELETE FROM customercard.custom_values cv WHERE cv.account_id = acct AND cv.contact_id = cid AND cv.field_id = fid;
            CONTINUE;
        END IF;
        IF jsonb_typeof(v) NOT IN ('string', 'number', 'boolean') THEN
            PERFORM customercard.upsert_error(format('custom field "%s" takes a string, number or boolean, not %s', k, jsonb_typeof(v)),
                'Send scalar values; null removes the value.');
        END IF;
        BEGIN
            PERFORM CASE fkind WHEN 'number' THEN (v #>> '{}')::numeric::text
                               WHEN 'date' THEN (v #>> '{}')::date::text
                               WHEN 'boolean' THEN (v #>> '{}')::boolean::text
                               ELSE v #>> '{}' END;
        EXCEPTION WHEN OTHERS THEN
            PERFORM customercard.upsert_error(format('custom field "%s" is of kind %s; "%s" is not one', k, fkind, v #>> '{}'),
                'Send a value of the field''s kind (number, date as YYYY-MM-DD, boolean true/false).');
        END;
        INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
        VALUES (acct, cid, fid, v #>> '{}')
        ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            WHERE customercard.custom_values.value IS DISTINCT FROM EXCLUDED.value;
    END LOOP;

    upserted_id := cid;
    created := is_new;
END
$$;

CREATE FUNCTION customercard.upsert_contact(data jsonb) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT (customercard.upsert_contact_ex(data)).upserted_id
$$;
COMMENT ON FUNCTION customercard.upsert_contact(jsonb) IS
    'Create or update a contact from one JSON object, matching by channel external id, then e-mail, then phone; returns its id';
-- ===================================================================
-- 40_views.sql: the card, as views BI tools read.  security_invoker so
-- row-level security applies to the reader; each also filters the current
-- account itself, so a superuser (who bypasses RLS) sees one account too.
-- ===================================================================

CREATE FUNCTION customercard.describe_event(event text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE event
        WHEN 'call' THEN 'Call: ' || coalesce(details ->> 'result', 'made')
        WHEN 'subscribed' THEN 'Subscribed to ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'unsubscribed' THEN 'Unsubscribed from ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'payment_succeeded' THEN 'Payment of ' || coalesce(details ->> 'amount', '?') || coalesce(' ' || (details ->> 'currency'), '') || ' succeeded'
        WHEN 'payment_failed' THEN 'Payment failed' || coalesce(': ' || (details ->> 'error_code'), '')
        WHEN 'task_created' THEN 'Task created: ' || coalesce(details ->> 'title', '')
        WHEN 'task_done' THEN 'Task done: ' || coalesce(details ->> 'title', '')
        WHEN 'task_rescheduled' THEN 'Task rescheduled to ' || coalesce(details ->> 'due_at', '?')
        WHEN 'order_created' THEN 'Order ' || coalesce(details ->> 'number', '') || ' created'
        WHEN 'order_status_changed' THEN 'Order ' || coalesce(details ->> 'number', '') || ': ' || coalesce(details ->> 'old', '?') || ' → ' || coalesce(details ->> 'new', '?')
        WHEN 'sales_plan_added' THEN 'Added to sales plan ' || coalesce(details ->> 'plan', '')
        WHEN 'webinar_viewed' THEN 'Watched webinar ' || coalesce(details ->> 'webinar', '')
        WHEN 'membership' THEN 'Joined group ' || coalesce(details ->> 'group', '')
        WHEN 'merged' THEN CASE WHEN details ->> 'role' = 'absorbed'
                                THEN 'Merged into contact ' || coalesce(details ->> 'survivor_id', '?')
                                ELSE 'Merged with contact ' || coalesce(details ->> 'absorbed_id', details ->> 'survivor_id', '?') END
        WHEN 'unmerged' THEN 'Merge ' || coalesce(details ->> 'merge_id', '') || ' undone'
        WHEN 'tag_added' THEN 'Tag added: ' || coalesce(details ->> 'tag', '')
        WHEN 'tag_removed' THEN 'Tag removed: ' || coalesce(details ->> 'tag', '')
        WHEN 'channel_created' THEN 'Channel created: ' || coalesce(details ->> 'kind', '')
        WHEN 'channel_deleted' THEN 'Channel deleted: ' || coalesce(details ->> 'kind', '')
        WHEN 'custom_field_set' THEN 'Field ' || coalesce(details ->> 'field', '') || coalesce(' set to "' || (details ->> 'new') || '"', ' cleared')
        WHEN 'field_changed' THEN
            CASE WHEN details ->> 'old' IS NULL AND details ->> 'new' IS NOT NULL
                      THEN 'Set ' || coalesce(details ->> 'field', 'a field') || ' to "' || (details ->> 'new') || '"'
                 WHEN details ->> 'new' IS NULL AND details ->> 'old' IS NOT NULL
                      THEN 'Removed ' || coalesce(details ->> 'field', 'a field') || ' "' || (details ->> 'old') || '"'
                 ELSE 'Changed ' || coalesce(details ->> 'field', 'a field') || coalesce(' from "' || (details ->> 'old') || '"', '')
                      || coalesce(' to "' || (details ->> 'new') || '"', '') END
        WHEN 'archived' THEN 'Archived'
        WHEN 'unarchived' THEN 'Unarchived'
        WHEN 'contact_created' THEN 'Contact created'
        WHEN 'contact_deleted' THEN 'Contact deleted'
        WHEN 'page_visited' THEN 'Visited ' || coalesce(details ->> 'url', 'a page')
        WHEN 'comment_added' THEN 'Comment added'
        WHEN 'crm_exported' THEN 'Exported to ' || coalesce(details ->> 'crm', 'another CRM')
        WHEN 'forgotten' THEN 'Personal data erased'
        ELSE event END
$$;
COMMENT ON FUNCTION customercard.describe_event(text, jsonb) IS 'A human description of an action log event';

CREATE VIEW customercard.card WITH (security_invoker = true) AS
SELECT c.contact_id,
       c.account_id,
       coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname) AS name,
       c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url,
       c.gender, c.gender_source, c.timezone, c.country, c.city, c.status,
       (SELECT p.phone FROM customercard.phones p
         WHERE p.account_id = c.account_id AND p.contact_id = c.contact_id
         ORDER BY p.is_primary DESC, p.phone_id LIMIT 1) AS phone,
       (SELECT e.email FROM customercard.emails e
         WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id
         ORDER BY e.is_primary DESC, e.email_id LIMIT 1) AS email,
       coalesce((SELECT array_agg(t.name ORDER BY t.name) FROM customercard.contact_tags ct
                   JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                  WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id), '{}') AS tags,
       (SELECT count(*) FROM customercard.channels ch
         WHERE ch.account_id = c.account_id AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL) AS channels_count,
       c.manager_id,
       m.name AS manager_name,
       c.note,
       c.points,
       coalesce(o.total_paid, 0) AS total_paid,
       coalesce(o.orders_count, 0) AS orders_count,
       coalesce(o.sales_count, 0) AS sales_count,
       (SELECT count(*) FROM customercard.tasks tk
         WHERE tk.account_id = c.account_id AND tk.contact_id = c.contact_id AND tk.status = 'open') AS open_tasks,
       greatest(c.updated_at,
                (SELECT max(l.at) FROM customercard.action_log l
                  WHERE l.account_id = c.account_id AND l.contact_id = c.contact_id)) AS last_activity,
       c.created_at,
       c.updated_at
  FROM customercard.contacts c
  JOIN customercard.accounts a ON a.account_id = c.account_id
  LEFT JOIN customercard.managers m ON m.account_id = c.account_id AND m.manager_id = c.manager_id
  LEFT JOIN LATERAL (
        SELECT count(*) AS orders_count,
               count(*) FILTER (WHERE od.status = 'paid') AS sales_count,
               (SELECT sum(py.amount) FROM customercard.payments py
                  JOIN customercard.orders po ON po.account_id = py.account_id AND po.order_id = py.order_id
                 WHERE py.account_id = c.account_id AND py.contact_id = c.contact_id
                   AND py.status = 'succeeded' AND po.currency = a.currency) AS total_paid
          FROM customercard.orders od
         WHERE od.account_id = c.account_id AND od.contact_id = c.contact_id) o ON true
 WHERE c.account_id = (SELECT customercard.current_account_id())
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card IS
    'One row per live contact: general information, primary phone and e-mail, tags, channels, manager, note, points, money paid in the account currency, orders, sales, open tasks, last activity';

CREATE VIEW customercard.card_channels WITH (security_invoker = true) AS
SELECT ch.contact_id, ch.channel_id, ch.kind, ch.connection, ch.external_id, ch.username,
       ch.subscribed_at, ch.archived_at, ch.archived_at IS NULL AS is_active, ch.created_at
  FROM customercard.channels ch
 WHERE ch.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_channels IS 'Messenger, e-mail and SMS channels of each contact';

CREATE VIEW customercard.card_subscriptions WITH (security_invoker = true) AS
SELECT s.contact_id, s.subscription_id, s.funnel_id, f.name AS funnel, s.lgt_id, l.name AS lgt,
       s.channel_id, ch.kind AS channel_kind, b.name AS block,
       s.subscribed_at, s.unsubscribed_at, s.unsubscribed_at IS NULL AS is_active
  FROM customercard.subscriptions s
  JOIN customercard.funnels f ON f.account_id = s.account_id AND f.funnel_id = s.funnel_id
  LEFT JOIN customercard.lgts l ON l.account_id = s.account_id AND l.lgt_id = s.lgt_id
  LEFT JOIN customercard.channels ch ON ch.account_id = s.account_id AND ch.channel_id = s.channel_id
  LEFT JOIN customercard.funnel_blocks b ON b.account_id = s.account_id AND b.block_id = s.block_id
 WHERE s.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_subscriptions IS 'Funnel subscriptions of each contact, with channel, LGT and current block';

CREATE VIEW customercard.card_orders WITH (security_invoker = true) AS
SELECT o.contact_id, o.order_id, o.number, o.offer, o.products, o.amount, o.currency, o.status,
       coalesce(p.paid, 0) AS paid_amount, coalesce(p.failed_attempts, 0) AS failed_payments,
       o.is_manual, o.is_recurring, o.payment_error_code, o.manager_id, m.name AS manager,
       o.utm_source, o.utm_medium, o.utm_campaign, o.utm_content, o.utm_term,
       o.created_at, o.paid_at
  FROM customercard.orders o
  LEFT JOIN customercard.managers m ON m.account_id = o.account_id AND m.manager_id = o.manager_id
  LEFT JOIN LATERAL (
        SELECT sum(py.amount) FILTER (WHERE py.status = 'succeeded') AS paid,
               count(*) FILTER (WHERE py.status = 'failed') AS failed_attempts
          FROM customercard.payments py
         WHERE py.account_id = o.account_id AND py.order_id = o.order_id) p ON true
 WHERE o.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_orders IS 'Orders of each contact with what was paid on them';

CREATE VIEW customercard.card_finance WITH (security_invoker = true) AS
WITH per_order AS (
    SELECT o.contact_id, o.currency, o.status, o.amount,
           coalesce((SELECT sum(py.amount) FROM customercard.payments py
                      WHERE py.account_id = o.account_id AND py.order_id = o.order_id AND py.status = 'succeeded'), 0) AS paid,
           coalesce(po.partner, 0) AS partner, coalesce(po.call_centre, 0) AS call_centre,
           coalesce(po.co_author, 0) AS co_author, coalesce(po.expense, 0) AS expense, coalesce(po.refund, 0) AS refund
      FROM customercard.orders o
      LEFT JOIN LATERAL (
            SELECT sum(x.amount) FILTER (WHERE x.kind = 'partner') AS partner,
                   sum(x.amount) FILTER (WHERE x.kind = 'call_centre') AS call_centre,
                   sum(x.amount) FILTER (WHERE x.kind = 'co_author') AS co_author,
                   sum(x.amount) FILTER (WHERE x.kind = 'expense') AS expense,
                   sum(x.amount) FILTER (WHERE x.kind = 'refund') AS refund
              FROM customercard.payouts x
             WHERE x.account_id = o.account_id AND x.order_id = o.order_id) po ON true
     WHERE o.account_id = (SELECT customercard.current_account_id())
)
SELECT contact_id, currency,
       sum(amount) FILTER (WHERE status <> 'cancelled') AS invoiced,
       coalesce(sum(amount) FILTER (WHERE status IN ('new', 'pending')), 0) AS expected,
       coalesce(sum(amount) FILTER (WHERE status = 'confirmed'), 0) AS confirmed,
       sum(paid) AS paid,
       sum(refund) AS refunds,
       sum(expense) AS expenses,
       sum(paid) - sum(expense) - sum(refund) AS income,
       sum(partner) AS partner_payouts,
       sum(call_centre) AS call_centre_payouts,
       sum(co_author) AS co_author_payouts,
       sum(paid) - sum(expense) - sum(refund) - sum(partner) - sum(call_centre) - sum(co_author) AS profit,
       count(*) AS orders_count
  FROM per_order
 GROUP BY contact_id, currency;
COMMENT ON VIEW customercard.card_finance IS
    'Money per contact and currency (JustClick figures): invoiced (not cancelled), expected (new/pending), confirmed, paid, refunds, expenses, income = paid - expenses - refunds, payouts, profit = income - payouts';

CREATE VIEW customercard.card_sales_plans WITH (security_invoker = true) AS
SELECT sm.contact_id, sm.plan_id, sp.name AS plan, sm.status, sm.amount, sm.manager_id, m.name AS manager,
       sm.manager_pinned, sm.added_at, sm.updated_at
  FROM customercard.sales_plan_members sm
  JOIN customercard.sales_plans sp ON sp.account_id = sm.account_id AND sp.plan_id = sm.plan_id
  LEFT JOIN customercard.managers m ON m.account_id = sm.account_id AND m.manager_id = sm.manager_id
 WHERE sm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_sales_plans IS 'Sales plans each contact is in';

CREATE VIEW customercard.card_tasks WITH (security_invoker = true) AS
SELECT t.contact_id, t.task_id, t.title, t.description, t.due_at, t.status,
       t.status = 'open' AS is_current,
       t.status = 'open' AND t.due_at < now() AS is_overdue,
       t.reschedules, t.manager_id, m.name AS manager, t.created_at, t.done_at
  FROM customercard.tasks t
  LEFT JOIN customercard.managers m ON m.account_id = t.account_id AND m.manager_id = t.manager_id
 WHERE t.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_tasks IS 'Tasks of each contact, current (open) and past';

CREATE VIEW customercard.card_calls WITH (security_invoker = true) AS
SELECT cl.contact_id, cl.call_id, cl.started_at, cl.direction, cl.duration_s, cl.result, cl.reason,
       cl.manager_id, m.name AS manager, cl.recording_url
  FROM customercard.calls cl
  LEFT JOIN customercard.managers m ON m.account_id = cl.account_id AND m.manager_id = cl.manager_id
 WHERE cl.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_calls IS 'Calls with each contact';

CREATE VIEW customercard.card_webinars WITH (security_invoker = true) AS
SELECT w.contact_id, w.visit_id, w.webinar, w.launch, w.joined_at, w.left_at,
       coalesce(w.watched_s, extract(epoch FROM w.left_at - w.joined_at)::integer) AS watched_s,
       w.chat_messages, w.visitor_id
  FROM customercard.webinar_visits w
 WHERE w.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_webinars IS 'Webinar visits of each contact';

CREATE VIEW customercard.card_comments WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.comment_id, cm.author, cm.body, cm.attachments, cm.created_at
  FROM customercard.comments cm
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_comments IS 'Comments on each contact';

CREATE VIEW customercard.card_log WITH (security_invoker = true) AS
SELECT l.contact_id, l.log_id, l.at,
       (l.at AT TIME ZONE current_setting('TimeZone'))::date AS date,
       (l.at AT TIME ZONE current_setting('TimeZone'))::time(0) AS time,
       customercard.describe_event(l.event, l.details) AS description,
       l.event, l.actor, l.details
  FROM customercard.action_log l
 WHERE l.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_log IS 'The action log of each contact: date, time, description, event kind, actor';

CREATE VIEW customercard.contact_visitors WITH (security_invoker = true) AS
SELECT account_id, contact_id, visitor_id FROM customercard.page_visits WHERE visitor_id IS NOT NULL
UNION ALL SELECT account_id, contact_id, visitor_id FROM customercard.clicks WHERE visitor_id IS NOT NULL
UNION ALL SELECT account_id, contact_id, visitor_id FROM customercard.webinar_visits WHERE visitor_id IS NOT NULL
UNION ALL SELECT account_id, contact_id, visitor_id FROM customercard.emails_sent WHERE visitor_id IS NOT NULL
UNION ALL SELECT account_id, contact_id, visitor_id FROM customercard.group_members WHERE visitor_id IS NOT NULL;
COMMENT ON VIEW customercard.contact_visitors IS 'Browser visitor ids (cookies) seen with each contact, from every source that has one';

-- The contact's own keys first (a few rows), then one index probe per key,
-- so the cost follows the contact's keys, not the account's size.
-- One row per (other live contact, key kind, key value) shared with a live
-- contact id of account acct.
CREATE FUNCTION customercard.contact_key_hits(acct bigint, id bigint)
RETURNS TABLE (related_id bigint, kind text, value text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY
    -- Join conditions are plain column equalities (or the leakproof
    -- email_key), so that under row-level security they stay index conditions.
    -- (phones keep their type, so that the probe is an index condition)
    WITH keys AS MATERIALIZED (
        SELECT 'phone' AS kind, p.phone::text AS value, NULL::text AS channel_kind, p.phone FROM customercard.phones p
         WHERE p.account_id = acct AND p.contact_id = id
        UNION SELECT 'email', customercard.email_key(e.email), NULL, NULL FROM customercard.emails e
         WHERE e.account_id = acct AND e.contact_id = id
        UNION SELECT 'external_id', c.external_id, c.kind, NULL FROM customercard.channels c
         WHERE c.account_id = acct AND c.contact_id = id
        UNION SELECT 'visitor_id', v.visitor_id, NULL, NULL FROM customercard.contact_visitors v
         WHERE v.account_id = acct AND v.contact_id = id
    ), hits AS (
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.phones b
            ON b.account_id = acct AND b.phone OPERATOR(customercard.=) k.phone WHERE k.kind = 'phone'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.emails b
            ON b.account_id = acct AND customercard.email_key(b.email) = k.value WHERE k.kind = 'email'
        UNION ALL
        SELECT b.contact_id, k.kind, k.channel_kind || ':' || k.value FROM keys k JOIN customercard.channels b
            ON b.account_id = acct AND b.external_id = k.value AND b.kind = k.channel_kind
         WHERE k.kind = 'external_id'
        -- each visitor table probed by its own index (a join cannot reach into a UNION ALL view's branches)
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.page_visits b
            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = 'visitor_id'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.clicks b
            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = 'visitor_id'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.webinar_visits b
            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = 'visitor_id'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.emails_sent b
            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = 'visitor_id'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.group_members b
            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = 'visitor_id'
    )
    SELECT DISTINCT h.contact_id, h.kind, h.value
      FROM hits h
      JOIN customercard.contacts r ON r.account_id = acct AND r.contact_id = h.contact_id
     WHERE h.contact_id <> id AND r.merged_into IS NULL AND r.deleted_at IS NULL;
END
$$;

CREATE FUNCTION customercard.related_contacts(contact_id bigint)
RETURNS TABLE (related_id bigint, shared text[], shared_values text[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT h.related_id, array_agg(DISTINCT h.kind ORDER BY h.kind), array_agg(DISTINCT h.value ORDER BY h.value)
      FROM customercard.contact_key_hits(customercard.current_account_id(),
                                         customercard.resolve_contact(related_contacts.contact_id)) h
     GROUP BY h.related_id
     ORDER BY h.related_id
$$;
COMMENT ON FUNCTION customercard.related_contacts(bigint) IS
    'Other live contacts of the current account sharing a phone, an e-mail, a channel external id or a visitor id with the contact (a merged id resolves to its survivor), with what they share';

CREATE VIEW customercard.card_related WITH (security_invoker = true) AS
SELECT c.contact_id, r.related_id, r.shared, r.shared_values
  FROM customercard.contacts c
 CROSS JOIN LATERAL customercard.related_contacts(c.contact_id) r
 WHERE c.account_id = (SELECT customercard.current_account_id())
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card_related IS
    'Other live contacts of the account that share a phone, an e-mail, a channel external id or a visitor id with each contact';

CREATE VIEW customercard.card_merges WITH (security_invoker = true) AS
SELECT mg.survivor_id AS contact_id, mg.merge_id, 'survivor' AS role, mg.absorbed_id AS other_contact_id,
       mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT mg.absorbed_id, mg.merge_id, 'absorbed', mg.survivor_id, mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_merges IS 'Merges each contact took part in, as survivor or absorbed';

CREATE VIEW customercard.card_visits WITH (security_invoker = true) AS
SELECT v.contact_id, v.visit_id, v.visitor_id, v.url, v.title, v.referrer,
       v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term, v.visited_at
  FROM customercard.page_visits v
 WHERE v.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_visits IS 'Page visits of each contact';

CREATE VIEW customercard.card_clicks WITH (security_invoker = true) AS
SELECT k.contact_id, k.click_id, k.visitor_id, k.url, k.utm_source, k.utm_campaign, k.utm_ad, k.utm_keys, k.clicked_at
  FROM customercard.clicks k
 WHERE k.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_clicks IS 'Link clicks of each contact with their UTM marks';

CREATE VIEW customercard.card_emails WITH (security_invoker = true) AS
SELECT es.contact_id, es.email_sent_id, es.kind, es.subject, es.sent_at, es.opened_at, es.clicked_at,
       es.unsubscribed_at, es.spam_at,
       CASE WHEN es.spam_at IS NOT NULL THEN 'spam'
            WHEN es.unsubscribed_at IS NOT NULL THEN 'unsubscribed'
            WHEN es.clicked_at IS NOT NULL THEN 'clicked'
            WHEN es.opened_at IS NOT NULL THEN 'opened'
            ELSE 'sent' END AS outcome,
       es.visitor_id
  FROM customercard.emails_sent es
 WHERE es.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_emails IS 'E-mails sent to each contact and what they did with them';

CREATE VIEW customercard.card_groups WITH (security_invoker = true) AS
SELECT gm.contact_id, gm.group_id, g.name AS "group", gm.joined_at, gm.partner, gm.tag,
       gm.utm_source, gm.utm_medium, gm.utm_campaign, gm.visitor_id
  FROM customercard.group_members gm
  JOIN customercard.groups g ON g.account_id = gm.account_id AND g.group_id = gm.group_id
 WHERE gm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_groups IS 'Groups each contact joined, with partner, tag and UTM of joining';

CREATE VIEW customercard.card_balance WITH (security_invoker = true) AS
SELECT bt.contact_id, bt.currency, sum(bt.amount) AS balance, count(*) AS transactions, max(bt.at) AS last_change_at
  FROM customercard.balance_transactions bt
 WHERE bt.account_id = (SELECT customercard.current_account_id())
 GROUP BY bt.contact_id, bt.currency;
COMMENT ON VIEW customercard.card_balance IS 'Internal balances of each contact per currency (bonus, coins, deposit, points)';

CREATE VIEW customercard.card_call_campaigns WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.campaign_id, cc.name AS campaign, cm.included_at, cm.call_back_at, cm.status,
       cm.comment, cm.manager_id, m.name AS manager
  FROM customercard.call_campaign_members cm
  JOIN customercard.call_campaigns cc ON cc.account_id = cm.account_id AND cc.campaign_id = cm.campaign_id
  LEFT JOIN customercard.managers m ON m.account_id = cm.account_id AND m.manager_id = cm.manager_id
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_call_campaigns IS 'Call campaigns each contact is in: when to call back, status, comment, manager';

CREATE FUNCTION customercard.contact_log(contact_id bigint, events text[] DEFAULT NULL,
                                         since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
RETURNS SETOF customercard.card_log
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.* FROM customercard.card_log l
     WHERE l.contact_id = customercard.resolve_contact($1)
       AND ($2 IS NULL OR l.event = ANY ($2))
       AND ($3 IS NULL OR l.at >= $3)
       AND ($4 IS NULL OR l.at < $4)
     ORDER BY l.at DESC, l.log_id DESC
$$;
COMMENT ON FUNCTION customercard.contact_log(bigint, text[], timestamptz, timestamptz) IS
    'The action log of a contact, newest first, optionally only some event kinds and a period [since, until)';
-- ===================================================================
-- 41_card_json.sql: the whole card in one call.
-- ===================================================================

CREATE FUNCTION customercard.card_json(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.current_account_id();
    id bigint := customercard.resolve_contact(card_json.contact_id);
    log_limit constant integer := 100;
BEGIN
    RETURN jsonb_build_object(
        'contact_id', id,
        'requested_id', card_json.contact_id,
        'card', (SELECT to_jsonb(c) - 'account_id' FROM customercard.card c WHERE c.contact_id = id),
        'contact', (SELECT to_jsonb(c) - 'account_id' FROM customercard.contacts c
                     WHERE c.account_id = acct AND c.contact_id = id),
        'phones', coalesce((SELECT jsonb_agg(jsonb_build_object('phone', p.phone, 'raw', p.raw, 'kind', p.kind,
                                                                'is_primary', p.is_primary) ORDER BY p.is_primary DESC, p.phone_id)
                              FROM customercard.phones p WHERE p.account_id = acct AND p.contact_id = id), '[]'),
        'emails', coalesce((SELECT jsonb_agg(jsonb_build_object('email', e.email, 'raw', e.raw,
                                                                'is_primary', e.is_primary) ORDER BY e.is_primary DESC, e.email_id)
                              FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = id), '[]'),
        'addresses', coalesce((SELECT jsonb_agg(to_jsonb(a) - 'account_id' - 'contact_id' ORDER BY a.address_id)
                                 FROM customercard.addresses a WHERE a.account_id = acct AND a.contact_id = id), '[]'),
        'tags', coalesce((SELECT jsonb_agg(jsonb_build_object('tag', t.name, 'added_at', ct.added_at, 'added_by', ct.added_by)
                                           ORDER BY t.name)
                            FROM customercard.contact_tags ct
                            JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                           WHERE ct.account_id = acct AND ct.contact_id = id), '[]'),
        'custom', coalesce((SELECT jsonb_object_agg(f.name, cv.value)
                              FROM customercard.custom_values cv
                              JOIN customercard.custom_fields f ON f.account_id = cv.account_id AND f.field_id = cv.field_id
                             WHERE cv.account_id = acct AND cv.contact_id = id), '{}'),
        'channels', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.channel_id)
                                FROM customercard.card_channels v WHERE v.contact_id = id), '[]'),
        'subscriptions', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.subscribed_at, v.subscription_id)
                                     FROM customercard.card_subscriptions v WHERE v.contact_id = id), '[]'),
        'orders', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.created_at DESC, v.order_id DESC)
                              FROM customercard.card_orders v WHERE v.contact_id = id), '[]'),
        'finance', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.currency)
                               FROM customercard.card_finance v WHERE v.contact_id = id), '[]'),
        'balance', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.currency)
                               FROM customercard.card_balance v WHERE v.contact_id = id), '[]'),
        'sales_plans', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.added_at, v.plan_id)
                                   FROM customercard.card_sales_plans v WHERE v.contact_id = id), '[]'),
        'tasks', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.is_current DESC, v.due_at, v.task_id)
                             FROM customercard.card_tasks v WHERE v.contact_id = id), '[]'),
        'calls', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.started_at DESC, v.call_id DESC)
                             FROM customercard.card_calls v WHERE v.contact_id = id), '[]'),
        'call_campaigns', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.included_at, v.campaign_id)
                                      FROM customercard.card_call_campaigns v WHERE v.contact_id = id), '[]'),
        'webinars', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.joined_at DESC, v.visit_id DESC)
                                FROM customercard.card_webinars v WHERE v.contact_id = id), '[]'),
        'visits', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.visited_at DESC, v.visit_id DESC)
                              FROM customercard.card_visits v WHERE v.contact_id = id), '[]'),
        'clicks', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.clicked_at DESC, v.click_id DESC)
                              FROM customercard.card_clicks v WHERE v.contact_id = id), '[]'),
        'emails_sent', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.sent_at DESC, v.email_sent_id DESC)
                                   FROM customercard.card_emails v WHERE v.contact_id = id), '[]'),
        'groups', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.joined_at, v.group_id)
                              FROM customercard.card_groups v WHERE v.contact_id = id), '[]'),
        'comments', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.created_at DESC, v.comment_id DESC)
                                FROM customercard.card_comments v WHERE v.contact_id = id), '[]'),
        'related', coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.related_id)
                               FROM customercard.related_contacts(id) r), '[]'),
        'merges', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.merged_at, v.merge_id)
                              FROM customercard.card_merges v WHERE v.contact_id = id), '[]'),
        'log_total', (SELECT count(*) FROM customercard.action_log l WHERE l.account_id = acct AND l.contact_id = id),
        'log', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' ORDER BY v.at DESC, v.log_id DESC)
                           FROM (SELECT * FROM customercard.card_log v WHERE v.contact_id = id
                                  ORDER BY v.at DESC, v.log_id DESC LIMIT log_limit) v), '[]')
    );
END
$$;
COMMENT ON FUNCTION customercard.card_json(bigint) IS
    'The whole card of a contact (a merged contact''s id gives its survivor''s card): every section, the latest 100 log events and the log''s total';
-- ===================================================================
-- 42_audience.sql: the audience, the CRM table of all contacts (SPEC §7).
--
-- audience_search(filter, page, page_size) and audience_count(filter) take
-- one JSON filter language (also the bulk actions' selection).  The filter
-- is checked key by key (an unknown key or a wrong type is an error), its
-- values become typed parameters of one dynamic query assembled from fixed
-- SQL fragments: no text of the filter is ever part of the SQL.
-- ===================================================================

-- What name search looks in: every name of a contact, lower-cased.
CREATE FUNCTION customercard.name_haystack(name text, first_name text, last_name text,
                                           middle_name text, nickname text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- ICU's case mapping, so that Cyrillic and other scripts fold whatever the database's locale
    SELECT pg_catalog.lower(pg_catalog.concat_ws(' ', name, first_name, last_name, middle_name, nickname) COLLATE "und-x-icu")
$$;
COMMENT ON FUNCTION customercard.name_haystack(text, text, text, text, text) IS
    'The lower-cased names of a contact, as the audience''s name search sees them (trigram-indexed)';

-- The trigram index lives with pg_trgm's operator class, in whatever schema
-- pg_trgm was installed into.
DO $$
DECLARE
    trgm_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                           JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                          WHERE e.extname = 'pg_trgm');
BEGIN
    EXECUTE pg_catalog.format(
        'CREATE INDEX contacts_name_trgm ON customercard.contacts USING gin '
        '(customercard.name_haystack(name, first_name, last_name, middle_name, nickname) %I.gin_trgm_ops) '
        'WHERE merged_into IS NULL AND deleted_at IS NULL', trgm_schema);
END
$$;

-- A checked filter: every key of SPEC §7 as a typed value (NULL when absent).
CREATE TYPE customercard.audience_filter AS (
    name_patterns   text[],     -- search: '%word%' per word, lower-case, LIKE-escaped
    search_email    text,       -- search: an e-mail key when the text is an address
    search_phone    customercard.phone,   -- search: the number when the text is one
    gender          text,       -- male, female, unknown
    channel         text,
    has_phone       boolean,
    has_email       boolean,
    tags_all        bigint[],   -- tag and tags_all, resolved to ids
    tags_any        bigint[],
    funnels         bigint[],
    lgts            bigint[],
    ordered_offer   text,
    paid_offer      text,
    status          text,
    manager         bigint,
    created_from    timestamptz,
    created_to      timestamptz,   -- exclusive
    impossible      boolean     -- a name that matches nothing (unknown tag, funnel...)
);

CREATE FUNCTION customercard.audience_filter_error(key text, message text, hint text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RAISE EXCEPTION 'audience filter key "%": %', key, message
        USING ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

-- The ids of an account's objects (funnels, LGTs, sales plans, ...) that a
-- JSON value names: a number is an id, a string a name.  tbl, idcol and
-- extra are fixed text of this extension; the value is a parameter.
CREATE FUNCTION customercard.ids_named(acct bigint, v jsonb, tbl text, idcol text, extra text DEFAULT 'true')
RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ids bigint[];
BEGIN
    EXECUTE format('SELECT coalesce(array_agg(t.%2$I ORDER BY t.%2$I), ''{}'') FROM customercard.%1$I t '
                   ' WHERE t.account_id = $1 AND (%3$s) '
                   '   AND (CASE WHEN jsonb_typeof($2) = ''number'' THEN t.%2$I = ($2 #>> ''{}'')::numeric '
                   '             ELSE t.name = $2 #>> ''{}'' END)', tbl, idcol, extra)
       INTO ids USING acct, v;
    RETURN ids;
END
$$;

-- Check a filter and resolve its names for the account.
CREATE FUNCTION customercard.audience_check_filter(filter jsonb, acct bigint)
RETURNS customercard.audience_filter
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['search', 'gender', 'channel', 'has_phone', 'has_email', 'tag', 'tags_all',
        'tags_any', 'funnel', 'lgt', 'ordered_offer', 'paid_offer', 'status', 'manager', 'created_from', 'created_to'];
    f customercard.audience_filter;
    k text;
    v jsonb;
    t text;
    names text[];
    words text[];
    w text;
BEGIN
    f.impossible := false;
    IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'the audience filter must be a JSON object, not %', coalesce(jsonb_typeof(filter), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass ''{}'' for everyone, or keys such as {"tag": "vip", "has_phone": true}.';
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(filter) LOOP
        IF NOT k = ANY (allowed) THEN
            PERFORM customercard.audience_filter_error(k, 'unknown key',
                'Filter keys: ' || array_to_string(allowed, ', ') || '.');
        END IF;
        CONTINUE WHEN jsonb_typeof(v) = 'null';
        t := jsonb_typeof(v);
        CASE k
        WHEN 'search' THEN
            IF t <> 'string' AND t <> 'number' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t, 'Search by a name, an e-mail or a phone number in any format.');
            END IF;
            w := btrim(v #>> '{}');
            CONTINUE WHEN w = '';
            IF length(w) > 200 THEN
                PERFORM customercard.audience_filter_error(k, 'is longer than 200 characters', 'Search by a name, an e-mail or a phone number.');
            END IF;
            -- a phone number in any format, or an e-mail address, is looked up as
            -- such (no name holds one); anything else is searched in the names
            f.search_phone := customercard.normalize_phone(w)::customercard.phone;
            IF f.search_phone IS NULL AND strpos(w, '@') > 0 THEN
                f.search_email := customercard.email_key(coalesce(customercard.normalize_email(w), w));
            END IF;
            CONTINUE WHEN f.search_phone IS NOT NULL OR f.search_email IS NOT NULL;
            -- every word must occur in one of the names; LIKE's own characters are data
            SELECT array_agg('%' || replace(replace(replace(x, '\', '\\'), '%', '\%'), '_', '\_') || '%')
              INTO f.name_patterns
              FROM regexp_split_to_table(lower(w COLLATE "und-x-icu"), '\s+') AS x WHERE x <> '';
        WHEN 'gender' THEN
            IF t <> 'string' OR NOT (v #>> '{}') IN ('male', 'female', 'unknown') THEN
                PERFORM customercard.audience_filter_error(k, 'must be "male", "female" or "unknown"', 'For example {"gender": "female"}.');
            END IF;
            f.gender := v #>> '{}';
        WHEN 'channel' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t, 'A messenger: telegram, whatsapp, viber, vk, ok, facebook, instagram, max, avito, web, email, sms, other.');
            END IF;
            f.channel := v #>> '{}';
        WHEN 'has_phone', 'has_email' THEN
            IF t <> 'boolean' THEN
                PERFORM customercard.audience_filter_error(k, 'must be true or false, not ' || t, 'For example {"' || k || '": true}.');
            END IF;
            IF k = 'has_phone' THEN f.has_phone := v::boolean; ELSE f.has_email := v::boolean; END IF;
        WHEN 'tag', 'tags_all', 'tags_any' THEN
            IF k = 'tag' THEN
                IF t <> 'string' THEN
                    PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t, 'For example {"tag": "vip"}; several: "tags_all" or "tags_any".');
                END IF;
                names := ARRAY[v #>> '{}'];
            ELSE
                IF t <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) x WHERE jsonb_typeof(x) <> 'string') THEN
                    PERFORM customercard.audience_filter_error(k, 'must be an array of tag names', 'For example {"' || k || '": ["vip", "webinar"]}.');
                END IF;
                names := ARRAY(SELECT DISTINCT x FROM jsonb_array_elements_text(v) x);
            END IF;
            CONTINUE WHEN cardinality(names) = 0;
            IF k = 'tags_any' THEN
                f.tags_any := ARRAY(SELECT tg.tag_id FROM customercard.tags tg
                                     WHERE tg.account_id = acct AND tg.name = ANY (names));
                f.impossible := f.impossible OR cardinality(f.tags_any) = 0;
            ELSE
                -- every tag named must exist, or nobody can have them all
                IF (SELECT count(*) FROM customercard.tags tg WHERE tg.account_id = acct AND tg.name = ANY (names))
                   < cardinality(names) THEN
                    f.impossible := true;
                END IF;
                f.tags_all := ARRAY(SELECT DISTINCT x FROM unnest(f.tags_all ||
                                    ARRAY(SELECT tg.tag_id FROM customercard.tags tg
                                           WHERE tg.account_id = acct AND tg.name = ANY (names))) x);
            END IF;
        WHEN 'funnel', 'lgt' THEN
            IF t NOT IN ('number', 'string') THEN
                PERFORM customercard.audience_filter_error(k,
                    CASE k WHEN 'funnel' THEN 'must be a funnel name or id, not ' ELSE 'must be an LGT name or id, not ' END || t,
                    CASE k WHEN 'funnel' THEN 'For example {"funnel": "Free lesson"}.' ELSE 'For example {"lgt": "Site widget"}.' END);
            END IF;
            IF k = 'funnel' THEN
                f.funnels := customercard.ids_named(acct, v, 'funnels', 'funnel_id');
                f.impossible := f.impossible OR cardinality(f.funnels) = 0;
            ELSE
                f.lgts := customercard.ids_named(acct, v, 'lgts', 'lgt_id');
                f.impossible := f.impossible OR cardinality(f.lgts) = 0;
            END IF;
        WHEN 'ordered_offer', 'paid_offer' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be an offer name, not ' || t, 'For example {"' || k || '": "Course PRO"}.');
            END IF;
            IF k = 'ordered_offer' THEN f.ordered_offer := v #>> '{}'; ELSE f.paid_offer := v #>> '{}'; END IF;
        WHEN 'status' THEN
            IF t <> 'string' OR NOT (v #>> '{}') IN ('active', 'unsubscribed', 'blacklisted', 'archived') THEN
                PERFORM customercard.audience_filter_error(k, 'must be "active", "unsubscribed", "blacklisted" or "archived"', 'For example {"status": "active"}.');
            END IF;
            f.status := v #>> '{}';
        WHEN 'manager' THEN
            IF t = 'number' THEN
                f.manager := (SELECT m.manager_id FROM customercard.managers m
                               WHERE m.account_id = acct AND m.manager_id = (v #>> '{}')::numeric);
            ELSIF t = 'string' THEN
                f.manager := (SELECT min(m.manager_id) FROM customercard.managers m
                               WHERE m.account_id = acct AND m.name = v #>> '{}');
            ELSE
                PERFORM customercard.audience_filter_error(k, 'must be a manager id or name, not ' || t, 'For example {"manager": 3}.');
            END IF;
            f.impossible := f.impossible OR f.manager IS NULL;
        WHEN 'created_from', 'created_to' THEN
            IF t <> 'string' THEN
                PERFORM customercard.audience_filter_error(k, 'must be a date or timestamp string, not ' || t, 'For example {"' || k || '": "2026-01-31"}.');
            END IF;
            BEGIN
                IF (v #>> '{}') ~ '^\d{4}-\d{2}-\d{2}$' THEN
                    -- a date: from its start; to the end of that day
                    IF k = 'created_from' THEN f.created_from := (v #>> '{}')::date;
                    ELSE f.created_to := (v #>> '{}')::date + 1; END IF;
                ELSIF k = 'created_from' THEN
                    f.created_from := (v #>> '{}')::timestamptz;
                ELSE
                    f.created_to := (v #>> '{}')::timestamptz + interval '1 microsecond';
                END IF;
            EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow THEN
                PERFORM customercard.audience_filter_error(k, pg_catalog.format('"%s" is not a date or timestamp', v #>> '{}'),
                    'Use ISO 8601: "2026-01-31" (the whole day) or "2026-01-31T18:00:00+03".');
            END;
        END CASE;
    END LOOP;
    RETURN f;
END
$$;

-- The WHERE fragments of a checked filter: fixed SQL over the parameters
-- $1 (account) and $2 (the filter record); never text from the filter.
CREATE FUNCTION customercard.audience_where(f customercard.audience_filter) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT concat_ws(E'\n   AND ', 'c.account_id = $1 AND c.merged_into IS NULL AND c.deleted_at IS NULL',
        CASE WHEN f.impossible THEN 'false' END,
        -- search: by name, a trigram condition per word on the row itself (so
        -- the planner weighs the GIN index against the newest-first scan:
        -- a rare name goes through the index, a common one is met early in
        -- the scan); by e-mail key; by phone
        CASE WHEN f.name_patterns IS NOT NULL THEN
            (SELECT string_agg(format('customercard.name_haystack(c.name, c.first_name, c.last_name, c.middle_name, c.nickname) LIKE (($2).name_patterns)[%s]', i), ' AND ')
               FROM generate_series(1, cardinality(f.name_patterns)) i) END,
        CASE WHEN f.search_email IS NOT NULL THEN
            'c.contact_id IN (SELECT e.contact_id FROM customercard.emails e WHERE e.account_id = $1 AND customercard.email_key(e.email) = ($2).search_email)' END,
        CASE WHEN f.search_phone IS NOT NULL THEN
            'c.contact_id IN (SELECT p.contact_id FROM customercard.phones p WHERE p.account_id = $1 AND p.phone OPERATOR(customercard.=) ($2).search_phone)' END,
        CASE WHEN f.gender IS NULL THEN NULL WHEN f.gender = 'unknown' THEN 'c.gender IS NULL' ELSE 'c.gender = ($2).gender' END,
        CASE WHEN f.channel IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.channels ch WHERE ch.account_id = $1 AND ch.kind = ($2).channel AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL)' END,
        CASE f.has_phone WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id)'
                         WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id)' END,
        CASE f.has_email WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id)'
                         WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id)' END,
        CASE WHEN cardinality(f.tags_all) = 1 THEN
            'EXISTS (SELECT 1 FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.tag_id = (($2).tags_all)[1] AND ct.contact_id = c.contact_id)'
             WHEN cardinality(f.tags_all) > 1 THEN
            '(SELECT count(*) FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.contact_id = c.contact_id AND ct.tag_id = ANY (($2).tags_all)) = cardinality(($2).tags_all)' END,
        CASE WHEN cardinality(f.tags_any) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.contact_tags ct WHERE ct.account_id = $1 AND ct.tag_id = ANY (($2).tags_any) AND ct.contact_id = c.contact_id)' END,
        CASE WHEN cardinality(f.funnels) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.subscriptions s WHERE s.account_id = $1 AND s.funnel_id = ANY (($2).funnels) AND s.contact_id = c.contact_id AND s.unsubscribed_at IS NULL)' END,
        CASE WHEN cardinality(f.lgts) > 0 THEN
            'EXISTS (SELECT 1 FROM customercard.subscriptions s WHERE s.account_id = $1 AND s.lgt_id = ANY (($2).lgts) AND s.contact_id = c.contact_id)' END,
        CASE WHEN f.ordered_offer IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.orders o WHERE o.account_id = $1 AND o.offer = ($2).ordered_offer AND o.contact_id = c.contact_id)' END,
        CASE WHEN f.paid_offer IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.orders o WHERE o.account_id = $1 AND o.offer = ($2).paid_offer AND o.status = ''paid'' AND o.contact_id = c.contact_id)' END,
        CASE WHEN f.status IS NOT NULL THEN 'c.status = ($2).status' END,
        CASE WHEN f.manager IS NOT NULL THEN 'c.manager_id = ($2).manager' END,
        CASE WHEN f.created_from IS NOT NULL THEN 'c.created_at >= ($2).created_from' END,
        CASE WHEN f.created_to IS NOT NULL THEN 'c.created_at < ($2).created_to' END)
$$;

-- The CRM table, newest first.  SECURITY DEFINER so that the planner may use
-- every index (LIKE and EXISTS are not leakproof, so under row-level security
-- they would be evaluated after it, row by row); the account is the caller's,
-- judged by current_account_id(), and every table is filtered by it.
CREATE FUNCTION customercard.audience_search(filter jsonb DEFAULT '{}', page integer DEFAULT 1,
                                             page_size integer DEFAULT 30, after_contact_id bigint DEFAULT NULL)
RETURNS TABLE (contact_id bigint, name text, created_at timestamptz, phone text, email text,
               tags text[], sales_plans text[], sales_count bigint, channels text[], channels_count bigint,
               status text, manager_name text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
-- a page of 30 is interactive: starting parallel workers costs more than it saves
SET max_parallel_workers_per_gather = 0 AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    f customercard.audience_filter;
    after_created timestamptz;
    keyset text := '';
BEGIN
    IF after_contact_id IS NOT NULL THEN
        -- keyset paging: the rows after this contact in the table's order
        SELECT c.created_at INTO after_created FROM customercard.contacts c
         WHERE c.account_id = acct AND c.contact_id = after_contact_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'contact % does not exist in account %', after_contact_id, acct
                USING ERRCODE = 'undefined_object', HINT = 'Pass the last contact_id of the previous page.';
        END IF;
        keyset := ' AND (c.created_at, c.contact_id) < ($5, $6)';
        page := 1;
    END IF;
    IF page IS NULL OR page < 1 OR page_size IS NULL OR page_size NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'page must be 1 or more and page_size between 1 and 500 (got %, %)', page, page_size
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The CRM table shows 30 per page: audience_search(filter, 1, 30).';
    END IF;
    f := customercard.audience_check_filter(filter, acct);
    RETURN QUERY EXECUTE format($q$
        WITH page AS MATERIALIZED (
            SELECT c.contact_id, c.created_at FROM customercard.contacts c
             WHERE %s%s
             ORDER BY c.created_at DESC, c.contact_id DESC
             LIMIT $3 OFFSET $4)
        SELECT c.contact_id,
               coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname),
               c.created_at,
               (SELECT p.phone::text FROM customercard.phones p WHERE p.account_id = $1 AND p.contact_id = c.contact_id
                 ORDER BY p.is_primary DESC, p.phone_id LIMIT 1),
               (SELECT e.email FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id
                 ORDER BY e.is_primary DESC, e.email_id LIMIT 1),
               coalesce((SELECT array_agg(t.name ORDER BY t.name) FROM customercard.contact_tags ct
                           JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                          WHERE ct.account_id = $1 AND ct.contact_id = c.contact_id), '{}'),
               coalesce((SELECT array_agg(sp.name ORDER BY sp.name) FROM customercard.sales_plan_members spm
                           JOIN customercard.sales_plans sp ON sp.account_id = spm.account_id AND sp.plan_id = spm.plan_id
                          WHERE spm.account_id = $1 AND spm.contact_id = c.contact_id), '{}'),
               (SELECT count(*) FROM customercard.orders o
                 WHERE o.account_id = $1 AND o.contact_id = c.contact_id AND o.status = 'paid'),
               coalesce((SELECT array_agg(DISTINCT ch.kind ORDER BY ch.kind) FROM customercard.channels ch
                          WHERE ch.account_id = $1 AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL), '{}'),
               (SELECT count(*) FROM customercard.channels ch
                 WHERE ch.account_id = $1 AND ch.contact_id = c.contact_id AND ch.archived_at IS NULL),
               c.status,
               m.name
          FROM page pg
          JOIN customercard.contacts c ON c.account_id = $1 AND c.contact_id = pg.contact_id
          LEFT JOIN customercard.managers m ON m.account_id = $1 AND m.manager_id = c.manager_id
         ORDER BY pg.created_at DESC, pg.contact_id DESC
        $q$, customercard.audience_where(f), keyset)
        USING acct, f, page_size, (page - 1)::bigint * page_size, after_created, after_contact_id;
END
$$;
COMMENT ON FUNCTION customercard.audience_search(jsonb, integer, integer, bigint) IS
    'The CRM table of the current account: live contacts matching the filter (SPEC §7 keys), newest first (id breaks ties), one page; after_contact_id: the page after that contact (keyset paging)';

CREATE FUNCTION customercard.audience_count(filter jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    f customercard.audience_filter := customercard.audience_check_filter(filter, acct);
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM customercard.contacts c WHERE %s', customercard.audience_where(f))
       INTO n USING acct, f;
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.audience_count(jsonb) IS
    'How many live contacts of the current account match the audience filter';

-- The ids a filter selects, for bulk actions and exports.
CREATE FUNCTION customercard.audience_ids(filter jsonb DEFAULT '{}') RETURNS SETOF bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    f customercard.audience_filter := customercard.audience_check_filter(filter, acct);
BEGIN
    RETURN QUERY EXECUTE format('SELECT c.contact_id FROM customercard.contacts c WHERE %s ORDER BY c.contact_id',
                                customercard.audience_where(f))
        USING acct, f;
END
$$;
COMMENT ON FUNCTION customercard.audience_ids(jsonb) IS
    'The ids of the live contacts of the current account that match the audience filter, in id order';
-- ===================================================================
-- 43_duplicates.sql: finding duplicates (SPEC §4): candidates of one
-- contact with a score and reasons, groups over the whole account, pairs
-- marked as different people, and the merge preview.
-- ===================================================================

-- Name similarity comes from pg_trgm, in whatever schema it was installed.
DO $do$
DECLARE
    s name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm');
BEGIN
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION customercard.name_similarity(a text, b text) RETURNS real
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS 'SELECT %I.similarity(a, b)'$f$, s);
    -- live contacts of an account whose names are like a given one (the
    -- trigram index answers the %% operator), most similar first
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION customercard.similar_name_contacts(acct bigint, haystack text, max_rows integer)
        RETURNS TABLE (contact_id bigint, similarity real)
        LANGUAGE sql STABLE SET pg_trgm.similarity_threshold = '0.5' AS $b$
            SELECT n.contact_id,
                   %1$I.similarity(customercard.name_haystack(n.name, n.first_name, n.last_name, n.middle_name, n.nickname), haystack)
              FROM customercard.contacts n
             WHERE n.account_id = acct AND n.merged_into IS NULL AND n.deleted_at IS NULL
               AND customercard.name_haystack(n.name, n.first_name, n.last_name, n.middle_name, n.nickname)
                   OPERATOR(%1$I.%%) haystack
             ORDER BY 2 DESC, 1
             LIMIT max_rows
        $b$ $f$, s);
END
$do$;
COMMENT ON FUNCTION customercard.name_similarity(text, text) IS 'pg_trgm''s similarity of two names (0..1)';

-- Mark two contacts as different people (an id of a merged contact means its survivor).
CREATE FUNCTION customercard.not_duplicates(a bigint, b bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    x bigint := customercard.resolve_contact(a);
    y bigint := customercard.resolve_contact(b);
BEGIN
    IF x = y THEN
        RAISE EXCEPTION 'contacts % and % are the same contact', a, b
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Mark two different contacts.';
    END IF;
    INSERT INTO customercard.not_duplicates (account_id, contact_a, contact_b)
    VALUES (customercard.require_account_id(), least(x, y), greatest(x, y))
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION customercard.not_duplicates(bigint, bigint) IS
    'Mark two contacts as different people: duplicate_candidates and duplicate_groups never pair them again';

-- Scored candidates of one contact.  Evidence combines as independent
-- signals (1 - product of (1 - weight)); a key's weight shrinks with the
-- number of contacts sharing it (a company switchboard says little), and a
-- name's with the number of contacts bearing a like name.
-- (the argument is for_contact_id: an input and an output column cannot
-- share the name contact_id)
CREATE FUNCTION customercard.duplicate_candidates(for_contact_id bigint)
RETURNS TABLE (contact_id bigint, score real, reasons text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    id bigint := customercard.resolve_contact(for_contact_id);
    hay text;
BEGIN
    SELECT customercard.name_haystack(c.name, c.first_name, c.last_name, c.middle_name, c.nickname) INTO hay
      FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = id;
    RETURN QUERY
    WITH keys AS MATERIALIZED (
        -- how many other contacts share each value
        SELECT h.related_id, h.kind, h.value, count(*) OVER (PARTITION BY h.kind, h.value) AS sharers
          FROM customercard.contact_key_hits(acct, id) h
    ), names AS MATERIALIZED (
        SELECT s.contact_id, s.similarity FROM customercard.similar_name_contacts(acct, hay, 51) s
         WHERE hay <> '' AND s.contact_id <> id
    ), evidence AS (
        SELECT k.related_id AS cid,
               (CASE k.kind WHEN 'phone' THEN 0.6 WHEN 'email' THEN 0.6 WHEN 'external_id' THEN 0.8 ELSE 0.3 END)
                 * least(1.0, 2.0 / k.sharers) AS w,
               k.kind || ' ' || k.value || CASE WHEN k.sharers > 2 THEN ' (shared by ' || (k.sharers + 1) || ')' ELSE '' END AS why
          FROM keys k
        UNION ALL
        SELECT n.contact_id, 0.4 * n.similarity * least(1.0, 5.0 / (SELECT count(*) FROM names)),
               'name ' || round(n.similarity::numeric, 2)
          FROM names n
    )
    SELECT e.cid, (1 - exp(sum(ln(greatest(1 - e.w, 1e-9)))))::real,
           array_agg(e.why ORDER BY e.w DESC, e.why)
      FROM evidence e
     WHERE NOT EXISTS (SELECT 1 FROM customercard.not_duplicates nd
                        WHERE nd.account_id = acct AND nd.contact_a = least(id, e.cid) AND nd.contact_b = greatest(id, e.cid))
     GROUP BY e.cid
     ORDER BY 2 DESC, 1;
END
$$;
COMMENT ON FUNCTION customercard.duplicate_candidates(bigint) IS
    'Contacts that may be the same person as this one: score 0..1 and the reasons (shared phone, e-mail, channel id, visitor id, similar name), most likely first; pairs marked not_duplicates never appear';

-- Candidate groups over the whole account: contacts linked by a shared
-- phone, e-mail or channel external id (keys held by more than
-- max_sharers contacts are a switchboard, not a person, and link nothing),
-- minus pairs marked as different people; connected components.
CREATE FUNCTION customercard.duplicate_groups_of(account_id bigint, max_sharers integer)
RETURNS TABLE (group_id bigint, contact_ids bigint[], reasons text[])
    AS 'MODULE_PATHNAME', 'duplicate_groups_of' LANGUAGE C STABLE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.duplicate_groups_of(bigint, integer) IS
    'duplicate_groups() of an account (read as the caller: row-level security applies); a union-find over the keys, in C';

CREATE FUNCTION customercard.duplicate_groups(max_sharers integer DEFAULT 10)
RETURNS TABLE (group_id bigint, contact_ids bigint[], reasons text[])
LANGUAGE sql STABLE AS $$
    SELECT * FROM customercard.duplicate_groups_of(customercard.require_account_id(), max_sharers)
$$;
COMMENT ON FUNCTION customercard.duplicate_groups(integer) IS
    'Groups of live contacts of the account linked by a shared phone, e-mail or channel external id (keys shared by more than max_sharers contacts are ignored; pairs marked not_duplicates are not linked), with the kinds of keys that link them';
-- ===================================================================
-- 44_merge.sql: merging two contacts, undoing a merge, forgetting a person.
--
-- A merge moves every row of the absorbed contact to the survivor, table by
-- table (merge_sections below).  Rows that would collide (the same tag, the
-- same funnel subscription through the same channel, the same phone, ...)
-- are combined into the survivor's row and the absorbed one is removed.
-- Nothing is lost: the merge journal (merges.journal) holds the keys of the
-- moved rows, the images of removed rows, the survivor rows before and
-- after they were combined, which primary flags changed, and both contact
-- rows.  unmerge() reads it back: moved rows return, removed rows come back
-- as they were, combined rows get back each column that has not been edited
-- since; rows added to the survivor after the merge stay with it.
--
-- Comments and the action log are append-only for every role; a merge moves
-- them through the card rewrite switch (card_rewrite, immutable.c), which
-- also keeps the per-row log triggers quiet: a merge is one `merged` event on
-- each card, not a tag_removed/tag_added pair per row.
--
-- Locks: both contact rows FOR NO KEY UPDATE in id order, so two merges that
-- share a contact run one after the other, in either direction, and a
-- foreign key check (FOR KEY SHARE) elsewhere never waits on them.  A
-- deadlock with other work (a bulk job updating the same contacts) is
-- retried, so it never reaches the caller.
-- ===================================================================

-- The caller's account, when the caller may administer it (merge, unmerge
-- and forget_contact are admin work).
CREATE FUNCTION customercard.admin_account_id() RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
BEGIN
    PERFORM customercard.assert_account_admin(acct);
    RETURN acct;
END
$$;

CREATE FUNCTION customercard.card_rewrite(turn_on boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'card_rewrite' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.card_rewrite(boolean) IS
    'Internal to merge, unmerge and forget_contact: lets them move or scrub append-only rows without per-row log events; off again at the end of the (sub)transaction';

-- The object without its top-level null members (jsonb_strip_nulls would
-- also strip the null columns inside the row images, which must stay).
CREATE FUNCTION customercard.jsonb_drop_nulls(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(j) e WHERE jsonb_typeof(e.value) <> 'null'
$$;

-- Every table that holds rows of a contact, with the column that tells a
-- contact's rows apart (the primary key, or the other half of a composite
-- one), and, where two contacts' rows can collide, how they match and how
-- the survivor's row takes in the absorbed one (s = survivor's row, a =
-- absorbed's; $4 = the take_from_absorbed list), and for phones and e-mails
-- how their one primary row is chosen.  These fragments are fixed
-- text of this file, never input.  test/tap/merge.sql checks that every
-- table with a contact_id column is listed here or in merge_unlisted().
CREATE FUNCTION customercard.merge_sections(OUT tbl text, OUT key text, OUT match text, OUT assign text,
                                            OUT primary_expr text, OUT take_name text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $sections$
SELECT v.*, p.primary_expr, p.take_name
  FROM (VALUES
    ('phones', 'phone_id', 's.phone OPERATOR(customercard.=) a.phone', NULL),
    ('emails', 'email_id', 'customercard.email_key(s.email) = customercard.email_key(a.email)', NULL),
    ('addresses', 'address_id', NULL, NULL),
    ('balance_transactions', 'transaction_id', NULL, NULL),
    ('channels', 'channel_id', NULL, NULL),
    ('contact_tags', 'tag_id', 's.tag_id = a.tag_id',
     'added_at = LEAST(s.added_at, a.added_at), '
     'added_by = CASE WHEN a.added_at < s.added_at THEN a.added_by ELSE s.added_by END'),
    ('custom_values', 'field_id', 's.field_id = a.field_id',
     'value = CASE WHEN s.value = '''' OR customercard.merge_takes_field(s.account_id, s.field_id, $4) THEN a.value ELSE s.value END, '
     'updated_at = CASE WHEN s.value = '''' OR customercard.merge_takes_field(s.account_id, s.field_id, $4) THEN a.updated_at ELSE s.updated_at END'),
    ('subscriptions', 'subscription_id', 's.funnel_id = a.funnel_id AND s.channel_id IS NOT DISTINCT FROM a.channel_id',
     'subscribed_at = LEAST(s.subscribed_at, a.subscribed_at), '
     'unsubscribed_at = CASE WHEN s.unsubscribed_at IS NOT NULL AND a.unsubscribed_at IS NOT NULL '
     '                       THEN GREATEST(s.unsubscribed_at, a.unsubscribed_at) END, '
     'lgt_id = coalesce(s.lgt_id, a.lgt_id), block_id = coalesce(s.block_id, a.block_id)'),
    ('orders', 'order_id', NULL, NULL),
    ('payments', 'payment_id', NULL, NULL),
    ('sales_plan_members', 'plan_id', 's.plan_id = a.plan_id',
     'status = CASE WHEN s.status = ''new'' THEN a.status ELSE s.status END, '
     'amount = coalesce(s.amount, a.amount), '
     'manager_pinned = CASE WHEN s.manager_id IS NULL THEN a.manager_pinned ELSE s.manager_pinned END, '
     'manager_id = coalesce(s.manager_id, a.manager_id), added_at = LEAST(s.added_at, a.added_at)'),
    ('tasks', 'task_id', NULL, NULL),
    ('calls', 'call_id', NULL, NULL),
    ('call_campaign_members', 'campaign_id', 's.campaign_id = a.campaign_id',
     'included_at = LEAST(s.included_at, a.included_at), call_back_at = coalesce(s.call_back_at, a.call_back_at), '
     'comment = coalesce(s.comment, a.comment), manager_id = coalesce(s.manager_id, a.manager_id)'),
    ('comments', 'comment_id', NULL, NULL),
    ('webinar_visits', 'visit_id', NULL, NULL),
    ('page_visits', 'visit_id', NULL, NULL),
    ('clicks', 'click_id', NULL, NULL),
    ('emails_sent', 'email_sent_id', NULL, NULL),
    -- the earlier joining keeps its attribution (partner, tag, UTM, visitor)
    ('group_members', 'group_id', 's.group_id = a.group_id',
     'joined_at = LEAST(s.joined_at, a.joined_at), '
     'partner = CASE WHEN a.joined_at < s.joined_at THEN a.partner ELSE s.partner END, '
     'tag = CASE WHEN a.joined_at < s.joined_at THEN a.tag ELSE s.tag END, '
     'utm_source = CASE WHEN a.joined_at < s.joined_at THEN a.utm_source ELSE s.utm_source END, '
     'utm_medium = CASE WHEN a.joined_at < s.joined_at THEN a.utm_medium ELSE s.utm_medium END, '
     'utm_campaign = CASE WHEN a.joined_at < s.joined_at THEN a.utm_campaign ELSE s.utm_campaign END, '
     'visitor_id = CASE WHEN a.joined_at < s.joined_at THEN a.visitor_id ELSE s.visitor_id END'),
    ('action_log', 'log_id', NULL, NULL),
    ('action_log_archive', 'log_id', NULL, NULL)) v (tbl, key, match, assign)
  -- one primary row per contact: the expression rows are compared by, and
  -- the take_from_absorbed name that prefers the absorbed's primary
  LEFT JOIN (VALUES ('phones', 't.phone', 'phone'),
                    ('emails', 'customercard.email_key(t.email)', 'email')) p (tbl, primary_expr, take_name)
         ON p.tbl = v.tbl
$sections$;

-- Tables with a contact_id column that a merge deliberately leaves alone.
CREATE FUNCTION customercard.merge_unlisted() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- the contacts themselves; the journal of merges; pairs judged different;
    -- bulk jobs' selections and failures (the runner resolves tombstones)
    SELECT ARRAY['contacts', 'merges', 'not_duplicates', 'bulk_job_items', 'bulk_job_failures']
$$;

-- Written here from merge_sections(), as static SQL, so that their plans
-- are cached (a merge would otherwise plan dozens of statements anew):
--   merge_combines(acct, survivor, absorbed, take): in every table with a
--     match rule, the survivor's colliding rows take in the absorbed's
--     (assign) and the absorbed's are removed; returns per table the removed
--     rows and the survivor's rows before and after;
--   merge_moves(acct, survivor, absorbed): every remaining row of the
--     absorbed moves to the survivor; returns {table: [keys]};
--   unmerge_moves(acct, survivor, absorbed, sections) moves them back.
DO $generate$
DECLARE
    moves text;
    results text;
    backs text;
    combines text;
    combined text;
BEGIN
    SELECT string_agg(
             CASE WHEN m.assign IS NOT NULL THEN format(
                 'p_%1$s AS (SELECT to_jsonb(s) AS img FROM customercard.%1$I s JOIN customercard.%1$I a '
                 'ON a.account_id = acct AND a.contact_id = aid AND (%2$s) WHERE s.account_id = acct AND s.contact_id = sid), '
                 'u_%1$s AS (UPDATE customercard.%1$I s SET %3$s FROM customercard.%1$I a '
                 'WHERE s.account_id = acct AND s.contact_id = sid AND a.account_id = acct AND a.contact_id = aid AND (%2$s) '
                 'RETURNING to_jsonb(s) AS img), ', m.tbl, m.match, replace(m.assign, '$4', 'take')) ELSE '' END
             || format('d_%1$s AS (DELETE FROM customercard.%1$I a USING customercard.%1$I s '
                       'WHERE s.account_id = acct AND s.contact_id = sid AND a.account_id = acct AND a.contact_id = aid AND (%2$s) '
                       'RETURNING to_jsonb(a) AS img)', m.tbl, m.match),
             E',\n        ' ORDER BY m.ord),
           string_agg(format('%1$L, customercard.jsonb_drop_nulls(jsonb_build_object(''deleted'', (SELECT jsonb_agg(img) FROM d_%1$s)',
                             m.tbl)
             || CASE WHEN m.assign IS NOT NULL THEN format(', ''before'', (SELECT jsonb_agg(img) FROM p_%1$s), '
                                                            '''after'', (SELECT jsonb_agg(img) FROM u_%1$s)', m.tbl) ELSE '' END
             || '))',
             E',\n        ' ORDER BY m.ord)
      INTO combines, combined
      FROM customercard.merge_sections() WITH ORDINALITY m (tbl, key, match, assign, primary_expr, take_name, ord)
     WHERE m.match IS NOT NULL;
    EXECUTE format($f$
CREATE FUNCTION customercard.merge_combines(acct bigint, sid bigint, aid bigint, take text[]) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    combined_rows jsonb;
BEGIN
    WITH %s
    SELECT jsonb_build_object(
        %s) INTO combined_rows;
    RETURN combined_rows;
END
$body$;
$f$, combines, combined);

    SELECT string_agg(format('m_%1$s AS (UPDATE customercard.%1$I t SET contact_id = s WHERE t.account_id = acct AND t.contact_id = a '
                             'RETURNING t.%2$I AS k)', m.tbl, m.key), E',\n        ' ORDER BY m.ord),
           string_agg(format('%1$L, (SELECT jsonb_agg(k) FROM m_%1$s)', m.tbl), E',\n        ' ORDER BY m.ord),
           string_agg(format('b_%1$s AS (UPDATE customercard.%1$I t SET contact_id = a WHERE t.account_id = acct AND t.contact_id = s '
                             'AND t.%2$I = ANY (ARRAY(SELECT jsonb_array_elements_text(sections -> %1$L -> ''moved'')::bigint)) '
                             'RETURNING 1)', m.tbl, m.key), E',\n        ' ORDER BY m.ord)
      INTO moves, results, backs
      FROM customercard.merge_sections() WITH ORDINALITY m (tbl, key, match, assign, primary_expr, take_name, ord);
    EXECUTE format($f$
CREATE FUNCTION customercard.merge_moves(acct bigint, s bigint, a bigint) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    moved jsonb;
BEGIN
    WITH %s
    SELECT customercard.jsonb_drop_nulls(jsonb_build_object(
        %s)) INTO moved;
    RETURN moved;
END
$body$;
CREATE FUNCTION customercard.unmerge_moves(acct bigint, s bigint, a bigint, sections jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    done integer;
BEGIN
    WITH %s
    SELECT 1 INTO done;
END
$body$;
$f$, moves, results, backs);
END
$generate$;

-- The single-valued fields of a contact, as merge_preview shows them and as
-- take_from_absorbed names them.
CREATE FUNCTION customercard.merge_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender',
                 'timezone', 'country', 'city', 'ip', 'note', 'manager_id']
$$;

CREATE FUNCTION customercard.merge_takes_field(account_id bigint, field_id bigint, take text[]) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM customercard.custom_fields f
                    WHERE f.account_id = merge_takes_field.account_id AND f.field_id = merge_takes_field.field_id
                      AND 'custom:' || f.name = ANY (take))
$$;

-- blacklisted > unsubscribed > active > archived: the most restrictive
-- wish of the person wins; an archived card merged with a live one is live.
CREATE FUNCTION customercard.status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status WHEN 'blacklisted' THEN 3 WHEN 'unsubscribed' THEN 2 WHEN 'active' THEN 1 ELSE 0 END
$$;

-- The survivor's contact row as the merge leaves it.
CREATE FUNCTION customercard.merged_contact(s customercard.contacts, a customercard.contacts, take text[])
RETURNS customercard.contacts
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sj jsonb := to_jsonb(s);
    aj jsonb := to_jsonb(a);
    patch jsonb;
BEGIN
    SELECT coalesce(jsonb_object_agg(f, aj -> f), '{}') INTO patch
      FROM unnest(customercard.merge_fields()) f
     WHERE f = ANY (take) OR jsonb_typeof(sj -> f) = 'null' OR sj ->> f = '';
    IF patch ? 'gender' THEN
        patch := patch || jsonb_build_object('gender_source', aj -> 'gender_source');
    END IF;
    patch := patch || jsonb_build_object(
        'status', CASE WHEN 'status' = ANY (take)
                         OR customercard.status_rank(a.status) > customercard.status_rank(s.status)
                       THEN a.status ELSE s.status END,
        'points', s.points + a.points,
        'created_at', LEAST(s.created_at, a.created_at),
        'updated_at', now());
    RETURN jsonb_populate_record(s, patch);
END
$$;

-- The primary phone / e-mail after a merge: the survivor's, unless it has
-- none or take_from_absorbed names 'phone' / 'email'.  Compared as text of
-- the match expression (E.164, or the e-mail key).
CREATE FUNCTION customercard.merge_primary_target(acct bigint, tbl text, expr text, s bigint, a bigint, prefer_absorbed boolean)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sv text;
    av text;
BEGIN
    EXECUTE format('SELECT (SELECT (%2$s)::text FROM customercard.%1$I t WHERE t.account_id = $1 AND t.contact_id = $2 AND t.is_primary), '
                   '       (SELECT (%2$s)::text FROM customercard.%1$I t WHERE t.account_id = $1 AND t.contact_id = $3 AND t.is_primary)',
                   tbl, expr)
       INTO sv, av USING acct, s, a;
    RETURN CASE WHEN prefer_absorbed THEN coalesce(av, sv) ELSE coalesce(sv, av) END;
END
$$;

-- Make the row matching target the only primary among both contacts' rows
-- (before they move); returns which flags changed.
CREATE FUNCTION customercard.merge_set_primary(acct bigint, tbl text, key text, expr text, s bigint, a bigint, target text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cleared jsonb;
    made jsonb;
BEGIN
    IF target IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('WITH u AS (UPDATE customercard.%1$I t SET is_primary = false '
                   ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.is_primary AND (%3$s)::text <> $4 '
                   ' RETURNING t.%2$I AS k) SELECT jsonb_agg(k) FROM u', tbl, key, expr)
       INTO cleared USING acct, s, a, target;
    EXECUTE format('WITH u AS (UPDATE customercard.%1$I t SET is_primary = true '
                   ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND NOT t.is_primary AND (%3$s)::text = $4 '
                   ' RETURNING t.%2$I AS k) SELECT jsonb_agg(k) FROM u', tbl, key, expr)
       INTO made USING acct, s, a, target;
    IF cleared IS NULL AND made IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN customercard.jsonb_drop_nulls(jsonb_build_object('cleared', cleared, 'made', made));
END
$$;

-- Lock two contacts of the account in id order and return their rows.
CREATE FUNCTION customercard.lock_contact_pair(acct bigint, x bigint, y bigint,
                                               OUT xr customercard.contacts, OUT yr customercard.contacts)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r customercard.contacts;
BEGIN
    FOR r IN SELECT * FROM customercard.contacts c
              WHERE c.account_id = acct AND c.contact_id IN (x, y)
              ORDER BY c.contact_id FOR NO KEY UPDATE
    LOOP
        IF r.contact_id = x THEN xr := r; ELSE yr := r; END IF;
    END LOOP;
    IF xr.contact_id IS NULL OR yr.contact_id IS NULL THEN
        RAISE EXCEPTION 'contact % does not exist in account %', CASE WHEN xr.contact_id IS NULL THEN x ELSE y END, acct
            USING ERRCODE = 'undefined_object',
                  HINT = 'Check the contact id and the setting customercard.account_id; contacts of another account cannot be merged.';
    END IF;
END
$$;

-- A merge may only take live contacts: a tombstone's rows already moved.
CREATE FUNCTION customercard.merge_check_live(r customercard.contacts, role text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF r.merged_into IS NOT NULL THEN
        RAISE EXCEPTION 'contact % was merged into contact % and cannot be merged %', r.contact_id,
                        customercard.resolve_contact(r.contact_id), role
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('Merge with contact %s, the survivor, instead; or undo merge %s first.',
                                customercard.resolve_contact(r.contact_id),
                                (SELECT max(m.merge_id) FROM customercard.merges m
                                  WHERE m.account_id = r.account_id AND m.absorbed_id = r.contact_id AND m.undone_at IS NULL));
    END IF;
    IF r.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'contact % is deleted and cannot be merged %', r.contact_id, role
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Restore it first (UPDATE customercard.contacts SET deleted_at = NULL ...).';
    END IF;
END
$$;

CREATE FUNCTION customercard.merge_apply(acct bigint, survivor_id bigint, absorbed_id bigint, take text[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s customercard.contacts;
    a customercard.contacts;
    merged customercard.contacts;
    pair record;
    sec record;
    entry jsonb;
    sections jsonb := '{}';
    targets jsonb;
    nd jsonb;
    s_after jsonb;
    mid bigint;
BEGIN
    pair := customercard.lock_contact_pair(acct, survivor_id, absorbed_id);
    s := pair.xr;
    a := pair.yr;
    PERFORM customercard.merge_check_live(s, 'into');
    PERFORM customercard.merge_check_live(a, 'again');
    PERFORM customercard.card_rewrite(true);

    -- which phone and e-mail end up primary, decided before rows collide
    SELECT jsonb_object_agg(m.tbl, customercard.merge_primary_target(acct, m.tbl, m.primary_expr, s.contact_id, a.contact_id,
                                                                      m.take_name = ANY (take)))
      INTO targets FROM customercard.merge_sections() m WHERE m.primary_expr IS NOT NULL;

    -- colliding rows combined
    SELECT coalesce(jsonb_object_agg(c.key, c.value), '{}') INTO sections
      FROM jsonb_each(customercard.merge_combines(acct, s.contact_id, a.contact_id, take)) c
     WHERE c.value <> '{}';
    -- one primary phone and e-mail
    FOR sec IN SELECT * FROM customercard.merge_sections() m WHERE m.primary_expr IS NOT NULL LOOP
        entry := customercard.merge_set_primary(acct, sec.tbl, sec.key, sec.primary_expr, s.contact_id, a.contact_id,
                                                targets ->> sec.tbl);
        IF entry IS NOT NULL THEN
            sections := sections || jsonb_build_object(sec.tbl, coalesce(sections -> sec.tbl, '{}') || jsonb_build_object('primary', entry));
        END IF;
    END LOOP;
    -- then every remaining row of the absorbed, in one statement
    SELECT coalesce(jsonb_object_agg(mv.key, coalesce(sections -> mv.key, '{}') || jsonb_build_object('moved', mv.value)), '{}')
      INTO entry FROM jsonb_each(customercard.merge_moves(acct, s.contact_id, a.contact_id)) mv;
    sections := sections || entry;

    -- pairs judged different people: what held for the absorbed holds for the survivor
    WITH others AS (
        SELECT CASE WHEN n.contact_a = a.contact_id THEN n.contact_b ELSE n.contact_a END AS other
          FROM customercard.not_duplicates n
         WHERE n.account_id = acct AND a.contact_id IN (n.contact_a, n.contact_b)),
    ins AS (
        INSERT INTO customercard.not_duplicates (account_id, contact_a, contact_b)
        SELECT acct, LEAST(s.contact_id, o.other), GREATEST(s.contact_id, o.other) FROM others o
         WHERE o.other <> s.contact_id
        ON CONFLICT DO NOTHING
        RETURNING contact_a, contact_b)
    SELECT jsonb_agg(jsonb_build_array(contact_a, contact_b)) INTO nd FROM ins;

    merged := customercard.merged_contact(s, a, take);
    UPDATE customercard.contacts c
       SET (name, first_name, last_name, middle_name, nickname, avatar_url, gender, gender_source, timezone,
            country, city, ip, note, manager_id, status, points, created_at, updated_at)
         = (merged.name, merged.first_name, merged.last_name, merged.middle_name, merged.nickname, merged.avatar_url,
            merged.gender, merged.gender_source, merged.timezone, merged.country, merged.city, merged.ip, merged.note,
            merged.manager_id, merged.status, merged.points, merged.created_at, merged.updated_at)
     WHERE c.account_id = acct AND c.contact_id = s.contact_id
    RETURNING to_jsonb(c) INTO s_after;
    -- the tombstone: its rows (points ledger included) now belong to the survivor
    UPDATE customercard.contacts c SET merged_into = s.contact_id, points = 0, updated_at = now()
     WHERE c.account_id = acct AND c.contact_id = a.contact_id;

    INSERT INTO customercard.merges (account_id, survivor_id, absorbed_id, journal)
    VALUES (acct, s.contact_id, a.contact_id,
            customercard.jsonb_drop_nulls(jsonb_build_object(
                'take', to_jsonb(take),
                'survivor_before', to_jsonb(s), 'survivor_after', s_after, 'absorbed_before', to_jsonb(a),
                'sections', sections, 'not_duplicates_added', nd)))
    RETURNING merges.merge_id INTO mid;

    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    VALUES (acct, s.contact_id, 'merged', jsonb_build_object('merge_id', mid, 'role', 'survivor',
                                                             'survivor_id', s.contact_id, 'absorbed_id', a.contact_id)),
           (acct, a.contact_id, 'merged', jsonb_build_object('merge_id', mid, 'role', 'absorbed',
                                                             'survivor_id', s.contact_id, 'absorbed_id', a.contact_id));
    PERFORM customercard.card_rewrite(false);
    RETURN mid;
END
$$;

-- Run body (a fixed call of this file) and retry it when it was chosen as a
-- deadlock victim: the other transaction has finished its work by then.
CREATE FUNCTION customercard.merge_retrying(body text, ids bigint[], take text[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result bigint;
BEGIN
    FOR attempt IN 1 .. 5 LOOP
        BEGIN
            EXECUTE body INTO result USING ids, take;
            RETURN result;
        EXCEPTION WHEN deadlock_detected THEN
            IF attempt = 5 THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(random() * 0.02 * attempt);
        END;
    END LOOP;
    RETURN NULL;    -- not reached
END
$$;

CREATE FUNCTION customercard.merge_check_take(acct bigint, take text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    SELECT t INTO bad FROM unnest(take) t
     WHERE t IS NULL
        OR NOT (t = ANY (customercard.merge_fields() || ARRAY['status', 'phone', 'email'])
                OR (t LIKE 'custom:%' AND EXISTS (SELECT 1 FROM customercard.custom_fields f
                                                   WHERE f.account_id = acct AND 'custom:' || f.name = t)))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'take_from_absorbed names an unknown field: %', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name fields of customercard.merge_preview(): ' || array_to_string(customercard.merge_fields(), ', ')
                         || ', status, phone, email, or custom:<custom field name>.';
    END IF;
END
$$;

CREATE FUNCTION customercard.merge(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
BEGIN
    IF survivor IS NULL OR absorbed IS NULL THEN
        RAISE EXCEPTION 'merge needs two contact ids'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.merge(survivor_id, absorbed_id).';
    END IF;
    IF survivor = absorbed THEN
        RAISE EXCEPTION 'contact % cannot be merged into itself', survivor
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass two different contacts: the survivor first, then the one it absorbs.';
    END IF;
    PERFORM customercard.merge_check_take(acct, coalesce(take_from_absorbed, '{}'));
    RETURN customercard.merge_retrying('SELECT customercard.merge_apply($1[1], $1[2], $1[3], $2)',
                                       ARRAY[acct, survivor, absorbed], coalesce(take_from_absorbed, '{}'));
END
$$;
COMMENT ON FUNCTION customercard.merge(bigint, bigint, text[]) IS
    'Merge the absorbed contact into the survivor: every row moves, colliding rows are combined, single-valued fields keep the survivor''s value unless named in take_from_absorbed (or empty); returns the merge id, which unmerge() takes';

-- Put journaled images back on rows of owner: every column, or (afters
-- given) each column that still holds the value the merge gave it.
CREATE FUNCTION customercard.restore_rows(acct bigint, tbl text, key text, owner bigint, befores jsonb, afters jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cols text;
    rcols text;
BEGIN
    SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum), string_agg(format('r.%I', attname), ', ' ORDER BY attnum)
      INTO cols, rcols
      FROM pg_attribute
     WHERE attrelid = format('customercard.%I', tbl)::regclass AND attnum > 0 AND NOT attisdropped
       AND attname NOT IN ('account_id', 'contact_id') AND attname <> key;
    EXECUTE format($q$
        UPDATE customercard.%1$I x SET (%3$s) = (
            SELECT %4$s FROM jsonb_populate_record(x,
                (SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}') FROM jsonb_each(p.before) e
                  WHERE p.after IS NULL OR to_jsonb(x) -> e.key IS NOT DISTINCT FROM p.after -> e.key)) r)
          FROM (SELECT b.value AS before, f.value AS after
                  FROM jsonb_array_elements($3) b
                  LEFT JOIN jsonb_array_elements($4) f ON f.value -> %2$L = b.value -> %2$L) p
         WHERE x.account_id = $1 AND x.contact_id = $2 AND x.%2$I = (p.before ->> %2$L)::bigint
        $q$, tbl, key, cols, rcols)
    USING acct, owner, befores, coalesce(afters, '[]');
END
$$;

-- One table of an unmerge, from its journal entry j, after its moved rows
-- went back (unmerge_moves).
CREATE FUNCTION customercard.unmerge_section(acct bigint, tbl text, key text, s bigint, a bigint, j jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- primary flags the merge set: off again
    IF j -> 'primary' ? 'made' THEN
        EXECUTE format('UPDATE customercard.%1$I t SET is_primary = false '
                       ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.%2$I = ANY ($4)', tbl, key)
        USING acct, s, a, ARRAY(SELECT jsonb_array_elements_text(j -> 'primary' -> 'made')::bigint);
    END IF;
    -- rows the merge combined away come back as they were
    IF j ? 'deleted' THEN
        EXECUTE format('INSERT INTO customercard.%1$I SELECT * FROM jsonb_populate_recordset(NULL::customercard.%1$I, $1)', tbl)
        USING j -> 'deleted';
    END IF;
    -- the survivor's combined rows: each column not edited since goes back
    IF j ? 'before' THEN
        PERFORM customercard.restore_rows(acct, tbl, key, s, j -> 'before', j -> 'after');
    END IF;
    -- primary flags the merge cleared: on again, where the contact has no primary now
    IF j -> 'primary' ? 'cleared' THEN
        EXECUTE format('UPDATE customercard.%1$I t SET is_primary = true '
                       ' WHERE t.account_id = $1 AND t.contact_id IN ($2, $3) AND t.%2$I = ANY ($4) '
                       '   AND NOT EXISTS (SELECT 1 FROM customercard.%1$I o '
                       '                    WHERE o.account_id = $1 AND o.contact_id = t.contact_id AND o.is_primary)', tbl, key)
        USING acct, s, a, ARRAY(SELECT jsonb_array_elements_text(j -> 'primary' -> 'cleared')::bigint);
    END IF;
END
$$;

CREATE FUNCTION customercard.unmerge_apply(acct bigint, mid bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m customercard.merges;
    sec record;
    later bigint;
    absorbed_points bigint;
BEGIN
    SELECT * INTO m FROM customercard.merges g WHERE g.account_id = acct AND g.merge_id = mid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merge % does not exist in account %', mid, acct
            USING ERRCODE = 'undefined_object', HINT = 'List the merges of a contact in customercard.card_merges.';
    END IF;
    PERFORM customercard.lock_contact_pair(acct, m.survivor_id, m.absorbed_id);
    SELECT * INTO m FROM customercard.merges g WHERE g.account_id = acct AND g.merge_id = mid FOR UPDATE;
    IF m.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was already undone at % by %', mid, m.undone_at, m.undone_by
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing to do; to join the two contacts again, call customercard.merge() anew.';
    END IF;
    SELECT max(g.merge_id) INTO later FROM customercard.merges g
     WHERE g.account_id = acct AND g.merge_id > mid AND g.undone_at IS NULL
       AND (g.survivor_id IN (m.survivor_id, m.absorbed_id) OR g.absorbed_id IN (m.survivor_id, m.absorbed_id));
    IF later IS NOT NULL THEN
        RAISE EXCEPTION 'merge % cannot be undone while the later merge % of the same contacts stands', mid, later
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = format('Undo merge %s first: SELECT customercard.unmerge(%s);', later, later);
    END IF;

    PERFORM customercard.card_rewrite(true);
    -- moved rows go back (those deleted since are gone; those added since stay)
    PERFORM customercard.unmerge_moves(acct, m.survivor_id, m.absorbed_id, m.journal -> 'sections');
    FOR sec IN SELECT * FROM customercard.merge_sections() LOOP
        IF m.journal -> 'sections' -> sec.tbl ?| ARRAY['primary', 'deleted', 'before'] THEN
            PERFORM customercard.unmerge_section(acct, sec.tbl, sec.key, m.survivor_id, m.absorbed_id,
                                                 m.journal -> 'sections' -> sec.tbl);
        END IF;
    END LOOP;
    DELETE FROM customercard.not_duplicates n
     USING jsonb_array_elements(coalesce(m.journal -> 'not_duplicates_added', '[]')) p
     WHERE n.account_id = acct AND n.contact_a = (p.value ->> 0)::bigint AND n.contact_b = (p.value ->> 1)::bigint;

    -- the absorbed contact as it was; the survivor: each field not edited
    -- since, and its points less the absorbed's share
    PERFORM customercard.restore_rows(acct, 'contacts', 'contact_id', m.absorbed_id,
                                      jsonb_build_array(m.journal -> 'absorbed_before'), NULL);
    PERFORM customercard.restore_rows(acct, 'contacts', 'contact_id', m.survivor_id,
                                      jsonb_build_array((m.journal -> 'survivor_before') - 'points'),
                                      jsonb_build_array((m.journal -> 'survivor_after') - 'points'));
    absorbed_points := (m.journal -> 'absorbed_before' ->> 'points')::bigint;
    UPDATE customercard.contacts c SET points = c.points - absorbed_points
     WHERE c.account_id = acct AND c.contact_id = m.survivor_id AND absorbed_points <> 0;

    UPDATE customercard.merges g SET undone_at = now(), undone_by = customercard.current_actor()
     WHERE g.account_id = acct AND g.merge_id = mid;
    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    SELECT acct, x, 'unmerged', jsonb_build_object('merge_id', mid, 'survivor_id', m.survivor_id, 'absorbed_id', m.absorbed_id)
      FROM unnest(ARRAY[m.survivor_id, m.absorbed_id]) x;
    PERFORM customercard.card_rewrite(false);
    RETURN mid;
END
$$;

CREATE FUNCTION customercard.unmerge(merge_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
BEGIN
    IF merge_id IS NULL THEN
        RAISE EXCEPTION 'unmerge needs a merge id'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.unmerge(merge_id), with the id merge() returned.';
    END IF;
    PERFORM customercard.merge_retrying('SELECT customercard.unmerge_apply($1[1], $1[2])', ARRAY[acct, merge_id]);
END
$$;
COMMENT ON FUNCTION customercard.unmerge(bigint) IS
    'Undo a merge: both contacts as they were, every moved row back with its owner, combined rows split again; rows added to the survivor since stay with it';

-- The three-column table of the reference products: each single-valued
-- field, the primary phone and e-mail, the lists, the custom fields, and
-- how many rows of each section the merged card will have (count:<table>).
CREATE FUNCTION customercard.merge_preview(survivor bigint, absorbed bigint, take_from_absorbed text[] DEFAULT '{}')
RETURNS TABLE (field text, survivor_value text, absorbed_value text, merged_value text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    take text[] := coalesce(take_from_absorbed, '{}');
    s customercard.contacts;
    a customercard.contacts;
    sj jsonb;
    aj jsonb;
    mj jsonb;
    sec record;
    sn bigint;
    an bigint;
    extra bigint;
BEGIN
    IF survivor = absorbed THEN
        RAISE EXCEPTION 'contact % cannot be merged into itself', survivor
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass two different contacts: the survivor first, then the one it absorbs.';
    END IF;
    SELECT * INTO s FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = survivor;
    SELECT * INTO a FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = absorbed;
    IF s.contact_id IS NULL OR a.contact_id IS NULL THEN
        RAISE EXCEPTION 'contact % does not exist in account %', CASE WHEN s.contact_id IS NULL THEN survivor ELSE absorbed END, acct
            USING ERRCODE = 'undefined_object', HINT = 'Check the contact id and the setting customercard.account_id.';
    END IF;
    PERFORM customercard.merge_check_live(s, 'into');
    PERFORM customercard.merge_check_live(a, 'again');
    PERFORM customercard.merge_check_take(acct, take);
    sj := to_jsonb(s);
    aj := to_jsonb(a);
    mj := to_jsonb(customercard.merged_contact(s, a, take));

    RETURN QUERY
    SELECT f, sj ->> f, aj ->> f, mj ->> f
      FROM unnest(customercard.merge_fields() || ARRAY['status', 'points', 'created_at']) f;

    -- primary phone and e-mail, then every number and address of both
    RETURN QUERY
    WITH p AS (SELECT t.contact_id, t.phone::text AS v, t.is_primary FROM customercard.phones t
                WHERE t.account_id = acct AND t.contact_id IN (s.contact_id, a.contact_id)),
         e AS (SELECT t.contact_id, t.email AS v, customercard.email_key(t.email) AS k, t.is_primary FROM customercard.emails t
                WHERE t.account_id = acct AND t.contact_id IN (s.contact_id, a.contact_id))
    SELECT 'phone',
           (SELECT v FROM p WHERE contact_id = s.contact_id AND is_primary),
           (SELECT v FROM p WHERE contact_id = a.contact_id AND is_primary),
           (SELECT customercard.merge_primary_target(acct, m.tbl, m.primary_expr, s.contact_id, a.contact_id, m.take_name = ANY (take))
              FROM customercard.merge_sections() m WHERE m.tbl = 'phones')
    UNION ALL
    SELECT 'email',
           (SELECT v FROM e WHERE contact_id = s.contact_id AND is_primary),
           (SELECT v FROM e WHERE contact_id = a.contact_id AND is_primary),
           (SELECT v FROM e WHERE k = (SELECT customercard.merge_primary_target(acct, m.tbl, m.primary_expr, s.contact_id, a.contact_id,
                                                                                m.take_name = ANY (take))
                                         FROM customercard.merge_sections() m WHERE m.tbl = 'emails')
             ORDER BY contact_id <> s.contact_id LIMIT 1)
    UNION ALL
    SELECT 'phones',
           (SELECT string_agg(v, ', ' ORDER BY v) FROM p WHERE contact_id = s.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM p WHERE contact_id = a.contact_id),
           (SELECT string_agg(DISTINCT v, ', ') FROM p)
    UNION ALL
    SELECT 'emails',
           (SELECT string_agg(v, ', ' ORDER BY v) FROM e WHERE contact_id = s.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM e WHERE contact_id = a.contact_id),
           (SELECT string_agg(v, ', ' ORDER BY v) FROM (SELECT DISTINCT ON (k) v FROM e ORDER BY k, contact_id <> s.contact_id) d);

    RETURN QUERY
    WITH t AS (SELECT ct.contact_id, g.name FROM customercard.contact_tags ct
                 JOIN customercard.tags g ON g.account_id = ct.account_id AND g.tag_id = ct.tag_id
                WHERE ct.account_id = acct AND ct.contact_id IN (s.contact_id, a.contact_id))
    SELECT 'tags',
           (SELECT string_agg(name, ', ' ORDER BY name) FROM t WHERE contact_id = s.contact_id),
           (SELECT string_agg(name, ', ' ORDER BY name) FROM t WHERE contact_id = a.contact_id),
           (SELECT string_agg(DISTINCT name, ', ') FROM t);

    -- custom fields: the survivor's value unless taken or empty
    RETURN QUERY
    SELECT 'custom:' || f.name, sv.value, av.value,
           CASE WHEN av.value IS NOT NULL AND (sv.value IS NULL OR sv.value = '' OR 'custom:' || f.name = ANY (take))
                THEN av.value ELSE sv.value END
      FROM customercard.custom_fields f
      LEFT JOIN customercard.custom_values sv ON sv.account_id = acct AND sv.contact_id = s.contact_id AND sv.field_id = f.field_id
      LEFT JOIN customercard.custom_values av ON av.account_id = acct AND av.contact_id = a.contact_id AND av.field_id = f.field_id
     WHERE f.account_id = acct AND (sv.value IS NOT NULL OR av.value IS NOT NULL)
     ORDER BY f.name;

    -- every section: rows of each, and of the merged card (colliding rows once)
    FOR sec IN SELECT * FROM customercard.merge_sections() WHERE tbl <> 'action_log_archive' LOOP
        EXECUTE format('SELECT (SELECT count(*) FROM customercard.%1$I s WHERE s.account_id = $1 AND s.contact_id = $2), '
                       '       (SELECT count(*) FROM customercard.%1$I a WHERE a.account_id = $1 AND a.contact_id = $3), '
                       '       (SELECT count(*) FROM customercard.%1$I a WHERE a.account_id = $1 AND a.contact_id = $3 '
                       '           AND NOT EXISTS (SELECT 1 FROM customercard.%1$I s WHERE s.account_id = $1 AND s.contact_id = $2 AND (%2$s)))',
                       sec.tbl, coalesce(sec.match, 'false'))
           INTO sn, an, extra USING acct, s.contact_id, a.contact_id;
        IF sn + an > 0 THEN
            field := 'count:' || sec.tbl;
            survivor_value := sn::text;
            absorbed_value := an::text;
            merged_value := (sn + extra)::text;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customercard.merge_preview(bigint, bigint, text[]) IS
    'What merge(survivor, absorbed, take_from_absorbed) would make: field, survivor value, absorbed value, merged value; sections as row counts';
-- ===================================================================
-- 45_forget.sql: erasing a person on request (GDPR / 152-FZ).
--
-- forget_contact() erases what identifies the person and keeps what the
-- business counts: orders, payments, sums, tasks, calls, subscriptions and
-- the number of log events stay, so reports do not change.  Erased: names,
-- avatar, IP, note, city, gender, time zone; phones, e-mails, addresses and
-- custom field values (rows deleted); channels' external ids and usernames;
-- comment texts and attachments; browser visitor ids; call recordings; in
-- the action log (and its archive), the old/new values of personal fields
-- and any value equal to one of the person's data; the same data inside the
-- merge journal, and in bulk jobs' failure reasons and export output.  The
-- person is the live card and every tombstone merged into it.  One `forgotten` event is logged, naming no personal data.
-- ===================================================================

-- the contact fields that identify a person
CREATE FUNCTION customercard.personal_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender', 'gender_source',
                 'timezone', 'city', 'ip', 'note']
$$;

-- A log event's details without personal data: the old and new values of
-- personal fields and custom fields, and any string equal (ignoring case)
-- to one of the person's values.
CREATE FUNCTION customercard.scrub_details(event text, details jsonb, personal text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(e.key,
               CASE WHEN e.key IN ('old', 'new')
                         AND (event = 'custom_field_set'
                              OR (event = 'field_changed'
                                  AND details ->> 'field' = ANY (customercard.personal_fields() || ARRAY['phone', 'email'])))
                    THEN 'null'::jsonb
                    WHEN jsonb_typeof(e.value) = 'string' AND lower(e.value #>> '{}') = ANY (personal)
                    THEN 'null'::jsonb
                    ELSE e.value END), '{}')
      FROM jsonb_each(details) e
$$;

-- A merge journal without the person's data: contact images lose their
-- personal fields, images of their phones, e-mails, addresses and custom
-- values are dropped (an unmerge then has nothing of them to restore).
CREATE FUNCTION customercard.scrub_journal(journal jsonb, ids bigint[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    nulls jsonb := (SELECT jsonb_object_agg(f, NULL) FROM unnest(customercard.personal_fields()) f);
    k text;
    t text;
BEGIN
    FOREACH k IN ARRAY ARRAY['survivor_before', 'survivor_after', 'absorbed_before'] LOOP
        IF journal ? k AND (journal -> k ->> 'contact_id')::bigint = ANY (ids) THEN
            journal := jsonb_set(journal, ARRAY[k], (journal -> k) || nulls);
        END IF;
    END LOOP;
    FOREACH t IN ARRAY ARRAY['phones', 'emails', 'addresses', 'custom_values'] LOOP
        FOREACH k IN ARRAY ARRAY['deleted', 'before', 'after'] LOOP
            IF journal -> 'sections' -> t ? k THEN
                journal := jsonb_set(journal, ARRAY['sections', t, k],
                    coalesce((SELECT jsonb_agg(e.value) FROM jsonb_array_elements(journal -> 'sections' -> t -> k) e
                               WHERE NOT (e.value ->> 'contact_id')::bigint = ANY (ids)), '[]'));
            END IF;
        END LOOP;
    END LOOP;
    RETURN journal;
END
$$;

-- CSV records (CRLF-ended, starting with the contact id) without those of
-- some contacts; a fragment after a CRLF inside a quoted field (it does not
-- start with an id) goes with its record.
CREATE FUNCTION customercard.csv_drop_records(data text, ids bigint[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept text[] := '{}';
    dropping boolean := false;
    part text;
    id text;
BEGIN
    FOREACH part IN ARRAY string_to_array(data, E'\r\n') LOOP
        id := substring(part FROM '^([0-9]+),');
        IF id IS NOT NULL THEN
            dropping := id::bigint = ANY (ids);
        END IF;
        IF NOT dropping OR part = '' THEN
            kept := kept || part;
        END IF;
    END LOOP;
    RETURN array_to_string(kept, E'\r\n');
END
$$;

CREATE FUNCTION customercard.forget_contact(contact_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.admin_account_id();
    live bigint;
    ids bigint[];
    personal text[];
    tbl text;
BEGIN
    IF forget_contact.contact_id IS NULL THEN
        RAISE EXCEPTION 'forget_contact needs a contact id'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Call customercard.forget_contact(contact_id).';
    END IF;
    live := customercard.resolve_contact(forget_contact.contact_id);

    -- the person: the live card and every tombstone merged into it, locked in id order
    WITH RECURSIVE chain (id) AS (
        SELECT live
        UNION
        SELECT c.contact_id FROM customercard.contacts c JOIN chain ON c.account_id = acct AND c.merged_into = chain.id)
    SELECT array_agg(id ORDER BY id) INTO ids FROM chain;
    PERFORM 1 FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = ANY (ids)
      ORDER BY c.contact_id FOR NO KEY UPDATE;

    -- what to look for in the log's details
    SELECT array_agg(DISTINCT lower(v)) INTO personal FROM (
        SELECT unnest(ARRAY[c.name, c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url, host(c.ip), c.note]) AS v
          FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[p.phone::text, p.raw]) FROM customercard.phones p WHERE p.account_id = acct AND p.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[e.email, e.raw]) FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[h.external_id, h.username]) FROM customercard.channels h WHERE h.account_id = acct AND h.contact_id = ANY (ids)
        UNION ALL SELECT unnest(ARRAY[d.line, d.zip]) FROM customercard.addresses d WHERE d.account_id = acct AND d.contact_id = ANY (ids)
        UNION ALL SELECT v.value FROM customercard.custom_values v WHERE v.account_id = acct AND v.contact_id = ANY (ids)
    ) x WHERE length(v) >= 3;

    PERFORM customercard.card_rewrite(true);
    UPDATE customercard.contacts c
       SET name = NULL, first_name = NULL, last_name = NULL, middle_name = NULL, nickname = NULL, avatar_url = NULL,
           gender = NULL, gender_source = NULL, timezone = NULL, city = NULL, ip = NULL, note = NULL,
           forgotten_at = coalesce(c.forgotten_at, now()), updated_at = now()
     WHERE c.account_id = acct AND c.contact_id = ANY (ids);
    DELETE FROM customercard.phones t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.emails t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.addresses t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    DELETE FROM customercard.custom_values t WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    UPDATE customercard.channels t SET external_id = 'forgotten-' || t.channel_id, username = NULL, updated_at = now()
     WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.external_id <> 'forgotten-' || t.channel_id;
    UPDATE customercard.comments t SET body = '(erased on request)', attachments = '{}'
     WHERE t.account_id = acct AND t.contact_id = ANY (ids);
    UPDATE customercard.calls t SET recording_url = NULL
     WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.recording_url IS NOT NULL;
    UPDATE customercard.webinar_visits t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.page_visits t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.clicks t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.emails_sent t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;
    UPDATE customercard.group_members t SET visitor_id = NULL WHERE t.account_id = acct AND t.contact_id = ANY (ids) AND t.visitor_id IS NOT NULL;

    -- the log and its archive: details scrubbed once per row, changed rows written
    FOREACH tbl IN ARRAY ARRAY['action_log', 'action_log_archive'] LOOP
        EXECUTE format('UPDATE customercard.%1$I l SET details = x.scrubbed '
                       '  FROM (SELECT g.log_id, customercard.scrub_details(g.event, g.details, $3) AS scrubbed '
                       '          FROM customercard.%1$I g WHERE g.account_id = $1 AND g.contact_id = ANY ($2)) x '
                       ' WHERE l.account_id = $1 AND l.log_id = x.log_id AND l.details IS DISTINCT FROM x.scrubbed', tbl)
        USING acct, ids, coalesce(personal, '{}');
    END LOOP;
    UPDATE customercard.merges m SET journal = customercard.scrub_journal(m.journal, ids)
     WHERE m.account_id = acct AND (m.survivor_id = ANY (ids) OR m.absorbed_id = ANY (ids));
    -- bulk jobs: the person's failure reasons, and their records in export
    -- output (a record is "<contact_id>,...CRLF"; quoted line breaks are bare LF)
    UPDATE customercard.bulk_job_failures f SET reason = '(erased on request)'
     WHERE f.account_id = acct AND f.contact_id = ANY (ids);
    UPDATE customercard.bulk_job_output o SET data = customercard.csv_drop_records(o.data, ids)
     WHERE o.account_id = acct AND o.chunk > 0
       AND o.data ~ ('(^|\r\n)(' || array_to_string(ids, '|') || '),');

    INSERT INTO customercard.action_log (account_id, contact_id, event, details)
    VALUES (acct, live, 'forgotten', jsonb_build_object('contacts', cardinality(ids)));
    PERFORM customercard.card_rewrite(false);
END
$$;
COMMENT ON FUNCTION customercard.forget_contact(bigint) IS
    'Erase a person''s personal data (the card and every contact merged into it) and keep the anonymous facts: orders, sums, counts';
-- ===================================================================
-- 46_bulk.sql: bulk actions over many contacts (SPEC §8).
--
-- bulk_enqueue() checks the action and its parameters, resolves names to
-- ids, and freezes the selection (ids given, or an audience filter) into
-- bulk_job_items.  CALL bulk_run() works through due jobs in batches, in
-- contact id order (keyset: bulk_jobs.position); each batch's effects and
-- the job's progress commit together, so a runner killed at any point loses
-- nothing and applies nothing twice (and every action is idempotent besides).
-- One runner per job: a session advisory lock on the job, which dies with
-- the runner.  Batches size themselves to about half a second, so progress
-- is committed well within every 2 seconds.
--
-- Every change a job makes goes through the tables, so the log triggers log
-- it like any other, with the job's actor (set per transaction, so it is
-- gone again after each commit).
-- ===================================================================

CREATE FUNCTION customercard.bulk_actions() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['add_tag', 'remove_tag', 'archive', 'unarchive', 'blacklist', 'subscribe', 'unsubscribe',
                 'add_to_sales_plan', 'create_channel', 'assign_manager', 'set_field', 'export', 'delete']
$$;

-- the contact columns set_field may set (besides custom fields, by name)
CREATE FUNCTION customercard.bulk_settable_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['city', 'country', 'timezone', 'gender', 'note']
$$;

-- An object's id from a name or an id in params (a funnel, an LGT, a plan):
-- NULL when absent, an error naming the key when unknown.
CREATE FUNCTION customercard.bulk_lookup(acct bigint, params jsonb, key text, tbl text, idcol text,
                                         extra text DEFAULT 'true', required boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v jsonb := params -> key;
    id bigint;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF required THEN
            RAISE EXCEPTION 'bulk action needs "%"', key
                USING ERRCODE = 'invalid_parameter_value', HINT = format('Give "%s" as a name or an id.', key);
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) NOT IN ('string', 'number') THEN
        RAISE EXCEPTION '"%" must be a name or an id, not %', key, jsonb_typeof(v)
            USING ERRCODE = 'invalid_parameter_value', HINT = format('Give "%s" as a string or a number.', key);
    END IF;
    id := (customercard.ids_named(acct, v, tbl, idcol, extra))[1];
    IF id IS NULL THEN
        RAISE EXCEPTION '% % does not exist in account %', key, v, acct
            USING ERRCODE = 'undefined_object', HINT = format('List them with SELECT * FROM customercard.%s.', tbl);
    END IF;
    RETURN id;
END
$$;

-- The parameters of an action, checked, with names resolved to ids.
CREATE FUNCTION customercard.bulk_check_params(acct bigint, action text, params jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed text[] := CASE action
        WHEN 'add_tag' THEN '{tag}' WHEN 'remove_tag' THEN '{tag}'
        WHEN 'subscribe' THEN '{funnel, lgt}' WHEN 'unsubscribe' THEN '{funnel}'
        WHEN 'add_to_sales_plan' THEN '{plan, manager_id}' WHEN 'create_channel' THEN '{kind, connection}'
        WHEN 'assign_manager' THEN '{manager_id}' WHEN 'set_field' THEN '{field, value}'
        ELSE '{}' END;
    bad text;
    out jsonb := '{}';
    tag text;
    funnel bigint;
    field text;
BEGIN
    IF action IS NULL OR NOT action = ANY (customercard.bulk_actions()) THEN
        RAISE EXCEPTION 'unknown bulk action %', coalesce(quote_literal(action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The actions are ' || array_to_string(customercard.bulk_actions(), ', ') || '.';
    END IF;
    params := coalesce(params, '{}');
    IF jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'bulk action parameters must be a JSON object, not %', jsonb_typeof(params)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. ''{"tag": "vip"}''.';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(params) k WHERE NOT k = ANY (allowed) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown parameter "%" of bulk action %', bad, action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE WHEN allowed = '{}' THEN action || ' takes no parameters.'
                              ELSE action || ' takes ' || array_to_string(allowed, ', ') || '.' END;
    END IF;

    CASE action
    WHEN 'add_tag', 'remove_tag' THEN
        tag := btrim(params ->> 'tag');
        IF jsonb_typeof(params -> 'tag') IS DISTINCT FROM 'string' OR tag = '' THEN
            RAISE EXCEPTION '% needs a tag name', action
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"tag": "vip"}''.';
        END IF;
        IF action = 'add_tag' THEN
            INSERT INTO customercard.tags (account_id, name) VALUES (acct, tag) ON CONFLICT DO NOTHING;
        END IF;
        out := jsonb_build_object('tag', tag,
                                  'tag_id', customercard.bulk_lookup(acct, jsonb_build_object('tag', tag), 'tag', 'tags', 'tag_id'));
    WHEN 'subscribe', 'unsubscribe' THEN
        funnel := customercard.bulk_lookup(acct, params, 'funnel', 'funnels', 'funnel_id');
        out := jsonb_build_object('funnel_id', funnel,
                                  'lgt_id', customercard.bulk_lookup(acct, params, 'lgt', 'lgts', 'lgt_id',
                                                                     format('t.funnel_id = %s', funnel), false));
    WHEN 'add_to_sales_plan' THEN
        out := jsonb_build_object('plan_id', customercard.bulk_lookup(acct, params, 'plan', 'sales_plans', 'plan_id'),
                                  'manager_id', customercard.bulk_lookup(acct, params, 'manager_id', 'managers', 'manager_id',
                                                                         'true', false));
    WHEN 'assign_manager' THEN
        IF NOT params ? 'manager_id' THEN
            RAISE EXCEPTION 'assign_manager needs "manager_id" (null takes the manager away)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"manager_id": 3}''.';
        END IF;
        out := jsonb_build_object('manager_id', customercard.bulk_lookup(acct, params, 'manager_id', 'managers', 'manager_id',
                                                                         'true', false));
    WHEN 'create_channel' THEN
        IF NOT coalesce(params ->> 'kind', '') IN ('email', 'sms') THEN
            RAISE EXCEPTION 'create_channel needs "kind": "email" or "sms"'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'An e-mail channel is made from the contact''s e-mail, an SMS one from its phone.';
        END IF;
        IF params ? 'connection' AND jsonb_typeof(params -> 'connection') NOT IN ('string', 'null') THEN
            RAISE EXCEPTION '"connection" must be a string'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the mailer or SMS gateway, e.g. "unisender".';
        END IF;
        out := jsonb_build_object('kind', params ->> 'kind', 'connection', params ->> 'connection');
    WHEN 'set_field' THEN
        field := params ->> 'field';
        IF NOT params ? 'value' OR jsonb_typeof(params -> 'value') NOT IN ('string', 'number', 'boolean', 'null') THEN
            RAISE EXCEPTION 'set_field needs a "value" (a string, a number, a boolean, or null to clear)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass ''{"field": "city", "value": "Kazan"}''.';
        END IF;
        IF field = ANY (customercard.bulk_settable_fields()) THEN
            IF field = 'timezone' AND NOT customercard.is_valid_timezone(params ->> 'value') THEN
                RAISE EXCEPTION 'unknown time zone %', params -> 'value'
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'Use a name from pg_timezone_names, e.g. Europe/Moscow.';
            END IF;
            IF field = 'gender' AND params ->> 'value' NOT IN ('male', 'female') THEN
                RAISE EXCEPTION 'gender must be "male", "female" or null'
                    USING ERRCODE = 'invalid_parameter_value', HINT = 'null clears it.';
            END IF;
            out := jsonb_build_object('field', field, 'value', params ->> 'value');
        ELSE
            out := jsonb_build_object('field_id', customercard.bulk_lookup(acct, params, 'field', 'custom_fields', 'field_id'),
                                      'field', field, 'value', params ->> 'value');
        END IF;
    WHEN 'export' THEN
        -- the columns are fixed now: the account's custom fields at enqueue
        out := jsonb_build_object('custom_fields',
                   coalesce((SELECT jsonb_agg(jsonb_build_array(f.field_id, f.name) ORDER BY f.name)
                               FROM customercard.custom_fields f WHERE f.account_id = acct), '[]'));
    ELSE
        NULL;   -- archive, unarchive, blacklist, delete
    END CASE;
    RETURN out;
END
$$;

-- One CSV field: quoted when it must be (RFC 4180)
CREATE FUNCTION customercard.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '[",\r\n]' OR v <> btrim(v) THEN '"' || replace(v, '"', '""') || '"'
                ELSE v END
$$;

-- What an export holds of each contact: the CRM table's columns, tags
-- joined, custom fields as one JSON object by name.  export_rows (COPY),
-- export_csv, the export bulk action and export_xlsx all read it.
CREATE FUNCTION customercard.export_rows_of(acct bigint, ids bigint[])
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, custom jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT c.contact_id,
           coalesce(c.name, nullif(concat_ws(' ', c.first_name, c.last_name), ''), c.nickname),
           (SELECT p.phone::text FROM customercard.phones p WHERE p.account_id = c.account_id AND p.contact_id = c.contact_id
             ORDER BY p.is_primary DESC, p.phone_id LIMIT 1),
           (SELECT e.email FROM customercard.emails e WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id
             ORDER BY e.is_primary DESC, e.email_id LIMIT 1),
           c.status,
           c.created_at AT TIME ZONE 'UTC',
           (SELECT string_agg(t.name, '; ' ORDER BY t.name) FROM customercard.contact_tags ct
              JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
             WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id),
           coalesce((SELECT jsonb_object_agg(f.name, v.value) FROM customercard.custom_values v
                       JOIN customercard.custom_fields f ON f.account_id = v.account_id AND f.field_id = v.field_id
                      WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id), '{}')
      FROM customercard.contacts c
     WHERE c.account_id = acct AND c.contact_id = ANY (ids)
$$;

-- The export's rows of some contacts, as CSV lines (CRLF), in id order; a
-- column per custom field of the list [[field_id, name], ...].
CREATE FUNCTION customercard.export_lines(acct bigint, ids bigint[], custom_fields jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(concat_ws(',',
               r.contact_id::text, customercard.csv_field(r.name), customercard.csv_field(r.phone),
               customercard.csv_field(r.email), r.status, to_char(r.created_at_utc, 'YYYY-MM-DD HH24:MI:SS'),
               customercard.csv_field(r.tags),
               (SELECT string_agg(customercard.csv_field(r.custom ->> (f.field ->> 1)), ',' ORDER BY f.ord)
                  FROM jsonb_array_elements(custom_fields) WITH ORDINALITY f (field, ord)))
             || E'\r\n', '' ORDER BY r.contact_id)
      FROM customercard.export_rows_of(acct, ids) r
$$;

CREATE FUNCTION customercard.export_header(custom_fields jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- a byte order mark first: Excel reads the file as UTF-8 only then
    SELECT E'\uFEFF' || concat_ws(',', 'contact_id', 'name', 'phone', 'email', 'status', 'created_at_utc', 'tags',
                                  (SELECT string_agg(customercard.csv_field(f ->> 1), ',' ORDER BY o)
                                     FROM jsonb_array_elements(custom_fields) WITH ORDINALITY x (f, o))) || E'\r\n'
$$;

CREATE FUNCTION customercard.bulk_enqueue(action text, params jsonb DEFAULT '{}', contact_ids bigint[] DEFAULT NULL,
                                          filter jsonb DEFAULT NULL, run_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    checked jsonb;
    job bigint;
    n integer;
    unknown bigint;
BEGIN
    IF NOT pg_has_role(customercard.calling_role()::oid, 'customercard_manager', 'USAGE') THEN
        RAISE EXCEPTION 'role "%" may not run bulk actions', customercard.calling_role()
            USING ERRCODE = 'insufficient_privilege', HINT = 'Bulk actions are for members of customercard_manager.';
    END IF;
    IF (contact_ids IS NULL) = (filter IS NULL) THEN
        RAISE EXCEPTION 'bulk_enqueue needs exactly one of contact_ids and filter'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass contact_ids => ARRAY[...] for chosen contacts, or filter => ''{...}'' (''{}'' = everyone).';
    END IF;
    IF run_at IS NULL THEN
        RAISE EXCEPTION 'run_at may not be null'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Leave it out to run as soon as a runner comes by.';
    END IF;
    checked := customercard.bulk_check_params(acct, action, params);

    INSERT INTO customercard.bulk_jobs (account_id, action, params, filter, run_at)
    VALUES (acct, action, checked, filter, bulk_enqueue.run_at)
    RETURNING job_id INTO job;
    IF contact_ids IS NOT NULL THEN
        SELECT x INTO unknown FROM unnest(contact_ids) x
         WHERE x IS NULL OR NOT EXISTS (SELECT 1 FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = x)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'contact % does not exist in account %', coalesce(unknown::text, 'NULL'), acct
                USING ERRCODE = 'undefined_object', HINT = 'Pass ids of contacts of the current account.';
        END IF;
        INSERT INTO customercard.bulk_job_items (account_id, job_id, contact_id)
        SELECT DISTINCT acct, job, x FROM unnest(contact_ids) x;
    ELSE
        INSERT INTO customercard.bulk_job_items (account_id, job_id, contact_id)
        SELECT acct, job, x FROM customercard.audience_ids(filter) x;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF action = 'add_to_sales_plan' AND n > 10000 THEN
        RAISE EXCEPTION 'add_to_sales_plan takes at most 10,000 contacts, not %', n
            USING ERRCODE = 'program_limit_exceeded', HINT = 'Narrow the filter, or split the selection into several jobs.';
    END IF;
    UPDATE customercard.bulk_jobs j SET total = n WHERE j.account_id = acct AND j.job_id = job;
    IF action = 'export' THEN
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
        VALUES (acct, job, 0, customercard.export_header(checked -> 'custom_fields'));
    END IF;
    RETURN job;
END
$$;
COMMENT ON FUNCTION customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz) IS
    'Queue a bulk action over the given contacts or an audience filter (frozen now); returns the job id; CALL customercard.bulk_run() works it off';

-- The live contacts behind some ids (tombstones resolve to their survivor);
-- ids of deleted contacts come back in gone.  Only the few tombstones and
-- deleted cards are looked up (the partial index contacts_gone): the ids of
-- a job are contacts of the account, checked at enqueue.
CREATE FUNCTION customercard.bulk_targets(acct bigint, ids bigint[], OUT live bigint[], OUT gone bigint[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    merged bigint[];
BEGIN
    SELECT array_agg(c.contact_id) FILTER (WHERE c.deleted_at IS NOT NULL),
           array_agg(c.contact_id) FILTER (WHERE c.deleted_at IS NULL)
      INTO gone, merged
      FROM customercard.contacts c
     WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND (c.merged_into IS NOT NULL OR c.deleted_at IS NOT NULL);
    IF gone IS NULL AND merged IS NULL THEN
        live := ids;
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT x) INTO live
      FROM (SELECT i AS x FROM unnest(ids) i
             WHERE i <> ALL (coalesce(gone, '{}')) AND i <> ALL (coalesce(merged, '{}'))
            UNION ALL
            SELECT customercard.resolve_contact(m) FROM unnest(merged) m) t;
    live := coalesce(live, '{}');
END
$$;

-- What one batch does; returns the failures as (contact_id, reason).
CREATE FUNCTION customercard.bulk_apply(acct bigint, job customercard.bulk_jobs, ids bigint[])
RETURNS TABLE (contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    p jsonb := job.params;
    v text;
BEGIN
    CASE job.action
    WHEN 'add_tag' THEN
        INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
        SELECT acct, x, (p ->> 'tag_id')::bigint FROM unnest(ids) x
        ON CONFLICT DO NOTHING;
    WHEN 'remove_tag' THEN
        DELETE FROM customercard.contact_tags t
         WHERE t.account_id = acct AND t.tag_id = (p ->> 'tag_id')::bigint AND t.contact_id = ANY (ids);
    WHEN 'archive' THEN
        UPDATE customercard.contacts c SET status = 'archived'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status <> 'archived';
    WHEN 'unarchive' THEN
        UPDATE customercard.contacts c SET status = 'active'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status = 'archived';
    WHEN 'blacklist' THEN
        UPDATE customercard.contacts c SET status = 'blacklisted'
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.status <> 'blacklisted';
    WHEN 'delete' THEN
        UPDATE customercard.contacts c SET deleted_at = now()
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.deleted_at IS NULL;
    WHEN 'assign_manager' THEN
        UPDATE customercard.contacts c SET manager_id = (p ->> 'manager_id')::bigint
         WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.manager_id IS DISTINCT FROM (p ->> 'manager_id')::bigint;
    WHEN 'subscribe' THEN
        UPDATE customercard.subscriptions s SET unsubscribed_at = NULL
         WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = ANY (ids)
           AND s.unsubscribed_at IS NOT NULL;
        INSERT INTO customercard.subscriptions (account_id, contact_id, funnel_id, lgt_id)
        SELECT acct, x, (p ->> 'funnel_id')::bigint, (p ->> 'lgt_id')::bigint FROM unnest(ids) x
         WHERE NOT EXISTS (SELECT 1 FROM customercard.subscriptions s
                            WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = x)
        ON CONFLICT DO NOTHING;
    WHEN 'unsubscribe' THEN
        UPDATE customercard.subscriptions s SET unsubscribed_at = greatest(now(), s.subscribed_at)
         WHERE s.account_id = acct AND s.funnel_id = (p ->> 'funnel_id')::bigint AND s.contact_id = ANY (ids)
           AND s.unsubscribed_at IS NULL;
    WHEN 'add_to_sales_plan' THEN
        INSERT INTO customercard.sales_plan_members (account_id, plan_id, contact_id, manager_id)
        SELECT acct, (p ->> 'plan_id')::bigint, x, (p ->> 'manager_id')::bigint FROM unnest(ids) x
        ON CONFLICT DO NOTHING;
    WHEN 'create_channel' THEN
        RETURN QUERY
        WITH src AS (
            SELECT x AS cid,
                   CASE p ->> 'kind'
                       WHEN 'email' THEN (SELECT e.email FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = x
                                           ORDER BY e.is_primary DESC, e.email_id LIMIT 1)
                       ELSE (SELECT ph.phone::text FROM customercard.phones ph WHERE ph.account_id = acct AND ph.contact_id = x
                              ORDER BY ph.is_primary DESC, ph.phone_id LIMIT 1) END AS ext
              FROM unnest(ids) x),
        ins AS (
            INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id)
            SELECT acct, src.cid, p ->> 'kind', p ->> 'connection', src.ext FROM src WHERE src.ext IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING channels.contact_id)
        SELECT src.cid, CASE p ->> 'kind' WHEN 'email' THEN 'the contact has no e-mail address'
                                          ELSE 'the contact has no phone number' END
          FROM src WHERE src.ext IS NULL
        UNION ALL
        -- the address is already a channel: of this contact (nothing to do), or of another one
        SELECT src.cid, 'the ' || (p ->> 'kind') || ' channel ' || src.ext || ' belongs to contact ' || h.contact_id
          FROM src JOIN customercard.channels h
            ON h.account_id = acct AND h.kind = p ->> 'kind' AND h.connection IS NOT DISTINCT FROM p ->> 'connection'
           AND h.external_id = src.ext AND h.contact_id <> src.cid
         WHERE src.cid NOT IN (SELECT ins.contact_id FROM ins);
    WHEN 'set_field' THEN
        v := p ->> 'value';
        IF p ? 'field_id' THEN
            IF v IS NULL THEN
                DELETE FROM customercard.custom_values cv
                 WHERE cv.account_id = acct AND cv.field_id = (p ->> 'field_id')::bigint AND cv.contact_id = ANY (ids);
            ELSE
                INSERT INTO customercard.custom_values AS cv (account_id, contact_id, field_id, value)
                SELECT acct, x, (p ->> 'field_id')::bigint, v FROM unnest(ids) x
                ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = excluded.value
                 WHERE cv.value IS DISTINCT FROM excluded.value;
            END IF;
        ELSIF p ->> 'field' = 'gender' THEN
            UPDATE customercard.contacts c SET gender = v, gender_source = CASE WHEN v IS NULL THEN NULL ELSE 'manual' END
             WHERE c.account_id = acct AND c.contact_id = ANY (ids) AND c.gender IS DISTINCT FROM v;
        ELSE
            -- the column is one of bulk_settable_fields(), checked at enqueue
            EXECUTE format('UPDATE customercard.contacts c SET %1$I = $3 '
                           ' WHERE c.account_id = $1 AND c.contact_id = ANY ($2) AND c.%1$I IS DISTINCT FROM $3',
                           (SELECT f FROM unnest(customercard.bulk_settable_fields()) f WHERE f = p ->> 'field'))
            USING acct, ids, v;
        END IF;
    WHEN 'export' THEN
        INSERT INTO customercard.bulk_job_output (account_id, job_id, chunk, data)
        SELECT acct, job.job_id, job.batches + 1, l FROM customercard.export_lines(acct, ids, p -> 'custom_fields') l
         WHERE l IS NOT NULL;
    END CASE;
END
$$;

-- One batch of one job, in one transaction with its progress.  Returns how
-- many contacts it worked through; 0 when the job has ended (or may not run).
CREATE FUNCTION customercard.bulk_run_batch(acct bigint, job_id bigint, batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    j customercard.bulk_jobs;
    ids bigint[];
    t record;
    nfailed integer;
BEGIN
    IF NOT customercard.account_may_act(acct) THEN
        RAISE EXCEPTION 'role "%" may not run jobs of account %', customercard.calling_role(), acct
            USING ERRCODE = 'insufficient_privilege', HINT = 'Run bulk_run() as a role bound to the account, or as the cron job''s owner.';
    END IF;
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_run_batch.job_id FOR UPDATE;
    IF NOT FOUND OR j.status NOT IN ('queued', 'running') OR j.run_at > now() THEN
        RETURN 0;
    END IF;
    -- the job's account and actor, for this transaction only
    PERFORM set_config('customercard.account_id', acct::text, true);
    PERFORM set_config('customercard.actor', j.actor, true);

    SELECT array_agg(i.contact_id ORDER BY i.contact_id) INTO ids
      FROM (SELECT i.contact_id FROM customercard.bulk_job_items i
             WHERE i.account_id = acct AND i.job_id = j.job_id AND i.contact_id > j.position
             ORDER BY i.contact_id LIMIT batch_size) i;
    IF ids IS NULL THEN
        -- (its items stay for bulk_prune: deleting a million rows is no
        -- part of the job, and would hold its last commit back)
        UPDATE customercard.bulk_jobs b SET status = 'done', finished_at = now(), progress_at = now(),
                                            started_at = coalesce(b.started_at, now())
         WHERE b.account_id = acct AND b.job_id = j.job_id;
        RETURN 0;
    END IF;

    t := customercard.bulk_targets(acct, ids);
    INSERT INTO customercard.bulk_job_failures (account_id, job_id, contact_id, reason)
    SELECT acct, j.job_id, f.contact_id, f.reason
      FROM (SELECT g AS contact_id, 'the contact was deleted' AS reason FROM unnest(t.gone) g WHERE j.action <> 'delete'
            UNION ALL
            SELECT a.contact_id, a.reason FROM customercard.bulk_apply(acct, j, t.live) a) f
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS nfailed = ROW_COUNT;

    UPDATE customercard.bulk_jobs b
       SET status = 'running', started_at = coalesce(b.started_at, now()), progress_at = clock_timestamp(),
           position = ids[cardinality(ids)], batches = b.batches + 1,
           done = b.done + cardinality(ids) - nfailed, failed = b.failed + nfailed
     WHERE b.account_id = acct AND b.job_id = j.job_id;
    RETURN cardinality(ids);
END
$$;

-- The next due job this role may run that no other runner holds, claimed
-- with a session advisory lock (released by bulk_release, or when the
-- session ends: a killed runner frees its job).
CREATE FUNCTION customercard.bulk_claim(OUT account_id bigint, OUT job_id bigint)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT b.account_id, b.job_id FROM customercard.bulk_jobs b
              WHERE b.status IN ('queued', 'running') AND b.run_at <= now()
                AND customercard.account_may_act(b.account_id)
              ORDER BY b.run_at, b.job_id
    LOOP
        IF pg_try_advisory_lock(customercard.bulk_lock_class(), (c.job_id % 2147483647)::integer) THEN
            account_id := c.account_id;
            job_id := c.job_id;
            RETURN;
        END IF;
    END LOOP;
END
$$;

CREATE FUNCTION customercard.bulk_lock_class() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 1668441195    -- 'cc.k': the advisory lock class of bulk jobs (the key is the job id)
$$;

CREATE FUNCTION customercard.bulk_release(job_id bigint) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT NULL::void FROM (SELECT pg_advisory_unlock(customercard.bulk_lock_class(), (job_id % 2147483647)::integer)) u
$$;

-- (No SECURITY DEFINER and no SET clause: a procedure with either may not
-- COMMIT.  Every statement here calls functions that pin their search path.)
CREATE PROCEDURE customercard.bulk_run(max_runtime interval DEFAULT '50 seconds', batch_size integer DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    claim record;
    size integer;
    n integer;
    bt timestamptz;
    took float8;
BEGIN
    IF max_runtime IS NULL OR max_runtime <= interval '0' THEN
        RAISE EXCEPTION 'max_runtime must be positive'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'CALL customercard.bulk_run(''50 seconds'') suits a runner started every minute.';
    END IF;
    IF batch_size IS NOT NULL AND batch_size NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 100000'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Leave it out: batches size themselves to about half a second.';
    END IF;
    COMMIT;     -- nothing of the caller's transaction is held while jobs run
    LOOP
        EXIT WHEN clock_timestamp() - t0 >= max_runtime;
        claim := customercard.bulk_claim();
        EXIT WHEN claim.job_id IS NULL;
        size := coalesce(batch_size, 2000);
        LOOP
            bt := clock_timestamp();
            n := customercard.bulk_run_batch(claim.account_id, claim.job_id, size);
            COMMIT;
            EXIT WHEN n = 0;
            IF batch_size IS NULL THEN
                -- about half a second a batch: progress shows often, commits stay few
                took := greatest(extract(epoch FROM clock_timestamp() - bt), 0.001);
                size := least(50000, greatest(200, (size * least(0.5 / took, 4.0))::integer));
            END IF;
            EXIT WHEN clock_timestamp() - t0 >= max_runtime;
        END LOOP;
        PERFORM customercard.bulk_release(claim.job_id);
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE customercard.bulk_run(interval, integer) IS
    'Work through due bulk jobs in batches, committing each with its progress, until none is left or max_runtime has passed; pg_cron calls it every minute';

CREATE FUNCTION customercard.bulk_cancel(job_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    st text;
BEGIN
    SELECT b.status INTO st FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_cancel.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'bulk job % does not exist in account %', job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.bulk_progress.';
    END IF;
    IF st NOT IN ('queued', 'running') THEN
        RETURN false;   -- it has ended already
    END IF;
    UPDATE customercard.bulk_jobs b SET status = 'cancelled', finished_at = now()
     WHERE b.account_id = acct AND b.job_id = bulk_cancel.job_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION customercard.bulk_cancel(bigint) IS
    'Cancel a queued or running bulk job: the batch being worked commits or not, no further batch starts; false when it had ended';

CREATE VIEW customercard.bulk_progress WITH (security_invoker = true) AS
SELECT b.job_id AS job, b.action, b.status, b.total, b.done, b.failed,
       CASE WHEN b.total = 0 THEN 100.0 ELSE round(100.0 * (b.done + b.failed) / b.total, 1) END AS percent,
       b.started_at AS started,
       CASE WHEN b.status = 'running' AND b.done + b.failed > 0 AND b.progress_at > b.started_at
            THEN b.progress_at + (b.progress_at - b.started_at) * ((b.total - b.done - b.failed)::float8 / (b.done + b.failed))
            WHEN b.status IN ('done', 'cancelled', 'failed') THEN b.finished_at END AS estimated_finish,
       b.run_at, b.created_at, b.progress_at, b.finished_at, b.actor, b.params, b.filter, b.account_id
  FROM customercard.bulk_jobs b
 WHERE b.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.bulk_progress IS
    'Bulk jobs of the current account: status, counts, percent, when started and (running) when likely done';

CREATE VIEW customercard.bulk_failures WITH (security_invoker = true) AS
SELECT f.job_id AS job, f.contact_id, f.reason, f.at
  FROM customercard.bulk_job_failures f
 WHERE f.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.bulk_failures IS 'Contacts a bulk job could not act on, and why';

-- An export job's CSV, whole (UTF-8 with a byte order mark, CRLF lines).
CREATE FUNCTION customercard.bulk_export_csv(job_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    j customercard.bulk_jobs;
BEGIN
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_export_csv.job_id;
    IF NOT FOUND OR j.action <> 'export' THEN
        RAISE EXCEPTION 'bulk job % is not an export of account %', job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'Queue one with customercard.bulk_enqueue(''export'', filter => ''{}'').';
    END IF;
    IF j.status <> 'done' THEN
        RAISE EXCEPTION 'export job % is %, not done', job_id, j.status
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Watch customercard.bulk_progress until it is done.';
    END IF;
    RETURN (SELECT string_agg(o.data, '' ORDER BY o.chunk) FROM customercard.bulk_job_output o
             WHERE o.account_id = acct AND o.job_id = j.job_id);
END
$$;

-- What ended jobs leave: their items at once, and the jobs themselves
-- (with their failures and output) once older than the cut-off.  Returns
-- how many jobs went.
CREATE FUNCTION customercard.bulk_prune(older_than interval DEFAULT '30 days') RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM customercard.bulk_job_items i
     USING customercard.bulk_jobs b
     WHERE i.account_id = b.account_id AND i.job_id = b.job_id
       AND b.status IN ('done', 'cancelled', 'failed') AND customercard.account_may_act(b.account_id);
    DELETE FROM customercard.bulk_jobs b
     WHERE b.status IN ('done', 'cancelled', 'failed') AND b.finished_at < now() - older_than
       AND customercard.account_may_act(b.account_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION customercard.bulk_prune(interval) IS
    'Delete the items of ended bulk jobs, and the jobs that ended before the cut-off with their failures and export output (the runner''s cron schedule runs it daily)';

-- Register the runner (every minute) and the daily clean-up with pg_cron.
CREATE FUNCTION customercard.schedule_bulk_runner() RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    crondb text := current_setting('cron.database_name', true);
    here text := current_database();
    runner_sql text := format('SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                              'customercard-bulk-runner-' || here, '* * * * *', 'CALL customercard.bulk_run()', here);
    prune_sql text := format('SELECT cron.schedule_in_database(%L, %L, %L, %L)',
                             'customercard-bulk-prune-' || here, '17 3 * * *', 'SELECT customercard.bulk_prune()', here);
    purge_sql text := format('SELECT cron.schedule(%L, %L, %L)', 'customercard-cron-history-purge', '23 3 * * *',
                             'DELETE FROM cron.job_run_details WHERE end_time < now() - interval ''7 days''');
    jobid bigint;
BEGIN
    IF crondb IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Install postgresql-15-cron and add pg_cron to shared_preload_libraries (then restart), '
                         'or CALL customercard.bulk_run() from the application every minute.';
    END IF;
    IF crondb <> here OR NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron lives in database "%", not in "%"', crondb, here
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('In database %s (as a role that may use pg_cron) run: %s; %s; %s;',
                                quote_ident(crondb), runner_sql, prune_sql, purge_sql);
    END IF;
    EXECUTE runner_sql INTO jobid;
    EXECUTE prune_sql;
    EXECUTE purge_sql;
    RETURN jobid;
END
$$;
COMMENT ON FUNCTION customercard.schedule_bulk_runner() IS
    'Schedule CALL customercard.bulk_run() every minute with pg_cron (and a daily prune); outside the cron database, the error''s hint gives the commands to run there';
-- ===================================================================
-- 47_import_export.sql: contacts in from JSON and CSV (import.c), the
-- audience out as CSV and .xlsx (export.c).  Imports go through
-- upsert_contact's path, so matching, tags, custom fields, funnels and the
-- action log work as for any other write.
-- ===================================================================

CREATE FUNCTION customercard.import_json(data text, all_or_nothing boolean DEFAULT false)
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_json' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_json(text, boolean) IS
    'Import contacts from a JSON array of objects (upsert_contact''s keys): a line per object, created / updated / rejected with the reason; a malformed file changes nothing';

CREATE FUNCTION customercard.import_csv(data text, all_or_nothing boolean DEFAULT false)
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_csv' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_csv(text, boolean) IS
    'Import contacts from CSV with a header (name, phone(s), email(s), tags, funnel, lgt, channel + social_id, custom:<field>, ...; "," or ";"): a line per row with its outcome; a malformed file changes nothing';

-- The audience's rows for exports: the CRM table's columns, tags joined,
-- custom fields as one JSON object (export_csv and export_xlsx spread them
-- into columns).  For COPY (SELECT * FROM customercard.export_rows('{}'))
-- TO STDOUT WITH (FORMAT csv, HEADER).
CREATE FUNCTION customercard.export_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, custom jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM customercard.export_rows_of(customercard.require_account_id(), ARRAY(SELECT customercard.audience_ids(filter)))
$$;
COMMENT ON FUNCTION customercard.export_rows(jsonb) IS
    'The audience a filter selects, a row per contact with tags joined and custom fields as JSON: for COPY ... WITH (FORMAT csv, HEADER)';

-- The whole CSV as Excel and Google Sheets open it: UTF-8 with a byte order
-- mark, a header, CRLF lines, a column per custom field.
CREATE FUNCTION customercard.export_csv(filter jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    fields jsonb := coalesce((SELECT jsonb_agg(jsonb_build_array(f.field_id, f.name) ORDER BY f.name)
                                FROM customercard.custom_fields f WHERE f.account_id = acct), '[]');
BEGIN
    RETURN customercard.export_header(fields)
        || coalesce(customercard.export_lines(acct, ARRAY(SELECT customercard.audience_ids(filter)), fields), '');
END
$$;
COMMENT ON FUNCTION customercard.export_csv(jsonb) IS
    'The audience a filter selects as one CSV document (UTF-8 with BOM, header, CRLF, tags and each custom field as columns); for big audiences queue bulk_enqueue(''export'', ...)';

CREATE FUNCTION customercard.export_xlsx(filter jsonb DEFAULT '{}') RETURNS bytea
    AS 'MODULE_PATHNAME', 'export_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.export_xlsx(jsonb) IS
    'The audience a filter selects as an .xlsx workbook: one sheet, a bold frozen header with a filter, tags and each custom field as columns';
-- ===================================================================
-- 99_grants.sql: least privilege.  Nothing for PUBLIC; each role gets
-- what its work needs, and inherits the one below it.
-- ===================================================================

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard FROM PUBLIC;

-- reader: the views and tables, and the functions that read
GRANT SELECT ON ALL TABLES IN SCHEMA customercard TO customercard_reader;
GRANT EXECUTE ON FUNCTION
    customercard.current_account_id(),
    customercard.account_may_act(bigint),
    customercard.calling_role(),
    customercard.current_actor(),
    customercard.normalize_email(text),
    customercard.email_key(text),
    customercard.is_log_event(text),
    customercard.is_valid_timezone(text),
    customercard.normalize_phone(text, text),
    customercard.phone_region(customercard.phone),
    customercard.format_phone(customercard.phone, text),
    customercard.phone_metadata_version(),
    customercard.phone_in(cstring), customercard.phone_out(customercard.phone),
    customercard.phone_recv(internal), customercard.phone_send(customercard.phone),
    customercard.phone_eq(customercard.phone, customercard.phone), customercard.phone_ne(customercard.phone, customercard.phone),
    customercard.phone_lt(customercard.phone, customercard.phone), customercard.phone_le(customercard.phone, customercard.phone),
    customercard.phone_gt(customercard.phone, customercard.phone), customercard.phone_ge(customercard.phone, customercard.phone),
    customercard.phone_cmp(customercard.phone, customercard.phone), customercard.phone_hash(customercard.phone),
    customercard.phone_hash_extended(customercard.phone, bigint), customercard.phone_sortsupport(internal),
    customercard.describe_event(text, jsonb),
    customercard.resolve_contact(bigint),
    customercard.card_json(bigint),
    customercard.audience_search(jsonb, integer, integer, bigint),
    customercard.audience_count(jsonb),
    customercard.audience_ids(jsonb),
    customercard.ids_named(bigint, jsonb, text, text, text),
    customercard.name_haystack(text, text, text, text, text),
    customercard.related_contacts(bigint),
    customercard.contact_key_hits(bigint, bigint),
    customercard.duplicate_candidates(bigint),
    customercard.duplicate_groups(integer),
    customercard.duplicate_groups_of(bigint, integer),
    customercard.name_similarity(text, text),
    customercard.similar_name_contacts(bigint, text, integer),
    customercard.contact_log(bigint, text[], timestamptz, timestamptz)
TO customercard_reader;

-- manager: card work
GRANT EXECUTE ON FUNCTION
    customercard.require_account_id(),
    customercard.account_currency(),
    customercard.upsert_contact(jsonb),
    customercard.upsert_contact_ex(jsonb),
    customercard.log_event(bigint, text, jsonb),
    customercard.upsert_error(text, text),
    customercard.expect_json_type(jsonb, text, text[])
TO customercard_manager;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA customercard TO customercard_manager;
GRANT INSERT, UPDATE ON customercard.contacts TO customercard_manager;
GRANT INSERT, UPDATE, DELETE ON
    customercard.phones, customercard.emails, customercard.addresses, customercard.channels,
    customercard.contact_tags, customercard.custom_values, customercard.subscriptions,
    customercard.orders, customercard.payments, customercard.payouts, customercard.sales_plan_members,
    customercard.tasks, customercard.calls, customercard.call_campaign_members,
    customercard.webinar_visits, customercard.page_visits, customercard.clicks, customercard.emails_sent,
    customercard.group_members
TO customercard_manager;
GRANT INSERT ON customercard.tags, customercard.balance_transactions, customercard.comments TO customercard_manager;
GRANT INSERT ON customercard.not_duplicates TO customercard_manager;
GRANT EXECUTE ON FUNCTION customercard.not_duplicates(bigint, bigint) TO customercard_manager;
-- the merge preview reads as the caller (row-level security applies)
GRANT EXECUTE ON FUNCTION
    customercard.merge_preview(bigint, bigint, text[]),
    customercard.merge_sections(), customercard.merge_fields(), customercard.status_rank(text),
    customercard.merged_contact(customercard.contacts, customercard.contacts, text[]),
    customercard.merge_check_live(customercard.contacts, text), customercard.merge_check_take(bigint, text[]),
    customercard.merge_takes_field(bigint, bigint, text[]),
    customercard.merge_primary_target(bigint, text, text, bigint, bigint, boolean)
TO customercard_manager;

-- bulk actions: queue, run (bulk_run is a procedure running as its caller;
-- its batch function acts only in accounts the caller may act in), cancel
GRANT EXECUTE ON FUNCTION
    customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz),
    customercard.bulk_cancel(bigint),
    customercard.bulk_run_batch(bigint, bigint, integer),
    customercard.bulk_claim(), customercard.bulk_release(bigint), customercard.bulk_lock_class(),
    customercard.bulk_export_csv(bigint), customercard.bulk_actions(), customercard.bulk_settable_fields(),
    customercard.csv_field(text), customercard.bulk_lookup(bigint, jsonb, text, text, text, text, boolean),
    customercard.import_json(text, boolean), customercard.import_csv(text, boolean),
    customercard.export_rows(jsonb), customercard.export_rows_of(bigint, bigint[]), customercard.export_csv(jsonb), customercard.export_xlsx(jsonb),
    customercard.export_header(jsonb), customercard.export_lines(bigint, bigint[], jsonb)
TO customercard_manager;
GRANT EXECUTE ON PROCEDURE customercard.bulk_run(interval, integer) TO customercard_manager;

-- admin: the account's definitions and settings, role bindings
GRANT INSERT, UPDATE, DELETE ON
    customercard.managers, customercard.tags, customercard.custom_fields, customercard.funnels,
    customercard.funnel_blocks, customercard.lgts, customercard.sales_plans, customercard.call_campaigns,
    customercard.groups
TO customercard_admin;
GRANT UPDATE (name, default_region, currency) ON customercard.accounts TO customercard_admin;
GRANT EXECUTE ON FUNCTION
    customercard.bind_role(regrole, bigint),
    customercard.unbind_role(regrole, bigint),
    customercard.assert_account_admin(bigint),
    -- SECURITY DEFINER, acting in the caller's account only; their helpers
    -- (merge_apply, unmerge_apply, card_rewrite, ...) are granted to nobody
    customercard.merge(bigint, bigint, text[]),
    customercard.unmerge(bigint),
    customercard.forget_contact(bigint),
    customercard.schedule_bulk_runner(),
    customercard.bulk_prune(interval)
TO customercard_admin;
GRANT SET ON PARAMETER customercard.comment_max_length TO customercard_admin;

-- app: creates accounts and may act in any of them
GRANT EXECUTE ON FUNCTION customercard.create_account(text, text, text) TO customercard_app;
