"""Options of ``kbench results`` and ``kbench gate`` (standard library only: ``kbench --help`` builds every parser)."""

from __future__ import annotations

import argparse

from kbench.argtypes import percent

__all__ = ["add_parser"]

_RESULTS_EPILOG = """examples:
  kbench results
      every record under ./kbench-runs (where kbench writes them), one row each
  kbench results --kind latency --filter 'model=tinypose_*' backend=onnxruntime --columns model,machine,median_ms
  kbench results --filter 'm.AP>0.7' --format csv > good.csv
  kbench results add ci-artifacts/ other-machine/kbench-runs/
      copy records in (once each, whatever their path), one folder per machine

filters: COLUMN=VALUE (globs with * ? [], alternatives with commas, none = missing), COLUMN!=VALUE,
COLUMN>NUMBER (also >= < <=; created>=2026-11-01); metrics as m.AP or just AP.
"""

_GATE_EPILOG = """examples:
  kbench gate --baseline tests/fixtures/gate/baseline --current runs/
  kbench gate --baseline baseline/ --current runs/ --max-ap-drop 0.2 --max-latency-increase 10% \\
              --markdown gate.md --junit gate.xml
  kbench gate --baseline main-runs/ --current runs/ --allow-missing --allow-size-change

Accuracy tolerances are in points as the README prints them (0.2 = 0.002 of a COCO 0-1 value, 0.2 of an
MPII percentage). Latency fails only when the median rises by more than the percentage AND by more than
the measured spread (IQR, else std, else p90 - median; the larger of the two runs'). Exit codes: 0 no
regression, 1 a guarded number regressed or is missing, 2 usage error (no records, nothing in common).
"""


def _points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of points such as 0.2, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of points >= 0, got {text!r}")
    return value


def _add_store_option(parser, default) -> None:
    parser.add_argument("--store", metavar="DIR", default=default,
                        help="the store's directory (default: ./kbench-runs, where kbench commands write records)")


def add_parser(sub) -> None:
    """Register ``results`` and ``gate`` on the ``kbench`` sub-parsers."""
    res = sub.add_parser("results", help="query the run records of a store as a table (and add records to it)",
                         epilog=_RESULTS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="The results store: a directory of run records (./kbench-runs by default) with "
                                     "an SQLite index, kept up to date on every read. Without an action, print the "
                                     "records that match the filters, one row each; records from several machines "
                                     "keep their machine in the 'machine' column.")
    _add_store_option(res, "kbench-runs")
    res.add_argument("--filter", "-f", dest="filters", nargs="+", action="extend", default=[], metavar="EXPR",
                     help="keep records matching every EXPR: model=tinypose_*, backend=onnxruntime, m.AP>0.5")
    res.add_argument("--kind", choices=("eval", "latency", "profile"), help="only records of this kind")
    res.add_argument("--columns", metavar="LIST",
                     help="comma-separated columns to show (metrics with or without m.; default: the configuration "
                          "columns and metrics that the matching records have)")
    res.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="output format (default: %(default)s)")
    res.add_argument("--check", action="store_true",
                     help="list every record file the store cannot read (damaged, another schema) and exit 1 if any")
    actions = res.add_subparsers(dest="results_action", metavar="ACTION")
    add = actions.add_parser("add", help="copy record files or folders into the store (idempotent)",
                             description="Copy run records into the store, one folder per machine. A record the store "
                                         "already holds (same content, any path) is not copied again.")
    add.add_argument("paths", nargs="+", metavar="PATH", help="record files and/or folders of them")
    _add_store_option(add, argparse.SUPPRESS)
    reindex = actions.add_parser("reindex", help="rebuild the store's SQLite index from its files",
                                 description="Rebuild <store>/index.sqlite from the record files alone.")
    _add_store_option(reindex, argparse.SUPPRESS)
    res.set_defaults(handler="kbench.commands.results:run")

    gate = sub.add_parser("gate", help="fail when current records regress against baseline records (CI)",
                          epilog=_GATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Compare current run records with baseline records, metric by metric and "
                                      "configuration by configuration (model, runtime, device, precision, batch, "
                                      "threads, ...), print a Markdown summary fit for a pull-request comment, "
                                      "optionally write it and a JUnit XML file, and exit 1 when a guarded number "
                                      "regressed.")
    gate.add_argument("--baseline", nargs="+", required=True, metavar="RECORDS",
                      help="baseline record files and/or folders")
    gate.add_argument("--current", nargs="+", required=True, metavar="RECORDS",
                      help="current record files and/or folders")
    tol = gate.add_argument_group("tolerances")
    tol.add_argument("--max-ap-drop", type=_points, default=0.2, metavar="POINTS",
                     help="accuracy drop allowed, in points (AP x 100, PCKh %%) (default: %(default)s)")
    tol.add_argument("--max-latency-increase", type=percent, default=0.10, metavar="PCT",
                     help="median latency increase (and throughput drop) allowed, e.g. 10%% (default: 10%%)")
    tol.add_argument("--max-memory-increase", type=percent, default=0.20, metavar="PCT",
                     help="peak memory increase allowed (default: 20%%)")
    tol.add_argument("--no-noise-rule", dest="noise_aware", action="store_false",
                     help="let the percentage alone decide latency (by default an increase must also exceed the "
                          "measured spread)")
    tol.add_argument("--allow-size-change", action="store_true", help="params/FLOPs may change (reported, not failed)")
    tol.add_argument("--allow-missing", action="store_true",
                     help="baseline measurements absent from the current records are reported, not failed")
    out = gate.add_argument_group("output")
    out.add_argument("--markdown", metavar="FILE", help="also write the Markdown summary here")
    out.add_argument("--junit", metavar="FILE", help="write a JUnit XML file (one test case per compared metric)")
    out.add_argument("--quiet", "-q", action="store_true", help="print only the headline, not the full summary")
    gate.set_defaults(handler="kbench.commands.gate:run")
