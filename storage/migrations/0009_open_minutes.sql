-- Cheaper writes at province scale (issue 10). `minewatch bench storage` (1.8 million readings
-- of 800 mines COPYed in 3,000-row transactions, this 2-core machine, PostgreSQL 15): 6.47 µs a
-- row with the identity index only, 7.71 with the B-tree readings_ts beside it, 6.82 with a
-- BRIN index on ts instead. Readings arrive in time order, so block ranges summarise them well,
-- and what reads readings by time alone (retention's DELETE, the hourly and daily views) scans
-- ranges, which BRIN serves; every per-mine query uses readings_identity.
DROP INDEX IF EXISTS readings_ts;
CREATE INDEX readings_ts_brin ON readings USING brin (ts);

-- The worker keeps a station's open minutes in memory and writes each minute once it closes
-- (processors/open_minutes.py). Every stored reading earlier than complete_before is in
-- minute_values; later ones may be only in the worker's memory, which rebuilds them from
-- readings after a restart. NULL: everything is in minute_values (rows written before 0009).
ALTER TABLE station_watermarks ADD COLUMN complete_before timestamptz;
