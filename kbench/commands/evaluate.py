"""``kbench eval``: flags -> :class:`~kbench.specs.EvalSpec` -> :func:`kbench.run` -> printed summary and record."""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["run", "eval_spec"]

#: The bare ``--sample``: images of the synthetic predictions sample, and of the generated images with --model.
SAMPLE_PREDICTIONS, SAMPLE_IMAGES = 500, 24


def eval_spec(args, results: str | None = None):
    """The spec of a parsed ``kbench eval`` command line."""
    from kbench.specs import EvalSpec, parse_sigmas

    sample = args.sample
    if sample == 0:  # --sample with no number
        sample = SAMPLE_IMAGES if args.model else SAMPLE_PREDICTIONS
    return EvalSpec(predictions=args.predictions, ann=args.ann, metric=args.metric, sample=sample, model=args.model,
                    bbox=args.bbox, det_file=args.det_file, data_root=args.data_root, image_dir=args.image_dir,
                    mpii_gt=args.mpii_gt, backend=args.backend, device=args.device, fp16=args.fp16, flip=args.flip,
                    batch=args.batch, threads=args.threads, workers=args.workers, limit=args.limit,
                    weights=args.weights, results=results, flavour=args.flavour, sigmas=parse_sigmas(args.sigmas),
                    use_area=args.use_area, kpt_score_thr=args.kpt_score_thr, max_dets=args.max_dets)


def _paths(args, spec) -> tuple[Path | None, Path | None]:
    """Where the record and (with a model) the keypoint results go, checked before anything runs."""
    from kbench.bench.records import check_output_path, default_record_path

    if args.record and not args.no_record:
        check_output_path(args.record, "--record")
    if args.results and spec.form == "model":
        check_output_path(args.results, "--results")
    record = None if args.no_record else (Path(args.record) if args.record else default_record_path("eval"))
    if spec.form != "model":
        return record, None
    if args.results:
        return record, Path(args.results)
    if record is not None:
        return record, record.with_name(record.stem + "-keypoints.json")
    p = default_record_path("eval")
    return record, p.with_name(p.stem + f"-{Path(spec.model).stem}-keypoints.json")


def _default_data(args) -> None:
    """Without ``--data-root``, ``--ann`` or ``--sample``, a model evaluates on the data set ``kbench data fetch``
    installed (fetched first with ``--download``); without one, the spec says which command gets it."""
    from kbench.errors import InputError

    explicit = args.data_root or args.ann or args.image_dir or args.sample is not None
    if args.download and (explicit or not args.model):
        raise InputError("--download fetches the model's data set into $KBENCH_DATA; it is used with --model and "
                         "without --data-root/--ann/--image-dir/--sample")
    if args.model and not explicit:
        from kbench.runners.data import fetched_data_root

        log = None if args.no_progress else (lambda line: print(f"kbench: {line}", file=sys.stderr))
        args.data_root = fetched_data_root(args.model, download=args.download, progress=not args.no_progress, log=log)


def run(args, parser) -> int:
    """Run ``kbench eval`` on its arguments."""
    from dataclasses import replace

    from kbench.bench.records import write_record
    from kbench.card_import import apply_config_args
    from kbench.progress import TerminalProgress
    from kbench.runners import run as run_spec
    from kbench.specs import check_weights

    apply_config_args(args, use_weights=True)
    _default_data(args)
    spec = eval_spec(args)
    record_path, results_path = _paths(args, spec)
    if spec.form == "model":
        check_weights(spec.weights)  # before the runtime loads
    if results_path is not None:
        spec = replace(spec, results=str(results_path))
    progress = TerminalProgress(enabled=not args.no_progress) if spec.form == "model" else None
    try:
        record = run_spec(spec, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    out = sys.stderr if args.json else sys.stdout
    print(json.dumps(record["metrics"], indent=2) if args.json else record.summary)
    if results_path is not None:
        print(f"results: {results_path}", file=out)
    if record_path is not None:
        print(f"record: {write_record(record, record_path)}", file=out)
    return 0
