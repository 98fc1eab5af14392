"""``eval`` with a model: run a zoo model over a data set and evaluate it as PaddleDetection's eval does.

Top-down COCO (ground-truth or detector boxes), bottom-up COCO (HigherHRNet) and top-down MPII. The record
names the whole protocol (box source and the detector file's sha256, flip and shift, DARK/UDP, rescoring and
NMS thresholds, evaluator and its options) and the summary says it in one line, because numbers of
different protocols are not comparable.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kbench.errors import InputError
from kbench.runners.data import COCO_LAYOUT, MPII_LAYOUT, DataFiles, detections_path, resolve_data
from kbench.runners.record import Record, spec_record

__all__ = ["run_model_eval", "prepare_model_eval", "infer_model_eval", "finish_model_eval", "ModelEvalJob",
           "InferenceOutput", "part_bounds", "warm_runtime", "RESCORE_VIS_THR", "NMS_OKS_THR"]

RESCORE_VIS_THR = 0.2  # KeyPointTopDownCOCOEval.in_vis_thre
NMS_OKS_THR = 0.9  # KeyPointTopDownCOCOEval.oks_thre


def run_model_eval(spec, progress=None) -> Record:
    """Run an :class:`~kbench.specs.EvalSpec` with ``model``; ``spec.results``, when set, receives the keypoint
    results file (otherwise its rows are in ``record.outputs["results_rows"]``)."""
    job = prepare_model_eval(spec, progress=progress)
    return finish_model_eval(spec, job, [infer_model_eval(spec, job, progress=progress)])


@dataclass
class ModelEvalJob:
    """What an evaluation needs before the model runs: ground truth, the crops (or images) and the protocol.

    It pickles, so a sweep can put it into Ray's object store once and run :func:`infer_model_eval` on parts of
    it on other machines (``part`` of ``parts``: contiguous runs of images, in evaluation order), then merge.
    """

    card_name: str
    flow: str  # "coco" (top-down), "mpii" (top-down) or "bottom_up"
    image_dir: str
    flip: bool
    bbox: str | None = None
    gt: object = None
    plan: object = None  # PersonPlan (top-down)
    image_ids: object = None  # bottom-up: (I,) ids
    image_paths: list = field(default_factory=list)  # bottom-up: (I,) files
    entries: list = field(default_factory=list)  # MPII annotations
    mpii_gt: object = None
    inputs: dict = field(default_factory=dict)
    det_desc: dict | None = None

    @property
    def num_images(self) -> int:
        return len(self.image_paths) if self.flow == "bottom_up" else len(self.plan.image_ids)


@dataclass
class InferenceOutput:
    """What the model gave for one part of a job (keypoints of its crops, or its images' people)."""

    part: int
    keypoints: object
    times: object
    runtime: dict
    weights: dict
    image_ids: object = None  # bottom-up only
    scores: object = None  # bottom-up only


def prepare_model_eval(spec, progress=None) -> ModelEvalJob:
    """Resolve the data, load the ground truth and plan the crops of an :class:`~kbench.specs.EvalSpec`
    (``progress``: a download bar for the default detector boxes when not None)."""
    from kbench.cards import get_card

    card = get_card(spec.model)
    data = resolve_data(spec, card)
    flip = spec.flip_for(card)
    if not card.top_down:
        return _prepare_bottom_up(spec, card, data, flip)
    if card.dataset == "mpii":
        return _prepare_mpii(spec, card, data, flip)
    return _prepare_coco(spec, card, data, spec.box_source(card), flip, progress)


def part_bounds(num_images: int, part: int, parts: int) -> tuple[int, int]:
    """Images ``[start, end)`` of ``part`` of ``parts`` contiguous, near-equal parts."""
    if not (parts >= 1 and 0 <= part < parts):
        raise ValueError(f"part {part} of {parts}")
    edges = np.linspace(0, num_images, parts + 1).round().astype(int)
    return int(edges[part]), int(edges[part + 1])


def infer_model_eval(spec, job: ModelEvalJob, part: int = 0, parts: int = 1, progress=None) -> InferenceOutput:
    """Run the model on ``part`` of ``parts`` of the job's images (all of them by default).

    On another machine the data may sit elsewhere (the generated sample is generated again where it runs):
    image paths are moved from the job's folder to this machine's.
    """
    from kbench.cards import get_card
    from kbench.pipelines.topdown_run import StageTimes

    card = get_card(job.card_name)
    start, end = part_bounds(job.num_images, part, parts)
    here = str(resolve_data(spec, card).image_dir)
    times = StageTimes()
    if job.flow == "bottom_up":
        paths = [_rebase(p, job.image_dir, here) for p in job.image_paths[start:end]]
        ids, kps, scores, desc, weights = _infer_bottom_up(spec, card, job.image_ids[start:end], paths, job.flip,
                                                           times, progress)
        return InferenceOutput(part, kps, times, desc, weights, image_ids=ids, scores=scores)
    plan = job.plan.images(start, end)
    if here != job.image_dir:
        plan.image_paths = [_rebase(p, job.image_dir, here) for p in plan.image_paths]
    keypoints, desc, weights = _infer_top_down(spec, card, plan, job.flip, times, progress)
    return InferenceOutput(part, keypoints, times, desc, weights)


def _rebase(path: str, old: str, new: str) -> str:
    return new + path[len(old):] if path.startswith(old) else path


def finish_model_eval(spec, job: ModelEvalJob, outputs: list) -> Record:
    """Merge the parts' outputs in image order, then rescore, NMS and evaluate as one run does.

    Parts are contiguous runs of images, so concatenating them gives the arrays of a single run: the metrics are
    the same to the last bit.
    """
    from kbench.cards import get_card

    card = get_card(job.card_name)
    outputs = sorted(outputs, key=lambda o: o.part)
    times = _merge_times([o.times for o in outputs])
    first = outputs[0]
    if job.flow == "bottom_up":
        ids = np.concatenate([o.image_ids for o in outputs])
        kps = np.concatenate([o.keypoints for o in outputs])
        scores = np.concatenate([o.scores for o in outputs])
        return _finish_bottom_up(spec, card, job, ids, kps, scores, times, first.runtime, first.weights)
    keypoints = np.concatenate([o.keypoints for o in outputs])
    if job.flow == "mpii":
        return _finish_mpii(spec, card, job, keypoints, times, first.runtime, first.weights)
    if job.flow == "pck":
        return _finish_pck(spec, card, job, keypoints, times, first.runtime, first.weights)
    return _finish_coco(spec, card, job, keypoints, times, first.runtime, first.weights)


def _merge_times(parts: list):
    """One stage split from the parts': time and counts summed, wall time the longest part's (they run at once)."""
    from kbench.pipelines.topdown_run import StageTimes

    if len(parts) == 1:
        return parts[0]
    merged = StageTimes()
    for t in parts:
        for name in ("decode_crop_s", "wait_s", "batching_s", "runtime_s", "postprocess_s", "nms_s", "eval_s",
                     "images", "persons", "runtime_calls"):
            setattr(merged, name, getattr(merged, name) + getattr(t, name))
    merged.wall_s = max(t.wall_s for t in parts)
    merged.extra = {"parts": len(parts)}
    return merged


def _load_adapter(spec, card, batch: int):
    from kbench.adapters.base import get_adapter

    adapter = get_adapter(spec.backend)
    adapter.load(card, weights=spec.weights, device=spec.device, precision=spec.precision, batch=batch,
                 threads=spec.threads)
    return adapter


def warm_runtime(spec) -> None:
    """Load the spec's runtime once and close it: builds the exported artifact into this machine's cache."""
    from kbench.cards import get_card

    card = get_card(spec.model)
    _load_adapter(spec, card, spec.batch if card.top_down else 1).close()


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


def _protocol(card, spec, bbox, det_desc, flip) -> dict:
    ev = card.eval
    p = {"model": card.name if card.packaged else card.ref, "paradigm": card.paradigm, "dataset": card.dataset,
         "input_size": list(card.input_size),
         "flip": flip, "backend": spec.backend, "device": spec.device, "precision": spec.precision}
    if card.top_down:
        p.update(shift_heatmap=bool(ev.shift_heatmap and flip), use_dark=ev.use_dark, udp=ev.udp,
                 pixel_std=200, box_padding=1.25)
        if card.dataset == "coco" and card.evaluation == "pck":
            p.update(bbox=bbox, num_joints=card.num_joints, metric=card.metric)
        elif card.dataset == "coco":
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
    if card.evaluation == "pck":
        where = "a user's card: no published figure" if not card.packaged else "no published PCK"
        return f"PCK {stats.get('PCK', float('nan')):.4f} ({where})"
    if card.dataset == "mpii":
        got, ref, name = stats.get("PCKh"), pub.pckh, "PCKh@0.5"
        ours = f"{got:.2f}" if got is not None else "?"
    else:
        got, ref, name = stats.get("AP"), pub.ap, "AP"
        ours = f"{100 * got:.1f}" if got is not None else "?"
    if ref is None:
        return f"{name} {ours}; the zoo README publishes no {name} for {card.name}"
    boxes = {"gt": "ground-truth boxes", "detector": "detector boxes"}.get(pub.boxes, pub.boxes or "")
    same = bbox is None or pub.boxes is None or pub.boxes == bbox
    note = "" if same else f"; published with {boxes}: not the same protocol"
    where = f" with {boxes}" if boxes and same else ""
    return f"{name} {ours} here; published {ref}{where} (zoo README){note}"


def _weights_label(adapter, spec) -> dict:
    w = adapter.describe().get("weights")
    if isinstance(w, dict):
        return w
    return {"spec": spec.weights, "random": spec.weights == "random"}


def _finish(spec, card, stats: dict, summary: str, protocol: dict, evaluator: str, inputs: dict, times,
            results_rows: list, weights: dict, adapter_desc: dict, bbox) -> Record:
    from kbench.bench.records import describe_input

    synthetic = bool(inputs.get("sample"))
    options = {**protocol, "batch": spec.batch, "limit": spec.limit, "weights": weights, "evaluator": evaluator,
               "stages_s": times.as_dict(), "runtime": {k: adapter_desc.get(k) for k in
                                                        ("runtime", "version", "providers", "threads")
                                                        if k in adapter_desc}}
    if synthetic:
        options["data"] = "synthetic sample (drawn figures, not real data)"
    outputs = {}
    if spec.results:
        path = Path(spec.results)
        _write_results(path, results_rows)
        inputs = {**inputs, "results": describe_input(path)}
        outputs["results"] = path
    else:
        outputs["results_rows"] = results_rows
    labels = []
    if synthetic:
        labels.append("SYNTHETIC DATA (drawn figures)")
    if weights.get("random"):
        labels.append("RANDOM WEIGHTS")
    lines = [f"[{' + '.join(labels)}: these numbers say nothing about the model's real accuracy]"] if labels else []
    lines += [summary, _published_line(card, stats, bbox), _protocol_line(protocol, evaluator), times.summary()]
    return spec_record(spec, stats, inputs, options, "\n".join(lines), outputs)


def _infer_top_down(spec, card, plan, flip: bool, times, progress) -> tuple:
    """Keypoints of every planned crop, the runtime's description and the weights' label.

    The worker pool starts before the runtime loads: workers forked from a process with a framework's thread pools
    loaded are not safe.
    """
    from kbench.pipelines.topdown_run import crop_prefetcher, run_top_down

    with crop_prefetcher(card, workers=spec.workers, batch=spec.batch) as prefetcher:
        adapter = _load_adapter(spec, card, spec.batch)
        try:
            keypoints = run_top_down(adapter, card, plan, prefetcher, batch=spec.batch, flip=flip,
                                     progress=progress, times=times)
            return keypoints, adapter.describe(), _weights_label(adapter, spec)
        finally:
            adapter.close()


def _per_keypoint(gt, dets, opts) -> dict:
    """``AP.<joint>``: each joint's AP alone (a diagnostic for the report's per-keypoint bars)."""
    from kbench.evaluators.coco_keypoints import per_keypoint_ap

    return {} if opts.flavour == "crowdpose" else per_keypoint_ap(gt, dets, opts)


def _load_gt(spec, data: DataFiles, card=None):
    from kbench.datasets.coco import load_coco_keypoints

    gt = load_coco_keypoints(data.ann)
    if card is not None and gt.keypoints.shape[1] != card.num_joints:
        raise InputError(f"{data.ann}: the annotations have {gt.keypoints.shape[1]} keypoints per person, but "
                         f"{card.name} predicts {card.num_joints} (num_joints)")
    if spec.limit:
        gt = gt.subset(gt.image_ids[:spec.limit])
    return gt


def _sample_inputs(data: DataFiles) -> dict:
    from kbench.bench.records import describe_input

    inputs = {"ann": describe_input(data.ann)}
    if data.sample is not None:
        inputs["sample"] = data.sample.describe()
    return inputs


def _prepare_coco(spec, card, data: DataFiles, bbox: str, flip: bool, progress=None) -> ModelEvalJob:
    from kbench.bench.records import describe_input
    from kbench.pipelines.topdown_run import check_images, plan_from_detections, plan_from_gt

    gt = _load_gt(spec, data, card)
    inputs = _sample_inputs(data)
    det_desc = None
    if card.evaluation == "pck" and bbox != "gt":
        raise InputError(f"{card.name} is evaluated by {card.metric} (PCK/AUC/EPE per ground-truth instance): it "
                         f"needs ground-truth boxes, not --bbox {bbox}")
    if bbox == "detector":
        from kbench.datasets.boxes import load_detector_boxes

        det_path, det_source = detections_path(spec.det_file, data, progress=progress is not None)
        boxes = load_detector_boxes(det_path)
        boxes = boxes.select(np.isin(boxes.image_id, gt.image_ids))
        plan = plan_from_detections(boxes, gt, data.image_dir, card.input_size, card.eval.image_thre)
        from kbench.weights.download import verification

        det_desc = {**describe_input(det_path), "source": det_source}
        if verification(det_path):
            det_desc["verification"] = verification(det_path)
        inputs["detections"] = det_desc
    else:
        plan = plan_from_gt(gt, data.image_dir, card.input_size)
    check_images(plan.image_paths, COCO_LAYOUT)
    flow = "pck" if card.evaluation == "pck" else "coco"
    return ModelEvalJob(card.ref, flow, str(data.image_dir), flip, bbox=bbox, gt=gt, plan=plan, inputs=inputs,
                        det_desc=det_desc)


def _finish_coco(spec, card, job: ModelEvalJob, keypoints, times, desc, weights) -> Record:
    from kbench.datasets.coco import KeypointDetections
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints
    from kbench.pipelines.oks_nms import rescore_and_nms

    gt, plan, bbox, flip = job.gt, job.plan, job.bbox, job.flip
    opts = spec.coco_options(card)
    t0 = time.perf_counter()
    keep, scores = rescore_and_nms(keypoints, plan.box_scores, plan.areas, plan.person_image_ids,
                                   vis_thr=RESCORE_VIS_THR, oks_thr=NMS_OKS_THR,
                                   sigmas=opts.sigma_array(card.num_joints))
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
    protocol = _protocol(card, spec, bbox, job.det_desc, flip)
    evaluator = f"COCO OKS AP (kbench engine, {opts.flavour} semantics)"
    header = (f"{card.name}: {len(gt.image_ids)} images, {len(plan)} person crops "
              f"({plan.source}), {len(keep)} after OKS-NMS")
    return _finish(spec, card, stats, header + "\n" + res.summary, {**protocol, **opts.describe()}, evaluator,
                   job.inputs, times, rows, weights, desc, bbox)


PCK_THR = 0.2  # KeyPointTopDownCOCOWholeBadyHandEval.evaluate: pck_thr (of the box's longer side)
AUC_NORM = 30  # and auc_nor: AUC of PCK over 0..30 pixels


def _finish_pck(spec, card, job: ModelEvalJob, keypoints, times, desc, weights) -> Record:
    """PaddleDetection's ``KeyPointTopDownCOCOWholeBadyHandEval``: one prediction per ground-truth instance (its box's
    crop), PCK at 0.2 of the box's longer side, AUC of PCK up to 30 pixels, EPE in pixels; joints labelled in the
    annotation count, no rescoring or NMS."""
    from kbench.evaluators.pck import bbox_normalizer, epe, pck_accuracy, pck_auc

    gt, plan = job.gt, job.plan
    t0 = time.perf_counter()
    ann = plan.ann_index
    truth = gt.keypoints[ann]
    pred = keypoints[:, :, :2].astype(np.float64)
    mask = truth[:, :, 2] > 0
    per_joint, pck, counted = pck_accuracy(pred, truth[:, :, :2], mask, PCK_THR, bbox_normalizer(gt.bbox[ann]))
    stats = {"PCK": pck, "AUC": pck_auc(pred, truth[:, :, :2], mask, AUC_NORM),
             "EPE": epe(pred, truth[:, :, :2], mask)}
    stats.update({f"PCK.k{k}": float(v) for k, v in enumerate(per_joint) if v >= 0})
    times.eval_s += time.perf_counter() - t0
    times.wall_s += time.perf_counter() - t0
    scores = keypoints[:, :, 2].mean(axis=1)
    rows = _coco_results(plan.person_image_ids, keypoints, scores, plan.centers, plan.scales)
    protocol = {**_protocol(card, spec, "gt", None, job.flip), "pck": {"thr": PCK_THR, "normalizer": "bbox max side",
                                                                     "auc_norm_px": AUC_NORM}}
    evaluator = (f"{card.metric}: PCK@{PCK_THR} (box's longer side), AUC (0-{AUC_NORM} px), EPE (px); one prediction "
                 f"per ground-truth instance, no rescoring or NMS")
    summary = (f"{card.name}: {len(gt.image_ids)} images, {len(plan)} instances (ground-truth boxes), {counted} "
               f"joints counted\nPCK {stats['PCK']:.4f}  AUC {stats['AUC']:.4f}  EPE {stats['EPE']:.3f} px")
    return _finish(spec, card, stats, summary, protocol, evaluator, job.inputs, times, rows, weights, desc, "gt")


def _prepare_mpii(spec, card, data: DataFiles, flip: bool) -> ModelEvalJob:
    from kbench._fileio import read_json
    from kbench.bench.records import describe_input
    from kbench.evaluators.mpii_pckh import load_mpii_gt
    from kbench.pipelines.topdown_run import check_images, plan_from_mpii

    entries = read_json(data.ann)
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{data.ann}: expected HRNet's MPII JSON, a non-empty list of annotations")
    gt = load_mpii_gt(data.mpii_gt)
    if len(gt) != len(entries):
        raise InputError(f"{data.mpii_gt}: {len(gt)} people, but {data.ann} lists {len(entries)}; the ground truth "
                         f"must be the same people in the same order")
    plan = plan_from_mpii(entries, data.image_dir, str(data.ann))
    check_images(plan.image_paths, MPII_LAYOUT)
    inputs = {"ann": describe_input(data.ann), "mpii_gt": describe_input(data.mpii_gt)}
    return ModelEvalJob(card.ref, "mpii", str(data.image_dir), flip, plan=plan, entries=entries, mpii_gt=gt,
                        inputs=inputs)


def _finish_mpii(spec, card, job: ModelEvalJob, keypoints, times, desc, weights) -> Record:
    from kbench.evaluators.mpii_pckh import evaluate_mpii_pckh

    entries, plan = job.entries, job.plan
    t0 = time.perf_counter()
    res = evaluate_mpii_pckh(job.mpii_gt, keypoints[:, :, :2].astype(np.float64))
    times.eval_s += time.perf_counter() - t0
    times.wall_s += time.perf_counter() - t0
    rows = [{"image": e["image"], "preds": keypoints[i].tolist(), "center": plan.centers[i].tolist(),
             "scale": plan.scales[i].tolist()} for i, e in enumerate(entries)]
    protocol = _protocol(card, spec, None, None, job.flip)
    evaluator = "MPII PCKh@0.5 (head size 0.6 x head-box diagonal; PCKh@0.1_paddledet is PaddleDetection's 0.11)"
    header = f"{card.name}: {len(entries)} people (MPII annotated centre/scale)"
    return _finish(spec, card, res.stats, header + "\n" + res.summary, protocol, evaluator, job.inputs, times, rows,
                   weights, desc, None)


def _prepare_bottom_up(spec, card, data: DataFiles, flip: bool) -> ModelEvalJob:
    from kbench.pipelines.topdown_run import check_images

    gt = _load_gt(spec, data, card)
    if gt.image_files is None:
        raise InputError(f"{data.ann}: the annotation file lists no image file names")
    paths = [str(data.image_dir / f) for f in gt.image_files]
    check_images(paths, COCO_LAYOUT)
    return ModelEvalJob(card.ref, "bottom_up", str(data.image_dir), flip, gt=gt, image_ids=np.asarray(gt.image_ids),
                        image_paths=paths, inputs=_sample_inputs(data))


def _infer_bottom_up(spec, card, image_ids, paths, flip, times, progress):
    from kbench.pipelines.bottomup_run import bottom_up_prefetcher, run_bottom_up_images

    # Bottom-up inputs differ in size from image to image: one image per runtime call, as PaddleDetection runs them.
    with bottom_up_prefetcher(card, workers=spec.workers) as prefetcher:
        adapter = _load_adapter(spec, card, 1)
        try:
            ids, keypoints, scores = run_bottom_up_images(adapter, card, image_ids, paths, prefetcher, flip=flip,
                                                          progress=progress, times=times)
            return ids, keypoints, scores, adapter.describe(), _weights_label(adapter, spec)
        finally:
            adapter.close()


def _finish_bottom_up(spec, card, job: ModelEvalJob, image_ids, keypoints, scores, times, desc, weights) -> Record:
    from kbench.datasets.coco import KeypointDetections
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints

    gt = job.gt
    opts = spec.coco_options(card)
    t0 = time.perf_counter()
    dets = KeypointDetections.from_arrays(image_ids, keypoints, scores)
    res = evaluate_coco_keypoints(gt, dets, opts)
    stats = {**res.stats, **_per_keypoint(gt, dets, opts)}
    times.eval_s += time.perf_counter() - t0
    times.wall_s += time.perf_counter() - t0
    rows = _coco_results(image_ids, keypoints, scores)
    protocol = _protocol(card, spec, None, None, job.flip)
    evaluator = f"COCO OKS AP (kbench engine, {opts.flavour} semantics; grouping scores, no rescoring or NMS)"
    header = f"{card.name}: {len(gt.image_ids)} images, {len(dets)} people grouped"
    return _finish(spec, card, stats, header + "\n" + res.summary, {**protocol, **opts.describe()}, evaluator,
                   job.inputs, times, rows, weights, desc, None)
