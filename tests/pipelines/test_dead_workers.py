"""Worker processes that die or hang give one line naming the worker and what it was doing; no hang and no
orphan process: the image-decoding pool of the evaluation loops and the Paddle Lite worker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from kbench.errors import InputError
from kbench.pipelines.prefetch import OrderedPrefetcher


def _square_or_die(task):
    if task == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
    return task * task


def _square_or_hang(task):
    if task == 3:
        time.sleep(60)
    return task * task


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return True


def test_a_killed_decoding_worker_stops_the_run_with_one_line():
    with pytest.raises(InputError) as err:
        with OrderedPrefetcher(_square_or_die, workers=2, what="decoding test images") as pf:
            pids = list(pf._pids)
            results = list(pf.map(range(20)))
    text = str(err.value)
    assert "died while decoding test images (task 6)" in text and "\n" not in text
    assert "results" not in locals()
    time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]


def test_a_hung_decoding_worker_is_stopped_after_the_limit():
    t0 = time.monotonic()
    with pytest.raises(InputError) as err:
        with OrderedPrefetcher(_square_or_hang, workers=2, what="decoding test images", task_timeout=1.5) as pf:
            pids = list(pf._pids)
            list(pf.map(range(8)))
    assert "did not finish decoding test images (task 4) within 1.5 s" in str(err.value)
    assert time.monotonic() - t0 < 30  # stopped, not the 60 s the task would take
    time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]


def test_results_stay_in_order_when_nothing_fails():
    with OrderedPrefetcher(_square_or_hang, workers=2, task_timeout=30) as pf:
        assert list(pf.map([0, 1, 2, 4, 5])) == [0, 1, 4, 16, 25]


def test_a_hung_lite_worker_is_stopped_with_one_line(tmp_path):
    from kbench.adapters.paddle_lite import LiteWorker

    # A "python" that starts, reads nothing and never answers: the worker of a Paddle Lite that hangs.
    fake = tmp_path / "python3.10"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    worker = LiteWorker(fake, timeout=1.0).start()
    pid = worker.pid
    t0 = time.monotonic()
    with pytest.raises(InputError) as err:
        worker.request({"op": "run"}, [__import__("numpy").zeros((1, 3, 256, 192), "float32")])  # > a pipe's buffer
    assert f"the Paddle Lite worker (pid {pid}) did not answer run within 1 s" in str(err.value)
    assert time.monotonic() - t0 < 20
    assert not _alive(pid) and not worker.alive()
