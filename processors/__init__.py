"""Stream processing: the Faust app (app.py) and the pure detectors it runs (limits.py, ...)."""

from minewatch.native import compiled_path

__path__ = compiled_path(__name__, __path__)
