-- Under row-level security, only leakproof quals may run ahead of the
-- policy; a lookup whose key is not leakproof degrades to scanning the
-- whole account.  These plans, as a bound manager, must keep each lookup
-- key in the Index Cond (seq scans are off so that tiny tables still show
-- which index conditions are possible).
CREATE ROLE cc_r_manager LOGIN IN ROLE customercard_manager;
SELECT customercard.bind_role('cc_r_manager', (SELECT account_id FROM customercard.accounts WHERE is_default));
SET SESSION AUTHORIZATION cc_r_manager;
SET enable_seqscan = off;

EXPLAIN (COSTS OFF) SELECT contact_id FROM customercard.emails WHERE customercard.email_key(email) = 'anna@example.com';
-- the phone operators live in schema customercard: applications put it on their search_path
SET search_path = public, customercard;
EXPLAIN (COSTS OFF) SELECT contact_id FROM customercard.phones WHERE phone = '8 912 345-67-89';
RESET search_path;
EXPLAIN (COSTS OFF) SELECT contact_id FROM customercard.channels WHERE kind = 'telegram' AND external_id = '123';
EXPLAIN (COSTS OFF) SELECT contact_id FROM customercard.page_visits WHERE visitor_id = 'v-1';

RESET SESSION AUTHORIZATION;
DROP OWNED BY cc_r_manager;
DROP ROLE cc_r_manager;
