"""Run records as a queryable table, a results store, and the CI regression gate.

* :mod:`kbench.results.frame`: read record files (:func:`load_records`) and turn them into one pandas
  DataFrame row each (:func:`records_frame`); the column contract every report builds on.
* :mod:`kbench.results.query`: ``model=tinypose_*``, ``m.AP>0.5`` filters over that frame.
* :mod:`kbench.results.store`: :class:`ResultStore`, a directory of records with an SQLite index.
* :mod:`kbench.results.gate`: pair baseline and current records and decide what regressed.

Nothing here is imported by ``kbench --help``; pandas is imported inside the functions that need it.
"""

from __future__ import annotations

__all__ = ["load_records", "records_frame", "ResultStore", "compare", "Tolerances"]


def __getattr__(name: str):
    # Lazy re-exports: importing the package must stay cheap (the CLI imports sub-modules by name).
    if name in ("load_records", "records_frame"):
        from kbench.results import frame

        return getattr(frame, name)
    if name == "ResultStore":
        from kbench.results.store import ResultStore

        return ResultStore
    if name in ("compare", "Tolerances"):
        from kbench.results import gate

        return getattr(gate, name)
    raise AttributeError(f"module 'kbench.results' has no attribute {name!r}")
