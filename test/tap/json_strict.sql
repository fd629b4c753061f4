-- Strict JSON: import_json refuses (22P02, at the failing token, nothing
-- imported) every document PostgreSQL's jsonb refuses, and accepts every
-- document jsonb accepts.  A conformance suite of our own making: each
-- must-reject class of RFC 8259 (numbers, strings, escapes, whitespace,
-- literals, structure, trailing text) with cases cJSON alone let through,
-- and the must-accept forms beside them.  Each case is checked against
-- jsonb first, so the table cannot drift from what jsonb does.
BEGIN;
SELECT plan(8);

SELECT customercard.create_account('Strict JSON', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;

CREATE TEMP TABLE cases (class text, doc text, valid boolean);
INSERT INTO cases VALUES
  -- numbers
  ('number', '[-01]', false), ('number', '[01]', false), ('number', '[00]', false), ('number', '[2.]', false),
  ('number', '[.5]', false), ('number', '[2.e3]', false), ('number', '[-2.]', false), ('number', '[+1]', false),
  ('number', '[1e]', false), ('number', '[1e+]', false), ('number', '[-]', false), ('number', '[0x10]', false),
  ('number', '[NaN]', false), ('number', '[Infinity]', false), ('number', '[-Infinity]', false), ('number', '[1.5.2]', false),
  ('number', '[- 1]', false), ('number', '[1 2]', false),
  ('number', '[0]', true), ('number', '[-0]', true), ('number', '[1.5e10]', true), ('number', '[1E-2]', true),
  ('number', '[-0.0e+0]', true), ('number', '[123456789012345678901234567890]', true),
  -- strings: raw control characters, bad escapes
  ('string', E'[{"name": "a\nb"}]', false), ('string', E'[{"name": "a\tb"}]', false), ('string', E'[{"name": "a\rb"}]', false),
  ('string', E'[{"name": "a\x01b"}]', false), ('string', E'[{"name": "a\x1fb"}]', false),
  ('string', '[{"name": "a\xb"}]', false), ('string', '[{"name": "a\u12"}]', false), ('string', '[{"name": "a\uZZZZ"}]', false),
  ('string', '[{"name": "a\u0000b"}]', false), ('string', '[{"name": "\ud800"}]', false), ('string', '[{"name": "\udc00x"}]', false),
  ('string', '[{"name": "\ud800\u0041"}]', false), ('string', '[{"name": "a\''b"}]', false), ('string', '[{"name": "unclosed}]', false),
  ('string', $$[{'name': 'single'}]$$, false), ('string', '[{name: "bare key"}]', false),
  ('string', '[{"name": "\"\\\/\b\f\n\r\t\u00e9"}]', true), ('string', '[{"name": "\ud83d\ude00"}]', true),
  ('string', '[{"name": "Ёлка 🎄"}]', true), ('string', E'[{"name": "a\x7fb"}]', true),
  -- whitespace: only space, tab, LF, CR between tokens
  ('whitespace', E'[\f{"name": "x"}]', false), ('whitespace', E'[\v{"name": "x"}]', false),
  ('whitespace', E'[\u00a0{"name": "x"}]', false), ('whitespace', E'[\u2028{"name": "x"}]', false),
  ('whitespace', E' \t\r\n[ \t\r\n{ "name" : "x" } \t\r\n] \t\r\n', true),
  -- literals
  ('literal', '[True]', false), ('literal', '[nul]', false), ('literal', '[nulls]', false), ('literal', '[undefined]', false),
  ('literal', '[true, false, null]', true),
  -- structure
  ('structure', '[1,]', false), ('structure', '[{"name": "x",}]', false), ('structure', '[{"name" "x"}]', false),
  ('structure', '[{"name": "x"} {"name": "y"}]', false), ('structure', '[,1]', false), ('structure', '[{"name"}]', false),
  ('structure', '[{"name": "x"}', false), ('structure', '[{"name": "x"]}', false), ('structure', '[/* comment */]', false),
  ('structure', E'[] // comment', false), ('structure', '', false), ('structure', '   ', false),
  ('structure', '[{"name": "x", "tags": [[[[]]]]}]', true), ('structure', '[]', true),
  -- trailing text after the document
  ('trailing', '[] x', false), ('trailing', '[][]', false), ('trailing', '[]]', false), ('trailing', '[] 1', false),
  ('trailing', E'[]\n\n', true);

-- import_json's verdict: true when it imports, false when it refuses the
-- document as malformed (22P02); any other error is the test's failure
CREATE FUNCTION pg_temp.import_accepts(doc text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM customercard.import_json(doc);
    RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN false;
END $$;

SELECT is((SELECT string_agg(format('%s %L', class, doc), '; ') FROM cases WHERE tap.jsonb_accepts(doc) <> valid), NULL,
    'every case is as jsonb itself reads it (the table holds what jsonb does)');
SELECT is((SELECT count(DISTINCT class) FROM cases WHERE NOT valid), 6::bigint, 'must-reject cases of six classes');
SELECT is((SELECT string_agg(format('%s %L', class, doc), '; ') FROM cases WHERE NOT valid AND pg_temp.import_accepts(doc)), NULL,
    'import_json refuses every document jsonb refuses (22P02)');
SELECT is((SELECT string_agg(format('%s %L', class, doc), '; ') FROM cases WHERE valid AND NOT pg_temp.import_accepts(doc)), NULL,
    '... and accepts every document jsonb accepts');
SELECT is((SELECT count(*) FROM customercard.contacts WHERE account_id = :acct AND name NOT IN ('x', 'Ёлка 🎄', E'"\\/\b\f\n\r\t\u00e9', E'\U0001F600', E'a\x7fb')), 0::bigint,
    'a refused document imported nothing');
SELECT throws_like($$SELECT * FROM customercard.import_json('[{"name": "Ann"}, {"age": -01}]')$$,
    'the JSON is malformed at character 27 (text line 1)', 'the error names the character where the document fails');
SELECT throws_like($$SELECT * FROM customercard.import_json(E'[\n {"name": "Ann"},\n {"name": "a\tb"}]')$$,
    'the JSON is malformed at character % (text line 3)', '... and its text line');
SELECT is((SELECT status FROM customercard.import_json(E'\uFEFF[{"name": "With a byte order mark"}]')), 'created',
    'a byte order mark before the document is the file''s, skipped as for CSV');

SELECT * FROM finish();
ROLLBACK;
