-- ===================================================================
-- 16_journal.sql: the action log (append-only), the merge journal and the
-- bulk job queue.
-- ===================================================================

CREATE TABLE customercard.action_log (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    log_id      bigserial NOT NULL,
    contact_id  bigint NOT NULL,
    event       text NOT NULL,
    actor       text NOT NULL DEFAULT customercard.current_actor(),
    at          timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),
    details     jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, log_id),
    -- No foreign key to contacts, by design: a check per log row would
    -- double the cost of logging and take a FOR KEY SHARE lock on the
    -- contact.  The writers guarantee the contact (triggers fire on its
    -- rows; log_event resolves the id), and contacts are never deleted.
    CHECK (customercard.is_log_event(event))
);
-- (account_id, contact_id) alone: its duplicates deduplicate into posting
-- lists, so the index stays small and cheap to insert into; a card's few
-- hundred rows are sorted by time after the lookup.
CREATE INDEX action_log_contact ON customercard.action_log (account_id, contact_id);
COMMENT ON TABLE customercard.action_log IS 'Everything that happened on a card: append-only for every role';

-- ids are handed out 100 at a time per session: one sequence lock per 100
-- log rows; ids of concurrent sessions interleave (the log orders by time)
ALTER SEQUENCE customercard.action_log_log_id_seq CACHE 100;

CREATE TRIGGER action_log_append_only BEFORE UPDATE OR DELETE ON customercard.action_log
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();
CREATE TRIGGER action_log_no_truncate BEFORE TRUNCATE ON customercard.action_log
    FOR EACH STATEMENT EXECUTE FUNCTION customercard.refuse_change();

-- The account's own kinds of outside events, for log_event beside the
-- documented ones: "source.event" (amocrm.deal_won), registered by an
-- admin with register_event_kind().  (No kind of the extension's has a dot,
-- so none can be registered; is_log_event accepts the form.)  Removing a
-- kind stops new rows of it; the rows written stay.
CREATE TABLE customercard.event_kinds (
    account_id      bigint NOT NULL DEFAULT customercard.require_account_id(),
    kind            text NOT NULL CHECK (customercard.is_log_event(kind) AND pg_catalog.strpos(kind, '.') > 0),
    description     text NOT NULL CHECK (pg_catalog.length(description) BETWEEN 1 AND 200),
    registered_by   text NOT NULL DEFAULT customercard.current_actor(),
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, kind)
);
COMMENT ON TABLE customercard.event_kinds IS
    'Kinds of outside events an account''s admins registered for log_event, as source.event, with what each means';

CREATE FUNCTION customercard.register_event_kind(kind text, description text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF kind IS NULL OR description IS NULL THEN
        RAISE EXCEPTION 'register_event_kind needs a kind and a description'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'SELECT customercard.register_event_kind(''amocrm.deal_won'', ''Deal won in amoCRM'').';
    END IF;
    IF pg_catalog.strpos(kind, '.') = 0 OR NOT customercard.is_log_event(kind) THEN
        RAISE EXCEPTION 'event kind "%" is not of the form source.event', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Lower-case letters, digits and _, the source and the event a dot apart, 3 to 63 characters: amocrm.deal_won. The extension''s own kinds cannot be registered.';
    END IF;
    IF pg_catalog.length(description) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'an event kind''s description has 1 to 200 characters'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Say in a few words what the event means.';
    END IF;
    INSERT INTO customercard.event_kinds AS k (kind, description)
    VALUES (register_event_kind.kind, register_event_kind.description)
    ON CONFLICT ON CONSTRAINT event_kinds_pkey DO UPDATE SET description = EXCLUDED.description;
END
$$;
COMMENT ON FUNCTION customercard.register_event_kind(text, text) IS
    'Register (or describe anew) a kind of outside event, source.event, that log_event may write in the current account; for admins';

-- Old log rows, moved here by archive_action_log() so that the hot log stays
-- small.  Nobody may change these rows; only the owner (the DBA) may delete
-- them, after exporting them: the one place history can be dropped.
CREATE TABLE customercard.action_log_archive (
    account_id  bigint NOT NULL,
    log_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    event       text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    details     jsonb NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, log_id)
);
CREATE INDEX action_log_archive_contact ON customercard.action_log_archive (account_id, contact_id);
COMMENT ON TABLE customercard.action_log_archive IS
    'Action log rows older than the archive cut-off (archive_action_log); rows are never changed';
CREATE TRIGGER action_log_archive_immutable BEFORE UPDATE ON customercard.action_log_archive
    FOR EACH ROW EXECUTE FUNCTION customercard.refuse_change();

CREATE FUNCTION customercard.archive_action_log(before timestamptz, account_id bigint DEFAULT NULL)
RETURNS bigint
    AS 'MODULE_PATHNAME', 'archive_action_log' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.archive_action_log(timestamptz, bigint) IS
    'Move action log rows older than the cut-off (of one account, or all) into action_log_archive; for superusers';
CREATE FUNCTION customercard.archive_action_log_of(acct bigint, before timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'archive_action_log_of' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.archive_action_log_of(bigint, timestamptz) IS
    'Internal to archive_action_log: one account''s rows, on the node holding it (delegated on Citus); for superusers';

CREATE TABLE customercard.merges (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    merge_id    bigserial NOT NULL,
    survivor_id bigint NOT NULL,
    absorbed_id bigint NOT NULL,
    merged_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    merged_by   text NOT NULL DEFAULT customercard.current_actor(),
    undone_at   timestamptz,
    undone_by   text,
    journal     jsonb NOT NULL DEFAULT '{}',     -- what unmerge needs to restore both cards
    PRIMARY KEY (account_id, merge_id),
    FOREIGN KEY (account_id, survivor_id) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, absorbed_id) REFERENCES customercard.contacts,
    CHECK (survivor_id <> absorbed_id)
);
CREATE INDEX merges_survivor ON customercard.merges (account_id, survivor_id);
CREATE INDEX merges_absorbed ON customercard.merges (account_id, absorbed_id);
COMMENT ON TABLE customercard.merges IS 'The merge journal: who was merged into whom, and what undoing it restores';

-- Pairs a person has judged to be different people: never proposed again.
CREATE TABLE customercard.not_duplicates (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    contact_a   bigint NOT NULL,
    contact_b   bigint NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    marked_by   text NOT NULL DEFAULT customercard.current_actor(),
    PRIMARY KEY (account_id, contact_a, contact_b),
    FOREIGN KEY (account_id, contact_a) REFERENCES customercard.contacts,
    FOREIGN KEY (account_id, contact_b) REFERENCES customercard.contacts,
    CHECK (contact_a < contact_b)
);
CREATE INDEX not_duplicates_b ON customercard.not_duplicates (account_id, contact_b);
COMMENT ON TABLE customercard.not_duplicates IS 'Pairs of contacts marked as different people (contact_a < contact_b): duplicate searches skip them';

CREATE TABLE customercard.bulk_jobs (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigserial NOT NULL,
    action      text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',      -- checked and resolved at enqueue (ids of tags, funnels, plans)
    filter      jsonb,                            -- the audience filter the selection was frozen from, if any
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    total       integer NOT NULL DEFAULT 0 CHECK (total >= 0),
    done        integer NOT NULL DEFAULT 0 CHECK (done >= 0),
    failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
    position    bigint NOT NULL DEFAULT 0,        -- the last contact id worked through (keyset)
    batches     integer NOT NULL DEFAULT 0,
    actor       text NOT NULL DEFAULT customercard.current_actor(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    run_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    started_at  timestamptz,
    progress_at timestamptz,                      -- when progress was last committed
    finished_at timestamptz,
    error       text,                             -- the last error of a batch (and why a failed job failed)
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),  -- batches failed in a row
    PRIMARY KEY (account_id, job_id),
    CHECK (done + failed <= total)
);
CREATE INDEX bulk_jobs_due ON customercard.bulk_jobs (account_id, run_at) WHERE status IN ('queued', 'running');
CREATE INDEX bulk_jobs_finished ON customercard.bulk_jobs (account_id, finished_at) WHERE finished_at IS NOT NULL;
-- when the runner last served each account (bulk_claim: accounts take turns)
CREATE INDEX bulk_jobs_served ON customercard.bulk_jobs (account_id, progress_at);
COMMENT ON TABLE customercard.bulk_jobs IS 'Bulk actions over many contacts, run gradually by bulk_run()';

-- The selection of a job, frozen at enqueue; worked through in contact id
-- order; bulk_prune() deletes the items of jobs that have ended.  No foreign
-- key, by design (as for the action log): a check per row made freezing a
-- million contacts take 8 s instead of 1.5; only bulk_enqueue writes here,
-- for the job it has just made.
CREATE TABLE customercard.bulk_job_items (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    PRIMARY KEY (account_id, job_id, contact_id)
);
COMMENT ON TABLE customercard.bulk_job_items IS 'The contacts of a bulk job not yet worked through (frozen at enqueue)';

CREATE TABLE customercard.bulk_job_failures (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, job_id, contact_id),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE
);
COMMENT ON TABLE customercard.bulk_job_failures IS 'Contacts a bulk job could not act on, with the reason';

-- What an import job imports (import_enqueue): a row per line of its file,
-- read when it was queued (its upsert_contact object, or none when the line
-- was rejected then), and what became of it.
CREATE TABLE customercard.bulk_job_rows (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    line        integer NOT NULL,
    data        jsonb,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'created', 'updated', 'rejected')),
    contact_id  bigint,
    reason      text,
    at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, job_id, line),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE,
    CHECK ((status = 'rejected') = (reason IS NOT NULL))
);
COMMENT ON TABLE customercard.bulk_job_rows IS
    'The rows of an import job''s file, as read when it was queued, each with its outcome: queued, created, updated or rejected with the reason';

-- What an export job writes: CSV in chunks, one per batch, in order.
CREATE TABLE customercard.bulk_job_output (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    chunk       integer NOT NULL,
    data        text NOT NULL,
    PRIMARY KEY (account_id, job_id, chunk),
    FOREIGN KEY (account_id, job_id) REFERENCES customercard.bulk_jobs ON DELETE CASCADE
);
COMMENT ON TABLE customercard.bulk_job_output IS 'The CSV an export job wrote, chunk by chunk (customercard.bulk_export_csv reads it whole)';

-- What a bulk job changed, for bulk_undo: a row per row of a card table
-- that a batch made, removed or changed, written in the batch's
-- transaction (only committed batches are here).  The row is the table's
-- row of contact_id with the section key row_key (for contacts, the
-- contact's own id); before is its image before the job (NULL: the job
-- made it; for a change, the columns it changed), after its image after
-- (NULL: the job removed it).  Images leave out account_id, contact_id and
-- the key.  No foreign key, as for bulk_job_items: a check per row would
-- slow every job; bulk_prune deletes a job's journal with it.
CREATE TABLE customercard.bulk_job_journal (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    job_id      bigint NOT NULL,
    contact_id  bigint NOT NULL,
    tbl         text NOT NULL CHECK (tbl IN ('contacts', 'contact_tags', 'subscriptions', 'sales_plan_members',
                                            'channels', 'custom_values')),
    row_key     bigint NOT NULL,
    before      jsonb,
    after       jsonb,
    PRIMARY KEY (account_id, job_id, contact_id, tbl, row_key),
    CHECK (before IS NOT NULL OR after IS NOT NULL)
);
COMMENT ON TABLE customercard.bulk_job_journal IS
    'What each batch of a bulk job changed, row by row (image before and after), so that bulk_undo can put it back';

-- Leeloo's Viber rule: a Viber subscriber is imported at most twice in 12
-- hours (Viber blocks bots that write to many new people at once).  A mark
-- per imported row, written and read only by import_viber_mark().
CREATE TABLE customercard.import_marks (
    account_id  bigint NOT NULL DEFAULT customercard.require_account_id(),
    mark_id     bigserial NOT NULL,
    connection  text,
    external_id text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (account_id, mark_id)
);
CREATE INDEX import_marks_subscriber ON customercard.import_marks (account_id, external_id, imported_at);
COMMENT ON TABLE customercard.import_marks IS 'When each Viber subscriber was imported, for the rule of at most two imports in 12 hours';

-- ------------------------------------------------------------------ the log's writers
CREATE FUNCTION customercard.log_change() RETURNS trigger
    AS 'MODULE_PATHNAME', 'log_change' LANGUAGE C;
COMMENT ON FUNCTION customercard.log_change() IS
    'AFTER ROW trigger of the card tables: writes their changes to the action log; the argument is the logical table name';

-- log_event's work in the account's own call (log_event_in: on Citus,
-- delegated to the account's node, see citus_delegated())
CREATE FUNCTION customercard.log_event_in(acct bigint, contact_id bigint, event text, details jsonb)
RETURNS void
    AS 'MODULE_PATHNAME', 'log_event_in' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION customercard.log_event_in(bigint, bigint, text, jsonb) IS
    'The work of log_event in account acct, which must be the caller''s; on Citus it runs on the account''s node';

CREATE FUNCTION customercard.log_event(contact_id bigint, event text, details jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    acct constant bigint := customercard.require_account_id();
BEGIN
    -- (in the FROM form, which Citus delegates to the account's node)
    PERFORM FROM customercard.log_event_in(acct, log_event.contact_id, log_event.event, log_event.details);
END
$$;
COMMENT ON FUNCTION customercard.log_event(bigint, text, jsonb) IS
    'Record an event that happened outside the database (e.g. crm_exported) on a contact of the current account';
