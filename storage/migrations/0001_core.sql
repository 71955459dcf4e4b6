-- Core tables: readings, consumer offsets, station status, self-reports, dead letters,
-- exceedances, alerts and their deliveries (the outbox the dispatcher drains).
-- Runs on plain PostgreSQL 15+; 0001_core.timescale.sql adds what TimescaleDB offers.

CREATE TABLE readings (
    ts          timestamptz      NOT NULL,  -- sample time (UTC inside; devices send their offset)
    mine_id     text             NOT NULL,
    station_id  text             NOT NULL,
    parameter   text             NOT NULL,  -- HJ 212-2017 code or minewatch slope/rain code
    value       double precision,           -- null when the flag says the instrument could not measure
    unit        text             NOT NULL,  -- as sent by the device
    flag        text             NOT NULL,  -- HJ 212-2017 Table 8 data flag; only N is valid data
    received_at timestamptz      NOT NULL   -- when the bridge accepted the message
);
-- The identity of a reading: one value per sensor and instant. Replays and re-sends never
-- double a row; the writer relies on this index when it falls back to ON CONFLICT.
CREATE UNIQUE INDEX readings_identity ON readings (mine_id, station_id, parameter, ts);  -- reordered in 0010
CREATE INDEX readings_ts ON readings (ts DESC);

-- Kafka offsets written in the same transaction as the rows they produced, so a replay
-- after a crash skips what is already stored instead of paying ON CONFLICT on every row.
-- Offsets belong to one incarnation of a topic: topic_id is Kafka's topic id (KIP-516), so
-- a topic re-created empty (or a fresh in-memory broker) is never mistaken for a replay.
CREATE TABLE consumer_offsets (
    consumer         text        NOT NULL,
    topic            text        NOT NULL,
    topic_id         text        NOT NULL,
    kafka_partition  integer     NOT NULL,
    committed_offset bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, topic_id, kafka_partition)
);

CREATE TABLE station_status (
    mine_id     text        NOT NULL,
    station_id  text        NOT NULL,
    ts          timestamptz NOT NULL,
    state       text        NOT NULL,
    detail      text,
    message     jsonb       NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (mine_id, station_id, ts)
);

CREATE TABLE self_reports (
    mine_id      text        NOT NULL,
    report_id    text        NOT NULL,
    period_kind  text        NOT NULL,
    period_start date        NOT NULL,
    period_end   date        NOT NULL,
    submitted_at timestamptz NOT NULL,
    sha256       text        NOT NULL,   -- of the payload as published: the next report's previous_hash
    body         jsonb       NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (mine_id, report_id)
);

CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    received_at     timestamptz NOT NULL,
    source          text        NOT NULL,   -- mqtt | hj212
    topic           text        NOT NULL,
    mine_id         text,
    reason_code     text        NOT NULL,
    reason          text        NOT NULL,
    payload         text        NOT NULL,
    payload_encoding text       NOT NULL,   -- utf-8 | base64
    UNIQUE (kafka_partition, kafka_offset)
);
CREATE INDEX dead_letters_mine ON dead_letters (mine_id, received_at DESC);

CREATE TABLE exceedances (
    exceedance_id text PRIMARY KEY,
    mine_id       text             NOT NULL,
    station_id    text             NOT NULL,
    parameter     text             NOT NULL,
    ts            timestamptz      NOT NULL,
    value         double precision NOT NULL,   -- in the limit's unit
    unit          text             NOT NULL,
    limit_id      text             NOT NULL,
    limit_lower   double precision,
    limit_upper   double precision,
    multiple      double precision NOT NULL,   -- 超标倍数
    citation      text             NOT NULL,
    basis         text             NOT NULL,
    detected_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX exceedances_mine ON exceedances (mine_id, ts DESC);

CREATE TABLE alerts (
    alert_id     bigserial PRIMARY KEY,
    fingerprint  text        NOT NULL,   -- the condition: same fingerprint = same alert while open
    category     text        NOT NULL,
    severity     text        NOT NULL,   -- blue | yellow | orange | red
    status       text        NOT NULL DEFAULT 'firing',
    mine_id      text        NOT NULL,
    station_id   text,
    region_code  text        NOT NULL,
    county_code  text,
    title        text        NOT NULL,
    summary      text        NOT NULL,
    details      jsonb       NOT NULL,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    occurrences  integer     NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_open_fingerprint ON alerts (fingerprint) WHERE status <> 'resolved';
CREATE INDEX alerts_mine ON alerts (mine_id, created_at DESC);

-- Which source events (exceedance ids, ...) an alert has absorbed: replays count once.
CREATE TABLE alert_events (
    event_id    text PRIMARY KEY,
    alert_id    bigint      NOT NULL REFERENCES alerts (alert_id),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- The transactional outbox: written with the alert, drained by the dispatcher.
CREATE TABLE alert_deliveries (
    delivery_id     bigserial PRIMARY KEY,
    alert_id        bigint      NOT NULL REFERENCES alerts (alert_id),
    channel         text        NOT NULL,   -- webhook | mqtt
    target          text        NOT NULL,   -- URL or MQTT topic
    status          text        NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (alert_id, channel, target)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE alert_delivery_attempts (
    delivery_id  bigint      NOT NULL REFERENCES alert_deliveries (delivery_id),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    outcome      text        NOT NULL,   -- sent | error
    status_code  integer,
    error        text
);
