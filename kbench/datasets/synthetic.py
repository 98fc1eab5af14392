"""Seeded, COCO-like keypoint data for tests, benchmarks and the built-in demo.

The generator draws people with realistic sizes and keypoint layouts, then predictions that are
noisy copies of them plus duplicates, false positives, tied scores and images that have predictions
but no people (and the reverse), so every branch of the evaluator is exercised. Nothing here is
real data: it is labelled synthetic wherever it is used.
"""

from __future__ import annotations

import numpy as np

from kbench.datasets.coco import CocoKeypointGroundTruth, KeypointDetections

__all__ = ["make_coco_like", "predictions_from_boxes", "gt_to_coco_dict", "dets_to_results"]

# A rough mean pose in box-relative coordinates (x, y), COCO keypoint order.
_MEAN_POSE = np.array([
    [.50, .08], [.54, .06], [.46, .06], [.58, .08], [.42, .08], [.64, .22], [.36, .22], [.70, .38], [.30, .38],
    [.72, .52], [.28, .52], [.60, .55], [.40, .55], [.61, .75], [.39, .75], [.62, .95], [.38, .95]])


def make_coco_like(num_images: int = 200, seed: int = 0, persons_per_image: float = 3.0,
                   dets_per_person: float = 2.0, num_joints: int = 17, image_id_start: int = 1
                   ) -> tuple[CocoKeypointGroundTruth, KeypointDetections]:
    """Generate ground truth and predictions shaped like COCO val2017 person keypoints.

    Args:
        num_images: images in the set (COCO val2017: 5000).
        seed: the random seed; the same seed gives the same data.
        persons_per_image: mean person annotations per image.
        dets_per_person: mean predictions per annotation (true copies, duplicates and false positives).
        num_joints: keypoints per person (17 for COCO; other values for custom-sigma tests).
        image_id_start: first image id.

    Returns:
        (ground truth, detections).
    """
    rng = np.random.default_rng(seed)
    image_ids = np.arange(image_id_start, image_id_start + num_images, dtype=np.int64)
    # Person counts: many empty images, a long tail of crowded ones (as in COCO).
    counts = rng.poisson(persons_per_image, num_images)
    counts[rng.random(num_images) < 0.25] = 0
    crowded = rng.random(num_images) < 0.03
    counts[crowded] += rng.integers(10, 30, crowded.sum())
    n = int(counts.sum())
    ann_img = np.repeat(image_ids, counts)
    w = np.exp(rng.normal(4.3, 0.8, n)).clip(8, 600)
    h = w * rng.uniform(1.2, 3.0, n)
    x = rng.uniform(0, 640, n)
    y = rng.uniform(0, 480, n)
    pose = _pose(rng, num_joints, n)
    kx = x[:, None] + pose[:, :, 0] * w[:, None]
    ky = y[:, None] + pose[:, :, 1] * h[:, None]
    vis = rng.choice([0, 1, 2], size=(n, num_joints), p=[0.3, 0.15, 0.55])
    no_kpts = rng.random(n) < 0.08
    vis[no_kpts] = 0
    iscrowd = rng.random(n) < 0.02
    vis[iscrowd] = 0
    kp = np.stack([np.where(vis > 0, np.round(kx, 0), 0), np.where(vis > 0, np.round(ky, 0), 0), vis], axis=-1)
    area = np.round(w * h * rng.uniform(0.45, 0.75, n), 2)
    bbox = np.round(np.stack([x, y, w, h], axis=1), 2)
    gt = CocoKeypointGroundTruth(
        image_ids=image_ids, category_ids=np.array([1]), ann_id=np.arange(1, n + 1, dtype=np.int64) * 7 + 100,
        ann_image_id=ann_img, ann_category_id=np.ones(n, np.int64), keypoints=kp.astype(np.float64), area=area,
        bbox=bbox, iscrowd=iscrowd, num_keypoints=np.count_nonzero(vis > 0, axis=1), category_names={1: "person"},
        source="synthetic")

    # Predictions: noisy copies of people (sometimes twice), plus false positives anywhere.
    copies = rng.poisson(dets_per_person * 0.6, n) + (rng.random(n) < 0.7)
    src = np.repeat(np.arange(n), copies)
    m = len(src)
    scale = np.sqrt(np.maximum(area[src], 1.0))[:, None]
    level = rng.choice([0.01, 0.03, 0.08, 0.3], m, p=[.3, .35, .25, .1])
    noise = rng.normal(0, 1, (m, num_joints, 2)) * level[:, None, None] * scale[..., None]
    px = x[src][:, None] + pose[src, :, 0] * w[src][:, None] + noise[..., 0]
    py = y[src][:, None] + pose[src, :, 1] * h[src][:, None] + noise[..., 1]
    n_fp = int(m * 0.25) + int(num_images * 0.2)
    fp_img = rng.choice(image_ids, n_fp)
    fw = np.exp(rng.normal(4.0, 0.8, n_fp)).clip(8, 500)
    fpose = _pose(rng, num_joints, n_fp)
    fx = rng.uniform(0, 640, n_fp)[:, None] + fpose[:, :, 0] * fw[:, None]
    fy = rng.uniform(0, 480, n_fp)[:, None] + fpose[:, :, 1] * fw[:, None] * 2
    all_x = np.concatenate([px, fx])
    all_y = np.concatenate([py, fy])
    total = len(all_x)
    kscore = rng.uniform(0.0, 1.0, (total, num_joints))
    kscore[rng.random(total) < 0.01] = 0.0  # some predictions with no confident keypoint
    # Better predictions tend to score higher, as with a real model; false positives score low.
    quality = np.concatenate([np.exp(-level * 8), np.full(n_fp, 0.3)])
    score = np.clip(quality * rng.uniform(0.5, 1.0, total) + rng.normal(0, 0.1, total), 0.01, 1.0)
    ties = rng.random(total) < 0.2
    score[ties] = np.round(score[ties], 1)  # tied scores within and across images
    det_img = np.concatenate([ann_img[src], fp_img])
    order = rng.permutation(total)
    det_kp = np.stack([all_x, all_y, kscore], axis=-1)[order]
    det_kp[:, :, :2] = np.round(det_kp[:, :, :2], 3)
    det_kp[:, :, 2] = np.round(det_kp[:, :, 2], 4)
    dets = KeypointDetections.from_arrays(det_img[order], det_kp, np.round(score[order], 6))
    return gt, dets


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of x, y, w, h boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def predictions_from_boxes(gt: CocoKeypointGroundTruth, boxes, seed: int = 0) -> KeypointDetections:
    """Keypoint predictions for real detector boxes, as a stand-in for a pose model's output.

    Each box that overlaps an annotated person (box IoU > 0.3) gets that person's labelled keypoints
    plus noise that grows with the person's size (unlabelled ones from a mean pose in the box); other
    boxes get a mean pose in the box. Scores are the detector's, as a top-down pipeline would use them.

    Args:
        gt: the annotations the boxes were detected on.
        boxes: a :class:`~kbench.datasets.boxes.DetectorBoxes`.
        seed: random seed.
    """
    rng = np.random.default_rng(seed)
    k = gt.num_joints
    n = len(boxes)
    base = _pose(rng, k, n)
    kx = boxes.bbox[:, 0:1] + base[:, :, 0] * boxes.bbox[:, 2:3]
    ky = boxes.bbox[:, 1:2] + base[:, :, 1] * boxes.bbox[:, 3:4]
    for img in np.unique(boxes.image_id):
        bsel = np.flatnonzero(boxes.image_id == img)
        gsel = np.flatnonzero((gt.ann_image_id == img) & ~gt.iscrowd & ~np.isnan(gt.bbox).any(axis=1))
        if len(gsel) == 0:
            continue
        iou = _box_iou(boxes.bbox[bsel], gt.bbox[gsel])
        best = iou.argmax(axis=1)
        for bi, gi, ov in zip(bsel, gsel[best], iou.max(axis=1)):
            if ov <= 0.3:
                continue
            vis = gt.keypoints[gi, :, 2] > 0
            size = np.sqrt(max(float(gt.area[gi]) if np.isfinite(gt.area[gi]) else 1.0, 1.0))
            jitter = rng.normal(0, 1, (k, 2)) * size * rng.choice([0.01, 0.03, 0.08])
            kx[bi, vis] = gt.keypoints[gi, vis, 0] + jitter[vis, 0]
            ky[bi, vis] = gt.keypoints[gi, vis, 1] + jitter[vis, 1]
    kscore = rng.uniform(0.05, 1.0, (n, k))
    kp = np.stack([kx, ky, kscore], axis=-1)
    return KeypointDetections.from_arrays(boxes.image_id, kp, boxes.score, boxes.category_id)


def _pose(rng, num_joints: int, n: int) -> np.ndarray:
    if num_joints == len(_MEAN_POSE):
        base = _MEAN_POSE
    else:
        base = np.stack([rng.uniform(0.2, 0.8, num_joints), np.linspace(0.05, 0.95, num_joints)], axis=1)
    return base[None] + rng.normal(0, 0.06, (n, num_joints, 2))


def gt_to_coco_dict(gt: CocoKeypointGroundTruth) -> dict:
    """The ground truth as a COCO annotation dictionary (what ``json.dump`` writes as the file)."""
    k = gt.num_joints
    anns = []
    for i in range(len(gt.ann_id)):
        ann = {
            "id": int(gt.ann_id[i]), "image_id": int(gt.ann_image_id[i]), "category_id": int(gt.ann_category_id[i]),
            "keypoints": [float(v) if j % 3 != 2 else int(v) for j, v in enumerate(gt.keypoints[i].ravel())],
            "num_keypoints": int(gt.num_keypoints[i]), "iscrowd": int(gt.iscrowd[i]),
        }
        if not np.isnan(gt.area[i]):
            ann["area"] = float(gt.area[i])
        if not np.isnan(gt.bbox[i]).any():
            ann["bbox"] = [float(v) for v in gt.bbox[i]]
        anns.append(ann)
    images = [{"id": int(i), "file_name": f"{int(i):012d}.jpg", "width": 640, "height": 480} for i in gt.image_ids]
    if gt.crowd_index is not None:
        for im, ci in zip(images, gt.crowd_index):
            im["crowdIndex"] = float(ci)
    cats = [{"id": int(c), "name": gt.category_names.get(int(c), "person"), "supercategory": "person",
             "keypoints": [f"kp{j}" for j in range(k)], "skeleton": []} for c in gt.category_ids]
    return {"images": images, "annotations": anns, "categories": cats}


def dets_to_results(dets: KeypointDetections) -> list:
    """The detections as a COCO keypoint results list."""
    kp = dets.keypoints.reshape(len(dets), -1).tolist()
    return [{"image_id": int(i), "category_id": int(c), "keypoints": k, "score": float(s)}
            for i, c, k, s in zip(dets.image_id.tolist(), dets.category_id.tolist(), kp, dets.score.tolist())]
