-- Local time for people nobody asked (#34 item 6): the time zones of a
-- number's prefix (libphonenumber's map; test/shell/phone_timezones compares
-- every region against the map itself), the card's time zone from the
-- primary phone when a person stated none (timezone_source), and the
-- audience filter local_hour.
BEGIN;
SELECT plan(27);

-- 1..6: phone_timezones, phone_timezone
SELECT is(customercard.phone_timezones('+7 343 212-34-56'), '{Asia/Yekaterinburg}', 'a Yekaterinburg landline: its zone');
SELECT is(cardinality(customercard.phone_timezones('+7 912 345-67-89')), 16,
    'a Russian mobile: the whole country''s zones (libphonenumber ties mobiles to no place)');
SELECT is(customercard.phone_timezone('+7 912 345-67-89'), NULL, '... so phone_timezone knows none');
SELECT is(customercard.phone_timezone('+1 212 736 5000'), 'America/New_York', 'a New York number: its zone');
SELECT is(customercard.phone_timezones('+49 151 23456789'), '{Europe/Berlin}', 'a German mobile: the country''s one zone');
SELECT is(customercard.phone_timezones(NULL), NULL, 'NULL in, NULL out');

SELECT customercard.create_account('Local time', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Landline", "phones": ["8 343 212-34-56"]}') AS landline \gset
SELECT customercard.upsert_contact('{"name": "Stated", "timezone": "Europe/Moscow", "phones": ["8 343 212-34-57"]}') AS stated \gset
SELECT customercard.upsert_contact('{"name": "Mobile", "phones": ["8 912 345-67-89"]}') AS mobile \gset
SELECT customercard.upsert_contact('{"name": "Mobile first", "phones": ["8 912 345-67-80", "8 343 212-34-58"]}') AS mobile_first \gset
SELECT customercard.upsert_contact('{"name": "Nobody"}') AS nobody \gset

-- 7..13: the card
SELECT results_eq(format('SELECT timezone, timezone_source, utc_offset, local_time FROM customercard.card WHERE contact_id = %s', :landline),
    $$VALUES ('Asia/Yekaterinburg'::text, 'phone'::text, interval '5 hours', now() AT TIME ZONE 'Asia/Yekaterinburg')$$,
    'a contact without a time zone takes its phone''s: source phone, local time and offset from it');
SELECT is((SELECT timezone FROM customercard.contacts WHERE contact_id = :landline), NULL, '... the contact''s stated zone stays empty');
SELECT results_eq(format('SELECT timezone, timezone_source, utc_offset FROM customercard.card WHERE contact_id = %s', :stated),
    $$VALUES ('Europe/Moscow'::text, 'manual'::text, interval '3 hours')$$, 'a stated time zone wins over the phone''s');
SELECT results_eq(format('SELECT timezone, timezone_source, local_time FROM customercard.card WHERE contact_id = %s', :mobile),
    $$VALUES (NULL::text, NULL::text, NULL::timestamp)$$, 'a Russian mobile leaves it unknown');
SELECT results_eq(format('SELECT timezone, timezone_source FROM customercard.card WHERE contact_id = %s', :mobile_first),
    $$VALUES (NULL::text, NULL::text)$$, 'the primary phone decides (a mobile first, a landline second: unknown)');
SELECT is((SELECT timezone_source FROM customercard.card WHERE contact_id = :nobody), NULL, 'no phone, no zone: NULL');
SELECT results_eq(format($$SELECT customercard.card_json(%s) -> 'card' ->> 'timezone', customercard.card_json(%s) -> 'card' ->> 'timezone_source'$$, :landline, :landline),
    $$VALUES ('Asia/Yekaterinburg'::text, 'phone'::text)$$, 'card_json shows the zone and its source');

-- 14..18: the audience filter local_hour
SELECT extract(hour FROM now() AT TIME ZONE 'Asia/Yekaterinburg')::integer AS h \gset
SELECT set_eq(format($$SELECT * FROM customercard.audience_ids('{"local_hour": [%s, %s]}')$$, :h, :h + 1),
    ARRAY[:landline::bigint], 'local_hour: the hour it is now in Yekaterinburg finds the contact whose phone is there, no one else');
SELECT is_empty(format($$SELECT * FROM customercard.audience_ids('{"local_hour": [%s, %s]}') x WHERE x = %s$$, (:h + 1) % 24, :h, :landline),
    '... the other 23 hours do not');
SELECT set_eq(format($$SELECT * FROM customercard.audience_ids('{"local_hour": [%s, %s]}')$$,
                     extract(hour FROM now() AT TIME ZONE 'Europe/Moscow')::integer, extract(hour FROM now() AT TIME ZONE 'Europe/Moscow')::integer + 1),
    ARRAY[:stated::bigint], 'a stated zone counts (the landline of that contact does not)');
SELECT is((SELECT count(*) FROM generate_series(0, 23) k WHERE customercard.local_hour_in('Asia/Yekaterinburg', k, k + 1)), 1::bigint,
    'local_hour_in: exactly one of the 24 one-hour windows');
SELECT is((SELECT count(*) FROM generate_series(0, 23) k WHERE customercard.local_hour_in('Asia/Yekaterinburg', k, (k + 12) % 24)), 12::bigint,
    '... twelve of the 24 twelve-hour windows, those past midnight included');

-- 19..27: bad input
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": 9}')$$), '22023', 'local_hour 9: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [9]}')$$), '22023', 'one hour: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [9, 9]}')$$), '22023', 'from = to: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [0, 24]}')$$), '22023', '0 to 24 (every hour): 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [9.5, 18]}')$$), '22023', 'a fraction: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [24, 3]}')$$), '22023', 'from 24: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": [-1, 3]}')$$), '22023', 'a negative hour: 22023');
SELECT is(tap.sqlstate_of($$SELECT customercard.audience_count('{"local_hour": ["9", "18"]}')$$), '22023', 'strings: 22023');
SELECT matches(tap.hint_of($$SELECT customercard.audience_count('{"local_hour": [18, 18]}')$$), '"local_hour": \[9, 18\]',
    'the hint shows the form');

SELECT * FROM finish();
ROLLBACK;
