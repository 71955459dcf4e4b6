"""minewatch: monitoring of mine emissions and geo-environment for Guizhou's green-mine programme."""

__version__ = "0.1.0"
