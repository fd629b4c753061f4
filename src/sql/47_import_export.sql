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

CREATE FUNCTION customercard.import_xlsx(data bytea, all_or_nothing boolean DEFAULT false)
RETURNS TABLE (line integer, status text, contact_id bigint, reason text)
    AS 'MODULE_PATHNAME', 'import_xlsx' LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION customercard.import_xlsx(bytea, boolean) IS
    'Import contacts from the first sheet of an .xlsx workbook (a header row with import_csv''s columns): a line per row (the sheet''s row number) with its outcome; a broken or oversized file changes nothing';
