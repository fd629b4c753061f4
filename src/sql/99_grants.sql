-- ===================================================================
-- 99_grants.sql: least privilege.  Nothing for PUBLIC; each role gets
-- what its work needs, and inherits the one below it.
-- ===================================================================

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA customercard FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA customercard FROM PUBLIC;

-- reader: the views and tables, and the functions that read
GRANT SELECT ON ALL TABLES IN SCHEMA customercard TO customercard_reader;
GRANT EXECUTE ON FUNCTION
    customercard.current_account_id(),
    customercard.account_is_here(bigint), customercard.assert_account_here(bigint, text),
    customercard.account_may_act(bigint),
    customercard.calling_role(),
    customercard.current_actor(),
    customercard.normalize_email(text),
    customercard.email_key(text),
    customercard.is_log_event(text),
    customercard.is_valid_timezone(text),
    customercard.normalize_phone(text, text),
    customercard.phone_region(customercard.phone),
    customercard.format_phone(customercard.phone, text),
    customercard.phone_metadata_version(),
    customercard.phone_is_valid(customercard.phone),
    customercard.phone_in(cstring), customercard.phone_out(customercard.phone),
    customercard.phone_recv(internal), customercard.phone_send(customercard.phone),
    customercard.phone_eq(customercard.phone, customercard.phone), customercard.phone_ne(customercard.phone, customercard.phone),
    customercard.phone_lt(customercard.phone, customercard.phone), customercard.phone_le(customercard.phone, customercard.phone),
    customercard.phone_gt(customercard.phone, customercard.phone), customercard.phone_ge(customercard.phone, customercard.phone),
    customercard.phone_cmp(customercard.phone, customercard.phone), customercard.phone_hash(customercard.phone),
    customercard.phone_hash_extended(customercard.phone, bigint), customercard.phone_sortsupport(internal),
    customercard.describe_event(text, jsonb),
    customercard.resolve_contact(bigint),
    customercard.card_json(bigint),
    customercard.audience_search(jsonb, integer, integer, bigint),
    customercard.audience_count(jsonb),
    customercard.audience_ids(jsonb),
    customercard.ids_named(bigint, jsonb, text, bigint),
    customercard.name_haystack(text, text, text, text, text),
    customercard.related_contacts(bigint),
    customercard.contact_key_hits(bigint, bigint),
    customercard.duplicate_candidates(bigint),
    customercard.duplicate_groups(integer),
    customercard.duplicate_groups_of(bigint, integer),
    customercard.name_similarity(text, text),
    customercard.similar_name_contacts(bigint, text, integer),
    customercard.contact_log(bigint, text[], timestamptz, timestamptz)
TO customercard_reader;

-- manager: card work
GRANT EXECUTE ON FUNCTION
    customercard.require_account_id(),
    customercard.account_currency(),
    customercard.upsert_contact(jsonb),
    customercard.upsert_contact_ex(jsonb), customercard.upsert_contact_in(bigint, jsonb),
    customercard.log_event(bigint, text, jsonb),
    customercard.upsert_error(text, text),
    customercard.expect_json_type(jsonb, text, text[])
TO customercard_manager;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA customercard TO customercard_manager;
GRANT INSERT, UPDATE ON customercard.contacts TO customercard_manager;
GRANT INSERT, UPDATE, DELETE ON
    customercard.phones, customercard.emails, customercard.addresses, customercard.channels,
    customercard.contact_tags, customercard.custom_values, customercard.subscriptions,
    customercard.orders, customercard.payments, customercard.payouts, customercard.sales_plan_members,
    customercard.tasks, customercard.calls, customercard.call_campaign_members,
    customercard.webinar_visits, customercard.page_visits, customercard.clicks, customercard.emails_sent,
    customercard.group_members
TO customercard_manager;
GRANT INSERT ON customercard.tags, customercard.balance_transactions, customercard.comments TO customercard_manager;
GRANT INSERT ON customercard.not_duplicates TO customercard_manager;
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
    customercard.bulk_cancel(bigint),
    customercard.bulk_run_batch(bigint, bigint, integer),
    customercard.bulk_claim(), customercard.bulk_release(bigint), customercard.bulk_lock_class(),
    customercard.bulk_export_csv(bigint), customercard.bulk_actions(), customercard.bulk_settable_fields(),
    customercard.csv_field(text), customercard.bulk_lookup(bigint, jsonb, text, text, bigint, boolean),
    customercard.import_json(text, boolean), customercard.import_csv(text, boolean),
    customercard.export_rows(jsonb), customercard.export_rows_of(bigint, bigint[]), customercard.export_csv(jsonb), customercard.export_xlsx(jsonb),
    customercard.export_header(jsonb), customercard.export_lines(bigint, bigint[], jsonb)
TO customercard_manager;
GRANT EXECUTE ON PROCEDURE customercard.bulk_run(interval, integer) TO customercard_manager;

-- admin: the account's definitions and settings, role bindings
GRANT INSERT, UPDATE, DELETE ON
    customercard.managers, customercard.tags, customercard.custom_fields, customercard.funnels,
    customercard.funnel_blocks, customercard.lgts, customercard.sales_plans, customercard.call_campaigns,
    customercard.groups
TO customercard_admin;
GRANT UPDATE (name, default_region, currency) ON customercard.accounts TO customercard_admin;
GRANT EXECUTE ON FUNCTION
    customercard.bind_role(regrole, bigint),
    customercard.unbind_role(regrole, bigint),
    customercard.assert_account_admin(bigint),
    -- SECURITY DEFINER, acting in the caller's account only; their helpers
    -- (merge_apply, unmerge_apply, card_rewrite, ...) are granted to nobody
    customercard.merge(bigint, bigint, text[]),
    customercard.unmerge(bigint),
    customercard.forget_contact(bigint),
    customercard.schedule_bulk_runner(),
    customercard.bulk_prune(interval)
TO customercard_admin;
GRANT SET ON PARAMETER customercard.comment_max_length TO customercard_admin;

-- app: creates accounts and may act in any of them
GRANT EXECUTE ON FUNCTION customercard.create_account(text, text, text) TO customercard_app;
