"""``kbench eval`` as users run it: whole processes against pycocotools' and faster-coco-eval's, in the same run.

test_bench_coco_eval.py times the evaluator function in a warm process. A user runs a command: a new
interpreter, its imports, both JSON files parsed and turned into arrays, the engine, and the run record
(kbench writes one by default: the inputs' sha256, the environment, git's view of the checkout), so all
of that is measured here, as subprocesses on the val2017-sized generated set (5000 images, about 15,000
people, about 30,000 predictions):

* ``kbench eval --predictions res.json --ann gt.json --record rec.json`` (the console script);
* a pycocotools script: COCO, loadRes, COCOeval(..., 'keypoints'), evaluate/accumulate/summarize;
* the same with faster-coco-eval (``COCO``, ``COCOeval_faster``).

Goals, checked as ratios of medians measured in this run (the project's rule: speed goals are ratios
against a peer, never timed assertions): kbench at least 8x pycocotools and 3x faster-coco-eval, and
the same 10 keypoint stats from all three (pycocotools' ``stats`` has 10 entries for keypoints).

Start-up. The issue states an absolute goal: ``kbench --help``, and ``kbench eval`` on an empty results
list, under 0.25 s. No evaluator does that much less work that would make an honest peer (pycocotools
fails on an empty results list), so the peer is the interpreter itself doing the least the command
must: ``python -c "import json"`` for ``--help`` (an interpreter and a standard-library module), and
``python -c "import numpy"`` for ``eval`` (nothing evaluates arrays without numpy). The asserted goals
are ratios to those floors, derived from the absolute goal on the reference machine (2 cores, where
importing numpy takes about 0.1 s): ``eval`` on the empty set within 2.5x of importing numpy (0.25 s
there; what kbench adds is its modules, reading the files, an empty evaluation, the record and the
environment it captures), and ``--help`` within 2x of a bare interpreter (argparse formatting the help,
which imports shutil and textwrap, is most of the difference; 0.25 s would be a ninefold allowance
there). The absolute medians are reported beside the 0.25 s goal (``record_property`` and the printed
summary), not asserted.

Every process runs with its bytecode cached (PYTHONDONTWRITEBYTECODE removed, PYTHONPYCACHEPREFIX set
to a temporary folder, warmed by an untimed first run or import), as an installed tool would.
The module takes about 40 s on 2 cores (pycocotools' three rounds are most of it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kbench.datasets.synthetic import dets_to_results, gt_to_coco_dict, make_coco_like
from kbench.evaluators.coco_keypoints import COCO_METRIC_NAMES

pytestmark = [pytest.mark.slow, pytest.mark.benchmark]

_MEDIANS: dict[str, float] = {}
_STATS: dict[str, list] = {}
_STARTUP_GOAL_S = 0.25

_PYCOCOTOOLS = """
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    ev = COCOeval(gt, gt.loadRes(sys.argv[2]), "keypoints")
    ev.evaluate(); ev.accumulate(); ev.summarize()
print(json.dumps([float(s) for s in ev.stats]))
"""

_FASTER_COCO_EVAL = """
import contextlib, io, json, sys
from faster_coco_eval import COCO, COCOeval_faster
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    ev = COCOeval_faster(gt, gt.loadRes(sys.argv[2]), "keypoints", print_function=print)
    ev.evaluate(); ev.accumulate(); ev.summarize()
print(json.dumps([float(s) for s in ev.stats]))
"""


def _kbench_command() -> list[str]:
    script = shutil.which("kbench", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "kbench"]


@pytest.fixture(scope="module")
def proc_env(tmp_path_factory) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    env.pop("KBENCH_DEBUG", None)
    return env


@pytest.fixture(scope="module")
def coco_val_sized(tmp_path_factory):
    gt, dets = make_coco_like(num_images=5000, seed=0, dets_per_person=1.7)
    assert 13_000 <= len(gt.ann_id) <= 17_000 and 27_000 <= len(dets) <= 33_000
    root = tmp_path_factory.mktemp("coco_val_sized_process")
    (root / "gt.json").write_text(json.dumps(gt_to_coco_dict(gt)))
    (root / "res.json").write_text(json.dumps(dets_to_results(dets)))
    small, _ = make_coco_like(num_images=5, seed=0)
    (root / "gt_small.json").write_text(json.dumps(gt_to_coco_dict(small)))
    (root / "empty.json").write_text("[]")
    return root


def _run(cmd: list[str], env: dict, cwd: Path) -> str:
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd[:3]}... exit {out.returncode}: {out.stderr.strip()[-2000:]}"
    return out.stdout


def _peer_commands(root: Path) -> dict:
    gt, res = str(root / "gt.json"), str(root / "res.json")
    return {
        "kbench": [*_kbench_command(), "eval", "--predictions", res, "--ann", gt, "--record", str(root / "rec.json")],
        "faster-coco-eval": [sys.executable, "-c", _FASTER_COCO_EVAL, gt, res],
        "pycocotools": [sys.executable, "-c", _PYCOCOTOOLS, gt, res],
    }


# rounds, and the untimed warm-up: a full run for the quick ones; for pycocotools (5-6 s a run) its imports
# only, which is what the warm-up is for (bytecode and page cache), leaving three timed rounds.
_PEERS = {"kbench": (7, None), "faster-coco-eval": (3, None),
          "pycocotools": (3, "import pycocotools.coco, pycocotools.cocoeval")}


@pytest.mark.parametrize("peer", list(_PEERS))
def test_whole_process(benchmark, coco_val_sized, proc_env, peer):
    root = coco_val_sized
    cmd = _peer_commands(root)[peer]
    rounds, warm_import = _PEERS[peer]
    if warm_import:
        _run([sys.executable, "-c", warm_import], proc_env, root)
    benchmark.group = "COCO keypoints, whole process: start, parse, evaluate, (record) (val2017-sized)"
    out = benchmark.pedantic(_run, args=(cmd, proc_env, root), rounds=rounds, iterations=1,
                             warmup_rounds=0 if warm_import else 1)
    if peer == "kbench":
        metrics = json.loads((root / "rec.json").read_text())["metrics"]
        _STATS[peer] = [metrics[name] for name in COCO_METRIC_NAMES]
    else:
        _STATS[peer] = json.loads(out.strip().splitlines()[-1])
    if benchmark.stats is not None:  # None under --benchmark-disable
        _MEDIANS[peer] = benchmark.stats.stats.median


def test_whole_process_ratios_and_identical_numbers(record_property):
    missing = [p for p in _PEERS if p not in _MEDIANS]
    if missing:
        pytest.skip(f"needs the benchmarks of this run ({', '.join(missing)} missing: run the whole module "
                    f"without --benchmark-disable)")
    assert _STATS["pycocotools"] == _STATS["kbench"], "kbench's stats differ from pycocotools'"
    assert _STATS["faster-coco-eval"] == _STATS["kbench"], "kbench's stats differ from faster-coco-eval's"
    vs_pycoco = _MEDIANS["pycocotools"] / _MEDIANS["kbench"]
    vs_fce = _MEDIANS["faster-coco-eval"] / _MEDIANS["kbench"]
    for name, value in (("process_speedup_vs_pycocotools", vs_pycoco), ("process_speedup_vs_faster_coco_eval", vs_fce),
                        *((f"process_median_s_{p}", m) for p, m in _MEDIANS.items() if p in _PEERS)):
        record_property(name, value)
    print(f"\nwhole process, val2017-sized: kbench {_MEDIANS['kbench']:.3f}s, faster-coco-eval "
          f"{_MEDIANS['faster-coco-eval']:.3f}s, pycocotools {_MEDIANS['pycocotools']:.3f}s; kbench is "
          f"{vs_pycoco:.1f}x pycocotools, {vs_fce:.1f}x faster-coco-eval")
    assert vs_pycoco >= 8, f"kbench eval only {vs_pycoco:.1f}x faster than pycocotools as a process (goal: 8x)"
    assert vs_fce >= 3, f"kbench eval only {vs_fce:.1f}x faster than faster-coco-eval as a process (goal: 3x)"


def _startup_commands(root: Path) -> dict:
    return {
        "kbench --help": [*_kbench_command(), "--help"],
        "python -c 'import json'": [sys.executable, "-c", "import json"],
        "kbench eval, empty results": [*_kbench_command(), "eval", "--predictions", str(root / "empty.json"), "--ann",
                                       str(root / "gt_small.json"), "--record", str(root / "rec_empty.json")],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
    }


# each start-up command against its floor, and the ratio it must stay within
_STARTUP_GOALS = {"kbench --help": ("python -c 'import json'", 2.0),
                  "kbench eval, empty results": ("python -c 'import numpy'", 2.5)}


@pytest.mark.parametrize("case", ["kbench --help", "python -c 'import json'", "kbench eval, empty results",
                                  "python -c 'import numpy'"])
def test_startup(benchmark, coco_val_sized, proc_env, case):
    root = coco_val_sized
    benchmark.group = "start-up: a whole process doing (almost) nothing"
    benchmark.pedantic(_run, args=(_startup_commands(root)[case], proc_env, root), rounds=9, iterations=1,
                       warmup_rounds=1)
    if benchmark.stats is not None:
        _MEDIANS[case] = benchmark.stats.stats.median


def test_startup_ratios(coco_val_sized, record_property):
    cases = [c for goal in _STARTUP_GOALS.items() for c in (goal[0], goal[1][0])]
    missing = [c for c in cases if c not in _MEDIANS]
    if missing:
        pytest.skip(f"needs the start-up benchmarks of this run ({', '.join(missing)} missing)")
    stats = json.loads((coco_val_sized / "rec_empty.json").read_text())["metrics"]
    assert stats["AP"] == 0.0 and stats["AR"] == 0.0  # no predictions for people who are there
    lines, failures = [], []
    for case, (floor, limit) in _STARTUP_GOALS.items():
        ratio = _MEDIANS[case] / _MEDIANS[floor]
        record_property(f"startup_median_s[{case}]", _MEDIANS[case])
        record_property(f"startup_ratio[{case} / {floor}]", ratio)
        absolute = "under" if _MEDIANS[case] < _STARTUP_GOAL_S else "OVER"
        lines.append(f"{case} {_MEDIANS[case]:.3f}s ({absolute} the {_STARTUP_GOAL_S} s goal), {ratio:.2f}x "
                     f"{floor} ({_MEDIANS[floor]:.3f}s; limit {limit}x)")
        if ratio > limit:
            failures.append(f"{case}: {ratio:.2f}x {floor} (limit {limit}x)")
    print("\nstart-up: " + "; ".join(lines))
    assert not failures, "; ".join(failures)
