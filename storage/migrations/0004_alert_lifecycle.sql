-- The alert lifecycle (acknowledge, resolve, reopen, history), routing by jurisdiction and
-- agency, grouped notifications with their deliveries (the outbox), silences and API tokens.
-- Per-alert deliveries (0001) give way to notifications: one message per target and group
-- (mine, category), as Alertmanager groups them. minewatch had no deployment when this was
-- written, so pending per-alert deliveries are not carried over.

DROP TABLE alert_delivery_attempts;
DROP TABLE alert_deliveries;

ALTER TABLE alerts
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by text,
    ADD COLUMN resolved_at     timestamptz,
    ADD COLUMN resolved_by     text,
    ADD COLUMN reopened        integer     NOT NULL DEFAULT 0,
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();
CREATE INDEX alerts_open ON alerts (updated_at) WHERE status <> 'resolved';
CREATE INDEX alerts_fingerprint ON alerts (fingerprint, resolved_at DESC);
CREATE INDEX alerts_region ON alerts (region_code, alert_id DESC);
CREATE INDEX alerts_county ON alerts (county_code, alert_id DESC);

-- Every transition of an alert: who, when, from what to what, and why.
CREATE TABLE alert_history (
    seq         bigserial   PRIMARY KEY,
    alert_id    bigint      NOT NULL REFERENCES alerts (alert_id),
    at          timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL,   -- fire | acknowledge | resolve | reopen | severity | escalate | route
    actor       text        NOT NULL,   -- 'minewatch' or the token's holder
    from_status text,
    to_status   text        NOT NULL,
    severity    text        NOT NULL,
    comment     text
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, seq);

-- Who is told of an alert (alerts/routing.py). ``dirty``: the alert changed since this target
-- was last told; the notifier clears it when it sends the group.
CREATE TABLE alert_routes (
    alert_id          bigint      NOT NULL REFERENCES alerts (alert_id),
    target_id         text        NOT NULL,   -- {level}:{area}:{agency}, mine:{mine_id} or platform
    level             text        NOT NULL,
    area              text        NOT NULL,
    agency            text        NOT NULL,
    reason            text        NOT NULL,   -- rule | severity | escalation | platform
    created_at        timestamptz NOT NULL DEFAULT now(),
    dirty             boolean     NOT NULL DEFAULT true,
    notified_state    text,                   -- '{status}:{severity}' last told
    first_notified_at timestamptz,
    notified_at       timestamptz,
    PRIMARY KEY (alert_id, target_id)
);
CREATE INDEX alert_routes_dirty ON alert_routes (target_id) WHERE dirty;
CREATE INDEX alert_routes_target ON alert_routes (target_id, alert_id);

-- When each target was last told about a group (mine, category): group_interval counts from here.
CREATE TABLE alert_groups (
    target_id        text        NOT NULL,
    mine_id          text        NOT NULL,
    category         text        NOT NULL,
    last_notified_at timestamptz NOT NULL,
    PRIMARY KEY (target_id, mine_id, category)
);

-- One message to one target about one group; ``alerts`` is the snapshot it carried.
CREATE TABLE notifications (
    notification_id bigserial   PRIMARY KEY,
    target_id       text        NOT NULL,
    mine_id         text        NOT NULL,
    category        text        NOT NULL,
    status          text        NOT NULL,   -- firing | resolved
    alert_ids       bigint[]    NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_alerts ON notifications USING gin (alert_ids);

-- The outbox: written with the notification, drained by the dispatcher. ``body`` is rendered
-- once, so every retry sends the same bytes; ``secret_env`` names the HMAC secret's variable.
CREATE TABLE notification_deliveries (
    delivery_id     bigserial   PRIMARY KEY,
    notification_id bigint      NOT NULL REFERENCES notifications (notification_id),
    channel         text        NOT NULL,   -- webhook | mqtt
    target          text        NOT NULL,   -- URL or MQTT topic
    format          text        NOT NULL,   -- minewatch | alertmanager
    secret_env      text,
    body            bytea       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_notification ON notification_deliveries (notification_id);

CREATE TABLE notification_attempts (
    delivery_id  bigint      NOT NULL REFERENCES notification_deliveries (delivery_id),
    attempted_at timestamptz NOT NULL DEFAULT now(),
    outcome      text        NOT NULL,   -- sent | error
    status_code  integer,
    error        text
);
CREATE INDEX notification_attempts_delivery ON notification_attempts (delivery_id, attempted_at);

-- Maintenance windows: alerts of a mine (or one of its stations) are not notified while one
-- is active. They are still raised, stored and shown.
CREATE TABLE silences (
    silence_id  bigserial   PRIMARY KEY,
    mine_id     text        NOT NULL,
    station_id  text,                       -- null: the whole mine
    category    text,                       -- null: every category
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL CHECK (ends_at > starts_at),
    reason      text        NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expired_by  text                        -- set when ended early by hand
);
CREATE INDEX silences_mine ON silences (mine_id, ends_at);

-- Bearer tokens of the bureau API; only the SHA-256 of a token is kept.
CREATE TABLE api_tokens (
    token_id    bigserial   PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    name        text        NOT NULL,       -- who holds it, shown in history as the actor
    level       text        NOT NULL CHECK (level IN ('province', 'region', 'county', 'mine')),
    area        text        NOT NULL,       -- 520000, a region code, a county code or a mine id
    agency      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz
);
