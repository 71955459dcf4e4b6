-- A hypertable has its own B-tree on ts per chunk (readings_ts_idx); chunks bound every scan.
DROP INDEX IF EXISTS readings_ts_brin;
