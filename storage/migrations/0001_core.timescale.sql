-- TimescaleDB only: readings become a hypertable partitioned by sample time.
-- One-hour chunks: at the province's 40,000 readings/s an hour is ~1.4e8 rows, a chunk whose
-- indexes still fit in memory. Compression, retention and continuous aggregates come with
-- the operations work.
SELECT create_hypertable('readings', by_range('ts', INTERVAL '1 hour'), migrate_data => true);
