"""Options of the latency sub-commands (standard library only: ``kbench --help`` builds every parser)."""

from __future__ import annotations


def add_parser(sub) -> None:
    """Register this module's sub-commands on the ``kbench`` sub-parsers."""
