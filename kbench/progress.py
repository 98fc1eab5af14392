"""One progress hook for every long job: a terminal bar and a sweep's aggregate progress use the same events.

A runner takes ``progress``: None (silent), or a callable receiving :class:`ProgressEvent` values. The
commands pass :class:`TerminalProgress`, which draws one tqdm bar per task (rate and ETA) on a terminal; a
sweep passes its own callable and adds the events up. Loops inside the library report through
:func:`tracker`, which turns ``update(n)`` calls into events.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressEvent", "ProgressCallback", "TerminalProgress", "tracker"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where one task of a run stands.

    Attributes:
        task: what is being done, e.g. ``tinypose_128x96 (onnxruntime)`` or ``conformance``.
        done: units done so far.
        total: units in all (None: unknown).
        unit: ``img``, ``cell``, ``measurement``, ``model``, ...
        note: a short status text (the current cell, the harness phase), may be empty.
        finished: the task's last event.
    """

    task: str
    done: int
    total: int | None
    unit: str = "it"
    note: str = ""
    finished: bool = False


ProgressCallback = Callable[[ProgressEvent], None]


class _Tracker:
    """Counts units of one task and sends an event for each change."""

    def __init__(self, callback: ProgressCallback | None, task: str, total: int | None, unit: str):
        self.callback, self.task, self.total, self.unit = callback, task, total, unit
        self.done, self.note = 0, ""

    def _send(self, finished: bool = False) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(self.task, self.done, self.total, self.unit, self.note, finished))

    def update(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        if note is not None:
            self.note = note
        self._send()

    def status(self, note: str) -> None:
        self.note = note
        self._send()

    def close(self) -> None:
        self._send(finished=True)

    def __enter__(self):
        self._send()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tracker(progress: ProgressCallback | bool | None, task: str, total: int | None, unit: str = "it") -> _Tracker:
    """A counter for one task that reports to ``progress``.

    ``progress`` is a callback, None/False (silent) or True (a terminal bar, for library callers that want one).
    """
    if progress is True:
        progress = TerminalProgress()
    return _Tracker(progress or None, task, total, unit)


class TerminalProgress:
    """Draws one tqdm bar per task on stderr when it is a terminal (or when ``enabled`` says so)."""

    def __init__(self, enabled: bool | None = None, leave: bool = False, min_total: int = 1):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.leave, self.min_total = leave, min_total
        self._bars: dict = {}

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled or (event.total is not None and event.total < self.min_total):
            return
        bar = self._bars.get(event.task)
        if bar is None:
            if event.finished:
                return
            from tqdm import tqdm

            bar = tqdm(total=event.total, desc=event.task, unit=event.unit, dynamic_ncols=True, leave=self.leave)
            self._bars[event.task] = bar
        if event.done != bar.n:
            bar.update(event.done - bar.n)
        if event.note:
            bar.set_postfix_str(event.note, refresh=False)
        if event.finished:
            bar.close()
            del self._bars[event.task]

    def close(self) -> None:
        """Close every open bar (after Ctrl-C, say)."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
