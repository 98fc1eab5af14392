"""The leaderboard: a static, offline site of every measured model x runtime x precision x device.

* :mod:`kbench.leaderboard.build`: :func:`~kbench.leaderboard.build.build_site` writes the site from run records;
  :func:`~kbench.leaderboard.build.leaderboard_rows` is the table as data (also exported as ``data.json``).
* :mod:`kbench.leaderboard.serve`: :func:`~kbench.leaderboard.serve.serve` shows a built site on localhost.

Importing this package imports nothing heavy; jinja2 and matplotlib load when a site is built.
"""

from __future__ import annotations

__all__ = ["build_site", "leaderboard_rows", "serve"]


def __getattr__(name: str):
    # Lazy re-exports: `kbench leaderboard serve` must not pay for jinja2/matplotlib.
    if name in ("build_site", "leaderboard_rows"):
        from kbench.leaderboard import build

        return getattr(build, name)
    if name == "serve":
        from kbench.leaderboard.serve import serve

        return serve
    raise AttributeError(f"module 'kbench.leaderboard' has no attribute {name!r}")
