"""``kbench eval``: evaluate a predictions file (COCO OKS AP or MPII PCKh) and write a run record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "parse_sigmas"]


def parse_sigmas(text: str | None) -> tuple | None:
    """Sigmas from ``0.026,0.025,...`` or from a file holding a JSON list or whitespace/comma-separated numbers."""
    if text is None:
        return None
    p = Path(text)
    if p.is_file():
        raw = p.read_text(encoding="utf-8").strip()
        try:
            values = json.loads(raw)
        except ValueError:
            values = raw.replace(",", " ").split()
        source = str(p)
    else:
        values = text.split(",")
        source = "--sigmas"
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{source}: sigmas must be numbers, e.g. 0.026,0.025,0.025") from None


def _coco_options(args):
    from kbench.evaluators.coco_keypoints import CocoKeypointOptions

    return CocoKeypointOptions(flavour=args.flavour, sigmas=parse_sigmas(args.sigmas), use_area=args.use_area,
                               kpt_score_thr=args.kpt_score_thr, max_dets=args.max_dets)


def _protocol_line(opts, predictions: str) -> str:
    sig = "COCO sigmas (17)" if opts.sigmas is None else f"custom sigmas ({len(opts.sigmas)})"
    area = "area from annotations" if opts.use_area else "area = 0.53 x box"
    thr = "" if opts.kpt_score_thr is None else f", predictions need a keypoint score > {opts.kpt_score_thr:g}"
    return (f"protocol: COCO OKS AP by kbench's engine with {opts.flavour} semantics, {sig}, "
            f"{opts.max_dets} predictions/image, {area}{thr}; predictions: {predictions}")


def _finish(args, kind_metrics: dict, inputs: dict, options: dict, table: str, protocol: str) -> int:
    from kbench.bench.records import make_record, write_record

    if args.json:
        print(json.dumps(kind_metrics, indent=2))
    else:
        print(table)
        print(protocol)
    if not args.no_record:
        record = make_record("eval", kind_metrics, inputs=inputs, options=options)
        path = write_record(record, args.record)
        print(f"record: {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _run_sample(args) -> int:
    from kbench.datasets.synthetic import make_coco_like
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints

    opts = _coco_options(args)
    gt, dets = make_coco_like(num_images=args.sample, seed=0)
    res = evaluate_coco_keypoints(gt, dets, opts)
    header = (f"kbench built-in sample: {args.sample} synthetic COCO-like images, {len(gt.ann_id)} people, "
              f"{len(dets)} predictions (seed 0; not real data)")
    inputs = {"sample": {"generator": "kbench.datasets.synthetic.make_coco_like", "images": args.sample, "seed": 0}}
    options = {"evaluator": "coco_keypoints", "engine": "kbench", **opts.describe()}
    return _finish(args, res.stats, inputs, options, header + "\n" + res.summary,
                   _protocol_line(opts, "synthetic sample"))


def _run_coco(args) -> int:
    from kbench.bench.records import describe_input
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoint_files

    opts = _coco_options(args)
    res = evaluate_coco_keypoint_files(args.ann, args.predictions, opts)
    inputs = {"ann": describe_input(args.ann), "predictions": describe_input(args.predictions)}
    options = {"evaluator": "coco_keypoints", "engine": "kbench", **opts.describe()}
    return _finish(args, res.stats, inputs, options, res.summary, _protocol_line(opts, args.predictions))


def _run_mpii(args) -> int:
    from kbench.bench.records import describe_input
    from kbench.evaluators.mpii_pckh import evaluate_mpii_pckh, load_mpii_gt, load_mpii_predictions

    gt = load_mpii_gt(args.ann)
    preds = load_mpii_predictions(args.predictions)
    if len(preds) != len(gt):
        raise InputError(f"{args.predictions}: {len(preds)} predictions for {len(gt)} annotated people in "
                         f"{args.ann}; MPII predictions must follow the ground truth's order one to one")
    res = evaluate_mpii_pckh(gt, preds)
    inputs = {"ann": describe_input(args.ann), "predictions": describe_input(args.predictions)}
    options = {"evaluator": "mpii_pckh", "engine": "kbench", "threshold": 0.5, "head_size": "0.6 x head box diagonal",
               "PCKh@0.1_paddledet": "PaddleDetection's 'PCKh@0.1': threshold 0.11, float32"}
    protocol = (f"protocol: MPII PCKh@0.5 (head size 0.6 x head-box diagonal, mean without pelvis and thorax); "
                f"PCKh@0.1 at threshold 0.1; PCKh@0.1_paddledet is PaddleDetection's value (threshold 0.11); "
                f"{len(gt)} people; predictions: {args.predictions}")
    return _finish(args, res.stats, inputs, options, res.summary, protocol)


def run(args, parser) -> int:
    """Dispatch ``kbench eval`` on its arguments."""
    if args.model:
        from kbench.commands.evaluate_model import run as run_model

        return run_model(args, parser)
    if args.sample is not None:
        args.sample = args.sample or 500
        if args.predictions or args.ann:
            parser.error("--sample evaluates the built-in sample; do not combine it with --predictions/--ann")
        return _run_sample(args)
    if not args.predictions or not args.ann:
        parser.error("eval needs --predictions and --ann (or --sample for the built-in sample)")
    metric = args.metric
    if metric == "auto":
        from kbench.evaluators.mpii_pckh import is_mpii_file

        metric = "mpii" if is_mpii_file(args.ann) else "coco"
    return _run_mpii(args) if metric == "mpii" else _run_coco(args)
