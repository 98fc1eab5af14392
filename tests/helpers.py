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


def paddledet_file(relpath: str) -> Path:
    """Path of a file of the installed ``paddledet`` package, found without importing it (it imports paddle)."""
    import importlib.util

    import pytest

    spec = importlib.util.find_spec("ppdet")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("paddledet is not installed; `make test` installs it (pip install --no-deps paddledet==2.6.0)")
    return Path(list(spec.submodule_search_locations)[0]) / relpath


def load_paddledet_module(relpath: str, name: str):
    """Load one numpy-only module of paddledet by file path (its package __init__ imports paddle)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, paddledet_file(relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_paddledet_method(relpath: str, class_name: str, method_name: str, namespace: dict):
    """Compile one method of a paddledet class from its source, with the globals given.

    For reference code in modules whose imports need paddle: the method body itself is numpy-only and
    runs unchanged.
    """
    import ast

    tree = ast.parse(paddledet_file(relpath).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == method_name)
    module = ast.Module(body=[fn], type_ignores=[])
    code = compile(module, f"paddledet:{relpath}:{class_name}.{method_name}", "exec")
    ns = dict(namespace)
    exec(code, ns)
    return ns[method_name]
