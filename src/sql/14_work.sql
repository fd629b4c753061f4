-- ===================================================================
-- 14_work.sql: managers' work on a contact: tasks, calls, call campaigns,
-- comments (immutable once written).
-- ===================================================================

CREATE TABLE customercard.tasks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    task_id     bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    title       text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(title)) BETWEEN 1 AND 500),
    description text,
    due_at      timestamptz,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    reschedules integer NOT NULL DEFAULT 0 CHECK (reschedules >= 0),
    manager_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    done_at     timestamptz,
    order_id    bigint,         -- the order the task is about
    PRIMARY KEY (account_id, task_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    CHECK ((status = 'done') = (done_at IS NOT NULL)),
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders
);
CREATE INDEX tasks_contact ON customercard.tasks (account_id, contact_id, status);
CREATE INDEX tasks_order ON customercard.tasks (account_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX tasks_manager ON customercard.tasks (account_id, manager_id, status, due_at) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.tasks IS 'Manager tasks about a contact: due time, status, how often rescheduled';

-- A task becomes done by its status alone: done_at is stamped, and cleared
-- when the task is open (or cancelled) again.
CREATE FUNCTION customercard.task_done_at() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.status OPERATOR(pg_catalog.=) 'done' THEN
        NEW.done_at := coalesce(NEW.done_at, pg_catalog.now());
    ELSE
        NEW.done_at := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER tasks_done_at BEFORE INSERT OR UPDATE ON customercard.tasks
    FOR EACH ROW EXECUTE FUNCTION customercard.task_done_at();

CREATE TABLE customercard.calls (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    call_id         bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    manager_id      bigint,
    direction       text NOT NULL DEFAULT 'out' CHECK (direction IN ('in', 'out')),
    started_at      timestamptz NOT NULL,
    duration_s      integer NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    result          text NOT NULL CHECK (result IN ('answered', 'no_answer', 'busy', 'unreachable', 'failed')),
    reason          text,
    recording_url   text,
    order_id        bigint,         -- the order (invoice) the call was about: JustClick's calls by invoice
    PRIMARY KEY (account_id, call_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers,
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders
);
CREATE INDEX calls_contact ON customercard.calls (account_id, contact_id, started_at DESC);
CREATE INDEX calls_order ON customercard.calls (account_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX calls_manager ON customercard.calls (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.calls IS 'Phone calls with a contact: manager, direction, duration, result, recording';

CREATE TABLE customercard.call_campaigns (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    campaign_id bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, campaign_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.call_campaigns IS 'Call campaigns (JustClick call tasks)';

CREATE TABLE customercard.call_campaign_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    campaign_id     bigint NOT NULL,
    contact_id      bigint NOT NULL,
    included_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    call_back_at    timestamptz,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'call_back', 'reached', 'not_reached', 'refused', 'done')),
    comment         text,
    manager_id      bigint,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, campaign_id, contact_id),
    FOREIGN KEY (account_id, campaign_id) REFERENCES customercard.call_campaigns,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, manager_id) REFERENCES customercard.managers
);
CREATE INDEX call_campaign_members_contact ON customercard.call_campaign_members (account_id, contact_id);
CREATE INDEX call_campaign_members_manager ON customercard.call_campaign_members (account_id, manager_id) WHERE manager_id IS NOT NULL;
COMMENT ON TABLE customercard.call_campaign_members IS 'Contacts in call campaigns: when included, when to call back, status, comment, manager';

CREATE TABLE customercard.comments (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    comment_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    author      text NOT NULL DEFAULT customercard.current_actor(),
    body        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(body)) > 0),
    attachments text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    order_id    bigint,         -- the order the comment is about
    PRIMARY KEY (account_id, comment_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, order_id) REFERENCES customercard.orders
);
CREATE INDEX comments_contact ON customercard.comments (account_id, contact_id, created_at DESC);
CREATE INDEX comments_order ON customercard.comments (account_id, order_id) WHERE order_id IS NOT NULL;
COMMENT ON TABLE customercard.comments IS
    'Comments on a contact: immutable once written, at most customercard.comment_max_length characters';

CREATE TRIGGER comments_check BEFORE INSERT ON customercard.comments
    FOR EACH ROW EXECUTE FUNCTION customercard.check_comment();
CREATE TRIGGER comments_immutable BEFORE UPDATE OR DELETE ON customercard.comments
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();
CREATE TRIGGER comments_no_truncate BEFORE TRUNCATE ON customercard.comments
    FOR EACH STATEMENT EXECUTE FUNCTION customercard.refuse_change();
