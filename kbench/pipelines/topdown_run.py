"""Top-down evaluation as PaddleDetection runs it: person boxes -> crops -> runtime -> keypoints -> rescoring/NMS.

Three stages, each where it costs least:

* worker processes decode each image and cut its person crops (PaddleDetection's eval affine transform, UDP
  where the card selects it), normalised to float32 NCHW (:mod:`kbench.pipelines.prefetch`);
* the main process batches crops across images and calls the runtime (with the mirrored batch when the
  card flips at test time);
* heatmaps are merged and decoded for a whole batch at once (:mod:`kbench.pipelines.heatmaps`), and at the end
  every person is rescored and OKS-NMS'd per image in one vectorised pass (:mod:`kbench.pipelines.oks_nms`).

:class:`PersonPlan` says which crops to make: from ground-truth boxes, detector boxes or MPII's centre/scale.
:class:`StageTimes` records where the wall time went.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kbench.errors import InputError

__all__ = ["PersonPlan", "StageTimes", "plan_from_gt", "plan_from_detections", "plan_from_mpii", "run_top_down",
           "crop_prefetcher",
           "check_images"]

PIXEL_STD = 200.0  # PaddleDetection's scale unit: a scale of 1 is 200 pixels


@dataclass
class PersonPlan:
    """The person crops of an evaluation.

    Attributes:
        image_ids: (I,) ids of the images that have at least one person to crop, in evaluation order.
        image_paths: (I,) their files.
        person_image: (P,) index into ``image_ids`` of each person, grouped by image in order.
        centers: (P, 2) float32 box centres (pixels).
        scales: (P, 2) float32 box sizes in units of 200 pixels, aspect-fixed and padded.
        box_scores: (P,) detector score (1 for ground-truth boxes, as PaddleDetection sets it).
        source: what the boxes are, for the protocol line.
        ann_index: (P,) index of each person's annotation in the ground truth (ground-truth boxes only), or None.
    """

    image_ids: np.ndarray
    image_paths: list
    person_image: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    box_scores: np.ndarray
    source: str = ""
    ann_index: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.person_image.shape[0])

    @property
    def person_image_ids(self) -> np.ndarray:
        """(P,) the image id of each person."""
        return self.image_ids[self.person_image]

    @property
    def areas(self) -> np.ndarray:
        """(P,) box areas as PaddleDetection's evaluator takes them for OKS-NMS: prod(scale x 200)."""
        return np.prod(self.scales.astype(np.float64) * PIXEL_STD, axis=1)

    def tasks(self):
        """One task per image: (image position, path, centres, scales) for the worker processes."""
        bounds = np.flatnonzero(np.diff(self.person_image)) + 1
        starts = np.concatenate([[0], bounds]) if len(self) else np.zeros(0, np.int64)
        ends = np.concatenate([bounds, [len(self)]]) if len(self) else np.zeros(0, np.int64)
        for s, e in zip(starts, ends):
            i = int(self.person_image[s])
            yield i, self.image_paths[i], self.centers[s:e], self.scales[s:e]

    def images(self, start: int, end: int) -> PersonPlan:
        """The plan for its images ``[start, end)`` (their people are a contiguous run: grouped by image)."""
        keep = (self.person_image >= start) & (self.person_image < end)
        return PersonPlan(self.image_ids[start:end], list(self.image_paths[start:end]), self.person_image[keep] - start,
                          self.centers[keep], self.scales[keep], self.box_scores[keep], self.source,
                          None if self.ann_index is None else self.ann_index[keep])

    def limit(self, num_images: int) -> PersonPlan:
        """The plan for its first ``num_images`` images."""
        keep = self.person_image < num_images
        return PersonPlan(self.image_ids[:num_images], self.image_paths[:num_images], self.person_image[keep],
                          self.centers[keep], self.scales[keep], self.box_scores[keep], self.source,
                          None if self.ann_index is None else self.ann_index[keep])


@dataclass
class StageTimes:
    """Where the wall time of an evaluation went (seconds).

    ``decode_crop_s`` is spent in worker processes, in parallel with the rest; ``wait_s`` is the part of it the
    main process waited for. Everything in the main process other than ``runtime_s`` is the pipeline's own cost.
    """

    decode_crop_s: float = 0.0
    wait_s: float = 0.0
    batching_s: float = 0.0
    runtime_s: float = 0.0
    postprocess_s: float = 0.0
    nms_s: float = 0.0
    eval_s: float = 0.0
    wall_s: float = 0.0
    images: int = 0
    persons: int = 0
    runtime_calls: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def outside_runtime_fraction(self) -> float:
        """Share of the wall time not spent inside the runtime call."""
        return 0.0 if self.wall_s <= 0 else max(0.0, self.wall_s - self.runtime_s) / self.wall_s

    def as_dict(self) -> dict:
        """The split as a flat mapping (seconds, counts and the outside-runtime share)."""
        out = {k: round(float(getattr(self, k)), 6) for k in ("decode_crop_s", "wait_s", "batching_s", "runtime_s",
                                                              "postprocess_s", "nms_s", "eval_s", "wall_s")}
        out.update(images=self.images, persons=self.persons, runtime_calls=self.runtime_calls,
                   outside_runtime_fraction=round(self.outside_runtime_fraction, 4), **self.extra)
        return out

    def summary(self) -> str:
        """One line: wall time, images/s and the share of each stage."""
        w = self.wall_s or 1.0
        parts = [f"runtime {100 * self.runtime_s / w:.1f}%", f"waiting for crops {100 * self.wait_s / w:.1f}%",
                 f"batching {100 * self.batching_s / w:.1f}%", f"heatmap decoding {100 * self.postprocess_s / w:.1f}%",
                 f"rescoring+NMS {100 * self.nms_s / w:.1f}%", f"evaluation {100 * self.eval_s / w:.1f}%"]
        rate = self.images / self.wall_s if self.wall_s > 0 else 0.0
        return (f"time: {self.wall_s:.2f} s for {self.images} images / {self.persons} people ({rate:.1f} images/s); "
                + ", ".join(parts) + f"; decode+crop in workers {self.decode_crop_s:.2f} s")


def check_images(paths: list, layout_hint: str) -> None:
    """One clear line when image files are missing, naming the expected layout."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise InputError(f"{len(missing)} of {len(paths)} images not found, e.g. {missing[0]}; {layout_hint}")


def _image_path(image_dir: Path, name: str) -> str:
    return str(image_dir / name)


def plan_from_gt(gt, image_dir: str | os.PathLike, input_size) -> PersonPlan:
    """Crops from the ground-truth boxes as PaddleDetection's ``use_gt_bbox`` path makes them.

    Non-crowd annotations with a positive area, a box that survives clipping to the image and at least one
    labelled keypoint (``max(keypoints) > 0``); each box clipped, centre/scale with the aspect fix and 1.25 padding.
    """
    from kbench.pipelines.crops import clean_gt_boxes

    if gt.image_files is None or gt.image_sizes is None:
        raise InputError(f"{gt.source}: the annotation file lists no image file names and sizes")
    pos = {int(i): k for k, i in enumerate(gt.image_ids)}
    img_index = np.array([pos.get(int(i), -1) for i in gt.ann_image_id], dtype=np.int64)
    sizes = gt.image_sizes[np.maximum(img_index, 0)]
    boxes, keep = clean_gt_boxes(np.nan_to_num(gt.bbox), sizes[:, 0], sizes[:, 1], np.nan_to_num(gt.area),
                                 keypoints=gt.keypoints, iscrowd=gt.iscrowd)
    keep &= img_index >= 0
    return _plan(gt, image_dir, img_index[keep], boxes[keep], np.ones(int(keep.sum())), input_size,
                 "ground-truth boxes", ann_index=np.flatnonzero(keep))


def _plan(gt, image_dir, person_img, boxes, scores, input_size, source, ann_index=None) -> PersonPlan:
    from kbench.pipelines.crops import box_to_center_scale

    order = np.argsort(person_img, kind="stable")  # group persons by image, images in the file's order
    person_img, boxes, scores = person_img[order], boxes[order], scores[order]
    ann_index = None if ann_index is None else ann_index[order]
    used = np.unique(person_img)
    remap = np.full(len(gt.image_ids), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    centers, scales = box_to_center_scale(boxes, input_size[0] / input_size[1])
    image_dir = Path(image_dir)
    return PersonPlan(image_ids=gt.image_ids[used], image_paths=[_image_path(image_dir, gt.image_files[i])
                                                                 for i in used],
                      person_image=remap[person_img], centers=centers, scales=scales,
                      box_scores=np.asarray(scores, dtype=np.float64), source=source, ann_index=ann_index)


def plan_from_detections(boxes, gt, image_dir: str | os.PathLike, input_size, image_thre: float) -> PersonPlan:
    """Crops from detector boxes as PaddleDetection's ``use_gt_bbox: false`` path makes them.

    Person boxes (category 1) scoring at least ``image_thre``, unclipped; boxes of images the annotation file
    does not list are refused (the evaluation could not score them).
    """
    keep = boxes.score >= image_thre
    sel = boxes.select(keep)
    pos = {int(i): k for k, i in enumerate(gt.image_ids)}
    img_index = np.array([pos.get(int(i), -1) for i in sel.image_id], dtype=np.int64)
    if (img_index < 0).any():
        bad = int(sel.image_id[np.flatnonzero(img_index < 0)[0]])
        raise InputError(f"detector boxes for image id {bad}, which the annotation file does not list; "
                         f"use the detections of the same image set")
    return _plan(gt, image_dir, img_index, sel.bbox, sel.score, input_size,
                 f"detector boxes (score >= {image_thre})")


def plan_from_mpii(entries: list, image_dir: str | os.PathLike, source: str = "<memory>") -> PersonPlan:
    """Crops from MPII's annotated centre and scale, adjusted as PaddleDetection's MPII reader does.

    ``c[1] += 15 * s``, ``s *= 1.25`` (unless the centre is -1), then ``c -= 1`` (MATLAB's 1-based pixels).
    """
    from kbench.pipelines.crops import mpii_center_scale

    try:
        c = np.asarray([e["center"] for e in entries], dtype=np.float64).reshape(len(entries), 2)
        s = np.asarray([e["scale"] for e in entries], dtype=np.float64).reshape(len(entries))
        names = [str(e["image"]) for e in entries]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{source}: every MPII entry needs 'image', 'center' [x, y] and 'scale'") from None
    c, s2 = mpii_center_scale(c, s)
    # Every person is its own crop, in annotation order (the PCKh evaluator pairs them by position).
    image_dir = Path(image_dir)
    return PersonPlan(image_ids=np.arange(len(entries), dtype=np.int64),
                      image_paths=[_image_path(image_dir, n) for n in names],
                      person_image=np.arange(len(entries), dtype=np.int64), centers=c, scales=s2,
                      box_scores=np.ones(len(entries)), source="MPII annotated centre and scale")


# -- worker side -------------------------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_crop_worker(input_size, udp: bool, normalize) -> None:
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from the worker processes; OpenCV's own threads would oversubscribe
    from kbench.pipelines.crops import normalization_lut

    _WORKER.update(input_size=tuple(input_size), udp=bool(udp), normalize=normalize, lut=normalization_lut(normalize))


def _read_rgb(path: str) -> np.ndarray:
    import cv2

    # PaddleDetection decodes with OpenCV (BGR) and converts to RGB; imread and imdecode give the same pixels.
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _crop_task(task) -> tuple:
    from kbench.pipelines.crops import crop_batch, normalize_batch

    t0 = time.perf_counter()
    index, path, centers, scales = task
    crops = crop_batch(_read_rgb(path), centers, scales, _WORKER["input_size"], _WORKER["udp"])
    batch = normalize_batch(crops, _WORKER["normalize"], _WORKER["lut"])
    return index, batch, time.perf_counter() - t0


# -- main side ---------------------------------------------------------------------------------------------------

def crop_prefetcher(card, udp: bool | None = None, workers: int | None = None, batch: int = 32):
    """The worker pool that decodes images and cuts the card's crops.

    Enter it (``with``) before loading a runtime: the workers are forked from a process that has not yet
    started a framework's thread pools, which are not fork-safe.

    Up to two batches' worth of images (at least 8, at most 64) are decoded ahead: while the runtime runs one
    batch, the workers must already be filling the next, or the main process waits for crops after every call.
    """
    from kbench.pipelines.prefetch import OrderedPrefetcher

    udp = card.eval.udp if udp is None else udp
    return OrderedPrefetcher(_crop_task, _init_crop_worker, (tuple(card.input_size), udp, card.normalize),
                             workers=workers, window=max(8, min(64, 2 * batch)),
                             what="decoding and cropping images for the model")


def run_top_down(adapter, card, plan: PersonPlan, prefetcher, batch: int = 32, flip: bool | None = None,
                 progress=None, times: StageTimes | None = None) -> np.ndarray:
    """Keypoints of every planned person: (P, J, 3) x, y in image pixels and the heatmap maximum.

    Args:
        adapter: a loaded runtime adapter for ``card``.
        card: the model card (input size, flip pairs, DARK/UDP, normalisation).
        plan: the crops.
        prefetcher: an entered :func:`crop_prefetcher` for the card.
        batch: crops per runtime call (the mirrored batch is a second call of the same size).
        flip: test-time flip; the card's setting when None.
        progress: a :mod:`kbench.progress` callback (images done of all), True for a terminal bar, None: silent.
        times: filled with the stage split when given.
    """
    from kbench.pipelines.crops import flip_images
    from kbench.pipelines.heatmaps import decode_heatmaps, merge_flip
    from kbench.progress import tracker

    ev = card.eval
    flip = ev.flip if flip is None else bool(flip)
    times = times if times is not None else StageTimes()
    num_joints = card.num_joints
    out = np.zeros((len(plan), num_joints, 3), dtype=np.float32)
    buffered: list = []
    buffered_rows = 0
    done = 0

    def run_batch(x: np.ndarray, start: int) -> None:
        t0 = time.perf_counter()
        heatmaps = adapter.run(x).heatmaps
        times.runtime_calls += 1
        if flip:
            t_flip = time.perf_counter()
            mirrored = flip_images(x)
            times.batching_s += time.perf_counter() - t_flip
            t_run = time.perf_counter()
            heatmaps_flipped = adapter.run(mirrored).heatmaps
            times.runtime_calls += 1
            t1 = time.perf_counter()
            times.runtime_s += (t_flip - t0) + (t1 - t_run)
            heatmaps = merge_flip(heatmaps, heatmaps_flipped, card.flip_pairs, ev.shift_heatmap)
        else:
            t1 = time.perf_counter()
            times.runtime_s += t1 - t0
        end = start + x.shape[0]
        coords, maxvals = decode_heatmaps(heatmaps, plan.centers[start:end], plan.scales[start:end],
                                          use_dark=ev.use_dark)
        out[start:end, :, :2] = coords
        out[start:end, :, 2:3] = maxvals.reshape(x.shape[0], num_joints, 1)
        times.postprocess_s += time.perf_counter() - t1

    wall0 = time.perf_counter()
    bar = tracker(progress, f"{card.name} ({adapter.name})", len(plan.image_ids), "img")
    wait0 = prefetcher.wait_s
    try:
        for _, crops, seconds in prefetcher.map(plan.tasks()):
            times.decode_crop_s += seconds
            buffered.append(crops)
            buffered_rows += crops.shape[0]
            bar.update(1)
            while buffered_rows >= batch:
                t0 = time.perf_counter()
                stacked = buffered[0] if len(buffered) == 1 else np.concatenate(buffered)
                x, rest = stacked[:batch], stacked[batch:]
                buffered = [rest] if rest.shape[0] else []
                buffered_rows = rest.shape[0]
                times.batching_s += time.perf_counter() - t0
                run_batch(x, done)
                done += x.shape[0]
        if buffered_rows:
            t0 = time.perf_counter()
            x = buffered[0] if len(buffered) == 1 else np.concatenate(buffered)
            times.batching_s += time.perf_counter() - t0
            run_batch(x, done)
            done += x.shape[0]
        times.wait_s += prefetcher.wait_s - wait0
    finally:
        bar.close()
    if prefetcher.workers == 0:
        times.wait_s += times.decode_crop_s  # in-process: decoding is on the main path
    times.wall_s += time.perf_counter() - wall0
    times.images += len(plan.image_ids)
    times.persons += len(plan)
    return out
