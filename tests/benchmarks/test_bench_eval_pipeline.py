"""The evaluation pipeline must not starve the runtime: at most 15% of the wall time outside the runtime call.

tinypose_128x96 (the zoo's smallest model, so the hardest case for this goal) on ONNX Runtime CPU, over a
generated sample of real JPEG files with ground-truth boxes: image decoding and cropping (in worker processes),
batching, flip, heatmap decoding (DARK), rescoring, OKS-NMS and the COCO evaluation all count against the
pipeline. The split is printed and stored in the benchmark's ``extra_info``.

The peer here is the runtime itself in the same run: the assertion is a ratio of two parts of one measurement,
not a time.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _evaluate(card, sample, adapter, prefetcher, batch):
    import time

    from kbench.datasets.coco import KeypointDetections, load_coco_keypoints
    from kbench.evaluators.coco_keypoints import evaluate_coco_keypoints
    from kbench.pipelines.oks_nms import rescore_and_nms
    from kbench.pipelines.topdown_run import StageTimes, plan_from_gt, run_top_down

    t0 = time.perf_counter()
    gt = load_coco_keypoints(sample.ann_file)
    plan = plan_from_gt(gt, sample.image_dir, card.input_size)
    times = StageTimes()
    keypoints = run_top_down(adapter, card, plan, prefetcher, batch=batch, progress=False, times=times)
    t1 = time.perf_counter()
    keep, scores = rescore_and_nms(keypoints, plan.box_scores, plan.areas, plan.person_image_ids)
    t2 = time.perf_counter()
    dets = KeypointDetections.from_arrays(plan.person_image_ids[keep], keypoints[keep], scores[keep])
    evaluate_coco_keypoints(gt, dets)
    t3 = time.perf_counter()
    times.nms_s, times.eval_s = t2 - t1, t3 - t2
    times.wall_s = t3 - t0  # everything, planning and annotation parsing included
    return times


def test_pipeline_overhead_tinypose_ort_cpu(benchmark, tmp_path):
    from kbench.adapters.base import get_adapter
    from kbench.cards import get_card
    from kbench.datasets.sample_images import make_sample_dataset
    from kbench.pipelines.topdown_run import crop_prefetcher

    card = get_card("tinypose_128x96")
    sample = make_sample_dataset(tmp_path / "sample", num_images=120, seed=1)
    batch = 32
    with crop_prefetcher(card, batch=batch) as prefetcher:
        adapter = get_adapter("onnxruntime")
        adapter.load(card, weights="random", batch=batch)
        try:
            _evaluate(card, sample, adapter, prefetcher, batch)  # warm-up: ORT's first runs allocate
            runs = []
            benchmark.pedantic(lambda: runs.append(_evaluate(card, sample, adapter, prefetcher, batch)), rounds=3,
                               iterations=1)
        finally:
            adapter.close()
    best = min(runs, key=lambda t: t.outside_runtime_fraction)
    fractions = [round(t.outside_runtime_fraction, 4) for t in runs]
    benchmark.extra_info.update(best.as_dict())
    benchmark.extra_info["outside_runtime_fractions"] = fractions
    print("\n" + best.summary() + f"\noutside-runtime share per round: {fractions}")
    # The median round, so that one lucky round cannot pass the goal alone.
    assert float(np.median(fractions)) <= 0.15, best.summary()
