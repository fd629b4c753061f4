-- ===================================================================
-- 17_sections.sql: the card's sections, declared once.  Each table that
-- holds a contact's rows is either a section here or named in
-- card_not_sections() with why; test/tap/sections.sql fails otherwise.
-- From this list: the log triggers (21_log_triggers.sql: every INSERT,
-- UPDATE and DELETE of a section is logged, by its specific events or by
-- row_added / row_changed / row_deleted), the managers' grants
-- (99_grants.sql) and the log's descriptions (describe_event).  The merge
-- keeps its own rules per section in merge_sections(), checked against
-- this list by the same test.  Adding a section: docs/sections.md.
-- ===================================================================

-- The person's data on the contact row: what forget_contact erases there
-- (and out of the log), what a merge's journal keeps no copy of once
-- forgotten.
CREATE FUNCTION customercard.personal_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['name', 'first_name', 'last_name', 'middle_name', 'nickname', 'avatar_url', 'gender', 'gender_source',
                 'timezone', 'city', 'ip', 'note']
$$;

-- tbl: the table; label: what a row is called in the log's descriptions;
-- writes: what customercard_manager may do to it (INSERT and UPDATE on
-- every column but the system-set ones, see grant_writes()); personal: its
-- columns that hold the person's data, which forget_contact scrubs out of
-- the log's row_added / row_changed / row_deleted events.
CREATE FUNCTION customercard.card_sections(OUT tbl text, OUT label text, OUT writes text[], OUT personal text[])
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM (VALUES
        ('contacts', 'Contact', '{INSERT,UPDATE}'::text[], customercard.personal_fields()),
        ('phones', 'Phone', '{INSERT,UPDATE,DELETE}', '{phone,raw}'::text[]),
        ('emails', 'E-mail', '{INSERT,UPDATE,DELETE}', '{email,raw}'),
        ('addresses', 'Address', '{INSERT,UPDATE,DELETE}', '{country,region,city,zip,line}'),
        ('channels', 'Channel', '{INSERT,UPDATE,DELETE}', '{external_id,username}'),
        ('contact_tags', 'Tag', '{INSERT,UPDATE,DELETE}', NULL),
        ('custom_values', 'Custom field value', '{INSERT,UPDATE,DELETE}', '{value}'),
        ('subscriptions', 'Subscription', '{INSERT,UPDATE,DELETE}', NULL),
        ('orders', 'Order', '{INSERT,UPDATE,DELETE}', NULL),
        ('payments', 'Payment', '{INSERT,UPDATE,DELETE}', NULL),
        ('sales_plan_members', 'Sales plan membership', '{INSERT,UPDATE,DELETE}', NULL),
        ('tasks', 'Task', '{INSERT,UPDATE,DELETE}', NULL),
        ('calls', 'Call', '{INSERT,UPDATE,DELETE}', '{recording_url}'),
        ('call_campaign_members', 'Call campaign membership', '{INSERT,UPDATE,DELETE}', NULL),
        ('webinar_visits', 'Webinar visit', '{INSERT,UPDATE,DELETE}', NULL),
        ('page_visits', 'Page visit', '{INSERT,UPDATE,DELETE}', NULL),
        ('clicks', 'Click', '{INSERT,UPDATE,DELETE}', NULL),
        ('emails_sent', 'E-mail sent', '{INSERT,UPDATE,DELETE}', NULL),
        ('group_members', 'Group membership', '{INSERT,UPDATE,DELETE}', NULL),
        -- append-only: written once, never changed (their guards)
        ('comments', 'Comment', '{INSERT}', '{body}'),
        ('balance_transactions', 'Balance transaction', '{INSERT}', NULL)) v (tbl, label, writes, personal)
$$;
COMMENT ON FUNCTION customercard.card_sections() IS
    'The card''s sections, declared once: the log triggers, the managers'' grants and the log''s descriptions follow from this list';

-- Tables with a contact's rows that are not card sections, and why.
CREATE FUNCTION customercard.card_not_sections(OUT tbl text, OUT why text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM (VALUES
        ('action_log', 'the log itself'),
        ('action_log_archive', 'the log''s archive'),
        ('bulk_job_items', 'a bulk job''s selection'),
        ('bulk_job_failures', 'a bulk job''s failures')) v (tbl, why)
$$;

-- A section's row (or its changed fields) in a log event without the
-- person's data: the section's personal columns, and any text equal to one
-- of the person's values (personal, lower case), become null.
CREATE FUNCTION customercard.scrub_section_values(tbl text, vals jsonb, personal text[], changed boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(v.key,
               CASE WHEN v.key = ANY (coalesce((SELECT s.personal FROM customercard.card_sections() s WHERE s.tbl OPERATOR(pg_catalog.=) scrub_section_values.tbl), '{}'))
                    THEN CASE WHEN changed THEN '{"old": null, "new": null}'::jsonb ELSE 'null'::jsonb END
                    WHEN changed THEN (SELECT jsonb_object_agg(o.key,
                                                  CASE WHEN jsonb_typeof(o.value) = 'string' AND lower(o.value #>> '{}') = ANY (personal)
                                                       THEN 'null'::jsonb ELSE o.value END)
                                         FROM jsonb_each(v.value) o)
                    WHEN jsonb_typeof(v.value) = 'string' AND lower(v.value #>> '{}') = ANY (personal) THEN 'null'::jsonb
                    ELSE v.value END), '{}')
      FROM jsonb_each(vals) v
$$;

-- What a row of a section is called, for the log's descriptions.
CREATE FUNCTION customercard.section_label(tbl text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT s.label FROM customercard.card_sections() s WHERE s.tbl OPERATOR(pg_catalog.=) section_label.tbl), tbl)
$$;
