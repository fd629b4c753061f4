-- ===================================================================
-- demo_data.sql: a deterministic generator of realistic customer cards.
--
--   \i bench/gen/demo_data.sql
--   SELECT * FROM customercard_demo.generate(10000);
--
-- Fills the current account with n contacts and every section: Russian and
-- international names, phones in mixed formats (and some duplicates typed
-- differently, for the merge tools), e-mails, messengers, tags, custom
-- fields, funnels with subscriptions, orders in every status with payments
-- and payouts, sales plans, tasks, calls, call campaigns, webinars, page
-- visits, clicks, e-mails sent, groups, balances, addresses and comments.
-- The same n gives the same data (values depend on the row number only);
-- ids come from the extension's sequences.  Set-based, so 1,000,000
-- contacts load in minutes on 2 cores.  Not part of the extension.
-- ===================================================================
CREATE SCHEMA IF NOT EXISTS customercard_demo;

-- a deterministic number in [0, 1) for row i and salt s
CREATE OR REPLACE FUNCTION customercard_demo.r(i bigint, s integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8extended(i, s) & 2147483647)::double precision / 2147483648.0 $$;

-- pick from an array by a deterministic number
CREATE OR REPLACE FUNCTION customercard_demo.pick(a text[], x double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT a[1 + floor(x * array_length(a, 1))::int] $$;

CREATE OR REPLACE FUNCTION customercard_demo.generate(n integer, OUT section text, OUT rows bigint)
RETURNS SETOF record LANGUAGE plpgsql AS $gen$
DECLARE
    acct bigint := customercard.require_account_id();
    ru_m text[] := '{Иван,Алексей,Дмитрий,Сергей,Андрей,Михаил,Никита,Павел,Артём,Максим,Егор,Олег}';
    ru_f text[] := '{Анна,Мария,Елена,Ольга,Наталья,Татьяна,Ирина,Екатерина,Юлия,Светлана,Дарья,Полина}';
    ru_last text[] := '{Иванов,Смирнов,Кузнецов,Попов,Васильев,Петров,Соколов,Михайлов,Новиков,Фёдоров,Морозов,Волков}';
    en_m text[] := '{James,John,Robert,Michael,David,Thomas,Lukas,Jonas,Marco,Pierre,Ahmed,Kenji}';
    en_f text[] := '{Mary,Emma,Olivia,Sophie,Laura,Julia,Anna,Lea,Chiara,Camille,Fatima,Yuki}';
    en_last text[] := '{Smith,Johnson,Brown,Miller,Müller,Schmidt,Rossi,Martin,Dubois,García,Kowalski,Tanaka}';
    tr_m text[] := '{ivan,aleksey,dmitry,sergey,andrey,mikhail,nikita,pavel,artem,maksim,egor,oleg}';
    tr_f text[] := '{anna,maria,elena,olga,natalia,tatiana,irina,ekaterina,yulia,svetlana,daria,polina}';
    ru_city text[] := '{Москва,Санкт-Петербург,Екатеринбург,Пермь,Казань,Новосибирск}';
    ru_tz text[] := '{Europe/Moscow,Europe/Moscow,Asia/Yekaterinburg,Asia/Yekaterinburg,Europe/Moscow,Asia/Novosibirsk}';
    en_country text[] := '{DE,US,GB,JP,FR,IT}';
    en_city text[] := '{Berlin,New York,London,Tokyo,Paris,Milano}';
    en_tz text[] := '{Europe/Berlin,America/New_York,Europe/London,Asia/Tokyo,Europe/Paris,Europe/Rome}';
    domains text[] := '{gmail.com,mail.ru,yandex.ru,bk.ru,outlook.com,icloud.com,inbox.ru,example.org}';
    tag_names text[] := '{vip,student,lead,webinar,paid,refund-risk,partner,b2b,newsletter,cold,hot,returning,instagram,telegram,vk,trial,alumni,group-2026,group-2025,do-not-call}';
    mgr bigint[];           -- the account's manager ids, whatever they are
    managers_n int;
    t0 timestamptz := '2024-01-01 00:00+00';
BEGIN
    IF n IS NULL OR n < 1 OR n > 10000000 THEN
        RAISE EXCEPTION 'generate() takes 1 to 10,000,000 contacts, not %', n USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- definitions (idempotent: a second run reuses them)
    -- explicit ids inserted elsewhere may have left the sequence behind; never move it back
    PERFORM setval('customercard.managers_manager_id_seq',
                   greatest((SELECT max(manager_id) FROM customercard.managers),
                            (SELECT last_value FROM customercard.managers_manager_id_seq), 1));
    INSERT INTO customercard.managers (account_id, name)
    SELECT acct, m FROM unnest('{Ольга Менеджер,Игорь Продажи,Anna Support,Пётр Колл-центр,Мария Кураторова,Denis Sales,Елена Старшая,Глеб Новичок,Sofia Partner,Кирилл Ночной}'::text[]) m
     WHERE NOT EXISTS (SELECT 1 FROM customercard.managers x WHERE x.account_id = acct AND x.name = m);
    mgr := ARRAY(SELECT manager_id FROM customercard.managers WHERE account_id = acct ORDER BY manager_id);
    managers_n := array_length(mgr, 1);
    INSERT INTO customercard.tags (account_id, name) SELECT acct, t FROM unnest(tag_names) t ON CONFLICT DO NOTHING;
    INSERT INTO customercard.custom_fields (account_id, name, kind) VALUES
        (acct, 'Birthday', 'date'), (acct, 'Course level', 'number'), (acct, 'Source', 'text'), (acct, 'Consent', 'boolean')
    ON CONFLICT DO NOTHING;
    INSERT INTO customercard.funnels (account_id, name)
    SELECT acct, f FROM unnest('{Free lesson,Marathon,Webinar invite,Abandoned cart,Reactivation}'::text[]) f ON CONFLICT DO NOTHING;
    INSERT INTO customercard.lgts (account_id, funnel_id, name, kind)
    SELECT acct, f.funnel_id, l.name, l.kind FROM customercard.funnels f
     CROSS JOIN (VALUES ('Instagram link', 'link'), ('Site widget', 'widget'), ('QR at events', 'qr')) l(name, kind)
     WHERE f.account_id = acct ON CONFLICT DO NOTHING;
    INSERT INTO customercard.funnel_blocks (account_id, funnel_id, name, position)
    SELECT acct, f.funnel_id, 'Day ' || d, d FROM customercard.funnels f CROSS JOIN generate_series(1, 3) d
     WHERE f.account_id = acct
       AND NOT EXISTS (SELECT 1 FROM customercard.funnel_blocks b WHERE b.account_id = acct AND b.funnel_id = f.funnel_id);
    INSERT INTO customercard.sales_plans (account_id, name)
    SELECT acct, p FROM unnest('{Upsell Q1,Course Pro 2026,Corporate clients}'::text[]) p ON CONFLICT DO NOTHING;
    INSERT INTO customercard.call_campaigns (account_id, name)
    SELECT acct, c FROM unnest('{Spring reactivation,Unpaid orders}'::text[]) c ON CONFLICT DO NOTHING;
    INSERT INTO customercard.groups (account_id, name)
    SELECT acct, g FROM unnest('{Spring stream,Autumn stream,Partners club}'::text[]) g ON CONFLICT DO NOTHING;

    -- row number -> contact id
    CREATE TEMP TABLE demo_ids ON COMMIT DROP AS
    SELECT i, nextval('customercard.contacts_contact_id_seq') AS contact_id FROM generate_series(1, n) i;
    ALTER TABLE demo_ids ADD PRIMARY KEY (i);
    ANALYZE demo_ids;

    INSERT INTO customercard.contacts (account_id, contact_id, name, first_name, last_name, gender, gender_source,
                                       timezone, country, city, ip, note, manager_id, status, created_at, updated_at)
    SELECT acct, d.contact_id, p.first || ' ' || p.last, p.first, p.last,
           CASE WHEN p.female THEN 'female' ELSE 'male' END,
           CASE WHEN customercard_demo.r(i, 2) < 0.7 THEN 'channel' ELSE 'manual' END,
           -- two in five stated no time zone (messenger subscribers rarely do):
           -- the card takes the one their phone names, where it names one
           CASE WHEN customercard_demo.r(i, 300) < 0.4 THEN NULL
                WHEN p.ru THEN customercard_demo.pick(ru_tz, customercard_demo.r(i, 5))
                ELSE customercard_demo.pick(en_tz, customercard_demo.r(i, 5)) END,
           CASE WHEN p.ru THEN 'RU' ELSE customercard_demo.pick(en_country, customercard_demo.r(i, 5)) END,
           CASE WHEN p.ru THEN customercard_demo.pick(ru_city, customercard_demo.r(i, 5))
                ELSE customercard_demo.pick(en_city, customercard_demo.r(i, 5)) END,
           ('10.' || (i % 250) || '.' || ((i / 250) % 250) || '.' || (1 + i % 200))::inet,
           CASE WHEN customercard_demo.r(i, 6) < 0.1 THEN 'Prefers messages after 18:00' END,
           CASE WHEN customercard_demo.r(i, 7) < 0.3 THEN mgr[1 + i % managers_n] END,
           CASE WHEN customercard_demo.r(i, 8) < 0.9 THEN 'active' WHEN customercard_demo.r(i, 8) < 0.95 THEN 'unsubscribed'
                WHEN customercard_demo.r(i, 8) < 0.98 THEN 'archived' ELSE 'blacklisted' END,
           t0 + (i * interval '1 minute') * (1000000.0 / greatest(n, 1000)) / 2,
           t0 + (i * interval '1 minute') * (1000000.0 / greatest(n, 1000)) / 2 + interval '1 day'
      FROM demo_ids d
     CROSS JOIN LATERAL (SELECT customercard_demo.r(d.i, 1) < 0.75 AS ru, customercard_demo.r(d.i, 9) < 0.5 AS female) g
     CROSS JOIN LATERAL (SELECT
            CASE WHEN g.ru AND g.female THEN customercard_demo.pick(ru_f, customercard_demo.r(d.i, 10))
                 WHEN g.ru THEN customercard_demo.pick(ru_m, customercard_demo.r(d.i, 10))
                 WHEN g.female THEN customercard_demo.pick(en_f, customercard_demo.r(d.i, 10))
                 ELSE customercard_demo.pick(en_m, customercard_demo.r(d.i, 10)) END AS first,
            -- one in 500 has a rare last name (some 800 of them, a few people each)
            CASE WHEN customercard_demo.r(d.i, 12) < 0.002
                 THEN customercard_demo.pick('{Бел,Зар,Кир,Лом,Мур,Тих,Шел,Яр,Дуб,Гор,Рыж,Сав,Ток,Фил,Хар,Чер,Щук,Юр,Ель,Ост}', customercard_demo.r(d.i, 13))
                      || customercard_demo.pick('{ан,ел,ив,ог,ур,ет,ям,од}', customercard_demo.r(d.i, 14))
                      || customercard_demo.pick('{ин,ов,ский,ук,енко}', customercard_demo.r(d.i, 15))
                 WHEN g.ru THEN customercard_demo.pick(ru_last, customercard_demo.r(d.i, 11)) || CASE WHEN g.female THEN 'а' ELSE '' END
                 ELSE customercard_demo.pick(en_last, customercard_demo.r(d.i, 11)) END AS last,
            g.ru, g.female) p;
    section := 'contacts'; rows := n; RETURN NEXT;

    -- phones: most have one, typed in the formats people use; every 50th
    -- repeats the previous contact's number in another format (a duplicate)
    INSERT INTO customercard.phones (account_id, contact_id, phone, raw, kind, is_primary)
    SELECT acct, d.contact_id, customercard.normalize_phone(f.raw)::customercard.phone, f.raw, 'mobile', true
      FROM demo_ids d
     CROSS JOIN LATERAL (SELECT CASE WHEN d.i % 50 = 0 THEN d.i - 1 ELSE d.i END AS j) s
     CROSS JOIN LATERAL (SELECT (9000000000 + (hashint8extended(s.j, 20) & 2147483647) % 999999999)::text AS nat) num
     CROSS JOIN LATERAL (SELECT CASE (CASE WHEN d.i % 50 = 0 THEN (d.i / 50) % 3 + 1 ELSE d.i % 7 END)
            WHEN 0 THEN '+7 (' || substr(num.nat, 1, 3) || ') ' || substr(num.nat, 4, 3) || '-' || substr(num.nat, 7, 2) || '-' || substr(num.nat, 9, 2)
            WHEN 1 THEN '8 ' || substr(num.nat, 1, 3) || ' ' || substr(num.nat, 4, 3) || ' ' || substr(num.nat, 7, 2) || ' ' || substr(num.nat, 9, 2)
            WHEN 2 THEN '8-' || substr(num.nat, 1, 3) || '-' || substr(num.nat, 4)
            WHEN 3 THEN '+7' || num.nat
            WHEN 4 THEN '+49 30 ' || substr(num.nat, 2, 7)
            WHEN 5 THEN '+1 (201) 555-' || substr(num.nat, 7, 4)
            ELSE '+44 20 7946 ' || substr(num.nat, 7, 4) END AS raw) f
     WHERE (customercard_demo.r(d.i, 21) < 0.85 OR d.i % 50 IN (0, 49))
       AND customercard.normalize_phone(f.raw) IS NOT NULL;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'phones'; RETURN NEXT;

    INSERT INTO customercard.emails (account_id, contact_id, email, raw, is_primary)
    SELECT acct, d.contact_id, customercard.normalize_email(e.raw), e.raw, true
      FROM demo_ids d
     CROSS JOIN LATERAL (SELECT CASE WHEN customercard_demo.r(d.i, 1) >= 0.75 THEN lower(c.first_name)
                                     WHEN customercard_demo.r(d.i, 9) < 0.5 THEN customercard_demo.pick(tr_f, customercard_demo.r(d.i, 10))
                                     ELSE customercard_demo.pick(tr_m, customercard_demo.r(d.i, 10)) END AS local
                           FROM customercard.contacts c WHERE c.account_id = acct AND c.contact_id = d.contact_id) n
     CROSS JOIN LATERAL (SELECT n.local || '.' || d.i || '@'
                                || CASE WHEN d.i % 13 = 0 THEN upper(customercard_demo.pick(domains, customercard_demo.r(d.i, 22)))
                                        ELSE customercard_demo.pick(domains, customercard_demo.r(d.i, 22)) END AS raw) e
     WHERE customercard_demo.r(d.i, 23) < 0.7;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'emails'; RETURN NEXT;

    INSERT INTO customercard.channels (account_id, contact_id, kind, connection, external_id, username, subscribed_at, archived_at)
    SELECT acct, d.contact_id, k.kind, k.kind || '_bot', (100000000 + d.i * 7 + k.n)::text,
           CASE WHEN k.kind IN ('telegram', 'instagram') THEN 'user' || d.i END,
           t0 + d.i * interval '30 seconds', CASE WHEN customercard_demo.r(d.i, 30 + k.n) < 0.05 THEN t0 + d.i * interval '40 seconds' END
      FROM demo_ids d
     CROSS JOIN (VALUES (1, 'telegram'), (2, 'whatsapp'), (3, 'vk'), (4, 'instagram')) k(n, kind)
     WHERE customercard_demo.r(d.i, 24 + k.n) < CASE k.n WHEN 1 THEN 0.6 WHEN 2 THEN 0.3 WHEN 3 THEN 0.25 ELSE 0.15 END;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'channels'; RETURN NEXT;

    INSERT INTO customercard.contact_tags (account_id, contact_id, tag_id, added_at, added_by)
    SELECT DISTINCT ON (d.contact_id, t.tag_id) acct, d.contact_id, t.tag_id, t0 + d.i * interval '45 seconds', 'demo'
      FROM demo_ids d
     CROSS JOIN generate_series(1, 4) k
      JOIN customercard.tags t ON t.account_id = acct
                              AND t.name = customercard_demo.pick(tag_names, customercard_demo.r(d.i, 40 + k))
     WHERE customercard_demo.r(d.i, 50 + k) < 0.45;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'contact_tags'; RETURN NEXT;

    INSERT INTO customercard.custom_values (account_id, contact_id, field_id, value)
    SELECT acct, d.contact_id, f.field_id,
           CASE f.name WHEN 'Birthday' THEN (date '1970-01-01' + (d.i * 37 % 14000))::text
                       WHEN 'Course level' THEN (1 + d.i % 5)::text
                       WHEN 'Source' THEN customercard_demo.pick('{instagram,telegram,vk,friend,youtube,seo}', customercard_demo.r(d.i, 60))
                       ELSE (d.i % 3 <> 0)::text END
      FROM demo_ids d JOIN customercard.custom_fields f ON f.account_id = acct
     WHERE customercard_demo.r(d.i, 61 + length(f.name)) < 0.4;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'custom_values'; RETURN NEXT;

    INSERT INTO customercard.subscriptions (account_id, contact_id, channel_id, funnel_id, lgt_id, block_id, subscribed_at, unsubscribed_at)
    SELECT acct, ch.contact_id, ch.channel_id, f.funnel_id, l.lgt_id, b.block_id, ch.subscribed_at,
           CASE WHEN customercard_demo.r(ch.channel_id, 71) < 0.15 THEN ch.subscribed_at + interval '9 days' END
      FROM customercard.channels ch
      JOIN demo_ids d ON d.contact_id = ch.contact_id
      JOIN LATERAL (SELECT x.funnel_id FROM customercard.funnels x WHERE x.account_id = acct
                     ORDER BY x.funnel_id OFFSET floor(customercard_demo.r(ch.channel_id, 70) * 5)::int LIMIT 1) f ON true
      JOIN LATERAL (SELECT x.lgt_id FROM customercard.lgts x WHERE x.account_id = acct AND x.funnel_id = f.funnel_id
                     ORDER BY x.lgt_id OFFSET (ch.channel_id % 3) LIMIT 1) l ON true
      JOIN LATERAL (SELECT x.block_id FROM customercard.funnel_blocks x WHERE x.account_id = acct AND x.funnel_id = f.funnel_id
                     ORDER BY x.position OFFSET (ch.channel_id % 3) LIMIT 1) b ON true
     WHERE ch.account_id = acct AND ch.kind IN ('telegram', 'whatsapp');
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'subscriptions'; RETURN NEXT;

    -- orders in every status; payments follow the status, payouts the paid ones
    INSERT INTO customercard.orders (account_id, contact_id, number, offer, products, amount, currency, status,
                                     is_manual, is_recurring, payment_error_code, manager_id, utm_source, utm_campaign, created_at, paid_at)
    SELECT acct, d.contact_id, 'D-' || d.contact_id || '-' || k, o.offer, ARRAY[o.offer], o.amount,
           CASE WHEN customercard_demo.r(d.i, 82) < 0.9 THEN 'RUB' ELSE 'EUR' END, o.status,
           customercard_demo.r(d.i, 83) < 0.1, o.offer LIKE 'Club%', CASE WHEN o.status = 'failed' THEN 'card_declined' END,
           CASE WHEN customercard_demo.r(d.i, 84) < 0.5 THEN mgr[1 + d.i % managers_n] END,
           customercard_demo.pick('{instagram,vk,telegram,yandex,google}', customercard_demo.r(d.i, 85)), 'spring-' || (d.i % 4),
           t0 + d.i * interval '50 seconds' + k * interval '3 days',
           CASE WHEN o.status IN ('paid', 'refunded') THEN t0 + d.i * interval '50 seconds' + k * interval '3 days' + interval '1 hour' END
      FROM demo_ids d
     CROSS JOIN generate_series(1, 3) k
     CROSS JOIN LATERAL (SELECT customercard_demo.pick('{Course Pro,Course Basic,Workbook,Mentoring,Club subscription}', customercard_demo.r(d.i, 86 + k)) AS offer,
                                (500 + floor(customercard_demo.r(d.i, 89 + k) * 40) * 250)::numeric(14, 2) AS amount,
                                customercard_demo.pick('{paid,paid,paid,new,pending,confirmed,failed,refunded,cancelled}', customercard_demo.r(d.i, 92 + k)) AS status) o
     WHERE customercard_demo.r(d.i, 80 + k) < CASE k WHEN 1 THEN 0.4 WHEN 2 THEN 0.15 ELSE 0.05 END;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'orders'; RETURN NEXT;

    INSERT INTO customercard.payments (account_id, order_id, contact_id, amount, status, error_code, method, created_at)
    SELECT acct, o.order_id, o.contact_id, o.amount, 'failed', 'card_declined', 'card', o.created_at + interval '10 minutes'
      FROM customercard.orders o JOIN demo_ids d ON d.contact_id = o.contact_id
     WHERE o.account_id = acct AND (o.status = 'failed' OR (o.status = 'paid' AND o.order_id % 6 = 0))
    UNION ALL
    SELECT acct, o.order_id, o.contact_id, o.amount, 'succeeded', NULL,
           CASE WHEN o.is_manual THEN 'bank transfer' ELSE 'card' END, o.paid_at
      FROM customercard.orders o JOIN demo_ids d ON d.contact_id = o.contact_id
     WHERE o.account_id = acct AND o.status IN ('paid', 'refunded');
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'payments'; RETURN NEXT;

    INSERT INTO customercard.payouts (account_id, order_id, kind, amount, recipient)
    SELECT acct, o.order_id, p.kind, round(o.amount * p.share, 2), p.recipient
      FROM customercard.orders o JOIN demo_ids d ON d.contact_id = o.contact_id
     CROSS JOIN (VALUES ('partner', 0.10, 'partner-12'), ('call_centre', 0.05, 'call centre'),
                        ('co_author', 0.20, 'co-author'), ('expense', 0.03, 'payment fees')) p(kind, share, recipient)
     WHERE o.account_id = acct AND o.status = 'paid' AND customercard_demo.r(o.order_id, length(p.kind)) < 0.5
    UNION ALL
    SELECT acct, o.order_id, 'refund', o.amount, 'customer'
      FROM customercard.orders o JOIN demo_ids d ON d.contact_id = o.contact_id
     WHERE o.account_id = acct AND o.status = 'refunded';
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'payouts'; RETURN NEXT;

    INSERT INTO customercard.sales_plan_members (account_id, plan_id, contact_id, status, amount, manager_id, manager_pinned, added_at)
    SELECT acct, sp.plan_id, d.contact_id,
           customercard_demo.pick('{new,in_progress,won,lost}', customercard_demo.r(d.i, 101)),
           (5000 + (d.i % 20) * 1000)::numeric, mgr[1 + d.i % managers_n], d.i % 4 = 0, t0 + d.i * interval '55 seconds'
      FROM demo_ids d
      JOIN LATERAL (SELECT x.plan_id FROM customercard.sales_plans x WHERE x.account_id = acct
                     ORDER BY x.plan_id OFFSET (d.i % 3) LIMIT 1) sp ON true
     WHERE customercard_demo.r(d.i, 100) < 0.1;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'sales_plan_members'; RETURN NEXT;

    INSERT INTO customercard.tasks (account_id, contact_id, title, description, due_at, status, reschedules, manager_id, created_at, done_at)
    SELECT acct, d.contact_id, customercard_demo.pick('{Call back,Send the invoice,Offer Course Pro,Check payment,Ask for feedback}', customercard_demo.r(d.i, 110 + k)),
           NULL, t0 + d.i * interval '1 minute' + interval '2 days',
           s.status, (d.i % 3), mgr[1 + d.i % managers_n], t0 + d.i * interval '1 minute',
           CASE WHEN s.status = 'done' THEN t0 + d.i * interval '1 minute' + interval '1 day' END
      FROM demo_ids d CROSS JOIN generate_series(1, 2) k
     CROSS JOIN LATERAL (SELECT customercard_demo.pick('{open,done,done,cancelled}', customercard_demo.r(d.i, 115 + k)) AS status) s
     WHERE customercard_demo.r(d.i, 105 + k) < 0.2;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'tasks'; RETURN NEXT;

    INSERT INTO customercard.calls (account_id, contact_id, manager_id, direction, started_at, duration_s, result, recording_url)
    SELECT acct, d.contact_id, mgr[1 + d.i % managers_n], CASE WHEN d.i % 4 = 0 THEN 'in' ELSE 'out' END,
           t0 + d.i * interval '1 minute' + interval '3 hours',
           CASE WHEN c.result = 'answered' THEN 30 + d.i % 600 ELSE 0 END, c.result,
           CASE WHEN c.result = 'answered' THEN 'https://records.example/' || d.i || '.mp3' END
      FROM demo_ids d
     CROSS JOIN LATERAL (SELECT customercard_demo.pick('{answered,answered,no_answer,busy,unreachable,failed}', customercard_demo.r(d.i, 121)) AS result) c
     WHERE customercard_demo.r(d.i, 120) < 0.15;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'calls'; RETURN NEXT;

    INSERT INTO customercard.call_campaign_members (account_id, campaign_id, contact_id, included_at, call_back_at, status, comment, manager_id)
    SELECT acct, cc.campaign_id, d.contact_id, t0 + d.i * interval '1 minute', t0 + d.i * interval '1 minute' + interval '1 day',
           customercard_demo.pick('{pending,call_back,reached,not_reached,refused,done}', customercard_demo.r(d.i, 131)),
           CASE WHEN d.i % 3 = 0 THEN 'asked to call in the evening' END, mgr[1 + d.i % managers_n]
      FROM demo_ids d
      JOIN LATERAL (SELECT x.campaign_id FROM customercard.call_campaigns x WHERE x.account_id = acct
                     ORDER BY x.campaign_id OFFSET (d.i % 2) LIMIT 1) cc ON true
     WHERE customercard_demo.r(d.i, 130) < 0.05;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'call_campaign_members'; RETURN NEXT;

    INSERT INTO customercard.webinar_visits (account_id, contact_id, webinar, launch, joined_at, left_at, chat_messages, visitor_id)
    SELECT acct, d.contact_id, customercard_demo.pick('{How to start,Pro secrets,Q&A live}', customercard_demo.r(d.i, 141)), 1 + d.i % 5,
           t0 + d.i * interval '1 minute', t0 + d.i * interval '1 minute' + (10 + d.i % 100) * interval '1 minute',
           d.i % 7, 'v' || d.i
      FROM demo_ids d WHERE customercard_demo.r(d.i, 140) < 0.25;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'webinar_visits'; RETURN NEXT;

    INSERT INTO customercard.page_visits (account_id, contact_id, visitor_id, url, title, referrer, utm_source, utm_campaign, visited_at)
    SELECT acct, d.contact_id, 'v' || d.i, 'https://school.example/' || p.slug, p.slug, 'https://instagram.com/',
           CASE WHEN k = 1 THEN 'instagram' END, CASE WHEN k = 1 THEN 'spring' END, t0 + d.i * interval '1 minute' - k * interval '1 hour'
      FROM demo_ids d CROSS JOIN generate_series(1, 3) k
     CROSS JOIN LATERAL (SELECT customercard_demo.pick('{pro,basic,webinar,pricing,blog,contacts}', customercard_demo.r(d.i, 150 + k)) AS slug) p
     WHERE customercard_demo.r(d.i, 155 + k) < 0.5;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'page_visits'; RETURN NEXT;

    INSERT INTO customercard.clicks (account_id, contact_id, visitor_id, url, utm_source, utm_campaign, utm_ad, utm_keys, clicked_at)
    SELECT acct, d.contact_id, 'v' || d.i, 'https://school.example/pro?utm_source=mail', 'mail', 'spring', 'banner-' || (d.i % 4),
           'course pro', t0 + d.i * interval '1 minute' - interval '2 hours'
      FROM demo_ids d WHERE customercard_demo.r(d.i, 160) < 0.3;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'clicks'; RETURN NEXT;

    INSERT INTO customercard.emails_sent (account_id, contact_id, kind, subject, sent_at, opened_at, clicked_at, unsubscribed_at, spam_at)
    SELECT acct, d.contact_id, customercard_demo.pick('{autoseries,instant,chain,process,funnel}', customercard_demo.r(d.i, 170 + k)),
           'Lesson ' || k, t0 + d.i * interval '1 minute' + k * interval '1 day',
           CASE WHEN customercard_demo.r(d.i, 175 + k) < 0.5 THEN t0 + d.i * interval '1 minute' + k * interval '1 day' + interval '1 hour' END,
           CASE WHEN customercard_demo.r(d.i, 175 + k) < 0.2 THEN t0 + d.i * interval '1 minute' + k * interval '1 day' + interval '2 hours' END,
           CASE WHEN customercard_demo.r(d.i, 180 + k) < 0.02 THEN t0 + d.i * interval '1 minute' + k * interval '1 day' + interval '3 hours' END,
           CASE WHEN customercard_demo.r(d.i, 180 + k) > 0.995 THEN t0 + d.i * interval '1 minute' + k * interval '1 day' + interval '3 hours' END
      FROM demo_ids d CROSS JOIN generate_series(1, 3) k
     WHERE customercard_demo.r(d.i, 165 + k) < 0.6;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'emails_sent'; RETURN NEXT;

    INSERT INTO customercard.group_members (account_id, group_id, contact_id, joined_at, partner, tag, utm_source, visitor_id)
    SELECT acct, g.group_id, d.contact_id, t0 + d.i * interval '1 minute',
           CASE WHEN d.i % 5 = 0 THEN 'partner-' || (d.i % 17) END, 'group-2026', 'vk', 'v' || d.i
      FROM demo_ids d
      JOIN LATERAL (SELECT x.group_id FROM customercard.groups x WHERE x.account_id = acct
                     ORDER BY x.group_id OFFSET (d.i % 3) LIMIT 1) g ON true
     WHERE customercard_demo.r(d.i, 190) < 0.2;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'group_members'; RETURN NEXT;

    -- balances: bonus and coins as ledger rows; points through the ledger
    -- trigger, which keeps contacts.points equal to their sum
    INSERT INTO customercard.balance_transactions (account_id, contact_id, currency, amount, reason, actor, at)
    SELECT acct, d.contact_id, b.currency, b.amount, b.reason, 'demo', t0 + d.i * interval '1 minute'
      FROM demo_ids d
     CROSS JOIN (VALUES ('bonus', 500, 'welcome bonus'), ('coins', 30, 'quiz reward'), ('points', 100, 'webinar attendance'),
                        ('points', -40, 'redeemed for a lesson')) b(currency, amount, reason)
     WHERE customercard_demo.r(d.i, 200 + length(b.reason)) < 0.2;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'balance_transactions'; RETURN NEXT;

    INSERT INTO customercard.addresses (account_id, contact_id, kind, country, city, zip, line)
    SELECT acct, c.contact_id, 'delivery', c.country, c.city, lpad((100000 + d.i % 899999)::text, 6, '0'),
           'ул. Ленина, ' || (1 + d.i % 120) || ', кв. ' || (1 + d.i % 300)
      FROM demo_ids d JOIN customercard.contacts c ON c.account_id = acct AND c.contact_id = d.contact_id
     WHERE customercard_demo.r(d.i, 210) < 0.05;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'addresses'; RETURN NEXT;

    INSERT INTO customercard.comments (account_id, contact_id, author, body, created_at)
    SELECT acct, d.contact_id, 'manager:' || mgr[1 + d.i % managers_n],
           customercard_demo.pick('{Asked for an installment plan,Will decide after the webinar,Wants a corporate invoice,Not interested until autumn,Recommended by a friend}', customercard_demo.r(d.i, 221)),
           t0 + d.i * interval '1 minute' + interval '5 hours'
      FROM demo_ids d WHERE customercard_demo.r(d.i, 220) < 0.1;
    GET DIAGNOSTICS rows = ROW_COUNT; section := 'comments'; RETURN NEXT;

    -- 0.2's sections, where the installed version has them (the upgrade
    -- test fills 0.1 with this generator too)
    IF to_regclass('customercard.messages') IS NOT NULL THEN
        INSERT INTO customercard.messages (account_id, contact_id, thread, direction, body, author, sent_at, read_at)
        SELECT acct, d.contact_id, CASE WHEN k = 3 THEN 'payment' ELSE 'main' END,
               CASE WHEN k % 2 = 1 THEN 'in' ELSE 'out' END,
               CASE k WHEN 1 THEN customercard_demo.pick(ARRAY['Здравствуйте! Когда старт курса?', 'Hello, is the course still open?', 'Можно оплатить частями?'], customercard_demo.r(d.i, 231))
                      WHEN 2 THEN 'Добрый день! Старт 1 марта, ссылку пришлём накануне.'
                      ELSE 'Оплатил, жду доступ' END,
               CASE WHEN k % 2 = 1 THEN 'contact' ELSE 'manager:' || mgr[1 + d.i % managers_n] END,
               t0 + d.i * interval '1 minute' + k * interval '10 minutes',
               CASE WHEN k < 3 OR d.i % 2 = 0 THEN t0 + d.i * interval '1 minute' + k * interval '10 minutes' + interval '5 minutes' END
          FROM demo_ids d CROSS JOIN generate_series(1, 3) k
         WHERE customercard_demo.r(d.i, 230) < 0.2 AND k <= 1 + d.i % 3;
        GET DIAGNOSTICS rows = ROW_COUNT; section := 'messages'; RETURN NEXT;
    END IF;
    IF to_regclass('customercard.webinar_registrations') IS NOT NULL THEN
        -- the webinars the visits made: when they took place
        UPDATE customercard.webinars w SET starts_at = x.first_joined, ends_at = x.last_left
          FROM (SELECT v.webinar_id, min(v.joined_at) AS first_joined, max(v.left_at) AS last_left
                  FROM customercard.webinar_visits v WHERE v.account_id = acct GROUP BY v.webinar_id) x
         WHERE w.account_id = acct AND w.webinar_id = x.webinar_id AND w.starts_at IS NULL;
        -- most who came registered before; some registered and did not come
        INSERT INTO customercard.webinar_registrations (account_id, webinar_id, contact_id, registered_at)
        SELECT DISTINCT ON (v.webinar_id, v.contact_id) acct, v.webinar_id, v.contact_id, v.joined_at - interval '2 days'
          FROM customercard.webinar_visits v JOIN demo_ids d ON d.contact_id = v.contact_id
         WHERE v.account_id = acct AND customercard_demo.r(d.i, 240) < 0.8
        ON CONFLICT DO NOTHING;
        INSERT INTO customercard.webinar_registrations (account_id, webinar_id, contact_id, registered_at)
        SELECT acct, w.webinar_id, d.contact_id, t0 + d.i * interval '1 minute'
          FROM demo_ids d
          JOIN LATERAL (SELECT x.webinar_id FROM customercard.webinars x WHERE x.account_id = acct
                         ORDER BY x.webinar_id OFFSET (d.i % 3) LIMIT 1) w ON true
         WHERE customercard_demo.r(d.i, 241) < 0.1
        ON CONFLICT DO NOTHING;
        SELECT count(*) INTO rows FROM customercard.webinar_registrations r WHERE r.account_id = acct;
        section := 'webinar_registrations'; RETURN NEXT;
        -- calls about an order (JustClick's calls by invoice)
        INSERT INTO customercard.calls (account_id, contact_id, manager_id, direction, started_at, duration_s, result, reason, order_id)
        SELECT acct, o.contact_id, mgr[1 + d.i % managers_n], 'out', o.created_at + interval '1 hour', 120, 'answered',
               'confirmed the invoice', o.order_id
          FROM demo_ids d JOIN customercard.orders o ON o.account_id = acct AND o.contact_id = d.contact_id
         WHERE customercard_demo.r(d.i, 250) < 0.3 AND o.status IN ('new', 'pending', 'paid');
        GET DIAGNOSTICS rows = ROW_COUNT; section := 'order calls'; RETURN NEXT;
        -- recurring orders charge again next month; open tasks fall due ahead
        UPDATE customercard.orders o SET next_charge_at = now() + (1 + d.i % 28) * interval '1 day'
          FROM demo_ids d
         WHERE o.account_id = acct AND o.contact_id = d.contact_id AND o.is_recurring AND o.status = 'paid';
        UPDATE customercard.tasks t SET due_at = now() + (1 + d.i % 14) * interval '1 day'
          FROM demo_ids d
         WHERE t.account_id = acct AND t.contact_id = d.contact_id AND t.status = 'open' AND d.i % 2 = 0;
        SELECT count(*) INTO rows FROM customercard.card_upcoming u JOIN demo_ids d ON d.contact_id = u.contact_id;
        section := 'upcoming actions'; RETURN NEXT;
    END IF;
END
$gen$;
