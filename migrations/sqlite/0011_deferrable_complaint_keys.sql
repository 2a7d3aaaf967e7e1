-- PostgreSQL only: its foreign keys that reference complaints become DEFERRABLE, for the
-- order in which it creates complaints (see the PostgreSQL file). SQLite numbers and inserts
-- complaints before their dependent rows, so nothing changes here.
SELECT 1;
