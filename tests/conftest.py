"""Shared fixtures.

Markers (declared in pyproject.toml): ``shared_data`` for tests that read the real data under
$KBENCH_SHARED_DATA (.ci/run points it at ../shared/data), ``parity`` for comparisons with a
reference implementation, ``slow`` for tests over a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder, or a skip that says why the test did not run."""
    root = os.environ.get("KBENCH_SHARED_DATA")
    if not root:
        pytest.skip("KBENCH_SHARED_DATA is not set: this test needs the real data in ../shared/data "
                    "(.ci/run sets it; run `KBENCH_SHARED_DATA=../shared/data make test` locally)")
    path = Path(root)
    if not path.is_dir():
        pytest.fail(f"KBENCH_SHARED_DATA={root} is set but is not a directory")
    return path
