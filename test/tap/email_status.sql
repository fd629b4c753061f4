-- E-mail sendability: each address says
-- whether letters may go to it (JustClick's "activated"/"subscribed"):
-- unconfirmed, active, unsubscribed, bounced, spam; the audience filter
-- email_status; card_json shows it; a change is logged.
BEGIN;
SELECT plan(7);

SELECT customercard.create_account('E-mail status', 'RU', 'RUB') AS acct \gset
SET customercard.account_id = :acct;
SELECT customercard.upsert_contact('{"name": "Ada", "emails": ["ada@example.com"]}') AS a \gset
SELECT customercard.upsert_contact('{"name": "Bob", "emails": ["bob@example.com"]}') AS b \gset
SELECT customercard.upsert_contact('{"name": "Cy"}') AS c \gset

SELECT is((SELECT status FROM customercard.emails WHERE contact_id = :a), 'active', 'a new address is active');
SET customercard.actor = 'mailer:unisender';
UPDATE customercard.emails SET status = 'bounced' WHERE contact_id = :b;
SELECT throws_ok($$UPDATE customercard.emails SET status = 'gone'$$, '23514', NULL, 'a status that is none: 23514');
SELECT is(ARRAY(SELECT customercard.audience_ids('{"email_status": "bounced"}')), ARRAY[:b::bigint], 'email_status: contacts with an address in that status');
SELECT is(ARRAY(SELECT customercard.audience_ids('{"email_status": "active"}')), ARRAY[:a::bigint], '... active ones');
SELECT throws_ok($$SELECT customercard.audience_count('{"email_status": "gone"}')$$, '22023', NULL, 'an unknown e-mail status in the filter: 22023');
SELECT is(customercard.card_json(:b) -> 'emails' -> 0 ->> 'status', 'bounced', 'card_json shows each address''s status');
SELECT is((SELECT details -> 'fields' -> 'status' ->> 'new' FROM customercard.action_log
            WHERE contact_id = :b AND event = 'row_changed' AND details ->> 'section' = 'emails' AND actor = 'mailer:unisender'),
          'bounced', 'the change is logged, with the actor');

SELECT * FROM finish();
ROLLBACK;
