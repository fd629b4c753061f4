-- customercard.phone and the phone functions (SPEC §3): formats people type,
-- libphonenumber's answers, errors, operators, indexes, binary I/O.
SET customercard.default_region = 'RU';

-- the formats of the issue, in the setting's region (RU)
SELECT raw, customercard.normalize_phone(raw) AS e164
  FROM (VALUES ('+7 (912) 345-67-89'), ('8 912 345 67 89'), ('8-912-3456789'), ('89123456789'),
               ('79123456789'), ('9123456789'), ('8 (343) 222-33-44'), ('00 49 30 123456'),
               ('810 49 30 123456'), ('tel:+1-201-555-0123'), ('+1 (201) 555-0123 ext. 12'),
               ('Phone: +44 20 7946 0958'), (E'+7\u00a0912\u00a0345\u00a067\u00a089'),
               ('＋７ ９１２ ３４５ ６７ ８９'), ('+7 912 345-67-89 доб. 123'), ('+7 912 345-67-89 / x12'),
               ('+7 800 555-35-35'), ('+39 06 6982 1234'), ('+800 1234 5678')) AS t(raw);

-- region argument: national formats of other countries
SELECT raw, region, customercard.normalize_phone(raw, region) AS e164
  FROM (VALUES ('(201) 555-0123', 'US'), ('011 7 912 345 67 89', 'US'), ('201-555-0123 ext 7', 'us'),
               ('030 123456', 'DE'), ('00 7 912 345 67 89', 'DE'), ('020 7946 0958', 'GB'),
               ('06 6982 1234', 'IT'), ('011 15-2345-6789', 'AR'), ('15 2345-6789', 'AR'),
               ('8 912 345 67 89', 'KZ'), ('8 701 234 5678', 'KZ'), ('9123456789', 'ZZ'),
               ('+7 912 345 67 89', 'XX'), ('1-800-FLOWERS', 'US'), ('00 49 30 123456', 'DE'),
               ('00 49 30 123456', 'RU')) AS t(raw, region);
-- a region per row, alternating (an account of many countries), and codes
-- that name no region: only international numbers then
SELECT i, raw, region, customercard.normalize_phone(raw, region) AS e164
  FROM (VALUES (1, '8 912 345 67 89', 'RU'), (2, '(201) 555-0123', 'US'), (3, '8 912 345 67 89', 'US'),
               (4, '030 123456', 'de'), (5, '030 123456', 'dE'), (6, '8 912 345 67 89', 'ru'),
               (7, '030 123456', 'R'), (8, '030 123456', 'RUS'), (9, '030 123456', '@['),
               (10, '030 123456', ''), (11, '+49 30 123456', '{}'), (12, '030 123456', 'DE'),
               (13, '(201) 555-0123', 'ZZ'), (14, '(201) 555-0123', 'us')) AS t(i, raw, region)
 ORDER BY i;

-- not numbers, impossible or invalid numbers: NULL, never an error
SELECT left(raw, 40) AS raw, customercard.normalize_phone(raw) IS NULL AS is_null
  FROM (VALUES (''), ('abc'), ('12'), ('+7 912'), ('8 912 345 67 89 00 11'), ('+999 123 456'),
               ('+7 000 000-00-00'), (repeat('9', 5000)), (E'\\x00'), ('+7 912 345-67-89;phone-context=+7'),
               ('''); DROP TABLE customercard.phones; --')) AS t(raw);
SELECT customercard.normalize_phone(NULL) IS NULL AS null_in_null_out;

-- no region at all: only international numbers
SET customercard.default_region = '';
SET customercard.account_id = '';
UPDATE customercard.accounts SET default_region = NULL WHERE is_default;
SELECT customercard.normalize_phone('8 912 345 67 89') IS NULL AS national_needs_region,
       customercard.normalize_phone('+7 912 345 67 89') AS international;
SELECT '8 912 345 67 89'::customercard.phone;
-- the account's default_region is the fallback
UPDATE customercard.accounts SET default_region = 'RU' WHERE is_default;
SELECT '8 912 345 67 89'::customercard.phone AS from_account_region;
UPDATE customercard.accounts SET default_region = 'DE' WHERE is_default;
SELECT customercard.normalize_phone('030 123456') AS account_region_changed;
UPDATE customercard.accounts SET default_region = 'RU' WHERE is_default;
SET customercard.default_region = 'RU';

-- the type: E.164 out, 8 bytes, errors say what to do
SELECT '8 (912) 345-67-89'::customercard.phone AS phone,
       pg_column_size('8 (912) 345-67-89'::customercard.phone) AS bytes;
SELECT 'not a phone'::customercard.phone;
SELECT '+7 912'::customercard.phone;
SET customercard.default_region = 'XYZ';
SET customercard.default_region = 'us';
SHOW customercard.default_region;
SELECT '(201) 555-0123'::customercard.phone AS us_national;
SET customercard.default_region = 'RU';

-- region and formats, as libphonenumber formats them
SELECT p, customercard.phone_region(p) AS region,
       customercard.format_phone(p, 'e164') AS e164,
       customercard.format_phone(p, 'international') AS international,
       customercard.format_phone(p, 'national') AS national,
       customercard.format_phone(p, 'rfc3966') AS rfc3966
  FROM (VALUES ('+79123456789'::customercard.phone), ('+77012345678'), ('+12015550123'), ('+14165550123'),
               ('+442079460958'), ('+390669821234'), ('+5491123456789'), ('+4930123456'),
               ('+80012345678')) AS t(p);
SELECT customercard.format_phone('+79123456789', 'fancy');
SELECT customercard.phone_metadata_version() ~ '^[0-9]+\.[0-9]+\.[0-9]+$' AS has_version;

-- operators, btree and hash: the same number typed two ways is equal
SET search_path = public, customercard;
SELECT '8 912 345 67 89'::phone = '+7 (912) 345-67-89'::phone AS same,
       '+7 912 345 67 89'::phone < '+7 912 345 67 90'::phone AS less,
       '+7 912 345 67 89'::phone <> '+49 30 123456'::phone AS differ;
CREATE TEMP TABLE pt (p customercard.phone);
INSERT INTO pt VALUES ('+7 912 345 67 89'), ('8 912 345 67 89'), ('+49 30 123456'), ('+1 201 555 0123');
SELECT p, count(*) FROM pt GROUP BY p ORDER BY p;
CREATE INDEX ON pt USING hash (p);
CREATE INDEX ON pt (p);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM pt WHERE p = '+49 30 123456';
SELECT * FROM pt WHERE p = '+49 30 123456';
RESET enable_seqscan;
SELECT count(*) FROM pt a JOIN pt b USING (p);
-- casts from text and to text
SELECT ('8 912 345 67 89'::text)::phone AS from_text, ('+4930123456'::phone)::text AS to_text;
-- binary send/recv round trip, and a forged binary value refused
SELECT customercard.phone_send('+79123456789') = int8send(79123456789) AS send_is_int8;
CREATE TEMP TABLE pt2 (p customercard.phone);
COPY pt TO '/tmp/customercard_phone.bin' WITH (FORMAT binary);
COPY pt2 FROM '/tmp/customercard_phone.bin' WITH (FORMAT binary);
SELECT count(*) FROM pt2 JOIN pt USING (p);
RESET search_path;
CREATE TEMP TABLE forged (b bigint);
INSERT INTO forged VALUES (999123456), (123);
COPY forged TO '/tmp/customercard_forged.bin' WITH (FORMAT binary);
COPY pt2 FROM '/tmp/customercard_forged.bin' WITH (FORMAT binary);
-- the stored form (+ and the digits, as output prints it) reads back whatever
-- the compiled metadata says of the number, so values stored under older
-- metadata survive dump/restore; typed input in any other form is validated
SELECT '+70000000000'::customercard.phone AS stored_form,
       customercard.phone_is_valid('+70000000000') AS now_valid,
       customercard.phone_is_valid('+79123456789') AS valid,
       customercard.normalize_phone('+70000000000') AS normalized;
SELECT '+7 000 000-00-00'::customercard.phone;
SELECT '+999123456'::customercard.phone;
CREATE TEMP TABLE stored (p customercard.phone);
INSERT INTO stored VALUES ('+70000000000'), ('+79123456789');
COPY stored TO '/tmp/customercard_stored.txt';
COPY stored FROM '/tmp/customercard_stored.txt';
COPY stored TO '/tmp/customercard_stored.bin' WITH (FORMAT binary);
COPY stored FROM '/tmp/customercard_stored.bin' WITH (FORMAT binary);
SELECT p, count(*) FROM stored GROUP BY p ORDER BY p;
