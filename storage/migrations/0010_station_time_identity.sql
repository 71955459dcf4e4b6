-- The identity of a reading keeps its columns but orders them (mine, station, ts, parameter).
-- A station sends all its parameters for one instant together, so a station's new readings
-- land side by side in one index leaf: the leaves being written are one per station (~1,400
-- in the simulated province) instead of one per series (~40,000, ~320 MB, more than a default
-- shared_buffers, so every insert read and wrote back an evicted leaf and PostgreSQL's cost
-- per row grew with the table). `minewatch bench storage` style COPY of 7.5 million readings
-- of 800 mines, this 2-core machine, PostgreSQL 15, 128 MB shared_buffers: 11.49 µs a row
-- with (mine, station, parameter, ts), 7.10 with (mine, station, ts, parameter).
-- A query for one series reads the station's index entries in its time range and keeps its
-- parameter's (at most 10 per instant here), in index order; the heap rows read are the same.
-- Restarting a worker reads a station's readings since a time: one contiguous range now.
-- One transaction (storage/migrate.py): DROP INDEX locks the table until the new index exists.
DROP INDEX readings_identity;
CREATE UNIQUE INDEX readings_identity ON readings (mine_id, station_id, ts, parameter);
