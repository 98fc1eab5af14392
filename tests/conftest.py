"""Shared fixtures.

Markers (declared in pyproject.toml): ``shared_data`` for tests that read the real data under
$KBENCH_SHARED_DATA (.ci/run points it at ../shared/data), ``parity`` for comparisons with a
reference implementation, ``slow`` for tests over a few seconds, ``gpu`` for tests that need a CUDA GPU:
skipped with the reason where none is visible (CI), failed instead under ``KBENCH_REQUIRE_GPU=1`` (``make
gpu-check``, where a silent skip would pass a check that did not run).
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


@pytest.fixture(scope="session", autouse=True)
def fresh_kbench_cache(tmp_path_factory):
    """Exports and downloads go to a cache made for this test session, so no test reads an artifact that an
    earlier version of kbench wrote (the Paddle Lite worker environment is not a cache and is kept); fetched data
    sets go to a fresh ``$KBENCH_DATA`` too, and no ``$KBENCH_MIRROR`` of the developer's redirects a download."""
    saved = {name: os.environ.get(name) for name in ("KBENCH_CACHE", "KBENCH_DATA", "KBENCH_MIRROR")}
    os.environ["KBENCH_CACHE"] = str(tmp_path_factory.mktemp("kbench-cache"))
    os.environ["KBENCH_DATA"] = str(tmp_path_factory.mktemp("kbench-data"))
    os.environ.pop("KBENCH_MIRROR", None)
    yield
    for name, old in saved.items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def pytest_collection_modifyitems(session, config, items):
    """Run the speed benchmarks first, in a process that has not yet loaded paddle, torch or onnxruntime:
    their thread pools and heaps slow every later numpy-heavy measurement (kbench's and its peers' alike)."""
    items.sort(key=lambda item: 0 if "/benchmarks/" in item.nodeid.replace("\\", "/") or
               item.nodeid.startswith("benchmarks/") else 1)


_GPU_REASON: list = []


def _no_gpu_reason() -> str:
    """Why no GPU test can run here ('' when one can); nvidia-smi is asked once per session."""
    if not _GPU_REASON:
        from kbench.bench.machine import gpu_available

        ok, why = gpu_available()
        _GPU_REASON.append("" if ok else why)
    return _GPU_REASON[0]


def pytest_runtest_setup(item):
    """``gpu`` tests: a skip naming the reason where there is no GPU, a failure under KBENCH_REQUIRE_GPU=1."""
    if item.get_closest_marker("gpu") is None:
        return
    why = _no_gpu_reason()
    if not why:
        return
    if os.environ.get("KBENCH_REQUIRE_GPU") == "1":
        pytest.fail(f"KBENCH_REQUIRE_GPU=1 but no GPU is usable: {why}", pytrace=False)
    pytest.skip(f"needs a CUDA GPU ({why}); `make gpu-check` runs the GPU tests where there is one")
