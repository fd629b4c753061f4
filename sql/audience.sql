-- The audience (SPEC §7): every filter key returns exactly the contacts a
-- plain query over the tables says; pages are stable; bad filters are errors;
-- hostile values are data.
\set SHOW_CONTEXT never
-- an account of its own, so that the other tests' rows stay out
SELECT customercard.create_account('Audience test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.default_region = 'RU';
SET TimeZone = 'UTC';
SET customercard.actor = 'test';
INSERT INTO customercard.managers (name) VALUES ('Olga'), ('Pavel');
INSERT INTO customercard.tags (name) VALUES ('vip'), ('webinar'), ('student'), ('''); DROP TABLE customercard.contacts; --');
INSERT INTO customercard.funnels (name) VALUES ('Free lesson'), ('Course');
INSERT INTO customercard.lgts (funnel_id, name) SELECT funnel_id, 'Widget' FROM customercard.funnels;
-- 60 contacts, attributes by i; created one hour apart, two at the same instant
INSERT INTO customercard.contacts (name, first_name, last_name, gender, status, manager_id, created_at)
SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE (ARRAY['Анна Петрова', 'Ivan Sidorov', 'Anna Smith', 'Олег 50%_off', 'Mary-Ann O''Brien'])[1 + i % 4 + (i % 3) / 2] || ' ' || i END,
       CASE WHEN i % 5 = 0 THEN 'Petra' END, CASE WHEN i % 5 = 0 THEN 'Annanova' END,
       (ARRAY['male', 'female', NULL])[1 + i % 3],
       (ARRAY['active', 'active', 'unsubscribed', 'blacklisted', 'archived'])[1 + i % 5],
       (SELECT manager_id FROM customercard.managers WHERE name = (ARRAY['Olga', 'Pavel'])[1 + i % 2]),
       timestamptz '2026-01-01 00:00+00' + (least(i, 59) * interval '1 hour')
  FROM generate_series(1, 60) i;
CREATE TEMP TABLE ids AS SELECT contact_id AS id, row_number() OVER (ORDER BY contact_id) AS i FROM customercard.contacts WHERE account_id = :acct;
INSERT INTO customercard.phones (contact_id, phone, raw, is_primary)
SELECT id, '+7912' || lpad(i::text, 7, '0'), '8 912 ' || lpad(i::text, 7, '0'), true FROM ids WHERE i % 2 = 0;
INSERT INTO customercard.emails (contact_id, email, is_primary)
SELECT id, 'person' || i || '@example.com', true FROM ids WHERE i % 3 = 0;
INSERT INTO customercard.channels (contact_id, kind, external_id, archived_at)
SELECT id, (ARRAY['telegram', 'whatsapp', 'vk'])[1 + i % 3], 'ext-' || i, CASE WHEN i % 7 = 0 THEN now() END FROM ids WHERE i % 4 <> 0;
INSERT INTO customercard.contact_tags (contact_id, tag_id)
SELECT ids.id, t.tag_id FROM ids JOIN customercard.tags t
    ON (t.name = 'vip' AND ids.i % 2 = 0) OR (t.name = 'webinar' AND ids.i % 3 = 0) OR (t.name = 'student' AND ids.i % 10 = 1)
    OR (t.name LIKE '''%' AND ids.i = 7);
INSERT INTO customercard.subscriptions (contact_id, funnel_id, lgt_id, unsubscribed_at)
SELECT ids.id, f.funnel_id, CASE WHEN ids.i % 2 = 0 THEN l.lgt_id END, CASE WHEN ids.i % 9 = 0 THEN now() END
  FROM ids JOIN customercard.funnels f ON f.name = CASE WHEN ids.i % 3 = 1 THEN 'Free lesson' ELSE 'Course' END
  JOIN customercard.lgts l ON l.funnel_id = f.funnel_id WHERE ids.i % 4 <> 3;
INSERT INTO customercard.orders (contact_id, number, offer, amount, status)
SELECT id, 'N-' || i, CASE WHEN i % 2 = 0 THEN 'Course PRO' ELSE 'Free guide' END, 100, (ARRAY['new', 'paid', 'cancelled'])[1 + i % 3]
  FROM ids WHERE i % 5 <> 4;
-- a merged and a deleted contact never appear
UPDATE customercard.contacts SET merged_into = (SELECT id FROM ids WHERE i = 1) WHERE contact_id = (SELECT id FROM ids WHERE i = 2);
UPDATE customercard.contacts SET deleted_at = now() WHERE contact_id = (SELECT id FROM ids WHERE i = 4);
CREATE TEMP VIEW live AS SELECT c.* FROM customercard.contacts c WHERE c.account_id = :acct AND c.merged_into IS NULL AND c.deleted_at IS NULL;

-- audience_ids(filter) against the plain query, for every key
CREATE FUNCTION pg_temp.same(filter jsonb, expected bigint[]) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN coalesce(array_agg(x ORDER BY x), '{}') = coalesce((SELECT array_agg(y ORDER BY y) FROM unnest(expected) y), '{}')
                 AND customercard.audience_count(filter) = cardinality(coalesce(expected, '{}'))
                THEN 'ok ' || cardinality(coalesce(expected, '{}'))
                ELSE 'DIFFERENT: got ' || coalesce(array_agg(x ORDER BY x)::text, '{}') || ' want ' || coalesce(expected::text, '{}') END
      FROM customercard.audience_ids(filter) x
$$;
SELECT k, pg_temp.same(f, e) FROM (VALUES
  ('everyone', '{}'::jsonb, ARRAY(SELECT contact_id FROM live)),
  ('gender', '{"gender": "female"}', ARRAY(SELECT contact_id FROM live WHERE gender = 'female')),
  ('gender unknown', '{"gender": "unknown"}', ARRAY(SELECT contact_id FROM live WHERE gender IS NULL)),
  ('status', '{"status": "blacklisted"}', ARRAY(SELECT contact_id FROM live WHERE status = 'blacklisted')),
  ('manager id', jsonb_build_object('manager', (SELECT manager_id FROM customercard.managers WHERE name = 'Pavel')),
      ARRAY(SELECT l.contact_id FROM live l JOIN customercard.managers m USING (account_id, manager_id) WHERE m.name = 'Pavel')),
  ('manager name', '{"manager": "Olga"}', ARRAY(SELECT l.contact_id FROM live l JOIN customercard.managers m USING (account_id, manager_id) WHERE m.name = 'Olga')),
  ('has_phone', '{"has_phone": true}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.phones p WHERE p.contact_id = l.contact_id))),
  ('no phone', '{"has_phone": false}', ARRAY(SELECT contact_id FROM live l WHERE NOT EXISTS (SELECT 1 FROM customercard.phones p WHERE p.contact_id = l.contact_id))),
  ('has_email', '{"has_email": true}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.emails e WHERE e.contact_id = l.contact_id))),
  ('channel', '{"channel": "telegram"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.channels ch WHERE ch.contact_id = l.contact_id AND ch.kind = 'telegram' AND ch.archived_at IS NULL))),
  ('tag', '{"tag": "vip"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.contact_id = l.contact_id AND t.name = 'vip'))),
  ('tags_all', '{"tags_all": ["vip", "webinar"]}', ARRAY(SELECT contact_id FROM live l WHERE (SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.contact_id = l.contact_id AND t.name IN ('vip', 'webinar')) = 2)),
  ('tag + tags_all', '{"tag": "student", "tags_all": ["vip"]}', ARRAY(SELECT contact_id FROM live l WHERE (SELECT count(*) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.contact_id = l.contact_id AND t.name IN ('vip', 'student')) = 2)),
  ('tags_any', '{"tags_any": ["student", "webinar", "nonexistent"]}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.contact_id = l.contact_id AND t.name IN ('student', 'webinar')))),
  ('unknown tag', '{"tag": "no such tag"}', '{}'),
  ('tags_all with an unknown tag', '{"tags_all": ["vip", "no such tag"]}', '{}'),
  ('hostile tag name', '{"tag": "''); DROP TABLE customercard.contacts; --"}', ARRAY(SELECT id FROM ids WHERE i = 7)),
  ('funnel name', '{"funnel": "Free lesson"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.subscriptions s JOIN customercard.funnels f USING (account_id, funnel_id) WHERE s.contact_id = l.contact_id AND f.name = 'Free lesson' AND s.unsubscribed_at IS NULL))),
  ('funnel id', jsonb_build_object('funnel', (SELECT funnel_id FROM customercard.funnels WHERE name = 'Course')), ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.subscriptions s JOIN customercard.funnels f USING (account_id, funnel_id) WHERE s.contact_id = l.contact_id AND f.name = 'Course' AND s.unsubscribed_at IS NULL))),
  ('lgt', '{"lgt": "Widget"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.subscriptions s WHERE s.contact_id = l.contact_id AND s.lgt_id IS NOT NULL))),
  ('ordered_offer', '{"ordered_offer": "Course PRO"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.orders o WHERE o.contact_id = l.contact_id AND o.offer = 'Course PRO'))),
  ('paid_offer', '{"paid_offer": "Course PRO"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.orders o WHERE o.contact_id = l.contact_id AND o.offer = 'Course PRO' AND o.status = 'paid'))),
  ('created_from date', '{"created_from": "2026-01-02"}', ARRAY(SELECT contact_id FROM live WHERE created_at >= '2026-01-02 00:00+00')),
  ('created_to date (whole day)', '{"created_to": "2026-01-01"}', ARRAY(SELECT contact_id FROM live WHERE created_at < '2026-01-02 00:00+00')),
  ('created_to instant', '{"created_to": "2026-01-01T05:00:00+00"}', ARRAY(SELECT contact_id FROM live WHERE created_at <= '2026-01-01 05:00+00')),
  ('search name part', '{"search": "АННА"}', ARRAY(SELECT contact_id FROM live WHERE lower(concat_ws(' ', name, first_name, last_name) COLLATE "und-x-icu") LIKE '%анна%')),
  ('search two words, any order', '{"search": "петрова анна"}', ARRAY(SELECT contact_id FROM live WHERE name LIKE 'Анна Петрова%')),
  ('search two words', '{"search": "Анна Петрова 1"}', ARRAY(SELECT contact_id FROM live WHERE name LIKE 'Анна Петрова 1%')),
  ('search first/last name', '{"search": "annanova"}', ARRAY(SELECT contact_id FROM live WHERE last_name = 'Annanova')),
  ('search LIKE characters are data', '{"search": "50%_"}', ARRAY(SELECT contact_id FROM live WHERE strpos(name, '50%_') > 0)),
  ('search percent alone', '{"search": "%"}', ARRAY(SELECT contact_id FROM live WHERE strpos(name, '%') > 0)),
  ('search quote', '{"search": "o''brien"}', ARRAY(SELECT contact_id FROM live WHERE lower(name) LIKE '%o''brien%')),
  ('search e-mail', '{"search": "Person9@Example.com"}', ARRAY(SELECT id FROM ids WHERE i = 9)),
  ('search phone, national format', '{"search": "8 (912) 000-00-12"}', ARRAY(SELECT id FROM ids WHERE i = 12)),
  ('search phone, international', '{"search": "+7 912 000 0012"}', ARRAY(SELECT id FROM ids WHERE i = 12)),
  ('search hostile', '{"search": "''); DROP TABLE customercard.contacts; --"}', '{}'),
  ('two filters', '{"tag": "vip", "channel": "whatsapp"}', ARRAY(SELECT contact_id FROM live l WHERE EXISTS (SELECT 1 FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.contact_id = l.contact_id AND t.name = 'vip') AND EXISTS (SELECT 1 FROM customercard.channels ch WHERE ch.contact_id = l.contact_id AND ch.kind = 'whatsapp' AND ch.archived_at IS NULL))),
  ('three filters', '{"has_email": true, "gender": "male", "status": "active"}', ARRAY(SELECT contact_id FROM live l WHERE gender = 'male' AND status = 'active' AND EXISTS (SELECT 1 FROM customercard.emails e WHERE e.contact_id = l.contact_id))),
  ('null values are absent keys', '{"tag": null, "search": ""}', ARRAY(SELECT contact_id FROM live))
) AS t(k, f, e);

-- pages: newest first, id as tie-break (contacts 59 and 60 share an instant), stable and complete
SELECT array_agg(ids.i ORDER BY a.ordinality) AS newest_first
  FROM customercard.audience_search('{}', 1, 3) WITH ORDINALITY a JOIN ids ON ids.id = a.contact_id;
SELECT count(*) = count(DISTINCT contact_id) AND count(*) = (SELECT count(*) FROM live) AS pages_cover_everyone_once
  FROM generate_series(1, 7) p, customercard.audience_search('{}', p, 9);
-- keyset paging walks the same order
WITH RECURSIVE pages(n, last, got) AS (
    SELECT 1, (SELECT contact_id FROM customercard.audience_search('{"has_phone": true}', 1, 7) WITH ORDINALITY ORDER BY ordinality DESC LIMIT 1),
           ARRAY(SELECT contact_id FROM customercard.audience_search('{"has_phone": true}', 1, 7))
  UNION ALL
    SELECT n + 1, (SELECT contact_id FROM customercard.audience_search('{"has_phone": true}', 1, 7, last) WITH ORDINALITY ORDER BY ordinality DESC LIMIT 1),
           ARRAY(SELECT contact_id FROM customercard.audience_search('{"has_phone": true}', 1, 7, last))
      FROM pages WHERE last IS NOT NULL)
SELECT array_agg(x ORDER BY n, o) = ARRAY(SELECT contact_id FROM customercard.audience_search('{"has_phone": true}', 1, 500)) AS keyset_equals_offset
  FROM pages, unnest(got) WITH ORDINALITY u(x, o);
SELECT * FROM customercard.audience_search('{}', 1, 30, -1);
SELECT name, phone, email, tags, sales_plans, sales_count, channels, channels_count, status, manager_name
  FROM customercard.audience_search('{"search": "+7 912 000 0012"}');
SELECT count(*) FROM customercard.audience_search('{"tag": "vip"}', 100, 30) AS beyond_the_last_page;

-- bad filters: specific errors
SELECT * FROM customercard.audience_search('{"colour": "red"}');
SELECT * FROM customercard.audience_search('{"tag": 5}');
SELECT * FROM customercard.audience_search('{"tags_all": "vip"}');
SELECT * FROM customercard.audience_search('{"gender": "other"}');
SELECT * FROM customercard.audience_search('{"has_phone": "yes"}');
SELECT * FROM customercard.audience_search('{"created_from": "yesterday-ish"}');
SELECT * FROM customercard.audience_search('[]');
SELECT * FROM customercard.audience_search('{}', 0);
SELECT * FROM customercard.audience_search('{}', 1, 100000);
SELECT customercard.audience_count(jsonb_build_object('search', repeat('x', 5000)));
-- hostile values changed nothing
SELECT count(*) AS contacts_still_there FROM customercard.contacts WHERE account_id = :acct;
RESET customercard.account_id;
