"""The ``eval`` runner: a predictions file against ground truth (COCO OKS AP or MPII PCKh), the built-in synthetic
predictions sample, or a zoo model over a data set (:mod:`kbench.runners.evaluate_model`)."""

from __future__ import annotations

from kbench.errors import InputError
from kbench.runners.record import Record, spec_record

__all__ = ["run_eval", "coco_protocol_line"]


def run_eval(spec, progress=None) -> Record:
    """Run an :class:`~kbench.specs.EvalSpec` of any form and return its record."""
    if spec.form == "model":
        from kbench.runners.evaluate_model import run_model_eval

        return run_model_eval(spec, progress=progress)
    if spec.form == "sample":
        return _run_sample(spec)
    metric = spec.metric
    if metric == "auto":
        from kbench.evaluators.mpii_pckh import is_mpii_file

        metric = "mpii" if is_mpii_file(spec.ann) else "coco"
    return _run_mpii(spec) if metric == "mpii" else _run_coco(spec)


def coco_protocol_line(opts, predictions: str) -> str:
    """``protocol: COCO OKS AP by kbench's engine with ... semantics, ...; predictions: ...``."""
    sig = "COCO sigmas (17)" if opts.sigmas is None else f"custom sigmas ({len(opts.sigmas)})"
    area = "area from annotations" if opts.use_area else "area = 0.53 x box"
    thr = "" if opts.kpt_score_thr is None else f", predictions need a keypoint score > {opts.kpt_score_thr:g}"
    return (f"protocol: COCO OKS AP by kbench's engine with {opts.flavour} semantics, {sig}, "
            f"{opts.max_dets} predictions/image, {area}{thr}; predictions: {predictions}")


def _run_sample(spec) -> Record:
    from kbench.datasets.synthetic import make_coco_like
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints

    opts = spec.coco_options()
    gt, dets = make_coco_like(num_images=spec.sample, seed=0)
    res = evaluate_coco_keypoints(gt, dets, opts)
    header = (f"kbench built-in sample: {spec.sample} synthetic COCO-like images, {len(gt.ann_id)} people, "
              f"{len(dets)} predictions (seed 0; not real data)")
    inputs = {"sample": {"generator": "kbench.datasets.synthetic.make_coco_like", "images": spec.sample, "seed": 0}}
    options = {"evaluator": "coco_keypoints", "engine": "kbench", **opts.describe()}
    summary = header + "\n" + res.summary + "\n" + coco_protocol_line(opts, "synthetic sample")
    return spec_record(spec, res.stats, inputs, options, summary)


def _run_coco(spec) -> Record:
    from kbench.bench.records import describe_input
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoint_files

    opts = spec.coco_options()
    res = evaluate_coco_keypoint_files(spec.ann, spec.predictions, opts)
    inputs = {"ann": describe_input(spec.ann), "predictions": describe_input(spec.predictions)}
    options = {"evaluator": "coco_keypoints", "engine": "kbench", **opts.describe()}
    return spec_record(spec, res.stats, inputs, options,
                       res.summary + "\n" + coco_protocol_line(opts, spec.predictions))


def _run_mpii(spec) -> Record:
    from kbench.bench.records import describe_input
    from kbench.evaluators.mpii_pckh import evaluate_mpii_pckh, load_mpii_gt, load_mpii_predictions

    gt = load_mpii_gt(spec.ann)
    preds = load_mpii_predictions(spec.predictions)
    if len(preds) != len(gt):
        raise InputError(f"{spec.predictions}: {len(preds)} predictions for {len(gt)} annotated people in "
                         f"{spec.ann}; MPII predictions must follow the ground truth's order one to one")
    res = evaluate_mpii_pckh(gt, preds)
    inputs = {"ann": describe_input(spec.ann), "predictions": describe_input(spec.predictions)}
    options = {"evaluator": "mpii_pckh", "engine": "kbench", "threshold": 0.5, "head_size": "0.6 x head box diagonal",
               "PCKh@0.1_paddledet": "PaddleDetection's 'PCKh@0.1': threshold 0.11, float32"}
    protocol = (f"protocol: MPII PCKh@0.5 (head size 0.6 x head-box diagonal, mean without pelvis and thorax); "
                f"PCKh@0.1 at threshold 0.1; PCKh@0.1_paddledet is PaddleDetection's value (threshold 0.11); "
                f"{len(gt)} people; predictions: {spec.predictions}")
    return spec_record(spec, res.stats, inputs, options, res.summary + "\n" + protocol)
