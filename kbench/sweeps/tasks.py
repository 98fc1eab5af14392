"""What runs where a sweep's cell runs (a worker process here, or a Ray worker on any node).

Every function returns a value instead of raising for what the cell itself got wrong: a :class:`CellFailure` for
bad input (never retried: it would fail again) and for a runtime's own error (retried). Exceptions that still
escape mean the worker or its node died; the engine retries those on another worker.

The record is the one the cell's own command writes, plus ``options["sweep"]``: the node it ran on, the cores it
had, when it started and ended (epoch seconds) and how long it took; its ``outputs`` (results rows, latency
samples as objects) stay behind, so only the record travels back.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

__all__ = ["CellFailure", "run_cell", "eval_prepare", "eval_part", "eval_finish", "node_info"]


@dataclass(frozen=True)
class CellFailure:
    """A cell that ran and failed: ``input`` (bad input: not retried) or ``error`` (the runtime's own)."""

    reason: str
    kind: str = "error"
    node: dict | None = None

    @property
    def retryable(self) -> bool:
        return self.kind != "input"


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def node_info() -> dict:
    """Where this process runs: hostname, pid, and under Ray the node id and the resources given to the task."""
    info = {"hostname": socket.gethostname(), "pid": os.getpid(), "usable_cores": usable_cores()}
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ctx = ray.get_runtime_context()
        info["node_id"] = ctx.get_node_id()
        resources = ctx.get_assigned_resources()
        info["resources"] = {k: v for k, v in resources.items() if not k.startswith("node:")}
        info["cpus"] = resources.get("CPU")
    return info


def _failure(exc: BaseException, node: dict) -> CellFailure:
    from kbench.errors import InputError

    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, InputError):
        return CellFailure(first, "input", node)
    return CellFailure(f"{type(exc).__name__}: {first}", "error", node)


def _stamp(record, started: float, node: dict, placement: dict) -> dict:
    from kbench.runners.record import Record

    ended = time.time()
    record = Record(dict(record), record.summary if isinstance(record, Record) else "")
    options = dict(record.get("options") or {})
    options["sweep"] = {**placement, "node": node, "started": round(started, 6), "ended": round(ended, 6),
                        "elapsed_s": round(ended - started, 3)}
    record["options"] = options
    return record


def run_cell(spec, placement: dict | None = None):
    """Run one spec; its record (stamped with where and when), or a :class:`CellFailure`."""
    from kbench.runners import run

    started = time.time()
    node = node_info()
    if os.environ.get("KBENCH_TEST_DIE_IN_CELL"):  # the tests' way to crash a worker in the middle of a cell
        os._exit(3)
    if os.environ.get("KBENCH_TEST_HANG_IN_CELL"):  # ... and to hang one
        time.sleep(float(os.environ["KBENCH_TEST_HANG_IN_CELL"]))
    try:
        record = run(spec)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return _failure(exc, node)
    return _stamp(record, started, node, placement or {})


def eval_prepare(spec):
    """A sharded evaluation's first step: ground truth and crops (:class:`~kbench.runners.evaluate_model.ModelEvalJob`),
    put into the object store once for every part; or a :class:`CellFailure`."""
    from kbench.runners.evaluate_model import prepare_model_eval, warm_runtime

    try:
        job = prepare_model_eval(spec)
        # Export once here (into this node's artifact cache) rather than in every part at once: parts on this node
        # find it built, and an export that fails fails once, with its own message.
        warm_runtime(spec)
        return job
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return _failure(exc, node_info())


def eval_part(spec, job, part: int, parts: int):
    """The model on ``part`` of ``parts`` of the job's images (its keypoints, times and the node it ran on)."""
    from kbench.runners.evaluate_model import infer_model_eval

    if isinstance(job, CellFailure):
        return job
    started = time.time()
    node = node_info()
    try:
        out = infer_model_eval(spec, job, part, parts)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return _failure(exc, node)
    return out, {"part": part, "node": node, "started": round(started, 6), "ended": round(time.time(), 6)}


def eval_finish(spec, job, *parts, placement: dict | None = None):
    """Merge the parts and evaluate: the record of the whole evaluation, bit-identical to one process's."""
    from kbench.runners.evaluate_model import finish_model_eval

    failed = [p for p in (job, *parts) if isinstance(p, CellFailure)]
    if failed:
        return failed[0]
    started = min(meta["started"] for _, meta in parts)
    node = node_info()
    try:
        record = finish_model_eval(spec, job, [out for out, _ in parts])
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return _failure(exc, node)
    shards = [{"part": meta["part"], "node_id": meta["node"].get("node_id"), "hostname": meta["node"]["hostname"],
               "started": meta["started"], "ended": meta["ended"]} for _, meta in parts]
    return _stamp(record, started, node, {**(placement or {}), "shards": shards})
