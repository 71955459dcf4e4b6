-- TimescaleDB only: continuous aggregates in place of the plain views, compression and retention.
-- Untested on the development machines (TimescaleDB is not installable there); the plain path
-- is what the tests exercise. `minewatch db policies` changes the ages below.
DROP VIEW readings_hourly;
DROP VIEW readings_daily;

CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', ts, origin => TIMESTAMPTZ '2000-01-01 00:00:00+08') AS bucket,
       mine_id, station_id, parameter,
       avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, count(value) AS n
  FROM readings
 WHERE flag = 'N'
 GROUP BY 1, 2, 3, 4
  WITH NO DATA;
-- Real-time aggregation: the latest, not yet materialised hour is computed from readings on read.
ALTER MATERIALIZED VIEW readings_hourly SET (timescaledb.materialized_only = false);
SELECT add_continuous_aggregate_policy('readings_hourly',
       start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');

CREATE MATERIALIZED VIEW readings_daily WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 day', ts, origin => TIMESTAMPTZ '2000-01-01 00:00:00+08') AS bucket,
       mine_id, station_id, parameter,
       avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, count(value) AS n
  FROM readings
 WHERE flag = 'N'
 GROUP BY 1, 2, 3, 4
  WITH NO DATA;
ALTER MATERIALIZED VIEW readings_daily SET (timescaledb.materialized_only = false);
SELECT add_continuous_aggregate_policy('readings_daily',
       start_offset => INTERVAL '40 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');

-- Compression of chunks a week old: segments by series, so a series' values compress together
-- and a query for one station reads one segment.
ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'mine_id, station_id, parameter',
                          timescaledb.compress_orderby = 'ts DESC');
SELECT add_compression_policy('readings', compress_after => INTERVAL '7 days');

-- Retention of raw readings (the aggregates stay): three years by default, minewatch's choice;
-- set what the bureau requires with `minewatch db policies --retain ...`.
SELECT add_retention_policy('readings', drop_after => INTERVAL '3 years');
