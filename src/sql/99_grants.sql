-- ===================================================================
-- 99_grants.sql: least privilege.  Nothing for PUBLIC; each role gets
-- what its work needs, and inherits the one below it.
--
-- Every privilege on the extension's objects is declared here, once: this
-- file starts from none and is re-run whole at the end of every upgrade
-- script (tools/sqlobject --expand appends it), so an upgraded install has
-- exactly a fresh install's privileges.
-- ===================================================================

REVOKE ALL ON ALL TABLES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard
    FROM customercard_reader, customercard_manager, customercard_admin, customercard_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard FROM PUBLIC;

-- reader: the views and tables, and the functions that read
GRANT SELECT ON ALL TABLES IN SCHEMA customercard TO customercard_reader;
-- (but the upsert slots, which upsert_lock() alone touches)
REVOKE SELECT ON customercard.upsert_locks, customercard.import_marks FROM customercard_reader;
GRANT EXECUTE ON FUNCTION
    customercard.current_account_id(),
    customercard.account_is_here(bigint), customercard.assert_account_here(bigint, text), customercard.citus_distributed(),
    customercard.account_may_act(bigint),
    customercard.calling_role(),
    customercard.current_actor(),
    customercard.normalize_email(text),
    customercard.email_key(text),
    customercard.is_log_event(text),
    customercard.is_valid_timezone(text),
    customercard.display_name(text, text, text, text),
    customercard.normalize_phone(text, text),
    customercard.phone_region(customercard.phone),
    customercard.format_phone(customercard.phone, text),
    customercard.phone_metadata_version(),
    customercard.phone_is_valid(customercard.phone),
    customercard.phone_timezones(customercard.phone), customercard.phone_timezone(customercard.phone),
    customercard.local_hour_in(text, integer, integer),
    customercard.phone_in(cstring), customercard.phone_out(customercard.phone),
    customercard.phone_recv(internal), customercard.phone_send(customercard.phone),
    customercard.phone_eq(customercard.phone, customercard.phone), customercard.phone_ne(customercard.phone, customercard.phone),
    customercard.phone_lt(customercard.phone, customercard.phone), customercard.phone_le(customercard.phone, customercard.phone),
    customercard.phone_gt(customercard.phone, customercard.phone), customercard.phone_ge(customercard.phone, customercard.phone),
    customercard.phone_cmp(customercard.phone, customercard.phone), customercard.phone_hash(customercard.phone),
    customercard.phone_hash_extended(customercard.phone, bigint), customercard.phone_sortsupport(internal),
    customercard.describe_event(text, jsonb), customercard.describe_fields(jsonb),
    customercard.section_declarations(), customercard.card_sections(), customercard.card_not_sections(), customercard.section_label(text),
    customercard.resolve_contact(bigint),
    customercard.card_json(bigint),
    customercard.audience_search(jsonb, integer, integer, bigint),
    customercard.audience_count(jsonb),
    customercard.audience_ids(jsonb),
    customercard.ids_named(bigint, jsonb, text, bigint),
    customercard.name_haystack(text, text, text, text, text),
    customercard.related_contacts(bigint),
    customercard.contact_key_hits(bigint, bigint), customercard.visitor_tables(),
    customercard.channel_kinds(),
    customercard.duplicate_candidates(bigint),
    customercard.duplicate_groups(integer),
    customercard.duplicate_groups_of(bigint, integer),
    customercard.name_similarity(text, text),
    customercard.similar_name_contacts(bigint, text, integer),
    customercard.contact_log(bigint, text[], timestamptz, timestamptz, bigint)
TO customercard_reader;

-- manager: card work
GRANT EXECUTE ON FUNCTION
    customercard.require_account_id(),
    customercard.account_currency(),
    customercard.upsert_contact(jsonb),
    customercard.upsert_contact_ex(jsonb), customercard.upsert_contact_in(bigint, jsonb),
    customercard.upsert_lock(bigint, text[]), customercard.assert_upsert_account(bigint),
    customercard.log_event(bigint, text, jsonb), customercard.log_event_in(bigint, bigint, text, jsonb),
    customercard.upsert_error(text, text),
    customercard.expect_json_type(jsonb, text, text[]),
    customercard.upsert_keys(), customercard.upsert_check_shape(bigint, jsonb),
    customercard.upsert_read_phones(bigint, jsonb), customercard.upsert_read_emails(jsonb),
    customercard.upsert_read_channels(jsonb), customercard.upsert_check_values(bigint, jsonb),
    customercard.upsert_match(bigint, jsonb, jsonb, jsonb, jsonb), customercard.upsert_contact_row(bigint, bigint, jsonb),
    customercard.upsert_phones_emails(bigint, bigint, jsonb, jsonb), customercard.upsert_channels(bigint, bigint, jsonb),
    customercard.upsert_channel_gender(bigint, bigint, jsonb, jsonb),
    customercard.upsert_subscription(bigint, bigint, jsonb, bigint, bigint, text, bigint),
    customercard.upsert_tags_custom(bigint, bigint, jsonb), customercard.upsert_contact_fields(bigint, bigint[], jsonb[]),
    customercard.custom_value_fits(text, text)
TO customercard_manager;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA customercard TO customercard_manager;
-- (INSERT and UPDATE on every column but those the extension sets:
-- grant_writes() and system_set_columns() above)
-- the card's sections as card_sections() declares them; payouts (an
-- order's, no contact's), new tags, pairs judged different and webinars besides
SELECT customercard.grant_writes('customercard_manager', s.writes, ARRAY[('customercard.' || s.tbl)::regclass])
  FROM customercard.card_sections() s;
SELECT customercard.grant_writes('customercard_manager', '{INSERT,UPDATE,DELETE}', '{customercard.payouts}');
SELECT customercard.grant_writes('customercard_manager', '{INSERT}', '{customercard.tags, customercard.not_duplicates}');
-- webinars: managers set them up (a visit named by a webinar not yet known makes it)
SELECT customercard.grant_writes('customercard_manager', '{INSERT,UPDATE}', '{customercard.webinars}');
GRANT EXECUTE ON FUNCTION customercard.not_duplicates(bigint, bigint) TO customercard_manager;
-- the merge preview reads as the caller (row-level security applies)
GRANT EXECUTE ON FUNCTION
    customercard.merge_preview(bigint, bigint, text[]),
    customercard.merge_sections(), customercard.merge_fields(), customercard.status_rank(text),
    customercard.merged_contact(customercard.contacts, customercard.contacts, text[]),
    customercard.merge_check_live(customercard.contacts, text), customercard.merge_check_take(bigint, text[]),
    customercard.merge_primary_target(bigint, text, bigint, bigint, boolean), customercard.merge_primary_expr(text)
TO customercard_manager;

-- bulk actions: queue, run (bulk_run is a procedure running as its caller;
-- its batch function acts only in accounts the caller may act in), cancel
GRANT EXECUTE ON FUNCTION
    customercard.bulk_enqueue(text, jsonb, bigint[], jsonb, timestamptz),
    customercard.bulk_preview(text, jsonb, bigint[], jsonb),
    customercard.bulk_cancel(bigint),
    customercard.bulk_undo(bigint),
    customercard.bulk_run_batch(bigint, bigint, integer),
    customercard.bulk_claim(), customercard.bulk_batch_failed(bigint, bigint, text, text), customercard.bulk_max_attempts(),
    customercard.bulk_export_csv(bigint), customercard.bulk_export_xlsx(bigint), customercard.bulk_export_job(bigint, text), customercard.bulk_actions(), customercard.bulk_settable_fields(),
    customercard.csv_field(text), customercard.csv_quoted(text), customercard.bulk_lookup(bigint, jsonb, text, text, bigint, boolean),
    customercard.import_json(text, boolean, jsonb), customercard.import_csv(text, boolean, jsonb), customercard.import_xlsx(bytea, boolean, jsonb),
    customercard.import_check_settings(bigint, jsonb), customercard.import_upsert(jsonb, jsonb), customercard.import_viber_mark(bigint, text, text),
    customercard.import_prepare(jsonb, jsonb), customercard.import_missing(jsonb, jsonb), customercard.import_set(jsonb, integer[], jsonb[]),
    customercard.import_plain(jsonb, jsonb), customercard.text_is_inet(text), customercard.json_array_or_empty(jsonb),
    customercard.json_object_or_empty(jsonb), customercard.import_phones(jsonb), customercard.import_emails(jsonb),
    customercard.import_keys(jsonb),
    customercard.import_write(bigint, integer[], jsonb[], jsonb, jsonb),
    customercard.import_enqueue(bytea, text, jsonb, timestamptz), customercard.import_report(bigint),
    customercard.confirm_payment(bigint), customercard.stop_recurring(bigint),
    customercard.export_rows(jsonb), customercard.export_rows_of(bigint, bigint[]),
    customercard.export_csv(jsonb, text[]), customercard.export_xlsx(jsonb, text[]), customercard.export_groups(text[]),
    customercard.export_header(jsonb, text[]), customercard.export_lines(bigint, bigint[], jsonb, text[])
TO customercard_manager;
GRANT EXECUTE ON PROCEDURE customercard.bulk_run(interval, integer) TO customercard_manager;

-- admin: the account's definitions and settings, role bindings
SELECT customercard.grant_writes('customercard_admin', '{INSERT,UPDATE,DELETE}', '{
    customercard.managers, customercard.tags, customercard.custom_fields, customercard.funnels,
    customercard.funnel_blocks, customercard.lgts, customercard.sales_plans, customercard.call_campaigns,
    customercard.groups, customercard.event_kinds, customercard.webinars}');
GRANT UPDATE (name, default_region, currency) ON customercard.accounts TO customercard_admin;
GRANT EXECUTE ON FUNCTION
    customercard.bind_role(regrole, bigint),
    customercard.unbind_role(regrole, bigint),
    customercard.register_event_kind(text, text),
    customercard.set_default_traffic_source(text, text),
    customercard.assert_account_admin(bigint),
    -- SECURITY DEFINER, acting in the caller's account only; their helpers
    -- (merge_apply, unmerge_apply, card_rewrite, ...) are granted to nobody
    customercard.merge(bigint, bigint, text[]),
    customercard.unmerge(bigint),
    customercard.forget_contact(bigint),
    customercard.schedule_bulk_runner(),
    customercard.bulk_prune(interval)
TO customercard_admin;
GRANT SET ON PARAMETER customercard.comment_max_length, customercard.import_max_unpacked TO customercard_admin;

-- app: creates accounts and may act in any of them
GRANT EXECUTE ON FUNCTION customercard.create_account(text, text, text) TO customercard_app;
