-- ===================================================================
-- 47_import_export.sql: contacts in from JSON, CSV and .xlsx (import.c),
-- at once or as queued import jobs (import_batch, run by bulk_run); the
-- audience out as CSV and .xlsx (export.c), at once or as export jobs (the
-- row builders below).  Imports go through upsert_contact's path, so
-- matching, tags, custom fields, funnels and the action log work as for any
-- other write.
-- ===================================================================

-- Settings for a whole file: the connection (bot) and channel
-- kind its social ids belong to, a funnel, LGT and the funnel's block the
-- subscriptions start at, tags, and which import
-- it is ("require": "social_id" for messenger subscribers, "email" for an
-- e-mail list: rows without it are rejected).  Checked as bulk_enqueue
-- checks parameters, names resolved to ids, before a row is read.
CREATE FUNCTION customercard.import_check_settings(acct bigint, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['connection', 'channel_kind', 'funnel', 'lgt', 'block', 'tags', 'require'];
    kinds constant text[] := customercard.channel_kinds();
    bad text;
    out jsonb := '{}';
    funnel bigint;
    default_lgt bigint;
BEGIN
    settings := coalesce(settings, '{}');
    IF jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION 'import settings must be a JSON object, not %', jsonb_typeof(settings)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. ''{"connection": "school_bot", "channel_kind": "telegram", "tags": ["imported"]}''.';
    END IF;
    SELECT k INTO bad FROM jsonb_object_keys(settings) k WHERE NOT k = ANY (allowed) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown import setting "%"', bad
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The settings are ' || array_to_string(allowed, ', ') || '.';
    END IF;
    IF settings ? 'connection' THEN
        IF jsonb_typeof(settings -> 'connection') <> 'string' OR length(settings ->> 'connection') NOT BETWEEN 1 AND 200 THEN
            RAISE EXCEPTION '"connection" must be the bot''s name, 1 to 200 characters'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Name the bot the file was exported from, e.g. "school_bot".';
        END IF;
        out := out || jsonb_build_object('connection', settings ->> 'connection');
    END IF;
    IF settings ? 'channel_kind' THEN
        IF jsonb_typeof(settings -> 'channel_kind') <> 'string' OR NOT settings ->> 'channel_kind' = ANY (kinds) THEN
            RAISE EXCEPTION '"channel_kind" must be a messenger kind, not %', settings -> 'channel_kind'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'One of ' || array_to_string(kinds, ', ') || '.';
        END IF;
        out := out || jsonb_build_object('channel_kind', settings ->> 'channel_kind');
    END IF;
    IF settings ? 'lgt' AND NOT settings ? 'funnel' THEN
        RAISE EXCEPTION '"lgt" needs its "funnel"'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'An LGT belongs to a funnel: give both.';
    END IF;
    IF settings ? 'block' AND NOT settings ? 'funnel' THEN
        RAISE EXCEPTION '"block" needs its "funnel"'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The block a subscription starts at belongs to a funnel: give both.';
    END IF;
    IF settings ? 'funnel' THEN
        funnel := customercard.bulk_lookup(acct, settings, 'funnel', 'funnels');
        out := out || jsonb_build_object('funnel', funnel);
        IF settings ? 'lgt' THEN
            out := out || jsonb_build_object('lgt', customercard.bulk_lookup(acct, settings, 'lgt', 'lgts', funnel));
        END IF;
        IF settings ? 'block' THEN
            out := out || jsonb_build_object('block', customercard.bulk_lookup(acct, settings, 'block', 'funnel_blocks', funnel));
        END IF;
    END IF;
    IF settings ? 'tags' THEN
        IF jsonb_typeof(settings -> 'tags') <> 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(settings -> 'tags') t
                       WHERE jsonb_typeof(t) <> 'string' OR btrim(t #>> '{}') = '') THEN
            RAISE EXCEPTION '"tags" must be an array of tag names'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. {"tags": ["imported", "webinar"]}.';
        END IF;
        out := out || jsonb_build_object('tags', settings -> 'tags');
    END IF;
    IF NOT settings ? 'funnel' THEN
        -- the account's default traffic source, looked up once for the file
        SELECT a.default_funnel_id, a.default_lgt_id INTO funnel, default_lgt FROM customercard.accounts a WHERE a.account_id = acct;
        IF funnel IS NOT NULL THEN
            out := out || jsonb_build_object('default_funnel', funnel)
                       || CASE WHEN default_lgt IS NOT NULL THEN jsonb_build_object('default_lgt', default_lgt) ELSE '{}' END;
        END IF;
    END IF;
    IF settings ? 'require' THEN
        IF settings ->> 'require' NOT IN ('social_id', 'email') OR jsonb_typeof(settings -> 'require') <> 'string' THEN
            RAISE EXCEPTION '"require" must be "social_id" (messenger subscribers) or "email" (an e-mail list)'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Rows without that identifier are then rejected.';
        END IF;
        out := out || jsonb_build_object('require', settings ->> 'require');
    END IF;
    RETURN out;
END
$$;

-- Leeloo's Viber rule for one imported row: at most two imports of a Viber
-- subscriber in 12 hours; records this one.  SECURITY DEFINER: managers
-- neither see nor write the marks (they could clear them).
CREATE FUNCTION customercard.import_viber_mark(acct bigint, connection text, external_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    window_start constant timestamptz := now() - interval '12 hours';
    earliest timestamptz;
    n integer;
BEGIN
    IF NOT customercard.account_may_act(acct) THEN
        RAISE EXCEPTION 'role "%" may not import into account %', customercard.calling_role(), acct
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- one subscriber at a time (concurrent imports of the same file)
    PERFORM customercard.upsert_lock(acct, ARRAY['viber:' || external_id]);
    DELETE FROM customercard.import_marks m
     WHERE m.account_id = acct AND m.external_id = import_viber_mark.external_id AND m.imported_at <= window_start;
    SELECT count(*), min(m.imported_at) INTO n, earliest FROM customercard.import_marks m
     WHERE m.account_id = acct AND m.external_id = import_viber_mark.external_id
       AND m.connection IS NOT DISTINCT FROM import_viber_mark.connection;
    IF n >= 2 THEN
        RAISE EXCEPTION 'Viber subscriber % was imported twice in the last 12 hours; it may be imported again from %',
                        external_id, to_char((earliest + interval '12 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Viber blocks bots that write to new people in bulk: import the row again after that time.';
    END IF;
    INSERT INTO customercard.import_marks (account_id, connection, external_id) VALUES (acct, connection, external_id);
END
$$;

-- One imported row (upsert_contact's object) with the file's checked
-- settings applied: the row's own values win; a row's channel takes the
-- file's connection and kind; a row without a funnel gets the settings'
-- funnel (and block, unless the row names one), else the account's default
-- traffic source as it was when the file's settings were checked (recorded
-- as the subscription's source);
-- tags are added to the row's.
CREATE FUNCTION customercard.import_prepare(data jsonb, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ch jsonb := data -> 'channel';
BEGIN
    IF jsonb_typeof(ch) = 'object' THEN
        IF NOT ch ? 'connection' AND settings ? 'connection' THEN
            ch := ch || jsonb_build_object('connection', settings ->> 'connection');
        END IF;
        IF NOT ch ? 'kind' AND settings ? 'channel_kind' THEN
            ch := ch || jsonb_build_object('kind', settings ->> 'channel_kind');
        END IF;
        data := data || jsonb_build_object('channel', ch);
    END IF;
    IF NOT data ? 'funnel' THEN
        IF settings ? 'funnel' THEN
            data := data || jsonb_build_object('funnel', settings -> 'funnel', 'source', 'import')
                         || CASE WHEN settings ? 'lgt' THEN jsonb_build_object('lgt', settings -> 'lgt') ELSE '{}' END
                         || CASE WHEN settings ? 'block' AND NOT data ? 'block' THEN jsonb_build_object('block', settings -> 'block')
                                 ELSE '{}' END;
        ELSIF settings ? 'default_funnel' THEN
            data := data || jsonb_build_object('funnel', settings -> 'default_funnel', 'source', 'default traffic source')
                         || CASE WHEN settings ? 'default_lgt' THEN jsonb_build_object('lgt', settings -> 'default_lgt') ELSE '{}' END;
        END IF;
    ELSIF NOT data ? 'source' THEN
        data := data || '{"source": "import"}';
    END IF;
    IF settings ? 'tags' THEN
        data := data || jsonb_build_object('tags', CASE jsonb_typeof(data -> 'tags') WHEN 'array' THEN data -> 'tags' ELSE '[]' END
                                                   || (settings -> 'tags'));
    END IF;
    RETURN data;
END
$$;

-- Why a prepared row lacks what the file's "require" setting asks for
-- (NULL when it has it).
CREATE FUNCTION customercard.import_missing(data jsonb, settings jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE
        WHEN settings ->> 'require' = 'social_id' AND coalesce(btrim(data -> 'channel' ->> 'external_id'), '') = ''
        THEN 'the row has no social_id, which an import of messenger subscribers needs'
        WHEN settings ->> 'require' = 'email'
             AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(CASE jsonb_typeof(data -> 'emails') WHEN 'array' THEN data -> 'emails' ELSE '[]' END) e
                              WHERE btrim(e #>> '{}') <> '')
             AND coalesce(btrim(data ->> 'email'), '') = ''
        THEN 'the row has no e-mail, which an import of an e-mail list needs' END
$$;

-- One imported row through upsert_contact's path: the settings applied,
-- what the file requires checked, the Viber rule kept.
CREATE FUNCTION customercard.import_upsert(data jsonb, settings jsonb, OUT upserted_id bigint, OUT created boolean)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    missing text;
BEGIN
    data := customercard.import_prepare(data, settings);
    missing := customercard.import_missing(data, settings);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '%', missing
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = CASE settings ->> 'require' WHEN 'email' THEN 'Give each row an address in the email column.'
                              ELSE 'Give each row its subscriber''s id in the social_id column.' END;
    END IF;
    IF data -> 'channel' ->> 'kind' = 'viber' AND coalesce(btrim(data -> 'channel' ->> 'external_id'), '') <> '' THEN
        PERFORM customercard.import_viber_mark(acct, data -> 'channel' ->> 'connection', btrim(data -> 'channel' ->> 'external_id'));
    END IF;
    SELECT u.upserted_id, u.created INTO upserted_id, created FROM customercard.upsert_contact_ex(data) u;
END
$$;

-- Whether import_set writes a prepared row itself (import_plain.c): keys
-- and values upsert_contact's path accepts as they are, checked as it
-- checks them; the funnel, LGT and source and the channel's kind are
-- import_set's to judge.
CREATE FUNCTION customercard.import_plain(data jsonb, fields jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'import_plain' LANGUAGE C STABLE STRICT;

-- Whether the text is an IP address (inet's input)
CREATE FUNCTION customercard.text_is_inet(value text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM value::inet;
    RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN false;
END
$$;

-- A JSON array, or an empty one for anything else (a set function's
-- argument that must not fail on a row's wrong type).
CREATE FUNCTION customercard.json_array_or_empty(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'array' THEN v ELSE '[]'::jsonb END
$$;

CREATE FUNCTION customercard.json_object_or_empty(v jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN pg_catalog.jsonb_typeof(v) OPERATOR(pg_catalog.=) 'object' THEN v ELSE '{}'::jsonb END
$$;

-- A plain row's phones and e-mails in upsert_contact's order (the list,
-- then the single key): position, the normalized value, the raw text.
-- (Plain SQL, no settings: the planner inlines them into import_write's
-- statements.)
CREATE FUNCTION customercard.import_phones(x jsonb) RETURNS TABLE (pos bigint, phone text, raw text)
LANGUAGE sql STABLE AS $$
    SELECT a.o, customercard.normalize_phone(a.v OPERATOR(pg_catalog.#>>) '{}'), a.v OPERATOR(pg_catalog.#>>) '{}'
      FROM pg_catalog.jsonb_array_elements(customercard.json_array_or_empty(x OPERATOR(pg_catalog.->) 'phones')) WITH ORDINALITY a(v, o)
    UNION ALL
    SELECT 9223372036854775807, customercard.normalize_phone(x OPERATOR(pg_catalog.->>) 'phone'), x OPERATOR(pg_catalog.->>) 'phone'
     WHERE pg_catalog.jsonb_typeof(x OPERATOR(pg_catalog.->) 'phone') OPERATOR(pg_catalog.=) ANY (ARRAY['string', 'number'])
$$;

CREATE FUNCTION customercard.import_emails(x jsonb) RETURNS TABLE (pos bigint, email text, raw text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT a.o, customercard.normalize_email(a.v OPERATOR(pg_catalog.#>>) '{}'), a.v OPERATOR(pg_catalog.#>>) '{}'
      FROM pg_catalog.jsonb_array_elements(customercard.json_array_or_empty(x OPERATOR(pg_catalog.->) 'emails')) WITH ORDINALITY a(v, o)
    UNION ALL
    SELECT 9223372036854775807, customercard.normalize_email(x OPERATOR(pg_catalog.->>) 'email'), x OPERATOR(pg_catalog.->>) 'email'
     WHERE pg_catalog.jsonb_typeof(x OPERATOR(pg_catalog.->) 'email') OPERATOR(pg_catalog.=) 'string'
$$;

-- A plain row's identifiers as upsert_contact locks them (upsert_lock)
CREATE FUNCTION customercard.import_keys(x jsonb) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT 'phone:' OPERATOR(pg_catalog.||) p.phone FROM customercard.import_phones(x) p
    UNION ALL
    SELECT 'email:' OPERATOR(pg_catalog.||) customercard.email_key(e.email) FROM customercard.import_emails(x) e
    UNION ALL
    SELECT 'channel:' OPERATOR(pg_catalog.||) (x OPERATOR(pg_catalog.->) 'channel' OPERATOR(pg_catalog.->>) 'kind')
           OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||)
           COALESCE(x OPERATOR(pg_catalog.->) 'channel' OPERATOR(pg_catalog.->>) 'external_id',
                               x OPERATOR(pg_catalog.->) 'channel' OPERATOR(pg_catalog.->>) 'social_id')
     WHERE pg_catalog.jsonb_typeof(x OPERATOR(pg_catalog.->) 'channel') OPERATOR(pg_catalog.=) 'object'
$$;

-- import_set's plain rows (rows[k] at file position, datas[k] prepared),
-- written in rounds: each round matches the rows still to write and writes
-- those that no earlier one of them shares an identifier or a contact with,
-- a statement per section.  Returns each row's contact and whether it was
-- made.  Each statement on the tables is an EXECUTE of constant text with
-- the round's arrays as parameters, planned for them and for the tables as
-- they are now: a cached generic plan, made while the tables were small (a
-- new account, or this import's first sets), scanned them for each row once
-- they were not; and plan_cache_mode = force_custom_plan on the function,
-- which planned afresh too, also re-planned every foreign-key check of
-- every row written (3.5 s of 8.2 s for 20,000 rows).  Each EXISTS has
-- OFFSET 0, which keeps it a probe of an index per row: as an anti-join,
-- the planner (which takes a row's list of phones for a hundred) hashed
-- the account's whole table instead, for every set.  The account is
-- compared as (SELECT $1), a value the planner does not see: it then
-- takes the account for one of average size, not for the one row the
-- statistics give a new account (whose rows this import is writing), for
-- which any index led by account_id looked as good as another, and a
-- probe for a contact's primary phone read all the account's phones.
CREATE FUNCTION customercard.import_write(acct bigint, rows integer[], datas jsonb[], subs jsonb, fields jsonb)
RETURNS TABLE (i integer, cid bigint, made boolean)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
    SET jit = off AS $$
DECLARE
    pending integer[] := rows;
    pd jsonb[] := datas;
    ri integer[];               -- the round's rows, their contacts (NULL: new) and data
    rc bigint[];
    rx jsonb[];
    rm boolean[];
    ids bigint[];
BEGIN
    WHILE cardinality(pending) > 0 LOOP
        -- each row's contact now, as upsert_match finds it: a channel's id,
        -- then an e-mail, then a phone (the first listed that matches, its
        -- oldest row), each probing its own index; a merged one followed to
        -- its survivor
        EXECUTE $q$
        WITH u AS (SELECT u.i, u.x FROM unnest($2, $3) u(i, x)),
             mc AS (SELECT u.i, (SELECT c.contact_id FROM customercard.channels c
                                  WHERE c.account_id = (SELECT $1) AND c.kind = u.x -> 'channel' ->> 'kind'
                                    AND c.external_id = coalesce(u.x -> 'channel' ->> 'external_id', u.x -> 'channel' ->> 'social_id')
                                    AND (u.x -> 'channel' ->> 'connection' IS NULL
                                         OR c.connection IS NOT DISTINCT FROM u.x -> 'channel' ->> 'connection')
                                  ORDER BY c.channel_id LIMIT 1) AS c
                      FROM u WHERE jsonb_typeof(u.x -> 'channel') = 'object'),
             me AS (SELECT DISTINCT ON (u.i) u.i, m.contact_id AS c
                      FROM u, customercard.import_emails(u.x) j,
                           LATERAL (SELECT e.email_id, e.contact_id FROM customercard.emails e
                                      JOIN customercard.contacts c ON c.account_id = (SELECT $1) AND c.contact_id = e.contact_id AND c.deleted_at IS NULL
                                     WHERE e.account_id = (SELECT $1) AND customercard.email_key(e.email) = customercard.email_key(j.email)
                                    OFFSET 0) m
                     ORDER BY u.i, j.pos, m.email_id),
             mp AS (SELECT DISTINCT ON (u.i) u.i, m.contact_id AS c
                      FROM u, customercard.import_phones(u.x) j,
                           LATERAL (SELECT q.phone_id, q.contact_id FROM customercard.phones q
                                      JOIN customercard.contacts c ON c.account_id = (SELECT $1) AND c.contact_id = q.contact_id AND c.deleted_at IS NULL
                                     WHERE q.account_id = (SELECT $1) AND q.phone OPERATOR(customercard.=) j.phone::customercard.phone
                                    OFFSET 0) m
                     ORDER BY u.i, j.pos, m.phone_id),
             m AS (SELECT u.i, u.x, coalesce(mc.c, me.c, mp.c) AS c
                     FROM u LEFT JOIN mc ON mc.i = u.i LEFT JOIN me ON me.i = u.i LEFT JOIN mp ON mp.i = u.i),
             p AS (SELECT m.i, m.x,
                          CASE WHEN m.c IS NULL OR (SELECT k.merged_into FROM customercard.contacts k
                                                     WHERE k.account_id = (SELECT $1) AND k.contact_id = m.c) IS NULL
                               THEN m.c ELSE customercard.resolve_contact(m.c) END AS c
                     FROM m),
             k AS (SELECT p.i, k.key FROM p, customercard.import_keys(p.x) k(key)
                   UNION ALL SELECT p.i, 'contact:' || p.c FROM p WHERE p.c IS NOT NULL),
             blocked AS (SELECT DISTINCT a.i FROM k a JOIN k b ON b.key = a.key AND b.i < a.i)
        SELECT array_agg(p.i ORDER BY p.i), array_agg(p.c ORDER BY p.i), array_agg(p.x ORDER BY p.i)
          FROM p WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.i = p.i)
        $q$ INTO ri, rc, rx USING acct, pending, pd;

        -- new contacts, made in line order (ids from the sequence rise with it)
        EXECUTE $q$
        WITH fresh AS (
            INSERT INTO customercard.contacts (account_id, created_at)
            SELECT $1, now() FROM unnest($2, $3) u(i, c) WHERE u.c IS NULL ORDER BY u.i
            RETURNING customercard.contacts.contact_id)
        SELECT array_agg(m.contact_id ORDER BY m.contact_id) FROM fresh m
        $q$ INTO ids USING acct, ri, rc;
        SELECT array_agg(coalesce(u.c, n.id) ORDER BY u.i), array_agg(u.c IS NULL ORDER BY u.i) INTO rc, rm
          FROM unnest(ri, rc) u(i, c)
          LEFT JOIN (SELECT w.i, row_number() OVER (ORDER BY w.i) AS o FROM unnest(ri, rc) w(i, c) WHERE w.c IS NULL) nn ON nn.i = u.i
          LEFT JOIN unnest(ids) WITH ORDINALITY n(id, o) ON n.o = nn.o;
        RETURN QUERY SELECT u.i, u.c, u.m FROM unnest(ri, rc, rm) u(i, c, m);

        PERFORM customercard.upsert_contact_fields(acct, rc, rx);

        -- phones and e-mails: the new ones, the first of a contact without one its primary
        EXECUTE $q$
        INSERT INTO customercard.phones (account_id, contact_id, phone, raw, kind, is_primary)
        SELECT $1, n.c, n.phone, n.raw, 'mobile',
               n.rank = 1 AND NOT EXISTS (SELECT 1 FROM customercard.phones q
                                           WHERE q.account_id = (SELECT $1) AND q.contact_id = n.c AND q.is_primary OFFSET 0)
          FROM (SELECT y.i, y.c, y.phone, y.raw, row_number() OVER (PARTITION BY y.c ORDER BY y.pos) AS rank
                  FROM (SELECT DISTINCT ON (u.c, p.phone) u.i, u.c, p.phone::customercard.phone AS phone, p.raw, p.pos
                          FROM unnest($2, $3, $4) u(i, c, x), customercard.import_phones(u.x) p
                         ORDER BY u.c, p.phone, p.pos) y
                 WHERE NOT EXISTS (SELECT 1 FROM customercard.phones q
                                    WHERE q.account_id = (SELECT $1) AND q.contact_id = y.c AND q.phone OPERATOR(customercard.=) y.phone OFFSET 0)) n
         ORDER BY n.i, n.rank
        $q$ USING acct, ri, rc, rx, subs, fields;
        EXECUTE $q$
        INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
        SELECT $1, n.c, n.email, n.raw,
               n.rank = 1 AND NOT EXISTS (SELECT 1 FROM customercard.emails q
                                           WHERE q.account_id = (SELECT $1) AND q.contact_id = n.c AND q.is_primary OFFSET 0)
          FROM (SELECT y.i, y.c, y.email, y.raw, row_number() OVER (PARTITION BY y.c ORDER BY y.pos) AS rank
                  FROM (SELECT DISTINCT ON (u.c, customercard.email_key(e.email)) u.i, u.c, e.email, e.raw, e.pos
                          FROM unnest($2, $3, $4) u(i, c, x), customercard.import_emails(u.x) e
                         ORDER BY u.c, customercard.email_key(e.email), e.pos) y
                 WHERE NOT EXISTS (SELECT 1 FROM customercard.emails q
                                    WHERE q.account_id = (SELECT $1) AND q.contact_id = y.c
                                      AND customercard.email_key(q.email) = customercard.email_key(y.email) OFFSET 0)) n
         ORDER BY n.i, n.rank
        $q$ USING acct, ri, rc, rx, subs, fields;

        -- the channel: one the contact has (of any connection, when none is
        -- sent) takes a new avatar; else it is added
        EXECUTE $q$
        UPDATE customercard.channels ch SET avatar_url = u.x -> 'channel' ->> 'avatar_url'
          FROM unnest($3, $4) u(c, x)
         WHERE jsonb_typeof(u.x -> 'channel') = 'object' AND u.x -> 'channel' ->> 'connection' IS NULL
           AND ch.account_id = (SELECT $1) AND ch.contact_id = u.c AND ch.kind = u.x -> 'channel' ->> 'kind'
           AND ch.external_id = coalesce(u.x -> 'channel' ->> 'external_id', u.x -> 'channel' ->> 'social_id')
           AND u.x -> 'channel' ->> 'avatar_url' IS NOT NULL AND ch.avatar_url IS DISTINCT FROM u.x -> 'channel' ->> 'avatar_url'
        $q$ USING acct, ri, rc, rx, subs, fields;
        EXECUTE $q$
        INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id, username, subscribed_at, avatar_url)
        SELECT $1, u.c, u.x -> 'channel' ->> 'kind', u.x -> 'channel' ->> 'connection',
               coalesce(u.x -> 'channel' ->> 'external_id', u.x -> 'channel' ->> 'social_id'),
               u.x -> 'channel' ->> 'username', now(), u.x -> 'channel' ->> 'avatar_url'
          FROM unnest($2, $3, $4) u(i, c, x)
         WHERE jsonb_typeof(u.x -> 'channel') = 'object'
           AND NOT (u.x -> 'channel' ->> 'connection' IS NULL
                    AND EXISTS (SELECT 1 FROM customercard.channels q
                                 WHERE q.account_id = (SELECT $1) AND q.contact_id = u.c AND q.kind = u.x -> 'channel' ->> 'kind'
                                   AND q.external_id = coalesce(u.x -> 'channel' ->> 'external_id', u.x -> 'channel' ->> 'social_id') OFFSET 0))
         ORDER BY u.i
        ON CONFLICT (account_id, kind, connection, external_id) DO UPDATE
            SET username = coalesce(EXCLUDED.username, customercard.channels.username),
                avatar_url = coalesce(EXCLUDED.avatar_url, customercard.channels.avatar_url)
            WHERE customercard.channels.contact_id = EXCLUDED.contact_id
        $q$ USING acct, ri, rc, rx, subs, fields;

        -- the funnel: a new period unless one is open (through that channel, of that LGT)
        EXECUTE $q$
        INSERT INTO customercard.subscriptions (account_id, contact_id, channel_id, funnel_id, lgt_id, source, block_id)
        SELECT $1, s.c, s.ch, s.f, s.l, s.src, s.b
          FROM (SELECT u.i, u.c, ($5 -> jsonb_build_array(u.x -> 'funnel', u.x -> 'lgt', u.x -> 'block')::text ->> 0)::bigint AS f,
                       ($5 -> jsonb_build_array(u.x -> 'funnel', u.x -> 'lgt', u.x -> 'block')::text ->> 1)::bigint AS l,
                       ($5 -> jsonb_build_array(u.x -> 'funnel', u.x -> 'lgt', u.x -> 'block')::text ->> 2)::bigint AS b,
                       u.x ->> 'source' AS src,
                       (SELECT q.channel_id FROM customercard.channels q
                         WHERE q.account_id = (SELECT $1) AND q.contact_id = u.c AND q.kind = u.x -> 'channel' ->> 'kind'
                           AND q.external_id = coalesce(u.x -> 'channel' ->> 'external_id', u.x -> 'channel' ->> 'social_id')
                         ORDER BY q.channel_id LIMIT 1) AS ch
                  FROM unnest($2, $3, $4) u(i, c, x) WHERE u.x ? 'funnel') s
         WHERE NOT EXISTS (SELECT 1 FROM customercard.subscriptions q
                            WHERE q.account_id = (SELECT $1) AND q.contact_id = s.c AND q.funnel_id = s.f
                              AND q.channel_id IS NOT DISTINCT FROM s.ch AND q.unsubscribed_at IS NULL
                              AND (s.l IS NULL OR q.lgt_id = s.l) OFFSET 0)
         ORDER BY s.i
        ON CONFLICT (account_id, contact_id, funnel_id, channel_id, lgt_id) WHERE unsubscribed_at IS NULL DO NOTHING
        $q$ USING acct, ri, rc, rx, subs, fields;

        -- tags (made in the account when new) and custom values (null removes one)
        EXECUTE $q$
        INSERT INTO customercard.tags (account_id, name)
        SELECT DISTINCT $1, btrim(t #>> '{}') FROM unnest($4) u(x), jsonb_array_elements(customercard.json_array_or_empty(u.x -> 'tags')) t
        ON CONFLICT (account_id, name) DO NOTHING
        $q$ USING acct, ri, rc, rx, subs, fields;
        EXECUTE $q$
        INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id)
        SELECT DISTINCT $1, u.c, g.tag_id
          FROM unnest($3, $4) u(c, x), jsonb_array_elements(customercard.json_array_or_empty(u.x -> 'tags')) t
          JOIN customercard.tags g ON g.account_id = (SELECT $1) AND g.name = btrim(t #>> '{}')
        ON CONFLICT DO NOTHING
        $q$ USING acct, ri, rc, rx, subs, fields;
        EXECUTE $q$
        DELETE FROM customercard.custom_values cv
         USING unnest($3, $4) u(c, x), jsonb_each(customercard.json_object_or_empty(u.x -> 'custom')) e
         WHERE jsonb_typeof(e.value) = 'null'
           AND cv.account_id = (SELECT $1) AND cv.contact_id = u.c AND cv.field_id = ($6 -> e.key ->> 0)::bigint
        $q$ USING acct, ri, rc, rx, subs, fields;
        EXECUTE $q$
        INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
        SELECT $1, u.c, ($6 -> e.key ->> 0)::bigint, e.value #>> '{}'
          FROM unnest($3, $4) u(c, x), jsonb_each(customercard.json_object_or_empty(u.x -> 'custom')) e
         WHERE jsonb_typeof(e.value) <> 'null'
        ON CONFLICT (account_id, contact_id, field_id) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
            WHERE customercard.custom_values.value IS DISTINCT FROM EXCLUDED.value
        $q$ USING acct, ri, rc, rx, subs, fields;

        SELECT array_agg(u.i ORDER BY u.i), array_agg(u.x ORDER BY u.i) INTO pending, pd
          FROM unnest(pending, pd) u(i, x) WHERE NOT EXISTS (SELECT 1 FROM unnest(ri) r(i) WHERE r.i = u.i);
        pending := coalesce(pending, '{}');
    END LOOP;
END
$$;

-- A set of imported rows (datas[i] the object of file line lines[i]) in the
-- current account, written as upsert_contact writes each in line order:
-- one statement per section for the rows it can take at once.  The file's
-- settings are applied to every row (import_prepare); a row lacking what
-- the file requires, and one upsert_contact's path refuses (tried on it in
-- a subtransaction rolled back at once, when the refusal can depend only on
-- the row and the account's definitions), is rejected with the reason the
-- row path gives.  The identifiers of the set are locked first (upsert_lock).  The
-- rows import_plain takes are written in rounds: a round takes every row
-- that shares no identifier and no matched contact with an earlier row
-- still to write, so each row meets the contacts it would meet written one
-- by one.  The others (a Viber subscriber, keys the set does not write) go
-- through import_upsert at their place in the file, between rounds.
-- Returns a row per line, in line order.  (No JIT: its statements are
-- cheap per row, but their estimates over arrays of rows are large enough
-- to make the JIT compile for a second.)
CREATE FUNCTION customercard.import_set(settings jsonb, lines integer[], datas jsonb[])
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
    SET jit = off AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    n constant integer := coalesce(cardinality(datas), 0);
    d jsonb[];                  -- each row prepared
    how text[];                 -- 'plain', 'row' (upsert_contact's path) or 'rejected'
    cid bigint[];
    made boolean[];
    why text[];
    subs jsonb := '{}';         -- [funnel, lgt, block] as a row gives them -> [funnel_id, lgt_id, block_id]
    fields jsonb;               -- custom field name -> [field_id, kind]
    v jsonb;
    f bigint;
    i integer;
    lo integer := 1;            -- the first plain row not written yet
    r record;
    one_id bigint;
    one_made boolean;
BEGIN
    SELECT array_agg(customercard.import_prepare(x, settings) ORDER BY o) INTO d
      FROM unnest(datas) WITH ORDINALITY u(x, o);
    cid := array_fill(NULL::bigint, ARRAY[n]);
    made := array_fill(NULL::boolean, ARRAY[n]);
    why := array_fill(NULL::text, ARRAY[n]);

    -- the funnels (and LGTs, blocks) the rows name, each looked up once
    FOR v IN SELECT DISTINCT jsonb_build_array(x -> 'funnel', x -> 'lgt', x -> 'block') FROM unnest(d) x WHERE x ? 'funnel' LOOP
        BEGIN
            f := customercard.bulk_lookup(acct, jsonb_build_object('funnel', v -> 0), 'funnel', 'funnels');
            subs := subs || jsonb_build_object(v::text, jsonb_build_array(f,
                        customercard.bulk_lookup(acct, jsonb_build_object('lgt', v -> 1), 'lgt', 'lgts', f, false),
                        customercard.bulk_lookup(acct, jsonb_build_object('block', v -> 2), 'block', 'funnel_blocks', f, false)));
        EXCEPTION WHEN data_exception OR undefined_object THEN
            NULL;               -- (its rows go the row path's way, which says why)
        END;
    END LOOP;
    SELECT coalesce(jsonb_object_agg(cf.name, jsonb_build_array(cf.field_id, cf.kind)), '{}') INTO fields
      FROM customercard.custom_fields cf WHERE cf.account_id = acct;

    SELECT array_agg(CASE WHEN m.missing IS NOT NULL THEN 'rejected'
                          WHEN customercard.import_plain(m.x, fields)
                               AND (jsonb_typeof(m.x -> 'channel') IS DISTINCT FROM 'object'
                                    OR m.x -> 'channel' ->> 'kind' = ANY (customercard.channel_kinds())
                                       AND m.x -> 'channel' ->> 'kind' <> 'viber')
                               AND (NOT m.x ?| ARRAY['funnel', 'lgt', 'block', 'source']
                                    OR subs ? jsonb_build_array(m.x -> 'funnel', m.x -> 'lgt', m.x -> 'block')::text
                                       AND (NOT m.x ? 'source' OR jsonb_typeof(m.x -> 'source') = 'string'
                                                                  AND length(m.x ->> 'source') BETWEEN 1 AND 200))
                          THEN 'plain' ELSE 'row' END ORDER BY m.o),
           array_agg(m.missing ORDER BY m.o)
      INTO how, why
      FROM (SELECT u.x, u.o, CASE WHEN settings ? 'require' THEN customercard.import_missing(u.x, settings) END AS missing
              FROM unnest(d) WITH ORDINALITY u(x, o)) m;

    -- a row the set does not take: refused now (rolled back) or written at its place
    FOR i IN 1 .. n LOOP
        -- (refusals that hang on the contacts: the Viber rule, an id, a
        -- creation time that only a new contact reads)
        CONTINUE WHEN how[i] <> 'row' OR d[i] -> 'channel' ->> 'kind' = 'viber' OR d[i] ?| ARRAY['contact_id', 'created_at'];
        BEGIN
            PERFORM customercard.import_upsert(datas[i], settings);
            RAISE SQLSTATE 'CCDRY';
        EXCEPTION
            WHEN SQLSTATE 'CCDRY' THEN
                NULL;
            WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
                how[i] := 'rejected';
                why[i] := SQLERRM;
        END;
    END LOOP;

    -- the plain rows' identifiers, locked for the whole set in slot order
    PERFORM customercard.upsert_lock(acct, ARRAY(
        SELECT k.key FROM unnest(d, how) u(x, h), customercard.import_keys(u.x) k(key) WHERE u.h = 'plain'));

    -- the plain rows between two rows of upsert_contact's path at once
    FOR i IN 1 .. n + 1 LOOP
        CONTINUE WHEN i <= n AND how[i] <> 'row';
        FOR r IN SELECT w.i, w.cid, w.made
                   FROM customercard.import_write(acct,
                            ARRAY(SELECT u.o::integer FROM unnest(how) WITH ORDINALITY u(h, o) WHERE u.o BETWEEN lo AND i - 1 AND u.h = 'plain' ORDER BY u.o),
                            ARRAY(SELECT u.x FROM unnest(d, how) WITH ORDINALITY u(x, h, o) WHERE u.o BETWEEN lo AND i - 1 AND u.h = 'plain' ORDER BY u.o),
                            subs, fields) w LOOP
            cid[r.i] := r.cid;
            made[r.i] := r.made;
        END LOOP;
        EXIT WHEN i > n;
        lo := i + 1;
        BEGIN
            SELECT u.upserted_id, u.created INTO one_id, one_made FROM customercard.import_upsert(datas[i], settings) u;
            cid[i] := one_id;
            made[i] := one_made;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
            how[i] := 'rejected';
            why[i] := SQLERRM;
        END;
    END LOOP;
    RETURN QUERY SELECT u.l, CASE WHEN u.h = 'rejected' THEN 'rejected' WHEN u.m THEN 'created' ELSE 'updated' END, u.c, u.w
                   FROM unnest(lines, how, made, cid, why) u(l, h, m, c, w);
END
$$;

-- The default traffic source of the current account: imported rows without
-- a funnel (in the row or the file's settings) subscribe to it.  NULL
-- clears it.  For admins.
CREATE FUNCTION customercard.set_default_traffic_source(funnel text, lgt text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.admin_account_id();
    f bigint;
    l bigint;
BEGIN
    IF funnel IS NULL AND lgt IS NOT NULL THEN
        RAISE EXCEPTION 'an LGT needs its funnel' USING ERRCODE = 'invalid_parameter_value',
              HINT = 'SELECT customercard.set_default_traffic_source(''Free lesson'', ''Instagram ads'');';
    END IF;
    IF funnel IS NOT NULL THEN
        f := customercard.bulk_lookup(acct, jsonb_build_object('funnel', funnel), 'funnel', 'funnels');
        l := customercard.bulk_lookup(acct, jsonb_build_object('lgt', lgt), 'lgt', 'lgts', f, false);
    END IF;
    UPDATE customercard.accounts a SET default_funnel_id = f, default_lgt_id = l, updated_at = now()
     WHERE a.account_id = acct;
END
$$;
COMMENT ON FUNCTION customercard.set_default_traffic_source(text, text) IS
    'Set (or with NULL clear) the current account''s default traffic source: the funnel and LGT imported rows without a funnel subscribe to; for admins';

CREATE FUNCTION customercard.import_json(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_json' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_json(text, boolean, jsonb) IS
    'Import contacts from a JSON array of objects (upsert_contact''s keys), with settings for the whole file: a line per object, created / updated / rejected with the reason; a malformed file changes nothing';

CREATE FUNCTION customercard.import_csv(data text, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_csv' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_csv(text, boolean, jsonb) IS
    'Import contacts from CSV with a header (name, phone(s), email(s), tags, funnel, lgt, channel + social_id, custom:<field>, ...; "," or ";"), with settings for the whole file: a line per row with its outcome; a malformed file changes nothing';

CREATE FUNCTION customercard.import_xlsx(data bytea, all_or_nothing boolean DEFAULT false, settings jsonb DEFAULT '{}')
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_xlsx(bytea, boolean, jsonb) IS
    'Import contacts from the first sheet of an .xlsx workbook (a header row with import_csv''s columns), with settings for the whole file: a line per row (the sheet''s row number) with its outcome; a broken or oversized file changes nothing';

CREATE FUNCTION customercard.import_rows(data bytea, format text)
RETURNS TABLE (line integer, data jsonb, reason text)
    AS 'MODULE_PATHNAME', 'import_rows' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_rows(bytea, text) IS
    'Internal to import_enqueue: the rows of a csv, json or xlsx file as the imports read them (each one''s upsert_contact object, or why it has none), importing nothing';

-- A big file through the queue: read now (a malformed file is the same
-- error as with import_csv and nothing is queued), its rows kept in
-- bulk_job_rows, imported by the bulk runner in committed batches with
-- progress in bulk_progress, cancel and run_at; import_report(job) gives a
-- line per row, bulk_failures the rejected ones.
CREATE FUNCTION customercard.import_enqueue(data bytea, format text, settings jsonb DEFAULT '{}', run_at timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    checked jsonb;
    job bigint;
    n integer;
    refused integer;
BEGIN
    PERFORM customercard.bulk_check_enqueue(run_at);
    IF data IS NULL THEN
        RAISE EXCEPTION 'nothing to import' USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the file''s bytes.';
    END IF;
    checked := customercard.import_check_settings(acct, settings);
    PERFORM customercard.bulk_check_queue(acct);
    INSERT INTO customercard.bulk_jobs (account_id, action, params, run_at)
    VALUES (acct, 'import', jsonb_build_object('format', format, 'settings', checked), import_enqueue.run_at)
    RETURNING job_id INTO job;
    INSERT INTO customercard.bulk_job_rows (account_id, job_id, line, data, status, reason)
    SELECT acct, job, r.line, r.data, CASE WHEN r.data IS NULL THEN 'rejected' ELSE 'queued' END, r.reason
      FROM customercard.import_rows(data, format) r;
    SELECT count(*), count(*) FILTER (WHERE r.status = 'rejected') INTO n, refused
      FROM customercard.bulk_job_rows r WHERE r.account_id = acct AND r.job_id = job;
    UPDATE customercard.bulk_jobs j SET total = n, failed = refused WHERE j.account_id = acct AND j.job_id = job;
    RETURN job;
END
$$;
COMMENT ON FUNCTION customercard.import_enqueue(bytea, text, jsonb, timestamptz) IS
    'Queue the import of a csv, json or xlsx file (with settings for the whole file) as a bulk job; returns the job id; its rows are read now, imported by the bulk runner';

-- An import job's report: a line per row of its file, as import_csv gives it
-- (queued for those the runner has not reached yet).
CREATE FUNCTION customercard.import_report(job_id bigint)
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customercard.bulk_jobs b
                    WHERE b.account_id = acct AND b.job_id = import_report.job_id AND b.action = 'import') THEN
        RAISE EXCEPTION 'bulk job % is not an import of account %', import_report.job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'Queue one with customercard.import_enqueue(data, ''csv'').';
    END IF;
    RETURN QUERY SELECT r.line, r.status, r.contact_id, r.reason FROM customercard.bulk_job_rows r
                  WHERE r.account_id = acct AND r.job_id = import_report.job_id ORDER BY r.line;
END
$$;
COMMENT ON FUNCTION customercard.import_report(bigint) IS
    'The report of an import job: a line per row of its file with its outcome (queued, created, updated, rejected with the reason)';

-- ---------------------------------------------------------------- exports
-- One CSV field: quoted when it must be (RFC 4180)
CREATE FUNCTION customercard.csv_quoted(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '[",\r\n]' OR v <> btrim(v) THEN '"' || replace(v, '"', '""') || '"' ELSE v END
$$;

-- One CSV field of an export.  A value a spreadsheet would run as a
-- formula -- =, +, -, @, a tab or a carriage return first, after any
-- apostrophes -- is written with a leading ' (as OWASP recommends against
-- CSV injection), unless it is a plain number; import_csv drops that one '
-- again (CollectField in import.c), so an export reads back as it was.
CREATE FUNCTION customercard.csv_field(v text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v IS NULL THEN ''
                WHEN v ~ '^''*[-=+@\t\r]' AND v !~ '^[-+]?[0-9]+([.,][0-9]+)?$' THEN customercard.csv_quoted('''' || v)
                ELSE customercard.csv_quoted(v) END
$$;

-- What an export holds of each contact: the CRM table's columns, tags
-- joined, the messenger link (channel kind, connection, social id), custom
-- fields as one JSON object by name.  export_rows (COPY),
-- export_csv, the export bulk action and export_xlsx all read it.
CREATE FUNCTION customercard.export_rows_of(acct bigint, ids bigint[])
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, channel text, connection text, social_id text, custom jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- PL/pgSQL, not SQL: Citus plans no SQL function with parameters
    RETURN QUERY
    SELECT c.contact_id,
           customercard.display_name(c.name, c.first_name, c.last_name, c.nickname),
           (SELECT p.phone::text FROM customercard.phones p WHERE p.account_id = c.account_id AND p.contact_id = c.contact_id
             ORDER BY p.is_primary DESC, p.phone_id LIMIT 1),
           (SELECT e.email FROM customercard.emails e WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id
             ORDER BY e.is_primary DESC, e.email_id LIMIT 1),
           c.status,
           c.created_at AT TIME ZONE 'UTC',
           (SELECT string_agg(t.name, '; ' ORDER BY t.name) FROM customercard.contact_tags ct
              JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
             WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id),
           ch.kind, ch.connection, ch.external_id,
           coalesce((SELECT jsonb_object_agg(f.name, v.value) FROM customercard.custom_values v
                       JOIN customercard.custom_fields f ON f.account_id = v.account_id AND f.field_id = v.field_id
                      WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id), '{}')
      FROM customercard.contacts c
      -- the messenger link: the contact's first active channel, so that the
      -- file imports back onto its bot (import_csv's channel, connection
      -- and social_id columns)
      LEFT JOIN LATERAL (SELECT h.kind, h.connection, h.external_id FROM customercard.channels h
                          WHERE h.account_id = c.account_id AND h.contact_id = c.contact_id AND h.archived_at IS NULL
                          ORDER BY h.channel_id LIMIT 1) ch ON true
     WHERE c.account_id = acct AND c.contact_id = ANY (ids);
END
$$;

-- The column groups an export may leave out, as the reference product's
-- check-boxes do (the contact's own columns always go): NULL gives all;
-- an unknown one is an error naming them.
CREATE FUNCTION customercard.export_groups(groups text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known constant text[] := ARRAY['tags', 'channels', 'custom'];
    bad text;
BEGIN
    IF groups IS NULL THEN
        RETURN known;
    END IF;
    SELECT g INTO bad FROM unnest(groups) g WHERE g IS NULL OR NOT g = ANY (known) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'unknown export column group %', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The groups are tags, channels (the messenger link) and custom (a column per custom field); NULL gives all.';
    END IF;
    RETURN ARRAY(SELECT k FROM unnest(known) k WHERE k = ANY (groups));
END
$$;

-- The export's rows of some contacts, as CSV lines (CRLF), in id order,
-- with the column groups asked for; a column per custom field of the list
-- [[field_id, name], ...] (empty when custom is not asked for).
CREATE FUNCTION customercard.export_lines(acct bigint, ids bigint[], custom_fields jsonb, groups text[]) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT string_agg(concat_ws(',',
               r.contact_id::text, customercard.csv_field(r.name), customercard.csv_field(r.phone),
               customercard.csv_field(r.email), r.status, to_char(r.created_at_utc, 'YYYY-MM-DD HH24:MI:SS'),
               CASE WHEN 'tags' = ANY (groups) THEN coalesce(customercard.csv_field(r.tags), '') END,
               CASE WHEN 'channels' = ANY (groups)
                    THEN concat_ws(',', coalesce(customercard.csv_field(r.channel), ''), coalesce(customercard.csv_field(r.connection), ''),
                                   coalesce(customercard.csv_field(r.social_id), '')) END,
               (SELECT string_agg(customercard.csv_field(r.custom ->> (f.field ->> 1)), ',' ORDER BY f.ord)
                  FROM jsonb_array_elements(custom_fields) WITH ORDINALITY f (field, ord)))
             || E'\r\n', '' ORDER BY r.contact_id)
      FROM customercard.export_rows_of(acct, ids) r
$$;

CREATE FUNCTION customercard.export_header(custom_fields jsonb, groups text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- a byte order mark first: Excel reads the file as UTF-8 only then
    SELECT E'\uFEFF' || concat_ws(',', 'contact_id', 'name', 'phone', 'email', 'status', 'created_at_utc',
                                  CASE WHEN 'tags' = ANY (groups) THEN 'tags' END,
                                  CASE WHEN 'channels' = ANY (groups) THEN 'channel,connection,social_id' END,
                                  (SELECT string_agg(customercard.csv_field(f ->> 1), ',' ORDER BY o)
                                     FROM jsonb_array_elements(custom_fields) WITH ORDINALITY x (f, o))) || E'\r\n'
$$;

-- A finished export job of the current account in that format, or the
-- error that says why not; its checked parameters.
CREATE FUNCTION customercard.bulk_export_job(job_id bigint, wanted text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    j customercard.bulk_jobs;
BEGIN
    SELECT * INTO j FROM customercard.bulk_jobs b WHERE b.account_id = acct AND b.job_id = bulk_export_job.job_id;
    IF NOT FOUND OR j.action <> 'export' THEN
        RAISE EXCEPTION 'bulk job % is not an export of account %', job_id, acct
            USING ERRCODE = 'undefined_object', HINT = 'Queue one with customercard.bulk_enqueue(''export'', filter => ''{}'').';
    END IF;
    IF coalesce(j.params ->> 'format', 'csv') <> wanted THEN
        RAISE EXCEPTION 'export job % wrote %, not %', job_id, coalesce(j.params ->> 'format', 'csv'), wanted
            USING ERRCODE = 'wrong_object_type',
                  HINT = format('Read it with customercard.bulk_export_%s(%s).', coalesce(j.params ->> 'format', 'csv'), job_id);
    END IF;
    IF j.status <> 'done' THEN
        RAISE EXCEPTION 'export job % is %, not done', job_id, j.status
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Watch customercard.bulk_progress until it is done.';
    END IF;
    RETURN j.params;
END
$$;

-- An export job's CSV, whole (UTF-8 with a byte order mark, CRLF lines).
CREATE FUNCTION customercard.bulk_export_csv(job_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM customercard.bulk_export_job(job_id, 'csv');
    RETURN (SELECT string_agg(o.data, '' ORDER BY o.chunk) FROM customercard.bulk_job_output o
             WHERE o.account_id = customercard.require_account_id() AND o.job_id = bulk_export_csv.job_id);
END
$$;

-- An xlsx export job's workbook (export.c): its rows as export_xlsx writes
-- them, the columns fixed when it was queued.
CREATE FUNCTION customercard.bulk_export_xlsx(job_id bigint) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bulk_export_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.bulk_export_xlsx(bigint) IS
    'The .xlsx workbook an export job queued with {"format": "xlsx"} wrote: the columns as export_xlsx writes them, fixed when the job was queued';

-- ---------------------------------------------------------------- the export functions
-- The audience's rows for exports: the CRM table's columns, tags joined,
-- custom fields as one JSON object (export_csv and export_xlsx spread them
-- into columns).  For COPY (SELECT * FROM customercard.export_rows('{}'))
-- TO STDOUT WITH (FORMAT csv, HEADER).
CREATE FUNCTION customercard.export_rows(filter jsonb DEFAULT '{}')
RETURNS TABLE (contact_id bigint, name text, phone text, email text, status text, created_at_utc timestamp,
               tags text, channel text, connection text, social_id text, custom jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM customercard.export_rows_of(customercard.require_account_id(), ARRAY(SELECT customercard.audience_ids(filter)))
$$;
COMMENT ON FUNCTION customercard.export_rows(jsonb) IS
    'The audience a filter selects, a row per contact with tags joined and custom fields as JSON: for COPY ... WITH (FORMAT csv, HEADER)';

-- The whole CSV as Excel and Google Sheets open it: UTF-8 with a byte order
-- mark, a header, CRLF lines, a column per custom field.
CREATE FUNCTION customercard.export_csv(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct bigint := customercard.require_account_id();
    chosen constant text[] := customercard.export_groups(groups);
    fields jsonb := CASE WHEN 'custom' = ANY (chosen)
                         THEN coalesce((SELECT jsonb_agg(jsonb_build_array(f.field_id, f.name) ORDER BY f.name)
                                          FROM customercard.custom_fields f WHERE f.account_id = acct), '[]')
                         ELSE '[]' END;
BEGIN
    RETURN customercard.export_header(fields, chosen)
        || coalesce(customercard.export_lines(acct, ARRAY(SELECT customercard.audience_ids(filter)), fields, chosen), '');
END
$$;
COMMENT ON FUNCTION customercard.export_csv(jsonb, text[]) IS
    'The audience a filter selects as one CSV document (UTF-8 with BOM, header, CRLF; the column groups tags, channels, custom, all by default); for big audiences queue bulk_enqueue(''export'', ...)';

CREATE FUNCTION customercard.export_xlsx(filter jsonb DEFAULT '{}', groups text[] DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'export_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.export_xlsx(jsonb, text[]) IS
    'The audience a filter selects as an .xlsx workbook: one sheet, a bold frozen header with a filter; the column groups tags, channels (the messenger link), custom (a column per custom field), all by default';

-- ---------------------------------------------------------------- import jobs
-- One batch of an import job (bulk_run_batch's, in its transaction): the
-- next rows of the file in line order through import_set (on Citus, or
-- when import_set refuses the batch as a whole, each through import_upsert
-- in a subtransaction: a refused row is rolled back alone and keeps its
-- reason), their outcomes and the job's progress committed together, so a
-- runner killed mid-file resumes at the first row not committed, importing
-- none twice.  Returns how many rows it worked through.
CREATE FUNCTION customercard.import_batch(acct bigint, j customercard.bulk_jobs, batch_size integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    started timestamptz := now();
    ls integer[];
    ds jsonb[];
    k integer;
    cid bigint;
    was_created boolean;
    n integer;
    ok integer;
    bad integer;
    done boolean := false;
    outcome jsonb;              -- line -> [status, contact_id, reason]
BEGIN
    SELECT array_agg(b.line ORDER BY b.line), array_agg(b.data ORDER BY b.line) INTO ls, ds
      FROM (SELECT b.line, b.data FROM customercard.bulk_job_rows b
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line > j.position AND b.status = 'queued'
             ORDER BY b.line LIMIT batch_size) b;
    n := coalesce(cardinality(ls), 0);
    IF n > 0 AND NOT customercard.citus_distributed() THEN
        BEGIN
            -- each line's outcome found by its key in a jsonb, its row by
            -- the range of the batch's lines on the job's key: joined to
            -- the outcomes, or by = ANY alone, the batch's rows were found
            -- by reading all the job's rows, every batch (the statistics
            -- know nothing of a new job: a job of 100,000 rows took 2.2
            -- times import_csv)
            SELECT jsonb_object_agg(r.line::text, jsonb_build_array(r.status, r.contact_id, r.reason)) INTO outcome
              FROM customercard.import_set(j.params -> 'settings', ls, ds) r;
            UPDATE customercard.bulk_job_rows b
               SET (status, contact_id, reason, at) =
                   (SELECT o.o ->> 0, (o.o ->> 1)::bigint, o.o ->> 2, clock_timestamp()
                      FROM (SELECT outcome -> b.line::text AS o OFFSET 0) o)
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line BETWEEN ls[1] AND ls[n] AND b.line = ANY (ls);
            done := true;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
            NULL;               -- the batch row by row, below
        END;
    END IF;
    FOR k IN 1 .. CASE WHEN done THEN 0 ELSE n END LOOP
        BEGIN
            SELECT u.upserted_id, u.created INTO cid, was_created FROM customercard.import_upsert(ds[k], j.params -> 'settings') u;
            UPDATE customercard.bulk_job_rows b
               SET status = CASE WHEN was_created THEN 'created' ELSE 'updated' END, contact_id = cid, at = clock_timestamp()
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line = ls[k];
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR undefined_object THEN
            -- the row's data is wrong (as import_csv judges it): reported, the others go on
            UPDATE customercard.bulk_job_rows b SET status = 'rejected', reason = SQLERRM, at = clock_timestamp()
             WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line = ls[k];
        END;
    END LOOP;
    SELECT count(*) FILTER (WHERE b.status IN ('created', 'updated')), count(*) FILTER (WHERE b.status = 'rejected') INTO ok, bad
      FROM customercard.bulk_job_rows b
     WHERE b.account_id = acct AND b.job_id = j.job_id AND b.line BETWEEN ls[1] AND ls[n] AND b.line = ANY (ls);
    PERFORM customercard.bulk_progressed(acct, j.job_id, started, coalesce(ls[n], j.position), n < batch_size, ok, bad);
    RETURN n;
END
$$;
