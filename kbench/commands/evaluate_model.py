"""``kbench eval --model NAME``: run a zoo model over a data set and evaluate it as PaddleDetection's eval does.

Top-down COCO (ground-truth or detector boxes), bottom-up COCO (HigherHRNet) and top-down MPII. The record
names the whole protocol (box source and the detector file's sha256, flip and shift, DARK/UDP, rescoring and
NMS thresholds, evaluator and its options) and the printed summary says it in one line, because numbers of
different protocols are not comparable.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from kbench.errors import InputError

__all__ = ["run", "DEFAULT_DETECTIONS_URL"]

# The zoo README's "Detector having human AP of 56.4 on COCO val2017 dataset".
DEFAULT_DETECTIONS_URL = "https://paddledet.bj.bcebos.com/data/bbox.json"
RESCORE_VIS_THR = 0.2  # KeyPointTopDownCOCOEval.in_vis_thre
NMS_OKS_THR = 0.9  # KeyPointTopDownCOCOEval.oks_thre
_COCO_LAYOUT = ("expected COCO's layout: DATA_ROOT/annotations/person_keypoints_val2017.json and DATA_ROOT/val2017/"
                "*.jpg (or give --ann and --image-dir)")
_MPII_LAYOUT = ("expected MPII's layout: DATA_ROOT/annotations/mpii_val.json, DATA_ROOT/annotations/mpii_gt_val.mat "
                "and DATA_ROOT/images/*.jpg (or give --ann, --mpii-gt and --image-dir)")


class _Data:
    """Where the evaluation's files are and what they are."""

    def __init__(self, ann: Path, image_dir: Path, det_file: str | None = None, mpii_gt: Path | None = None,
                 sample=None):
        self.ann, self.image_dir, self.det_file, self.mpii_gt, self.sample = ann, image_dir, det_file, mpii_gt, sample


def _resolve_data(args, card) -> _Data:
    if args.sample is not None:
        if card.dataset != "coco":
            raise InputError(f"--sample generates a COCO-style sample; {card.name} is evaluated on {card.dataset}")
        if args.data_root or args.ann or args.image_dir:
            raise InputError("--sample uses its own generated data; do not combine it with --data-root/--ann/"
                             "--image-dir")
        from kbench.datasets.sample_images import sample_dataset

        sample = sample_dataset(num_images=args.sample or 24, seed=0)
        return _Data(sample.ann_file, sample.image_dir, str(sample.det_file), sample=sample)
    root = Path(args.data_root) if args.data_root else None
    if root is None and not args.ann:
        raise InputError(f"eval --model needs data: --data-root DIR (or --ann and --image-dir), or --sample; "
                         f"{_COCO_LAYOUT if card.dataset == 'coco' else _MPII_LAYOUT}")
    if root is not None and not root.is_dir():
        raise InputError(f"--data-root {root}: not a folder")
    if card.dataset == "mpii":
        ann = Path(args.ann) if args.ann else root / "annotations" / "mpii_val.json"
        mat = Path(args.mpii_gt) if args.mpii_gt else ann.parent / "mpii_gt_val.mat"
        image_dir = Path(args.image_dir) if args.image_dir else (
            root / "images" if root is not None and (root / "images").is_dir() else (root or ann.parent))
        for f in (ann, mat):
            if not f.is_file():
                raise InputError(f"{f}: not found; {_MPII_LAYOUT}")
        return _Data(ann, image_dir, mpii_gt=mat)
    ann = Path(args.ann) if args.ann else root / "annotations" / "person_keypoints_val2017.json"
    if not ann.is_file():
        raise InputError(f"{ann}: not found; {_COCO_LAYOUT}")
    if args.image_dir:
        image_dir = Path(args.image_dir)
    elif root is not None:
        image_dir = root / "val2017" if (root / "val2017").is_dir() else root
    else:
        image_dir = ann.parent
    if not image_dir.is_dir():
        raise InputError(f"{image_dir}: image folder not found; {_COCO_LAYOUT}")
    return _Data(ann, image_dir)


def _detections_path(args, data: _Data) -> tuple[str, str]:
    """The detector file to use and where it came from."""
    if args.det_file:
        spec = args.det_file
    elif data.det_file:
        return data.det_file, "the sample's generated detector boxes"
    else:
        spec = DEFAULT_DETECTIONS_URL
    if spec.startswith(("http://", "https://")):
        from kbench.weights.download import fetch

        return str(fetch(spec, progress=not args.no_progress)), spec
    if not os.path.isfile(spec):
        raise InputError(f"--det-file {spec}: not found (a COCO detection-results JSON, or its URL)")
    return spec, spec


def _validate(args, card) -> None:
    if args.predictions:
        raise InputError("--model runs the model; --predictions evaluates a results file: use one or the other")
    if args.bbox is not None and (not card.top_down or card.dataset != "coco"):
        raise InputError(f"--bbox applies to top-down COCO models; {card.name} is "
                         f"{'bottom-up' if not card.top_down else card.dataset}")
    if args.det_file and _bbox(args, card) != "detector":
        raise InputError("--det-file is used with --bbox detector")
    if args.fp16 and args.device != "gpu":
        raise InputError("--fp16 runs on the GPU runtimes; add --device gpu (CPU FP16 would silently compute in FP32)")
    if args.workers is not None and args.workers < 0:
        raise InputError("--workers must be 0 or more")


def _bbox(args, card) -> str | None:
    if not card.top_down or card.dataset != "coco":
        return None
    if args.bbox:
        return args.bbox
    return "gt" if card.eval.use_gt_bbox is not False else "detector"


def _load_adapter(args, card, batch: int):
    from kbench.adapters.base import get_adapter

    adapter = get_adapter(args.backend)
    precision = "fp16" if args.fp16 else "fp32"
    weights = args.weights
    adapter.load(card, weights=weights, device=args.device, precision=precision, batch=batch, threads=args.threads)
    return adapter


def _results_path(args, record_path: Path | None, card) -> Path:
    if args.results:
        return Path(args.results)
    if record_path is not None:
        return record_path.with_name(record_path.stem + "-keypoints.json")
    from kbench.bench.records import default_record_path

    p = default_record_path("eval")
    return p.with_name(p.stem + f"-{card.name}-keypoints.json")


def _write_results(path: Path, rows: list) -> None:
    from kbench._fileio import atomic_open

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        json.dump(rows, fh)


def _coco_results(image_ids, keypoints, scores, centers=None, scales=None) -> list:
    """COCO keypoint results rows (PaddleDetection adds the crop's centre and scale; pycocotools ignores them)."""
    kp = keypoints.reshape(len(keypoints), -1).tolist()
    rows = []
    for i in range(len(kp)):
        row = {"image_id": int(image_ids[i]), "category_id": 1, "keypoints": kp[i], "score": float(scores[i])}
        if centers is not None:
            row["center"] = [float(v) for v in centers[i]]
            row["scale"] = [float(v) for v in scales[i]]
        rows.append(row)
    return rows


def _protocol(card, args, bbox, det_desc, flip) -> dict:
    ev = card.eval
    p = {"model": card.name, "paradigm": card.paradigm, "dataset": card.dataset, "input_size": list(card.input_size),
         "flip": flip, "backend": args.backend, "device": args.device, "precision": "fp16" if args.fp16 else "fp32"}
    if card.top_down:
        p.update(shift_heatmap=bool(ev.shift_heatmap and flip), use_dark=ev.use_dark, udp=ev.udp,
                 pixel_std=200, box_padding=1.25)
        if card.dataset == "coco":
            p.update(bbox=bbox, rescoring={"in_vis_thre": RESCORE_VIS_THR}, oks_nms={"oks_thre": NMS_OKS_THR})
            if bbox == "detector":
                p.update(image_thre=ev.image_thre, detections=det_desc)
    else:
        p.update(max_num_people=ev.max_num_people, heat_thresh=ev.heat_thresh, tag_thresh=ev.tag_thresh,
                 resize_stride=ev.resize_stride)
    return p


def _protocol_line(p: dict, evaluator: str) -> str:
    parts = [f"{p['model']} on {p['backend']} {p['device']} {p['precision']}"]
    if p.get("bbox"):
        parts.append("ground-truth boxes" if p["bbox"] == "gt" else
                     f"detector boxes (score >= {p.get('image_thre')}, sha256 {p['detections']['sha256'][:12]})")
    parts.append("flip" + (" + shift" if p.get("shift_heatmap") else "") if p["flip"] else "no flip")
    if p["paradigm"] == "top_down":
        parts.append("DARK" if p["use_dark"] else "argmax + quarter offset")
        if p["udp"]:
            parts.append("UDP crops")
    if p.get("rescoring"):
        parts.append(f"rescoring (keypoints > {RESCORE_VIS_THR}) + OKS-NMS {NMS_OKS_THR}")
    parts.append(evaluator)
    return "protocol: " + ", ".join(parts)


def _published_line(card, stats: dict, bbox: str | None) -> str:
    pub = card.published
    if card.dataset == "mpii":
        got = stats.get("PCKh")
        ref = pub.pckh
        name = "PCKh@0.5"
        ours = f"{got:.2f}" if got is not None else "?"
    else:
        got = stats.get("AP")
        ref = pub.ap
        name = "AP"
        ours = f"{100 * got:.1f}" if got is not None else "?"
    if ref is None:
        return f"{name} {ours}; the zoo README publishes no {name} for {card.name}"
    boxes = {"gt": "ground-truth boxes", "detector": "detector boxes"}.get(pub.boxes, pub.boxes or "")
    same = bbox is None or pub.boxes is None or pub.boxes == bbox
    note = "" if same else f"; published with {boxes}: not the same protocol"
    where = f" with {boxes}" if boxes and same else ""
    return f"{name} {ours} here; published {ref}{where} (zoo README){note}"


def _weights_label(adapter, args) -> dict:
    desc = adapter.describe()
    w = desc.get("weights")
    if isinstance(w, dict):
        return w
    return {"spec": args.weights, "random": args.weights == "random"}


def run(args, parser) -> int:
    """Run ``kbench eval --model``."""
    from kbench.cards import get_card

    card = get_card(args.model)
    _validate(args, card)
    data = _resolve_data(args, card)
    bbox = _bbox(args, card)
    flip = card.eval.flip if args.flip is None else bool(args.flip)
    if not card.top_down:
        return _run_bottom_up(args, card, data, flip)
    if card.dataset == "mpii":
        return _run_mpii(args, card, data, flip)
    return _run_coco(args, card, data, bbox, flip)


def _finish(args, card, stats: dict, summary: str, protocol: dict, evaluator: str, inputs: dict, times,
            results_rows: list, weights: dict, adapter_desc: dict, bbox) -> int:
    from kbench.bench.records import default_record_path, make_record, write_record

    synthetic = bool(inputs.get("sample"))
    options = {**protocol, "batch": args.batch, "limit": args.limit, "weights": weights, "evaluator": evaluator,
               "stages_s": times.as_dict(), "runtime": {k: adapter_desc.get(k) for k in
                                                        ("runtime", "version", "providers", "threads")
                                                        if k in adapter_desc}}
    if synthetic:
        options["data"] = "synthetic sample (drawn figures, not real data)"
    record_path = None
    if not args.no_record:
        record_path = Path(args.record) if args.record else default_record_path("eval")
    results_path = _results_path(args, record_path, card)
    _write_results(results_path, results_rows)
    from kbench.bench.records import describe_input

    inputs = {**inputs, "results": describe_input(results_path)}
    out = sys.stderr if args.json else sys.stdout
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        labels = []
        if synthetic:
            labels.append("SYNTHETIC DATA (drawn figures)")
        if weights.get("random"):
            labels.append("RANDOM WEIGHTS")
        if labels:
            print(f"[{' + '.join(labels)}: these numbers say nothing about the model's real accuracy]")
        print(summary)
        print(_published_line(card, stats, bbox))
        print(_protocol_line(protocol, evaluator))
        print(times.summary())
    print(f"results: {results_path}", file=out)
    if record_path is not None:
        record = make_record("eval", stats, inputs=inputs, options=options)
        print(f"record: {write_record(record, record_path)}", file=out)
    return 0


def _infer_top_down(args, card, plan, flip: bool, times) -> tuple:
    """Keypoints of every planned crop, the runtime's description and the weights' label.

    The worker pool starts before the runtime loads: workers forked from a process with a framework's thread pools
    loaded are not safe.
    """
    from kbench.pipelines.topdown_run import crop_prefetcher, run_top_down

    with crop_prefetcher(card, workers=args.workers, batch=args.batch) as prefetcher:
        adapter = _load_adapter(args, card, args.batch)
        try:
            keypoints = run_top_down(adapter, card, plan, prefetcher, batch=args.batch, flip=flip,
                                     progress=not args.no_progress, times=times)
            return keypoints, adapter.describe(), _weights_label(adapter, args)
        finally:
            adapter.close()


def _per_keypoint(gt, dets, opts) -> dict:
    """``AP.<joint>``: each joint's AP alone (a diagnostic for the report's per-keypoint bars)."""
    from kbench.evaluators.coco_keypoints import per_keypoint_ap

    return {} if opts.flavour == "crowdpose" else per_keypoint_ap(gt, dets, opts)


def _run_coco(args, card, data: _Data, bbox: str, flip: bool) -> int:
    from kbench.bench.records import describe_input
    from kbench.commands.evaluate import _coco_options
    from kbench.datasets.coco import KeypointDetections, load_coco_keypoints
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints
    from kbench.pipelines.oks_nms import rescore_and_nms
    from kbench.pipelines.topdown_run import StageTimes, check_images, plan_from_detections, plan_from_gt

    gt = load_coco_keypoints(data.ann)
    if args.limit:
        gt = gt.subset(gt.image_ids[:args.limit])
    inputs = {"ann": describe_input(data.ann)}
    if data.sample is not None:
        inputs["sample"] = data.sample.describe()
    det_desc = None
    if bbox == "detector":
        from kbench.datasets.boxes import load_detector_boxes

        det_path, det_source = _detections_path(args, data)
        boxes = load_detector_boxes(det_path)
        boxes = boxes.select(np.isin(boxes.image_id, gt.image_ids))
        plan = plan_from_detections(boxes, gt, data.image_dir, card.input_size, card.eval.image_thre)
        det_desc = {**describe_input(det_path), "source": det_source}
        inputs["detections"] = det_desc
    else:
        plan = plan_from_gt(gt, data.image_dir, card.input_size)
    check_images(plan.image_paths, _COCO_LAYOUT)
    opts = _coco_options(args)
    times = StageTimes()
    keypoints, desc, weights = _infer_top_down(args, card, plan, flip, times)
    t0 = time.perf_counter()
    keep, scores = rescore_and_nms(keypoints, plan.box_scores, plan.areas, plan.person_image_ids,
                                   vis_thr=RESCORE_VIS_THR, oks_thr=NMS_OKS_THR)
    t1 = time.perf_counter()
    kept_kp = keypoints[keep]
    dets = KeypointDetections.from_arrays(plan.person_image_ids[keep], kept_kp, scores[keep])
    res = evaluate_coco_keypoints(gt, dets, opts)
    stats = {**res.stats, **_per_keypoint(gt, dets, opts)}
    t2 = time.perf_counter()
    times.nms_s += t1 - t0
    times.eval_s += t2 - t1
    times.wall_s += t2 - t0
    rows = _coco_results(plan.person_image_ids[keep], kept_kp, scores[keep], plan.centers[keep], plan.scales[keep])
    protocol = _protocol(card, args, bbox, det_desc, flip)
    evaluator = f"COCO OKS AP (kbench engine, {opts.flavour} semantics)"
    header = (f"{card.name}: {len(gt.image_ids)} images, {len(plan)} person crops "
              f"({plan.source}), {len(keep)} after OKS-NMS")
    return _finish(args, card, stats, header + "\n" + res.summary, {**protocol, **opts.describe()}, evaluator,
                   inputs, times, rows, weights, desc, bbox)


def _run_mpii(args, card, data: _Data, flip: bool) -> int:
    from kbench._fileio import read_json
    from kbench.bench.records import describe_input
    from kbench.evaluators.mpii_pckh import evaluate_mpii_pckh, load_mpii_gt
    from kbench.pipelines.topdown_run import StageTimes, check_images, plan_from_mpii

    entries = read_json(data.ann)
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{data.ann}: expected HRNet's MPII JSON, a non-empty list of annotations")
    gt = load_mpii_gt(data.mpii_gt)
    if len(gt) != len(entries):
        raise InputError(f"{data.mpii_gt}: {len(gt)} people, but {data.ann} lists {len(entries)}; the ground truth "
                         f"must be the same people in the same order")
    plan = plan_from_mpii(entries, data.image_dir, str(data.ann))
    if args.limit:
        raise InputError("--limit is not supported for MPII: PCKh is defined over the whole ground-truth file")
    check_images(plan.image_paths, _MPII_LAYOUT)
    times = StageTimes()
    keypoints, desc, weights = _infer_top_down(args, card, plan, flip, times)
    t0 = time.perf_counter()
    res = evaluate_mpii_pckh(gt, keypoints[:, :, :2].astype(np.float64))
    times.eval_s += time.perf_counter() - t0
    times.wall_s += time.perf_counter() - t0
    rows = [{"image": e["image"], "preds": keypoints[i].tolist(), "center": plan.centers[i].tolist(),
             "scale": plan.scales[i].tolist()} for i, e in enumerate(entries)]
    inputs = {"ann": describe_input(data.ann), "mpii_gt": describe_input(data.mpii_gt)}
    protocol = _protocol(card, args, None, None, flip)
    evaluator = "MPII PCKh@0.5 (head size 0.6 x head-box diagonal; PCKh@0.1_paddledet is PaddleDetection's 0.11)"
    header = f"{card.name}: {len(entries)} people (MPII annotated centre/scale)"
    return _finish(args, card, res.stats, header + "\n" + res.summary, protocol, evaluator, inputs, times, rows,
                   weights, desc, None)


def _run_bottom_up(args, card, data: _Data, flip: bool) -> int:
    from kbench.bench.records import describe_input
    from kbench.commands.evaluate import _coco_options
    from kbench.datasets.coco import KeypointDetections, load_coco_keypoints
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints
    from kbench.pipelines.bottomup_run import bottom_up_prefetcher, run_bottom_up_images
    from kbench.pipelines.topdown_run import StageTimes, check_images

    gt = load_coco_keypoints(data.ann)
    if args.limit:
        gt = gt.subset(gt.image_ids[:args.limit])
    if gt.image_files is None:
        raise InputError(f"{data.ann}: the annotation file lists no image file names")
    paths = [str(data.image_dir / f) for f in gt.image_files]
    check_images(paths, _COCO_LAYOUT)
    inputs = {"ann": describe_input(data.ann)}
    if data.sample is not None:
        inputs["sample"] = data.sample.describe()
    opts = _coco_options(args)
    times = StageTimes()
    # Bottom-up inputs differ in size from image to image: one image per runtime call, as PaddleDetection runs them.
    with bottom_up_prefetcher(card, workers=args.workers) as prefetcher:
        adapter = _load_adapter(args, card, 1)
        try:
            image_ids, keypoints, scores = run_bottom_up_images(adapter, card, gt.image_ids, paths, prefetcher,
                                                                flip=flip, progress=not args.no_progress, times=times)
            desc, weights = adapter.describe(), _weights_label(adapter, args)
        finally:
            adapter.close()
    t0 = time.perf_counter()
    dets = KeypointDetections.from_arrays(image_ids, keypoints, scores)
    res = evaluate_coco_keypoints(gt, dets, opts)
    stats = {**res.stats, **_per_keypoint(gt, dets, opts)}
    times.eval_s += time.perf_counter() - t0
    times.wall_s += time.perf_counter() - t0
    rows = _coco_results(image_ids, keypoints, scores)
    protocol = _protocol(card, args, None, None, flip)
    evaluator = f"COCO OKS AP (kbench engine, {opts.flavour} semantics; grouping scores, no rescoring or NMS)"
    header = f"{card.name}: {len(gt.image_ids)} images, {len(dets)} people grouped"
    return _finish(args, card, stats, header + "\n" + res.summary, {**protocol, **opts.describe()}, evaluator,
                   inputs, times, rows, weights, desc, None)
