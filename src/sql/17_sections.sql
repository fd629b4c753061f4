-- ===================================================================
-- 17_sections.sql: the card's sections, declared once.  Each table that
-- holds a contact's rows is either a section here or named in
-- card_not_sections() with why; test/tap/sections.sql fails otherwise.
-- From this list: the log triggers (21_log_triggers.sql: every INSERT,
-- UPDATE and DELETE of a section is logged, by its specific events or by
-- row_added / row_changed / row_deleted), the managers' grants
-- (99_grants.sql), the log's descriptions (describe_event), the merge's
-- statements (44_merge.sql), forget_contact (45_forget.sql), card_json
-- (41_card_json.sql) and what forget scrubs of the log and the merge
-- journal.  Adding a section: docs/sections.md.
-- ===================================================================

-- One row per section: the table, what one row is called in the log's
-- descriptions, and the rest of its declaration as JSON (docs/sections.md
-- names every key; test/tap/sections.sql refuses a missing or unknown one):
--   writes        what customercard_manager may do to it (INSERT and UPDATE on
--                 every column but the system-set ones, see grant_writes());
--   system_set    its columns only the extension writes (attribution: who and
--                 when, merged_into, forgotten_at), besides ids from sequences;
--   personal      its columns that hold the person's data: scrubbed out of its
--                 row_added / row_changed / row_deleted log events by
--                 forget_contact, erased by forget "erase";
--   key           the column that tells one contact's rows apart (the primary
--                 key, or its other half); merges move rows by it;
--   match/assign  where two contacts' rows collide on a merge (s = survivor's
--                 row, a = absorbed's) and how the survivor's takes in the
--                 absorbed's ($4: the custom fields take_from_absorbed names);
--                 without them rows just move to the survivor;
--   primary       one primary row per contact: the expression rows are
--                 compared by, and the take_from_absorbed name that prefers
--                 the absorbed's primary;
--   forget        what forget_contact does to its rows: delete, keep, or erase
--                 (personal columns NULL, forget_set's assignments over them;
--                 rows whose values are already so untouched, or forget_where);
--   scrub_values  expressions over a row t of the person's values to look for
--                 in the log (default: its personal columns);
--   card          its blocks of card_json: key, the relation it reads (with
--                 contact_id and account_id), order (over v), and columns
--                 (default all but the ids), limit (the first n), one (an
--                 object, not a list) or object ([key, value] columns: one
--                 JSON object);
--   export        the columns of export_rows it gives.
-- These fragments are fixed text of this file, never input: the log
-- triggers, grants, merge, unmerge, forget, card_json and the section checks
-- are generated from them.
CREATE FUNCTION customercard.section_declarations(OUT tbl text, OUT label text, OUT decl jsonb)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $declarations$
    SELECT * FROM (VALUES
    ('contacts', 'Contact', $${
        "writes": ["INSERT", "UPDATE"], "system_set": ["merged_into", "forgotten_at"],
        "personal": ["name", "first_name", "last_name", "middle_name", "nickname", "avatar_url", "gender",
                     "gender_source", "timezone", "city", "ip", "note"],
        "forget": "erase",
        "forget_set": {"forgotten_at": "coalesce(t.forgotten_at, erased_at)", "updated_at": "erased_at"},
        "forget_where": "true",
        "scrub_values": ["t.name", "t.first_name", "t.last_name", "t.middle_name", "t.nickname", "t.avatar_url",
                         "host(t.ip)", "t.note"],
        "card": [{"key": "card", "from": "card", "one": true},
                 {"key": "contact", "from": "contacts", "one": true}],
        "export": ["contact_id", "name", "status", "created_at_utc"]}$$::jsonb),
    ('phones', 'Phone', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["phone", "raw"],
        "key": "phone_id", "match": "s.phone OPERATOR(customercard.=) a.phone",
        "primary": {"expr": "t.phone", "take": "phone"},
        "forget": "delete", "scrub_values": ["t.phone::text", "t.raw"],
        "card": [{"key": "phones", "from": "phones", "columns": ["phone", "raw", "kind", "is_primary"],
                  "order": "v.is_primary DESC, v.phone_id"}],
        "export": ["phone"]}$$),
    ('emails', 'E-mail', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["email", "raw"],
        "key": "email_id", "match": "customercard.email_key(s.email) = customercard.email_key(a.email)",
        "primary": {"expr": "customercard.email_key(t.email)", "take": "email"},
        "forget": "delete",
        "card": [{"key": "emails", "from": "emails", "columns": ["email", "raw", "is_primary", "status"],
                  "order": "v.is_primary DESC, v.email_id"}],
        "export": ["email"]}$$),
    ('addresses', 'Address', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["country", "region", "city", "zip", "line"],
        "key": "address_id", "forget": "delete", "scrub_values": ["t.line", "t.zip"],
        "card": [{"key": "addresses", "from": "addresses", "order": "v.address_id"}],
        "export": []}$$),
    ('channels', 'Channel', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["external_id", "username", "avatar_url"],
        "key": "channel_id",
        "forget": "erase",
        "forget_set": {"external_id": "'forgotten-' || t.channel_id::text", "updated_at": "erased_at"},
        "card": [{"key": "channels", "from": "card_channels", "order": "v.channel_id"}],
        "export": ["channel", "connection", "social_id"]}$$),
    ('contact_tags', 'Tag', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["added_by", "added_at"],
        "key": "tag_id", "match": "s.tag_id = a.tag_id",
        "assign": "added_at = LEAST(s.added_at, a.added_at), added_by = CASE WHEN a.added_at < s.added_at THEN a.added_by ELSE s.added_by END",
        "forget": "keep",
        "card": [{"key": "tags", "from": "card_tags", "columns": ["tag", "added_at", "added_by"], "order": "v.tag"}],
        "export": ["tags"]}$$),
    ('custom_values', 'Custom field value', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["value"],
        "key": "field_id", "match": "s.field_id = a.field_id",
        "assign": "value = CASE WHEN s.value = '' OR s.field_id = ANY ($4) THEN a.value ELSE s.value END, updated_at = CASE WHEN s.value = '' OR s.field_id = ANY ($4) THEN a.updated_at ELSE s.updated_at END",
        "forget": "delete",
        "card": [{"key": "custom", "from": "card_custom_values", "object": ["field", "value"]}],
        "export": ["custom"]}$$),
    -- a row is one period: two open periods of the same funnel, channel and
    -- LGT are one subscription; ended ones are history and just move
    ('subscriptions', 'Subscription', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"],
        "key": "subscription_id",
        "match": "s.funnel_id = a.funnel_id AND s.channel_id IS NOT DISTINCT FROM a.channel_id AND s.lgt_id IS NOT DISTINCT FROM a.lgt_id AND s.unsubscribed_at IS NULL AND a.unsubscribed_at IS NULL",
        "assign": "subscribed_at = LEAST(s.subscribed_at, a.subscribed_at), block_id = coalesce(s.block_id, a.block_id), source = coalesce(s.source, a.source), visitor_id = coalesce(s.visitor_id, a.visitor_id)",
        "forget": "erase",
        "card": [{"key": "subscriptions", "from": "card_subscriptions", "order": "v.subscribed_at, v.subscription_id"},
                 {"key": "subscription_history", "from": "card_subscription_history", "order": "v.subscribed_at DESC, v.subscription_id DESC"}],
        "export": []}$$),
    ('orders', 'Order', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "order_id", "forget": "erase",
        "card": [{"key": "orders", "from": "card_orders", "order": "v.created_at DESC, v.order_id DESC"},
                 {"key": "finance", "from": "card_finance", "order": "v.currency"}],
        "export": []}$$),
    ('payments', 'Payment', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["confirmed_by", "confirmed_at"], "personal": ["visitor_id"],
        "key": "payment_id", "forget": "erase",
        "card": [{"key": "payments", "from": "card_payments", "order": "v.created_at DESC, v.payment_id DESC"}],
        "export": []}$$),
    ('sales_plan_members', 'Sales plan membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "plan_id", "match": "s.plan_id = a.plan_id",
        "assign": "status = CASE WHEN s.status = 'new' THEN a.status ELSE s.status END, amount = coalesce(s.amount, a.amount), manager_pinned = CASE WHEN s.manager_id IS NULL THEN a.manager_pinned ELSE s.manager_pinned END, manager_id = coalesce(s.manager_id, a.manager_id), added_at = LEAST(s.added_at, a.added_at)",
        "forget": "keep",
        "card": [{"key": "sales_plans", "from": "card_sales_plans", "order": "v.added_at, v.plan_id"}],
        "export": []}$$),
    ('tasks', 'Task', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "key": "task_id", "forget": "keep",
        "card": [{"key": "tasks", "from": "card_tasks", "order": "v.is_current DESC, v.due_at, v.task_id"},
                 {"key": "upcoming", "from": "card_upcoming", "order": "v.at, v.kind, v.ref_id"}],
        "export": []}$$),
    ('calls', 'Call', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["recording_url"], "key": "call_id", "forget": "erase",
        "card": [{"key": "calls", "from": "card_calls", "order": "v.started_at DESC, v.call_id DESC"},
                 {"key": "order_calls", "from": "card_order_calls", "order": "v.started_at DESC, v.call_id DESC"}],
        "export": []}$$),
    ('call_campaign_members', 'Call campaign membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "campaign_id", "match": "s.campaign_id = a.campaign_id",
        "assign": "included_at = LEAST(s.included_at, a.included_at), call_back_at = coalesce(s.call_back_at, a.call_back_at), comment = coalesce(s.comment, a.comment), manager_id = coalesce(s.manager_id, a.manager_id)",
        "forget": "keep",
        "card": [{"key": "call_campaigns", "from": "card_call_campaigns", "order": "v.included_at, v.campaign_id"}],
        "export": []}$$),
    ('webinar_visits', 'Webinar visit', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id", "chat"], "key": "visit_id",
        "forget": "erase", "forget_set": {"chat": "'[]'"}, "scrub_values": ["t.visitor_id"],
        "card": [{"key": "webinars", "from": "card_webinars", "order": "coalesce(v.joined_at, v.starts_at, v.registered_at) DESC, v.webinar_id DESC, v.visit_id DESC"}],
        "export": []}$$),
    ('webinar_registrations', 'Webinar registration', $${
        "writes": ["INSERT", "UPDATE", "DELETE"],
        "key": "webinar_id", "match": "s.webinar_id = a.webinar_id",
        "assign": "registered_at = LEAST(s.registered_at, a.registered_at), attended = s.attended OR a.attended",
        "forget": "keep",
        "card": [{"key": "webinar_registrations", "from": "card_webinar_registrations", "order": "coalesce(v.starts_at, v.registered_at) DESC, v.webinar_id DESC"}],
        "export": []}$$),
    ('page_visits', 'Page visit', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "visit_id", "forget": "erase",
        "card": [{"key": "visits", "from": "card_visits", "order": "v.visited_at DESC, v.visit_id DESC"}],
        "export": []}$$),
    ('clicks', 'Click', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "click_id", "forget": "erase",
        "card": [{"key": "clicks", "from": "card_clicks", "order": "v.clicked_at DESC, v.click_id DESC"}],
        "export": []}$$),
    ('emails_sent', 'E-mail sent', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"], "key": "email_sent_id", "forget": "erase",
        "card": [{"key": "emails_sent", "from": "card_emails", "order": "v.sent_at DESC, v.email_sent_id DESC"}],
        "export": []}$$),
    -- the earlier joining keeps its attribution (partner, tag, UTM, visitor);
    -- a member of either is a member (active over unconfirmed over unsubscribed)
    ('group_members', 'Group membership', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "personal": ["visitor_id"],
        "key": "group_id", "match": "s.group_id = a.group_id",
        "assign": "joined_at = LEAST(s.joined_at, a.joined_at), partner = CASE WHEN a.joined_at < s.joined_at THEN a.partner ELSE s.partner END, tag = CASE WHEN a.joined_at < s.joined_at THEN a.tag ELSE s.tag END, utm_source = CASE WHEN a.joined_at < s.joined_at THEN a.utm_source ELSE s.utm_source END, utm_medium = CASE WHEN a.joined_at < s.joined_at THEN a.utm_medium ELSE s.utm_medium END, utm_campaign = CASE WHEN a.joined_at < s.joined_at THEN a.utm_campaign ELSE s.utm_campaign END, visitor_id = CASE WHEN a.joined_at < s.joined_at THEN a.visitor_id ELSE s.visitor_id END, utm_ad = CASE WHEN a.joined_at < s.joined_at THEN a.utm_ad ELSE s.utm_ad END, utm_keys = CASE WHEN a.joined_at < s.joined_at THEN a.utm_keys ELSE s.utm_keys END, status = CASE WHEN 'active' IN (s.status, a.status) THEN 'active' WHEN 'unconfirmed' IN (s.status, a.status) THEN 'unconfirmed' ELSE s.status END, left_at = CASE WHEN 'active' IN (s.status, a.status) OR 'unconfirmed' IN (s.status, a.status) THEN NULL ELSE GREATEST(s.left_at, a.left_at) END",
        "forget": "erase",
        "card": [{"key": "groups", "from": "card_groups", "order": "v.joined_at, v.group_id"}],
        "export": []}$$),
    ('messages', 'Message', $${
        "writes": ["INSERT", "UPDATE", "DELETE"], "system_set": ["author"],
        "personal": ["body", "attachments"], "key": "message_id",
        "forget": "erase", "forget_set": {"body": "'(erased on request)'", "attachments": "'{}'"},
        "scrub_values": ["t.body"],
        "card": [{"key": "messages", "from": "card_messages", "order": "v.sent_at DESC, v.message_id DESC", "limit": 100}],
        "export": []}$$),
    -- append-only: written once, never changed (their guards)
    ('comments', 'Comment', $${
        "writes": ["INSERT"], "system_set": ["author", "created_at"], "personal": ["body"], "key": "comment_id",
        "forget": "erase", "forget_set": {"body": "'(erased on request)'", "attachments": "'{}'"},
        "card": [{"key": "comments", "from": "card_comments", "order": "v.created_at DESC, v.comment_id DESC"}],
        "export": []}$$),
    ('balance_transactions', 'Balance transaction', $${
        "writes": ["INSERT"], "system_set": ["actor", "at"], "key": "transaction_id", "forget": "keep",
        "card": [{"key": "balance", "from": "card_balance", "order": "v.currency"},
                 {"key": "balance_ledger", "from": "card_balance_ledger", "order": "v.at DESC, v.transaction_id DESC", "limit": 100}],
        "export": []}$$)
    ) v (tbl, label, decl)
$declarations$;

-- The declarations as columns.
CREATE FUNCTION customercard.card_sections(OUT tbl text, OUT label text, OUT writes text[], OUT personal text[],
                                           OUT key text, OUT match text, OUT assign text,
                                           OUT primary_expr text, OUT take_name text,
                                           OUT forget text, OUT forget_set jsonb, OUT forget_where text,
                                           OUT scrub_values text[], OUT card jsonb, OUT export text[],
                                           OUT system_set text[])
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT d.tbl, d.label,
           ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'writes')),
           CASE WHEN d.decl ? 'personal' THEN ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'personal')) END,
           d.decl ->> 'key', d.decl ->> 'match', d.decl ->> 'assign',
           d.decl -> 'primary' ->> 'expr', d.decl -> 'primary' ->> 'take',
           d.decl ->> 'forget', coalesce(d.decl -> 'forget_set', '{}'), d.decl ->> 'forget_where',
           CASE WHEN d.decl ? 'scrub_values' THEN ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'scrub_values'))
                ELSE ARRAY(SELECT 't.' || quote_ident(p) || '::text' FROM jsonb_array_elements_text(d.decl -> 'personal') p) END,
           coalesce(d.decl -> 'card', '[]'),
           ARRAY(SELECT jsonb_array_elements_text(d.decl -> 'export')),
           ARRAY(SELECT jsonb_array_elements_text(coalesce(d.decl -> 'system_set', '[]')))
      FROM customercard.section_declarations() d
$$;
COMMENT ON FUNCTION customercard.card_sections() IS
    'The card''s sections, declared once (section_declarations()): the log triggers, grants, merge, unmerge, forget, card_json and the log''s descriptions follow from this list';

-- The person's data on the contact row: what forget_contact erases there
-- (and out of the log), what a merge's journal keeps no copy of once
-- forgotten.
CREATE FUNCTION customercard.personal_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s.personal FROM customercard.card_sections() s WHERE s.tbl OPERATOR(pg_catalog.=) 'contacts'
$$;

-- Tables with a contact's rows that are not card sections, and why; a
-- merge moves the log's rows too (by merge_key).
CREATE FUNCTION customercard.card_not_sections(OUT tbl text, OUT why text, OUT merge_key text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT * FROM (VALUES
        ('action_log', 'the log itself', 'log_id'),
        ('action_log_archive', 'the log''s archive', 'log_id'),
        ('bulk_job_items', 'a bulk job''s selection', NULL),
        ('bulk_job_failures', 'a bulk job''s failures', NULL),
        ('bulk_job_rows', 'an import job''s rows and their outcome (the report says which contact a row became)', NULL),
        ('bulk_job_journal', 'what a bulk job changed, for bulk_undo (kept under the contact changed: the undo follows its merges; forget scrubs the images)', NULL)) v (tbl, why, merge_key)
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

-- What a row of a section is called, for the log's descriptions (card_log
-- describes every row it shows).  Written here from the declarations as
-- one CASE, so that it is inlined into describe_event and costs nothing per
-- row (as SQL over section_declarations() it set up the declarations' rows
-- at each call: 0.66 ms a row_* description; PL/pgSQL still ran a query a
-- row).  Written again whenever a section is declared (the upgrade
-- scripts), which tap/action_log checks.
CREATE FUNCTION customercard.generate_section_label() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
BEGIN
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.section_label(tbl text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
    SELECT CASE tbl %s ELSE tbl END
$body$
$f$, (SELECT string_agg(format('WHEN %L THEN %L', d.tbl, d.label), ' ' ORDER BY d.tbl)
        FROM customercard.section_declarations() d));
END
$generate$;
COMMENT ON FUNCTION customercard.generate_section_label() IS
    'Write section_label(), the sections'' labels as one CASE; called by the install script and by regenerate()';
SELECT customercard.generate_section_label();

-- Every function written from the declarations, written anew: the install
-- script calls each generator where its inputs are defined; an upgrade
-- script calls this once at its end (tools/sqlobject --expand appends it),
-- so a changed declaration or generator reaches every generated function.
CREATE FUNCTION customercard.regenerate() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM customercard.generate_section_label();
    PERFORM customercard.generate_visitor_lookups();
    PERFORM customercard.generate_card_json();
    PERFORM customercard.generate_merge_statements();
    PERFORM customercard.generate_forget_apply();
END
$$;
COMMENT ON FUNCTION customercard.regenerate() IS
    'Write every function generated from the section declarations anew (section_label, contact_visitors and contact_key_hits, card_json, the merge statements, forget_apply); run by upgrade scripts';
