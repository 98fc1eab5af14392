"""Export a zoo model to ONNX: paddle2onnx on the legacy Paddle export, or kbench's PyTorch network, then check,
simplify and (optionally) convert to FP16, with a manifest beside the model.

Sources:

* ``paddle``: the card's Paddle network is saved in the legacy program format (``model.pdmodel``) and converted by
  paddle2onnx. Both steps run in one child process: the legacy format needs ``FLAGS_enable_pir_api=0`` before paddle
  is imported, and paddle2onnx logs its failures and carries on (its C++ side may even abort), so the child's output
  is where the failing operator is named. paddle2onnx's own optimisation (polygraphy constant folding) is switched
  off: polygraphy installs ``onnx_graphsurgeon`` with pip at run time when it is missing, and the simplifier below
  folds the same constants.
* ``torch``: :func:`kbench.export.onnx_torch.export_onnx_from_torch` (kbench's PyTorch networks, same checkpoints).
* ``auto``: ``paddle``, falling back to ``torch`` when the Paddle route fails; the manifest records why.

Every graph gets the same interface whichever exporter wrote it: input ``image`` (N, 3, H, W) float32, outputs
``heatmaps`` (and ``tags`` for bottom-up models), batch axis ``batch`` when dynamic (and ``height``/``width`` for
bottom-up inputs). The simplifier is onnxsim, else onnxslim, else none (recorded).

The manifest, ``<name>.manifest.json`` beside ``<name>.onnx``, is written after the model, so a model with a manifest
is complete; both are written through a temporary file and a rename.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from kbench.errors import InputError, MissingBackendError
from kbench.export.cache import artifacts_root, weights_key

__all__ = ["export_onnx", "cached_onnx", "manifest_path", "read_manifest", "artifacts_root", "weights_key",
           "DEFAULT_OPSET", "SOURCES"]

#: Opset used when none is asked for: Resize with output sizes needs 11; 13 is read by every TensorRT from 8.0 on
#: and by every onnxruntime release kbench supports. paddle2onnx raises it by itself when an operator needs more.
DEFAULT_OPSET = 13
MIN_OPSET = 11
SOURCES = ("auto", "paddle", "torch")


def manifest_path(onnx_path: str | os.PathLike) -> Path:
    """The manifest beside an ONNX file: ``model.onnx`` -> ``model.manifest.json``."""
    p = Path(onnx_path)
    return p.with_name(p.stem + ".manifest.json")


def read_manifest(onnx_path: str | os.PathLike) -> dict | None:
    """The manifest of an exported ONNX file, or None when there is none (a model from elsewhere)."""
    from kbench._fileio import read_json

    m = manifest_path(onnx_path)
    return read_json(m) if m.is_file() else None


def _check_args(card, batch, opset, source) -> None:
    if source not in SOURCES:
        raise InputError(f"unknown ONNX source {source!r}; use one of: {', '.join(SOURCES)}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise InputError(f"batch must be a positive integer or None (dynamic), got {batch!r}")
    if opset is not None:
        try:
            import onnx

            newest = onnx.defs.onnx_opset_version()
        except ImportError:
            newest = 99
        if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
            raise InputError(f"opset must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise MissingBackendError("onnx", "onnx") from None
    return onnx


# --------------------------------------------------------------------------------------------------------------
# paddle2onnx in a child process

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STAMP = re.compile(r"^\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*")  # paddle2onnx's log time stamps
# Lines paddle2onnx writes when it gives up, most specific first: its C++ converter names unsupported operators
# ("Oops, there are some operators not supported yet, including pd_op.xxx"), and its Python wrapper logs the
# exception, e.g. for PaddleDetection's own HRNet (nearest_interp_v2 with scale=[2.0, 2.0]): "[ERROR] Failed to
# convert PaddlePaddle model: (Unimplemented) the 0th elementwise MUST be ir::FloatAttribute".
_P2O_PATTERNS = ("not supported", "[ERROR]", "Failed to convert", "Error", "error")


def p2o_failure(output: str) -> str:
    """The one line of a failed paddle2onnx run's output that says what failed."""
    lines = [" ".join(_STAMP.sub("", _ANSI.sub("", ln)).split()) for ln in output.splitlines()]
    lines = [ln for ln in lines if ln and "ccache" not in ln and not ln.startswith("warnings.warn")]
    for pattern in _P2O_PATTERNS:
        for ln in lines:
            if pattern in ln:
                return ln[:400]
    return lines[-1][:400] if lines else "(no output)"


_INPUT_ERROR = "kbench-input-error:"


def _paddle_to_onnx(card, raw: Path, weights, batch, opset) -> dict:
    """Legacy Paddle export + paddle2onnx in a child process; returns the child's record (versions, weights)."""
    for module, package, extra in (("paddle", "paddlepaddle", "paddle"), ("paddle2onnx", "paddle2onnx", "onnx")):
        if importlib.util.find_spec(module) is None:
            raise MissingBackendError(package, extra)
    work = raw.parent / "paddle"
    record = raw.parent / "child.json"
    env = dict(os.environ, FLAGS_enable_pir_api="0")
    cmd = [sys.executable, "-m", "kbench.export.onnx", card.ref, str(work), str(weights), str(batch or 0),
           str(opset or DEFAULT_OPSET), str(raw), str(record)]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    for line in done.stdout.splitlines():  # the user's mistake (weights, card), reported by the child as is
        if line.startswith(_INPUT_ERROR):
            raise InputError(line[len(_INPUT_ERROR):].strip())
    if done.returncode != 0 or not raw.is_file() or not record.is_file():
        raise InputError(f"paddle2onnx could not convert {card.name}: {p2o_failure(done.stdout)}")
    return json.loads(record.read_text())


def _child(argv: list[str]) -> None:
    """Child process: legacy export (FLAGS_enable_pir_api=0 is set by the parent), then paddle2onnx."""
    name, work, weights_arg, batch_arg, opset_arg, raw, record = argv
    from kbench.cards import get_card
    from kbench.export.paddle_inference import export_paddle_inference

    try:
        export_paddle_inference(get_card(name), work, None if weights_arg == "None" else weights_arg,
                                int(batch_arg) or None, legacy=True)
    except InputError as exc:
        print(f"{_INPUT_ERROR} {exc}", flush=True)
        sys.exit(2)
    legacy = json.loads((Path(work) / "manifest.json").read_text())
    import paddle
    import paddle2onnx

    # optimize_tool="None": see the module docstring (polygraphy would pip-install onnx_graphsurgeon).
    paddle2onnx.export(str(Path(work) / "model.pdmodel"), str(Path(work) / "model.pdiparams"), raw,
                       opset_version=int(opset_arg), auto_upgrade_opset=True, enable_onnx_checker=True,
                       optimize_tool="None")
    if not Path(raw).is_file():  # paddle2onnx logged the reason above and returned
        sys.exit(1)
    Path(record).write_text(json.dumps({"weights": legacy.get("weights"), "paddle": paddle.__version__,
                                        "paddle2onnx": paddle2onnx.__version__}))


# --------------------------------------------------------------------------------------------------------------
# torch


def _torch_to_onnx(card, raw: Path, weights, batch, opset) -> dict:
    """kbench's PyTorch network through ``kbench.export.onnx_torch`` (imported only now: it imports torch)."""
    try:
        module = importlib.import_module("kbench.export.onnx_torch")
    except ModuleNotFoundError as exc:
        if exc.name == "kbench.export.onnx_torch":
            raise InputError("the torch ONNX exporter (kbench.export.onnx_torch) is not in this kbench; use "
                             "source='paddle'") from None
        if exc.name and exc.name.split(".")[0] == "torch":
            raise MissingBackendError("torch", "torch") from None
        raise
    fn = getattr(module, "export_onnx_from_torch", None)
    if fn is None:
        raise InputError("kbench.export.onnx_torch has no export_onnx_from_torch(); use source='paddle'")
    kwargs = {} if opset is None else {"opset": opset}
    try:
        fn(card, raw, weights, batch, **kwargs)
    except InputError:
        raise
    except Exception as exc:  # the exporter's own failure, as one line
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(f"torch ONNX export of {card.name} failed: {type(exc).__name__}: {first[:300]}") from None
    if not raw.is_file():
        raise InputError(f"torch ONNX export of {card.name} wrote no file")
    import torch

    return {"weights": _weights_record(card, weights), "torch": torch.__version__}


def _weights_record(card, weights) -> dict:
    """The weights' description without building a network (the same fields as ``WeightsInfo.describe``)."""
    if weights == "random":
        from kbench.zoo.paddle.calibrate import CALIBRATION

        return {"source": "random", "sha256": None, "random": True, "seed": 0, "calibration": CALIBRATION}
    from kbench._fileio import sha256_file
    from kbench.weights.download import checkpoint_spec, resolve_weights, verification

    source, sha = checkpoint_spec(card, weights)
    path = resolve_weights(source, sha256=sha)
    return {"source": str(source), "sha256": sha256_file(path), "random": False, "seed": None,
            "verification": verification(path) or "a local file: its sha256 taken here, nothing to verify"}


# --------------------------------------------------------------------------------------------------------------
# the graph after export


def _rename(graph, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.name == old:
            vi.name = new


def _normalise_io(model, card, batch) -> None:
    """One interface whatever the exporter: ``image`` in; ``heatmaps`` (, ``tags``) out; named dynamic axes."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    expected = ["heatmaps"] if card.top_down else ["heatmaps", "tags"]
    if len(inputs) != 1 or len(graph.output) != len(expected):
        raise InputError(f"the exported graph of {card.name} has {len(inputs)} inputs and {len(graph.output)} "
                         f"outputs; expected 1 and {len(expected)}")
    _rename(graph, inputs[0].name, "image")
    for out, name in zip(list(graph.output), expected):
        _rename(graph, out.name, name)
    dims = inputs[0].type.tensor_type.shape.dim
    names = {0: "batch"} if batch is None else {}
    if not card.top_down:
        names.update({2: "height", 3: "width"})
    for axis, label in names.items():
        if axis < len(dims) and not dims[axis].HasField("dim_value"):
            dims[axis].dim_param = label
    out_names = {0: "batch"} if batch is None else {}
    if not card.top_down:
        out_names.update({2: "heatmap_height", 3: "heatmap_width"})
    for out in graph.output:
        odims = out.type.tensor_type.shape.dim
        for axis, label in out_names.items():
            if axis < len(odims) and not odims[axis].HasField("dim_value"):
                odims[axis].dim_param = label


def _simplify(model) -> tuple[object, dict]:
    """onnxsim, else onnxslim, else the model unchanged; returns (model, what was used)."""
    reasons = []
    try:
        import onnxsim
    except ImportError as exc:  # also a broken install (onnxsim 0.8.1 imports ml_dtypes without depending on it)
        reasons.append(f"onnxsim: {exc}")
    else:
        # Dynamic axes stay dynamic: onnxsim only folds what does not depend on the input's symbolic dims.
        # skip_fuse_bn: onnxsim's BatchNormalization fusion takes ~25 s of the ~30 s on TinyPose's 5,000-node
        # paddle2onnx graph, and onnxruntime (ORT_ENABLE_ALL) and TensorRT fold BN into the convolution themselves.
        simplified, ok = onnxsim.simplify(model, skip_fuse_bn=True)
        if not ok:
            raise InputError("onnxsim produced a graph that does not match the original")
        return simplified, {"name": "onnxsim", "version": getattr(onnxsim, "__version__", "?")}
    try:
        import onnxslim
    except ImportError as exc:
        reasons.append(f"onnxslim: {exc}")
    else:
        return onnxslim.slim(model), {"name": "onnxslim", "version": getattr(onnxslim, "__version__", "?")}
    return model, {"name": None, "note": "no simplifier importable (pip install onnxsim): " + "; ".join(reasons)}


def _shape_nodes(model) -> list[str]:
    """Names of the nodes that compute shapes: ``Shape`` and everything fed only by shapes and constants.

    Bottom-up graphs compute the upsampling sizes from the input's shape at run time (Shape -> Cast to float ->
    Mul -> Cast to int64 -> Resize). onnxconverter-common would turn the float casts of that arithmetic into
    float16 and leave a Cast whose declared output type contradicts its ``to`` attribute, which onnxruntime refuses
    to load; sizes are not activations, so these nodes stay as they are.
    """
    graph = model.graph
    static = {t.name for t in graph.initializer}
    static.update(o for n in graph.node if n.op_type == "Constant" for o in n.output)
    derived, names = set(), []
    for node in graph.node:  # ONNX graphs are stored in topological order
        data = [i for i in node.input if i and i not in static]
        if node.op_type == "Shape" or (data and all(i in derived for i in data)):
            derived.update(node.output)
            names.append(node.name)
    return names


def _to_fp16(model, keep_io_types: bool):
    try:
        from onnxconverter_common import float16
    except ImportError:
        raise MissingBackendError("onnxconverter-common", "onnx") from None
    taken = {n.name for n in model.graph.node}
    for i, node in enumerate(model.graph.node):  # the block list goes by node name; exporters may leave names empty
        if not node.name:
            node.name = f"kbench_node_{i}"
            while node.name in taken:
                node.name += "_"
            taken.add(node.name)
    with warnings.catch_warnings():
        # One warning per weight below float16's smallest normal (1e-7 is kept instead): expected, and thousands
        warnings.simplefilter("ignore", UserWarning)
        # The default op block list keeps Resize (and a few others) in float32 with casts around them.
        return float16.convert_float_to_float16(model, keep_io_types=keep_io_types,
                                                node_block_list=_shape_nodes(model))


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def _check(onnx, model, what: str) -> None:
    """``onnx.checker`` with full shape inference; a failure is one InputError line."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # ValidationError, and InferenceError from the full check
        raise InputError(f"{what} fails onnx.checker: {_first_line(exc)}") from None


def _value_info(vi) -> dict:
    import onnx

    t = vi.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
    return {"name": vi.name, "shape": shape, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name}


def export_onnx(card, out_path: str | os.PathLike, weights: str | None = "random", batch: int | None = None,
                opset: int | None = None, fp16: bool = False, keep_io_types: bool = True, source: str = "auto",
                simplify: bool = True) -> Path:
    """Export the card's network to one ONNX file with a manifest beside it; returns the file's path.

    Args:
        card: the model card.
        out_path: the ``.onnx`` file to write (its folder is created); an existing folder gets ``model.onnx``.
        weights: ``random`` (seed 0), ``zoo`` or None (the card's checkpoint), a path or a URL.
        batch: a fixed batch size, or None for a dynamic batch axis.
        opset: ONNX opset (None: :data:`DEFAULT_OPSET` for paddle2onnx, the torch exporter's default for torch).
        fp16: convert weights and activations to float16 (onnxconverter-common).
        keep_io_types: with fp16, keep float32 inputs and outputs (casts at the edges of the graph).
        source: ``paddle``, ``torch`` or ``auto`` (paddle, then torch if that fails; the reason is recorded).
        simplify: run the simplifier (onnxsim or onnxslim).

    Raises:
        InputError: one line saying what failed (MissingBackendError for a missing package).
    """
    _check_args(card, batch, opset, source)
    onnx = _import_onnx()
    out = Path(out_path)
    if out.is_dir():
        out = out / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    # The temporary folder sits beside the target so that the final rename stays on one file system.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".tmp", dir=out.parent))
    try:
        raw = tmp / "raw.onnx"
        fallback = None
        if source in ("paddle", "auto"):
            try:
                record = _paddle_to_onnx(card, raw, weights, batch, opset)
                used = "paddle"
            except InputError as exc:
                if source == "paddle":
                    raise
                fallback = str(exc)
        if source == "torch" or fallback is not None:
            try:
                record = _torch_to_onnx(card, raw, weights, batch, opset)
            except InputError as exc:
                if fallback is None:
                    raise
                raise InputError(f"no exporter could convert {card.name}: paddle: {fallback}; torch: {exc}") from None
            used = "torch"
        model = onnx.load(str(raw))
        _normalise_io(model, card, batch)
        _check(onnx, model, f"the exported ONNX graph of {card.name}")
        simplifier = {"name": None, "note": "not asked for"}
        if simplify:
            try:
                model, simplifier = _simplify(model)
            except Exception as exc:  # a simplifier bug must not cost the export: keep the checked graph
                simplifier = {"name": "onnxsim/onnxslim", "error": _first_line(exc), "note": "graph left as exported"}
            _check(onnx, model, f"the simplified ONNX graph of {card.name}")
        if fp16:
            try:
                model = _to_fp16(model, keep_io_types)
            except InputError:
                raise
            except Exception as exc:
                raise InputError(f"float16 conversion of {card.name} failed: {_first_line(exc)}") from None
            _check(onnx, model, f"the float16 ONNX graph of {card.name}")
        staged = tmp / "model.onnx"
        onnx.save(model, str(staged))
        from kbench._fileio import sha256_file, write_json_atomic

        digest = sha256_file(staged)
        # The old manifest goes first: a model without a manifest is incomplete (and re-exported by the cache).
        manifest_path(out).unlink(missing_ok=True)
        os.replace(staged, out)
        opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
        exporter = ({"name": "paddle2onnx", "paddle": record.get("paddle"), "paddle2onnx": record.get("paddle2onnx")}
                    if used == "paddle" else {"name": "torch.onnx.export", "torch": record.get("torch")})
        inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        write_json_atomic(manifest_path(out), {
            "kind": "onnx", "model": card.name, "file": out.name, "sha256": digest, "size": out.stat().st_size,
            "source": used, "requested_source": source, "fallback_reason": fallback,
            "weights": record.get("weights"), "exporter": exporter, "onnx": onnx.__version__,
            "simplifier": simplifier, "opset": opsets.get("ai.onnx"), "opsets": opsets,
            "input": _value_info(inputs[0]), "outputs": [_value_info(o) for o in model.graph.output],
            "batch": batch, "fp16": bool(fp16), "keep_io_types": bool(keep_io_types) if fp16 else True,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_onnx(card, weights: str | None = "random", batch: int | None = None, fp16: bool = False,
                source: str = "auto", opset: int | None = None) -> Path:
    """The ONNX export for these settings from the artifact cache, exported on first use.

    The cache folder is ``<artifacts_root>/onnx/<model>/<weights key>/<source>-op<opset>-b<batch>-<precision>``;
    an entry counts only once its manifest exists (the manifest is written last).
    """
    _check_args(card, batch, opset, source)
    from kbench.export.cache import versions_key

    tag = (f"{source}-op{opset or 'default'}-b{batch or 'dyn'}-{'fp16' if fp16 else 'fp32'}-"
           f"{versions_key('paddlepaddle', 'paddle2onnx', 'onnx', 'onnxsim', 'torch')}")
    path = artifacts_root() / "onnx" / card.key / weights_key(card, weights) / tag / "model.onnx"
    try:  # a cached model counts with a readable manifest of its size (written last); otherwise it is exported again
        manifest = read_manifest(path) if path.is_file() else None
    except InputError:
        manifest = None
    if manifest is not None and manifest.get("size", path.stat().st_size) == path.stat().st_size:
        return path
    return export_onnx(card, path, weights=weights, batch=batch, opset=opset, fp16=fp16, keep_io_types=True,
                       source=source)


if __name__ == "__main__":  # the child process of _paddle_to_onnx
    _child(sys.argv[1:])
