-- ===================================================================
-- 11_contacts.sql: the contact and its personal data: phones, e-mails,
-- addresses, and the balance ledger.
-- ===================================================================

CREATE TABLE customercard.contacts (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id() REFERENCES customercard.accounts,
    contact_id      bigserial NOT NULL,
    name            text CHECK (pg_catalog.length(name) <= 500),
    first_name      text CHECK (pg_catalog.length(first_name) <= 200),
    last_name       text CHECK (pg_catalog.length(last_name) <= 200),
    middle_name     text CHECK (pg_catalog.length(middle_name) <= 200),
    nickname        text CHECK (pg_catalog.length(nickname) <= 200),
    avatar_url      text,
    gender          text CHECK (gender IN ('male', 'female')),
    gender_source   text CHECK (gender_source IN ('channel', 'manual')),
    timezone        text CHECK (customercard.is_valid_timezone(timezone)),
    country         text,
    city            text,
    ip              inet,
    note            text,
    manager_id      bigint,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'unsubscribed', 'blacklisted', 'archived')),
    points          bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deleted_at      timestamptz,
    merged_into     bigint,
    forgotten_at    timestamptz,
    PRIMARY KEY (account_id, contact_id),
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    FOREIGN KEY (account_id, merged_into) REFERENCES customercard.contacts,
    CHECK (merged_into IS DISTINCT FROM contact_id),
    CHECK (gender_source IS NULL OR gender IS NOT NULL)
) WITH (fillfactor = 90);     -- room for HOT updates: notes, statuses and points change often
CREATE INDEX contacts_live_created ON customercard.contacts (account_id, created_at DESC, contact_id DESC)
    WHERE merged_into IS NULL AND deleted_at IS NULL;
CREATE INDEX contacts_manager ON customercard.contacts (account_id, manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX contacts_merged_into ON customercard.contacts (account_id, merged_into) WHERE merged_into IS NOT NULL;
-- tombstones, deleted and forgotten cards by id: bulk jobs and their undo
-- look up only these
CREATE INDEX contacts_gone ON customercard.contacts (account_id, contact_id)
    WHERE merged_into IS NOT NULL OR deleted_at IS NOT NULL OR forgotten_at IS NOT NULL;
COMMENT ON TABLE customercard.contacts IS
    'One person as a business knows them; deleted_at marks a deleted card, merged_into a tombstone of a merge';

CREATE TABLE customercard.phones (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    phone_id    bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    phone       customercard.phone NOT NULL,      -- E.164, 8 bytes
    raw         text,
    kind        text NOT NULL DEFAULT 'mobile' CHECK (kind IN ('mobile', 'work', 'home', 'other')),
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, phone_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    UNIQUE (account_id, contact_id, phone)
);
CREATE UNIQUE INDEX phones_one_primary ON customercard.phones (account_id, contact_id) WHERE is_primary;
CREATE INDEX phones_lookup ON customercard.phones (account_id, phone);
COMMENT ON TABLE customercard.phones IS 'Phone numbers of a contact: the number beside the raw text as typed';

CREATE TABLE customercard.emails (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    email_id    bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    email       text NOT NULL CHECK (customercard.normalize_email(email) OPERATOR(pg_catalog.=) email),
    raw         text,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- whether letters may go to it (JustClick's "activated"/"subscribed"):
    -- unconfirmed (not activated yet), active, unsubscribed, bounced, spam
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('unconfirmed', 'active', 'unsubscribed', 'bounced', 'spam')),
    PRIMARY KEY (account_id, email_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE UNIQUE INDEX emails_once_per_contact ON customercard.emails (account_id, contact_id, customercard.email_key(email));
CREATE UNIQUE INDEX emails_one_primary ON customercard.emails (account_id, contact_id) WHERE is_primary;
CREATE INDEX emails_lookup ON customercard.emails (account_id, customercard.email_key(email));
COMMENT ON TABLE customercard.emails IS 'E-mail addresses of a contact: normalized beside the raw text as typed, and whether letters may go to it (status)';

CREATE TABLE customercard.addresses (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    address_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    kind        text NOT NULL DEFAULT 'postal' CHECK (kind IN ('postal', 'delivery')),
    country     text,
    region      text,
    city        text,
    zip         text,
    line        text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, address_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX addresses_contact ON customercard.addresses (account_id, contact_id);
COMMENT ON TABLE customercard.addresses IS 'Postal and delivery addresses (filled from orders of physical goods)';

CREATE TABLE customercard.balance_transactions (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    transaction_id  bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    currency        text NOT NULL CHECK (currency IN ('bonus', 'coins', 'deposit', 'points')),
    amount          numeric(14, 2) NOT NULL CHECK (amount <> 0),
    reason          text NOT NULL CHECK (pg_catalog.length(reason) BETWEEN 1 AND 500),
    actor           text NOT NULL DEFAULT customercard.current_actor(),
    at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    order_id        bigint,         -- the order that earned or spent them (its foreign key: 13_commerce.sql)
    PRIMARY KEY (account_id, transaction_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    CHECK (currency <> 'points' OR amount OPERATOR(pg_catalog.=) pg_catalog.trunc(amount))
);
CREATE INDEX balance_transactions_contact ON customercard.balance_transactions (account_id, contact_id, currency);
COMMENT ON TABLE customercard.balance_transactions IS
    'The internal balance ledger (bonus, coins, deposit, points); a contact''s balances are the sums, contacts.points follows the points rows';

CREATE TRIGGER contacts_points_to_ledger BEFORE UPDATE OF points ON customercard.contacts
    FOR EACH ROW EXECUTE FUNCTION customercard.points_edit_to_ledger();
CREATE TRIGGER balance_transactions_to_points AFTER INSERT ON customercard.balance_transactions
    FOR EACH ROW EXECUTE FUNCTION customercard.ledger_to_points();
