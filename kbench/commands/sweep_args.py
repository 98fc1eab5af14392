"""Options of ``kbench sweep`` (standard library only: ``kbench --help`` builds every parser)."""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]

_EPILOG = """examples:
  kbench sweep examples/sweep.yml
      the matrix a sweep file describes, on this machine (latency cells alone, the rest in parallel)
  kbench sweep --kind latency,profile --models 'tinypose_*' --backend onnxruntime,paddle-inference --batch 1,8 \\
               --threads 1,4 --seconds 2
      the same axes as flags (one block per kind: each kind takes the axes its spec has)
  kbench sweep examples/sweep.yml --ray                  a local Ray instance
  kbench sweep examples/sweep.yml --ray HEAD:6379 --every-node
      on a cluster: every latency cell once on every node with a bench slot; one leaderboard row per machine
  kbench sweep examples/sweep.yml --resume               skip the cells already in the store, rerun failed ones

Nodes that take latency cells advertise one bench slot:
  ray start --head --resources '{"kbench_bench_slot": 1}' --labels kbench-node=head
  ray start --address HEAD:6379 --resources '{"kbench_bench_slot": 1}' --labels kbench-node=NAME
Exit codes: 0 every cell done (or skipped), 1 a cell failed after its retries, 2 bad input, 130 Ctrl-C.
"""


def add_parser(sub) -> None:
    """Register ``kbench sweep``."""
    from kbench.argtypes import device_list, int_list, precision_list, seconds_value, warmup_text
    from kbench.cli import _positive_int

    p = sub.add_parser(
        "sweep", help="a whole matrix of measurements (latency, eval, profile, conformance) here or on a Ray cluster",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Expand a matrix of measurements into cells (one spec each), drop the ones that cannot run here "
                    "with the reason, print the plan, run it on this machine or on a Ray cluster, and write each "
                    "cell's record (the one its own command writes) into the results store.")
    p.add_argument("file", nargs="?", metavar="SWEEP.yml", help="a sweep file (schema kbench.sweep/1; see "
                                                                "examples/sweep.yml); or give the axes as flags")
    axes = p.add_argument_group("axes (instead of a sweep file)")
    axes.add_argument("--kind", metavar="K[,K...]", help="latency, eval, profile, conformance, export")
    axes.add_argument("--models", metavar="NAMES|all", help="zoo models or globs, comma-separated (default: all)")
    axes.add_argument("--backend", "--backends", dest="backend", metavar="B[,B...]", help="runtimes")
    axes.add_argument("--device", type=device_list, metavar="cpu|gpu|cpu,gpu", help="devices (default: cpu)")
    axes.add_argument("--precision", type=precision_list, metavar="fp32|fp16", help="precisions (default: fp32)")
    axes.add_argument("--batch", type=int_list, metavar="N[,N...]", help="latency/conformance batch sizes")
    axes.add_argument("--threads", type=int_list, metavar="T[,T...]", help="latency/conformance CPU threads")
    axes.add_argument("--weights", metavar="random|zoo|PATH", help="weights (default: random)")
    axes.add_argument("--sample", type=_positive_int, metavar="N", help="eval: the generated sample of N images")
    axes.add_argument("--data-root", metavar="DIR", help="eval: a COCO or MPII folder")
    axes.add_argument("--seconds", type=seconds_value, metavar="S", help="latency: seconds measured per cell")
    axes.add_argument("--runs", type=_positive_int, metavar="N", help="latency: runs measured per cell")
    axes.add_argument("--warmup", type=warmup_text, metavar="N|Ss", help="latency: warm-up runs or seconds")
    axes.add_argument("--shards", type=_positive_int, metavar="N",
                      help="eval with a model: split the images over N tasks, merged into one bit-identical result")
    axes.add_argument("--every-node", action="store_true",
                      help="latency: each cell once on every node with a bench slot (a sweep file's nodes: all)")
    run = p.add_argument_group("running")
    run.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                     help="run on Ray: a local instance, or the cluster at ADDRESS (also $RAY_ADDRESS)")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="without Ray: worker processes for the cells that share the machine (default: the cores)")
    run.add_argument("--cpus-per-cell", type=float, default=1.0, metavar="F",
                     help="with Ray: CPUs an evaluation/profile/conformance task asks for (default: 1)")
    run.add_argument("--retries", type=int, metavar="N", help="reruns of a failed cell (default: the file's, else 1)")
    run.add_argument("--cell-timeout", type=float, metavar="S",
                     help="cancel a cell still running after S seconds (a hung runtime or node), then retry it")
    run.add_argument("--resume", action="store_true",
                     help="skip cells whose record the store holds (same spec hash and kbench version); rerun failed")
    run.add_argument("--store", metavar="DIR", default="kbench-runs", help="the results store (default: %(default)s)")
    run.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    run.add_argument("--json", action="store_true", help="print the outcomes as JSON instead of the table")
    p.set_defaults(handler="kbench.commands.sweep:run")
