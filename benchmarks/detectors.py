"""Cost per reading of the compliance and data-quality detectors (``minewatch bench detectors``).

Generates simulated minute data for a fleet, then times, single-threaded, each stage the worker
runs per reading: minute aggregation (unit conversion, validity, O2 correction), window
judgement (instantaneous, hourly, daily) with episodes, and the data-quality checks. Prints
µs per reading for each stage and the total, as text and as one JSON line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from processors.compliance import episodes_by_limit, judge_series_window, windows_of
from processors.limits import LimitBook
from processors.quality import QualityMonitor
from processors.samples import MinuteValue, SeriesKey, aggregate_minutes, readings_of_batch, rules_for_registry
from processors.windows import AveragingRules
from simulators.fleet import generate_fleet
from simulators.telemetry import TelemetrySimulator


def _timed(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(mines: int = 50, minutes: int = 120, repeat: int = 3, seed: int = 1) -> dict[str, Any]:
    registry = generate_fleet(mines, seed=seed)
    book = LimitBook.load()
    rules = rules_for_registry(registry, book)
    averaging = AveragingRules.from_data(book.rules)
    simulator = TelemetrySimulator(registry, seed=seed)
    start = 1795622400.0  # a Beijing-time midnight
    readings = []
    for minute in range(minutes):
        for message in simulator.messages(start + 60.0 * minute):
            readings += readings_of_batch({"messages": [message.payload]})
    n = len(readings)

    aggregate_s, minutes_by_key = _timed(lambda: aggregate_minutes(readings, rules), repeat)

    def judge() -> int:
        by_series: dict[SeriesKey, dict[float, MinuteValue]] = {}
        for (series, minute), aggregate in minutes_by_key.items():
            by_series.setdefault(series, {})[minute] = aggregate
        verdicts = []
        for series, series_minutes in by_series.items():
            station_rules = rules[(series.mine_id, series.station_id)]
            for kind, window in windows_of(station_rules, series, series_minutes):
                verdicts += judge_series_window(station_rules, series, kind, window, series_minutes, averaging)
        return len(episodes_by_limit(verdicts))

    judge_s, _ = _timed(judge, repeat)
    quality_s, _ = _timed(lambda: QualityMonitor(registry, track_offline=False).observe(readings), repeat)
    result = {
        "readings": n,
        "mines": mines,
        "minutes": minutes,
        "aggregate_us_per_reading": round(aggregate_s / n * 1e6, 3),
        "judge_us_per_reading": round(judge_s / n * 1e6, 3),
        "quality_us_per_reading": round(quality_s / n * 1e6, 3),
    }
    result["total_us_per_reading"] = round(
        result["aggregate_us_per_reading"] + result["judge_us_per_reading"] + result["quality_us_per_reading"], 3
    )
    result["readings_per_core_second"] = round(1e6 / result["total_us_per_reading"])
    return result


def main(mines: int, minutes: int, repeat: int) -> None:
    result = run(mines, minutes, repeat)
    print(f"{result['readings']:,} readings ({mines} mines x {minutes} minutes of minute data), best of {repeat}:")
    for stage in ("aggregate", "judge", "quality", "total"):
        print(f"  {stage:>9}: {result[f'{stage}_us_per_reading']:8.3f} µs/reading")
    print(f"  = {result['readings_per_core_second']:,} readings per core-second for the detectors alone")
    print(json.dumps(result))
