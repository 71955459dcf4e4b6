"""What Grafana does to a dashboard's queries before they reach PostgreSQL, done in Python.

The dashboards in ``deploy/grafana/dashboards/`` query minewatch's database through Grafana's
PostgreSQL data source. Grafana never sends a panel's ``rawSql`` as written; it rewrites it in
two steps, and this module repeats both so a test can run every panel's SQL without Grafana:

1. **Template variables** (the browser, ``templateSrv.replace``): ``$mine``, ``${mine}``,
   ``[[mine]]`` and ``${mine:format}`` become the variable's value, and Grafana's own
   ``$__interval``, ``$__interval_ms``, ``$__range``, ``$__from`` and ``$__to`` their values.
   A SQL data source formats a single value as the bare text with ``'`` doubled (the query
   writes the quotes: ``'$mine'``) and a multi-value or include-all variable as a list of
   quoted literals (the query writes ``IN ($station)``).
2. **Macros** (the server, ``pkg/tsdb/grafana-postgresql-datasource/macros.go``): every
   ``$__name(args)`` is expanded against the query's time range, e.g. ``$__timeFilter(ts)``
   to ``ts BETWEEN '<from>' AND '<to>'`` with both ends in RFC 3339, UTC. ``$__timeGroup``
   becomes TimescaleDB's ``time_bucket`` when the data source says ``timescaledb: true``, and
   arithmetic on the epoch otherwise. An unknown ``$__name(...)`` is an error, as in Grafana.

>>> window = TimeRange(datetime(2026, 11, 26, 0, 0, tzinfo=UTC), datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
>>> print(render_sql(
...     "SELECT $__timeGroupAlias(ts, $__interval), avg(value) FROM readings"
...     " WHERE mine_id = '$mine' AND station_id IN ($station) AND $__timeFilter(ts) GROUP BY 1 ORDER BY 1",
...     window, {"mine": "GZ520203-0001", "station": ["ST01", "WW01"]}))
SELECT floor(extract(epoch from ts)/60)*60 AS "time", avg(value) FROM readings WHERE mine_id = 'GZ520203-0001' \
AND station_id IN ('ST01','WW01') AND ts BETWEEN '2026-11-26T00:00:00Z' AND '2026-11-27T00:00:00Z' GROUP BY 1 ORDER BY 1

The loader walks a dashboard's panels (rows' nested panels included) and yields one
:class:`Target` per query with the data source it goes to; :func:`iter_variables` does the
same for the template variables' own queries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

VariableValue = str | Sequence[str]

# Macros of the PostgreSQL data source (expanded on the server, against the time range).
MACROS = frozenset(
    {
        "__time",
        "__timeEpoch",
        "__timeFilter",
        "__timeFrom",
        "__timeTo",
        "__timeGroup",
        "__timeGroupAlias",
        "__unixEpochFilter",
        "__unixEpochNanoFilter",
        "__unixEpochNanoFrom",
        "__unixEpochNanoTo",
        "__unixEpochGroup",
        "__unixEpochGroupAlias",
        "__unixEpochFrom",
        "__unixEpochTo",
    }
)
# Variables Grafana defines itself; ``__rate_interval`` is Prometheus's.
BUILTIN_VARIABLES = frozenset(
    {
        "__interval",
        "__interval_ms",
        "__rate_interval",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__user",
        "__org",
        "__timezone",
    }
)

# templateSrv's variable pattern: $name, [[name]] / [[name:format]], ${name} / ${name.path} / ${name:format}.
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}",
    re.ASCII,
)
# macros.go's pattern: the arguments run to the first closing parenthesis, so they cannot nest.
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")
_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "µs": timedelta(microseconds=1),
    "μs": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}
_YEAR = timedelta(days=365)
# rangeutil.roundInterval: (below this many ms, use this many ms).
_ROUNDED_MS = (
    (10, 1),
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)


class MacroError(ValueError):
    """A macro Grafana would refuse: unknown, missing its arguments, or with an unparsable interval."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The dashboard's time picker: two aware instants."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a time range needs aware datetimes (Grafana's are UTC instants)")
        if self.end < self.start:
            raise ValueError("a time range ends after it starts")

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def interval(self, max_data_points: int = 1000, min_interval: timedelta | None = None) -> timedelta:
        """``$__interval`` as Grafana computes it: the range over the points a panel can show, rounded.

        >>> day = TimeRange(datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
        >>> day.interval()
        datetime.timedelta(seconds=60)
        >>> day.interval(min_interval=timedelta(minutes=10))
        datetime.timedelta(seconds=600)
        """
        raw = round_interval(self.span / max(max_data_points, 1))
        return max(raw, min_interval) if min_interval is not None else raw


def round_interval(interval: timedelta) -> timedelta:
    """The "nice" interval Grafana puts in place of a computed one (``rangeutil.roundInterval``).

    >>> round_interval(timedelta(seconds=259.2))
    datetime.timedelta(seconds=300)
    >>> round_interval(timedelta(days=60))
    datetime.timedelta(days=365)
    """
    ms = interval / timedelta(milliseconds=1)
    for below, rounded in _ROUNDED_MS:
        if ms < below:
            return timedelta(milliseconds=rounded)
    return _YEAR


def format_interval(interval: timedelta) -> str:
    """An interval in Grafana's short form, by its largest whole unit (``gtime.FormatInterval``).

    >>> [format_interval(timedelta(seconds=s)) for s in (0.0001, 0.25, 90, 3600, 7 * 86400, 400 * 86400)]
    ['1ms', '250ms', '1m', '1h', '7d', '1y']
    """
    for unit, name in (
        (_YEAR, "y"),
        (timedelta(days=1), "d"),
        (timedelta(hours=1), "h"),
        (timedelta(minutes=1), "m"),
        (timedelta(seconds=1), "s"),
        (timedelta(milliseconds=1), "ms"),
    ):
        if interval >= unit:
            return f"{interval // unit}{name}"
    return "1ms"


def parse_interval(text: str, now: datetime | None = None) -> timedelta:
    """An interval as a macro argument gives it (``gtime.ParseInterval``).

    Go durations (``90s``, ``1h30m``, ``250ms``) and Grafana's day units (``2d``, ``1w``); months
    and years are calendar ones counted from ``now`` (UTC), as Grafana counts them.

    >>> parse_interval("1h30m"), parse_interval("2d"), parse_interval("250ms")
    (datetime.timedelta(seconds=5400), datetime.timedelta(days=2), datetime.timedelta(microseconds=250000))
    >>> parse_interval("1M", now=datetime(2026, 2, 1, tzinfo=UTC))
    datetime.timedelta(days=28)
    >>> parse_interval("5 minutes")
    Traceback (most recent call last):
    ...
    minewatch.grafana.MacroError: cannot parse interval '5 minutes'
    """
    match = _DATE_UNIT.match(text)
    if match is None:
        return _parse_go_duration(text)
    count, unit = int(match.group(1)), match.group(2)
    if unit == "d":
        return timedelta(days=count)
    if unit == "w":
        return timedelta(weeks=count)
    start = (now or datetime.now(UTC)).astimezone(UTC)
    months = count if unit == "M" else 12 * count
    return _add_months(start, months) - start


def _parse_go_duration(text: str) -> timedelta:
    body = text[1:] if text[:1] in "+-" else text
    position, total = 0, timedelta(0)
    while position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None or part.group(1) in ("", "."):
            break
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        if body == "0":
            return timedelta(0)
        raise MacroError(f"cannot parse interval {text!r}")
    return -total if text.startswith("-") else total


def _add_months(instant: datetime, months: int) -> datetime:
    """Go's ``AddDate(0, months, 0)``: a day past the month's end rolls into the next month."""
    index = instant.month - 1 + months
    first = instant.replace(year=instant.year + index // 12, month=index % 12 + 1, day=1)
    return first + timedelta(days=instant.day - 1)


def rfc3339(instant: datetime) -> str:
    """An instant the way Go's ``time.RFC3339Nano`` writes it in UTC (no trailing zeros).

    >>> from datetime import timezone
    >>> rfc3339(datetime(2026, 11, 27, 8, 30, tzinfo=timezone(timedelta(hours=8))))
    '2026-11-27T00:30:00Z'
    >>> rfc3339(datetime(2026, 11, 27, 0, 30, 0, 250000, tzinfo=UTC))
    '2026-11-27T00:30:00.25Z'
    """
    if instant.tzinfo is None:
        raise ValueError("rfc3339 needs an aware datetime")
    utc = instant.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += "." + f"{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def _go_number(value: float) -> str:
    """A float as Go's ``%v`` prints it for the values intervals take (``300``, ``0.5``)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _epoch_ms(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _epoch_ns(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _epoch_s(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)


def builtin_variables(time_range: TimeRange, interval: timedelta) -> dict[str, str]:
    """The values Grafana gives its own variables for a query over ``time_range``.

    >>> window = TimeRange(datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC))
    >>> values = builtin_variables(window, timedelta(minutes=5))
    >>> values["__interval"], values["__interval_ms"], values["__range"], values["__from"]
    ('5m', '300000', '86400s', '1795651200000')
    """
    range_ms = (time_range.end - time_range.start) // timedelta(milliseconds=1)
    return {
        "__interval": format_interval(interval),
        "__interval_ms": str(interval // timedelta(milliseconds=1)),
        "__range_ms": str(range_ms),
        "__range_s": str(round(range_ms / 1000)),
        "__range": f"{round(range_ms / 1000)}s",
        "__from": str(_epoch_ms(time_range.start)),
        "__to": str(_epoch_ms(time_range.end)),
    }


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format_value(value: VariableValue, fmt: str | None) -> str:
    """A variable's value as a SQL data source puts it into a query (``interpolateVariable``)."""
    values = [value] if isinstance(value, str) else list(value)
    if fmt is None:
        if isinstance(value, str):
            return value.replace("'", "''")
        return ",".join(_sql_literal(v) for v in values)
    if fmt in ("raw", "csv"):
        return ",".join(values)
    if fmt == "sqlstring":
        return ",".join(_sql_literal(v) for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "regex":
        escaped = [re.sub(r"[\\^$*+?.()|{}\[\]/]", lambda m: "\\" + m.group(0), v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    raise ValueError(f"variable format {fmt!r} is not supported here")


def interpolate_variables(text: str, variables: Mapping[str, VariableValue]) -> str:
    """Replace template variables the way Grafana's browser does before sending a query.

    A ``str`` value is a single-value variable; a list (even of one) is a multi-value or
    include-all variable, written as quoted literals. Names not in ``variables`` are left
    alone (Grafana leaves unknown variables, and macros, in place).

    >>> interpolate_variables("mine_id = '$mine' AND station_id IN (${station}) -- [[mine]] ${mine:csv}",
    ...                       {"mine": "GZ-1", "station": ["ST01", "O'Hara"]})
    "mine_id = 'GZ-1' AND station_id IN ('ST01','O''Hara') -- GZ-1 GZ-1"
    >>> interpolate_variables("$__timeFilter(ts) AND $unknown", {"mine": "GZ-1"})
    '$__timeFilter(ts) AND $unknown'
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name not in variables:
            return match.group(0)
        return _format_value(variables[name], fmt)

    return _VARIABLE.sub(replace, text)


def variable_references(text: str) -> set[str]:
    """The names a query refers to as template variables (Grafana's own ``$__…`` included).

    >>> sorted(variable_references("'$mine' IN (${station:csv}) [[x]] $__timeFilter(ts) $__interval"))
    ['__interval', '__timeFilter', 'mine', 'station', 'x']
    """
    return {m.group(1) or m.group(2) or m.group(4) for m in _VARIABLE.finditer(text)}


def expand_macros(sql: str, time_range: TimeRange, timescaledb: bool = False) -> str:
    """Expand the PostgreSQL data source's ``$__macro(args)`` calls (``macros.go``).

    >>> window = TimeRange(datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 26, 1, tzinfo=UTC))
    >>> print(expand_macros("SELECT $__timeGroupAlias(t, '1h'), 1 WHERE $__timeFilter(t)", window))
    SELECT floor(extract(epoch from t)/3600)*3600 AS "time", 1 WHERE t BETWEEN '2026-11-26T00:00:00Z' \
AND '2026-11-26T01:00:00Z'
    >>> print(expand_macros("SELECT $__timeGroup(t, 5m) AS bucket, $__timeFrom()", window, timescaledb=True))
    SELECT time_bucket('300.000s',t) AS bucket, '2026-11-26T00:00:00Z'

    ``$__timeGroup`` directly followed by a comma gets ``AS "time"``, as it did before Grafana 5.3:

    >>> expand_macros("SELECT $__timeGroup(t,1m), 2", window)
    'SELECT floor(extract(epoch from t)/60)*60 AS "time", 2'
    >>> expand_macros("SELECT $__timeFiler(t)", window)
    Traceback (most recent call last):
    ...
    minewatch.grafana.MacroError: unknown macro "__timeFiler"
    """
    sql = sql.replace("$__unixEpochFrom()", str(_epoch_s(time_range.start)))
    sql = sql.replace("$__unixEpochTo()", str(_epoch_s(time_range.end)))
    original = sql

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            after = original.find(match.group(0)) + len(match.group(0))
            if 0 <= after < len(original) and original[after] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip(" ") for arg in match.group(2).split(",")]
        return _evaluate_macro(name, args, time_range, timescaledb)

    return _MACRO.sub(replace, sql)


def _evaluate_macro(name: str, args: list[str], time_range: TimeRange, timescaledb: bool) -> str:
    start, end = time_range.start, time_range.end
    column = args[0]
    if name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter", "__unixEpochNanoFilter") and not column:
        raise MacroError(f'missing time column argument for macro "{name}"')
    if name == "__time":
        return f'{column} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {column}) as "time"'
    if name == "__timeFilter":
        return f"{column} BETWEEN '{rfc3339(start)}' AND '{rfc3339(end)}'"
    if name == "__timeFrom":
        return f"'{rfc3339(start)}'"
    if name == "__timeTo":
        return f"'{rfc3339(end)}'"
    if name in ("__timeGroup", "__unixEpochGroup"):
        seconds = _group_interval(name, args).total_seconds()
        if name == "__unixEpochGroup":
            return f"floor(({column})/{_go_number(seconds)})*{_go_number(seconds)}"
        if timescaledb:
            return f"time_bucket('{seconds:.3f}s',{column})"
        return f"floor(extract(epoch from {column})/{_go_number(seconds)})*{_go_number(seconds)}"
    if name in ("__timeGroupAlias", "__unixEpochGroupAlias"):
        return _evaluate_macro(name.removesuffix("Alias"), args, time_range, timescaledb) + ' AS "time"'
    if name == "__unixEpochFilter":
        return f"{column} >= {_epoch_s(start)} AND {column} <= {_epoch_s(end)}"
    if name == "__unixEpochNanoFilter":
        return f"{column} >= {_epoch_ns(start)} AND {column} <= {_epoch_ns(end)}"
    if name == "__unixEpochNanoFrom":
        return str(_epoch_ns(start))
    if name == "__unixEpochNanoTo":
        return str(_epoch_ns(end))
    raise MacroError(f'unknown macro "{name}"')


def _group_interval(name: str, args: list[str]) -> timedelta:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    try:
        interval = parse_interval(args[1].strip("'"))
    except MacroError:
        raise MacroError(f"error parsing interval {args[1]}") from None
    if len(args) == 3:
        fill = args[2]
        if fill.upper() not in ("NULL", "PREVIOUS"):
            try:
                float(fill)
            except ValueError:
                raise MacroError(f"error parsing fill value {fill}") from None
    return interval


def render_sql(
    sql: str,
    time_range: TimeRange,
    variables: Mapping[str, VariableValue] | None = None,
    interval: timedelta | None = None,
    timescaledb: bool = False,
) -> str:
    """A panel's ``rawSql`` as PostgreSQL receives it: variables first, then macros.

    ``interval`` is ``$__interval``; by default what Grafana computes for the range and a
    1000-point panel.
    """
    interval = time_range.interval() if interval is None else interval
    values: dict[str, VariableValue] = {**builtin_variables(time_range, interval), **(variables or {})}
    return expand_macros(interpolate_variables(sql, values), time_range, timescaledb)


@dataclass(frozen=True, slots=True)
class Target:
    """One query of one panel: what it asks, and of which data source."""

    dashboard: str
    panel: str
    panel_id: int | None
    panel_type: str
    ref_id: str
    datasource_type: str | None
    datasource_uid: str | None
    query: str  # rawSql (SQL data sources) or expr (Prometheus)
    format: str | None  # time_series | table (SQL); None when the target does not say


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable defined by a query, and how Grafana lets it be chosen."""

    dashboard: str
    name: str
    datasource_type: str | None
    datasource_uid: str | None
    query: str
    multi: bool
    include_all: bool


def _datasource(ref: Any) -> tuple[str | None, str | None]:
    if isinstance(ref, dict):
        return ref.get("type"), ref.get("uid")
    if isinstance(ref, str):
        return None, ref
    return None, None


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, rows and the panels of collapsed rows included, in order."""

    def walk(panels: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels") or ())

    yield from walk(dashboard.get("panels") or ())


def iter_targets(dashboard: Mapping[str, Any]) -> Iterator[Target]:
    """Every query of every panel; a target without a data source of its own uses its panel's.

    >>> board = {"title": "t", "panels": [
    ...     {"type": "row", "id": 1, "title": "r", "collapsed": True, "panels": [
    ...         {"type": "stat", "id": 2, "title": "n", "datasource": {"type": "postgres", "uid": "pg"},
    ...          "targets": [{"refId": "A", "rawSql": "SELECT 1", "format": "table"}]}]},
    ...     {"type": "timeseries", "id": 3, "title": "rate",
    ...      "targets": [{"refId": "A", "datasource": {"type": "prometheus", "uid": "prom"}, "expr": "up"}]}]}
    >>> [(t.panel, t.datasource_uid, t.query, t.format) for t in iter_targets(board)]
    [('n', 'pg', 'SELECT 1', 'table'), ('rate', 'prom', 'up', None)]
    """
    title = dashboard.get("title", "")
    for panel in iter_panels(dashboard):
        panel_type, panel_uid = _datasource(panel.get("datasource"))
        for target in panel.get("targets") or ():
            ds_type, ds_uid = _datasource(target.get("datasource"))
            if ds_uid is None:
                ds_type, ds_uid = panel_type, panel_uid
            yield Target(
                dashboard=title,
                panel=panel.get("title", ""),
                panel_id=panel.get("id"),
                panel_type=panel.get("type", ""),
                ref_id=target.get("refId", ""),
                datasource_type=ds_type,
                datasource_uid=ds_uid,
                query=target.get("rawSql") or target.get("expr") or "",
                format=target.get("format"),
            )


def iter_variables(dashboard: Mapping[str, Any]) -> Iterator[Variable]:
    """The dashboard's query variables, in the order Grafana resolves them."""
    for variable in (dashboard.get("templating") or {}).get("list") or ():
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("rawSql") or query.get("query") or ""
        ds_type, ds_uid = _datasource(variable.get("datasource"))
        yield Variable(
            dashboard=dashboard.get("title", ""),
            name=variable["name"],
            datasource_type=ds_type,
            datasource_uid=ds_uid,
            query=query or variable.get("definition", ""),
            multi=bool(variable.get("multi")),
            include_all=bool(variable.get("includeAll")),
        )


def defined_variables(dashboard: Mapping[str, Any]) -> set[str]:
    """The names of every template variable the dashboard defines, of any type."""
    return {v["name"] for v in (dashboard.get("templating") or {}).get("list") or ()}


def load_dashboards(folder: Path) -> dict[Path, dict[str, Any]]:
    """Every ``*.json`` dashboard under ``folder``, by path."""
    return {path: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.rglob("*.json"))}
