"""Options of the report sub-commands (standard library only: ``kbench --help`` builds every parser).

``kbench report`` renders the HTML report; ``kbench leaderboard build|serve`` makes and shows the static site.
Both read run records from the results store (``--store``, default ``./kbench-runs``) or from the files and
folders given with ``--records``.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "add_source_options", "DEFAULT_STORE"]

#: Where kbench writes run records by default, hence where reports look for them.
DEFAULT_STORE = "kbench-runs"

_REPORT_EPILOG = """examples:
  kbench report
      every record under ./kbench-runs -> kbench-report/report.html
  kbench report --records ci-artifacts/ runs/hrnet-eval.json --out public/ --tolerance 0.3
  kbench report --store /data/kbench-store --latency-tolerance 5% --filter 'model=tinypose_*'
"""

_LEADERBOARD_EPILOG = """examples:
  kbench leaderboard build --out site/
  kbench leaderboard build --records ci-artifacts/ --out public/leaderboard
  kbench leaderboard serve --dir site/ --port 8000
"""


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535 (0: any free port), got {value}")
    return value


def add_source_options(parser: argparse.ArgumentParser) -> None:
    """``--store`` / ``--records``: where the run records come from; ``--filter``: which of them to use."""
    group = parser.add_argument_group("run records")
    source = group.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="DIR", default=DEFAULT_STORE,
                        help="results store: a folder of run records, searched recursively (default: ./%(default)s)")
    source.add_argument("--records", nargs="+", metavar="PATH",
                        help="record files and/or folders to read instead of the store")
    group.add_argument("--filter", "-f", dest="filters", nargs="+", action="extend", default=[], metavar="EXPR",
                       help="keep only the records matching every filter, as `kbench results` reads them: "
                            "model=tinypose_*, backend!=torch, m.AP>0.5, created>=2026-11-01")


def add_parser(sub) -> None:
    """Register ``report`` and ``leaderboard`` on the ``kbench`` sub-parsers."""
    from kbench.argtypes import percent  # the gate's reading of "10%" (standard library only)

    rep = sub.add_parser(
        "report", help="an HTML report: the zoo README's tables with measured beside published numbers",
        epilog=_REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Render one self-contained HTML page from run records: the zoo README's recommendation, "
                    "COCO, MPII, PP-TinyPose and KeypointBenchmark tables with each measured number beside the "
                    "published one and the difference (coloured beyond the tolerance), figures (accuracy against "
                    "latency with the Pareto front, latency distributions, per-keypoint AP/PCKh), and every "
                    "number linked to its run record (machine, versions, command).")
    add_source_options(rep)
    rep.add_argument("--out", metavar="DIR", default="kbench-report",
                     help="output folder; the page is DIR/report.html (default: %(default)s)")
    rep.add_argument("--tolerance", type=_non_negative, default=0.5, metavar="POINTS",
                     help="colour accuracy (AP, PCKh) differing from the published figure by more than this many "
                          "points (default: %(default)s)")
    rep.add_argument("--latency-tolerance", type=percent, default=0.10, metavar="PERCENT",
                     help="colour latency differing from the published time by more than this percentage, e.g. "
                          "10%% (default: 10%%)")
    rep.add_argument("--title", default="kbench report", help="page title (default: %(default)s)")
    rep.set_defaults(handler="kbench.commands.report:run")

    board = sub.add_parser(
        "leaderboard", help="a static leaderboard site of every model x runtime x precision x device",
        epilog=_LEADERBOARD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build a static site from run records (a sortable, filterable table of every measured "
                    "configuration with AP, PCKh, latency, params and GFLOPs, one page per model with its plots, "
                    "one per record, and data.json), or serve a built one on localhost. The site works offline, "
                    "from file:// or any plain file server.")
    board_sub = board.add_subparsers(dest="leaderboard_command", metavar="LEADERBOARD_COMMAND", required=True)
    build = board_sub.add_parser("build", help="write the site from run records", epilog=_LEADERBOARD_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Write the leaderboard site into --out (replacing an earlier "
                                             "kbench site there; any other non-empty folder is refused).")
    add_source_options(build)
    build.add_argument("--out", metavar="DIR", default="site", help="the site's folder (default: %(default)s)")
    build.add_argument("--title", default="kbench leaderboard", help="page title (default: %(default)s)")
    serve = board_sub.add_parser("serve", help="serve a built site on localhost (Ctrl-C stops)",
                                 epilog=_LEADERBOARD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Serve a built leaderboard site with Python's static file server, "
                                             "bound to 127.0.0.1; prints the URL. Ctrl-C stops it.")
    serve.add_argument("--dir", default="site", metavar="DIR", help="the site's folder (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port; 0 picks a free one (default: %(default)s)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="interface to bind (default: %(default)s; 0.0.0.0 exposes the site to the network)")
    board.set_defaults(handler="kbench.commands.leaderboard:run")
