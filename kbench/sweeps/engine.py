"""The sweep's driver: hands cells to an executor, retries what failed, writes records, reports progress.

The executor decides where and when a cell may run (:mod:`kbench.sweeps.local` on this machine,
:mod:`kbench.sweeps.ray_cluster` on a Ray cluster); this loop is the same for both:

* a cell's record is added to the store (:meth:`kbench.results.store.ResultStore.add`, an atomic write) when it
  comes back, so a sweep stopped half-way keeps every finished cell and no half-written file;
* a cell whose task fails, or whose worker or node dies, is run again up to ``retries`` times, then recorded as
  failed with its error (bad input is not retried: it would fail again); nothing is dropped silently;
* ``resume`` skips the cells whose record the store already holds (same :attr:`~kbench.sweeps.plan.Cell.key`:
  the spec's hash with the kbench version, and the node of a pinned copy), so failed cells run again;
* Ctrl-C cancels what is outstanding and returns what finished (the caller exits 130).

Every outcome is also appended to ``<store>/sweeps/<id>.jsonl`` (not a record: the store reads ``*.json``), so a
sweep's failures stay on disk beside its records.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Outcome", "SweepEngine", "headline", "estimate_seconds"]


@dataclass
class Outcome:
    """What became of one cell."""

    cell: object
    status: str  # done | failed | skipped
    attempts: int = 0
    node: str = ""
    record_path: str | None = None
    headline: str = ""
    error: str | None = None
    elapsed_s: float | None = None

    def to_dict(self) -> dict:
        return {"cell": self.cell.label, "key": self.cell.key, "status": self.status, "attempts": self.attempts,
                "node": self.node, "record": self.record_path, "headline": self.headline, "error": self.error,
                "elapsed_s": self.elapsed_s}


def headline(record: dict) -> str:
    """The one figure a summary row shows for a record."""
    m = record.get("metrics") or {}
    kind = record.get("kind")
    if kind == "latency" and "median_ms" in m:
        return f"{m['median_ms']:.3f} ms median"
    if kind == "eval":
        if "PCKh" in m:
            return f"PCKh {m['PCKh']:.2f}"
        if "AP" in m:
            return f"AP {100 * m['AP']:.1f}"
    if kind == "profile" and "params" in m:
        return f"{m['params'] / 1e6:.2f} M params, {m.get('flops', 0) / 1e9:.2f} GFLOPs"
    if kind == "conformance":
        return f"{int(m.get('cells_pass', 0))} pass, {int(m.get('cells_fail', 0))} fail"
    if kind == "export" and "size_mb" in m:
        return f"{m['size_mb']:.2f} MB"
    return ""


def _prior_elapsed(records: list) -> tuple[dict, dict]:
    """Seconds earlier sweeps took, by cell id and by (kind, model, backend)."""
    by_cell, by_kind = {}, {}
    for r in records:
        opts = r.get("options") or {}
        elapsed = (opts.get("sweep") or {}).get("elapsed_s")
        if not isinstance(elapsed, (int, float)):
            continue
        if opts.get("cell_id"):
            by_cell[opts["cell_id"]] = float(elapsed)
        spec = opts.get("spec") or {}
        by_kind.setdefault((r.get("kind"), spec.get("model"), spec.get("backend")), []).append(float(elapsed))
    return by_cell, {k: sorted(v)[len(v) // 2] for k, v in by_kind.items()}


def estimate_seconds(cells: list, records: list) -> tuple[float | None, int]:
    """An estimate of each cell's time from earlier records: (total seconds or None, cells estimated)."""
    by_cell, by_kind = _prior_elapsed(records)
    total, known = 0.0, 0
    for cell in cells:
        s = cell.spec
        guess = by_cell.get(s.cell_id) or by_kind.get((s.kind, getattr(s, "model", None), getattr(s, "backend", None)))
        if guess is None and s.kind == "latency":
            warm_runs, warm_s = _warmup(s.warmup)
            guess = (s.seconds or (0 if s.runs else 3.0)) + (warm_s or 0) + 2.0  # + loading, a rough 2 s
        if guess is not None:
            total += guess
            known += 1
    return (total if known else None), known


def _warmup(text):
    from kbench.specs import parse_warmup

    return parse_warmup(text)


def _log_path(store_root: Path) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return store_root / "sweeps" / f"{stamp}-{uuid.uuid4().hex[:8]}.jsonl"


@dataclass
class _Flight:
    cell: object
    attempt: int
    handle: object
    started: float = field(default_factory=time.monotonic)


class SweepEngine:
    """Runs a plan's cells on an executor and writes their records into a store.

    Args:
        executor: a :class:`kbench.sweeps.local.LocalExecutor` or :class:`kbench.sweeps.ray_cluster.RayExecutor`.
        store: the :class:`~kbench.results.store.ResultStore` receiving the records.
        retries: reruns of a failed cell.
        resume: skip cells whose record the store holds.
        progress: a :mod:`kbench.progress` callback (cells done of all, with failed/left in the note).
        cell_timeout: seconds a cell may run before its task is cancelled as hung (then retried, then failed).
    """

    def __init__(self, executor, store, retries: int = 1, resume: bool = False, progress=None,
                 cell_timeout: float | None = None):
        self.executor, self.store, self.retries, self.resume = executor, store, retries, resume
        self.cell_timeout = cell_timeout
        self.progress = progress
        self.log_path: Path | None = None

    def _known_keys(self) -> set:
        keys = set()
        for r in self.store.records():
            opts = r.get("options") or {}
            if opts.get("cell_id"):
                keys.add(opts["cell_id"])  # any record of the spec answers an unpinned cell
                node = (opts.get("sweep") or {}).get("node_key")
                if node:
                    keys.add(f"{opts['cell_id']}@{node}")
        return keys

    def _log(self, outcome: Outcome) -> None:
        if self.log_path is None:
            self.log_path = _log_path(self.store.root)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(outcome.to_dict()) + "\n")

    def _report(self, done: int, total: int, failed: int, note: str = "", finished: bool = False) -> None:
        if self.progress is not None:
            from kbench.progress import ProgressEvent

            left = total - done
            self.progress(ProgressEvent("sweep", done, total, "cell", f"{failed} failed, {left} left"
                                        + (f"; {note}" if note else ""), finished))

    def run(self, cells: list) -> tuple[list, bool]:
        """Run every cell; (outcomes in plan order, whether Ctrl-C stopped the sweep)."""
        cells = self.executor.expand(cells)
        outcomes: dict[str, Outcome] = {}
        if self.resume:
            known = self._known_keys()
            for cell in cells:
                if cell.key in known:
                    outcomes[cell.key] = Outcome(cell, "skipped", headline="already in the store")
        todo = [c for c in cells if c.key not in outcomes]
        # Cells that share the machine first, the ones that time it after: on one machine, latency then runs alone.
        pending = [(c, 1) for c in sorted(todo, key=lambda c: c.exclusive)]
        flights: dict = {}
        total, failed = len(todo), 0
        interrupted = False
        self._report(0, total, 0)
        try:
            while pending or flights:
                still = []
                for cell, attempt in pending:
                    placed = self.executor.submit(cell)
                    if placed is None:
                        still.append((cell, attempt))
                    elif isinstance(placed, str):  # cannot be placed at all (its node has gone)
                        outcomes[cell.key] = o = Outcome(cell, "failed", attempt, cell.node or "", error=placed)
                        failed += 1
                        self._log(o)
                    else:
                        flights[placed] = _Flight(cell, attempt, placed)
                pending = still
                if not flights:
                    if pending:
                        time.sleep(0.2)
                    continue
                done, _ = cf.wait(list(flights), timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in self._overdue(flights, done):
                    flight = flights.pop(fut)
                    self.executor.cancel([fut])
                    self.executor.forget(fut)
                    why = f"timed out after {self.cell_timeout:g} s (its task was cancelled)"
                    if flight.attempt <= self.retries:
                        pending.append((flight.cell, flight.attempt + 1))
                        continue
                    outcomes[flight.cell.key] = o = Outcome(flight.cell, "failed", flight.attempt,
                                                            flight.cell.node or "", error=why)
                    failed += 1
                    self._log(o)
                for fut in done:
                    flight = flights.pop(fut)
                    outcome = self._settle(flight)
                    if outcome is None:  # retried
                        pending.append((flight.cell, flight.attempt + 1))
                        continue
                    outcomes[flight.cell.key] = outcome
                    failed += outcome.status == "failed"
                    self._log(outcome)
                    self._report(sum(o.status != "skipped" for o in outcomes.values()), total, failed,
                                 flight.cell.label)
        except KeyboardInterrupt:
            interrupted = True
            self.executor.cancel([f.handle for f in flights.values()])
        finally:
            self.executor.close()
        self._report(sum(o.status != "skipped" for o in outcomes.values()), total, failed, finished=True)
        return [outcomes[c.key] for c in cells if c.key in outcomes], interrupted

    def _overdue(self, flights: dict, done) -> list:
        if self.cell_timeout is None:
            return []
        now = time.monotonic()
        return [f for f, fl in flights.items() if f not in done and now - fl.started > self.cell_timeout]

    def _settle(self, flight: _Flight) -> Outcome | None:
        """The outcome of a finished task, or None when it is to run again."""
        from kbench.sweeps.tasks import CellFailure

        cell = flight.cell
        try:
            value = self.executor.result(flight.handle)
        except Exception as exc:  # the worker or its node died: the executor names what happened
            reason = self.executor.describe_failure(exc)
            if flight.attempt <= self.retries:
                return None
            return Outcome(cell, "failed", flight.attempt, cell.node or "", error=reason)
        if isinstance(value, CellFailure):
            node = self.executor.node_key(value.node or {})
            if value.retryable and flight.attempt <= self.retries:
                return None
            return Outcome(cell, "failed", flight.attempt, node, error=value.reason)
        record = value
        sweep = record["options"]["sweep"]
        node = cell.node or self.executor.node_key(sweep.get("node") or {})
        sweep["node_key"] = node
        added = self.store.add(record)
        path = str(added.added[0]) if added.added else None
        return Outcome(cell, "done", flight.attempt, node, path, headline(record), elapsed_s=sweep.get("elapsed_s"))
