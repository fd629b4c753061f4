-- ===================================================================
-- 98_privilege_helpers.sql: what 99_grants.sql grants with: the columns
-- no role writes, and column-wise INSERT and UPDATE on the rest.
-- ===================================================================

-- Columns that record what the system decided: every id a
-- sequence gives, and these.  The extension sets them (their defaults, its
-- SECURITY DEFINER functions, pg_restore); no role's INSERT or UPDATE does.
CREATE FUNCTION customercard.system_set_columns() RETURNS TABLE (tbl regclass, col name)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT a.attrelid::regclass, a.attname
      FROM pg_catalog.pg_attribute a
      JOIN pg_catalog.pg_attrdef d ON d.adrelid OPERATOR(pg_catalog.=) a.attrelid AND d.adnum OPERATOR(pg_catalog.=) a.attnum
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
     WHERE c.relnamespace OPERATOR(pg_catalog.=) 'customercard'::regnamespace AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND pg_catalog.pg_get_expr(d.adbin, d.adrelid) OPERATOR(pg_catalog.~) '^nextval\('
    UNION ALL
    -- the sections' as they declare them (card_sections()), then the event
    -- kinds' (of the tables there are: an upgrade script grants as it goes)
    SELECT x.t, x.c FROM (
        SELECT pg_catalog.to_regclass(pg_catalog.format('customercard.%I', s.tbl)) AS t, c::name AS c
          FROM customercard.card_sections() s, pg_catalog.unnest(s.system_set) c
        UNION ALL
        SELECT pg_catalog.to_regclass('customercard.event_kinds'), v.c::name
          FROM (VALUES ('registered_by'), ('registered_at')) v (c)) x
     WHERE x.t IS NOT NULL
$$;
COMMENT ON FUNCTION customercard.system_set_columns() IS
    'The columns the extension sets and no role writes: ids from sequences, those the sections declare (merged_into, forgotten_at, the author/actor/time of comments, tags, ledger rows, messages) and the event kinds'' registration';

-- Grant role INSERT and UPDATE on every column of the tables but the
-- system-set ones (DELETE, which names no column, on the tables).
CREATE FUNCTION customercard.grant_writes(role regrole, privileges text[], tables regclass[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t regclass;
    p text;
    cols text;
BEGIN
    IF NOT privileges OPERATOR(pg_catalog.<@) ARRAY['INSERT', 'UPDATE', 'DELETE'] THEN
        RAISE EXCEPTION 'grant_writes grants INSERT, UPDATE and DELETE only' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH t IN ARRAY tables LOOP
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid OPERATOR(pg_catalog.=) t AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
           AND NOT EXISTS (SELECT 1 FROM customercard.system_set_columns() s
                            WHERE s.tbl OPERATOR(pg_catalog.=) t AND s.col OPERATOR(pg_catalog.=) a.attname);
        FOREACH p IN ARRAY privileges LOOP
            IF p OPERATOR(pg_catalog.=) 'DELETE' THEN
                EXECUTE pg_catalog.format('GRANT DELETE ON %s TO %s', t, role);
            ELSE
                EXECUTE pg_catalog.format('GRANT %s (%s) ON %s TO %s', p, cols, t, role);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
