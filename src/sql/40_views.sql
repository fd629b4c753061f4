-- ===================================================================
-- 40_views.sql: the card, as views BI tools read.  security_invoker so
-- row-level security applies to the reader; each also filters the current
-- account itself, so a superuser (who bypasses RLS) sees one account too.
-- ===================================================================

-- A row_changed event's fields, "field "old" → "new", ...".  Its own
-- function: with no sub-query left in describe_event, the planner inlines
-- describe_event into card_log (a function call per log row was ~25 µs).
CREATE FUNCTION customercard.describe_fields(fields jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.string_agg(f.key || coalesce(' "' || (f.value ->> 'old') || '"', ' (none)') || ' → '
                                 || coalesce('"' || (f.value ->> 'new') || '"', '(none)'), ', ' ORDER BY f.key)
      FROM pg_catalog.jsonb_each(fields) f
$$;

CREATE FUNCTION customercard.describe_event(event text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE event
        WHEN 'call' THEN 'Call: ' || coalesce(details ->> 'result', 'made')
        WHEN 'subscribed' THEN 'Subscribed to ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'unsubscribed' THEN 'Unsubscribed from ' || coalesce(details ->> 'funnel', 'a funnel')
        WHEN 'payment_succeeded' THEN 'Payment of ' || coalesce(details ->> 'amount', '?') || coalesce(' ' || (details ->> 'currency'), '') || ' succeeded'
        WHEN 'payment_failed' THEN 'Payment failed' || coalesce(': ' || (details ->> 'error_code'), '')
        WHEN 'payment_confirmed' THEN 'Payment of ' || coalesce(details ->> 'amount', '?') || ' confirmed'
                                      || coalesce(' by manager ' || (details ->> 'confirmed_by'), '')
        WHEN 'task_created' THEN 'Task created: ' || coalesce(details ->> 'title', '')
        WHEN 'task_done' THEN 'Task done: ' || coalesce(details ->> 'title', '')
        WHEN 'task_rescheduled' THEN 'Task rescheduled to ' || coalesce(details ->> 'due_at', '?')
        WHEN 'order_created' THEN 'Order ' || coalesce(details ->> 'number', '') || ' created'
        WHEN 'order_status_changed' THEN 'Order ' || coalesce(details ->> 'number', '') || ': ' || coalesce(details ->> 'old', '?') || ' → ' || coalesce(details ->> 'new', '?')
        WHEN 'sales_plan_added' THEN 'Added to sales plan ' || coalesce(details ->> 'plan', '')
        WHEN 'webinar_viewed' THEN 'Watched webinar ' || coalesce(details ->> 'webinar', '')
        WHEN 'membership' THEN 'Joined group ' || coalesce(details ->> 'group', '')
        WHEN 'merged' THEN CASE WHEN details ->> 'role' = 'absorbed'
                                THEN 'Merged into contact ' || coalesce(details ->> 'survivor_id', '?')
                                ELSE 'Merged with contact ' || coalesce(details ->> 'absorbed_id', details ->> 'survivor_id', '?') END
        WHEN 'unmerged' THEN 'Merge ' || coalesce(details ->> 'merge_id', '') || ' undone'
        WHEN 'tag_added' THEN 'Tag added: ' || coalesce(details ->> 'tag', '')
        WHEN 'tag_removed' THEN 'Tag removed: ' || coalesce(details ->> 'tag', '')
        WHEN 'channel_created' THEN 'Channel created: ' || coalesce(details ->> 'kind', '')
        WHEN 'channel_deleted' THEN 'Channel deleted: ' || coalesce(details ->> 'kind', '')
        WHEN 'custom_field_set' THEN 'Field ' || coalesce(details ->> 'field', '') || coalesce(' set to "' || (details ->> 'new') || '"', ' cleared')
        WHEN 'field_changed' THEN
            CASE WHEN details ->> 'old' IS NULL AND details ->> 'new' IS NOT NULL
                      THEN 'Set ' || coalesce(details ->> 'field', 'a field') || ' to "' || (details ->> 'new') || '"'
                 WHEN details ->> 'new' IS NULL AND details ->> 'old' IS NOT NULL
                      THEN 'Removed ' || coalesce(details ->> 'field', 'a field') || ' "' || (details ->> 'old') || '"'
                 ELSE 'Changed ' || coalesce(details ->> 'field', 'a field') || coalesce(' from "' || (details ->> 'old') || '"', '')
                      || coalesce(' to "' || (details ->> 'new') || '"', '') END
        WHEN 'archived' THEN 'Archived'
        WHEN 'unarchived' THEN 'Unarchived'
        WHEN 'contact_created' THEN 'Contact created'
        WHEN 'contact_deleted' THEN 'Contact deleted'
        WHEN 'page_visited' THEN 'Visited ' || coalesce(details ->> 'url', 'a page')
        WHEN 'comment_added' THEN 'Comment added'
        WHEN 'crm_exported' THEN 'Exported to ' || coalesce(details ->> 'crm', 'another CRM')
        WHEN 'forgotten' THEN 'Personal data erased'
        WHEN 'row_added' THEN customercard.section_label(details ->> 'section') || ' added'
        WHEN 'row_deleted' THEN customercard.section_label(details ->> 'section') || ' deleted'
        WHEN 'row_changed' THEN customercard.section_label(details ->> 'section') || ' changed: '
             || customercard.describe_fields(details -> 'fields')
        ELSE event END
$$;
COMMENT ON FUNCTION customercard.describe_event(text, jsonb) IS 'A human description of an action log event';

CREATE VIEW customercard.card WITH (security_invoker = true) AS
SELECT c.contact_id,
       c.account_id,
       customercard.display_name(c.name, c.first_name, c.last_name, c.nickname) AS name,
       c.first_name, c.last_name, c.middle_name, c.nickname, c.avatar_url,
       -- the stated time zone, else the one the primary phone's prefix names
       c.gender, c.gender_source, coalesce(c.timezone, customercard.phone_timezone(f.phone)) AS timezone,
       c.country, c.city, c.status,
       f.phone,
       f.email,
       coalesce(f.tags, '{}') AS tags,
       coalesce(f.channels_count, 0) AS channels_count,
       c.manager_id,
       m.name AS manager_name,
       c.note,
       c.points,
       coalesce(f.total_paid, 0) AS total_paid,
       coalesce(f.orders_count, 0) AS orders_count,
       coalesce(f.sales_count, 0) AS sales_count,
       coalesce(f.open_tasks, 0) AS open_tasks,
       greatest(c.updated_at, f.last_at) AS last_activity,
       c.created_at,
       c.updated_at,
       coalesce(f.unread_messages, 0) AS unread_messages,
       -- the person's local time and UTC offset (GetCourse, JustClick), from their time zone
       pg_catalog.timezone(coalesce(c.timezone, customercard.phone_timezone(f.phone)), pg_catalog.now()) AS local_time,
       pg_catalog.timezone(coalesce(c.timezone, customercard.phone_timezone(f.phone)), pg_catalog.now())
           - pg_catalog.timezone('UTC', pg_catalog.now()) AS utc_offset,
       -- where the time zone came from: manual (stated), phone, or NULL (unknown)
       CASE WHEN c.timezone IS NOT NULL THEN 'manual'
            WHEN customercard.phone_timezone(f.phone) IS NOT NULL THEN 'phone' END AS timezone_source
  FROM customercard.contacts c
  LEFT JOIN customercard.managers m ON m.account_id = c.account_id AND m.manager_id = c.manager_id
  -- one row of figures per contact, from one UNION ALL of its rows in each
  -- table (a join to a sub-query per table plans several times slower)
  LEFT JOIN (
        SELECT x.account_id, x.contact_id,
               (array_agg(x.phone ORDER BY x.is_primary DESC, x.row_id) FILTER (WHERE x.kind = 'phone'))[1] AS phone,
               (array_agg(x.txt ORDER BY x.is_primary DESC, x.row_id) FILTER (WHERE x.kind = 'email'))[1] AS email,
               array_agg(x.txt ORDER BY x.txt) FILTER (WHERE x.kind = 'tag') AS tags,
               count(*) FILTER (WHERE x.kind = 'channel') AS channels_count,
               count(*) FILTER (WHERE x.kind = 'order') AS orders_count,
               count(*) FILTER (WHERE x.kind = 'order' AND x.is_primary) AS sales_count,
               sum(x.amount) FILTER (WHERE x.kind = 'paid') AS total_paid,
               count(*) FILTER (WHERE x.kind = 'task') AS open_tasks,
               max(x.at) FILTER (WHERE x.kind IN ('log', 'message')) AS last_at,
               count(*) FILTER (WHERE x.kind = 'message' AND x.is_primary) AS unread_messages
          FROM (
                SELECT 'phone' AS kind, p.account_id, p.contact_id, p.phone, NULL::text AS txt, p.is_primary,
                       p.phone_id AS row_id, NULL::numeric AS amount, NULL::timestamptz AS at
                  FROM customercard.phones p
                UNION ALL
                SELECT 'email', e.account_id, e.contact_id, NULL, e.email, e.is_primary, e.email_id, NULL, NULL
                  FROM customercard.emails e
                UNION ALL
                SELECT 'tag', ct.account_id, ct.contact_id, NULL, t.name, NULL, NULL, NULL, NULL
                  FROM customercard.contact_tags ct
                  JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
                UNION ALL
                SELECT 'channel', ch.account_id, ch.contact_id, NULL, NULL, NULL, NULL, NULL, NULL
                  FROM customercard.channels ch WHERE ch.archived_at IS NULL
                UNION ALL
                SELECT 'order', od.account_id, od.contact_id, NULL, NULL, od.status = 'paid', NULL, NULL, NULL
                  FROM customercard.orders od WHERE NOT od.is_false
                UNION ALL
                SELECT 'paid', py.account_id, py.contact_id, NULL, NULL, NULL, NULL, py.amount, NULL
                  FROM customercard.payments py
                  JOIN customercard.orders po ON po.account_id = py.account_id AND po.order_id = py.order_id
                  JOIN customercard.accounts a ON a.account_id = py.account_id AND a.currency = po.currency
                 WHERE py.status = 'succeeded' AND NOT po.is_false
                UNION ALL
                SELECT 'task', tk.account_id, tk.contact_id, NULL, NULL, NULL, NULL, NULL, NULL
                  FROM customercard.tasks tk WHERE tk.status = 'open'
                UNION ALL
                SELECT 'log', l.account_id, l.contact_id, NULL, NULL, NULL, NULL, NULL, l.at
                  FROM customercard.action_log l
                UNION ALL
                SELECT 'message', ms.account_id, ms.contact_id, NULL, NULL, ms.direction = 'in' AND ms.read_at IS NULL,
                       NULL, NULL, ms.sent_at
                  FROM customercard.messages ms
               ) x
         WHERE x.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())])
         GROUP BY x.account_id, x.contact_id
       ) f ON f.account_id = c.account_id AND f.contact_id = c.contact_id
 WHERE c.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())])
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card IS
    'One row per live contact: general information, primary phone and e-mail, tags, channels, manager, note, points, money paid in the account currency, orders, sales, open tasks, last activity (changes and messages), unread messages';

-- The quick card (Leeloo's compact card beside a chat): what a manager sees
-- at a glance, each part a lookup by the contact's key, so that it costs
-- well under a millisecond (bench/audience.sh).
CREATE VIEW customercard.card_quick WITH (security_invoker = true) AS
SELECT c.contact_id,
       -- the contact's picture, else the newest of its messengers'
       coalesce(c.avatar_url,
                (SELECT ch.avatar_url FROM customercard.channels ch
                  WHERE ch.account_id = c.account_id AND ch.contact_id = c.contact_id AND ch.avatar_url IS NOT NULL
                  ORDER BY ch.archived_at IS NULL DESC, ch.updated_at DESC, ch.channel_id DESC LIMIT 1)) AS avatar_url,
       customercard.display_name(c.name, c.first_name, c.last_name, c.nickname) AS name,
       ARRAY(SELECT t.name FROM customercard.contact_tags ct
               JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
              WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id ORDER BY t.name) AS tags,
       -- the primary phone and e-mail, as the card shows them
       (SELECT p.phone FROM customercard.phones p WHERE p.account_id = c.account_id AND p.contact_id = c.contact_id
         ORDER BY p.is_primary DESC, p.phone_id LIMIT 1) AS phone,
       (SELECT e.email FROM customercard.emails e WHERE e.account_id = c.account_id AND e.contact_id = c.contact_id
         ORDER BY e.is_primary DESC, e.email_id LIMIT 1) AS email,
       coalesce((SELECT jsonb_agg(jsonb_build_object('task_id', tk.task_id, 'title', tk.title, 'due_at', tk.due_at,
                                                     'manager_id', tk.manager_id)
                                  ORDER BY tk.due_at NULLS LAST, tk.task_id)
                   FROM customercard.tasks tk
                  WHERE tk.account_id = c.account_id AND tk.contact_id = c.contact_id AND tk.status = 'open'), '[]') AS open_tasks,
       coalesce((SELECT jsonb_object_agg(f.name, cv.value)
                   FROM customercard.custom_values cv
                   JOIN customercard.custom_fields f ON f.account_id = cv.account_id AND f.field_id = cv.field_id
                  WHERE cv.account_id = c.account_id AND cv.contact_id = c.contact_id), '{}') AS custom,
       -- the latest three comments, newest first, each cut to 240 characters
       coalesce((SELECT jsonb_agg(jsonb_build_object('author', cm.author, 'created_at', cm.created_at,
                                                     'body', left(cm.body, 240), 'cut', length(cm.body) > 240)
                                  ORDER BY cm.created_at DESC, cm.comment_id DESC)
                   FROM (SELECT * FROM customercard.comments k
                          WHERE k.account_id = c.account_id AND k.contact_id = c.contact_id
                          ORDER BY k.created_at DESC, k.comment_id DESC LIMIT 3) cm), '[]') AS comments
  FROM customercard.contacts c
 WHERE c.account_id = (SELECT customercard.current_account_id())
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card_quick IS
    'The quick card beside a chat: avatar, name, tags, primary phone and e-mail, open tasks, custom fields, the latest three comments cut to 240 characters';

CREATE VIEW customercard.card_channels WITH (security_invoker = true) AS
SELECT ch.contact_id, ch.channel_id, ch.kind, ch.connection, ch.external_id, ch.username,
       ch.subscribed_at, ch.archived_at, ch.archived_at IS NULL AS is_active, ch.created_at, ch.avatar_url,
       ch.account_id
  FROM customercard.channels ch
 WHERE ch.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_channels IS 'Messenger, e-mail and SMS channels of each contact';

-- the current state: the latest period of each funnel, channel and LGT
-- (the open one, if any)
CREATE VIEW customercard.card_subscriptions WITH (security_invoker = true) AS
SELECT s.contact_id, s.subscription_id, s.funnel_id, f.name AS funnel, s.lgt_id, l.name AS lgt,
       s.channel_id, ch.kind AS channel_kind, b.name AS block,
       s.subscribed_at, s.unsubscribed_at, s.unsubscribed_at IS NULL AS is_active, s.source,
       s.account_id
  FROM (SELECT DISTINCT ON (x.account_id, x.contact_id, x.funnel_id, x.channel_id, x.lgt_id)
               x.account_id, x.contact_id, x.subscription_id, x.funnel_id, x.lgt_id, x.channel_id, x.block_id,
               x.subscribed_at, x.unsubscribed_at, x.source
          FROM customercard.subscriptions x
         WHERE x.account_id = (SELECT customercard.current_account_id())
         ORDER BY x.account_id, x.contact_id, x.funnel_id, x.channel_id, x.lgt_id,
                  x.unsubscribed_at IS NULL DESC, x.subscribed_at DESC, x.subscription_id DESC) s
  JOIN customercard.funnels f ON f.account_id = s.account_id AND f.funnel_id = s.funnel_id
  LEFT JOIN customercard.lgts l ON l.account_id = s.account_id AND l.lgt_id = s.lgt_id
  LEFT JOIN customercard.channels ch ON ch.account_id = s.account_id AND ch.channel_id = s.channel_id
  LEFT JOIN customercard.funnel_blocks b ON b.account_id = s.account_id AND b.block_id = s.block_id;
COMMENT ON VIEW customercard.card_subscriptions IS
    'Funnel subscriptions of each contact as they are now: the latest period of each funnel, channel and LGT, with its current block';

-- every period (Leeloo's "history of LGT subscriptions in the chosen
-- funnel"; filter by connection for "choose a connection to view its
-- history"): period counts the periods of the same funnel, channel and LGT
CREATE VIEW customercard.card_subscription_history WITH (security_invoker = true) AS
SELECT s.contact_id, s.subscription_id, s.funnel_id, f.name AS funnel, s.lgt_id, l.name AS lgt,
       s.channel_id, ch.kind AS channel_kind, ch.connection,
       pg_catalog.row_number() OVER (PARTITION BY s.account_id, s.contact_id, s.funnel_id, s.channel_id, s.lgt_id
                                     ORDER BY s.subscribed_at, s.subscription_id) AS period,
       s.subscribed_at, s.unsubscribed_at, s.unsubscribed_at IS NULL AS is_active, s.source,
       s.account_id
  FROM customercard.subscriptions s
  JOIN customercard.funnels f ON f.account_id = s.account_id AND f.funnel_id = s.funnel_id
  LEFT JOIN customercard.lgts l ON l.account_id = s.account_id AND l.lgt_id = s.lgt_id
  LEFT JOIN customercard.channels ch ON ch.account_id = s.account_id AND ch.channel_id = s.channel_id
 WHERE s.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_subscription_history IS
    'Every subscription period of each contact, ended ones too: funnel, LGT, channel and its connection, the period''s number';

CREATE VIEW customercard.card_orders WITH (security_invoker = true) AS
SELECT o.contact_id, o.order_id, o.number, o.offer, o.products, o.amount, o.currency, o.status,
       coalesce(sum(py.amount) FILTER (WHERE py.status = 'succeeded'), 0) AS paid_amount,
       count(py.payment_id) FILTER (WHERE py.status = 'failed') AS failed_payments,
       o.is_manual, o.is_recurring, o.payment_error_code, o.manager_id, m.name AS manager,
       o.utm_source, o.utm_medium, o.utm_campaign, o.utm_content, o.utm_term,
       o.created_at, o.paid_at,
       o.next_charge_at, o.recurring_stopped_at,
       o.status NOT IN ('paid', 'refunded', 'cancelled') AS is_active,
       o.account_id,
       pt.partner
  FROM customercard.orders o
  LEFT JOIN customercard.managers m ON m.account_id = o.account_id AND m.manager_id = o.manager_id
  LEFT JOIN customercard.payments py ON py.account_id = o.account_id AND py.order_id = o.order_id
  -- the partner's login (the recipients of the order's partner payouts),
  -- aggregated per order with the order's contact, so that a card's
  -- contact reaches into it: without the contact, card_json's generic plan
  -- aggregated all the account's payouts (0.36 s a card at 1M); as a
  -- sub-select or a lateral join, Citus sent it to every shard
  LEFT JOIN (SELECT x.account_id, x.order_id, xo.contact_id, string_agg(DISTINCT x.recipient, ', ') AS partner
               FROM customercard.payouts x
               JOIN customercard.orders xo ON xo.account_id = x.account_id AND xo.order_id = x.order_id
              WHERE x.kind = 'partner' AND x.recipient IS NOT NULL
              GROUP BY x.account_id, x.order_id, xo.contact_id) pt
         ON pt.account_id = o.account_id AND pt.order_id = o.order_id AND pt.contact_id = o.contact_id
 WHERE o.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]) AND NOT o.is_false
 GROUP BY o.account_id, o.contact_id, o.order_id, m.account_id, m.manager_id, pt.partner;
COMMENT ON VIEW customercard.card_orders IS
    'Orders of each contact with what was paid on them; is_active: not paid, refunded or cancelled yet (the active orders block); partner: the login of the partner paid for it (0.3); false orders left out';

CREATE VIEW customercard.card_finance WITH (security_invoker = true) AS
SELECT contact_id, currency,
       sum(amount) AS invoiced,
       coalesce(sum(greatest(amount - paid, 0)) FILTER (WHERE status IN ('new', 'pending')), 0) AS expected,
       coalesce(sum(greatest(amount - paid, 0)) FILTER (WHERE status = 'confirmed'), 0) AS confirmed,
       sum(paid) AS paid,
       sum(refund) AS refunds,
       sum(expense) AS expenses,
       sum(paid) - sum(expense) AS income,
       sum(partner) AS partner_payouts,
       sum(call_centre) AS call_centre_payouts,
       sum(co_author) AS co_author_payouts,
       sum(paid) - sum(expense) - sum(refund) - sum(partner) - sum(call_centre) - sum(co_author) AS profit,
       count(*) AS orders_count,
       account_id
  FROM (
        SELECT po.account_id, po.contact_id, po.order_id, po.currency, po.status, po.amount, po.paid,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'partner'), 0) AS partner,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'call_centre'), 0) AS call_centre,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'co_author'), 0) AS co_author,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'expense'), 0) AS expense,
               coalesce(sum(x.amount) FILTER (WHERE x.kind = 'refund'), 0) AS refund
          FROM (
                SELECT o.account_id, o.contact_id, o.order_id, o.currency, o.status, o.amount,
                       coalesce(sum(py.amount) FILTER (WHERE py.status = 'succeeded'), 0) AS paid
                  FROM customercard.orders o
                  LEFT JOIN customercard.payments py ON py.account_id = o.account_id AND py.order_id = o.order_id
                 WHERE o.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]) AND NOT o.is_false
                 GROUP BY o.account_id, o.contact_id, o.order_id
               ) po
          LEFT JOIN customercard.payouts x ON x.account_id = po.account_id AND x.order_id = po.order_id
         GROUP BY po.account_id, po.contact_id, po.order_id, po.currency, po.status, po.amount, po.paid
       ) per_order
 GROUP BY contact_id, currency, account_id;
COMMENT ON VIEW customercard.card_finance IS
    'Money per contact and currency (JustClick''s figures), each sum counted once: invoiced (every order, any status), expected (what new/pending orders still wait for), confirmed (what confirmed orders still wait for), paid, refunds, expenses, income = paid - expenses, payouts, profit = income - partner, call-centre and co-author payouts - refunds; false orders left out';

CREATE VIEW customercard.card_sales_plans WITH (security_invoker = true) AS
SELECT sm.contact_id, sm.plan_id, sp.name AS plan, sm.status, sm.amount, sm.manager_id, m.name AS manager,
       sm.manager_pinned, sm.added_at, sm.updated_at,
       sm.account_id
  FROM customercard.sales_plan_members sm
  JOIN customercard.sales_plans sp ON sp.account_id = sm.account_id AND sp.plan_id = sm.plan_id
  LEFT JOIN customercard.managers m ON m.account_id = sm.account_id AND m.manager_id = sm.manager_id
 WHERE sm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_sales_plans IS 'Sales plans each contact is in';

CREATE VIEW customercard.card_tasks WITH (security_invoker = true) AS
SELECT t.contact_id, t.task_id, t.title, t.description, t.due_at, t.status,
       t.status = 'open' AS is_current,
       t.status = 'open' AND t.due_at < now() AS is_overdue,
       t.reschedules, t.manager_id, m.name AS manager, t.created_at, t.done_at, t.order_id,
       t.account_id
  FROM customercard.tasks t
  LEFT JOIN customercard.managers m ON m.account_id = t.account_id AND m.manager_id = t.manager_id
 WHERE t.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_tasks IS 'Tasks of each contact, current (open) and past';

CREATE VIEW customercard.card_calls WITH (security_invoker = true) AS
SELECT cl.contact_id, cl.call_id, cl.started_at, cl.direction, cl.duration_s, cl.result, cl.reason,
       cl.manager_id, m.name AS manager, cl.recording_url, cl.order_id,
       cl.account_id
  FROM customercard.calls cl
  LEFT JOIN customercard.managers m ON m.account_id = cl.account_id AND m.manager_id = cl.manager_id
 WHERE cl.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_calls IS 'Calls with each contact';

-- JustClick's calls by invoice: each call about an order, with the order.
CREATE VIEW customercard.card_order_calls WITH (security_invoker = true) AS
SELECT cl.contact_id, cl.order_id, o.number AS order_number, o.products, o.status AS order_status,
       cl.call_id, cl.started_at, cl.direction, cl.duration_s, cl.result, cl.reason AS comment,
       cl.manager_id, m.name AS responsible,
       cl.account_id
  FROM customercard.calls cl
  JOIN customercard.orders o ON o.account_id = cl.account_id AND o.order_id = cl.order_id
  LEFT JOIN customercard.managers m ON m.account_id = cl.account_id AND m.manager_id = cl.manager_id
 WHERE cl.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_order_calls IS
    'Calls about an order (JustClick''s calls by invoice): order number, products, status, the call''s result and comment, the responsible manager';

-- Registrations with their visits: a row per viewing interval (0.1's
-- columns first), with its webinar's times and the person's registration,
-- and a row per registration without a visit (no interval; attended as the
-- writer said).  "Registered for but not attended": registered AND NOT
-- attended.
CREATE VIEW customercard.card_webinars WITH (security_invoker = true) AS
SELECT v.contact_id, v.visit_id, v.webinar, v.launch, v.joined_at, v.left_at,
       coalesce(v.watched_s, extract(epoch FROM v.left_at - v.joined_at)::integer) AS watched_s,
       v.chat_messages, v.visitor_id,
       v.webinar_id, w.starts_at, w.ends_at, r.registered_at, r.registered_at IS NOT NULL AS registered,
       true AS attended, v.chat,
       v.account_id
  FROM customercard.webinar_visits v
  JOIN customercard.webinars w ON w.account_id = v.account_id AND w.webinar_id = v.webinar_id
  LEFT JOIN customercard.webinar_registrations r
         ON r.account_id = v.account_id AND r.webinar_id = v.webinar_id AND r.contact_id = v.contact_id
 WHERE v.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT r.contact_id, NULL, w.name, w.launch, NULL, NULL, NULL, NULL, NULL,
       r.webinar_id, w.starts_at, w.ends_at, r.registered_at, true, r.attended, NULL,
       r.account_id
  FROM customercard.webinar_registrations r
  JOIN customercard.webinars w ON w.account_id = r.account_id AND w.webinar_id = r.webinar_id
 WHERE r.account_id = (SELECT customercard.current_account_id())
   AND NOT EXISTS (SELECT 1 FROM customercard.webinar_visits v
                    WHERE v.account_id = r.account_id AND v.webinar_id = r.webinar_id AND v.contact_id = r.contact_id);
COMMENT ON VIEW customercard.card_webinars IS
    'Webinars of each contact: every viewing interval with its chat texts, the webinar''s times and the registration, and registrations without a visit';

-- the webinars the person registered for: when they take place, whether
-- the person came, how many viewing intervals
CREATE VIEW customercard.card_webinar_registrations WITH (security_invoker = true) AS
SELECT r.contact_id, r.webinar_id, w.name AS webinar, w.launch, w.starts_at, w.ends_at, r.registered_at, r.attended,
       coalesce(x.visits, 0) AS visits,
       r.account_id
  FROM customercard.webinar_registrations r
  JOIN customercard.webinars w ON w.account_id = r.account_id AND w.webinar_id = r.webinar_id
  -- joined by account and contact, not correlated: on Citus the card's
  -- statement stays on the account's shards
  LEFT JOIN (SELECT v.account_id, v.contact_id, v.webinar_id, count(*) AS visits FROM customercard.webinar_visits v
              GROUP BY v.account_id, v.contact_id, v.webinar_id) x
         ON x.account_id = r.account_id AND x.contact_id = r.contact_id AND x.webinar_id = r.webinar_id
 WHERE r.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_webinar_registrations IS 'Webinar registrations of each contact: the webinar, when it takes place, attended or not';

CREATE VIEW customercard.card_comments WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.comment_id, cm.author, cm.body, cm.attachments, cm.created_at, cm.order_id,
       cm.account_id
  FROM customercard.comments cm
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_comments IS 'Comments on each contact';

CREATE VIEW customercard.card_log WITH (security_invoker = true) AS
SELECT l.contact_id, l.log_id, l.at,
       (l.at AT TIME ZONE current_setting('TimeZone'))::date AS date,
       (l.at AT TIME ZONE current_setting('TimeZone'))::time(0) AS time,
       customercard.describe_event(l.event, l.details) AS description,
       l.event, l.actor, l.details,
       l.account_id
  FROM customercard.action_log l
 WHERE l.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_log IS 'The action log of each contact: date, time, description, event kind, actor';

-- Which tables carry a browser visitor id (a cookie) is read from the
-- catalog: every card section with a visitor_id column.  From them this
-- writes contact_visitors (the visitor ids seen with each contact) and
-- contact_key_hits (below), so that a section given a visitor id joins
-- related contacts and duplicates without another list to keep.
CREATE FUNCTION customercard.visitor_tables() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(array_agg(s.tbl ORDER BY s.ord), '{}')
      FROM customercard.section_declarations() WITH ORDINALITY s (tbl, label, decl, ord)
     WHERE EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = ('customercard.' || quote_ident(s.tbl))::regclass
                      AND a.attname = 'visitor_id' AND NOT a.attisdropped)
$$;
COMMENT ON FUNCTION customercard.visitor_tables() IS
    'The card sections that carry a browser visitor id (a visitor_id column): contact_visitors and contact_key_hits read them';

-- The contact's own keys first (a few rows), then one index probe per key,
-- so the cost follows the contact's keys, not the account's size:
-- contact_key_hits(acct, id) gives one row per (other live contact, key
-- kind, key value) shared with a live contact id of account acct.
CREATE FUNCTION customercard.generate_visitor_lookups() RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $generate$
DECLARE
    tables constant text[] := customercard.visitor_tables();
BEGIN
    EXECUTE 'CREATE OR REPLACE VIEW customercard.contact_visitors WITH (security_invoker = true) AS '
         || (SELECT string_agg(format('SELECT account_id, contact_id, visitor_id FROM customercard.%I WHERE visitor_id IS NOT NULL', t),
                               E'\nUNION ALL ' ORDER BY o)
               FROM unnest(tables) WITH ORDINALITY u (t, o));
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION customercard.contact_key_hits(acct bigint, id bigint)
RETURNS TABLE (related_id bigint, kind text, value text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $body$
BEGIN
    RETURN QUERY
    -- Join conditions are plain column equalities (or the leakproof
    -- email_key), so that under row-level security they stay index conditions.
    -- (phones keep their type, so that the probe is an index condition)
    WITH keys AS MATERIALIZED (
        SELECT 'phone' AS kind, p.phone::text AS value, NULL::text AS channel_kind, p.phone FROM customercard.phones p
         WHERE p.account_id = acct AND p.contact_id = id
        UNION SELECT 'email', customercard.email_key(e.email), NULL, NULL FROM customercard.emails e
         WHERE e.account_id = acct AND e.contact_id = id
        UNION SELECT 'external_id', c.external_id, c.kind, NULL FROM customercard.channels c
         WHERE c.account_id = acct AND c.contact_id = id
        UNION SELECT 'visitor_id', v.visitor_id, NULL, NULL FROM customercard.contact_visitors v
         WHERE v.account_id = acct AND v.contact_id = id
    ), hits AS (
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.phones b
            ON b.account_id = acct AND b.phone OPERATOR(customercard.=) k.phone WHERE k.kind = 'phone'
        UNION ALL
        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.emails b
            ON b.account_id = acct AND customercard.email_key(b.email) = k.value WHERE k.kind = 'email'
        UNION ALL
        SELECT b.contact_id, k.kind, k.channel_kind || ':' || k.value FROM keys k JOIN customercard.channels b
            ON b.account_id = acct AND b.external_id = k.value AND b.kind = k.channel_kind
         WHERE k.kind = 'external_id'
        -- each visitor table probed by its own index (a join cannot reach into a UNION ALL view's branches)
        %s
    )
    SELECT DISTINCT h.contact_id, h.kind, h.value
      FROM hits h
      JOIN customercard.contacts r ON r.account_id = acct AND r.contact_id = h.contact_id
     WHERE h.contact_id <> id AND r.merged_into IS NULL AND r.deleted_at IS NULL;
END
$body$
$f$, (SELECT string_agg(format(
          E'UNION ALL\n        SELECT b.contact_id, k.kind, k.value FROM keys k JOIN customercard.%I b\n'
          '            ON b.account_id = acct AND b.visitor_id = k.value WHERE k.kind = ''visitor_id''', t),
          E'\n        ' ORDER BY o)
        FROM unnest(tables) WITH ORDINALITY u (t, o)));
END
$generate$;
COMMENT ON FUNCTION customercard.generate_visitor_lookups() IS
    'Write contact_visitors and contact_key_hits() over visitor_tables(); called by the install script and by regenerate()';
SELECT customercard.generate_visitor_lookups();
COMMENT ON VIEW customercard.contact_visitors IS 'Browser visitor ids (cookies) seen with each contact, from every source that has one';

CREATE FUNCTION customercard.related_contacts(contact_id bigint)
RETURNS TABLE (related_id bigint, shared text[], shared_values text[], name text, email text, phone customercard.phone, city text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.current_account_id();
    id constant bigint := customercard.resolve_contact(related_contacts.contact_id);
    h record;
BEGIN
    -- who they are, one lookup each by key (the account a variable: on Citus
    -- each is a query of the account's shards, none nested in another)
    FOR h IN SELECT x.related_id, array_agg(DISTINCT x.kind ORDER BY x.kind) AS shared,
                    array_agg(DISTINCT x.value ORDER BY x.value) AS shared_values
               FROM customercard.contact_key_hits(acct, id) x
              GROUP BY x.related_id ORDER BY x.related_id LOOP
        related_id := h.related_id;
        shared := h.shared;
        shared_values := h.shared_values;
        SELECT customercard.display_name(k.name, k.first_name, k.last_name, k.nickname), k.city INTO name, city
          FROM customercard.contacts k WHERE k.account_id = acct AND k.contact_id = h.related_id;
        SELECT x.email INTO email FROM customercard.emails x WHERE x.account_id = acct AND x.contact_id = h.related_id
         ORDER BY x.is_primary DESC, x.email_id LIMIT 1;
        SELECT x.phone INTO phone FROM customercard.phones x WHERE x.account_id = acct AND x.contact_id = h.related_id
         ORDER BY x.is_primary DESC, x.phone_id LIMIT 1;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customercard.related_contacts(bigint) IS
    'Other live contacts of the current account sharing a phone, an e-mail, a channel external id or a visitor id with the contact (a merged id resolves to its survivor), with what they share and who they are: name, primary e-mail and phone, city';

CREATE VIEW customercard.card_related WITH (security_invoker = true) AS
SELECT c.contact_id, r.related_id, r.shared, r.shared_values, r.name, r.email, r.phone, r.city
  FROM customercard.contacts c
 CROSS JOIN LATERAL customercard.related_contacts(c.contact_id) r
 WHERE c.account_id = (SELECT customercard.current_account_id())
   AND c.merged_into IS NULL AND c.deleted_at IS NULL;
COMMENT ON VIEW customercard.card_related IS
    'Other live contacts of the account that share a phone, an e-mail, a channel external id or a visitor id with each contact, with their name, e-mail, phone and city';

-- What is ahead for the person (Leeloo's log shows when an action will be
-- done): open tasks by due time, call-backs of call campaigns, the next
-- charges of recurring orders, and bulk jobs queued or running that have
-- the contact still to do.
CREATE VIEW customercard.card_upcoming WITH (security_invoker = true) AS
SELECT t.contact_id, 'task' AS kind, t.due_at AS at, t.title AS what, t.task_id AS ref_id, t.manager_id, t.account_id
  FROM customercard.tasks t
 WHERE t.account_id = (SELECT customercard.current_account_id()) AND t.status = 'open' AND t.due_at IS NOT NULL
UNION ALL
SELECT m.contact_id, 'call_back', m.call_back_at, cc.name, m.campaign_id, m.manager_id, m.account_id
  FROM customercard.call_campaign_members m
  JOIN customercard.call_campaigns cc ON cc.account_id = m.account_id AND cc.campaign_id = m.campaign_id
 WHERE m.account_id = (SELECT customercard.current_account_id()) AND m.call_back_at IS NOT NULL
   AND m.status IN ('pending', 'call_back')
UNION ALL
SELECT o.contact_id, 'recurring_charge', o.next_charge_at, concat_ws(' ', o.number, o.offer), o.order_id, o.manager_id, o.account_id
  FROM customercard.orders o
 WHERE o.account_id = (SELECT customercard.current_account_id()) AND o.next_charge_at IS NOT NULL
   AND o.recurring_stopped_at IS NULL AND NOT o.is_false
UNION ALL
SELECT i.contact_id, 'bulk_job', greatest(j.run_at, j.created_at), j.action, j.job_id, NULL::bigint, i.account_id
  FROM customercard.bulk_jobs j
  JOIN customercard.bulk_job_items i ON i.account_id = j.account_id AND i.job_id = j.job_id
 WHERE j.account_id = (SELECT customercard.current_account_id()) AND j.status IN ('queued', 'running');
COMMENT ON VIEW customercard.card_upcoming IS
    'What is ahead for each contact: open tasks by due time, call-backs, next recurring charges, bulk jobs queued or running that include the contact';

-- the balance ledger row by row, with the order that earned or spent them
CREATE VIEW customercard.card_balance_ledger WITH (security_invoker = true) AS
SELECT b.contact_id, b.transaction_id, b.currency, b.amount, b.reason, b.actor, b.at, b.order_id, o.number AS order_number,
       b.account_id
  FROM customercard.balance_transactions b
  LEFT JOIN customercard.orders o ON o.account_id = b.account_id AND o.order_id = b.order_id
 WHERE b.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_balance_ledger IS 'The balance ledger of each contact, each row with the order that earned or spent it';

CREATE VIEW customercard.card_merges WITH (security_invoker = true) AS
SELECT mg.survivor_id AS contact_id, mg.merge_id, 'survivor' AS role, mg.absorbed_id AS other_contact_id,
       mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by, mg.account_id
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id())
UNION ALL
SELECT mg.absorbed_id, mg.merge_id, 'absorbed', mg.survivor_id, mg.merged_at, mg.merged_by, mg.undone_at, mg.undone_by, mg.account_id
  FROM customercard.merges mg WHERE mg.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_merges IS 'Merges each contact took part in, as survivor or absorbed';

CREATE VIEW customercard.card_visits WITH (security_invoker = true) AS
SELECT v.contact_id, v.visit_id, v.visitor_id, v.url, v.title, v.referrer,
       v.utm_source, v.utm_medium, v.utm_campaign, v.utm_content, v.utm_term, v.visited_at,
       v.account_id
  FROM customercard.page_visits v
 WHERE v.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_visits IS 'Page visits of each contact';

CREATE VIEW customercard.card_clicks WITH (security_invoker = true) AS
SELECT k.contact_id, k.click_id, k.visitor_id, k.url, k.utm_source, k.utm_campaign, k.utm_ad, k.utm_keys, k.clicked_at,
       k.partner,
       k.account_id
  FROM customercard.clicks k
 WHERE k.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_clicks IS 'Link clicks of each contact with their UTM marks and the partner''s mark';

CREATE VIEW customercard.card_emails WITH (security_invoker = true) AS
SELECT es.contact_id, es.email_sent_id, es.kind, es.subject, es.sent_at, es.opened_at, es.clicked_at,
       es.unsubscribed_at, es.spam_at,
       CASE WHEN es.spam_at IS NOT NULL THEN 'spam'
            WHEN es.unsubscribed_at IS NOT NULL THEN 'unsubscribed'
            WHEN es.clicked_at IS NOT NULL THEN 'clicked'
            WHEN es.opened_at IS NOT NULL THEN 'opened'
            ELSE 'sent' END AS outcome,
       es.visitor_id,
       es.group_id, g.name AS "group", es.letter_number, es.letter_name, es.instant_number, es.chain_actions,
       es.account_id
  FROM customercard.emails_sent es
  LEFT JOIN customercard.groups g ON g.account_id = es.account_id AND g.group_id = es.group_id
 WHERE es.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_emails IS 'E-mails sent to each contact and what they did with them';

CREATE VIEW customercard.card_groups WITH (security_invoker = true) AS
SELECT gm.contact_id, gm.group_id, g.name AS "group", gm.joined_at, gm.partner, gm.tag,
       gm.utm_source, gm.utm_medium, gm.utm_campaign, gm.visitor_id,
       gm.status, gm.left_at, gm.utm_ad, gm.utm_keys, g.is_automatic,
       gm.account_id
  FROM customercard.group_members gm
  JOIN customercard.groups g ON g.account_id = gm.account_id AND g.group_id = gm.group_id
 WHERE gm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_groups IS 'Groups each contact joined, with partner, tag and UTM of joining';

CREATE VIEW customercard.card_balance WITH (security_invoker = true) AS
SELECT bt.contact_id, bt.currency, sum(bt.amount) AS balance, count(*) AS transactions, max(bt.at) AS last_change_at,
       bt.account_id
  FROM customercard.balance_transactions bt
 WHERE bt.account_id = (SELECT customercard.current_account_id())
 GROUP BY bt.contact_id, bt.currency, bt.account_id;
COMMENT ON VIEW customercard.card_balance IS 'Internal balances of each contact per currency (bonus, coins, deposit, points)';

CREATE VIEW customercard.card_tags WITH (security_invoker = true) AS
SELECT ct.contact_id, ct.tag_id, t.name AS tag, ct.added_at, ct.added_by,
       ct.account_id
  FROM customercard.contact_tags ct
  JOIN customercard.tags t ON t.account_id = ct.account_id AND t.tag_id = ct.tag_id
 WHERE ct.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_tags IS 'Tags of each contact, with when and by whom';

CREATE VIEW customercard.card_custom_values WITH (security_invoker = true) AS
SELECT cv.contact_id, cv.field_id, f.name AS field, f.kind, cv.value, cv.updated_at,
       cv.account_id
  FROM customercard.custom_values cv
  JOIN customercard.custom_fields f ON f.account_id = cv.account_id AND f.field_id = cv.field_id
 WHERE cv.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_custom_values IS 'Custom field values of each contact, by field name';

CREATE VIEW customercard.card_payments WITH (security_invoker = true) AS
SELECT py.contact_id, py.payment_id, py.order_id, o.number AS order_number, py.amount, o.currency, py.status,
       py.method, py.error_code, py.is_manual, py.confirmed_by, m.name AS confirmed_by_manager, py.confirmed_at,
       py.manager_id, pm.name AS manager, py.created_at,
       py.account_id
  FROM customercard.payments py
  JOIN customercard.orders o ON o.account_id = py.account_id AND o.order_id = py.order_id
  LEFT JOIN customercard.managers m ON m.account_id = py.account_id AND m.manager_id = py.confirmed_by
  LEFT JOIN customercard.managers pm ON pm.account_id = py.account_id AND pm.manager_id = py.manager_id
 WHERE py.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_payments IS 'Payment attempts of each contact: order, amount, succeeded, failed with the error or pending (a manual one not confirmed yet), who confirmed it when, the manager pinned to it';

CREATE VIEW customercard.card_messages WITH (security_invoker = true) AS
SELECT ms.contact_id, ms.message_id, ms.thread, ms.channel_id, ch.kind AS channel_kind, ch.connection,
       ms.direction, ms.body, ms.attachments, ms.author, ms.sent_at, ms.read_at,
       ms.direction = 'in' AND ms.read_at IS NULL AS is_unread,
       ms.account_id
  FROM customercard.messages ms
  LEFT JOIN customercard.channels ch ON ch.account_id = ms.account_id AND ch.channel_id = ms.channel_id
 WHERE ms.account_id = ANY (ARRAY[(SELECT customercard.current_account_id())]);
COMMENT ON VIEW customercard.card_messages IS
    'Dialog messages of each contact with their thread and channel: direction, body, attachments, author, sent and read, unread incoming ones marked';

CREATE VIEW customercard.card_call_campaigns WITH (security_invoker = true) AS
SELECT cm.contact_id, cm.campaign_id, cc.name AS campaign, cm.included_at, cm.call_back_at, cm.status,
       cm.comment, cm.manager_id, m.name AS manager,
       cm.account_id
  FROM customercard.call_campaign_members cm
  JOIN customercard.call_campaigns cc ON cc.account_id = cm.account_id AND cc.campaign_id = cm.campaign_id
  LEFT JOIN customercard.managers m ON m.account_id = cm.account_id AND m.manager_id = cm.manager_id
 WHERE cm.account_id = (SELECT customercard.current_account_id());
COMMENT ON VIEW customercard.card_call_campaigns IS 'Call campaigns each contact is in: when to call back, status, comment, manager';

CREATE FUNCTION customercard.contact_log(contact_id bigint, events text[] DEFAULT NULL,
                                         since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
                                         order_id bigint DEFAULT NULL)
RETURNS SETOF customercard.card_log
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.current_account_id();
    -- resolved first: inside the query Citus would send it to the shards
    cid constant bigint := customercard.resolve_contact(contact_log.contact_id);
    -- one order's events (GetCourse): the order's own, and those of its
    -- payments, calls, tasks and comments, by their keys
    oid_text constant text := contact_log.order_id::text;
    payment_ids text[];
    call_ids text[];
    task_ids text[];
    comment_ids text[];
BEGIN
    IF contact_log.order_id IS NOT NULL THEN
        payment_ids := ARRAY(SELECT x.payment_id::text FROM customercard.payments x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        call_ids := ARRAY(SELECT x.call_id::text FROM customercard.calls x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        task_ids := ARRAY(SELECT x.task_id::text FROM customercard.tasks x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
        comment_ids := ARRAY(SELECT x.comment_id::text FROM customercard.comments x WHERE x.account_id = acct AND x.order_id = contact_log.order_id);
    END IF;
    -- PL/pgSQL, not SQL: Citus plans no SQL function with parameters
    RETURN QUERY
    SELECT l.* FROM customercard.card_log l
     WHERE l.contact_id = cid
       AND (contact_log.events IS NULL OR l.event = ANY (contact_log.events))
       AND (contact_log.since IS NULL OR l.at >= contact_log.since)
       AND (contact_log.until IS NULL OR l.at < contact_log.until)
       -- (a specific event names its row's id at the top; row_* events in "key", and the row in "row")
       AND (oid_text IS NULL
            OR l.details ->> 'order_id' = oid_text OR l.details -> 'row' ->> 'order_id' = oid_text
            OR l.details -> 'key' ->> 'order_id' = oid_text
            OR coalesce(l.details -> 'key', l.details) ->> 'payment_id' = ANY (payment_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'call_id' = ANY (call_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'task_id' = ANY (task_ids)
            OR coalesce(l.details -> 'key', l.details) ->> 'comment_id' = ANY (comment_ids))
     ORDER BY l.at DESC, l.log_id DESC;
END
$$;
COMMENT ON FUNCTION customercard.contact_log(bigint, text[], timestamptz, timestamptz, bigint) IS
    'The action log of a contact, newest first, optionally only some event kinds, a period [since, until), and one order''s events (its own, its payments'', calls'', tasks'' and comments'')';
