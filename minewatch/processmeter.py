"""CPU seconds and peak resident memory of running processes, for the fault drills and the
benchmark: what each process of a stack cost while something was done to it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import psutil


class ProcessMeter:
    """CPU seconds and peak RSS of named processes (with their children), sampled every 0.5 s;
    ``on_sample``, when given, is called at each sample too (to read a gauge alongside)."""

    def __init__(self, on_sample: Callable[[], None] | None = None) -> None:
        self.on_sample = on_sample
        self.processes: dict[str, psutil.Process] = {}
        self.cpu_start: dict[str, float] = {}
        self.cpu_last: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {}
        self.database_url: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def add(self, name: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            self.processes[name] = process
            self.cpu_start[name] = self._cpu(process)

    def add_database_backends(self, db_url: str) -> None:
        """The PostgreSQL server processes serving ``db_url``'s database, now and at every sample."""
        self.database_url = db_url
        name = db_url.rsplit("/", 1)[-1]
        for process in psutil.process_iter(["cmdline"]):
            if f"postgres {process.pid}" in self.processes:
                continue
            cmdline = " ".join(process.info["cmdline"] or ())
            if cmdline.startswith("postgres:") and f" {name} " in f"{cmdline} ":
                self.add(f"postgres {process.pid}", process.pid)

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        total = 0.0
        for p in (process, *process.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                times = p.cpu_times()
                total += times.user + times.system
        return total

    def _sample(self) -> None:
        if self.on_sample is not None:
            self.on_sample()
        if self.database_url:  # connections opened since the last sample
            self.add_database_backends(self.database_url)
        for name, process in list(self.processes.items()):
            with contextlib.suppress(psutil.Error):
                rss = sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))
                self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
                self.cpu_last[name] = self._cpu(process)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, dict[str, float]]:
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
