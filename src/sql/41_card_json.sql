-- ===================================================================
-- 41_card_json.sql: the whole card in one call.
-- ===================================================================

-- (its big statement is planned once per session: every part of it is a
-- lookup by key, so the generic plan is as good as a custom one, and
-- planning ~25 sub-queries at each call was most of its time)
CREATE FUNCTION customercard.card_json(contact_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    acct bigint := customercard.current_account_id();
    id bigint := customercard.resolve_contact(card_json.contact_id);
    log_limit constant integer := 100;
    related jsonb;
BEGIN
    -- its own statement: the rest is one query in one account, which Citus
    -- sends whole to the node holding the account, where a function that
    -- queries distributed tables may not run inside it
    related := coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.related_id)
                           FROM customercard.related_contacts(id) r), '[]');
    -- every query names the account, also those of the views (none
    -- correlates a sub-query to an outer row): on Citus the statement then
    -- reads only the account's shards
    RETURN (SELECT jsonb_build_object(
        'contact_id', id,
        'requested_id', card_json.contact_id,
        'card', (SELECT to_jsonb(c) - 'account_id' FROM customercard.card c WHERE c.contact_id = id AND c.account_id = acct),
        'contact', to_jsonb(k) - 'account_id',
        'phones', coalesce((SELECT jsonb_agg(jsonb_build_object('phone', p.phone, 'raw', p.raw, 'kind', p.kind,
                                                                'is_primary', p.is_primary) ORDER BY p.is_primary DESC, p.phone_id)
                              FROM customercard.phones p WHERE p.account_id = acct AND p.contact_id = id), '[]'),
        'emails', coalesce((SELECT jsonb_agg(jsonb_build_object('email', e.email, 'raw', e.raw,
                                                                'is_primary', e.is_primary) ORDER BY e.is_primary DESC, e.email_id)
                              FROM customercard.emails e WHERE e.account_id = acct AND e.contact_id = id), '[]'),
        'addresses', coalesce((SELECT jsonb_agg(to_jsonb(a) - 'account_id' - 'contact_id' ORDER BY a.address_id)
                                 FROM customercard.addresses a WHERE a.account_id = acct AND a.contact_id = id), '[]'),
        'tags', coalesce((SELECT jsonb_agg(jsonb_build_object('tag', t.name, 'added_at', ct.added_at, 'added_by', ct.added_by)
                                           ORDER BY t.name)
                            FROM customercard.contact_tags ct
                            JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                           WHERE ct.account_id = acct AND ct.contact_id = id), '[]'),
        'custom', coalesce((SELECT jsonb_object_agg(f.name, cv.value)
                              FROM customercard.custom_values cv
                              JOIN customercard.custom_fields f ON f.account_id = cv.account_id AND f.field_id = cv.field_id
                             WHERE cv.account_id = acct AND cv.contact_id = id), '{}'),
        'channels', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.channel_id)
                                FROM customercard.card_channels v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'subscriptions', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.subscribed_at, v.subscription_id)
                                     FROM customercard.card_subscriptions v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'orders', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.created_at DESC, v.order_id DESC)
                              FROM customercard.card_orders v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'finance', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.currency)
                               FROM customercard.card_finance v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'balance', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.currency)
                               FROM customercard.card_balance v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'sales_plans', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.added_at, v.plan_id)
                                   FROM customercard.card_sales_plans v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'tasks', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.is_current DESC, v.due_at, v.task_id)
                             FROM customercard.card_tasks v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'calls', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.started_at DESC, v.call_id DESC)
                             FROM customercard.card_calls v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'call_campaigns', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.included_at, v.campaign_id)
                                      FROM customercard.card_call_campaigns v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'webinars', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.joined_at DESC, v.visit_id DESC)
                                FROM customercard.card_webinars v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'visits', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.visited_at DESC, v.visit_id DESC)
                              FROM customercard.card_visits v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'clicks', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.clicked_at DESC, v.click_id DESC)
                              FROM customercard.card_clicks v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'emails_sent', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.sent_at DESC, v.email_sent_id DESC)
                                   FROM customercard.card_emails v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'groups', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.joined_at, v.group_id)
                              FROM customercard.card_groups v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'comments', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.created_at DESC, v.comment_id DESC)
                                FROM customercard.card_comments v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'related', related,
        'merges', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.merged_at, v.merge_id)
                              FROM customercard.card_merges v WHERE v.contact_id = id AND v.account_id = acct), '[]'),
        'log_total', (SELECT count(*) FROM customercard.action_log l WHERE l.account_id = acct AND l.contact_id = id),
        'log', coalesce((SELECT jsonb_agg(to_jsonb(v) - 'contact_id' - 'account_id' ORDER BY v.at DESC, v.log_id DESC)
                           FROM (SELECT * FROM customercard.card_log v WHERE v.contact_id = id AND v.account_id = acct
                                  ORDER BY v.at DESC, v.log_id DESC LIMIT log_limit) v), '[]'))
      FROM customercard.contacts k WHERE k.account_id = acct AND k.contact_id = id);
END
$$;
COMMENT ON FUNCTION customercard.card_json(bigint) IS
    'The whole card of a contact (a merged contact''s id gives its survivor''s card): every section, the latest 100 log events and the log''s total';
