-- ===================================================================
-- 12_channels.sql: messenger and e-mail/SMS channels, tags, custom fields,
-- funnels with their blocks and lead-generation tools, subscriptions.
-- ===================================================================

-- The messenger and list kinds a channel can be: the one list, which the
-- CHECK below, upsert_contact, the imports' settings and audience filters read.
CREATE FUNCTION customercard.channel_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['telegram', 'whatsapp', 'viber', 'vk', 'ok', 'facebook', 'instagram', 'max', 'avito', 'web', 'email', 'sms', 'other']
$$;
COMMENT ON FUNCTION customercard.channel_kinds() IS 'The kinds a channel can be (messengers, web, email, sms, other)';

CREATE TABLE customercard.channels (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    channel_id      bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    kind            text NOT NULL CONSTRAINT channels_kind_check CHECK (kind OPERATOR(pg_catalog.=) ANY (customercard.channel_kinds())),
    connection      text,           -- the bot / connection the contact came through
    external_id     text NOT NULL CHECK (pg_catalog.length(external_id) BETWEEN 1 AND 200),   -- social_id
    username        text,
    subscribed_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    avatar_url      text CHECK (pg_catalog.length(avatar_url) BETWEEN 1 AND 2000),    -- the person's picture in that messenger
    PRIMARY KEY (account_id, channel_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    UNIQUE NULLS NOT DISTINCT (account_id, kind, connection, external_id)
);
CREATE INDEX channels_contact ON customercard.channels (account_id, contact_id);
CREATE INDEX channels_external_id ON customercard.channels (account_id, external_id);
-- the audience's messenger filter
CREATE INDEX channels_kind ON customercard.channels (account_id, kind, contact_id) WHERE archived_at IS NULL;
COMMENT ON TABLE customercard.channels IS
    'Messenger, e-mail and SMS accounts of a contact: kind, the connection (bot) it came through, its external id (social_id)';

CREATE TABLE customercard.tags (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    tag_id      bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, tag_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.tags IS 'Tags of an account';

CREATE TABLE customercard.contact_tags (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_id  bigint NOT NULL,
    tag_id      bigint NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    added_by    text NOT NULL DEFAULT customercard.current_actor(),
    PRIMARY KEY (account_id, contact_id, tag_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, tag_id) REFERENCES customercard.tags
);
CREATE INDEX contact_tags_tag ON customercard.contact_tags (account_id, tag_id, contact_id);
COMMENT ON TABLE customercard.contact_tags IS 'Tags on contacts, with when and by whom';

CREATE TABLE customercard.custom_fields (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    field_id    bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    kind        text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'number', 'date', 'boolean', 'url')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, field_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.custom_fields IS 'Definitions of an account''s custom contact fields';

CREATE TABLE customercard.custom_values (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_id  bigint NOT NULL,
    field_id    bigint NOT NULL,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, contact_id, field_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, field_id) REFERENCES customercard.custom_fields
);
CREATE INDEX custom_values_field ON customercard.custom_values (account_id, field_id);
COMMENT ON TABLE customercard.custom_values IS 'Custom field values of contacts';

CREATE TABLE customercard.funnels (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    funnel_id   bigserial NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    archived_at timestamptz,
    PRIMARY KEY (account_id, funnel_id),
    UNIQUE (account_id, name)
);
COMMENT ON TABLE customercard.funnels IS 'Funnels (tunnels): the automated message chains contacts subscribe to';

CREATE TABLE customercard.funnel_blocks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    block_id    bigserial NOT NULL,
    funnel_id   bigint NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'delay', 'condition', 'action', 'form')),
    position    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, block_id),
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels
);
CREATE INDEX funnel_blocks_funnel ON customercard.funnel_blocks (account_id, funnel_id, position);
COMMENT ON TABLE customercard.funnel_blocks IS 'Blocks (steps) of a funnel';

CREATE TABLE customercard.lgts (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    lgt_id      bigserial NOT NULL,
    funnel_id   bigint NOT NULL,
    name        text NOT NULL CHECK (pg_catalog.length(pg_catalog.btrim(name)) BETWEEN 1 AND 200),
    kind        text NOT NULL DEFAULT 'link' CHECK (kind IN ('link', 'widget', 'landing', 'qr', 'form', 'ad', 'other')),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, lgt_id),
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels,
    UNIQUE (account_id, funnel_id, name)
);
COMMENT ON TABLE customercard.lgts IS 'Lead-generation tools (LGT): the entry points that subscribe contacts to a funnel';

CREATE TABLE customercard.subscriptions (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    subscription_id bigserial NOT NULL,
    contact_id      bigint NOT NULL,
    channel_id      bigint,
    funnel_id       bigint NOT NULL,
    lgt_id          bigint,
    block_id        bigint,         -- where in the funnel the contact is now
    subscribed_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    unsubscribed_at timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source          text CHECK (pg_catalog.length(source) BETWEEN 1 AND 200),  -- where it came from: "import", the account's default traffic source
    visitor_id      text,           -- the browser the person subscribed from
    PRIMARY KEY (account_id, subscription_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, channel_id) REFERENCES customercard.channels,
    FOREIGN KEY (account_id, funnel_id) REFERENCES customercard.funnels,
    FOREIGN KEY (account_id, lgt_id) REFERENCES customercard.lgts,
    FOREIGN KEY (account_id, block_id) REFERENCES customercard.funnel_blocks,
    CHECK (unsubscribed_at IS NULL OR unsubscribed_at >= subscribed_at)
);
-- a row is one period: re-subscribing starts a new one, the ended ones are
-- the history (card_subscription_history); one open period at a time per
-- funnel, channel and LGT
CREATE UNIQUE INDEX subscriptions_open ON customercard.subscriptions (account_id, contact_id, funnel_id, channel_id, lgt_id)
    NULLS NOT DISTINCT WHERE unsubscribed_at IS NULL;
CREATE INDEX subscriptions_contact ON customercard.subscriptions (account_id, contact_id);
CREATE INDEX subscriptions_visitor ON customercard.subscriptions (account_id, visitor_id) WHERE visitor_id IS NOT NULL;
CREATE INDEX subscriptions_funnel ON customercard.subscriptions (account_id, funnel_id, contact_id);
CREATE INDEX subscriptions_lgt ON customercard.subscriptions (account_id, lgt_id, contact_id) WHERE lgt_id IS NOT NULL;
CREATE INDEX subscriptions_channel ON customercard.subscriptions (account_id, channel_id) WHERE channel_id IS NOT NULL;
CREATE INDEX subscriptions_block ON customercard.subscriptions (account_id, block_id) WHERE block_id IS NOT NULL;
COMMENT ON TABLE customercard.subscriptions IS 'One period of a contact''s subscription to a funnel through a channel and LGT: re-subscribing starts a new period, ended ones stay';
