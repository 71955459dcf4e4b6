"""Stream processing: the Faust app (app.py) and the pure detectors it runs (limits.py, ...)."""
