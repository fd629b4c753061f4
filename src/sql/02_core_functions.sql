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

-- The name a card, the CRM table, the quick card and exports show: the full
-- name, else first and last, else the nickname.  Inlined where it is used
-- (no SET clause, the calls qualified), so it costs what the expression does.
CREATE FUNCTION customercard.display_name(name text, first_name text, last_name text, nickname text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(name, nullif(pg_catalog.concat_ws(' ', first_name, last_name), ''), nickname)
$$;
COMMENT ON FUNCTION customercard.display_name(text, text, text, text) IS
    'The name shown for a contact: the full name, else first and last name, else the nickname';

CREATE FUNCTION customercard.is_log_event(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'is_log_event'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.is_log_event(text) IS
    'Whether the text is an action log event kind: one of the extension''s, or source.event as an account registers it (the CHECK of action_log.event; log_event() lists them in its hint)';

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
