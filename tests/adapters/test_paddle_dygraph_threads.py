"""The Paddle dygraph adapter honours --threads (Paddle 3.x has no ``paddle.set_num_threads``; the core's setter is
used): over the same forward passes, the process's CPU time per wall second is about 1 at one thread and clearly
more at two. A ratio of the process's own clocks in one run, not a timed threshold. In a subprocess: the setting is
process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys, time
import numpy as np
from kbench.adapters.paddle_dygraph import PaddleDygraphAdapter
from kbench.cards import get_card
out = {}
for threads in (1, 2):
    a = PaddleDygraphAdapter()
    a.load(get_card("hrnet_w32_256x192"), weights="random", threads=threads)
    x = np.random.default_rng(0).standard_normal((2, 3, 256, 192)).astype("float32")
    a.run(x)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(3):
        a.run(x)
    out[threads] = {"util": (time.process_time() - c0) / (time.perf_counter() - t0), "said": a.describe()["threads"]}
    a.close()
print(json.dumps(out))
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to show two threads at work")
def test_threads_change_the_cpu_time_per_wall_second():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    one, two = out["1"], out["2"]
    assert one["said"] == 1 and two["said"] == 2
    # One thread: one core busy (a little more for Python's own threads); two: well above one core.
    assert one["util"] < 1.3, out
    assert two["util"] > 1.5, out
