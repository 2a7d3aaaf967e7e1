-- Every foreign key that references complaints becomes DEFERRABLE (INITIALLY IMMEDIATE: it
-- is still checked at once unless a transaction defers it). Creating complaints defers them
-- (SET CONSTRAINTS ALL DEFERRED) so it can write a group's messages, history, replies and
-- jobs first, under ids taken from the complaints sequence, and insert the complaint rows,
-- numbered, as its last statement: the month's counter row is then locked for that
-- statement and the commit only, and no complaint is written twice (see crates/store/src/
-- create.rs). The keys are still checked, at commit.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT conrelid::regclass AS tbl, conname
        FROM pg_constraint
        WHERE contype = 'f' AND confrelid = 'complaints'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER CONSTRAINT %I DEFERRABLE INITIALLY IMMEDIATE',
                       r.tbl, r.conname);
    END LOOP;
END
$$;
