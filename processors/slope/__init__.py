"""Slope and tailings stability: pure detectors, one sample at a time, no I/O.

Modules, each one concept: ``levels`` (the four warning colours), ``settings`` (the tunable
values and their standing), ``fitting`` (least squares, Theil–Sen, causal Gaussian smoothing),
``cleaning`` (spikes and steps), ``tangent`` (improved tangential angle), ``inverse_velocity``
(onset of acceleration and time-of-failure forecast), ``rainfall``, ``rollup`` (points to
slopes), and ``point`` (one monitoring point, combining them).
"""
