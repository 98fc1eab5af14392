"""Running a sweep on a Ray cluster (or a local Ray instance started for it).

Placement, in Ray's terms:

* **Latency cells** get a node to themselves. Each node that may time advertises one ``kbench_bench_slot``
  (``ray start --resources '{"kbench_bench_slot": 1}'``); a latency cell asks for that slot, every CPU of the node
  (plus one GPU on GPU cells) and that node by hard node affinity, so no other kbench task is scheduled beside it
  while it times. Ray's resources are logical and pin no threads: the cell still sets its runtime's thread count,
  and its record says which node it ran on and which resources it held. One latency cell per node at a time.
* ``nodes: all`` (``--every-node``) runs each latency cell once on every bench node (``label:KEY=VALUE`` or
  ``resource:NAME``: on the nodes with that label or resource), one record per node, each with the node's own
  machine fingerprint (``env``) and node key (the ``kbench-node`` label, else the hostname).
* **Other cells** ask for fractional CPUs (``cpus_per_cell``) anywhere. A sharded evaluation is three steps:
  one task prepares the ground truth and crops, whose result stays in the object store (read once per node, not
  once per task), one task per shard runs the model on its images, and one task merges and evaluates.
* **Faults**: tasks are not retried by Ray (``max_retries=0``); the sweep engine retries them, on another node
  when their node has gone (a latency cell pinned to a node that left fails with that reason).
"""

from __future__ import annotations

import logging
import os

from kbench.errors import InputError

__all__ = ["RayExecutor", "BENCH_SLOT", "NODE_LABEL", "ray_start_lines"]

BENCH_SLOT = "kbench_bench_slot"
NODE_LABEL = "kbench-node"


def ray_start_lines() -> str:
    """The documented way to start nodes that take latency cells."""
    return (f"ray start --head --resources '{{\"{BENCH_SLOT}\": 1}}' --labels {NODE_LABEL}=head\n"
            f"ray start --address HEAD:6379 --resources '{{\"{BENCH_SLOT}\": 1}}' --labels {NODE_LABEL}=NAME")


class _Lane:
    """A node that takes latency cells: its id, key, CPUs and GPUs, and whether a cell is on it."""

    def __init__(self, node: dict, key: str):
        self.node_id = node["NodeID"]
        self.key = key
        self.cpus = float(node["Resources"].get("CPU", 1))
        self.gpus = float(node["Resources"].get("GPU", 0))
        self.labels = dict(node.get("Labels") or {})
        self.resources = dict(node["Resources"])
        self.busy = None  # the future of the latency cell on it
        self.alive = True

    def matches(self, selector: str) -> bool:
        if selector in ("any", "all"):
            return True
        if selector.startswith("label:"):
            key, _, value = selector[len("label:"):].partition("=")
            return self.labels.get(key) == value
        return self.resources.get(selector[len("resource:"):], 0) > 0


class RayExecutor:
    """Places cells on a Ray cluster (see the module's text).

    Args:
        address: a cluster to join (``ray://`` or ``HOST:PORT``; None with ``start_local``: a new local instance).
        cpus_per_cell: the CPUs an evaluation, profile, conformance or export task asks for (fractions allowed).
        start_local: start a local Ray instance with one bench slot when no address is given.
        init_options: passed to ``ray.init`` for a local instance (e.g. ``num_cpus``, ``object_store_memory``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_cell: float = 1.0, start_local: bool = True,
                 init_options: dict | None = None):
        try:
            import ray
        except ImportError:
            raise InputError("--ray needs Ray: pip install 'kbench[ray]'") from None
        self.ray = ray
        self.cpus_per_cell = cpus_per_cell
        self._started = False
        address = address or os.environ.get("RAY_ADDRESS")
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, include_dashboard=False, log_to_driver=False,
                             logging_level=logging.WARNING)
                else:
                    opts = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
                            "resources": {BENCH_SLOT: 1}, **(init_options or {})}
                    ray.init(**opts)
                    self._started = True
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(f"--ray {address or ''}: cannot reach a Ray cluster: "
                                 f"{(str(exc).splitlines() or [''])[0]}".replace("  ", " ")) from None
        self._remotes()
        self.lanes: dict[str, _Lane] = {}
        self._refresh()
        self._flying: dict = {}  # future -> (cell, lane or None, refs)

    def _remotes(self) -> None:
        from kbench.sweeps import tasks

        remote = self.ray.remote
        self._run_cell = remote(max_retries=0)(tasks.run_cell)
        self._prepare = remote(max_retries=0)(tasks.eval_prepare)
        self._part = remote(max_retries=0)(tasks.eval_part)
        self._finish = remote(max_retries=0)(tasks.eval_finish)

    def describe(self) -> str:
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        cpus = sum(float(n["Resources"].get("CPU", 0)) for n in nodes)
        return (f"Ray cluster: {len(nodes)} node(s), {cpus:g} CPUs, {len(self.lanes)} bench slot(s) "
                f"({', '.join(sorted(self.lanes)) or 'none'})")

    # -- nodes ---------------------------------------------------------------------------------------------
    def _node_keys(self, nodes: list) -> dict:
        keys = {}
        for n in nodes:
            labels = n.get("Labels") or {}
            keys[n["NodeID"]] = labels.get(NODE_LABEL) or n.get("NodeManagerHostname") or n["NodeID"][:8]
        counts: dict = {}
        for k in keys.values():
            counts[k] = counts.get(k, 0) + 1
        return {nid: (k if counts[k] == 1 else f"{k}-{nid[:8]}") for nid, k in keys.items()}

    def _refresh(self) -> None:
        """Bring the lanes up to date with the cluster: nodes that left are marked dead, new ones added."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        self._keys = {**getattr(self, "_keys", {}), **self._node_keys(nodes)}
        alive = {n["NodeID"] for n in nodes}
        for lane in self.lanes.values():
            lane.alive = lane.node_id in alive
        for n in nodes:
            if n["Resources"].get(BENCH_SLOT, 0) >= 1:
                key = self._keys[n["NodeID"]]
                if key not in self.lanes or not self.lanes[key].alive:
                    self.lanes[key] = _Lane(n, key)

    def node_key(self, node: dict) -> str:
        nid = node.get("node_id")
        if nid and nid not in self._keys:
            self._refresh()
        return self._keys.get(nid, node.get("hostname", ""))

    # -- the executor protocol -----------------------------------------------------------------------------
    def expand(self, cells: list) -> list:
        """Latency cells with ``nodes`` other than ``any``: one pinned copy per matching bench node."""
        from kbench.sweeps.plan import pinned

        out = []
        for cell in cells:
            if not cell.exclusive:
                out.append(cell)
                continue
            lanes = [lane for lane in self.lanes.values() if lane.alive and lane.matches(cell.nodes)]
            if cell.spec.device == "gpu":
                lanes = [lane for lane in lanes if lane.gpus >= 1]
            if not lanes:
                where = "" if cell.nodes in ("any", "all") else f" matching {cell.nodes}"
                raise InputError(f"{cell.label}: no node{where} advertises {BENCH_SLOT}"
                                 f"{' and a GPU' if cell.spec.device == 'gpu' else ''}; start nodes with\n"
                                 + ray_start_lines())
            if cell.nodes == "any":
                out.append(cell)
            else:
                out.extend(pinned(cell, lane.key) for lane in sorted(lanes, key=lambda ln: ln.key))
        return out

    def _free_lane(self, cell):
        if cell.node:
            lane = self.lanes.get(cell.node)
            if lane is None or not lane.alive:
                return f"node {cell.node} has left the cluster"
            return lane if lane.busy is None else None
        for lane in sorted(self.lanes.values(), key=lambda ln: ln.key):
            if lane.alive and lane.busy is None and lane.matches(cell.nodes) and \
                    (cell.spec.device != "gpu" or lane.gpus >= 1):
                return lane
        if not any(lane.alive and lane.matches(cell.nodes) for lane in self.lanes.values()):
            return f"no bench node is left in the cluster ({BENCH_SLOT})"
        return None

    def submit(self, cell):
        """A future of the cell's result; None while it must wait; a text when it cannot be placed at all."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if cell.exclusive:
            lane = self._free_lane(cell)
            if lane is None or isinstance(lane, str):
                return lane
            placement = {"executor": "ray", "exclusive": True, "node_id": lane.node_id, "node_key": lane.key,
                         "cpus": lane.cpus}
            options = {"num_cpus": lane.cpus, "resources": {BENCH_SLOT: 1},
                       "scheduling_strategy": NodeAffinitySchedulingStrategy(lane.node_id, soft=False)}
            if cell.spec.device == "gpu":
                options["num_gpus"] = 1
            ref = self._run_cell.options(**options).remote(cell.spec, placement)
            refs = [ref]
        else:
            lane = None
            placement = {"executor": "ray", "exclusive": False, "cpus": self.cpus_per_cell}
            options = {"num_cpus": self.cpus_per_cell}
            if getattr(cell.spec, "device", "cpu") == "gpu":
                options["num_gpus"] = 1
            if cell.shards > 1:
                job = self._prepare.options(**options).remote(cell.spec)
                parts = [self._part.options(**options).remote(cell.spec, job, i, cell.shards)
                         for i in range(cell.shards)]
                ref = self._finish.options(**options).remote(cell.spec, job, *parts, placement=placement)
                refs = [job, *parts, ref]
            else:
                ref = self._run_cell.options(**options).remote(cell.spec, placement)
                refs = [ref]
        fut = ref.future()
        if lane is not None:
            lane.busy = fut
        self._flying[fut] = (cell, lane, refs)
        return fut

    def result(self, fut):
        _, lane, _ = self._flying.pop(fut, (None, None, None))
        if lane is not None:
            lane.busy = None
        try:
            return fut.result()
        except self.ray.exceptions.RayError:
            self._refresh()  # a node may have gone: its lane takes no more cells
            raise

    def forget(self, fut) -> None:
        """Stop tracking a cancelled cell; its node takes cells again."""
        _, lane, _ = self._flying.pop(fut, (None, None, None))
        if lane is not None:
            lane.busy = None

    def describe_failure(self, exc: BaseException) -> str:
        name = type(exc).__name__
        first = (str(exc).strip().splitlines() or [""])[0]
        if "NodeDied" in name:
            return "its node died or left the cluster"
        if "WorkerCrashed" in name:
            return "its Ray worker process died"
        if "TaskUnschedulable" in name:
            return "no node can take it any more"
        return f"{name}: {first}"[:300]

    def cancel(self, handles: list) -> None:
        for fut in handles:
            for ref in self._flying.get(fut, (None, None, []))[2]:
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # already finished, or its node is gone
                    pass

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
