-- upsert_contact: create, match by channel external id, then e-mail, then
-- phone; update only what is given; errors name the key and say what to do.
\set SHOW_CONTEXT never
SET customercard.actor = 'regress';

SELECT customercard.upsert_contact('{"name": "Anna Petrova", "first_name": "Anna", "last_name": "Petrova",
    "gender": "f", "timezone": "Asia/Yekaterinburg", "city": "Perm",
    "phones": ["+7 (912) 345-67-89"], "emails": ["Anna.Petrova@Mail.RU"],
    "channel": {"kind": "telegram", "external_id": 100200300, "connection": "school_bot", "username": "anna_p"},
    "tags": ["vip", "webinar-2026"]}') AS anna \gset

-- by channel external id (a number or a string; "social_id" is the same key)
SELECT customercard.upsert_contact('{"channel": {"kind": "telegram", "social_id": "100200300"}, "note": "prefers evenings"}') = :anna AS matched_by_channel;
-- by e-mail, whatever the case of the domain
SELECT customercard.upsert_contact('{"email": "anna.petrova@mail.ru", "country": "RU"}') = :anna AS matched_by_email;
-- by phone, typed differently
SELECT customercard.upsert_contact('{"phone": "+7 912 345 67 89", "nickname": "annie"}') = :anna AS matched_by_phone;
-- the same external id in another messenger is another person
SELECT customercard.upsert_contact('{"name": "Somebody", "channel": {"kind": "vk", "external_id": "100200300"}}') <> :anna AS other_kind_is_other_person;
-- a new identifier of a matched person is added to them
SELECT customercard.upsert_contact('{"email": "anna.petrova@mail.ru", "emails": ["anna@work.example"], "phones": [{"phone": "8 343 222-33-44", "kind": "work"}]}') = :anna AS added_identifiers;

SELECT name, first_name, last_name, nickname, gender, gender_source, timezone, country, city, note, status
  FROM customercard.contacts WHERE contact_id = :anna;
SELECT phone, raw, kind, is_primary FROM customercard.phones WHERE contact_id = :anna ORDER BY phone_id;
SELECT email, raw, is_primary FROM customercard.emails WHERE contact_id = :anna ORDER BY email_id;
SELECT kind, connection, external_id, username FROM customercard.channels WHERE contact_id = :anna;
SELECT t.name, ct.added_by FROM customercard.contact_tags ct JOIN customercard.tags t USING (account_id, tag_id)
 WHERE ct.contact_id = :anna ORDER BY t.name;

-- an explicit null clears a field; absent keys stay
SELECT customercard.upsert_contact(jsonb_build_object('contact_id', :anna, 'note', null, 'gender', 'unknown')) = :anna AS cleared;
SELECT note, gender, gender_source, city FROM customercard.contacts WHERE contact_id = :anna;

-- custom fields: they must exist, values are checked against the field's kind, null removes
INSERT INTO customercard.custom_fields (name, kind) VALUES ('Course level', 'number'), ('Birthday', 'date'), ('Source', 'text');
SELECT customercard.upsert_contact(jsonb_build_object('contact_id', :anna,
    'custom', jsonb_build_object('Course level', 3, 'Birthday', '1990-04-01', 'Source', 'instagram'))) = :anna AS custom_set;
SELECT f.name, v.value FROM customercard.custom_values v JOIN customercard.custom_fields f USING (account_id, field_id)
 WHERE v.contact_id = :anna ORDER BY f.name;
SELECT customercard.upsert_contact(jsonb_build_object('contact_id', :anna, 'custom', '{"Source": null}'::jsonb)) = :anna AS custom_removed;
SELECT count(*) AS custom_values FROM customercard.custom_values WHERE contact_id = :anna;

-- a new primary phone demotes the old one
SELECT customercard.upsert_contact(jsonb_build_object('contact_id', :anna, 'phones', '[{"phone": "+7 900 111-22-33", "primary": true}]'::jsonb)) = :anna;
SELECT phone, is_primary FROM customercard.phones WHERE contact_id = :anna ORDER BY phone_id;

-- errors: every one names what is wrong and changes nothing
SELECT count(*) AS contacts_before FROM customercard.contacts \gset
SELECT customercard.upsert_contact('[1, 2]');
SELECT customercard.upsert_contact('{"nmae": "typo"}');
SELECT customercard.upsert_contact('{"name": 42}');
SELECT customercard.upsert_contact('{"phones": "+7 912 345 67 89"}');
SELECT customercard.upsert_contact('{"phones": ["12"]}');
SELECT customercard.upsert_contact('{"phones": [true]}');
SELECT customercard.upsert_contact('{"email": "not an address"}');
SELECT customercard.upsert_contact('{"channel": {"kind": "icq", "external_id": "1"}}');
SELECT customercard.upsert_contact('{"channel": {"kind": "telegram"}}');
SELECT customercard.upsert_contact('{"channel": {"kind": "telegram", "external_id": "5", "bot": "x"}}');
SELECT customercard.upsert_contact('{"name": "X", "gender": "robot"}');
SELECT customercard.upsert_contact('{"name": "X", "status": "vip"}');
SELECT customercard.upsert_contact('{"name": "X", "timezone": "Mars/Olympus"}');
SELECT customercard.upsert_contact('{"name": "X", "ip": "999.1.1.1"}');
SELECT customercard.upsert_contact('{"name": "X", "manager_id": 987654}');
SELECT customercard.upsert_contact('{"name": "X", "tags": ["ok", ""]}');
SELECT customercard.upsert_contact('{"name": "X", "custom": {"No such field": 1}}');
SELECT customercard.upsert_contact('{"name": "X", "custom": {"Course level": "three"}}');
SELECT customercard.upsert_contact('{"name": "X", "custom": {"Birthday": [1]}}');
SELECT customercard.upsert_contact('{"contact_id": 999999999}');
SELECT customercard.upsert_contact(NULL);
SELECT count(*) = :contacts_before AS nothing_half_written FROM customercard.contacts;
