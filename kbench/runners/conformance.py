"""The ``conformance`` runner: the matrix of models x runtimes against Paddle dygraph FP32, as one record.

The record's metrics count the cells by status and give each compared cell's relative difference
(``max_rel.<model>.<runtime>``); ``options["cells"]`` holds every cell in full, so the matrix can be printed
again from the record alone (:func:`cells_of`).
"""

from __future__ import annotations

from kbench.runners.record import Record, spec_record

__all__ = ["run_conformance", "cells_of"]


def run_conformance(spec, progress=None) -> Record:
    """Run a :class:`~kbench.specs.ConformanceSpec`."""
    from kbench.cards import select_cards
    from kbench.conformance import TOLERANCE, conformance_matrix, format_matrix, select_runtimes

    cards = select_cards(spec.models)
    runtimes = select_runtimes(spec.backends, spec.device)
    cells = conformance_matrix(cards, runtimes, precision=spec.precision, batch=spec.batch, progress=progress,
                               threads=spec.threads, device=spec.device)
    metrics = {f"cells_{status}": sum(c.status == status for c in cells)
               for status in ("pass", "fail", "error", "unavailable")}
    for c in cells:
        if c.max_rel is not None:
            metrics[f"max_rel.{c.model}.{c.runtime}"] = c.max_rel
    options = {"models": [c.name for c in cards], "runtimes": runtimes, "device": spec.device,
               "precision": spec.precision,
               "batch": spec.batch, "threads": spec.threads, "tolerance": TOLERANCE[spec.precision],
               "reference": "paddle dygraph fp32, seeded random weights and input",
               "cells": [c.to_dict() for c in cells]}
    return spec_record(spec, metrics, options=options, summary=format_matrix(cells))


def cells_of(record: dict) -> list:
    """The :class:`kbench.conformance.Cell` values of a conformance record."""
    from kbench.conformance import Cell

    return [Cell(**c) for c in record["options"]["cells"]]
