-- Compliance judged the way the standards do: minute aggregates written with the readings,
-- windows waiting to be judged, every verdict and its revisions, exceedance episodes, and
-- data-quality findings.

-- Per series and minute, built by the readings writer from exactly the rows it stored.
CREATE TABLE minute_values (
    mine_id    text        NOT NULL,
    station_id text        NOT NULL,
    parameter  text        NOT NULL,
    reference  text        NOT NULL DEFAULT '',   -- '' as measured; 'O2=9%' corrected to 9 % O2
    minute     timestamptz NOT NULL,
    n_samples  integer     NOT NULL,
    n_valid    integer     NOT NULL,
    total      double precision NOT NULL,         -- sum of the valid samples, catalogue unit
    minimum    double precision,
    maximum    double precision,
    PRIMARY KEY (mine_id, station_id, parameter, reference, minute)
);

-- How far each station's data has got in event time, and when it was last heard from.
CREATE TABLE station_watermarks (
    mine_id     text        NOT NULL,
    station_id  text        NOT NULL,
    max_ts      timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (mine_id, station_id)
);

-- Windows with new data, waiting to be judged (again). Marked by the readings writer in the
-- transaction that stored the data; removed by the judge in the transaction that judged it.
CREATE TABLE pending_windows (
    mine_id      text        NOT NULL,
    station_id   text        NOT NULL,
    parameter    text        NOT NULL,
    reference    text        NOT NULL,
    kind         text        NOT NULL,   -- minute | hour | day
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    urgent       boolean     NOT NULL DEFAULT false,  -- an instantaneous limit is already exceeded
    marked_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (mine_id, station_id, parameter, reference, kind, window_start)
);
CREATE INDEX pending_windows_end ON pending_windows (window_end);

-- Every verdict; a window judged again after late data gets a new revision only when its
-- verdict or value changed, so the history of a verdict is kept.
CREATE TABLE window_verdicts (
    mine_id      text        NOT NULL,
    station_id   text        NOT NULL,
    parameter    text        NOT NULL,
    reference    text        NOT NULL,
    limit_id     text        NOT NULL,
    basis        text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    revision     integer     NOT NULL,
    outcome      text        NOT NULL,   -- exceeds | complies | insufficient
    value        double precision,       -- the mean (or extreme, instantaneous) in the limit's unit
    unit         text        NOT NULL,
    n_valid      integer     NOT NULL,
    n_required   integer     NOT NULL,
    multiple     double precision,       -- 超标倍数
    judged_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mine_id, station_id, parameter, reference, limit_id, window_start, revision)
);
CREATE INDEX window_verdicts_recent ON window_verdicts (mine_id, station_id, parameter, reference, limit_id, window_start DESC);

-- Exceedance episodes: consecutive exceeding windows of one limit, opened, extended, closed
-- (recovery) or withdrawn (late data showed the window complied).
DROP TABLE exceedances;
CREATE TABLE exceedances (
    exceedance_id      text PRIMARY KEY,
    mine_id            text        NOT NULL,
    station_id         text        NOT NULL,
    parameter          text        NOT NULL,
    reference          text        NOT NULL,
    limit_id           text        NOT NULL,
    basis              text        NOT NULL,
    citation           text        NOT NULL,
    unit               text        NOT NULL,
    limit_lower        double precision,
    limit_upper        double precision,
    first_window_start timestamptz NOT NULL,
    last_window_end    timestamptz NOT NULL,
    closed_at          timestamptz,
    status             text        NOT NULL,   -- open | closed | withdrawn
    windows            integer     NOT NULL,
    peak_window_start  timestamptz NOT NULL,
    peak_window_end    timestamptz NOT NULL,
    peak_value         double precision NOT NULL,  -- measured mean (or extreme) of the worst window
    peak_multiple      double precision NOT NULL,  -- 超标倍数
    peak_n_valid       integer     NOT NULL,       -- valid samples/minutes/hours that made it
    peak_n_required    integer     NOT NULL,
    revision           integer     NOT NULL DEFAULT 1,
    opened_at          timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exceedances_mine ON exceedances (mine_id, first_window_start DESC);
CREATE INDEX exceedances_open ON exceedances (status) WHERE status = 'open';

CREATE TABLE quality_findings (
    finding_id  text PRIMARY KEY,
    mine_id     text        NOT NULL,
    station_id  text        NOT NULL,
    parameter   text,
    kind        text        NOT NULL,   -- impossible_value | out_of_range | constant_value | sudden_jump | offline
    t           timestamptz NOT NULL,
    detail      text        NOT NULL,
    value       double precision,
    cleared     boolean     NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quality_findings_mine ON quality_findings (mine_id, t DESC);
