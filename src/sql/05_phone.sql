-- ===================================================================
-- 05_phone.sql: the customercard.phone type (docs/reference.md, Phones).
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

-- new in 0.2 (see the upgrade script)
CREATE FUNCTION customercard.phone_is_valid(customercard.phone) RETURNS boolean
    AS 'MODULE_PATHNAME', 'phone_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_is_valid(customercard.phone) IS
    'Whether the compiled numbering metadata calls the stored number valid (false for numbers stored under older metadata that the current one rejects)';

CREATE FUNCTION customercard.phone_metadata_version() RETURNS text
    AS 'MODULE_PATHNAME', 'phone_metadata_version' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_metadata_version() IS
    'The libphonenumber release whose numbering metadata is compiled in';

-- new in 0.3: local time from the number (see the upgrade script)
CREATE FUNCTION customercard.phone_timezones(customercard.phone) RETURNS text[]
    AS 'MODULE_PATHNAME', 'phone_timezones' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_timezones(customercard.phone) IS
    'The time zones the number''s prefix belongs to (libphonenumber''s prefix map, longest prefix), ''{}'' when none: a whole country''s for numbers not tied to a place (Russian mobiles)';

CREATE FUNCTION customercard.phone_timezone(customercard.phone) RETURNS text
    AS 'MODULE_PATHNAME', 'phone_timezone' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customercard.phone_timezone(customercard.phone) IS
    'The one time zone of the number''s prefix, NULL when phone_timezones gives several or none';
