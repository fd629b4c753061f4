CREATE EXTENSION pg_trgm;

CREATE EXTENSION customercard;

SET customercard.default_region = 'RU';

INSERT INTO customercard.contacts (name) SELECT 'P ' || i FROM generate_series(1, 300) i;

INSERT INTO customercard.phones (contact_id, phone, raw) SELECT contact_id, '+7 900 ' || lpad((contact_id % 120)::text, 7, '0'), 'x' FROM customercard.contacts;

INSERT INTO customercard.emails (contact_id, email) SELECT contact_id, 'e' || (contact_id % 170) || '@ex.com' FROM customercard.contacts;

INSERT INTO customercard.channels (contact_id, kind, connection, external_id) SELECT contact_id, 'telegram', 'b' || contact_id, 't' || (contact_id % 90) FROM customercard.contacts;

SELECT customercard.not_duplicates(1, 121);

SELECT count(*), sum(cardinality(contact_ids)) FROM customercard.duplicate_groups();

SELECT count(*) FROM customercard.duplicate_groups(3);

SELECT * FROM customercard.duplicate_groups(1);

SELECT customercard.merge(1, 2, '{name}');

SELECT customercard.unmerge(1);

SELECT customercard.merge(3, 4);

SELECT customercard.forget_contact(4);

SELECT customercard.card_rewrite(true);

SELECT * FROM customercard.import_json('[{"name": "A", "phones": ["8 912 111 22 33"], "tags": ["x"]}, 5, {"phones": ["1"]}, {"name": "Ж", "custom": {}}]');

SELECT * FROM customercard.import_json('[{"name": "A"');

SELECT * FROM customercard.import_json('[1, 2] trailing');

SELECT * FROM customercard.import_csv(E'\uFEFFname;phone;tags;custom:Nope\r\nB;+7 913 000 11 22;"a, b";\r\n"C ""q""";;;\r\n\r\n"multi\nline";12;;\r\n');

SELECT * FROM customercard.import_csv(E'name,phone\nX,"open\n');

SELECT * FROM customercard.import_csv(E'name,phone\nX,a"b\n');

SELECT * FROM customercard.import_csv(E'');

SELECT length(customercard.export_xlsx('{}'));

SELECT length(customercard.export_csv('{}'));

SELECT customercard.bulk_enqueue('add_tag', '{"tag": "vg"}', filter => '{}');

SELECT customercard.bulk_run_batch(1, 1, 100);

SELECT customercard.bulk_run_batch(1, 1, 1000);
