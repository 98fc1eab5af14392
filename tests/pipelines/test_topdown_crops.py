"""Top-down boxes, crops and normalisation against PaddleDetection 2.6's own dataset and operator classes.

Marker: ``parity`` (the coco-mini tests also ``shared_data``). The reference is paddledet imported for real under
paddle (about 2 s, once per module): ``KeypointTopDownCocoDataset`` parses the annotation and detection files,
``TopDownAffine`` / ``TopDownEvalAffine`` crop, ``NormalizeImage`` + ``Permute`` normalise. Everything is compared
exactly (centres, scales, matrices, crop pixels, normalised floats): kbench keeps ppdet's dtypes and calls the
same OpenCV functions, so there is no rounding to tolerate.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kbench.cards import get_card
from kbench.errors import InputError
from kbench.pipelines.crops import (
    affine_from_points,
    box_to_center_scale,
    clean_gt_boxes,
    crop_batch,
    detection_mask,
    flip_images,
    mpii_center_scale,
    normalize_batch,
    warp_matrices,
)

pytestmark = pytest.mark.parity

SIZES = [(192, 256), (96, 128), (256, 256), (288, 384)]


@pytest.fixture(scope="module")
def ppdet():
    """paddledet's reference classes (importing them imports paddle)."""
    pytest.importorskip("paddle")
    from ppdet.data.source.keypoint_coco import KeypointTopDownCocoDataset
    from ppdet.data.transform.keypoint_operators import TopDownAffine, TopDownEvalAffine
    from ppdet.data.transform.operators import NormalizeImage, Permute
    from ppdet.modeling import keypoint_utils

    return {"dataset": KeypointTopDownCocoDataset, "affine": TopDownAffine, "eval_affine": TopDownEvalAffine,
            "normalize": NormalizeImage, "permute": Permute, "ku": keypoint_utils}


def _synthetic_boxes(rng, n=3000):
    """Boxes of every shape: tiny, huge, very wide, very tall, integer-valued, off the image's edges."""
    w = rng.uniform(0.5, 700, n) ** rng.uniform(0.3, 1.1, n)
    h = rng.uniform(0.5, 500, n) ** rng.uniform(0.3, 1.1, n)
    boxes = np.c_[rng.uniform(-80, 650, n), rng.uniform(-80, 450, n), w, h]
    boxes[:200] = np.round(boxes[:200])
    boxes[200:230, 2] = 1000.0  # 1000:1 wide
    boxes[200:230, 3] = 1.0
    boxes[230:260, 2] = 1.0  # 1:1000 tall
    boxes[230:260, 3] = 1000.0
    return boxes


class _Box2cs:
    """Just enough of a dataset object to call ppdet's own ``_box2cs`` unbound."""

    def __init__(self, trainsize, pixel_std=200):
        self.trainsize, self.pixel_std = trainsize, pixel_std


@pytest.mark.parametrize("size", SIZES)
def test_box_to_center_scale_matches_box2cs(ppdet, size):
    rng = np.random.default_rng(1)
    boxes = _synthetic_boxes(rng)
    boxes[260] = [-1.0, 10.0, 0.0, 5.0]  # centre x == -1: ppdet's "no padding" sentinel
    centers, scales = box_to_center_scale(boxes, size[0] * 1.0 / size[1])
    fake = _Box2cs(list(size))
    for i, box in enumerate(boxes.tolist()):
        c, s = ppdet["dataset"]._box2cs(fake, box)
        assert centers[i].dtype == c.dtype and scales[i].dtype == s.dtype
        np.testing.assert_array_equal(centers[i], c, err_msg=f"box {box}")
        np.testing.assert_array_equal(scales[i], s, err_msg=f"box {box}")


def _coco_arrays(ann_path):
    data = json.loads(ann_path.read_text())
    images = {im["id"]: im for im in data["images"]}
    anns = data["annotations"]
    boxes = np.array([a["bbox"] for a in anns], dtype=np.float64)
    im_w = np.array([images[a["image_id"]]["width"] for a in anns])
    im_h = np.array([images[a["image_id"]]["height"] for a in anns])
    return anns, boxes, im_w, im_h


@pytest.mark.shared_data
@pytest.mark.parametrize("size", [(192, 256), (96, 128)])
def test_gt_boxes_match_ppdet_dataset_on_coco_mini(ppdet, shared_data, size):
    root = shared_data / "coco-mini"
    ds = ppdet["dataset"](str(root), "", "test_coco.json", 17, list(size))
    ds.parse_dataset()
    anns, boxes, im_w, im_h = _coco_arrays(root / "test_coco.json")
    clean, keep = clean_gt_boxes(boxes, im_w, im_h, areas=[a["area"] for a in anns],
                                 keypoints=[a["keypoints"] for a in anns], iscrowd=[a["iscrowd"] for a in anns])
    # ppdet walks images in getImgIds() order and annotations in file order within each image
    order = sorted(np.flatnonzero(keep), key=lambda i: (anns[i]["image_id"], i))
    centers, scales = box_to_center_scale(clean[order], size[0] * 1.0 / size[1])
    assert len(order) == len(ds.db) == 12  # 14 people, 2 without keypoints
    np.testing.assert_array_equal(centers, np.stack([r["center"] for r in ds.db]))
    np.testing.assert_array_equal(scales, np.stack([r["scale"] for r in ds.db]))
    assert [anns[i]["image_id"] for i in order] == [r["im_id"] for r in ds.db]


def _reference_clean(box, width, height, area):
    """ppdet's cleaning rule, transcribed from _load_coco_keypoint_annotations (a method that needs a whole file)."""
    x, y, w, h = box
    x1 = np.max((0, x))
    y1 = np.max((0, y))
    x2 = np.min((width - 1, x1 + np.max((0, w - 1))))
    y2 = np.min((height - 1, y1 + np.max((0, h - 1))))
    if area > 0 and x2 >= x1 and y2 >= y1:
        return [x1, y1, x2 - x1, y2 - y1]
    return None


def test_clean_gt_boxes_on_synthetic_boxes_matches_ppdet_rule(ppdet, tmp_path):
    rng = np.random.default_rng(2)
    boxes = _synthetic_boxes(rng, 2000)
    boxes[:50, 0] = 700.0  # starts right of a 640-wide image: x2 < x1
    boxes[50:60, 2:] = 0.0
    areas = rng.uniform(-1, 5000, len(boxes))
    areas[::7] = 0.0
    clean, keep = clean_gt_boxes(boxes, 640, 480, areas=areas)
    for i, box in enumerate(boxes.tolist()):
        ref = _reference_clean(box, 640, 480, areas[i])
        assert keep[i] == (ref is not None), box
        if ref is not None:
            np.testing.assert_array_equal(clean[i], ref)
    # and through ppdet's real loader: one image, every synthetic box with keypoints, a few crowd
    anns = [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": box, "area": float(areas[i]),
             "iscrowd": int(i % 11 == 0), "num_keypoints": 1, "keypoints": [5, 5, 2] + [0] * 48 if i % 5 else [0] * 51}
            for i, box in enumerate(boxes[:400].tolist())]
    (tmp_path / "a.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "x.jpg", "width": 640, "height": 480}], "annotations": anns,
        "categories": [{"id": 1, "name": "person"}]}))
    ds = ppdet["dataset"](str(tmp_path), "", "a.json", 17, [192, 256])
    ds.parse_dataset()
    clean, keep = clean_gt_boxes(boxes[:400], 640, 480, areas=areas[:400], keypoints=[a["keypoints"] for a in anns],
                                 iscrowd=[a["iscrowd"] for a in anns])
    centers, scales = box_to_center_scale(clean[keep], 0.75)
    assert keep.sum() == len(ds.db)
    np.testing.assert_array_equal(centers, np.stack([r["center"] for r in ds.db]))
    np.testing.assert_array_equal(scales, np.stack([r["scale"] for r in ds.db]))


@pytest.mark.shared_data
def test_detector_boxes_match_ppdet_dataset(ppdet, shared_data, tmp_path):
    dets = json.loads((shared_data / "coco-mini" / "test_coco_det_AP_H_56.json").read_text())
    # add other categories and scores exactly at the threshold, which ppdet keeps
    extra = [dict(d, category_id=2) for d in dets[:5]] + [dict(d, score=0.5) for d in dets[5:9]]
    dets = dets + extra
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    ds = ppdet["dataset"](str(tmp_path), "", "unused.json", 17, [192, 256], bbox_file="dets.json",
                          use_gt_bbox=False, image_thre=0.5)
    ds.parse_dataset()
    keep = detection_mask([d["category_id"] for d in dets], [d["score"] for d in dets], 0.5)
    centers, scales = box_to_center_scale(np.array([d["bbox"] for d in dets])[keep], 0.75)
    assert keep.sum() == len(ds.db) and keep[-4:].all() and not keep[-9:-4].any()
    np.testing.assert_array_equal(centers, np.stack([r["center"] for r in ds.db]))
    np.testing.assert_array_equal(scales, np.stack([r["scale"] for r in ds.db]))


def test_mpii_center_scale_matches_ppdet_rule():
    rng = np.random.default_rng(3)
    c_in = rng.uniform(-5, 1200, (50, 2))
    c_in[3, 0] = -1
    s_in = rng.uniform(0.3, 6, 50)
    centers, scales = mpii_center_scale(c_in, s_in)
    for i in range(50):  # KeypointTopDownMPIIDataset.parse_dataset's adjustment, transcribed
        c = np.array(c_in[i], dtype=np.float32)
        s = np.array([s_in[i], s_in[i]], dtype=np.float32)
        if c[0] != -1:
            c[1] = c[1] + 15 * s[1]
            s = s * 1.25
        c = c - 1
        np.testing.assert_array_equal(centers[i], c)
        np.testing.assert_array_equal(scales[i], s)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("udp", [False, True])
def test_warp_matrices_equal_ppdet(ppdet, size, udp):
    ku = ppdet["ku"]
    boxes = _synthetic_boxes(np.random.default_rng(4), 1500)
    centers, scales = box_to_center_scale(boxes, size[0] * 1.0 / size[1])
    mats = warp_matrices(centers, scales, size, udp)
    for i in range(len(boxes)):
        if udp:
            ref = ku.get_warp_matrix(0, centers[i] * 2.0, [size[0] - 1.0, size[1] - 1.0], scales[i] * 200.0)
        else:
            ref = ku.get_affine_transform(centers[i], scales[i] * 200, 0, size)
        np.testing.assert_array_equal(mats[i], ref.astype(np.float64))


def test_affine_from_points_is_get_affine_transform_to_the_bit():
    """OpenCV's LU solution reproduced for any triples: random, integer-valued, and collinear (all-zero matrix)."""
    import cv2

    rng = np.random.default_rng(9)
    src = rng.uniform(-300, 900, (3000, 3, 2)).astype(np.float32)
    dst = rng.uniform(-300, 900, (3000, 3, 2)).astype(np.float32)
    src[:100] = np.round(src[:100])
    src[100:150, 2] = src[100:150, 1]  # two equal points
    src[150:200, 2] = 2 * src[150:200, 1] - src[150:200, 0]  # three on a line
    ref = np.stack([cv2.getAffineTransform(s, d) for s, d in zip(src, dst)])
    np.testing.assert_array_equal(affine_from_points(src, dst), ref)
    assert affine_from_points(src[:0], dst[0]).shape == (0, 2, 3)


def test_zero_size_and_empty_boxes(ppdet):
    centers = np.array([[50.0, 40.0], [10.0, 10.0]], dtype=np.float32)
    scales = np.array([[0.0, 0.0], [0.5, 0.0]], dtype=np.float32)
    for udp in (False, True):
        with np.errstate(divide="ignore", invalid="ignore"):
            mats = warp_matrices(centers, scales, (192, 256), udp)
        if not udp:  # ppdet's matrices; the UDP ones divide by zero in ppdet as here
            for i in range(2):
                ref = ppdet["ku"].get_affine_transform(centers[i], scales[i] * 200, 0, (192, 256))
                np.testing.assert_array_equal(mats[i], ref)
    empty_c, empty_s = box_to_center_scale(np.zeros((0, 4)), 0.75)
    crops = crop_batch(np.zeros((20, 30, 3), np.uint8), empty_c, empty_s, (192, 256), True)
    assert crops.shape == (0, 256, 192, 3)
    assert normalize_batch(crops, get_card("tinypose_128x96").normalize).shape == (0, 3, 256, 192)
    assert clean_gt_boxes(np.zeros((0, 4)), 10, 10, areas=[], keypoints=np.zeros((0, 51)), iscrowd=[])[1].shape == (0,)


def _image(rng, h=427, w=640):
    """A textured RGB image: smooth gradients plus noise, so every interpolation weight shows in the pixels."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 0.37 + yy * 0.11, np.sin(xx / 9.0) * 90 + 120, (xx * yy) % 251], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("udp", [False, True])
def test_crops_equal_top_down_affine(ppdet, size, udp):
    rng = np.random.default_rng(5)
    image = _image(rng)
    boxes = _synthetic_boxes(rng, 120)
    centers, scales = box_to_center_scale(boxes, size[0] * 1.0 / size[1])
    crops = crop_batch(image, centers, scales, size, udp)
    assert crops.shape == (len(boxes), size[1], size[0], 3) and crops.dtype == np.uint8
    op = ppdet["affine"](list(size), use_udp=udp)
    for i in range(len(boxes)):
        rec = {"image": image.copy(), "center": centers[i], "scale": scales[i],
               "joints": np.zeros((17, 3), np.float32), "joints_vis": np.ones((17, 3), np.float32)}
        np.testing.assert_array_equal(crops[i], op(rec)["image"], err_msg=f"box {i}: {boxes[i]}")


@pytest.mark.parametrize("udp", [False, True])
def test_whole_image_crop_equals_top_down_eval_affine(ppdet, udp):
    rng = np.random.default_rng(6)
    for h, w in [(427, 640), (480, 360), (33, 517)]:
        image = _image(rng, h, w)
        im_shape = np.array([h, w], dtype=np.float32)
        ref = ppdet["eval_affine"]([192, 256], use_udp=udp)({"image": image.copy(), "im_shape": im_shape})["image"]
        # TopDownEvalAffine: centre = image size / 2, box size = image size in pixels (pixel_std 1)
        shape = im_shape[::-1]
        crop = crop_batch(image, (shape / 2.0)[None], shape[None], (192, 256), udp, pixel_std=1.0)
        np.testing.assert_array_equal(crop[0], ref)


@pytest.mark.parametrize("name", ["tinypose_128x96", "hrnet_w32_256x192", "hrnet_w32_256x256_mpii"])
def test_normalize_equals_normalize_image_and_permute(ppdet, name):
    card = get_card(name)
    norm = card.normalize
    rng = np.random.default_rng(7)
    crops = rng.integers(0, 256, (5, card.input_size[1], card.input_size[0], 3), dtype=np.uint8)
    crops[0, 0, :256, 0] = np.arange(256)[: crops.shape[2]]  # every level appears
    out = normalize_batch(crops, norm)
    assert out.dtype == np.float32 and out.shape == (5, 3, card.input_size[1], card.input_size[0])
    assert out.flags.c_contiguous
    nop = ppdet["normalize"](mean=list(norm.mean), std=list(norm.std), is_scale=norm.is_scale)
    perm = ppdet["permute"]()
    for i in range(len(crops)):
        ref = perm(nop({"image": crops[i].copy()}))["image"]
        np.testing.assert_array_equal(out[i], ref)


def test_normalize_all_levels_bit_exact(ppdet):
    """Every uint8 level on every channel, with and without is_scale."""
    norm = get_card("tinypose_128x96").normalize
    levels = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)[None]  # (1, 1, 256, 3)
    for is_scale in (True, False):
        n = type(norm)(mean=norm.mean, std=norm.std, is_scale=is_scale, channel_order="RGB", layout="HWC")
        ref = ppdet["normalize"](mean=list(n.mean), std=list(n.std), is_scale=is_scale)({"image": levels[0].copy()})
        np.testing.assert_array_equal(normalize_batch(levels, n)[0], ref["image"])


def test_normalize_bgr_and_layouts():
    norm = get_card("hrnet_w32_256x192").normalize
    crops = np.random.default_rng(8).integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    rgb = normalize_batch(crops, norm)
    bgr_norm = type(norm)(mean=norm.mean[::-1], std=norm.std[::-1], is_scale=True, channel_order="BGR", layout="CHW")
    # a BGR model sees the channels reversed, with its mean/std given in BGR order
    np.testing.assert_array_equal(normalize_batch(crops, bgr_norm), rgb[:, ::-1])
    hwc = type(norm)(mean=norm.mean, std=norm.std, is_scale=True, channel_order="RGB", layout="HWC")
    np.testing.assert_array_equal(normalize_batch(crops, hwc), rgb.transpose(0, 2, 3, 1))
    with pytest.raises(InputError):
        normalize_batch(crops.astype(np.float32), norm)


def test_flip_images_is_paddle_flip_3():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(flip_images(x), x[:, :, :, ::-1])
    hwc = x.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(flip_images(hwc, layout="HWC"), x[..., ::-1].transpose(0, 2, 3, 1))


def test_bad_boxes_raise_input_error():
    with pytest.raises(InputError):
        box_to_center_scale(np.zeros((3, 3)), 0.75)
    with pytest.raises(InputError):
        box_to_center_scale([[0, 0, np.nan, 4]], 0.75)
    with pytest.raises(InputError):
        warp_matrices(np.zeros((2, 2)), np.ones((3, 2)), (192, 256), False)
