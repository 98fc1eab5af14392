"""``kbench latency --profile`` (:mod:`kbench.bench.op_profile`): per-operator tables from each runtime's profiler.

The aggregation, the ONNX Runtime trace parser and TensorRT's layer timing (against a stand-in module: no GPU
here) are checked on made-up events; ONNX Runtime, Paddle Inference, Paddle dygraph and torch are profiled for real
on PP-TinyPose 128x96 with seeded random weights and few runs (seconds each, marked ``slow``); their records go
through the result store and the HTML report. A runtime without a usable profiler (Paddle Lite) is one line, exit 2.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from kbench.bench.op_profile import (
    PROFILE_NOTE,
    OpProfile,
    check_profile,
    format_profile,
    parse_ort_trace,
    profile_counts,
    tensorrt_layer_times,
    tensorrt_layer_type,
)
from kbench.errors import InputError
from kbench.specs import LatencySpec

TINY = "tinypose_128x96"


# --- the table, on made-up times -----------------------------------------------------------------------------------

def test_times_aggregate_by_op_type_with_shares_of_the_total():
    times = [("Conv", "c1", 1, 300.0), ("Conv", "c2", 1, 100.0), ("Relu", "r1", 1, 50.0), ("Add", None, 4, 50.0)]
    p = OpProfile.from_times(times, runtime="onnxruntime", runs=2, warmup_runs=1, time="wall", run_ms=0.3)
    assert [o["op"] for o in p.ops] == ["Conv", "Add", "Relu"]  # by total time; ties by name
    conv = p.ops[0]
    assert conv["calls"] == 2 and conv["total_ms"] == pytest.approx(0.4) and conv["mean_ms"] == pytest.approx(0.2)
    assert conv["per_run_ms"] == pytest.approx(0.2) and conv["share_pct"] == pytest.approx(80.0)
    assert p.ops[1]["calls"] == 4 and p.ops[1]["mean_ms"] == pytest.approx(0.0125)
    assert sum(o["share_pct"] for o in p.ops) == pytest.approx(100.0)
    assert p.total_ms == pytest.approx(0.5) and p.op_ms_per_run == pytest.approx(0.25)
    assert [n["node"] for n in p.nodes] == ["c1", "c2", "r1"]  # only named nodes
    data = json.loads(json.dumps(p.to_dict()))
    assert data["separate_from_timing"] is True and data["note"] == PROFILE_NOTE and data["runs"] == 2
    assert OpProfile.from_dict(data) == p


def test_an_empty_profile_is_one_line():
    with pytest.raises(InputError, match="reported no operator time") as err:
        OpProfile.from_times([], runtime="torch", runs=3, warmup_runs=0, time="self")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="not a kbench operator profile"):
        OpProfile.from_dict({"runtime": "torch"})


def test_format_profile_lists_the_top_operators():
    times = [(f"Op{i}", f"n{i}", 1, float(100 - i)) for i in range(20)]
    p = OpProfile.from_times(times, runtime="onnxruntime", runs=1, warmup_runs=2, time="wall", run_ms=1.5)
    text = format_profile(p.to_dict(), "tinypose_128x96 onnxruntime cpu fp32 b1 1t", top=5, top_nodes=3)
    lines = text.splitlines()
    assert lines[0].startswith("per-operator profile, tinypose_128x96 onnxruntime cpu fp32 b1 1t: onnxruntime")
    assert "separate load" in lines[1] and "unprofiled" in lines[1]
    assert "a profiled run took 1.500 ms" in lines[2]
    assert lines[3].split() == ["op", "type", "calls", "total", "ms", "mean", "ms", "ms/run", "share"]
    assert lines[4].split()[0] == "Op0" and lines[4].endswith("%")
    assert "(15 more op types:" in text and "top nodes by total time:" in text
    assert len(re.findall(r"\n  n\d", text)) == 3


def test_profile_counts_follow_the_measurement():
    assert profile_counts(5, "2") == (5, 2)
    assert profile_counts(None, "1s") == (10, 2)
    assert profile_counts(10_000, "50") == (100, 10)


def test_ort_trace_drops_the_warm_up_runs():
    def node(ts, op, name, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}

    events = [{"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 5},
              {"cat": "Session", "name": "model_run", "ts": 10, "dur": 10}, node(11, "Conv", "c", 7),
              {"cat": "Session", "name": "model_run", "ts": 30, "dur": 10}, node(31, "Conv", "c", 3),
              node(35, "Relu", "r", 1), {"cat": "Node", "name": "c_fence_before", "ts": 31, "dur": 0},
              {"cat": "Session", "name": "model_run", "ts": 50, "dur": 10}, node(51, "Conv", "c", 4)]
    times, runs = parse_ort_trace(events, warmup=1)
    assert runs == 2
    assert sorted(times) == [("Conv", "c", 1, 3.0), ("Conv", "c", 1, 4.0), ("Relu", "r", 1, 1.0)]
    assert len(parse_ort_trace({"traceEvents": events}, warmup=0)[0]) == 4
    with pytest.raises(InputError):
        parse_ort_trace("not a trace")


def test_the_report_renders_a_profile_table_and_ignores_a_malformed_one():
    from kbench.bench.records import make_record
    from kbench.reports.html import render_report
    from kbench.reports.runs import runs_from_records

    prof = OpProfile.from_times([("Conv", "c", 10, 900.0), ("Relu<x>", "r", 10, 100.0)], runtime="onnxruntime",
                                runs=10, warmup_runs=2, time="wall", run_ms=0.2).to_dict()
    options = {"model": TINY, "backend": "onnxruntime", "device": "cpu", "precision": "fp32", "batch": 1,
               "threads": 1, "scope": "model"}
    good = make_record("latency", {"median_ms": 0.1}, options={**options, "profile": prof})
    bad = make_record("latency", {"median_ms": 0.2}, options={**options, "threads": 2, "profile": {"ops": "x"}})
    odd = make_record("latency", {"median_ms": 0.3}, options={**options, "threads": 3, "profile": {
        "profiler": "p", "runs": 1, "total_ms": 1.0, "ops": [{"op": "Conv", "calls": 1, "total_ms": "1"}]}})
    runs = runs_from_records([good, bad, odd])
    assert runs[0].op_profile["ops"][0]["op"] == "Conv" and runs[1].op_profile is None is runs[2].op_profile
    assert "profile" not in runs[0].describe()["options"] and runs[0].describe()["profile"]["runs"] == 10
    html = render_report([good, bad, odd])
    section = html[html.index('<section id="profiles">'):html.index('<section id="records">')]
    assert section.count('<table class="sortable op-profile"') == 1
    assert '<td class="mono">Conv</td>' in section and "Relu&lt;x&gt;" in section and "90.0" in section
    assert "· 1 thread · batch 1" in section
    assert "<dt>profile</dt>" in html


# --- TensorRT, against a stand-in (no GPU here) ---------------------------------------------------------------------

@pytest.mark.parametrize("name, kind", [
    ("/stage1/conv/Conv + /stage1/Relu", "Conv+Relu"),
    ("p2o.pd_op.conv2d.3 + p2o.pd_op.relu.3", "conv2d+relu"),
    ("PWN(/head/Add_1, /head/Relu_2)", "Add+Relu"),
    ("Reformatting CopyNode for Input Tensor 0 to /Conv", "Reformat"),
    ("/final/Conv", "Conv"),
])
def test_tensorrt_layer_types_from_names(name, kind):
    assert tensorrt_layer_type(name) == kind


def test_tensorrt_layer_timing_through_iprofiler():
    class IProfiler:  # TensorRT's base class: subclasses must call its __init__
        def __init__(self):
            self.base_init = True

    trt = SimpleNamespace(IProfiler=IProfiler, LayerInformationFormat=SimpleNamespace(JSON="json"))
    layers = [("conv1 + relu1", 0.25), ("Reformatting CopyNode for Output Tensor 0", 0.05), ("/head/Conv", 0.2)]
    context = SimpleNamespace(profiler=None)
    calls = []

    def execute():  # TensorRT reports every layer of a run once it is complete
        calls.append(context.profiler)
        if context.profiler is not None:
            for layer, ms in layers:
                context.profiler.report_layer_time(layer, ms)

    inspector = SimpleNamespace(get_layer_information=lambda i, fmt: json.dumps(
        {"Name": "conv1 + relu1", "LayerType": "CaskConvolution"} if i == 0 else layers[i][0]))
    engine = SimpleNamespace(num_layers=3, create_engine_inspector=lambda: inspector)
    synced = []
    times, run_ms = tensorrt_layer_times(trt, context, engine, execute, lambda: synced.append(1), runs=4, warmup=2)
    assert calls[:2] == [None, None] and all(c is context.profiler for c in calls[2:]) and len(calls) == 6
    assert context.profiler.base_init and len(synced) == 6 and run_ms is not None
    p = OpProfile.from_times(times, runtime="tensorrt", runs=4, warmup_runs=2, time="GPU time per layer")
    assert {o["op"]: o["calls"] for o in p.ops} == {"CaskConvolution": 4, "Conv": 4, "Reformat": 4}
    assert p.ops[0]["op"] == "CaskConvolution" and p.ops[0]["total_ms"] == pytest.approx(1.0)
    assert p.total_ms == pytest.approx(2.0) and sum(o["share_pct"] for o in p.ops) == pytest.approx(100.0)


# --- refusals ------------------------------------------------------------------------------------------------------

def test_a_runtime_without_a_profiler_is_refused_in_one_line():
    with pytest.raises(InputError) as err:
        check_profile("lite")
    assert "\n" not in str(err.value) and "--with_profile=ON" in str(err.value)
    with pytest.raises(InputError, match="--profile: lite cannot be profiled"):
        LatencySpec(model=TINY, backend="lite", profile=True)
    LatencySpec(model=TINY, backend="lite")  # without --profile, lite is measured as before
    with pytest.raises(InputError, match="profile must be true or false"):
        LatencySpec(model=TINY, profile="yes")
    assert LatencySpec(model=TINY, profile=True).cell_id != LatencySpec(model=TINY).cell_id


def test_latency_profile_on_lite_exits_2_with_one_line_and_loads_no_runtime():
    code = ("import sys, kbench.cli\n"
            "rc = kbench.cli.main(['latency', '--models', 'tinypose_128x96', '--backend', 'lite', '--threads', '1', "
            "'--runs', '5', '--profile', '--no-record'])\n"
            "print(rc, sorted(m for m in ('paddle', 'torch', 'onnxruntime', 'paddlelite') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "2 []", out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kbench: error: --profile: lite cannot be profiled: "), lines


# --- real runtimes on PP-TinyPose ----------------------------------------------------------------------------------

#: A convolution must be among each runtime's operators, under the runtime's own name for it.
CONV = {"onnxruntime": ("Conv", "FusedConv"), "paddle-inference": ("conv2d", "fused_conv2d", "depthwise_conv2d"),
        "paddle": ("conv2d", "depthwise_conv2d"),
        "torch": ("aten::mkldnn_convolution", "aten::_slow_conv2d_forward", "aten::conv2d", "aten::convolution",
                  "aten::_convolution", "aten::thnn_conv2d")}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "paddle-inference", "paddle", "torch"])
def test_profile_of_a_real_runtime_in_record_store_and_report(backend, tmp_path):
    from kbench.adapters.base import runtime_status
    from kbench.reports.html import render_report
    from kbench.results.store import ResultStore
    from kbench.runners.latency import run_latency

    ok, why = runtime_status(backend)
    if not ok:
        pytest.skip(f"{backend}: {why}")
    spec = LatencySpec(model=TINY, backend=backend, threads=1, runs=5, warmup="2", yardstick=False, profile=True)
    rec = run_latency(spec)
    prof = rec["options"]["profile"]
    assert prof is rec.outputs["profile"] and rec.spec == spec and rec["options"]["spec"]["profile"] is True
    assert prof["runtime"] == backend
    assert prof["runs"] == 5 and prof["warmup_runs"] == 2 and prof["separate_from_timing"] is True
    assert rec["metrics"]["median_ms"] > 0 and len(rec["options"]["samples_ms"]) == 5  # the timed runs, unprofiled
    ops = prof["ops"]
    assert ops and {o["op"] for o in ops} & set(CONV[backend]), [o["op"] for o in ops]
    assert all(o["calls"] >= 1 and o["total_ms"] >= 0 and o["mean_ms"] >= 0 for o in ops)
    assert prof["total_ms"] > 0 and ops[0]["total_ms"] > 0
    assert [o["total_ms"] for o in ops] == sorted((o["total_ms"] for o in ops), reverse=True)
    assert sum(o["share_pct"] for o in ops) == pytest.approx(100.0, abs=0.1)
    assert prof["profiled_run_ms"] > 0
    if backend == "onnxruntime":  # ORT names its nodes
        assert prof["nodes"] and all(n["node"] for n in prof["nodes"])
    assert "per-operator profile" in rec.summary

    store = ResultStore(tmp_path / "store")
    store.add(rec)
    (back,) = store.records()
    assert back["options"]["profile"] == json.loads(json.dumps(prof))
    html = render_report([back])
    top = ops[0]["op"]
    assert 'id="profiles"' in html and f'<td class="mono">{top}</td>' in html.replace("&lt;", "<")
    assert f'data-v="{ops[0]["share_pct"]}"' in html


@pytest.mark.slow
def test_latency_profile_prints_the_table_after_the_usual_output(tmp_path, capsys):
    from kbench.adapters.base import runtime_status
    from kbench.cli import main

    if not runtime_status("onnxruntime")[0]:
        pytest.skip("onnxruntime is not installed")
    rc = main(["latency", "--models", TINY, "--backend", "onnxruntime", "--threads", "1", "--runs", "5",
               "--warmup", "2", "--no-yardstick", "--profile", "--record", str(tmp_path / "rec.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.index("median ms per run") < out.index("timed, onnxruntime model") < out.index("per-operator profile")
    table = out[out.index("per-operator profile, tinypose_128x96 onnxruntime cpu fp32 b1 1t"):]
    assert "op type" in table and "Conv" in table and "%" in table
    record = json.loads((tmp_path / "rec.json").read_text())
    assert record["options"]["profile"]["ops"][0]["share_pct"] > 0


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["tensorrt", "onnxruntime", "paddle-inference", "torch"])
def test_profile_on_the_gpu(backend):
    from kbench.adapters.base import runtime_status
    from kbench.bench import machine
    from kbench.runners.latency import run_latency

    ok, why = machine.gpu_available()
    if not ok:
        pytest.skip(f"no GPU: {why}")
    if not runtime_status(backend)[0]:
        pytest.skip(f"{backend}: {runtime_status(backend)[1]}")
    rec = run_latency(LatencySpec(model=TINY, backend=backend, device="gpu", runs=5, warmup="2", profile=True))
    prof = rec["options"]["profile"]
    assert prof["ops"] and prof["total_ms"] > 0
    assert sum(o["share_pct"] for o in prof["ops"]) == pytest.approx(100.0, abs=0.1)
