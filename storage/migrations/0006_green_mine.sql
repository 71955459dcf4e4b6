-- Green-mine compliance: self-reports as a hash chain, evaluations, the registry (名录管理) with
-- its history, complaints with response deadlines, and published inspection draws.

-- Reports keep the bytes as published (the chain is over them), the order they arrived in, what
-- they claim came before, whether that holds, and which later report corrects them.
ALTER TABLE self_reports
    ADD COLUMN seq           bigserial,
    ADD COLUMN raw           bytea,
    ADD COLUMN previous_hash text,
    ADD COLUMN chain_problem text,          -- NULL: the report follows the mine's previous one
    ADD COLUMN supersedes    text,
    ADD COLUMN superseded_by text,
    ADD COLUMN source        text NOT NULL DEFAULT 'mqtt';   -- mqtt | api
CREATE INDEX self_reports_chain ON self_reports (mine_id, seq);
CREATE INDEX self_reports_period ON self_reports (mine_id, period_kind, period_start);

CREATE TABLE evaluations (
    mine_id          text        NOT NULL,
    period           text        NOT NULL,   -- 2026-10, 2026-Q3, 2026
    status           text        NOT NULL,   -- compliant | at_risk | non_compliant
    reasons          jsonb       NOT NULL,
    three_rates_met  boolean,
    renewal_eligible boolean,
    evaluated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mine_id, period)
);

CREATE TABLE green_registry (
    mine_id    text PRIMARY KEY,
    state      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE green_registry_history (
    seq        bigserial   PRIMARY KEY,
    mine_id    text        NOT NULL,
    action     text        NOT NULL,
    from_state text        NOT NULL,
    to_state   text        NOT NULL,
    actor      text        NOT NULL,
    evidence   text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX green_registry_history_mine ON green_registry_history (mine_id, seq);

CREATE TABLE complaints (
    complaint_id  bigserial   PRIMARY KEY,
    mine_id       text        NOT NULL,
    complainant   text        NOT NULL,   -- resident | organisation | platform | bureau
    channel       text        NOT NULL,   -- e.g. 12369 hotline, letter, visit
    summary       text        NOT NULL,
    received_at   timestamptz NOT NULL,
    respond_by    timestamptz NOT NULL,
    filed_by      text        NOT NULL,
    status        text        NOT NULL DEFAULT 'open',   -- open | overdue | answered
    response      text,
    responded_at  timestamptz,
    responded_by  text
);
CREATE INDEX complaints_due ON complaints (respond_by) WHERE status = 'open';
CREATE INDEX complaints_mine ON complaints (mine_id, complaint_id DESC);

CREATE TABLE inspection_draws (
    draw_id           bigserial   PRIMARY KEY,
    seed              text        NOT NULL,
    requested         integer     NOT NULL,
    region            text,
    population        text        NOT NULL,   -- listed | all
    candidates_digest text        NOT NULL,
    strata            jsonb       NOT NULL,
    excluded          jsonb       NOT NULL,   -- mines left out as inspected recently
    drawn_at          timestamptz NOT NULL DEFAULT now(),
    drawn_by          text        NOT NULL
);
CREATE TABLE inspection_assignments (
    draw_id    bigint NOT NULL REFERENCES inspection_draws (draw_id),
    mine_id    text   NOT NULL,
    region     text   NOT NULL,
    county     text,
    inspectors text[] NOT NULL,
    PRIMARY KEY (draw_id, mine_id)
);
