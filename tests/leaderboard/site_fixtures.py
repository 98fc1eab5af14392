"""The report tests' records and browser helpers, shared with the leaderboard tests.

``tests/reports/report_fixtures.py`` is loaded by path: test folders here are not packages, and only the folder
of the test being imported is on ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "report_fixtures"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parents[1] / "reports" / f"{_NAME}.py")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
fixtures = sys.modules[_NAME]
