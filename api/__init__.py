"""The bureau API: alerts, mines, readings, exceedances, silences and green-mine compliance, each
inside the caller's jurisdiction (``app.py``, ``green.py``; shared rules in ``deps.py``)."""
