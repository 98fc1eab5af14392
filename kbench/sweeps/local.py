"""Running a sweep on this machine, with no cluster: worker processes, latency cells alone.

Cells that share the machine (evaluations, profiles, conformance, exports) run in parallel, up to ``workers``
processes (default: the usable cores); a latency cell runs only when nothing else of the sweep is running, in a
process of its own, so nothing competes with it for the cores it times. Workers are started with ``spawn``: a
process forked from one with a framework's thread pools loaded is not safe. A worker that dies (a runtime's
crash) breaks only its pool; the cells it held are retried in a new one.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import socket
import threading

from kbench.sweeps.tasks import usable_cores

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Places cells on this machine (see the module's text)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or usable_cores())
        self._ctx = multiprocessing.get_context("spawn")
        self._pools: dict[str, cf.ProcessPoolExecutor] = {}
        self._threads = cf.ThreadPoolExecutor(max_workers=4, thread_name_prefix="kbench-shards")
        self._flying: dict = {}  # future -> cell
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"this machine ({socket.gethostname()}): {self.workers} worker process(es); latency cells alone"

    # -- the executor protocol -----------------------------------------------------------------------------
    def expand(self, cells: list) -> list:
        """Every-node cells run once: this machine is the only node."""
        return cells

    def _pool(self, name: str, size: int) -> cf.ProcessPoolExecutor:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = cf.ProcessPoolExecutor(max_workers=size, mp_context=self._ctx)
        return pool

    def submit(self, cell):
        """A future of the cell's result, or None while it must wait for room."""
        from kbench.sweeps import tasks

        busy = list(self._flying.values())
        if cell.exclusive:
            if busy:
                return None
            placement = {"executor": "local", "exclusive": True, "cores": usable_cores()}
            fut = self._pool("latency", 1).submit(tasks.run_cell, cell.spec, placement)
        else:
            if any(c.exclusive for c in busy) or len(busy) >= self.workers:
                return None
            placement = {"executor": "local", "exclusive": False}
            if cell.shards > 1:
                fut = self._threads.submit(self._sharded, cell, placement)
            else:
                fut = self._pool("shared", self.workers).submit(tasks.run_cell, cell.spec, placement)
        self._flying[fut] = cell
        return fut

    def _sharded(self, cell, placement: dict):
        """Prepare once, run the parts in parallel in the shared pool, merge in a worker."""
        from kbench.sweeps import tasks

        pool = self._pool("shared", self.workers)
        job = pool.submit(tasks.eval_prepare, cell.spec).result()
        if isinstance(job, tasks.CellFailure):
            return job
        parts = [pool.submit(tasks.eval_part, cell.spec, job, i, cell.shards) for i in range(cell.shards)]
        outs = [p.result() for p in parts]
        return pool.submit(tasks.eval_finish, cell.spec, job, *outs, placement=placement).result()

    def result(self, fut):
        self._flying.pop(fut, None)
        try:
            return fut.result()
        except cf.process.BrokenProcessPool:
            # The pool is unusable once a worker died: the next cell starts a new one.
            for name, pool in list(self._pools.items()):
                if getattr(pool, "_broken", False):
                    pool.shutdown(wait=False, cancel_futures=True)
                    del self._pools[name]
            raise

    def forget(self, fut) -> None:
        """Stop tracking a cancelled cell (its processes were stopped by :meth:`cancel`)."""
        self._flying.pop(fut, None)

    def describe_failure(self, exc: BaseException) -> str:
        if isinstance(exc, cf.process.BrokenProcessPool):
            return "the worker process died (killed, or a runtime crashed it)"
        return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"

    def node_key(self, node: dict) -> str:
        return node.get("hostname") or socket.gethostname()

    def cancel(self, handles: list) -> None:
        for fut in handles:
            fut.cancel()
        for pool in self._pools.values():  # running tasks cannot be cancelled: stop their processes
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()  # the next cell starts a new pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
