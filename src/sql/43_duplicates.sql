-- ===================================================================
-- 43_duplicates.sql: finding duplicates: candidates of one
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
    -- the key hits, similar names and pairs kept apart, each read by a
    -- statement of its own; the scoring below then reads no table (on Citus
    -- a statement naming a table and calling these functions would be sent
    -- to a shard, and the functions' own queries nested there)
    hit_ids bigint[];
    hit_kinds text[];
    hit_values text[];
    name_ids bigint[];
    name_sims real[];
    kept_apart bigint[];
BEGIN
    SELECT customercard.name_haystack(c.name, c.first_name, c.last_name, c.middle_name, c.nickname) INTO hay
      FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = id;
    SELECT array_agg(h.related_id), array_agg(h.kind), array_agg(h.value) INTO hit_ids, hit_kinds, hit_values
      FROM customercard.contact_key_hits(acct, id) h;
    IF hay <> '' THEN
        SELECT array_agg(s.contact_id), array_agg(s.similarity) INTO name_ids, name_sims
          FROM customercard.similar_name_contacts(acct, hay, 51) s;
    END IF;
    SELECT array_agg(CASE WHEN nd.contact_a = id THEN nd.contact_b ELSE nd.contact_a END) INTO kept_apart
      FROM customercard.not_duplicates nd
     WHERE nd.account_id = acct AND (nd.contact_a = id OR nd.contact_b = id);
    RETURN QUERY
    WITH keys AS MATERIALIZED (
        -- how many other contacts share each value
        SELECT h.related_id, h.kind, h.value, count(*) OVER (PARTITION BY h.kind, h.value) AS sharers
          FROM unnest(hit_ids, hit_kinds, hit_values) AS h(related_id, kind, value)
    ), names AS MATERIALIZED (
        SELECT s.contact_id, s.similarity FROM unnest(name_ids, name_sims) AS s(contact_id, similarity)
         WHERE s.contact_id <> id
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
     WHERE e.cid <> ALL (coalesce(kept_apart, '{}'))
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
