"""Bottom-up (HigherHRNet) evaluation as PaddleDetection runs it: whole images -> runtime -> grouped people.

Worker processes decode each image and warp it to the network input (``EvalAffine``: short side to the input
size, long side to a multiple of 64), normalised; the main process runs the image and, with flip, its mirror
image (one image per call: inputs differ in size, and PaddleDetection's post-processing is per image), then
groups joints into people (:func:`kbench.pipelines.bottomup.decode_bottom_up`). As in PaddleDetection's COCO
evaluation of HigherHRNet, each person's score is the grouping's and there is no rescoring or OKS-NMS.
"""

from __future__ import annotations

import time

import numpy as np

from kbench.pipelines.topdown_run import StageTimes, _read_rgb

__all__ = ["bottom_up_prefetcher", "run_bottom_up_images"]

_WORKER: dict = {}


def _init_worker(input_size: int, stride: int, normalize) -> None:
    import cv2

    from kbench.pipelines.crops import normalization_lut

    cv2.setNumThreads(1)
    _WORKER.update(input_size=input_size, stride=stride, normalize=normalize, lut=normalization_lut(normalize))


def _image_task(task) -> tuple:
    from kbench.pipelines.bottomup import resize_for_bottom_up
    from kbench.pipelines.crops import normalize_batch

    t0 = time.perf_counter()
    index, path = task
    resized, transform = resize_for_bottom_up(_read_rgb(path), _WORKER["input_size"], _WORKER["stride"])
    x = normalize_batch(resized[None], _WORKER["normalize"], _WORKER["lut"])
    return index, x, transform, time.perf_counter() - t0


def bottom_up_prefetcher(card, workers: int | None = None):
    """The worker pool that decodes and resizes images for a bottom-up card (enter it before loading a runtime)."""
    from kbench.pipelines.bottomup import BottomUpSettings
    from kbench.pipelines.prefetch import OrderedPrefetcher

    s = BottomUpSettings.from_card(card)
    return OrderedPrefetcher(_image_task, _init_worker, (s.input_size, s.resize_stride, card.normalize),
                             workers=workers, what="decoding and resizing images for the model")


def run_bottom_up_images(adapter, card, image_ids: np.ndarray, image_paths: list, prefetcher,
                         flip: bool | None = None, progress=None, times: StageTimes | None = None):
    """People found in each image: (image ids (P,), keypoints (P, J, 3) in image pixels, scores (P,)).

    Args:
        adapter: a loaded runtime adapter for the bottom-up ``card``.
        card: the model card.
        image_ids: (I,) ids of the images, in order.
        image_paths: (I,) their files.
        prefetcher: an entered :func:`bottom_up_prefetcher`.
        flip: test-time flip; the card's setting when None.
        progress: a :mod:`kbench.progress` callback (images done of all), True for a terminal bar, None: silent.
        times: filled with the stage split when given.
    """
    from dataclasses import replace

    from kbench.pipelines.bottomup import BottomUpSettings, decode_bottom_up
    from kbench.pipelines.crops import flip_images
    from kbench.progress import tracker

    settings = BottomUpSettings.from_card(card)
    flip = settings.flip if flip is None else bool(flip)
    settings = replace(settings, flip=flip)
    times = times if times is not None else StageTimes()
    ids, kps, scores = [], [], []
    wall0 = time.perf_counter()
    wait0 = prefetcher.wait_s
    bar = tracker(progress, f"{card.name} ({adapter.name})", len(image_paths), "img")
    try:
        for index, x, transform, seconds in prefetcher.map(enumerate(image_paths)):
            times.decode_crop_s += seconds
            t0 = time.perf_counter()
            out = adapter.run(x)
            times.runtime_calls += 1
            flipped = None
            if flip:
                t1 = time.perf_counter()
                mirrored = flip_images(x)
                t2 = time.perf_counter()
                flipped = adapter.run(mirrored)
                times.runtime_calls += 1
                t3 = time.perf_counter()
                times.runtime_s += (t1 - t0) + (t3 - t2)
                times.batching_s += t2 - t1
            else:
                t3 = time.perf_counter()
                times.runtime_s += t3 - t0
            people, person_scores = decode_bottom_up(
                out.heatmaps, out.tags, None if flipped is None else flipped.heatmaps,
                None if flipped is None else flipped.tags, settings=settings, transform=transform)
            times.postprocess_s += time.perf_counter() - t3
            if len(people):
                ids.append(np.full(len(people), image_ids[index], dtype=np.int64))
                kps.append(np.asarray(people, dtype=np.float32))
                scores.append(np.asarray(person_scores, dtype=np.float64))
            bar.update(1)
        times.wait_s += prefetcher.wait_s - wait0
    finally:
        bar.close()
    if prefetcher.workers == 0:
        times.wait_s += times.decode_crop_s
    times.wall_s += time.perf_counter() - wall0
    times.images += len(image_paths)
    times.persons += int(sum(len(k) for k in kps))
    j = card.num_joints
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, j, 3), np.float32), np.zeros(0)
    return np.concatenate(ids), np.concatenate(kps), np.concatenate(scores)
