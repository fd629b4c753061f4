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
    next_charge_at      timestamptz,    -- a recurring order's next charge
    recurring_stopped_at timestamptz,   -- stop_recurring()
    is_false            boolean NOT NULL DEFAULT false,     -- GetCourse's "false order": kept, out of the card and its figures
    visitor_id          text,           -- the browser the order was placed from
    PRIMARY KEY (account_id, order_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    UNIQUE (account_id, number),
    CONSTRAINT orders_recurring_only CHECK (is_recurring OR (next_charge_at IS NULL AND recurring_stopped_at IS NULL))
);
CREATE INDEX orders_contact ON customercard.orders (account_id, contact_id, created_at DESC);
CREATE INDEX orders_offer ON customercard.orders (account_id, offer, status, contact_id);
CREATE INDEX orders_manager ON customercard.orders (account_id, manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX orders_visitor ON customercard.orders (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.orders IS 'Orders (deals): offer, amount, status, UTM marks';

-- the balance ledger's rows name the order that earned or spent them
ALTER TABLE customercard.balance_transactions ADD FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders;
CREATE INDEX balance_transactions_order ON customercard.balance_transactions (account_id, order_id) WHERE order_id IS NOT NULL;

CREATE TABLE customercard.payments (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    payment_id      bigserial NOT NULL,
    order_id        bigint NOT NULL,
    contact_id      bigint NOT NULL,
    amount          numeric(14, 2) NOT NULL CHECK (amount > 0),
    status          text NOT NULL CHECK (status IN ('succeeded', 'failed', 'pending')),   -- pending: a manual one awaiting confirm_payment()
    method          text,
    error_code      text,
    is_manual       boolean NOT NULL DEFAULT false,
    confirmed_by    bigint,         -- the manager who confirmed a manual payment
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    confirmed_at    timestamptz,    -- when confirmed_by confirmed it (confirm_payment)
    manager_id      bigint,         -- the manager pinned to the payment
    visitor_id      text,           -- the browser the payment was made from
    PRIMARY KEY (account_id, payment_id),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, confirmed_by) REFERENCES customercard.managers,
    CHECK (status = 'failed' OR error_code IS NULL),
    CHECK (confirmed_by IS NULL OR is_manual),
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    CONSTRAINT payments_pending_manual CHECK (status <> 'pending' OR is_manual)
);
CREATE INDEX payments_order ON customercard.payments (account_id, order_id);
CREATE INDEX payments_contact ON customercard.payments (account_id, contact_id);
CREATE INDEX payments_confirmed_by ON customercard.payments (account_id, confirmed_by) WHERE confirmed_by IS NOT NULL;
CREATE INDEX payments_manager ON customercard.payments (account_id, manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX payments_visitor ON customercard.payments (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
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

-- A manual payment (status pending, added by a manager) confirmed: it counts
-- as paid from now; who (the session's actor, a manager of the account)
-- and when are recorded, and the log tells of it (payment_confirmed).
-- SECURITY DEFINER: confirmed_by and confirmed_at are the extension's word.
CREATE FUNCTION customercard.confirm_payment(payment_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    p customercard.payments;
    manager bigint;
BEGIN
    PERFORM customercard.assert_manager('confirm payments');
    SELECT * INTO p FROM customercard.payments x WHERE x.account_id = acct AND x.payment_id = confirm_payment.payment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'payment % does not exist in account %', coalesce(confirm_payment.payment_id::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.card_payments.';
    END IF;
    IF NOT p.is_manual THEN
        RAISE EXCEPTION 'payment % is not a manual one: only payments a manager added are confirmed', p.payment_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'A payment system''s payments come in succeeded or failed.';
    END IF;
    IF p.status <> 'pending' THEN
        RAISE EXCEPTION 'payment % is % already%', p.payment_id, CASE p.status WHEN 'succeeded' THEN 'confirmed' ELSE p.status END,
                        coalesce(format(' (by manager %s at %s)', p.confirmed_by, p.confirmed_at), '')
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'A payment is confirmed once.';
    END IF;
    manager := substring(customercard.current_actor() FROM '^manager:([0-9]{1,18})$')::bigint;
    IF manager IS NULL OR NOT EXISTS (SELECT 1 FROM customercard.managers m WHERE m.account_id = acct AND m.manager_id = manager) THEN
        RAISE EXCEPTION 'confirm_payment needs the confirming manager as the actor, not "%"', customercard.current_actor()
            USING ERRCODE = 'invalid_parameter_value', HINT = 'SET customercard.actor = ''manager:<id>'' (a manager of the account) first.';
    END IF;
    UPDATE customercard.payments x SET status = 'succeeded', confirmed_by = manager, confirmed_at = now()
     WHERE x.account_id = acct AND x.payment_id = p.payment_id;
END
$$;
COMMENT ON FUNCTION customercard.confirm_payment(bigint) IS
    'Confirm a manual payment: it counts as paid (and pays its order once the order''s payments cover it); the confirming manager (the actor) and the time are recorded and logged; confirming twice is 55000';

-- An order that becomes paid keeps the moment (paid_at), whichever way it
-- became so -- its status written by hand, a payment system's payment, a
-- confirmation (payment_settles_order) -- unless its writer gave one.
CREATE FUNCTION customercard.order_paid_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status = 'paid' AND NEW.paid_at IS NULL AND (TG_OP = 'INSERT' OR OLD.status <> 'paid') THEN
        NEW.paid_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_paid_at BEFORE INSERT OR UPDATE OF status ON customercard.orders
    FOR EACH ROW EXECUTE FUNCTION customercard.order_paid_at();

-- A payment that succeeds pays its order once the order's succeeded
-- payments cover its amount: a new, pending or confirmed order becomes
-- paid (orders_paid_at stamps paid_at; the log tells of it as
-- order_status_changed, with the actor).  Less than the amount leaves the
-- order as it is (card_orders shows the part paid); a refunded, cancelled
-- or failed order keeps its status.  In the writer's rights, as any
-- change of the order's status.
CREATE FUNCTION customercard.payment_settles_order() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    covered numeric;
BEGIN
    IF NEW.status = 'succeeded' THEN
        SELECT sum(p.amount) INTO covered FROM customercard.payments p
         WHERE p.account_id = NEW.account_id AND p.order_id = NEW.order_id AND p.status = 'succeeded';
        UPDATE customercard.orders o SET status = 'paid'
         WHERE o.account_id = NEW.account_id AND o.order_id = NEW.order_id
           AND o.status IN ('new', 'pending', 'confirmed') AND o.amount <= covered;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER payments_settle_order AFTER INSERT OR UPDATE OF status, amount ON customercard.payments
    FOR EACH ROW EXECUTE FUNCTION customercard.payment_settles_order();

-- A recurring order charges no more: its next charge is dropped, the time
-- it stopped kept (the log tells who).
CREATE FUNCTION customercard.stop_recurring(order_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
    o customercard.orders;
BEGIN
    SELECT * INTO o FROM customercard.orders x WHERE x.account_id = acct AND x.order_id = stop_recurring.order_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % does not exist in account %', coalesce(stop_recurring.order_id::text, 'NULL'), acct
            USING ERRCODE = 'undefined_object', HINT = 'See customercard.card_orders.';
    END IF;
    IF NOT o.is_recurring THEN
        RAISE EXCEPTION 'order % is not recurring', o.order_id
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Only recurring orders (is_recurring) have charges to stop.';
    END IF;
    IF o.recurring_stopped_at IS NOT NULL THEN
        RAISE EXCEPTION 'the recurring charges of order % were stopped at %', o.order_id, o.recurring_stopped_at
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'They are stopped once.';
    END IF;
    UPDATE customercard.orders x SET recurring_stopped_at = now(), next_charge_at = NULL
     WHERE x.account_id = acct AND x.order_id = o.order_id;
END
$$;
COMMENT ON FUNCTION customercard.stop_recurring(bigint) IS
    'Stop the charges of a recurring order: no next charge, the time it stopped kept and logged; stopping twice is 55000';
