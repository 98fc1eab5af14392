"""Sweep plans: blocks and flags expand into the expected cells, impossible ones are listed with their reason,
and bad sweep files and flags are one line and exit 2 with nothing written. No runtime is loaded here."""

from __future__ import annotations

import pytest

from kbench.cli import main
from kbench.errors import InputError
from kbench.sweeps.plan import plan_from_blocks

NO_GPU = (False, "nvidia-smi not found")


def test_a_block_is_the_product_of_its_lists():
    plan = plan_from_blocks([{"kind": "latency", "models": "tinypose_*", "backend": ["onnxruntime", "torch"],
                              "batch": [1, 8], "threads": [1, 4], "runs": 3}], gpu=NO_GPU)
    assert len(plan.cells) == 2 * 2 * 2 * 2
    assert {c.spec.model for c in plan.cells} == {"tinypose_128x96", "tinypose_256x192"}
    assert {(c.spec.batch, c.spec.threads) for c in plan.cells} == {(1, 1), (1, 4), (8, 1), (8, 4)}
    assert all(c.spec.runs == 3 for c in plan.cells)
    assert len({c.key for c in plan.cells}) == len(plan.cells)  # every cell its own hash


def test_impossible_cells_are_listed_with_the_reason_not_run():
    plan = plan_from_blocks([{"kind": "latency", "models": "tinypose_128x96", "backend": "onnxruntime",
                              "precision": ["fp32", "fp16"], "device": ["cpu", "gpu"]},
                             {"kind": "eval", "models": "tinypose_128x96", "sample": 4, "fp16": [False, True]}],
                            gpu=NO_GPU)
    labels = [c.label for c in plan.cells]
    assert labels == ["latency tinypose_128x96 onnxruntime cpu fp32 b1", "eval tinypose_128x96 onnxruntime sample 4"]
    reasons = {i.label: i.why for i in plan.impossible}
    assert len(reasons) == 4
    assert any("fp16" in label and "GPU only" in why for label, why in reasons.items())
    assert sum("no GPU" in why for why in reasons.values()) == 2
    assert any("FP16 runs on the GPU" in why for why in reasons.values())


def test_fp16_conformance_is_listed_not_run():
    plan = plan_from_blocks([{"kind": "conformance", "models": "tinypose_128x96", "fp16": [False, True]}], gpu=NO_GPU)
    assert [c.spec.fp16 for c in plan.cells] == [False]
    assert [i.why for i in plan.impossible] == ["FP16 conformance: the matrix runs on the CPU, where no runtime "
                                                "computes FP16"]


def test_gpu_cells_drop_the_thread_axis():
    plan = plan_from_blocks([{"kind": "latency", "models": "tinypose_128x96", "backend": ["tensorrt", "onnxruntime"],
                              "device": ["gpu", "cpu"], "threads": [1, 4]}], gpu=(True, ""))
    gpu_cells = [c.label for c in plan.cells if c.spec.device == "gpu"] + [i.label for i in plan.impossible
                                                                          if " gpu " in i.label]
    # Whether this machine can build TensorRT engines or not, each GPU combination is there once, without threads.
    assert sorted(gpu_cells) == ["latency tinypose_128x96 onnxruntime gpu fp32 b1",
                                 "latency tinypose_128x96 tensorrt gpu fp32 b1"]
    assert [c.label for c in plan.cells if c.spec.device == "cpu"] == [
        "latency tinypose_128x96 onnxruntime cpu fp32 b1 t1", "latency tinypose_128x96 onnxruntime cpu fp32 b1 t4"]
    assert all("tensorrt" in i.label for i in plan.impossible if " cpu " in i.label)


def test_models_nodes_and_shards():
    plan = plan_from_blocks([{"kind": "profile", "models": ["tinypose_*", "hrnet_w32_256x192"]},
                             {"kind": "latency", "models": "tinypose_128x96", "nodes": "label:kbench-node=w1"},
                             {"kind": "eval", "models": "tinypose_128x96", "sample": 6, "shards": 3}], gpu=NO_GPU)
    kinds = [c.kind for c in plan.cells]
    assert kinds == ["profile"] * 3 + ["latency"] + ["eval"]
    assert plan.cells[3].nodes == "label:kbench-node=w1"
    assert plan.cells[4].shards == 3 and "x3 shards" in plan.cells[4].label
    # Shards and where a cell runs are not part of the measurement's identity.
    single = plan_from_blocks([{"kind": "eval", "models": "tinypose_128x96", "sample": 6}], gpu=NO_GPU).cells[0]
    assert single.key == plan.cells[4].key


@pytest.mark.parametrize("blocks, message", [
    ([{"kind": "latncy", "models": "tinypose_128x96"}], "kind must be one of"),
    ([{"kind": "latency", "models": "tinypose_128x96", "bach": 2}], "unknown key 'bach' for kind latency"),
    ([{"kind": "latency", "models": "no_such_model"}], "unknown model"),
    ([{"kind": "latency", "models": "tinypose_128x96", "batch": 0}], "batch must be a whole number"),
    ([{"kind": "latency", "models": "tinypose_128x96", "batch": []}], "empty list"),
    ([{"kind": "profile", "models": "tinypose_128x96", "shards": 2}], "shards split a model's evaluation"),
    ([{"kind": "profile", "models": "tinypose_128x96", "nodes": "all"}], "nodes applies to latency"),
    ([{"kind": "latency", "models": "tinypose_128x96", "nodes": "some"}], "nodes must be"),
    ([{"kind": "latency", "models": "tinypose_128x96", "backend": "onnxruntime", "precision": "fp16"}],
     "nothing to run"),
    (["latency"], "each block is a mapping"),
])
def test_bad_blocks_are_one_line(blocks, message):
    with pytest.raises(InputError) as err:
        plan_from_blocks(blocks, gpu=NO_GPU)
    assert message in str(err.value) and "\n" not in str(err.value)


SWEEP_ERRORS = [
    ("cells: []\n", "non-empty 'cells' list"),
    ("cells: [kind: latency\n", "not valid YAML"),
    ("cells:\n  - kind: profile\n    models: tinypose_128x96\nretry: 2\n", "unknown key 'retry'"),
    ("schema: kbench.sweep/9\ncells:\n  - kind: profile\n", "schema"),
    ("cells:\n  - kind: profile\n    models: tinypose_128x96\nretries: -1\n", "retries must be"),
]


@pytest.mark.parametrize("text, message", SWEEP_ERRORS)
def test_bad_sweep_files_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, text, message):
    path = tmp_path / "sweep.yml"
    path.write_text(text)
    store = tmp_path / "store"
    assert main(["sweep", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not store.exists()


@pytest.mark.parametrize("argv, message", [
    (["sweep"], "needs a sweep file or --kind"),
    (["sweep", "--kind", "latency,nope"], "--kind 'nope'"),
    (["sweep", "missing.yml"], "sweep file not found"),
    (["sweep", "--kind", "profile", "--models", "tinypose_128x96", "--retries", "-2"], "--retries"),
    (["sweep", "--kind", "profile", "--models", "tinypose_128x96", "--cpus-per-cell", "0"], "--cpus-per-cell"),
    (["sweep", "--kind", "latency", "--batch", "0"], "expected numbers >= 1"),
])
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, message):
    store = tmp_path / "store"
    try:
        code = main([*argv, "--store", str(store)])
    except SystemExit as exc:  # argparse's own errors: usage plus one line
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err.splitlines()[-1] and "Traceback" not in err
    assert not store.exists()


def test_a_file_and_axis_flags_are_not_mixed(tmp_path, capsys):
    path = tmp_path / "s.yml"
    path.write_text("cells:\n  - kind: profile\n    models: tinypose_128x96\n")
    assert main(["sweep", str(path), "--models", "hrnet_*", "--store", str(tmp_path / "st")]) == 2
    assert "not both" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["sweep", "--kind", "latency,profile", "--models", "tinypose_*", "--backend", "onnxruntime",
                 "--precision", "fp32,fp16", "--threads", "1", "--store", str(store), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep: 4 cell(s) (2 latency, 2 profile)" in out
    assert "not run (2)" in out and "fp16" in out
    assert "estimated time" in out
    assert not store.exists()


def test_the_example_sweep_file_plans(capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "sweep.yml"
    assert main(["sweep", str(example), "--dry-run", "--store", "/nonexistent/kbench-store"]) == 0
    assert "profile" in capsys.readouterr().out


def test_sweep_help_imports_no_framework_and_no_ray():
    import subprocess
    import sys

    code = ("import sys, kbench.cli\n"
            "try:\n    kbench.cli.main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('paddle', 'torch', 'onnxruntime', 'ray', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout and "kbench_bench_slot" in out.stdout
