-- ===================================================================
-- 21_log_triggers.sql: every card table feeds the action log through the
-- C row trigger log_change(), named by its logical table: AFTER INSERT,
-- and BEFORE UPDATE OR DELETE as the last BEFORE trigger (see log_triggers.c).
-- ===================================================================
DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'phones', 'emails', 'channels', 'contact_tags', 'custom_values',
                             'subscriptions', 'orders', 'payments', 'sales_plan_members', 'tasks', 'calls',
                             'webinar_visits', 'page_visits', 'comments', 'group_members']
    LOOP
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER log_insert AFTER INSERT ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
        -- BEFORE triggers fire in name order: this one must be the last
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER zz_log_change BEFORE UPDATE OR DELETE ON customercard.%I '
            'FOR EACH ROW EXECUTE FUNCTION customercard.log_change(%L)', t, t);
    END LOOP;
END
$triggers$;
