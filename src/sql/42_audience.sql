-- ===================================================================
-- 42_audience.sql: the audience, the CRM table of all contacts.
--
-- audience_search(filter, page, page_size) and audience_count(filter) take
-- one JSON filter language (also the bulk actions' selection).  The filter
-- is checked key by key (an unknown key or a wrong type is an error), its
-- values become typed parameters of one dynamic query assembled from fixed
-- SQL fragments: no text of the filter is ever part of the SQL.
-- ===================================================================

-- What name search looks in: every name of a contact, joined by spaces and
-- lower-cased by ICU's root locale (whatever the database's locale, so that
-- Cyrillic and other scripts fold): the same as
-- lower(concat_ws(' ', ...) COLLATE "und-x-icu"), in C (name_search.c), as it
-- runs on every row a common name's search walks.
CREATE FUNCTION customercard.name_haystack(name text, first_name text, last_name text,
                                           middle_name text, nickname text) RETURNS text
    AS 'MODULE_PATHNAME', 'name_haystack' LANGUAGE C IMMUTABLE PARALLEL SAFE;
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
-- What the planner knows of the names (ANALYZE samples the expression): how
-- many contacts a search word matches, so that a common name walks the
-- newest contacts and stops after the page, a rare one takes the trigram
-- index (a partial index's own statistics are not used for estimates)
CREATE STATISTICS customercard.contacts_name_haystack
    ON (customercard.name_haystack(name, first_name, last_name, middle_name, nickname)) FROM customercard.contacts;

-- A checked filter: every key of the audience filter (docs/reference.md) as
-- a typed value (NULL when absent).
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
    impossible      boolean,    -- a name that matches nothing (unknown tag, funnel...)
    has_unread      boolean,    -- incoming messages not read
    email_status    text,       -- an e-mail address in this status
    local_from      integer,    -- local_hour: from this hour of the person's local time now
    local_to        integer     -- local_hour: until this hour (exclusive; below local_from: past midnight)
);

-- Whether it is now between the hours from (inclusive) and to (exclusive) in
-- the time zone tz: [9, 18] is 09:00-17:59, [22, 6] past midnight; false
-- without a zone.
CREATE FUNCTION customercard.local_hour_in(tz text, hour_from integer, hour_to integer) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(CASE WHEN hour_from < hour_to THEN h >= hour_from AND h < hour_to
                         ELSE h >= hour_from OR h < hour_to END, false)
      FROM (SELECT extract(hour FROM timezone(tz, now()))::integer AS h) x
$$;
COMMENT ON FUNCTION customercard.local_hour_in(text, integer, integer) IS
    'Whether the local time now in the zone is from hour_from (inclusive) to hour_to (exclusive), past midnight when hour_to <= hour_from; false without a zone';

CREATE FUNCTION customercard.audience_filter_error(key text, message text, hint text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RAISE EXCEPTION 'audience filter key "%": %', key, message
        USING ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

-- The ids of an account's objects that a JSON value names: a number is an
-- id, a string a name.  tbl is one of the named tables below (anything else
-- is an error); an LGT or a block may be looked up within its funnel
-- (parent_id).  The
-- SQL is this extension's own text; the value and ids are parameters.
CREATE FUNCTION customercard.ids_named(acct bigint, v jsonb, tbl text, parent_id bigint DEFAULT NULL)
RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    idcol constant text := CASE tbl WHEN 'funnels' THEN 'funnel_id' WHEN 'lgts' THEN 'lgt_id' WHEN 'sales_plans' THEN 'plan_id'
                                    WHEN 'managers' THEN 'manager_id' WHEN 'tags' THEN 'tag_id' WHEN 'custom_fields' THEN 'field_id'
                                    WHEN 'funnel_blocks' THEN 'block_id' END;
    ids bigint[];
BEGIN
    IF idcol IS NULL OR (parent_id IS NOT NULL AND tbl NOT IN ('lgts', 'funnel_blocks')) THEN
        RAISE EXCEPTION 'ids_named cannot look up "%"', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It names funnels, lgts and funnel_blocks (within a funnel), sales_plans, managers, tags and custom_fields.';
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(t.%2$I ORDER BY t.%2$I), ''{}'') FROM customercard.%1$I t '
                   ' WHERE t.account_id = $1 AND %3$s '
                   '   AND (CASE WHEN jsonb_typeof($2) = ''number'' THEN t.%2$I = ($2 #>> ''{}'')::numeric '
                   '             ELSE t.name = $2 #>> ''{}'' END)',
                   tbl, idcol, CASE WHEN parent_id IS NULL THEN 'true' ELSE 't.funnel_id = $3' END)
       INTO ids USING acct, v, parent_id;
    RETURN ids;
END
$$;

-- Check a filter and resolve its names for the account.
CREATE FUNCTION customercard.audience_check_filter(filter jsonb, acct bigint)
RETURNS customercard.audience_filter
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['search', 'gender', 'channel', 'has_phone', 'has_email', 'tag', 'tags_all',
        'tags_any', 'funnel', 'lgt', 'ordered_offer', 'paid_offer', 'status', 'manager', 'created_from', 'created_to',
        'has_unread', 'email_status', 'local_hour'];
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
                PERFORM customercard.audience_filter_error(k, 'must be a string, not ' || t,
                    'A messenger: ' || array_to_string(customercard.channel_kinds(), ', ') || '.');
            END IF;
            f.channel := v #>> '{}';
        WHEN 'email_status' THEN
            IF t <> 'string' OR NOT v #>> '{}' = ANY (ARRAY['unconfirmed', 'active', 'unsubscribed', 'bounced', 'spam']) THEN
                PERFORM customercard.audience_filter_error(k, 'must be an e-mail status, not ' || v::text,
                    'One of unconfirmed, active, unsubscribed, bounced, spam: contacts with an address in that status.');
            END IF;
            f.email_status := v #>> '{}';
        WHEN 'local_hour' THEN
            IF (CASE WHEN t <> 'array' THEN true WHEN jsonb_array_length(v) <> 2 THEN true
                    WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(v) WITH ORDINALITY x (h, i)
                                  WHERE jsonb_typeof(x.h) <> 'number') THEN true
                    WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(v) WITH ORDINALITY x (h, i)
                                  WHERE x.h::numeric <> trunc(x.h::numeric) OR x.h::numeric < 0
                                     OR x.h::numeric > CASE x.i WHEN 1 THEN 23 ELSE 24 END) THEN true
                    ELSE (v ->> 0)::numeric = (v ->> 1)::numeric % 24 END) THEN
                PERFORM customercard.audience_filter_error(k, 'must be [from, to]: two different whole hours, from 0-23, to 0-24',
                    'For example {"local_hour": [9, 18]}: people whose local time now is 09:00-17:59; [22, 6] spans midnight.');
            END IF;
            f.local_from := (v ->> 0)::numeric;
            f.local_to := (v ->> 1)::numeric;
        WHEN 'has_phone', 'has_email', 'has_unread' THEN
            IF t <> 'boolean' THEN
                PERFORM customercard.audience_filter_error(k, 'must be true or false, not ' || t, 'For example {"' || k || '": true}.');
            END IF;
            CASE k WHEN 'has_phone' THEN f.has_phone := v::boolean;
                   WHEN 'has_email' THEN f.has_email := v::boolean;
                   ELSE f.has_unread := v::boolean; END CASE;
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
                f.funnels := customercard.ids_named(acct, v, 'funnels');
                f.impossible := f.impossible OR cardinality(f.funnels) = 0;
            ELSE
                f.lgts := customercard.ids_named(acct, v, 'lgts');
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
        CASE WHEN f.email_status IS NOT NULL THEN
            'EXISTS (SELECT 1 FROM customercard.emails e WHERE e.account_id = $1 AND e.contact_id = c.contact_id AND e.status = ($2).email_status)' END,
        CASE f.has_unread WHEN true THEN 'EXISTS (SELECT 1 FROM customercard.messages ms WHERE ms.account_id = $1 AND ms.contact_id = c.contact_id AND ms.direction = ''in'' AND ms.read_at IS NULL)'
                          WHEN false THEN 'NOT EXISTS (SELECT 1 FROM customercard.messages ms WHERE ms.account_id = $1 AND ms.contact_id = c.contact_id AND ms.direction = ''in'' AND ms.read_at IS NULL)' END,
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
        -- the stated time zone, else the one the primary phone names (as the card shows it)
        CASE WHEN f.local_from IS NOT NULL THEN
            'customercard.local_hour_in(coalesce(c.timezone, (SELECT customercard.phone_timezone(p.phone) FROM customercard.phones p '
            'WHERE p.account_id = $1 AND p.contact_id = c.contact_id ORDER BY p.is_primary DESC, p.phone_id LIMIT 1)), '
            '($2).local_from, ($2).local_to)' END,
        CASE WHEN f.manager IS NOT NULL THEN 'c.manager_id = ($2).manager' END,
        CASE WHEN f.created_from IS NOT NULL THEN 'c.created_at >= ($2).created_from' END,
        CASE WHEN f.created_to IS NOT NULL THEN 'c.created_at < ($2).created_to' END)
$$;

-- The page of the CRM table: the ids of one page of the filter's contacts,
-- newest first, over $1 (account), $2 (the filter), $3 (page size), $4
-- (offset) and, with keyset, $5, $6 (the created_at and id to start
-- after).  The plan of a name search is the planner's, from the names'
-- statistics: tap/name_search pins its shapes.
CREATE FUNCTION customercard.audience_page_query(f customercard.audience_filter, keyset boolean) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'SELECT c.contact_id, c.created_at FROM customercard.contacts c WHERE '
           || customercard.audience_where(f)
           || CASE WHEN keyset THEN ' AND (c.created_at, c.contact_id) < ($5, $6)' ELSE '' END
           || ' ORDER BY c.created_at DESC, c.contact_id DESC LIMIT $3 OFFSET $4'
$$;
COMMENT ON FUNCTION customercard.audience_page_query(customercard.audience_filter, boolean) IS
    'The query of one page of the CRM table for a checked filter (fixed SQL over parameters, never the filter''s text)';

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
BEGIN
    IF after_contact_id IS NOT NULL THEN
        -- keyset paging: the rows after this contact in the table's order
        SELECT c.created_at INTO after_created FROM customercard.contacts c
         WHERE c.account_id = acct AND c.contact_id = after_contact_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'contact % does not exist in account %', after_contact_id, acct
                USING ERRCODE = 'undefined_object', HINT = 'Pass the last contact_id of the previous page.';
        END IF;
        page := 1;
    END IF;
    IF page IS NULL OR page < 1 OR page_size IS NULL OR page_size NOT BETWEEN 1 AND 500 THEN
        RAISE EXCEPTION 'page must be 1 or more and page_size between 1 and 500 (got %, %)', page, page_size
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The CRM table shows 30 per page: audience_search(filter, 1, 30).';
    END IF;
    f := customercard.audience_check_filter(filter, acct);
    RETURN QUERY EXECUTE format($q$
        WITH page AS MATERIALIZED (%s)
        SELECT c.contact_id,
               customercard.display_name(c.name, c.first_name, c.last_name, c.nickname),
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
        $q$, customercard.audience_page_query(f, after_contact_id IS NOT NULL))
        USING acct, f, page_size, (page - 1)::bigint * page_size, after_created, after_contact_id;
END
$$;
COMMENT ON FUNCTION customercard.audience_search(jsonb, integer, integer, bigint) IS
    'The CRM table of the current account: live contacts matching the filter (the audience filter''s keys), newest first (id breaks ties), one page; after_contact_id: the page after that contact (keyset paging)';

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
