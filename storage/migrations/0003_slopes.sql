-- Slope and tailings stability: each monitoring point's detector state, its assessments per
-- interval, rainfall, and the rolled-up level of each slope.

-- The point's detector state (processors/slope/point.py), written in the transaction that
-- stores the assessments it produced: a restart continues where it stopped.
CREATE TABLE slope_point_state (
    mine_id     text        NOT NULL,
    station_id  text        NOT NULL,
    last_t      timestamptz NOT NULL,   -- end of the last interval assessed
    state       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mine_id, station_id)
);

CREATE TABLE slope_assessments (
    mine_id          text        NOT NULL,
    station_id       text        NOT NULL,
    slope_id         text,
    t                timestamptz NOT NULL,   -- end of the interval
    displacement     double precision NOT NULL,   -- mm along the sliding direction, spikes/steps removed
    smoothed         double precision NOT NULL,
    velocity         double precision,            -- mm/d
    velocity_se      double precision,
    acceleration     double precision,            -- mm/d²
    acceleration_se  double precision,
    v_const          double precision,
    ratio            double precision,            -- v / v_const
    alpha_deg        double precision,            -- improved tangential angle
    raw_level        text        NOT NULL,
    level            text        NOT NULL,        -- after persistence
    reasons          jsonb       NOT NULL,
    forecast_status  text,
    forecast_reason  text,
    forecast_failure timestamptz,
    forecast_low     timestamptz,
    forecast_high    timestamptz,
    forecast_r2      double precision,
    note             text,
    PRIMARY KEY (mine_id, station_id, t)
);
CREATE INDEX slope_assessments_slope ON slope_assessments (mine_id, slope_id, t DESC);

CREATE TABLE rainfall_assessments (
    mine_id    text        NOT NULL,
    station_id text        NOT NULL,
    t          timestamptz NOT NULL,
    totals_mm  jsonb       NOT NULL,   -- hours -> total over the last hours
    level      text        NOT NULL,
    reasons    jsonb       NOT NULL,
    PRIMARY KEY (mine_id, station_id, t)
);

CREATE TABLE slope_levels (
    mine_id   text        NOT NULL,
    slope_id  text        NOT NULL,
    t         timestamptz NOT NULL,
    level     text        NOT NULL,
    items     jsonb       NOT NULL,   -- item -> level
    points    jsonb       NOT NULL,   -- point -> level
    reasons   jsonb       NOT NULL,
    forecast_failure timestamptz,     -- the earliest meaningful forecast among the slope's points
    PRIMARY KEY (mine_id, slope_id, t)
);
