-- ===================================================================
-- 21_log_triggers.sql: every card section (card_sections()) feeds the action log through the
-- C row trigger log_change(), named by its logical table: AFTER INSERT,
-- and BEFORE UPDATE OR DELETE as the last BEFORE trigger (see log_triggers.c).
-- ===================================================================
DO $triggers$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT s.tbl FROM customercard.card_sections() s
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
