"""``kbench sweep --ray`` on a simulated cluster: one head and two workers on this machine
(``ray.cluster_utils.Cluster``), each with a bench slot, the workers with different custom resources.

* latency cells never overlap on a node, nor does any other cell run on a node while it times (recorded start and
  end times);
* ``--every-node`` gives one record per node, each naming its node;
* a sharded evaluation equals the single-process one bit for bit (metrics and every keypoint of the results file);
* a node removed mid-sweep leaves every cell done on another node or recorded as failed after its retries.

One cluster for the module (about 5 s to start); the module takes about two minutes on two cores.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

ray = pytest.importorskip("ray")

from kbench.cli import main  # noqa: E402
from kbench.results.store import ResultStore  # noqa: E402
from kbench.specs import EvalSpec  # noqa: E402

LATENCY = ["--kind", "latency", "--models", "tinypose_128x96", "--backend", "onnxruntime", "--threads", "1",
           "--runs", "3", "--warmup", "1"]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    from kbench.sweeps.ray_cluster import BENCH_SLOT, NODE_LABEL

    small = {"object_store_memory": 80 * 1024 * 1024}
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {BENCH_SLOT: 1},
                                                      "labels": {NODE_LABEL: "head"}, "include_dashboard": False,
                                                      **small})
    c.add_node(num_cpus=1, resources={BENCH_SLOT: 1, "fast": 1}, labels={NODE_LABEL: "w1"}, **small)
    c.add_node(num_cpus=1, resources={BENCH_SLOT: 1, "big_memory": 1}, labels={NODE_LABEL: "w2"}, **small)
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _records(store):
    return ResultStore(store).records()


def _sweep(cluster, store, *argv):
    return main(["sweep", *argv, "--ray", cluster.address, "--store", str(store), "--json"])


def test_latency_cells_never_overlap_on_a_node(cluster, tmp_path):
    store = tmp_path / "store"
    assert _sweep(cluster, store, "--kind", "latency,profile", "--models", "tinypose_*", "--backend", "onnxruntime",
                  "--threads", "1", "--batch", "1,2", "--runs", "3", "--warmup", "1", "--cpus-per-cell", "0.5") == 0
    records = _records(store)
    assert sorted(r["kind"] for r in records) == ["latency"] * 4 + ["profile"] * 2
    by_node: dict = {}
    for r in records:
        sweep = r["options"]["sweep"]
        assert sweep["node_key"] in {"head", "w1", "w2"}
        by_node.setdefault(sweep["node"]["node_id"], []).append((sweep["started"], sweep["ended"], r["kind"]))
    for spans in by_node.values():
        for i, (s0, e0, k0) in enumerate(spans):
            for s1, e1, k1 in spans[i + 1:]:
                if "latency" in (k0, k1):
                    assert s1 >= e0 or e1 <= s0, f"a {k1} cell ran on a node beside a {k0} cell"
    lat = [r for r in records if r["kind"] == "latency"]
    # Each latency cell held the node's bench slot and every CPU of it.
    assert all(r["options"]["sweep"]["node"]["resources"].get("kbench_bench_slot") == 1 for r in lat)
    assert all(r["options"]["sweep"]["node"]["cpus"] == r["options"]["sweep"]["cpus"] for r in lat)


def test_every_node_gives_one_record_per_node(cluster, tmp_path, capsys):
    store = tmp_path / "store"
    assert _sweep(cluster, store, *LATENCY, "--every-node") == 0
    outcomes = json.loads(capsys.readouterr().out)
    assert sorted(o["node"] for o in outcomes) == ["head", "w1", "w2"]
    records = _records(store)
    assert sorted(r["options"]["sweep"]["node_key"] for r in records) == ["head", "w1", "w2"]
    assert len({r["options"]["sweep"]["node"]["node_id"] for r in records}) == 3
    assert all(r["env"] for r in records)  # each node's machine fingerprint, taken where it ran
    # --resume knows each node's copy: nothing runs again.
    assert _sweep(cluster, store, *LATENCY, "--every-node", "--resume") == 0
    assert {o["status"] for o in json.loads(capsys.readouterr().out)} == {"skipped"}


def test_a_label_selects_the_nodes(cluster, tmp_path):
    from kbench.results.store import ResultStore
    from kbench.sweeps import run_sweep
    from kbench.sweeps.plan import plan_from_blocks
    from kbench.sweeps.ray_cluster import RayExecutor

    plan = plan_from_blocks([{"kind": "latency", "models": "tinypose_128x96", "backend": "onnxruntime", "threads": 1,
                              "runs": 3, "warmup": "1", "nodes": "resource:fast"}], gpu=(False, ""))
    outcomes, _ = run_sweep(plan, ResultStore(tmp_path), RayExecutor(cluster.address))
    assert [(o.status, o.node) for o in outcomes] == [("done", "w1")]


def test_a_sharded_evaluation_equals_one_process_bit_for_bit(cluster, tmp_path):
    from kbench import run

    single_rows = tmp_path / "single.json"
    single = run(EvalSpec(model="tinypose_128x96", sample=12, weights="random", workers=0, results=str(single_rows)))
    sheet = tmp_path / "sweep.yml"
    shard_rows = tmp_path / "sharded.json"
    sheet.write_text(f"cells:\n  - kind: eval\n    models: tinypose_128x96\n    sample: 12\n    weights: random\n"
                     f"    workers: 0\n    shards: 3\n    results: {shard_rows}\n")
    store = tmp_path / "store"
    assert _sweep(cluster, store, str(sheet)) == 0
    (record,) = _records(store)
    assert record["metrics"] == single["metrics"]
    assert record["options"]["cell_id"] == single["options"]["cell_id"]
    assert json.loads(shard_rows.read_text()) == json.loads(single_rows.read_text())
    shards = record["options"]["sweep"]["shards"]
    assert sorted(s["part"] for s in shards) == [0, 1, 2]


def test_a_node_removed_mid_sweep_leaves_no_cell_unaccounted(cluster, tmp_path):
    from kbench.results.store import ResultStore
    from kbench.sweeps.engine import SweepEngine
    from kbench.sweeps.plan import plan_from_blocks
    from kbench.sweeps.ray_cluster import BENCH_SLOT, NODE_LABEL, RayExecutor

    doomed = cluster.add_node(num_cpus=1, resources={BENCH_SLOT: 1}, labels={NODE_LABEL: "doomed"},
                              object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    blocks = [{"kind": "latency", "models": "tinypose_128x96", "backend": "onnxruntime", "threads": 1,
               "batch": [1, 2, 3], "seconds": 2.0, "warmup": "1", "yardstick": False},
              {"kind": "latency", "models": "tinypose_128x96", "backend": "onnxruntime", "threads": 1, "batch": 4,
               "runs": 3, "warmup": "1", "nodes": "all", "yardstick": False}]
    plan = plan_from_blocks(blocks, retries=1, gpu=(False, ""))
    executor = RayExecutor(cluster.address)
    engine = SweepEngine(executor, ResultStore(tmp_path / "store"), retries=1)
    result = {}
    runner = threading.Thread(target=lambda: result.update(out=engine.run(plan.cells)))
    runner.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (executor.lanes.get("doomed") is None
                                           or executor.lanes["doomed"].busy is None):
        time.sleep(0.1)
    assert executor.lanes["doomed"].busy is not None, "no cell reached the doomed node"
    time.sleep(1.0)  # mid-cell
    victim = executor._flying[executor.lanes["doomed"].busy][0]
    cluster.remove_node(doomed, allow_graceful=False)
    runner.join(timeout=300)
    assert not runner.is_alive()
    outcomes, interrupted = result["out"]
    assert not interrupted
    assert len(outcomes) == 3 + 4  # three unpinned cells, one pinned copy per node (head, w1, w2, doomed)
    for o in outcomes:
        assert o.status in ("done", "failed")
        if o.status == "done":
            assert o.node != "doomed" or o.cell.node == "doomed"
        else:
            assert o.error and o.attempts >= 1
    pinned = {o.cell.node: o for o in outcomes if o.cell.node}
    assert {k: pinned[k].status for k in ("head", "w1", "w2")} == {"head": "done", "w1": "done", "w2": "done"}
    # What was on the doomed node either moved to a living node or is recorded as failed, never lost.
    assert sum(o.status == "done" for o in outcomes if not o.cell.node) + \
        sum(o.status == "failed" for o in outcomes if not o.cell.node) == 3
    (hit,) = [o for o in outcomes if o.cell.key == victim.key]
    if victim.node == "doomed":  # the pinned copy cannot move: failed, with the reason
        assert hit.status == "failed" and "node" in hit.error
    else:  # an unpinned cell runs again on a living node
        assert hit.status == "done" and hit.attempts == 2 and hit.node != "doomed"
    print("victim:", hit.to_dict())
