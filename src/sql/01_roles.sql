-- ===================================================================
-- 01_roles.sql: the extension's roles (cluster-wide, so created only when
-- missing).  Each includes the one before: reader < manager < admin < app.
-- ===================================================================
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['customercard_reader', 'customercard_manager',
                             'customercard_admin', 'customercard_app']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$roles$;

DO $grants$
BEGIN
    IF NOT pg_catalog.pg_has_role('customercard_manager', 'customercard_reader', 'MEMBER') THEN
        GRANT customercard_reader TO customercard_manager;
    END IF;
    IF NOT pg_catalog.pg_has_role('customercard_admin', 'customercard_manager', 'MEMBER') THEN
        GRANT customercard_manager TO customercard_admin;
    END IF;
    IF NOT pg_catalog.pg_has_role('customercard_app', 'customercard_admin', 'MEMBER') THEN
        GRANT customercard_admin TO customercard_app;
    END IF;
END
$grants$;

GRANT USAGE ON SCHEMA customercard TO customercard_reader;
