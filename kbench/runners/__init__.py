"""Runners: one per kind of measurement, each taking its spec and returning a :class:`Record` without printing.

:func:`run` dispatches on the spec's kind to the runner registered by import string (imported on first use,
as the runtime adapters are), so importing this package loads no framework. Writing the record is a separate,
explicit step (:func:`kbench.bench.records.write_record`, or ``ResultStore.add``), so that a remote worker can
return records instead of writing files.

Example:
    >>> from kbench import EvalSpec, run
    >>> record = run(EvalSpec(sample=20))
    >>> record["kind"], round(record["metrics"]["AP"], 3) >= 0
    ('eval', True)
"""

from __future__ import annotations

import importlib

from kbench.errors import InputError
from kbench.runners.record import Record

__all__ = ["run", "Record", "RUNNERS"]

#: Spec kind -> "module:function" of its runner; a new kind is added here and in kbench.specs.
RUNNERS = {
    "eval": "kbench.runners.evaluate:run_eval",
    "latency": "kbench.runners.latency:run_latency",
    "profile": "kbench.runners.profile:run_profile",
    "conformance": "kbench.runners.conformance:run_conformance",
    "export": "kbench.runners.export:run_export",
    "benchmark": "kbench.runners.benchmark:run_benchmark",
}


def run(spec, progress=None) -> Record:
    """Run a measurement and return its record (not written anywhere).

    Args:
        spec: an :class:`~kbench.specs.EvalSpec`, :class:`~kbench.specs.LatencySpec`,
            :class:`~kbench.specs.ProfileSpec`, :class:`~kbench.specs.ConformanceSpec` or
            :class:`~kbench.specs.ExportSpec`.
        progress: None (silent), or a callable receiving :class:`kbench.progress.ProgressEvent` values
            (:class:`kbench.progress.TerminalProgress` draws bars).

    Returns:
        The run record (a dict; ``record.summary`` holds the text the command prints).

    Raises:
        InputError: bad input, or something the runtime cannot do here (one line).
    """
    target = RUNNERS.get(getattr(spec, "kind", None))
    if target is None:
        raise InputError(f"not a kbench spec: {type(spec).__name__} (kinds: {', '.join(RUNNERS)})")
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(spec, progress=progress)
