"""Reference runners used by the parity tests (imported as ``helpers``; tests/ is on sys.path via conftest)."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import numpy as np


def pycocotools_eval(gt_dict: dict, results: list, iou_type: str = "keypoints"):
    """Run pycocotools' COCOeval on in-memory data; returns (COCOeval, printed summary)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt_dict)
        coco.createIndex()
        if results:
            dt = coco.loadRes(copy.deepcopy(results))
        else:  # loadRes cannot take an empty list; an empty result set is an empty COCO object
            dt = COCO()
            dt.dataset = {"images": list(coco.dataset["images"]), "annotations": [],
                          "categories": copy.deepcopy(coco.dataset["categories"])}
            dt.createIndex()
        ev = COCOeval(coco, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
    buf2 = io.StringIO()
    with contextlib.redirect_stdout(buf2):
        ev.summarize()
    return ev, buf2.getvalue()


def xtcocotools_eval(gt_dict: dict, results: list, iou_type: str = "keypoints", sigmas=None, use_area=True,
                     tmp_path: Path | None = None):
    """Run xtcocotools' COCOeval on in-memory data; returns (COCOeval, printed summary)."""
    import json

    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        if tmp_path is not None:  # the crowdpose variant re-reads the annotation file by name
            ann = tmp_path / "xt_gt.json"
            ann.write_text(json.dumps(gt_dict))
            coco = COCO(str(ann))
        else:
            coco = COCO()
            coco.dataset = copy.deepcopy(gt_dict)
            coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, iou_type, sigmas=None if sigmas is None else np.asarray(sigmas), use_area=use_area)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev, buf.getvalue()
