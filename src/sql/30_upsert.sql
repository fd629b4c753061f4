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

-- upsert_contact_in and upsert_lock act in the session's own account only
CREATE FUNCTION customercard.assert_upsert_account(acct bigint) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF acct IS DISTINCT FROM customercard.require_account_id() THEN
        RAISE EXCEPTION 'account % is not the account this session acts in', coalesce(acct::text, 'NULL')
            USING ERRCODE = 'insufficient_privilege', HINT = 'Call customercard.upsert_contact(data).';
    END IF;
END
$$;

-- Serialise this transaction with every other upsert of acct that shares
-- one of the identifiers (keys): lock their slots of upsert_locks, in slot
-- order, until the transaction ends.  A transaction that upserts many
-- contacts (an import) holds at most 1,024 slot rows of its account.  A
-- slot used for the first time is made then (ON CONFLICT DO NOTHING waits
-- for a transaction making the same slot, and then it is locked).  One
-- statement when the slots exist (bench/upsert.sh prints the cost beside
-- 0.1's advisory locks).
CREATE FUNCTION customercard.upsert_lock(acct bigint, keys text[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    slots integer[];
    locked integer;
BEGIN
    PERFORM customercard.assert_upsert_account(acct);
    SELECT array_agg(DISTINCT (hashtextextended(k, 0) & 1023)::integer) INTO slots FROM unnest(keys) k;
    IF slots IS NULL THEN
        RETURN;
    END IF;
    PERFORM FROM customercard.upsert_locks l
      WHERE l.account_id = acct AND l.slot = ANY (slots)
      ORDER BY l.slot FOR UPDATE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < cardinality(slots) THEN
        INSERT INTO customercard.upsert_locks (account_id, slot)
        SELECT acct, s FROM unnest(slots) s ORDER BY s
        ON CONFLICT DO NOTHING;
        PERFORM FROM customercard.upsert_locks l
          WHERE l.account_id = acct AND l.slot = ANY (slots)
          ORDER BY l.slot FOR UPDATE;
    END IF;
END
$$;
COMMENT ON FUNCTION customercard.upsert_lock(bigint, text[]) IS
    'Lock, until the transaction ends, the slots of upsert_locks that the identifiers hash to in the caller''s account';

-- upsert_contact's steps, in the order upsert_contact_in takes them.  Each
-- acts in account acct, which upsert_contact_in has checked is the caller's.

-- The keys of a contact's data, and the plain text fields among them.
CREATE FUNCTION customercard.upsert_keys(OUT known text[], OUT scalar_text text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['contact_id', 'name', 'first_name', 'last_name', 'middle_name', 'nickname',
                 'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status',
                 'manager_id', 'created_at', 'phone', 'phones', 'email', 'emails', 'channel', 'channels', 'tags', 'custom',
                 'funnel', 'lgt', 'block', 'source'],
           ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname',
                 'avatar_url', 'gender', 'gender_source', 'timezone', 'country', 'city', 'ip', 'note', 'status', 'created_at']
$$;

-- The shape of the data: an object of known keys, each of its JSON type;
-- the funnel, LGT and block to subscribe to looked up (an unknown one is an
-- error before anything is written).
CREATE FUNCTION customercard.upsert_check_shape(acct bigint, data jsonb, OUT sub_funnel bigint, OUT sub_lgt bigint,
                                                OUT sub_block bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    keys constant record := customercard.upsert_keys();
    k text;
BEGIN
    IF data IS NULL OR jsonb_typeof(data) <> 'object' THEN
        PERFORM customercard.upsert_error('contact data must be a JSON object',
            'Pass something like ''{"name": "Anna", "phones": ["+7 912 345-67-89"]}''.');
    END IF;
    FOR k IN SELECT jsonb_object_keys(data) LOOP
        IF NOT k = ANY (keys.known) THEN
            PERFORM customercard.upsert_error(format('unknown key "%s" in contact data', k),
                'Known keys: ' || array_to_string(keys.known, ', ') || '.');
        END IF;
    END LOOP;
    FOREACH k IN ARRAY keys.scalar_text LOOP
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
    PERFORM customercard.expect_json_type(data, 'block', ARRAY['string', 'number']);
    PERFORM customercard.expect_json_type(data, 'source', ARRAY['string']);
    IF data ? 'lgt' AND NOT data ? 'funnel' THEN
        PERFORM customercard.upsert_error('"lgt" needs its "funnel"', 'Send {"funnel": "...", "lgt": "..."}: an LGT belongs to a funnel.');
    END IF;
    IF data ? 'block' AND NOT data ? 'funnel' THEN
        PERFORM customercard.upsert_error('"block" needs its "funnel"',
            'Send {"funnel": "...", "block": "..."}: the block of that funnel the subscription starts at.');
    END IF;
    IF data ? 'source' AND (NOT data ? 'funnel' OR length(data ->> 'source') NOT BETWEEN 1 AND 200) THEN
        PERFORM customercard.upsert_error('"source" tells where a subscription came from: it needs a "funnel", and 1 to 200 characters',
                                          'Send {"funnel": "...", "source": "import"}.');
    END IF;
    IF data ? 'funnel' THEN
        sub_funnel := customercard.bulk_lookup(acct, data, 'funnel', 'funnels');
        sub_lgt := customercard.bulk_lookup(acct, data, 'lgt', 'lgts', sub_funnel, false);
        sub_block := customercard.bulk_lookup(acct, data, 'block', 'funnel_blocks', sub_funnel, false);
    END IF;
    PERFORM customercard.expect_json_type(data, 'tags', ARRAY['array']);
    PERFORM customercard.expect_json_type(data, 'custom', ARRAY['object']);
END
$$;

-- The data's phones (strings, numbers or {"phone", "kind", "primary"}),
-- normalized: [{"phone", "raw", "kind", "primary"}]; a number that is not
-- one is an error that says how national numbers are read.
CREATE FUNCTION customercard.upsert_read_phones(acct bigint, data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    phones jsonb := '[]';
    v jsonb;
    k text;
    norm text;
BEGIN
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
    END LOOP;
    RETURN phones;
END
$$;

-- The data's e-mails (strings or {"email", "primary"}), normalized:
-- [{"email", "raw", "primary"}].
CREATE FUNCTION customercard.upsert_read_emails(data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    emails jsonb := '[]';
    v jsonb;
    k text;
    norm text;
BEGIN
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
    END LOOP;
    RETURN emails;
END
$$;

-- The data's channels ({"kind", "external_id" (or "social_id"),
-- "connection", "username", "subscribed_at", "avatar_url", "gender"}), checked:
-- [{"kind", "external_id", "connection", "username", "subscribed_at", "avatar_url", "gender"}]
-- (gender as the messenger reports it: male, female or null).
CREATE FUNCTION customercard.upsert_read_channels(data jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kinds constant text[] := customercard.channel_kinds();
    chans jsonb := '[]';
    v jsonb;
    k text;
BEGIN
    FOR v IN SELECT x FROM jsonb_array_elements(coalesce(data -> 'channels', '[]')) x
             UNION ALL SELECT data -> 'channel' WHERE jsonb_typeof(data -> 'channel') = 'object' LOOP
        IF jsonb_typeof(v) <> 'object' THEN
            PERFORM customercard.upsert_error(format('each channel must be an object, not %s', jsonb_typeof(v)),
                'Use "channel": {"kind": "telegram", "external_id": "123456"}.');
        END IF;
        FOR k IN SELECT jsonb_object_keys(v) LOOP
            IF NOT k = ANY (ARRAY['kind', 'external_id', 'social_id', 'connection', 'username', 'subscribed_at', 'avatar_url', 'gender']) THEN
                PERFORM customercard.upsert_error(format('unknown key "%s" in channel', k),
                    'Known channel keys: kind, external_id (or social_id), connection, username, subscribed_at, avatar_url, gender.');
            END IF;
        END LOOP;
        PERFORM customercard.expect_json_type(v, 'kind', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'external_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'social_id', ARRAY['string', 'number']);
        PERFORM customercard.expect_json_type(v, 'connection', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'username', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'avatar_url', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'subscribed_at', ARRAY['string']);
        PERFORM customercard.expect_json_type(v, 'gender', ARRAY['string']);
        IF NOT coalesce(lower(v ->> 'gender') = ANY (ARRAY['male', 'female', 'm', 'f', 'unknown']), true) THEN
            PERFORM customercard.upsert_error(format('unknown gender "%s" in channel', v ->> 'gender'),
                'A channel''s gender, as the messenger reports it: male, female (or m, f) or unknown.');
        END IF;
        IF NOT coalesce(v ->> 'kind' = ANY (kinds), false) THEN
            PERFORM customercard.upsert_error(format('unknown channel kind "%s"', coalesce(v ->> 'kind', '(none)')),
                'Channel kinds: ' || array_to_string(kinds, ', ') || '.');
        END IF;
        k := coalesce(v #>> '{external_id}', v #>> '{social_id}');
        IF k IS NULL OR btrim(k) = '' THEN
            PERFORM customercard.upsert_error('a channel needs an external_id',
                'Give the messenger''s user id as "external_id" (or "social_id").');
        END IF;
        chans := chans || jsonb_build_array(jsonb_build_object('kind', v ->> 'kind', 'external_id', k,
            'connection', v ->> 'connection', 'username', v ->> 'username', 'subscribed_at', v ->> 'subscribed_at',
            'avatar_url', v ->> 'avatar_url',
            'gender', CASE lower(v ->> 'gender') WHEN 'm' THEN 'male' WHEN 'f' THEN 'female' WHEN 'male' THEN 'male'
                                                 WHEN 'female' THEN 'female' END));
    END LOOP;
    RETURN chans;
END
$$;

-- The values of the contact row's fields that have a fixed set of values,
-- the manager and the tags, checked before anything is written.
CREATE FUNCTION customercard.upsert_check_values(acct bigint, data jsonb) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
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
END
$$;

-- The contact the data is about: its explicit id, then a channel's external
-- id, then an e-mail, then a phone (a merged one followed to its survivor);
-- of several of a kind, the first the data lists that matches, and of its
-- rows the oldest (so that a set of rows written at once, import_set,
-- finds what each row would find written alone); NULL when none matches.  Each key probes its lookup index on its own
-- (OFFSET 0 keeps the sub-query apart): joined plainly, under ORDER BY ...
-- LIMIT 1 the planner could walk the whole account in key order instead.
CREATE FUNCTION customercard.upsert_match(acct bigint, data jsonb, phones jsonb, emails jsonb, chans jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cid bigint;
BEGIN
    IF data ? 'contact_id' AND jsonb_typeof(data -> 'contact_id') = 'number' THEN
        cid := customercard.resolve_contact((data ->> 'contact_id')::bigint);
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_array_elements(chans) WITH ORDINALITY AS j(v, o),
               LATERAL (SELECT c.channel_id, c.contact_id FROM customercard.channels c
                         WHERE c.account_id = acct AND c.kind = j.v ->> 'kind' AND c.external_id = j.v ->> 'external_id'
                           AND (j.v ->> 'connection' IS NULL OR c.connection IS NOT DISTINCT FROM j.v ->> 'connection')
                        OFFSET 0) x
         ORDER BY j.o, x.channel_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_array_elements(emails) WITH ORDINALITY AS j(v, o),
               LATERAL (SELECT e.email_id, e.contact_id FROM customercard.emails e
                          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
                         WHERE e.account_id = acct AND customercard.email_key(e.email) = customercard.email_key(j.v ->> 'email')
                        OFFSET 0) x
         ORDER BY j.o, x.email_id LIMIT 1;
    END IF;
    IF cid IS NULL THEN
        SELECT x.contact_id INTO cid
          FROM jsonb_array_elements(phones) WITH ORDINALITY AS j(v, o),
               LATERAL (SELECT p.phone_id, p.contact_id FROM customercard.phones p
                          JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = p.contact_id AND c.deleted_at IS NULL
                         WHERE p.account_id = acct AND p.phone OPERATOR(customercard.=) (j.v ->> 'phone')::customercard.phone
                        OFFSET 0) x
         ORDER BY j.o, x.phone_id LIMIT 1;
    END IF;
    IF cid IS NOT NULL THEN
        cid := customercard.resolve_contact(cid);
    END IF;
    RETURN cid;
END
$$;

-- The data's fields set on contacts ids[i] from datas[i] (a key present
-- with null clears its field): upsert_contact's row and the imports' sets.
-- The rows are found by = ANY on the primary key and each takes its data
-- from a jsonb keyed by contact id, so no plan can join the rows to the
-- data any other way: a join of the contacts to unnest(ids, datas), its
-- contacts estimated at one row (a new account's, not yet in the
-- statistics), was a nested loop over both (25 million pairs for 5,000).
-- (Its generic plan, always: one probe of the key an id, which a custom
-- plan for 5,000 ids traded for reading all 100,000 contacts of the
-- account, 121 ms of 514; and a custom plan, which plpgsql kept choosing
-- for a single id over the generic one's estimate of ten, was planned at
-- every upsert_contact, 0.30 ms a call against 0.10.)
CREATE FUNCTION customercard.upsert_contact_fields(acct bigint, ids bigint[], datas jsonb[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    keyed jsonb;                -- contact id -> its data, for those that set a field
    todo bigint[];
BEGIN
    SELECT jsonb_object_agg(u.id::text, u.data), array_agg(u.id) INTO keyed, todo
      FROM unnest(ids, datas) AS u(id, data)
     WHERE u.data ?| ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender',
                           'timezone', 'country', 'city', 'ip', 'note', 'status', 'manager_id'];
    IF todo IS NULL THEN
        RETURN;
    END IF;
    UPDATE customercard.contacts c
       SET (name, first_name, last_name, middle_name, nickname, avatar_url, gender, gender_source, timezone,
            country, city, ip, note, status, manager_id) = (
        SELECT
               CASE WHEN u.data ? 'name' THEN nullif(btrim(u.data ->> 'name'), '') ELSE c.name END,
               CASE WHEN u.data ? 'first_name' THEN nullif(btrim(u.data ->> 'first_name'), '') ELSE c.first_name END,
               CASE WHEN u.data ? 'last_name' THEN nullif(btrim(u.data ->> 'last_name'), '') ELSE c.last_name END,
               CASE WHEN u.data ? 'middle_name' THEN nullif(btrim(u.data ->> 'middle_name'), '') ELSE c.middle_name END,
               CASE WHEN u.data ? 'nickname' THEN nullif(btrim(u.data ->> 'nickname'), '') ELSE c.nickname END,
               CASE WHEN u.data ? 'avatar_url' THEN u.data ->> 'avatar_url' ELSE c.avatar_url END,
               CASE WHEN u.data ? 'gender' THEN
                        CASE WHEN lower(u.data ->> 'gender') = 'm' THEN 'male' WHEN lower(u.data ->> 'gender') = 'f' THEN 'female'
                             WHEN lower(u.data ->> 'gender') = 'unknown' THEN NULL ELSE lower(u.data ->> 'gender') END
                    ELSE c.gender END,
               CASE WHEN u.data ? 'gender' THEN
                        CASE WHEN u.data ->> 'gender' IS NULL OR lower(u.data ->> 'gender') = 'unknown' THEN NULL
                             ELSE coalesce(u.data ->> 'gender_source', 'manual') END
                    ELSE c.gender_source END,
               CASE WHEN u.data ? 'timezone' THEN u.data ->> 'timezone' ELSE c.timezone END,
               CASE WHEN u.data ? 'country' THEN u.data ->> 'country' ELSE c.country END,
               CASE WHEN u.data ? 'city' THEN u.data ->> 'city' ELSE c.city END,
               CASE WHEN u.data ? 'ip' THEN (u.data ->> 'ip')::inet ELSE c.ip END,
               CASE WHEN u.data ? 'note' THEN u.data ->> 'note' ELSE c.note END,
               CASE WHEN u.data ? 'status' THEN coalesce(u.data ->> 'status', 'active') ELSE c.status END,
               CASE WHEN u.data ? 'manager_id' THEN (u.data ->> 'manager_id')::bigint ELSE c.manager_id END
          FROM (SELECT keyed -> c.contact_id::text AS data OFFSET 0) u)
     WHERE c.account_id = acct AND c.contact_id = ANY (todo);
END
$$;

-- The contact row: made when cid is NULL, then the data's fields set on it
-- (a key present with null clears its field).
CREATE FUNCTION customercard.upsert_contact_row(acct bigint, cid bigint, data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    upserted_id := cid;
    created := cid IS NULL;
    IF created THEN
        INSERT INTO customercard.contacts (account_id, created_at)
        VALUES (acct, coalesce((data ->> 'created_at')::timestamptz, now()))
        RETURNING customercard.contacts.contact_id INTO upserted_id;
    END IF;

    PERFORM customercard.upsert_contact_fields(acct, ARRAY[upserted_id], ARRAY[data]);
EXCEPTION
    WHEN check_violation OR invalid_text_representation OR invalid_datetime_format
         OR datetime_field_overflow OR foreign_key_violation OR numeric_value_out_of_range THEN
        PERFORM customercard.upsert_error('contact data has an invalid value: ' || SQLERRM,
            'gender is male, female or unknown; status is active, unsubscribed, blacklisted or archived; '
            'timezone is a zone name such as Europe/Moscow; ip an IP address; manager_id a manager of the account.');
END
$$;

-- The contact's phones and e-mails: new ones added, a primary one made the
-- only primary; the first of a contact is its primary.
CREATE FUNCTION customercard.upsert_phones_emails(acct bigint, cid bigint, phones jsonb, emails jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ph record;
    em record;
    has_primary boolean;    -- (Citus takes no sub-select inside INSERT ... VALUES)
BEGIN
    FOR ph IN SELECT * FROM jsonb_to_recordset(phones) AS j(phone customercard.phone, raw text, kind text, "primary" boolean) LOOP
        IF ph.kind NOT IN ('mobile', 'work', 'home', 'other') THEN
            PERFORM customercard.upsert_error(format('unknown phone kind "%s"', ph.kind), 'Phone kinds: mobile, work, home, other.');
        END IF;
        IF ph."primary" THEN
            UPDATE customercard.phones q SET is_primary = false
             WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary AND q.phone OPERATOR(customercard.<>) ph.phone;
        END IF;
        has_primary := EXISTS (SELECT 1 FROM customercard.phones q
                                WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary);
        INSERT INTO customercard.phones AS p (account_id, contact_id, phone, raw, kind, is_primary)
        VALUES (acct, cid, ph.phone, ph.raw, ph.kind, ph."primary" OR NOT has_primary)
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
            has_primary := EXISTS (SELECT 1 FROM customercard.emails q
                                    WHERE q.account_id = acct AND q.contact_id = cid AND q.is_primary);
            INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
            VALUES (acct, cid, em.email, em.raw, em."primary" OR NOT has_primary);
        END IF;
    END LOOP;
END
$$;

-- The contact's channels: a new one added; one it has (of any connection,
-- when none is sent) takes a new avatar.
CREATE FUNCTION customercard.upsert_channels(acct bigint, cid bigint, chans jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ch record;
BEGIN
    FOR ch IN SELECT * FROM jsonb_to_recordset(chans)
                  AS j(kind text, external_id text, connection text, username text, subscribed_at timestamptz, avatar_url text) LOOP
        -- without a connection, any connection of this contact's channel is the same channel
        IF ch.connection IS NULL AND EXISTS (SELECT 1 FROM customercard.channels c
                WHERE c.account_id = acct AND c.contact_id = cid AND c.kind = ch.kind AND c.external_id = ch.external_id) THEN
            -- (a new avatar is the person's picture there now)
            UPDATE customercard.channels c SET avatar_url = ch.avatar_url
             WHERE c.account_id = acct AND c.contact_id = cid AND c.kind = ch.kind AND c.external_id = ch.external_id
               AND ch.avatar_url IS NOT NULL AND c.avatar_url IS DISTINCT FROM ch.avatar_url;
            CONTINUE;
        END IF;
        INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id, username, subscribed_at, avatar_url)
        VALUES (acct, cid, ch.kind, ch.connection, ch.external_id, ch.username, coalesce(ch.subscribed_at, now()), ch.avatar_url)
        ON CONFLICT (account_id, kind, connection, external_id) DO UPDATE
            SET username = coalesce(EXCLUDED.username, customercard.channels.username),
                avatar_url = coalesce(EXCLUDED.avatar_url, customercard.channels.avatar_url)
            WHERE customercard.channels.contact_id = cid;
    END LOOP;
END
$$;

-- A funnel (and the LGT that brought the contact): subscribed through the
-- channel sent along, if any; unless subscribed already (an open period of
-- the funnel through that channel: of that LGT, or of any when none is
-- sent), a new period starts, at the block given (sub_block), and the ended
-- ones stay.  An open period keeps its block.
CREATE FUNCTION customercard.upsert_subscription(acct bigint, cid bigint, chans jsonb, sub_funnel bigint, sub_lgt bigint,
                                                 source text, sub_block bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sub_channel bigint;
BEGIN
    sub_channel := (SELECT c.channel_id FROM customercard.channels c
                     WHERE c.account_id = acct AND c.contact_id = cid
                       AND (c.kind, c.external_id) IN (SELECT j.kind, j.external_id FROM jsonb_to_recordset(chans) AS j(kind text, external_id text))
                     ORDER BY c.channel_id LIMIT 1);
    IF NOT EXISTS (SELECT 1 FROM customercard.subscriptions s
                    WHERE s.account_id = acct AND s.contact_id = cid AND s.funnel_id = sub_funnel
                      AND s.channel_id IS NOT DISTINCT FROM sub_channel AND s.unsubscribed_at IS NULL
                      AND (sub_lgt IS NULL OR s.lgt_id = sub_lgt)) THEN
        INSERT INTO customercard.subscriptions (account_id, contact_id, channel_id, funnel_id, lgt_id, source, block_id)
        VALUES (acct, cid, sub_channel, sub_funnel, sub_lgt, source, sub_block)
        ON CONFLICT (account_id, contact_id, funnel_id, channel_id, lgt_id) WHERE unsubscribed_at IS NULL DO NOTHING;
    END IF;
END
$$;

-- Whether a custom field of kind takes the value (number, date and
-- boolean as PostgreSQL reads them; text and url take any text).
CREATE FUNCTION customercard.custom_value_fits(kind text, value text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind NOT IN ('number', 'date', 'boolean') THEN
        RETURN true;
    END IF;
    PERFORM CASE kind WHEN 'number' THEN value::numeric::text
                      WHEN 'date' THEN value::date::text
                      ELSE value::boolean::text END;
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END
$$;

-- The gender a channel of the data reports (the first that reports one)
-- fills the contact's, with source channel, unless a person gave one: the
-- data itself (its "gender" key), or earlier by hand (a gender whose source
-- is not channel).  "unknown" reports nothing.
CREATE FUNCTION customercard.upsert_channel_gender(acct bigint, cid bigint, chans jsonb, data jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g constant text := (SELECT c.v ->> 'gender' FROM jsonb_array_elements(chans) WITH ORDINALITY c (v, o)
                         WHERE c.v ->> 'gender' IS NOT NULL ORDER BY c.o LIMIT 1);
BEGIN
    IF g IS NULL OR data ? 'gender' THEN
        RETURN;
    END IF;
    UPDATE customercard.contacts c SET gender = g, gender_source = 'channel'
     WHERE c.account_id = acct AND c.contact_id = cid
       AND (c.gender IS NULL OR c.gender_source = 'channel') AND c.gender IS DISTINCT FROM g;
END
$$;

-- The data's tags (made in the account when new) and custom field values
-- (null removes one; a value must be of its field's kind).
CREATE FUNCTION customercard.upsert_tags_custom(acct bigint, cid bigint, data jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k text;
    v jsonb;
    tid bigint;
    fid bigint;
    fkind text;
BEGIN
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
        IF NOT customercard.custom_value_fits(fkind, v #>> '{}') THEN
            PERFORM customercard.upsert_error(format('custom field "%s" is of kind %s; "%s" is not one', k, fkind, v #>> '{}'),
                'Send a value of the field''s kind (number, date as YYYY-MM-DD, boolean true/false).');
        END IF;
        INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
        VALUES (acct, cid, fid, v #>> '{}')
        ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
            WHERE customercard.custom_values.value IS DISTINCT FROM EXCLUDED.value;
    END LOOP;
END
$$;

-- The work of upsert_contact in account acct, which must be the caller's:
-- every check before anything is written, then the identifiers locked,
-- the contact matched (or made) and each part of the data written.
-- On Citus it runs on the node holding the account (a delegated function,
-- distribute_on_citus()): one round trip, every statement local there.
CREATE FUNCTION customercard.upsert_contact_in(acct bigint, data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sub record;
    phones jsonb;
    emails jsonb;
    chans jsonb;
BEGIN
    PERFORM customercard.assert_upsert_account(acct);
    PERFORM customercard.assert_account_here(acct, 'upsert_contact');
    sub := customercard.upsert_check_shape(acct, data);
    phones := customercard.upsert_read_phones(acct, data);
    emails := customercard.upsert_read_emails(data);
    chans := customercard.upsert_read_channels(data);
    PERFORM customercard.upsert_check_values(acct, data);

    -- Serialize upserts that share an identifier, so two sessions cannot both
    -- create the same person (row locks in the account: upsert_lock()).
    PERFORM customercard.upsert_lock(acct,
        ARRAY(SELECT 'phone:' || (p ->> 'phone') FROM jsonb_array_elements(phones) p)
        || ARRAY(SELECT 'email:' || customercard.email_key(e ->> 'email') FROM jsonb_array_elements(emails) e)
        || ARRAY(SELECT 'channel:' || (c ->> 'kind') || ':' || (c ->> 'external_id') FROM jsonb_array_elements(chans) c));

    SELECT r.upserted_id, r.created INTO upserted_id, created
      FROM customercard.upsert_contact_row(acct, customercard.upsert_match(acct, data, phones, emails, chans), data) r;
    PERFORM customercard.upsert_phones_emails(acct, upserted_id, phones, emails);
    PERFORM customercard.upsert_channels(acct, upserted_id, chans);
    IF chans @? '$[*] ? (@.gender != null)' THEN
        PERFORM customercard.upsert_channel_gender(acct, upserted_id, chans, data);
    END IF;
    IF sub.sub_funnel IS NOT NULL THEN
        PERFORM customercard.upsert_subscription(acct, upserted_id, chans, sub.sub_funnel, sub.sub_lgt, data ->> 'source',
                                                 sub.sub_block);
    END IF;
    PERFORM customercard.upsert_tags_custom(acct, upserted_id, data);
END
$$;

-- upsert_contact_ex also says whether the contact is new (the imports' report)
CREATE FUNCTION customercard.upsert_contact_ex(data jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
BEGIN
    -- in the FROM form, which Citus delegates to the account's node
    SELECT u.upserted_id, u.created INTO upserted_id, created FROM customercard.upsert_contact_in(acct, data) u;
END
$$;

CREATE FUNCTION customercard.upsert_contact(data jsonb) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    SELECT (customercard.upsert_contact_ex(data)).upserted_id
$$;
COMMENT ON FUNCTION customercard.upsert_contact(jsonb) IS
    'Create or update a contact from one JSON object, matching by channel external id, then e-mail, then phone; returns its id';
