"""The ``kbench`` command line.

This module imports only the standard library: ``kbench --help`` must answer at once and must not
load numpy's heavier parts, let alone a deep-learning framework. Each sub-command's handler lives in
:mod:`kbench.commands` and is imported when that sub-command runs.

Errors a user can cause end as one line on stderr and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "build_parser"]

_EVAL_EPILOG = """examples:
  kbench eval --model tinypose_128x96 --sample --weights random
      the whole pipeline on a generated sample of drawn figures (synthetic data, random weights)
  kbench eval --model hrnet_w32_384x288 --bbox detector --data-root dataset/coco
      the README's detector-box AP: COCO val2017 images, the zoo's checkpoint and bbox.json (downloaded)
  kbench eval --model hrnet_w32_256x256_mpii --data-root dataset/mpii --backend onnxruntime
      MPII PCKh (annotations/mpii_val.json, annotations/mpii_gt_val.mat, images/)
  kbench eval --model hrnet_w32_256x192 --download
      COCO val2017 fetched into $KBENCH_DATA first (`kbench data fetch coco-val2017`), then used by default
  kbench eval --sample
      evaluate a built-in synthetic COCO-like predictions sample (no model, no files)
  kbench eval --predictions keypoints_results.json --ann person_keypoints_val2017.json
      COCO OKS AP of a results file, identical to pycocotools
  kbench eval --predictions preds.json --ann mpii_gt_val.mat
      MPII PCKh (predictions in ground-truth order, 0-based pixels)
  kbench eval -p res.json -a crowdpose_test.json --flavour crowdpose --no-use-area
"""

_ZOO_EPILOG = """examples:
  kbench zoo list
      every model card: architecture, input size, dataset, published AP/PCKh, params, GFLOPs
  kbench zoo list lite
      only the models whose names contain "lite" (a plain word filters; wildcards are a glob)
  kbench zoo list 'hrnet_w32_*' --json
      the matching cards in full, as JSON
  kbench zoo show hrnet_w32_256x192
      every field of one card: config hyper-parameters, pre/post-processing, published figures, downloads
"""


_PROFILE_EPILOG = """examples:
  kbench profile --model hrnet_w32_256x192
  kbench profile --model 'lite_hrnet_*' --record runs/
  kbench profile --model all --json --no-record
"""


_EXPORT_EPILOG = """examples:
  kbench export --model tinypose_128x96 --to onnx --weights random --batch 1
  kbench export --model hrnet_w32_256x192 --to paddle-inference --out exported/hrnet
  kbench export --model tinypose_128x96 --to lite --target arm --fp16
"""

_CONFORMANCE_EPILOG = """examples:
  kbench conformance --models tinypose_128x96
  kbench conformance --models 'hrnet_*' --backends paddle-inference,onnxruntime
  kbench conformance --json > matrix.json
  kbench conformance --device gpu --fp16
      every GPU route in FP16 against Paddle dygraph FP32 (bound 2e-2)
"""


_BENCHMARK_EPILOG = """examples:
  kbench benchmark --model tinypose_128x96
      every CPU runtime here: size, difference from Paddle, latency and accuracy on the generated sample
  kbench benchmark --model hrnet_w32_256x192 --weights zoo --data-root dataset/coco --record runs/bench
  kbench benchmark --model tinypose_128x96 --device gpu
"""


# Modules with an ``add_parser(subparsers)`` function; each imports only the standard library (and this module).
_PARSER_MODULES = (
    "kbench.commands.latency_args",
    "kbench.commands.store_args",
    "kbench.commands.report_args",
    "kbench.commands.sweep_args",
    "kbench.commands.data_args",
    "kbench.commands.card_args",
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_pin_option(parser) -> None:
    """``--sha256``: pin the ``--weights`` checkpoint (a URL, a path, or the card's) to a hash."""
    parser.add_argument("--sha256", metavar="HEX",
                        help="pin the --weights checkpoint to this sha256 (also PATH|URL#sha256=HEX); without a pin, "
                             "a download's hash is recorded on first download and checked after that")


def _apply_pins(args) -> None:
    """Fold ``--sha256``/``--det-sha256`` into the ``#sha256=`` suffix that every download argument accepts."""
    from kbench.errors import InputError

    sha, det_sha = getattr(args, "sha256", None), getattr(args, "det_sha256", None)
    if sha is None and det_sha is None:
        return
    from kbench.weights.download import pin

    if sha is not None:
        if getattr(args, "weights", None) == "random":
            raise InputError("--sha256 pins a checkpoint; --weights random has none")
        args.weights = pin(args.weights, sha)
    if det_sha is not None:
        if not getattr(args, "det_file", None):
            raise InputError("--det-sha256 pins --det-file: give --det-file FILE|URL")
        args.det_file = pin(args.det_file, det_sha)


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """``--record`` / ``--no-record``, shared by every command that writes a run record."""
    group = parser.add_argument_group("run record")
    group.add_argument("--record", metavar="PATH", help="write the run record here (default: a new file under "
                                                         "./kbench-runs/)")
    group.add_argument("--no-record", action="store_true", help="do not write a run record")
    group.add_argument("--json", action="store_true", help="print the metrics as JSON instead of the table")


def add_coco_eval_options(parser: argparse.ArgumentParser) -> None:
    """Options of the COCO keypoint evaluator, shared by every command that evaluates COCO."""
    group = parser.add_argument_group("COCO keypoint evaluation")
    group.add_argument("--flavour", "--flavor", choices=("pycocotools", "xtcocotools", "crowdpose"),
                       default="pycocotools", help="reference semantics to reproduce (default: %(default)s)")
    group.add_argument("--sigmas", metavar="LIST|FILE",
                       help="per-keypoint OKS sigmas: comma-separated, or a JSON/text file (default: COCO's 17)")
    group.add_argument("--no-use-area", dest="use_area", action="store_false",
                       help="ground-truth area = 0.53 x box area (xtcocotools' use_area=False)")
    group.add_argument("--kpt-score-thr", type=_float, metavar="T",
                       help="drop predictions with no keypoint score above T (xtcocotools: 0)")
    group.add_argument("--max-dets", type=_positive_int, default=20, metavar="N",
                       help="predictions kept per image (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    from kbench import __version__

    parser = argparse.ArgumentParser(
        prog="kbench",
        description="Benchmark and evaluate human keypoint models: accuracy (COCO OKS AP, MPII PCKh), latency "
                    "per runtime, size (params, FLOPs), regressions (a CI gate), reports and a leaderboard.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ev = sub.add_parser("eval", help="run a zoo model over a data set, or evaluate predictions (COCO AP, MPII PCKh)",
                        epilog=_EVAL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Run a zoo model over COCO or MPII as PaddleDetection evaluates it (--model), or "
                                    "evaluate a keypoint results file against ground truth; write a run record.")
    src = ev.add_argument_group("inputs")
    src.add_argument("-p", "--predictions", metavar="FILE",
                     help="results file: COCO keypoint results JSON, or MPII predictions (.json/.npy/.mat)")
    src.add_argument("-a", "--ann", metavar="FILE",
                     help="ground truth: COCO person_keypoints_*.json, or MPII mpii_gt_val.mat / JSON with headbox")
    src.add_argument("--metric", choices=("auto", "coco", "mpii"), default="auto",
                     help="which evaluator (default: from the annotation file)")
    src.add_argument("--sample", nargs="?", const=0, type=_positive_int, metavar="IMAGES",
                     help="a built-in synthetic sample of this many images: predictions (default 500), or with "
                          "--model generated images of drawn figures (default 24)")
    model = ev.add_argument_group("running a zoo model (kbench eval --model NAME)")
    model.add_argument("--model", metavar="NAME|CARD.yml",
                       help="a zoo model (see `kbench zoo list`) or a card file: run it on the data set")
    model.add_argument("--bbox", choices=("gt", "detector"),
                       help="top-down person boxes: ground truth, or a detector's (default: the card's setting)")
    model.add_argument("--det-file", metavar="FILE|URL",
                       help="detector results (COCO detection JSON) for --bbox detector (default: the zoo README's "
                            "val2017 person detections, human AP 56.4, downloaded and cached)")
    model.add_argument("--data-root", metavar="DIR",
                       help="data set folder: COCO (annotations/person_keypoints_val2017.json, val2017/) or MPII "
                            "(annotations/mpii_val.json, annotations/mpii_gt_val.mat, images/); default: the one "
                            "`kbench data fetch` installed under $KBENCH_DATA")
    model.add_argument("--download", action="store_true",
                       help="without --data-root: fetch the model's data set first when it is not there yet "
                            "(`kbench data fetch`)")
    model.add_argument("--image-dir", metavar="DIR", help="image folder (default: from --data-root)")
    model.add_argument("--mpii-gt", metavar="FILE",
                       help="MPII ground truth .mat (default: mpii_gt_val.mat beside --ann)")
    model.add_argument("--backend", default="onnxruntime", metavar="RUNTIME",
                       help="runtime: paddle, paddle-inference, onnxruntime, tensorrt, lite, torch (default: "
                            "%(default)s)")
    model.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="device (default: %(default)s)")
    model.add_argument("--fp16", action="store_true", help="FP16 inference (GPU runtimes)")
    model.add_argument("--flip", dest="flip", action="store_true", default=None,
                       help="test-time flip on (default: the card's setting)")
    model.add_argument("--no-flip", dest="flip", action="store_false", help="test-time flip off")
    model.add_argument("--batch", type=_positive_int, default=32, help="crops per runtime call (default: %(default)s)")
    model.add_argument("--threads", type=_positive_int, help="CPU threads of the runtime (default: its own)")
    model.add_argument("--workers", type=int, metavar="N",
                       help="image decoding/cropping worker processes (default: CPUs - 1; 0: none)")
    model.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate the first N images only")
    model.add_argument("--weights", default="zoo", metavar="zoo|PATH|URL|random",
                       help="the card's released checkpoint (default), a .pdparams path or URL, or random (seeded)")
    add_pin_option(model)
    model.add_argument("--det-sha256", metavar="HEX",
                       help="pin the --det-file download (or file) to this sha256 (also FILE|URL#sha256=HEX)")
    model.add_argument("--results", metavar="PATH",
                       help="write the keypoint results here (COCO results JSON; default: beside the record)")
    model.add_argument("--no-progress", action="store_true", help="no progress bar")
    from kbench.commands.card_args import add_config_options

    add_config_options(ev)
    add_coco_eval_options(ev)
    add_record_options(ev)
    ev.set_defaults(handler="kbench.commands.evaluate:run", default_weights="zoo")

    zoo = sub.add_parser("zoo", help="list the keypoint model zoo's cards, or show one", epilog=_ZOO_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="The model cards kbench ships: PaddleDetection's keypoint models with their "
                                     "config settings, published accuracy and size, and download URLs.")
    zoo_sub = zoo.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)
    zoo_list = zoo_sub.add_parser("list", help="a table of the models (all, or those matching PATTERN)",
                                  description="A table of the model cards: name, architecture, top-down/bottom-up, "
                                              "input size, dataset, published AP/PCKh, params (M), GFLOPs.")
    zoo_list.add_argument("pattern", nargs="?", default="*", metavar="PATTERN",
                          help="a glob over model names (e.g. 'lite_hrnet_*'); a plain word matches names "
                               "containing it (default: all)")
    zoo_list.add_argument("--json", action="store_true", help="print the matching cards in full, as JSON")
    zoo_show = zoo_sub.add_parser("show", help="every field of one model card",
                                  description="Every field of one model card, as key: value lines (or JSON).")
    zoo_show.add_argument("name", metavar="NAME", help="the model's name, e.g. hrnet_w32_256x192")
    zoo_show.add_argument("--json", action="store_true", help="print the card as JSON")
    zoo.set_defaults(handler="kbench.commands.zoo:run")

    prof = sub.add_parser("profile", help="parameters and FLOPs of zoo models (the README's convention)",
                          epilog=_PROFILE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Count parameters and FLOPs of a zoo model's Paddle network for its input size, "
                                      "as paddle.flops counts them (the zoo README's convention), beside the "
                                      "published figures, and write a run record of kind 'profile'.")
    prof.add_argument("--model", metavar="NAME|PATTERN|all|CARD.yml",
                      help="a zoo model (see `kbench zoo list`), a glob over names, 'all', or a card file")
    prof.add_argument("--input", metavar="WxH", help="input size instead of the model's own, e.g. 288x384")
    add_pin_option(prof)
    prof.add_argument("--weights", default="random", metavar="PATH|URL|random|zoo",
                      help="weights to load and check against the network (counts do not depend on them): a "
                           ".pdparams path or URL, 'zoo' for the card's released checkpoint, or 'random' "
                           "(default, seeded)")
    add_config_options(prof)
    add_record_options(prof)
    prof.set_defaults(handler="kbench.commands.profile:run", default_weights="random")

    bench = sub.add_parser("benchmark", help="one model on every runtime here: one table, a row per runtime",
                           epilog=_BENCHMARK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Export the model to every runtime available here and print one table, a "
                                       "row per runtime x precision: status (ok / export failed / run failed / "
                                       "unavailable, with the reason), artifact size, the largest difference "
                                       "against Paddle dygraph FP32, heatmap argmax agreement, latency median and "
                                       "p90 at batch 1 with the thread count, and accuracy on --data-root (or the "
                                       "generated sample); then the model's params and FLOPs against the README. "
                                       "One record per row with --record DIR.")
    bench.add_argument("--model", required=True, metavar="NAME", help="a zoo model (see `kbench zoo list`)")
    bench.add_argument("--backends", metavar="RUNTIMES",
                       help="comma-separated runtimes (default: every runtime of the device)")
    bench.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="default: %(default)s")
    bench.add_argument("--precisions", metavar="fp32[,fp16]", help="default: fp32 on cpu, fp32,fp16 on gpu")
    bench.add_argument("--threads", type=_positive_int, default=1, help="CPU threads (default: %(default)s)")
    bench.add_argument("--weights", default="random", metavar="random|zoo|PATH|URL",
                       help="default: %(default)s (seeded random weights: no download, no meaningful accuracy)")
    bench.add_argument("--data-root", metavar="DIR", help="accuracy on this data set (default: the generated sample)")
    bench.add_argument("--sample", type=_positive_int, default=24, metavar="IMAGES",
                       help="generated images for the accuracy column without --data-root (default: %(default)s)")
    bench.add_argument("--seconds", type=float, default=2.0, metavar="S",
                       help="latency: measure each row for this long (default: %(default)s)")
    bench.add_argument("--json", action="store_true", help="print the rows as JSON")
    bench.add_argument("--record", metavar="DIR", help="write one run record per row into DIR")
    bench.set_defaults(handler="kbench.commands.benchmark:run")

    conf = sub.add_parser("conformance", help="every runtime against Paddle dygraph FP32, as a matrix",
                          epilog=_CONFORMANCE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Run the same seeded random input, on the same seeded random weights, through "
                                      "every runtime available here for every zoo model, and print the maximum "
                                      "absolute and relative output difference against Paddle dygraph FP32 and "
                                      "whether the heatmap argmax keypoints agree. Exit 1 if a cell is outside "
                                      "tolerance (FP32 1e-4 relative, FP16 2e-2).")
    conf.add_argument("--models", metavar="NAMES", help="comma-separated names or globs (default: all)")
    conf.add_argument("--backends", metavar="RUNTIMES",
                      help="comma-separated runtimes (default on cpu: paddle-inference,onnxruntime,lite,torch)")
    conf.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                      help="where the runtimes run (default: %(default)s; gpu: paddle-inference, paddle-trt, "
                           "onnxruntime, onnxruntime-trt, tensorrt, torch on CUDA); the reference is always Paddle "
                           "dygraph FP32 on the CPU")
    conf.add_argument("--fp16", action="store_true", help="run the runtimes in FP16 (with --device gpu)")
    conf.add_argument("--batch", type=_positive_int, default=1, help="batch size (default: %(default)s)")
    conf.add_argument("--threads", type=_positive_int, help="CPU threads for runtimes that take a count")
    conf.add_argument("--json", action="store_true", help="print the cells as JSON")
    conf.add_argument("--record", metavar="PATH", help="also write the matrix as a run record (kind 'conformance')")
    conf.set_defaults(handler="kbench.commands.conformance:run")

    exp = sub.add_parser("export", help="write a zoo model as a Paddle Inference, ONNX, Lite or TensorRT artifact",
                         epilog=_EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Export a zoo model's network with its weights, and write a manifest beside it "
                                     "(source checkpoint sha256, exporter and versions, opset, input shape).")
    exp.add_argument("--model", required=True, metavar="NAME", help="a zoo model (see `kbench zoo list`)")
    exp.add_argument("--to", required=True, choices=("paddle-inference", "onnx", "lite", "tensorrt"),
                     help="artifact kind")
    add_pin_option(exp)
    exp.add_argument("--weights", default="zoo", metavar="PATH|URL|zoo|random",
                     help="weights: the card's released checkpoint (zoo, default), a path or URL, or random (seeded)")
    exp.add_argument("--fp16", action="store_true", help="FP16 artifact (ONNX, TensorRT, Lite on ARM)")
    exp.add_argument("--fp16-io", action="store_true", help="with --to onnx --fp16: FP16 inputs and outputs too")
    exp.add_argument("--batch", default="dynamic", metavar="N|dynamic", help="batch dimension (default: dynamic)")
    exp.add_argument("--format", choices=("legacy", "pir"), default="legacy",
                     help="Paddle Inference graph format: legacy .pdmodel (oneDNN, Lite, paddle2onnx) or PIR .json")
    exp.add_argument("--target", choices=("x86", "arm"), default="x86", help="Paddle Lite target (default: x86)")
    exp.add_argument("--source", choices=("auto", "paddle", "torch"), default="auto",
                     help="ONNX exporter: paddle2onnx, torch's, or paddle2onnx with torch as the fallback (default)")
    exp.add_argument("--opset", type=_positive_int, help="ONNX opset (default: the exporter's)")
    exp.add_argument("--out", metavar="PATH", help="output path (default: ./kbench-exports/...)")
    exp.add_argument("--record", metavar="PATH",
                     help="also write a run record (kind 'export': artifact, size, manifest)")
    exp.set_defaults(handler="kbench.commands.export:run")

    # Sub-commands whose options live beside their handlers, in standard-library-only modules.
    for module in _PARSER_MODULES:
        importlib.import_module(module).add_parser(sub)

    doc = sub.add_parser("doctor", help="which runtimes and devices are usable here, and why not",
                         description="List the runtimes kbench knows, whether each is usable on this machine and, if "
                                     "not, what to install; GPUs, ARM devices and the Paddle Lite worker's Python.")
    doc.add_argument("--json", action="store_true", help="print the report as JSON")
    doc.set_defaults(handler="kbench.commands.doctor:run")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    module_name, func_name = args.handler.split(":")
    from kbench.bench.records import set_command
    from kbench.errors import InputError

    previous = set_command(sys.argv[1:] if argv is None else argv)
    try:
        _apply_pins(args)
        handler = getattr(importlib.import_module(module_name), func_name)
        return int(handler(args, parser) or 0)
    except InputError as exc:
        print(f"kbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal error: one line, the traceback only on request
        if os.environ.get("KBENCH_DEBUG"):
            raise
        print(f"kbench: internal error: {type(exc).__name__}: {exc} (set KBENCH_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        set_command(previous)  # main() may run in-process (tests, notebooks): the command ends with the call


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
