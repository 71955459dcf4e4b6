-- Hourly and daily aggregates of valid readings (HJ 212 flag N), in Beijing-time buckets: what the
-- API's long ranges and the dashboards read. On plain PostgreSQL they are views (computed when
-- read, from the readings index); 0007_aggregates.timescale.sql replaces them with continuous
-- aggregates of the same names and columns, so every query works on both.
CREATE VIEW readings_hourly AS
SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+08') AS bucket,
       mine_id, station_id, parameter,
       avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, count(value) AS n
  FROM readings
 WHERE flag = 'N'
 GROUP BY 1, 2, 3, 4;

CREATE VIEW readings_daily AS
SELECT date_bin('1 day', ts, TIMESTAMPTZ '2000-01-01 00:00:00+08') AS bucket,
       mine_id, station_id, parameter,
       avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, count(value) AS n
  FROM readings
 WHERE flag = 'N'
 GROUP BY 1, 2, 3, 4;
