"""Where the repository's data, schemas and migrations live.

minewatch runs from its checkout (``pip install -e .``), so data files are found relative
to the source tree rather than copied into site-packages.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SCHEMAS = ROOT / "schemas"
MIGRATIONS = ROOT / "storage" / "migrations"
CONFIG = ROOT / "config"
