"""Compiled builds of the hot pure modules (mypyc), used only while they match their sources.

Every message passes the gatekeeper and the MQTT codec, every reading the data-quality checks,
the minute aggregates and the COPY encoder. Compiled by mypyc, the quality checks take 0.4 of
their Python time and the minute aggregates 0.8 (``minewatch bench detectors``), and the worker
~20 % less CPU a stored reading (README, "Performance").

A build lives in ``.minewatch/native/<python tag>/`` with a manifest of the SHA-256 of every
source it was built from: the modules, their packages' ``__init__.py`` and everything they
import from this repository. A package with compiled modules puts the build ahead on its
``__path__`` only while every one of those digests still matches, so an edited module never
runs as a stale build: it runs as Python until the next build (``./mw`` builds on every start
when the sources changed; ``python -m minewatch.native build`` by hand). Without a C compiler,
or with ``MINEWATCH_COMPILED=0``, everything runs as Python.

>>> imported = project_imports(ROOT / "processors" / "quality.py")
>>> [name in imported for name in ("processors/samples.py", "processors/limits.py", "processors/app.py")]
[True, True, False]
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from minewatch.paths import ROOT

log = logging.getLogger(__name__)

COMPILED = (
    "processors/quality.py",
    "processors/samples.py",
    "storage/copyformat.py",
    "ingest/validation.py",
    "ingest/mqttwire.py",
)
PACKAGES = ("minewatch", "processors", "storage", "ingest", "hj212", "alerts", "api", "simulators", "benchmarks")
BUILDS = ROOT / ".minewatch" / "native"
BUILD = BUILDS / sys.implementation.cache_tag
MANIFEST = "manifest.json"

# The test session turns this off for itself: pytest imports each module's source to collect its
# doctests, and refuses a module that imported as a build. Processes it starts still use builds.
enabled = os.environ.get("MINEWATCH_COMPILED", "1") != "0"


class BuildError(RuntimeError):
    """mypyc could not compile the modules (no C compiler, or a module mypy cannot type)."""


def compiled_path(package: str, path: list[str]) -> list[str]:
    """``path`` with the package's current build ahead of its sources, when there is one."""
    build = BUILD / package
    if not enabled or not build.is_dir():
        return path
    stale = stale_sources(BUILD)
    if stale:
        log.warning("%s runs as Python: %s changed since its build (./mw rebuilds it)", package, ", ".join(stale))
        return path
    return [str(build), *path]


def stale_sources(build: Path) -> list[str]:
    """The sources that differ from the build's manifest (all of them when there is no manifest)."""
    try:
        recorded: dict[str, str] = json.loads((build / MANIFEST).read_text())["sources"]
    except (OSError, ValueError, KeyError):
        return list(COMPILED)
    changed = [name for name, digest in recorded.items() if _digest(ROOT / name) != digest]
    return changed + [name for name in COMPILED if name not in recorded]


def project_imports(source: Path) -> set[str]:
    """The repository's sources ``source`` imports, directly or through them, with their packages'
    ``__init__.py`` (paths relative to the repository)."""
    found: set[str] = set()
    pending = [source]
    while pending:
        tree = ast.parse(pending.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            for name in _imported_names(node):
                for file in _module_files(name):
                    relative = _relative(file)
                    if relative not in found:
                        found.add(relative)
                        pending.append(file)
    return found


def _imported_names(node: ast.AST) -> list[str]:
    """The dotted names an import statement may load (``from a import b`` may load ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return []


def _module_files(name: str) -> list[Path]:
    """The files importing ``name`` runs: each enclosing package's ``__init__.py`` and the module."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return []
    files = []
    for depth in range(1, len(parts) + 1):
        base = ROOT.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
            break
        else:
            break
    return files


def _relative(file: Path) -> str:
    return file.relative_to(ROOT).as_posix()


def _digest(path: Path) -> str | None:
    """The file's SHA-256, read once per process while its size and modification time stay (each
    package with compiled modules checks the same sources when it is imported)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return _digest_of(path, status.st_mtime_ns, status.st_size)


@functools.cache
def _digest_of(path: Path, mtime_ns: int, size: int) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def sources() -> dict[str, str | None]:
    """Every source a build depends on, with its current digest."""
    names: set[str] = set()
    for module in COMPILED:  # the module, its packages' __init__.py, and what it imports
        dotted = module.removesuffix(".py").replace("/", ".")
        names |= project_imports(ROOT / module) | {_relative(file) for file in _module_files(dotted)}
    return {name: _digest(ROOT / name) for name in sorted(names)}


def build(*, force: bool = False) -> bool:
    """Compile :data:`COMPILED` unless the build is current; True when it compiled."""
    if not force and not stale_sources(BUILD):
        return False
    wanted = sources()
    with tempfile.TemporaryDirectory(prefix="minewatch-native-") as scratch:
        # one mypyc per module, side by side in trees of their own: each builds its own library
        trees = [Path(scratch) / str(index) for index in range(len(COMPILED))]
        for tree in trees:
            for name in wanted:
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, tree / name)
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "mypyc", "--ignore-missing-imports", module],
                cwd=tree,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for tree, module in zip(trees, COMPILED, strict=True)
        ]
        for module, run in zip(COMPILED, runs, strict=True):
            output, _ = run.communicate()
            if run.returncode != 0:
                raise BuildError(f"mypyc could not compile {module}:\n{output.decode(errors='replace')[-4000:]}")
        staged = BUILDS / f"{BUILD.name}.{os.getpid()}"
        shutil.rmtree(staged, ignore_errors=True)
        try:
            for tree, module in zip(trees, COMPILED, strict=True):
                package = Path(module).parent
                (staged / package).mkdir(parents=True, exist_ok=True)
                libraries = list((tree / package).glob(f"{Path(module).stem}*.so"))
                if not libraries:
                    raise BuildError(f"mypyc left no library for {module}")
                for library in libraries:
                    shutil.copy2(library, staged / package / library.name)
            (staged / MANIFEST).write_text(json.dumps({"python": sys.version, "sources": wanted}, indent=1))
            shutil.rmtree(BUILD, ignore_errors=True)
            try:
                staged.rename(BUILD)
            except OSError as error:  # another build (a second ./mw) got there first
                if stale_sources(BUILD):
                    raise BuildError(f"cannot put the build in place: {error}") from error
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return True


def main(argv: list[str] | None = None) -> int:
    command = (argv if argv is not None else sys.argv[1:]) or ["status"]
    if command[0] == "build":
        try:
            if build(force="--force" in command):
                print(f"minewatch: compiled {', '.join(COMPILED)} into {BUILD}", file=sys.stderr)
        except BuildError as error:
            print(f"minewatch: running as Python, {error}", file=sys.stderr)
            return 1
        return 0
    stale = stale_sources(BUILD)
    print(f"{BUILD}: " + (f"stale ({', '.join(stale)} changed)" if stale else "current"))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
