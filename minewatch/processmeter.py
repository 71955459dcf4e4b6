"""CPU seconds and peak resident memory of running processes, for the fault drills and the
benchmark: what each process of a stack cost while something was done to it.

The meter runs beside what it measures, on the same cores, so it must cost next to nothing:
each sample reads only the known processes; the process table (to find children and the
database's new backends) is scanned once every ``FAMILY_REFRESH_S``, not once per process and
sample (psutil's ``children()`` scans all of ``/proc`` each time: that cost ~15 % of a core).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import psutil

from storage.migrate import admin_and_name

SAMPLE_EVERY_S = 0.5
FAMILY_REFRESH_S = 5.0


class ProcessMeter:
    """CPU seconds and peak RSS of named processes (with their children), sampled every 0.5 s;
    ``on_sample``, when given, is called at each sample too (to read a gauge alongside)."""

    def __init__(self, on_sample: Callable[[], None] | None = None) -> None:
        self.on_sample = on_sample
        self.processes: dict[str, psutil.Process] = {}
        self.families: dict[str, list[psutil.Process]] = {}  # name -> the process and its descendants
        self._member_cpu: dict[str, dict[int, float]] = defaultdict(dict)  # kept when a member exits
        self.cpu_start: dict[str, float] = {}
        self.cpu_last: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {}
        self.database_url: str | None = None
        self._refreshed_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def add(self, name: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            self.processes[name] = process
            self.families[name] = [process, *process.children(recursive=True)]
            self.cpu_start[name] = self._cpu(name)

    def add_database_backends(self, db_url: str) -> None:
        """The PostgreSQL server processes serving ``db_url``'s database, now and as they open."""
        self.database_url = db_url
        self._refresh_families()

    def _refresh_families(self) -> None:
        """One pass over the process table: new database backends, every process's descendants."""
        children: dict[int, list[psutil.Process]] = defaultdict(list)
        database = admin_and_name(self.database_url)[1] if self.database_url else None
        for process in psutil.process_iter(["ppid", "cmdline"]):
            children[process.info["ppid"]].append(process)
            cmdline = " ".join(process.info["cmdline"] or ())
            backend = f"postgres {process.pid}"
            is_ours = database and cmdline.startswith("postgres:") and f" {database} " in f"{cmdline} "
            if is_ours and backend not in self.processes:
                self.add(backend, process.pid)
        for name, root in self.processes.items():
            family, frontier = [root], [root]
            while frontier:
                frontier = [child for parent in frontier for child in children.get(parent.pid, ())]
                family.extend(frontier)
            self.families[name] = family

    def _cpu(self, name: str) -> float:
        seen = self._member_cpu[name]
        for p in self.families.get(name, ()):
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                seen[p.pid] = times.user + times.system
        return sum(seen.values())

    def _rss(self, name: str) -> int:
        total = 0
        for p in self.families.get(name, ()):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _sample(self) -> None:
        if self.on_sample is not None:
            self.on_sample()
        if time.monotonic() - self._refreshed_at >= FAMILY_REFRESH_S:
            self._refresh_families()
            self._refreshed_at = time.monotonic()
        for name in list(self.processes):
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), self._rss(name))
            self.cpu_last[name] = self._cpu(name)

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, dict[str, float]]:
        self._refreshed_at = float("-inf")  # the last sample sees every process there is
        self._sample()
        self._stop.set()
        self._thread.join(5)
        usage: dict[str, dict[str, float]] = {}
        for name in self.processes:  # the database's backends as one line
            cpu = self.cpu_last.get(name, self.cpu_start[name]) - self.cpu_start[name]
            rss = self.peak_rss.get(name, 0) / 2**20
            key = "postgres (backends)" if name.startswith("postgres ") else name
            entry = usage.setdefault(key, {"cpu_s": 0.0, "peak_rss_mb": 0.0})
            entry["cpu_s"] = round(entry["cpu_s"] + cpu, 1)
            entry["peak_rss_mb"] = round(entry["peak_rss_mb"] + rss, 1)
        return usage
