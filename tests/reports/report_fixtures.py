"""Run records and a headless browser for the report and leaderboard tests.

Records are real ones, made by :func:`kbench.bench.records.make_record` with the options the eval, latency and
profile commands write; only the machine, the time and the metric values are chosen here. The leaderboard
tests load this module by path (see ``tests/leaderboard/conftest.py``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kbench.bench.records import make_record

COCO_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]
CHROMIUM = "/usr/bin/chromium"


def coco_metrics(ap: float, per_keypoint: bool = False) -> dict:
    """COCO eval metrics around ``ap`` (0-1), optionally with ``AP.<joint>`` per keypoint."""
    m = {"AP": ap, "AP50": ap + 0.2, "AP75": ap + 0.05, "APm": ap - 0.03, "APl": ap + 0.04, "AR": ap + 0.04,
         "AR50": ap + 0.21, "AR75": ap + 0.08, "ARm": ap, "ARl": ap + 0.08}
    if per_keypoint:
        m.update({f"AP.{j}": ap - 0.1 + 0.012 * i for i, j in enumerate(COCO_JOINTS)})
    return m


MPII = {"Head": 97.0, "Shoulder": 95.9, "Elbow": 90.3, "Wrist": 86.4, "Hip": 89.1, "Knee": 87.2, "Ankle": 83.3,
        "PCKh": 90.5, "PCKh@0.1": 37.9, "PCKh@0.1_paddledet": 38.4}


def _finish(rec: dict, hostname: str, created: str) -> dict:
    rec["env"]["hostname"] = hostname
    rec["created"] = created
    return rec


def eval_record(model, ap=None, mpii=None, *, sample=False, weights="zoo", backend="paddle", device="cpu",
                precision="fp32", bbox="gt", per_keypoint=False, hostname="lab-a",
                created="2026-11-20T10:00:00+00:00") -> dict:
    """An eval record of a zoo model (``model=None``: ``kbench eval --sample`` with no model)."""
    metrics = dict(mpii) if mpii is not None else coco_metrics(ap, per_keypoint)
    inputs = ({"sample": {"generator": "kbench.datasets.synthetic.make_coco_like", "images": 50, "seed": 0}}
              if sample else {"ann": {"path": "/data/person_keypoints_val2017.json", "sha256": "ab" * 32}})
    options = {"evaluator": "mpii_pckh" if mpii is not None else "coco_keypoints", "engine": "kbench"}
    if model is not None:
        options.update(model=model, bbox=bbox, backend=backend, device=device, precision=precision, flip=True,
                       weights=weights)
    return _finish(make_record("eval", metrics, inputs=inputs, options=options), hostname, created)


def latency_record(model, median, *, backend="onnxruntime", device="cpu", precision="fp32", batch=1, threads=2,
                   samples=False, hostname="lab-a", created="2026-11-20T11:00:00+00:00", **extra) -> dict:
    """A latency record as ``kbench latency`` writes it; ``samples=True`` keeps 60 times in ``options.samples_ms``."""
    metrics = {"median_ms": median, "mean_ms": median * 1.02, "p90_ms": median * 1.1, "p99_ms": median * 1.3,
               "min_ms": median * 0.95, "std_ms": median * 0.05, "throughput": batch * 1000.0 / median}
    options = {"model": model, "backend": backend, "device": device, "precision": precision, "batch": batch,
               "threads": threads, "scope": "model", "weights": "random", **extra}
    if samples:  # where `kbench latency` keeps them
        options["samples_ms"] = [median * (0.95 + 0.006 * (i % 20)) for i in range(60)]
    return _finish(make_record("latency", metrics, options=options), hostname, created)


def profile_record(model, params, flops, input_size, *, created="2026-11-20T09:00:00+00:00") -> dict:
    """A profile record as ``kbench profile`` writes it."""
    rec = make_record("profile", {"params": params, "flops": flops},
                      options={"model": model, "input_size": list(input_size), "framework": "paddle",
                               "weights": {"source": "random", "sha256": None, "random": True, "seed": 0}})
    return _finish(rec, "lab-a", created)


def example_records() -> list[dict]:
    """A mixed store: two machines, every kind, matched and unmatched cells, synthetic and real accuracy."""
    return [
        eval_record("tinypose_128x96", 0.583, per_keypoint=True),                       # 58.3 vs 58.1: ok
        eval_record("tinypose_128x96", 0.12, sample=True, weights="random",             # synthetic, older:
                    created="2026-11-19T10:00:00+00:00"),                                # not chosen
        eval_record("hrnet_w32_256x192", 0.750, per_keypoint=True),                     # 75.0 vs 76.9: exceeded
        eval_record("hrnet_w32_256x256_mpii", mpii=MPII),                               # 90.5 vs 90.6: ok
        eval_record(None, 0.31, sample=True, weights="random"),                         # no model at all
        latency_record("tinypose_128x96", 3.1, samples=True),                           # x86 CPU: no README cell
        latency_record("tinypose_128x96", 3.3, backend="lite", device="arm", precision="fp16", threads=4,
                       hostname="phone-sd865"),                                         # 3.3 vs 3.27: ok
        latency_record("tinypose_128x96", 0.95, backend="paddle-trt", device="gpu", precision="fp16", batch=8,
                       threads=None, runtime="paddle-inference", hostname="gpu-box"),  # 0.95 vs 0.8 / 0.72
        latency_record("tinypose_256x192", 9.0),
        latency_record("hrnet_w32_256x192", 80.0, samples=True),
        latency_record("hrnet_w32_256x192", 41.0, backend="paddle-inference", threads=4),
        profile_record("tinypose_128x96", 1355521, 80217024, (96, 128)),
        profile_record("hrnet_w32_256x192", 28_600_000, 7.9e9, (192, 256)),             # 7.90 vs 7.68: exceeded
    ]


def write_records(directory: Path, records: list[dict]) -> Path:
    """Write each record as its own JSON file (kbench's layout) under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, rec in enumerate(records):
        (directory / f"{i:03d}-{rec['kind']}.json").write_text(json.dumps(rec, indent=2))
    return directory


def launch_browser(playwright):
    """Debian's chromium, headless, or a skip saying why it cannot run."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the browser tests need a real browser")
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                          else shutil.which("chromium"), args=BROWSER_ARGS)
    except Exception as exc:  # a broken install: say so instead of failing on someone else's machine set-up
        pytest.skip(f"chromium could not be started by Playwright: {str(exc).splitlines()[0]}")


class NetworkGuard:
    """Records every request a page makes that is not file:// or localhost, and aborts it."""

    def __init__(self, page, allowed_hosts=("127.0.0.1", "localhost")):
        self.external: list[str] = []
        self.allowed = allowed_hosts
        page.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if parsed.scheme in ("file", "data", "blob") or (parsed.scheme in ("http", "https")
                                                          and parsed.hostname in self.allowed):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()
