"""Options of ``kbench latency`` (standard library only: ``kbench --help`` builds every parser).

The handler is :func:`kbench.commands.latency.run`. The list-valued options (``--batch 1,8``, ``--threads 1,4``,
``--device cpu,gpu``) are parsed here, so a malformed value is an argparse error (one line, exit code 2) before
anything is loaded.
"""

from __future__ import annotations

import argparse

from kbench.argtypes import device_list, int_list, precision_list, scope_list, seconds_value, warmup_text

__all__ = ["add_parser"]

_EPILOG = """examples:
  kbench latency --models tinypose_128x96 --backend onnxruntime --threads 1,4
      one model on ONNX Runtime, CPU, 1 and 4 threads: the table, and one record per measurement
  kbench latency --models all --device gpu --batch 1,8 --fp16 --record runs/latency/
      every zoo model on the GPU runtimes (Paddle Inference, Paddle-TensorRT, ONNX Runtime, TensorRT) in FP16
  kbench latency --models 'hrnet_w32_*' --scope both --seconds 10 --json
      model alone and the whole single-image pipeline (preprocess, model, postprocess), as JSON
  kbench latency --models tinypose_128x96 --backend paddle-inference,onnxruntime --threads 1 --runs 20 --profile
      and a per-operator time table from each runtime's profiler: where the time goes

Backends: paddle-inference, paddle-trt, onnxruntime, onnxruntime-trt, tensorrt, torch, paddle, lite (default: the
zoo KeypointBenchmark's columns, paddle-inference and onnxruntime on CPU, plus paddle-trt and tensorrt on GPU).
Cells show the median ms per run of a batch and the IQR as % of the median; published figures are printed
beside them with their hardware, never as figures of this machine. --record PATH names a file when the run makes
one measurement, and a directory that receives one record per measurement otherwise.
"""


def add_parser(sub) -> None:
    """Register ``kbench latency`` on the ``kbench`` sub-parsers."""
    from kbench.cli import _positive_int, add_pin_option, add_record_options

    p = sub.add_parser(
        "latency", help="latency of zoo models on each runtime (FP32/FP16, CPU threads, GPU), as the zoo's table",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure the latency of zoo models on each runtime of this machine: warm-up kept out, then\n"
                    "repeated runs to a count or a time budget; median, mean, p90, p99, min, standard deviation\n"
                    "and throughput, peak memory and achieved GFLOP/s. Prints a table in the layout of\n"
                    "PaddleDetection's KeypointBenchmark page, with the published figures labelled with their\n"
                    "hardware, and writes one run record of kind 'latency' per measurement.")
    what = p.add_argument_group("what to measure")
    what.add_argument("--models", metavar="NAMES|all", default="all",
                      help="comma-separated zoo models or globs, or 'all' (default: %(default)s)")
    what.add_argument("--backend", "--backends", dest="backend", action="append", metavar="B[,B...]",
                      help="runtime(s), repeatable or comma-separated (default: the table's columns for the device)")
    what.add_argument("--device", type=device_list, default=["cpu"], metavar="cpu|gpu|cpu,gpu",
                      help="where to run (default: cpu); with no GPU, gpu is refused with one line")
    prec = what.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_true",
                      help="FP16 engines (TensorRT, ONNX Runtime CUDA, Paddle-TRT); runtimes that cannot do FP16 on "
                           "the device are listed, not run in FP32")
    prec.add_argument("--precision", type=precision_list, metavar="fp32|fp16|fp32,fp16",
                      help="precisions to measure (default: fp32; --fp16 is --precision fp16)")
    what.add_argument("--batch", type=int_list, default=[1], metavar="N[,N...]",
                      help="batch sizes: crops (top-down) or images (bottom-up) per run (default: 1)")
    what.add_argument("--threads", type=int_list, default=[1, 4], metavar="T[,T...]",
                      help="CPU threads (oneDNN for Paddle, intra-op threads for ONNX Runtime; default: 1,4 as the "
                           "zoo's table); not used on the GPU")
    what.add_argument("--scope", type=scope_list, default=["model"], metavar="model|pipeline|both",
                      help="the model alone (input already where the runtime reads it), the single-image pipeline "
                           "(preprocess, model, postprocess, with the split), or both (default: model)")
    what.add_argument("--flip", action="store_true",
                      help="pipeline scope: also run the mirrored crops and merge, as evaluation with flip does")
    add_pin_option(what)
    what.add_argument("--weights", default="random", metavar="random|zoo|PATH|URL",
                      help="weights to load (default: random, seeded: latency does not depend on the values)")
    how = p.add_argument_group("how long")
    how.add_argument("--warmup", type=warmup_text, default="1s", metavar="N|Ss",
                     help="warm-up kept out of the figures: a number of runs (10) or seconds (2s); default 1s "
                          "(at least 2 runs)")
    length = how.add_mutually_exclusive_group()
    length.add_argument("--runs", type=_positive_int, metavar="N", help="measure exactly N runs")
    length.add_argument("--seconds", type=seconds_value, metavar="S",
                        help="measure for S seconds, at least 10 runs (default: 3)")
    how.add_argument("--no-yardstick", dest="yardstick", action="store_false",
                     help="skip the numpy matmul GFLOP/s yardstick of the CPU")
    how.add_argument("--profile", action="store_true",
                     help="also profile the model call with the runtime's own profiler (ONNX Runtime, Paddle "
                          "Inference, Paddle, torch, TensorRT) on separate runs after the timed ones (the timed "
                          "figures stay unprofiled): top operators by total time, printed and saved in the record")
    add_record_options(p)
    p.set_defaults(handler="kbench.commands.latency:run")
