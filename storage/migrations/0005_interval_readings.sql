-- Statistics a device computed over an interval: HJ 212 minute (2051), hourly (2061) and daily
-- (2031) data with their Min/Avg/Max/Cou and O2-corrected (折算) values. Minute data also go to
-- readings (they are the device's minute values, judged like any reading); hourly and daily
-- statistics only here: minewatch judges hourly and daily means from minute data, as the
-- standards define them, and keeps the device's own figures beside them for comparison.
CREATE TABLE interval_readings (
    ts          timestamptz      NOT NULL,  -- start of the interval
    interval_s  integer          NOT NULL,
    mine_id     text             NOT NULL,
    station_id  text             NOT NULL,
    parameter   text             NOT NULL,
    value       double precision,           -- the interval's mean (Avg)
    min_value   double precision,
    max_value   double precision,
    total       double precision,           -- Cou: the interval's cumulative amount
    corrected   double precision,           -- ZsAvg: the mean corrected to the reference O2
    unit        text             NOT NULL,
    flag        text             NOT NULL,
    received_at timestamptz      NOT NULL,
    origin      text,                       -- as in readings.origin
    PRIMARY KEY (mine_id, station_id, parameter, interval_s, ts)
);
CREATE INDEX interval_readings_ts ON interval_readings (ts DESC);

-- How a reading arrived when not over MQTT: 'hj212', or 'hj212 legacy-crc:<variant>' when its
-- data logger's firmware computes a CRC other than HJ 212's and the registry accepts it.
ALTER TABLE readings ADD COLUMN origin text;
