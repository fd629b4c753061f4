-- ===================================================================
-- 15_activity.sql: what a contact did: webinars, page visits, link clicks,
-- e-mails sent to them, groups joined.  visitor_id is the browser cookie
-- where the source has one.
-- ===================================================================

-- Webinars (JustClick's and GetCourse's): one row per launch, with when it
-- took place (unknown for one first met in a visit named as 0.1 named it).
CREATE TABLE customercard.webinars (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    webinar_id  bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 500),
    launch      integer CHECK (launch > 0),
    starts_at   timestamptz,
    ends_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, webinar_id),
    UNIQUE NULLS NOT DISTINCT (account_id, name, launch),
    CHECK (ends_at IS NULL OR ends_at >= starts_at)
);
COMMENT ON TABLE customercard.webinars IS 'Webinars: name, launch number, when each starts and ends';

-- The trigger functions of visits and registrations (src/webinars.c).
CREATE FUNCTION customercard.webinar_visit_links() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webinar_visit_links' LANGUAGE C;
CREATE FUNCTION customercard.webinar_attendance() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webinar_attendance' LANGUAGE C;

-- A visit is one viewing interval (joined, left); several make a person's
-- attendance of a webinar.  webinar and launch are the webinar's name and
-- launch (0.1's columns): a visit names its webinar by id, or by them
-- (the webinar found or made); chat holds the texts the person wrote in
-- the webinar's chat, [{"at": time, "text": string}], chat_messages how
-- many they wrote (at least those).
CREATE TABLE customercard.webinar_visits (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    visit_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    webinar         text NOT NULL CHECK (pg_catalog.length(webinar) BETWEEN 1 AND 500),
    launch          integer CHECK (launch > 0),
    joined_at       timestamptz NOT NULL,
    left_at         timestamptz,
    watched_s       integer CHECK (watched_s >= 0),
    chat_messages   integer NOT NULL DEFAULT 0 CHECK (chat_messages >= 0),
    visitor_id      text,
    webinar_id      bigint NOT NULL,
    chat            jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (account_id, visit_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, webinar_id) REFERENCES customercard.webinars,
    CHECK (left_at IS NULL OR left_at >= joined_at),
    CHECK (chat_messages >= pg_catalog.jsonb_array_length(chat))
);
CREATE INDEX webinar_visits_contact ON customercard.webinar_visits (account_id, contact_id, joined_at DESC);
CREATE INDEX webinar_visits_visitor ON customercard.webinar_visits (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
CREATE INDEX webinar_visits_webinar ON customercard.webinar_visits (account_id, webinar_id, contact_id);
COMMENT ON TABLE customercard.webinar_visits IS
    'Webinar viewing intervals: which webinar and launch, joined/left, seconds watched, the chat texts written and how many';
CREATE TRIGGER webinar_visit_links BEFORE INSERT OR UPDATE ON customercard.webinar_visits
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_visit_links();

-- Who registered for a webinar, and whether they came: attended is set by
-- the writer, and by the first visit of the webinar recorded (before or
-- after the registration).
CREATE TABLE customercard.webinar_registrations (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    webinar_id      bigint NOT NULL,
    contact_id      bigint NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attended        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (account_id, webinar_id, contact_id),
    FOREIGN KEY (account_id, webinar_id) REFERENCES customercard.webinars,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX webinar_registrations_contact ON customercard.webinar_registrations (account_id, contact_id);
COMMENT ON TABLE customercard.webinar_registrations IS 'Registrations for webinars: when, and whether the person attended';
CREATE TRIGGER webinar_registration_attended BEFORE INSERT ON customercard.webinar_registrations
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_attendance();
CREATE TRIGGER webinar_visit_attended AFTER INSERT OR UPDATE OF webinar_id ON customercard.webinar_visits
    FOR EACH ROW EXECUTE FUNCTION customercard.webinar_attendance();

CREATE TABLE customercard.page_visits (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    visit_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    url             text NOT NULL,
    title           text,
    referrer        text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    utm_content     text,
    utm_term        text,
    visited_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, visit_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX page_visits_contact ON customercard.page_visits (account_id, contact_id, visited_at DESC);
CREATE INDEX page_visits_visitor ON customercard.page_visits (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.page_visits IS 'Pages a contact visited, with referrer and UTM marks';

CREATE TABLE customercard.clicks (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    click_id        bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    url             text NOT NULL,
    utm_source      text,
    utm_campaign    text,
    utm_ad          text,
    utm_keys        text,
    clicked_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    partner         text CHECK (pg_catalog.length(partner) BETWEEN 1 AND 200),   -- the partner's mark on the link
    PRIMARY KEY (account_id, click_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX clicks_contact ON customercard.clicks (account_id, contact_id, clicked_at DESC);
CREATE INDEX clicks_visitor ON customercard.clicks (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.clicks IS 'Tracked link clicks with UTM source, campaign, ad and keys, and the partner''s mark';

CREATE TABLE customercard.emails_sent (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    email_sent_id   bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    visitor_id      text,
    kind            text NOT NULL CHECK (kind IN ('autoseries', 'instant', 'chain', 'process', 'funnel')),
    subject         text NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    opened_at       timestamptz,
    clicked_at      timestamptz,
    unsubscribed_at timestamptz,
    spam_at         timestamptz,
    -- JustClick's detail: the group the letter went to, the letter's number
    -- and name in its series, an instant letter's number, and what the
    -- automatic chain did on it
    group_id        bigint,
    letter_number   integer CHECK (letter_number > 0),
    letter_name     text CHECK (pg_catalog.length(letter_name) BETWEEN 1 AND 500),
    instant_number  integer CHECK (instant_number > 0),
    chain_actions   text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, email_sent_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX emails_sent_contact ON customercard.emails_sent (account_id, contact_id, sent_at DESC);
CREATE INDEX emails_sent_visitor ON customercard.emails_sent (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.emails_sent IS 'E-mails sent to a contact: kind, subject, opened/clicked/unsubscribed/spam times; the sending group, letter number and name, instant letter number, the automatic chain''s actions';

CREATE TABLE customercard.groups (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    group_id    bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    is_automatic boolean NOT NULL DEFAULT false,   -- its rules add and remove members: no manager takes one out by hand
    PRIMARY KEY (account_id, group_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.groups IS 'Groups (lists) contacts join, e.g. through a sign-up form; automatic ones are kept by their rules';
-- (the e-mails' sending group, now that groups exist)
ALTER TABLE customercard.emails_sent ADD FOREIGN KEY (account_id, group_id) REFERENCES customercard.groups;
CREATE INDEX emails_sent_group ON customercard.emails_sent (account_id, group_id) WHERE group_id IS NOT NULL;
-- A deleted group leaves its letters with no sending group, as JustClick
-- shows them, and everything else kept: ON DELETE SET NULL (group_id) done
-- by a trigger (Citus refuses SET NULL in a key that holds the
-- distribution column: citusdata/citus#7132); each letter's change logged.
CREATE FUNCTION customercard.groups_release_letters() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE customercard.emails_sent e SET group_id = NULL
     WHERE e.account_id = OLD.account_id AND e.group_id = OLD.group_id;
    RETURN OLD;
END
$$;
CREATE TRIGGER groups_release_letters BEFORE DELETE ON customercard.groups
    FOR EACH ROW EXECUTE FUNCTION customercard.groups_release_letters();

CREATE TABLE customercard.group_members (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    group_id        bigint NOT NULL,
    contact_id      bigint NOT NULL,
    joined_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    partner         text,
    tag             text,
    utm_source      text,
    utm_medium      text,
    utm_campaign    text,
    visitor_id      text,
    -- JustClick's membership statuses (unconfirmed until the address is
    -- confirmed), when the person left, and the ad / keys UTM marks
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('unconfirmed', 'active', 'unsubscribed')),
    left_at         timestamptz,
    utm_ad          text,
    utm_keys        text,
    PRIMARY KEY (account_id, group_id, contact_id),
    FOREIGN KEY (account_id, group_id) REFERENCES customercard.groups,
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts
);
CREATE INDEX group_members_contact ON customercard.group_members (account_id, contact_id);
CREATE INDEX group_members_visitor ON customercard.group_members (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
COMMENT ON TABLE customercard.group_members IS 'Contacts in groups: status (unconfirmed, active, unsubscribed), when they left, the partner, tag and UTM marks of joining';
-- the status's time, and an automatic group's members out of a manager's
-- hands (src/group_rules.c)
CREATE FUNCTION customercard.group_member_rules() RETURNS trigger
    AS 'MODULE_PATHNAME', 'group_member_rules' LANGUAGE C;
CREATE TRIGGER group_member_rules BEFORE UPDATE OR DELETE ON customercard.group_members
    FOR EACH ROW EXECUTE FUNCTION customercard.group_member_rules();

-- Dialogs (GetCourse's "requests", Leeloo's chats): every message between
-- the person and the account, in threads; incoming ones are the person's,
-- outgoing ones a manager's or a bot's (author: who wrote or recorded it,
-- the session's actor).
CREATE TABLE customercard.messages (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    message_id  bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    thread      text NOT NULL DEFAULT 'main' CHECK (pg_catalog.length(thread) BETWEEN 1 AND 200),
    channel_id  bigint,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    body        text NOT NULL DEFAULT '' CHECK (pg_catalog.length(body) <= 100000),
    attachments text[] NOT NULL DEFAULT '{}',
    author      text NOT NULL DEFAULT customercard.current_actor(),
    sent_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    read_at     timestamptz,
    PRIMARY KEY (account_id, message_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, channel_id) REFERENCES customercard.channels,
    CHECK (body <> '' OR attachments <> '{}'),
    CHECK (read_at IS NULL OR read_at >= sent_at)
);
CREATE INDEX messages_contact ON customercard.messages (account_id, contact_id, sent_at DESC);
CREATE INDEX messages_channel ON customercard.messages (account_id, channel_id) WHERE channel_id IS NOT NULL;
-- the audience's has_unread filter
CREATE INDEX messages_unread ON customercard.messages (account_id, contact_id) WHERE direction = 'in' AND read_at IS NULL;
COMMENT ON TABLE customercard.messages IS
    'Dialog messages with a contact, in threads: direction in (the person''s) or out (a manager''s or bot''s), body, attachments, sent and read times';
