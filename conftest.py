"""The test session runs the pure modules as Python: pytest imports each source to collect its
doctests and refuses one that imported as a compiled build (see minewatch.native). The services
the tests start use the build; tests/unit/test_native.py checks the build agrees with the source."""

import minewatch.native

minewatch.native.enabled = False
