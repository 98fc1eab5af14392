"""Image decoding and cropping in worker processes, ahead of the runtime, in order and with bounded memory.

The runtime is the only stage that should set the pace of an evaluation. Decoding a JPEG and warping its
person crops costs milliseconds per image, about what a small model's forward pass costs, so it runs in
worker processes while the main process feeds the runtime. At most ``window`` tasks are in flight, so a
5000-image run never holds more than a few batches of crops in memory.

A worker that dies (killed, out of memory) or hangs on one task stops the run with one line naming the work it
held, instead of waiting forever for a result that will not come (``multiprocessing.Pool`` replaces a dead
worker but loses its task); ``$KBENCH_WORKER_TIMEOUT`` (seconds, default 600) bounds one task.

Workers ignore SIGINT: Ctrl-C reaches the main process only, which terminates the pool and lets the
``KeyboardInterrupt`` propagate (nothing half-written: results are written atomically afterwards).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["OrderedPrefetcher", "default_workers"]


def default_workers() -> int:
    """Worker processes to use by default: one fewer than the CPUs (the runtime needs one), at least 1, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def _worker_init(initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker the pool forks later (to replace one) is a copy of a process that may have loaded a framework
    # with its own SIGTERM handler (Paddle installs one); the pool stops workers with SIGTERM, so restore it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)


class OrderedPrefetcher:
    """Run ``func`` over tasks in worker processes, yielding results in task order.

    Args:
        func: a module-level function of one task (it must be picklable by reference).
        initializer: called once in each worker (and once in-process when ``workers`` is 0) with ``initargs``.
        initargs: arguments of the initializer (sent to each worker once, not with every task).
        workers: worker processes; 0 runs everything in this process (for debugging and tiny inputs).
        window: tasks in flight at most (default: 4 per worker).
    """

    def __init__(self, func: Callable[[Any], Any], initializer: Callable | None = None, initargs: tuple = (),
                 workers: int | None = None, window: int | None = None, what: str = "its task",
                 task_timeout: float | None = None):
        self.func = func
        self.what = what
        env = os.environ.get("KBENCH_WORKER_TIMEOUT")
        self.task_timeout = task_timeout if task_timeout is not None else float(env) if env else 600.0
        self.initializer = initializer
        self.initargs = initargs
        self.workers = default_workers() if workers is None else max(0, int(workers))
        self.window = window or max(2, 4 * self.workers)
        self.wait_s = 0.0  # time the consumer spent waiting for a result that was not ready
        self._pool = None

    def __enter__(self) -> OrderedPrefetcher:
        if self.workers > 0:
            # fork starts workers at once and shares the read-only state; spawn where fork is unavailable.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            ctx = multiprocessing.get_context(method)
            self._pool = ctx.Pool(self.workers, initializer=_worker_init, initargs=(self.initializer, self.initargs))
            self._pids = self._worker_pids()
        elif self.initializer is not None:
            self.initializer(*self.initargs)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pool is not None:
            if exc_type is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
            # terminate() races with the pool's own thread that replaces exited workers: a worker forked in that
            # window may not have run its initializer yet. Nothing of this pool may outlive it.
            for process in list(getattr(self._pool, "_pool", ())):
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
            self._pool = None

    def _worker_pids(self) -> set:
        return {p.pid for p in list(getattr(self._pool, "_pool", ()))}

    def _wait(self, result, index: int) -> None:
        """Wait for one result, watching the workers: a dead worker or a task over the time limit is one line."""
        from kbench.errors import InputError

        start = time.monotonic()
        while not result.ready():
            result.wait(0.25)
            if result.ready():
                return
            gone = self._pids - self._worker_pids()
            if gone:  # the pool replaced a worker: the task it held is lost
                raise InputError(f"a worker process (pid {min(gone)}) died while {self.what} (task {index + 1}): "
                                 f"killed, or out of memory; the run stopped")
            if time.monotonic() - start > self.task_timeout:
                raise InputError(f"a worker process did not finish {self.what} (task {index + 1}) within "
                                 f"{self.task_timeout:g} s: the run stopped (KBENCH_WORKER_TIMEOUT allows longer)")

    def map(self, tasks: Iterable[Any]) -> Iterator[Any]:
        """Results of ``func`` for each task, in order; a task's exception is raised here, in order."""
        if self._pool is None:
            for task in tasks:
                yield self.func(task)
            return
        pending: collections.deque = collections.deque()
        it = iter(tasks)
        exhausted = False
        index = 0
        while True:
            while not exhausted and len(pending) < self.window:
                try:
                    task = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(self._pool.apply_async(self.func, (task,)))
            if not pending:
                return
            head = pending.popleft()
            if not head.ready():
                t0 = time.perf_counter()
                self._wait(head, index)
                self.wait_s += time.perf_counter() - t0
            index += 1
            yield head.get()
