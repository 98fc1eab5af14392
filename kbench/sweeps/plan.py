"""A sweep's plan: blocks of axes (from a YAML file or the command's flags) expanded into cells, one spec each.

A sweep file (schema ``kbench.sweep/1``, example in ``examples/sweep.yml``)::

    retries: 1                 # optional: reruns of a failed cell (default 1)
    cells:                     # blocks; within a block every list is an axis and the cells are their product
      - kind: latency
        models: tinypose_*     # names, globs or all; a list is an axis too
        backend: [onnxruntime, paddle-inference]
        precision: [fp32, fp16]
        batch: [1, 8]
        threads: [1, 4]
        seconds: 2
        nodes: all             # latency only: run every cell once on every node (or label:KEY=VALUE, resource:NAME)
      - kind: eval
        models: tinypose_128x96
        sample: 24
        weights: random
        shards: 2              # eval with a model only: split the images over this many tasks

A block's keys are the fields of its kind's spec (:mod:`kbench.specs`: ``LatencySpec``, ``EvalSpec``,
``ProfileSpec``, ``ConformanceSpec``, ``ExportSpec``), plus ``models`` (for the one-model kinds: expanded into
``model``), ``shards`` and ``nodes``. An unknown key is an error naming it; so is a value the spec refuses.

Combinations that cannot run here are dropped with their reason before anything runs (:class:`Impossible`):
FP16 on a CPU, a GPU cell where no GPU is, a runtime that is not installed. This module imports only the
standard library, PyYAML and kbench's specs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields, replace
from pathlib import Path

from kbench.errors import InputError

__all__ = ["Cell", "Impossible", "SweepPlan", "load_sweep_file", "plan_from_blocks", "SWEEP_KINDS", "NODE_CHOICES"]

SWEEP_KINDS = ("latency", "eval", "profile", "conformance", "export")
SWEEP_KEYS = ("kind", "models", "shards", "nodes")
#: How latency cells are placed: one bench node each (default), or a copy on every node matching a selector.
NODE_CHOICES = "any | all | label:KEY=VALUE | resource:NAME"


@dataclass(frozen=True)
class Cell:
    """One measurement of a sweep: its spec, and how it is spread (eval shards, latency node selection).

    ``node`` is set on copies pinned to one node (``nodes: all``); ``key`` tells cells apart for ``--resume``:
    the spec's :attr:`~kbench.specs.Spec.cell_id`, plus the node of a pinned copy.
    """

    spec: object
    shards: int = 1
    nodes: str = "any"
    node: str | None = None  # a pinned copy's node key (its label), set by the executor

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def exclusive(self) -> bool:
        """Latency cells time the machine: nothing else of kbench runs beside them on their node."""
        return self.kind == "latency"

    @property
    def key(self) -> str:
        return self.spec.cell_id + (f"@{self.node}" if self.node else "")

    @property
    def label(self) -> str:
        """``latency tinypose_128x96 onnxruntime cpu fp32 b1 t1`` and the like, for plans and tables."""
        s = self.spec
        if s.kind == "latency":
            text = (f"latency {s.model} {s.backend} {s.device} {s.precision} b{s.batch}"
                    f"{'' if s.threads is None else f' t{s.threads}'}{'' if s.scope == 'model' else f' {s.scope}'}")
        elif s.kind == "eval":
            what = s.model or s.predictions or "sample"
            data = f"sample {s.sample}" if s.sample is not None else (s.data_root or s.ann or "")
            text = f"eval {what} {s.backend if s.model else ''} {data}".replace("  ", " ").strip()
            if self.shards > 1:
                text += f" x{self.shards} shards"
        elif s.kind == "profile":
            text = f"profile {s.model}"
        elif s.kind == "conformance":
            text = f"conformance {s.models or 'all'} {s.backends or 'cpu runtimes'} {s.precision}"
        else:
            text = f"export {s.model} {s.to} b{s.batch}"
        return text + (f" @{self.node}" if self.node else "")


@dataclass(frozen=True)
class Impossible:
    """A combination dropped from the plan, and why."""

    label: str
    why: str

    def line(self) -> str:
        return f"{self.label}: {self.why}"


@dataclass
class SweepPlan:
    """The cells to run, the combinations dropped and the sweep's settings."""

    cells: list
    impossible: list
    retries: int = 1
    source: str = "flags"


# --- reading a sweep file ------------------------------------------------------------------------------------------

def load_sweep_file(path: str | Path) -> dict:
    """The parsed sweep file (a mapping with ``cells``), with one-line errors for what is wrong with it."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: sweep file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read the sweep file ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{p}: not valid YAML{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or not data["cells"]:
        raise InputError(f"{p}: a sweep file is a mapping with a non-empty 'cells' list (see examples/sweep.yml)")
    unknown = sorted(set(data) - {"cells", "retries", "schema", "name"})
    if unknown:
        raise InputError(f"{p}: unknown key {unknown[0]!r} (a sweep file has cells, retries, name, schema)")
    if data.get("schema", "kbench.sweep/1") != "kbench.sweep/1":
        raise InputError(f"{p}: schema {data['schema']!r}; this kbench reads kbench.sweep/1")
    return data


# --- expanding blocks into cells -----------------------------------------------------------------------------------

def _spec_class(kind):
    from kbench.specs import SPEC_KINDS

    return SPEC_KINDS[kind]


def _as_axis(name: str, value) -> list:
    """A block value as the list of values of its axis (a scalar is an axis of one)."""
    if name == "sigmas":  # a list of numbers is one value; a list of lists, an axis
        return [value] if not (isinstance(value, list) and value and isinstance(value[0], list)) else value
    if isinstance(value, list):
        if not value:
            raise InputError(f"{name}: an empty list gives no cells")
        return value
    return [value]


def _models(value, where: str) -> list[str]:
    from kbench.cards import select_cards

    names = []
    for item in _as_axis("models", value):
        if not isinstance(item, str):
            raise InputError(f"{where}: models must be names or globs, got {item!r}")
        names.extend(card.ref for card in select_cards(item))
    return list(dict.fromkeys(names))


def _check_nodes(value, where: str) -> str:
    if not isinstance(value, str) or not (value in ("any", "all") or value.startswith(("label:", "resource:"))):
        raise InputError(f"{where}: nodes must be {NODE_CHOICES}; got {value!r}")
    if value.startswith("label:") and "=" not in value:
        raise InputError(f"{where}: nodes: label:KEY=VALUE, got {value!r}")
    return value


def _why_impossible(spec, gpu: tuple[bool, str]) -> str | None:
    """Why a latency or model-eval spec cannot run here (None: it can)."""
    from kbench.bench.latency import BACKENDS, capability

    device = getattr(spec, "device", "cpu")
    if device == "gpu" and not gpu[0]:
        return f"no GPU ({gpu[1]})"
    if spec.kind == "latency" or (spec.kind == "eval" and spec.model):
        if spec.backend not in BACKENDS:
            return None  # the spec itself names the known backends
        ok, why = capability(spec.backend, device, spec.precision)
        if not ok:
            return why
    return None


def _check_here(spec) -> None:
    """What can be checked before anything runs: the weights file, the data folder and files a cell names.

    Every node reads the same paths (see the README), so a path missing here is missing there too.
    """
    from kbench.specs import check_weights

    if getattr(spec, "weights", None):
        check_weights(spec.weights)
    if spec.kind == "eval":
        if spec.data_root and not Path(spec.data_root).is_dir():
            raise InputError(f"--data-root {spec.data_root}: not a folder")
        for name in ("ann", "predictions", "image_dir", "mpii_gt"):
            value = getattr(spec, name)
            if value and not Path(value).exists():
                raise InputError(f"{name} {value}: not found")


def _fp16_on_cpu(kind: str, values: dict) -> str | None:
    if kind == "eval" and values.get("fp16") and values.get("device", "cpu") != "gpu" and values.get("model"):
        return "FP16 runs on the GPU runtimes (a CPU would compute FP32)"
    if kind == "conformance" and values.get("fp16"):
        return "FP16 conformance: the matrix runs on the CPU, where no runtime computes FP16"
    return None


def plan_from_blocks(blocks: list, retries=1, gpu: tuple[bool, str] | None = None, source: str = "flags") -> SweepPlan:
    """Expand blocks (mappings as the sweep file holds them) into cells and impossible combinations.

    Args:
        blocks: the ``cells`` of a sweep file.
        retries: reruns of a failed cell.
        gpu: whether a GPU is where the cells run, and why not (default: this machine's).
        source: where the blocks came from, for messages.

    Raises:
        InputError: an unknown kind or key, a value its spec refuses, a sweep with nothing to run.
    """
    from kbench.specs import parse_batch

    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"{source}: retries must be a whole number >= 0; got {retries!r}")
    if gpu is None:
        from kbench.bench.machine import gpu_available

        gpu = gpu_available()
    cells: list[Cell] = []
    impossible: list[Impossible] = []
    for number, block in enumerate(blocks, 1):
        where = f"{source}: cells[{number}]"
        if not isinstance(block, dict):
            raise InputError(f"{where}: each block is a mapping with a kind")
        kind = block.get("kind")
        if kind not in SWEEP_KINDS:
            raise InputError(f"{where}: kind must be one of {', '.join(SWEEP_KINDS)}; got {kind!r}")
        cls = _spec_class(kind)
        names = {f.name for f in fields(cls)}
        for key in block:
            if key not in names and key not in SWEEP_KEYS:
                raise InputError(f"{where}: unknown key {key!r} for kind {kind} (keys: "
                                 f"{', '.join(sorted(names | {'models', 'shards', 'nodes'} - {'model'}))})")
        shards = block.get("shards", 1)
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise InputError(f"{where}: shards must be a whole number >= 1; got {shards!r}")
        nodes = _check_nodes(block.get("nodes", "any"), where)
        if nodes != "any" and kind != "latency":
            raise InputError(f"{where}: nodes applies to latency cells (a measurement of the node it runs on)")
        axes: dict[str, list] = {}
        if "models" in block:
            if "model" in block:
                raise InputError(f"{where}: give models or model, not both")
            if kind == "conformance":
                value = block["models"]
                axes["models"] = [",".join(value) if isinstance(value, list) else value]
            else:
                axes["model"] = _models(block["models"], where)
        for key, value in block.items():
            if key in SWEEP_KEYS:
                continue
            if kind == "conformance" and key == "backends" and isinstance(value, list):
                value = ",".join(value)
            axes[key] = _as_axis(key, value)
        if shards > 1 and not (kind == "eval" and "model" in axes):
            raise InputError(f"{where}: shards split a model's evaluation: an eval block with models")
        for combo in itertools.product(*axes.values()):
            values = dict(zip(axes, combo))
            if kind == "latency" and values.get("device") == "gpu":
                values["threads"] = None  # thread counts are a CPU axis
            if kind == "export" and "batch" in values:
                parse_batch(values["batch"])
            label = f"{kind} " + " ".join(f"{k}={v}" for k, v in values.items())
            why = _fp16_on_cpu(kind, values)
            if why:
                impossible.append(Impossible(label, why))
                continue
            try:
                spec = cls(**values)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            except TypeError as exc:
                raise InputError(f"{where}: {exc}") from None
            try:
                _check_here(spec)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
            why = _why_impossible(spec, gpu)
            cell = Cell(spec, shards=shards, nodes=nodes)
            if why:
                if all(i.label != cell.label for i in impossible):
                    impossible.append(Impossible(cell.label, why))
            elif all(c.key != cell.key for c in cells):
                cells.append(cell)
    if not cells:
        reasons = "; ".join(i.line() for i in impossible[:3])
        raise InputError(f"{source}: nothing to run" + (f": {reasons}" if reasons else ""))
    return SweepPlan(cells, impossible, retries, source)


def pinned(cell: Cell, node: str) -> Cell:
    """A copy of a latency cell pinned to one node."""
    return replace(cell, node=node)
