-- ===================================================================
-- 13_commerce.sql: orders, payments, payouts, sales plans.
-- Money is numeric(14,2) in the order's currency; payments and payouts
-- take their currency from their order.
-- ===================================================================

CREATE TABLE customercard.orders (
    account_id          bigint NOT NULL DEFAULT customercard.require_account_id(),
    order_id            bigserial NOT NULL,
    contact_id          bigint NOT NULL,
    number              text NOT NULL CHECK (pg_catalog.length(number) BETWEEN 1 AND 100),
    offer               text NOT NULL CHECK (pg_catalog.length(offer) BETWEEN 1 AND 500),
    products            text[] NOT NULL DEFAULT '{}',
    amount              numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency            text NOT NULL DEFAULT customercard.account_currency() CHECK (currency ~ '^[A-Z]{3}$'),
    status              text NOT NULL DEFAULT 'new'
                        CHECK (status IN ('new', 'pending', 'confirmed', 'paid', 'failed', 'refunded', 'cancelled')),
    is_manual           boolean NOT NULL DEFAULT false,
    is_recurring        boolean NOT NULL DEFAULT false,
    payment_error_code  text,
    manager_id          bigint,
    utm_source          text,
    utm_medium          text,
    utm_campaign        text,
    utm_content         text,
    utm_term            text,
    created_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    paid_at             timestamptz,
    PRIMARY KEY (account_id, order_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    UNIQUE (account_id, number)
);
CREATE INDEX orders_contact ON customercard.orders (account_id, contact_id, created_at DESC);
CREATE INDEX orders_offer ON customercard.orders (account_id, offer, status, contact_id);
CREATE INDEX orders_manager ON customercard.orders (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.orders IS 'Orders (deals): offer, amount, status, UTM marks';

CREATE TABLE customercard.payments (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    payment_id      bigserial NOT NULL,
    order_id        bigint NOT NULL,
    contact_id      bigint NOT NULL,
    amount          numeric(14, 2) NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    method          text,
    error_code      text,
    is_manual       boolean NOT NULL DEFAULT false,
    confirmed_by    bigint,         -- the manager who confirmed a manual payment
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, payment_id),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, confirmed_by) REFERENCES customercard.managers,
    CHECK (status = 'failed' OR error_code IS NULL),
    CHECK (confirmed_by IS NULL OR is_manual)
);
CREATE INDEX payments_order ON customercard.payments (account_id, order_id);
CREATE INDEX payments_contact ON customercard.payments (account_id, contact_id);
CREATE INDEX payments_confirmed_by ON customercard.payments (account_id, confirmed_by) WHERE confirmed_by IS NOT NULL;
COMMENT ON TABLE customercard.payments IS 'Payment attempts of orders: succeeded or failed with an error code; manual ones confirmed by a manager';

CREATE TABLE customercard.payouts (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    payout_id   bigserial NOT NULL,
    order_id    bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('partner', 'call_centre', 'co_author', 'expense', 'refund')),
    amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
    recipient   text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, payout_id),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders
);
CREATE INDEX payouts_order ON customercard.payouts (account_id, order_id);
COMMENT ON TABLE customercard.payouts IS 'Money going out for an order: partner, call-centre and co-author commissions, expenses, refunds';

CREATE TABLE customercard.sales_plans (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    plan_id     bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at timestamptz,
    PRIMARY KEY (account_id, plan_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.sales_plans IS 'Sales plans (pipelines) that contacts are worked through';

CREATE TABLE customercard.sales_plan_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    plan_id         bigint NOT NULL,
    contact_id      bigint NOT NULL,
    status          text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'won', 'lost')),
    amount          numeric(14, 2) CHECK (amount >= 0),
    manager_id      bigint,
    manager_pinned  boolean NOT NULL DEFAULT false,
    added_at        timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, plan_id, contact_id),
    FOREIGN KEY (account_id, plan_id) REFERENCES customercard.sales_plans,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    CHECK (NOT manager_pinned OR manager_id IS NOT NULL)
);
CREATE INDEX sales_plan_members_contact ON customercard.sales_plan_members (account_id, contact_id);
CREATE INDEX sales_plan_members_manager ON customercard.sales_plan_members (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.sales_plan_members IS 'Contacts in sales plans: status, amount, manager (pinned or not)';
