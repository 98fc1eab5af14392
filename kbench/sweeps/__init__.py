"""Sweeps: a matrix of measurements (models x runtimes x precisions x batches x threads x nodes) in one run.

Every cell is one spec (:mod:`kbench.specs`) run by its runner (:func:`kbench.run`) wherever the executor puts
it, and writes the record its own command writes into the results store, so ``kbench results``, ``report``,
``gate`` and ``leaderboard`` read a sweep with no change.

* :mod:`kbench.sweeps.plan`: sweep files and flags -> cells, and the combinations that cannot run here;
* :mod:`kbench.sweeps.engine`: the driver loop (retries, resume, records, progress, Ctrl-C);
* :mod:`kbench.sweeps.local`: this machine (worker processes; latency cells alone);
* :mod:`kbench.sweeps.ray_cluster`: a Ray cluster (bench slots, every-node cells, sharded evaluation);
* :mod:`kbench.sweeps.tasks`: what runs on the workers.

Example::

    from kbench.sweeps import plan_from_blocks, run_sweep
    plan = plan_from_blocks([{"kind": "profile", "models": "tinypose_*"}])
    outcomes, interrupted = run_sweep(plan, store="kbench-runs")
"""

from __future__ import annotations

__all__ = ["run_sweep", "plan_from_blocks", "load_sweep_file", "format_summary", "format_plan"]


def plan_from_blocks(*args, **kwargs):
    from kbench.sweeps.plan import plan_from_blocks as _plan

    return _plan(*args, **kwargs)


def load_sweep_file(path):
    from kbench.sweeps.plan import load_sweep_file as _load

    return _load(path)


def make_executor(ray: str | bool | None = None, workers: int | None = None, cpus_per_cell: float = 1.0,
                  ray_init: dict | None = None):
    """This machine's executor (``ray`` None/False), a local Ray instance (True or ``"local"``) or a cluster."""
    if ray in (None, False):
        from kbench.sweeps.local import LocalExecutor

        return LocalExecutor(workers)
    from kbench.sweeps.ray_cluster import RayExecutor

    address = None if ray in (True, "local", "") else str(ray)
    return RayExecutor(address, cpus_per_cell=cpus_per_cell, init_options=ray_init)


def run_sweep(plan, store="kbench-runs", executor=None, resume: bool = False, progress=None):
    """Run a plan's cells and write their records into ``store``; (outcomes, interrupted)."""
    from kbench.results.store import ResultStore
    from kbench.sweeps.engine import SweepEngine

    store = store if isinstance(store, ResultStore) else ResultStore(store)
    executor = executor or make_executor()
    engine = SweepEngine(executor, store, retries=plan.retries, resume=resume, progress=progress)
    return engine.run(plan.cells)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def format_plan(plan, where: str, records: list = ()) -> str:
    """The plan as printed before a sweep runs: cells by kind, where, what was dropped and an estimate."""
    from collections import Counter

    from kbench.sweeps.engine import estimate_seconds

    kinds = Counter(c.kind for c in plan.cells)
    by_kind = ", ".join(f"{n} {k}" for k, n in kinds.items())
    lines = [f"sweep: {len(plan.cells)} cell(s) ({by_kind}) from {plan.source}; retries {plan.retries}",
             f"where: {where}"]
    if plan.impossible:
        lines.append(f"not run ({len(plan.impossible)}):")
        if len(plan.impossible) <= 6:
            lines += [f"  {i.line()}" for i in plan.impossible]
        else:  # one line per reason, with how many cells it drops and the first of them
            reasons = Counter(i.why for i in plan.impossible)
            for why, n in reasons.items():
                first = next(i.label for i in plan.impossible if i.why == why)
                lines.append(f"  {n} cell(s): {why} (e.g. {first})")
    total, known = estimate_seconds(plan.cells, list(records))
    if total is None:
        lines.append("estimated time: unknown (no earlier records of these cells)")
    else:
        lines.append(f"estimated time: ~{_duration(total)} of work for {known} of {len(plan.cells)} cell(s) (earlier "
                     f"records, latency budgets); cells that share the machine run in parallel")
    return "\n".join(lines)


def format_summary(outcomes: list) -> str:
    """The table at the end of a sweep: cell, node, status, attempts, headline figure (or error), time."""
    rows = [("cell", "node", "status", "tries", "result", "time")]
    for o in outcomes:
        result = o.headline if o.status != "failed" else (o.error or "")
        time_text = f"{o.elapsed_s:.1f} s" if o.elapsed_s is not None else ""
        rows.append((o.cell.label, o.node or "", o.status, str(o.attempts or ""), result, time_text))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(5)) + "  " + r[5] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  ----")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "failed", "skipped")}
    lines.append(f"{len(outcomes)} cell(s): {counts['done']} done, {counts['failed']} failed, "
                 f"{counts['skipped']} skipped (already in the store)")
    return "\n".join(lines)
