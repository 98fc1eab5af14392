"""Where reports and the leaderboard read their records from: record files and folders, or a results store."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from kbench.errors import InputError

__all__ = ["load_sources"]


def load_sources(records_paths=None, store="kbench-runs", filters=None) -> tuple[list[dict], list[str]]:
    """The run records of ``records_paths`` (files/folders) or else of the results store ``store``, after ``filters``
    (``--records``, ``--store`` and ``--filter`` of ``kbench report`` and ``kbench leaderboard build``).

    A missing store is an error (nothing has been measured there yet). Skipped files are reported as one
    ``kbench: note:`` line on stderr rather than as a Python warning.

    Returns:
        ``(records, sources)``: the parsed records (each with ``_path``) and the paths they were read from.
    """
    from kbench.results.frame import RecordsSkippedWarning, load_records

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RecordsSkippedWarning)
        if records_paths:
            sources = [str(p) for p in records_paths]
            records = load_records(sources)
        else:
            from kbench.results.store import ResultStore

            store = Path(store)
            if not store.is_dir():
                raise InputError(f"{store}: no results store here (no such folder); measure something first "
                                 f"(kbench eval/latency/profile write records there) or name records with --records")
            sources = [str(store)]
            records = ResultStore(store).records()
    for w in caught:
        if issubclass(w.category, RecordsSkippedWarning):
            print(f"kbench: note: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if filters and records:
        from kbench.results.frame import records_frame
        from kbench.results.query import apply_filters

        keep = apply_filters(records_frame(records), filters).index  # the frame's row i is records[i]
        records = [records[i] for i in keep]
    if not records:
        what = " match the filters" if filters else ""
        print(f"kbench: note: no run records{what} in {', '.join(sources)}: the tables show published figures "
              f"only", file=sys.stderr)
    return records, sources
