"""COCO keypoint evaluation speed and memory against pycocotools and faster-coco-eval, in the same run.

The data set is generated at the size of COCO val2017 person keypoints (5000 images, about 15,000
person annotations, about 30,000 predictions). Every peer runs file -> summary under
pytest-benchmark (median of several rounds after a warm-up); the goals are checked as ratios of
medians measured in this run, never as absolute times:

* kbench at least 8x faster than pycocotools, and faster than faster-coco-eval, end to end;
* the three give identical numbers;
* kbench's peak memory (file -> summary, measured in a fresh process) not above pycocotools'.

The in-memory figure (arrays -> summary; goal under 0.3 s on the reference machine) is reported in
the benchmark table and as a ratio to pycocotools.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like
from kbench.evaluators.coco_keypoints import evaluate_coco_keypoint_files, evaluate_coco_keypoints

pytestmark = [pytest.mark.slow, pytest.mark.benchmark]

_MEDIANS: dict[str, float] = {}
_STATS: dict[str, np.ndarray] = {}


@pytest.fixture(scope="module")
def coco_val_sized(tmp_path_factory):
    gt, dets = make_coco_like(num_images=5000, seed=0, dets_per_person=1.7)
    assert 13_000 <= len(gt.ann_id) <= 17_000 and 27_000 <= len(dets) <= 33_000
    root = tmp_path_factory.mktemp("coco_val_sized")
    (root / "gt.json").write_text(json.dumps(gt_to_coco_dict(gt)))
    (root / "res.json").write_text(json.dumps(dets_to_results(dets)))
    return root, gt, dets


def _kbench(root):
    return evaluate_coco_keypoint_files(root / "gt.json", root / "res.json").stats_array


def _pycocotools(root):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(root / "gt.json"))
        ev = COCOeval(gt, gt.loadRes(str(root / "res.json")), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def _faster_coco_eval(root):
    from faster_coco_eval import COCO, COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(root / "gt.json"))
        ev = COCOeval_faster(gt, gt.loadRes(str(root / "res.json")), "keypoints", print_function=print)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


PEERS = {"kbench": (_kbench, 5), "faster-coco-eval": (_faster_coco_eval, 3), "pycocotools": (_pycocotools, 3)}


@pytest.mark.parametrize("peer", list(PEERS))
def test_file_to_summary(benchmark, coco_val_sized, peer):
    root, _, _ = coco_val_sized
    fn, rounds = PEERS[peer]
    benchmark.group = "COCO keypoints, file -> summary (val2017-sized)"
    stats = benchmark.pedantic(fn, args=(root,), rounds=rounds, iterations=1, warmup_rounds=1)
    _STATS[peer] = stats
    if benchmark.stats is not None:  # None under --benchmark-disable
        _MEDIANS[peer] = benchmark.stats.stats.median


def test_arrays_to_summary(benchmark, coco_val_sized):
    _, gt, dets = coco_val_sized
    benchmark.group = "COCO keypoints, in-memory arrays -> summary (val2017-sized)"
    res = benchmark.pedantic(evaluate_coco_keypoints, args=(gt, dets), rounds=5, iterations=1, warmup_rounds=1)
    _STATS["kbench-arrays"] = res.stats_array
    if benchmark.stats is not None:
        _MEDIANS["kbench-arrays"] = benchmark.stats.stats.median
        benchmark.extra_info["median_s"] = benchmark.stats.stats.median


def test_speed_ratios_and_identical_numbers(record_property):
    missing = [p for p in (*PEERS, "kbench-arrays") if p not in _MEDIANS]
    if missing:
        pytest.skip(f"needs the benchmarks of this run ({', '.join(missing)} missing: run the whole module "
                    f"without --benchmark-disable)")
    for peer in ("pycocotools", "faster-coco-eval", "kbench-arrays"):
        np.testing.assert_array_equal(_STATS[peer], _STATS["kbench"])
    vs_pycoco = _MEDIANS["pycocotools"] / _MEDIANS["kbench"]
    vs_fce = _MEDIANS["faster-coco-eval"] / _MEDIANS["kbench"]
    arrays_vs_pycoco = _MEDIANS["pycocotools"] / _MEDIANS["kbench-arrays"]
    for name, value in (("speedup_vs_pycocotools", vs_pycoco), ("speedup_vs_faster_coco_eval", vs_fce),
                        ("arrays_speedup_vs_pycocotools", arrays_vs_pycoco),
                        ("kbench_arrays_median_s", _MEDIANS["kbench-arrays"])):
        record_property(name, value)
    print(f"\nCOCO val2017-sized, file -> summary medians: kbench {_MEDIANS['kbench']:.3f}s, faster-coco-eval "
          f"{_MEDIANS['faster-coco-eval']:.3f}s, pycocotools {_MEDIANS['pycocotools']:.3f}s; kbench is "
          f"{vs_pycoco:.1f}x pycocotools, {vs_fce:.1f}x faster-coco-eval; arrays -> summary "
          f"{_MEDIANS['kbench-arrays']:.3f}s ({arrays_vs_pycoco:.0f}x pycocotools' file -> summary)")
    assert vs_pycoco >= 8, f"kbench only {vs_pycoco:.1f}x faster than pycocotools (goal: 8x)"
    assert vs_fce > 1, f"kbench slower than faster-coco-eval ({vs_fce:.2f}x)"


_PEAK_SCRIPT = """
import sys, pathlib, contextlib, io
root = pathlib.Path(sys.argv[2])
import numpy, json
{imports}

def hwm_bytes():  # VmHWM belongs to this address space; ru_maxrss would carry the forking parent's peak
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024

def rss_bytes():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024

try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
    open('/proc/self/clear_refs', 'w').write('5')
except OSError:
    pass
base = rss_bytes()
{body}
print(hwm_bytes() - base)
"""
_PEAK_CASES = {
    "kbench": ("from kbench.evaluators.coco_keypoints import evaluate_coco_keypoint_files",
               "evaluate_coco_keypoint_files(root / 'gt.json', root / 'res.json')"),
    "pycocotools": ("from pycocotools.coco import COCO\nfrom pycocotools.cocoeval import COCOeval",
                    "with contextlib.redirect_stdout(io.StringIO()):\n"
                    "    gt = COCO(str(root / 'gt.json'))\n"
                    "    ev = COCOeval(gt, gt.loadRes(str(root / 'res.json')), 'keypoints')\n"
                    "    ev.evaluate(); ev.accumulate(); ev.summarize()"),
}


def test_peak_memory_not_above_pycocotools(coco_val_sized, record_property):
    """Peak resident memory added by file -> summary, each peer in a fresh process after its imports."""
    root, _, _ = coco_val_sized
    peaks = {}
    for peer, (imports, body) in _PEAK_CASES.items():
        script = _PEAK_SCRIPT.format(imports=imports, body=body)
        out = subprocess.run([sys.executable, "-c", script, peer, str(root)], capture_output=True,
                             text=True, timeout=600, check=True)
        peaks[peer] = int(out.stdout.strip().splitlines()[-1])
        record_property(f"peak_rss_added_bytes_{peer}", peaks[peer])
    print(f"\npeak RSS added, file -> summary: kbench {peaks['kbench'] / 2**20:.0f} MiB, "
          f"pycocotools {peaks['pycocotools'] / 2**20:.0f} MiB")
    assert peaks["kbench"] <= peaks["pycocotools"]
