"""Every CPU runtime really runs the thread count its latency record says (issue "labels are facts").

``kbench latency --threads 1,2`` on HRNet-w32 (large convolutions: every runtime parallelises them) for each CPU
runtime; each record's ``cpu_util`` (the CPU time of the process that ran the timed loop over its wall time: the
Lite worker for Paddle Lite) must be about 1 at one thread and clearly more at two, and the thread count the
record's runtime reports must be the one asked for. A ratio of the process's own clocks in one run, not a timed
threshold: a runtime that ignored the setting would show the same utilisation at both counts.

Bounds: at one thread, < 1.3 (Python's own threads and the runtime's bookkeeping add a little); at two, > 1.3 and
clearly above the one-thread figure (on a 2-core machine a perfect run is 2.0; memory-bound layers and the serial
parts between them bring HRNet-w32 to about 1.6-1.9 here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kbench.adapters.base import runtime_status

MODEL = "hrnet_w32_256x192"
RUNTIMES = ["onnxruntime", "paddle-inference", "paddle", "torch", "lite"]


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to show two threads at work")
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_threads_change_cpu_utilisation(runtime):
    ok, why = runtime_status(runtime)
    if not ok:
        pytest.skip(why)
    cmd = [sys.executable, "-m", "kbench", "latency", "--models", MODEL, "--backend", runtime, "--threads", "1,2",
           "--warmup", "2", "--runs", "6", "--no-yardstick", "--no-record", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert not out["failed"], out["failed"]
    by_threads = {m["options"]["threads"]: m for m in out["measurements"]}
    assert sorted(by_threads) == [1, 2]
    one, two = by_threads[1], by_threads[2]
    for t, m in ((1, one), (2, two)):
        reported = m["options"]["runtime_info"].get("threads")
        assert reported == t, f"{runtime} says {reported} threads for a {t}-thread run"
    u1, u2 = one["metrics"]["cpu_util"], two["metrics"]["cpu_util"]
    assert 0.5 < u1 < 1.3, (u1, u2)
    assert u2 > 1.3 and u2 > u1 + 0.25, (u1, u2)
