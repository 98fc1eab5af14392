"""TensorRT: an engine built from the ONNX export with the TensorRT Python API, cached on disk, run on a CUDA GPU.

Build (TensorRT 10 and 11, the versions kbench's tests check its calls against: ``tests/fixtures/tensorrt_api``):

* **Strongly typed** networks by default: the network's types come from the ONNX graph, so FP16 is the FP16 ONNX
  export (float16 weights and activations, float32 inputs and outputs: :func:`kbench.export.onnx.cached_onnx`) and
  FP32 the FP32 one. NVIDIA deprecated weakly typed networks in TensorRT 10.12 and TensorRT 11 removed
  ``BuilderFlag.FP16``. ``typing="weak"`` builds the FP32 graph with ``BuilderFlag.FP16`` (TensorRT picks the
  precision per layer), and only where the installed TensorRT still has that flag; elsewhere it is refused.
* **TF32 off** for FP32 unless asked (``tf32=True``): TensorRT enables TF32 convolutions by default, which carry 10
  bits of mantissa, and a record labelled fp32 must mean float32 arithmetic.
* **One optimisation profile** (:mod:`kbench.adapters.gpu_shapes`): a fixed batch from the fixed-batch export (the
  graph every runtime gets), or batches 1..``batch`` from the dynamic-batch export with ``dynamic_batch=True``;
  bottom-up models get a range of image sizes (every EvalAffine output up to ``max_side``), or one (``input_hw``).

The serialized engine is cached under ``<artifacts>/tensorrt/`` with a key over the model, weights, profile,
precision, typing, TF32, GPU name and compute capability, TensorRT version and the ONNX file's sha256, because an
engine is only valid for the GPU and TensorRT version that built it.

CUDA memory and the stream come from **torch**: ``torch.cuda`` tensors, and a dedicated ``torch.cuda.Stream``
per adapter (enqueueing on the legacy default stream makes the driver synchronise around every call, which
inflates small models' latency), one dependency that a GPU machine running kbench's torch runtime has anyway, with
a caching allocator, instead of cuda-python or pycuda. A missing torch is a :class:`MissingBackendError`; a torch
without a usable CUDA device is one InputError line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from kbench.adapters.base import Adapter, ModelOutputs, check_batch
from kbench.adapters.gpu_shapes import ShapeProfile, shape_profile
from kbench.errors import InputError, MissingBackendError

__all__ = ["TensorRTAdapter", "build_engine", "build_serialized_engine", "engine_cache_key", "profile_shapes",
           "import_tensorrt", "cuda_torch", "network_flags", "MIN_TENSORRT", "TESTED_MAJORS", "TYPINGS"]

MIN_TENSORRT = (10, 0)
#: The major versions whose Python API kbench's calls are checked against (tests/fixtures/tensorrt_api).
TESTED_MAJORS = (10, 11)
TYPINGS = ("strong", "weak")
DEFAULT_WORKSPACE_GB = 4.0


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def import_tensorrt():
    """The ``tensorrt`` module, or MissingBackendError / one InputError line for a too-old version."""
    try:
        import tensorrt
    except ImportError:
        raise MissingBackendError("tensorrt", "tensorrt") from None
    if _version_tuple(tensorrt.__version__)[:2] < MIN_TENSORRT:
        raise InputError(f"tensorrt {tensorrt.__version__} is too old: kbench needs TensorRT "
                         f"{'.'.join(map(str, MIN_TENSORRT))} or newer (pip install -U 'tensorrt>=10,<12')")
    return tensorrt


def cuda_torch():
    """torch with a usable CUDA device (kbench's CUDA memory for TensorRT), or one error line saying what is missing."""
    try:
        import torch
    except ImportError:
        raise MissingBackendError("torch", "tensorrt") from None
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise InputError(f"tensorrt needs a CUDA GPU and kbench reaches it through torch.cuda, but {why}; run on a "
                         f"machine with an NVIDIA GPU and a CUDA build of torch")
    return torch


def profile_shapes(card, batch: int, input_hw: tuple[int, int] | None = None, dynamic_batch: bool = False,
                   max_side: int | None = None) -> dict:
    """The optimisation profile as ``{"min", "opt", "max"}`` lists (see ``gpu_shapes.shape_profile``)."""
    return shape_profile(card, batch, input_hw, dynamic_batch, max_side).as_dict()


def engine_cache_key(model: str, weights: str, shapes: dict, precision: str, gpu: str, trt_version: str,
                     onnx_sha256: str = "", typing: str = "strong", tf32: bool = False) -> str:
    """A file-name-safe key naming everything an engine depends on; any change gives another key.

    Args:
        model: card name.
        weights: the weights' key (``random-seed0-...`` or a sha256 prefix).
        shapes: the profile (:func:`profile_shapes`).
        precision: ``fp32`` or ``fp16``.
        gpu: GPU name and compute capability (an engine runs only on the GPU model it was built for).
        trt_version: TensorRT version (engines do not cross versions).
        onnx_sha256: digest of the ONNX file the engine was built from (exporter, opset, simplifier changes).
        typing: ``strong`` or ``weak`` network typing.
        tf32: whether TF32 convolutions were allowed.
    """
    payload = json.dumps({"model": model, "weights": weights, "shapes": shapes, "precision": precision, "gpu": gpu,
                          "tensorrt": trt_version, "onnx": onnx_sha256, "typing": typing, "tf32": bool(tf32)},
                         sort_keys=True)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    opt = "x".join(str(v) for v in shapes["opt"])
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{weights}-{precision}-{opt}-trt{trt_version}")
    return f"{safe}-{digest}"


def network_flags(trt, typing: str = "strong") -> int:
    """``create_network``'s flags: STRONGLY_TYPED for strong typing (explicit batch is the only mode from 10 on)."""
    if typing not in TYPINGS:
        raise InputError(f"typing must be one of {', '.join(TYPINGS)}, got {typing!r}")
    if typing == "weak":
        return 0
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if flag is None:
        raise InputError(f"TensorRT {trt.__version__} has no strongly typed networks; use typing='weak'")
    return 1 << int(flag)


def check_typing(trt, typing: str, fp16: bool) -> None:
    """Refuse, in one line, a typing and precision this TensorRT cannot build."""
    network_flags(trt, typing)
    if typing == "weak" and fp16 and not hasattr(trt.BuilderFlag, "FP16"):
        raise InputError(f"TensorRT {trt.__version__} has no BuilderFlag.FP16 (weakly typed FP16 was removed in "
                         f"TensorRT 11): build fp16 strongly typed, from the FP16 ONNX export (typing='strong')")


def build_serialized_engine(trt, onnx_path: str | os.PathLike, profile: ShapeProfile, fp16: bool,
                            workspace_bytes: int, typing: str = "strong", tf32: bool = False, logger=None) -> bytes:
    """Parse an ONNX file and build a serialized engine (needs a GPU); the TensorRT module is passed in.

    Args:
        trt: the ``tensorrt`` module.
        onnx_path: the graph (FP16 export for strongly typed fp16).
        profile: the input's min/opt/max shapes.
        fp16: weak typing: allow FP16 layers (BuilderFlag.FP16); strong typing: the graph's types decide.
        workspace_bytes: the workspace memory pool limit.
        typing: ``strong`` (default) or ``weak``.
        tf32: allow TF32 convolutions and matrix products (TensorRT's default; kbench's is off).

    Raises:
        InputError: the parser's errors, a typing this TensorRT lacks, or a failed build, as one line.
    """
    check_typing(trt, typing, fp16)
    logger = logger or trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt, typing))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no detail"
        raise InputError(f"{onnx_path}: TensorRT's ONNX parser failed: {' '.join(errors.split())[:400]}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [profile.input_name]:
        raise InputError(f"{onnx_path}: expected one input named {profile.input_name!r}, the network has {names}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if typing == "weak" and fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if not tf32:
        config.clear_flag(trt.BuilderFlag.TF32)
    opt = builder.create_optimization_profile()
    opt.set_shape(profile.input_name, tuple(profile.min), tuple(profile.opt), tuple(profile.max))
    config.add_optimization_profile(opt)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InputError(f"{onnx_path}: TensorRT could not build an engine (see TensorRT's messages above; a larger "
                         f"workspace_gb may help)")
    return bytes(serialized)


def _gpu_label(torch, device_id: int = 0) -> str:
    major, minor = torch.cuda.get_device_capability(device_id)
    return f"{torch.cuda.get_device_name(device_id)} sm_{major}{minor}"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cached engine is as shareable as the ONNX it came from
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_engine(card, out_path: str | os.PathLike | None = None, weights: str | None = "random", batch: int = 1,
                 fp16: bool = False, input_hw: tuple[int, int] | None = None,
                 onnx_path: str | os.PathLike | None = None, workspace_gb: float = DEFAULT_WORKSPACE_GB,
                 source: str = "auto", opset: int | None = None, device_id: int = 0, typing: str = "strong",
                 tf32: bool = False, dynamic_batch: bool = False, max_side: int | None = None) -> Path:
    """Build (or reuse) a TensorRT engine for the card; returns the engine file (a manifest sits beside it).

    Args:
        card: the model card.
        out_path: where to write the engine; None keeps it in the cache only (``<artifacts>/tensorrt/<key>.engine``).
        weights: as for :func:`kbench.export.onnx.export_onnx`.
        batch: the batch the engine runs (the largest, with ``dynamic_batch``).
        fp16: FP16 inference; inputs and outputs stay float32 either way.
        input_hw: bottom-up models: one (H, W) to build for instead of the EvalAffine range.
        onnx_path: build from this ONNX file instead of kbench's export (its types decide a strongly typed build).
        workspace_gb: TensorRT's workspace memory limit.
        source, opset: the ONNX exporter and opset (see :func:`kbench.export.onnx.export_onnx`).
        device_id: CUDA device ordinal.
        typing: ``strong`` (types from the graph; FP16 from the FP16 export) or ``weak`` (BuilderFlag.FP16).
        tf32: allow TF32 (TensorRT's default); kbench builds FP32 as float32 unless asked.
        dynamic_batch: build from the dynamic-batch export with a 1..batch profile.
        max_side: bottom-up: the longest image side the profile admits.
    """
    if typing not in TYPINGS:
        raise InputError(f"typing must be one of {', '.join(TYPINGS)}, got {typing!r}")
    profile = shape_profile(card, batch, input_hw, dynamic_batch, max_side)
    trt = import_tensorrt()
    check_typing(trt, typing, fp16)
    torch = cuda_torch()
    from kbench._fileio import sha256_file, write_json_atomic
    from kbench.export.onnx import artifacts_root, cached_onnx, read_manifest, weights_key

    if onnx_path is None:
        # Strong typing takes its precision from the graph: the FP16 export (float32 I/O) for fp16.
        fp16_graph = fp16 and typing == "strong"
        onnx_file = cached_onnx(card, weights, batch=None if dynamic_batch else batch, fp16=fp16_graph,
                                source=source, opset=opset)
        wkey = weights_key(card, weights)
    else:
        from kbench._fileio import check_readable

        onnx_file = check_readable(onnx_path)
        wkey = "onnx-file"
    onnx_sha = sha256_file(onnx_file)
    precision = "fp16" if fp16 else "fp32"
    gpu = _gpu_label(torch, device_id)
    shapes = profile.as_dict()
    key = engine_cache_key(card.name, wkey, shapes, precision, gpu, trt.__version__, onnx_sha, typing, tf32)
    cached = artifacts_root() / "tensorrt" / f"{key}.engine"
    manifest = {
        "kind": "tensorrt", "model": card.name, "key": key, "precision": precision, "profile": shapes,
        "typing": typing, "tf32": bool(tf32), "gpu": gpu, "tensorrt": trt.__version__, "onnx": str(onnx_file),
        "onnx_sha256": onnx_sha, "onnx_manifest": read_manifest(onnx_file), "workspace_gb": workspace_gb,
    }
    if not (cached.is_file() and cached.with_suffix(".manifest.json").is_file()):
        with torch.cuda.device(device_id):
            data = build_serialized_engine(trt, onnx_file, profile, fp16, int(workspace_gb * (1 << 30)), typing,
                                           tf32)
        _write_atomic(cached, data)
        write_json_atomic(cached.with_suffix(".manifest.json"), manifest)
    if out_path is None:
        return cached
    out = Path(out_path)
    if out.is_dir():
        out = out / "model.engine"
    _write_atomic(out, cached.read_bytes())
    write_json_atomic(out.with_name(out.stem + ".manifest.json"), dict(manifest, file=out.name))
    return out


_LOAD_OPTIONS = {"input_hw", "workspace_gb", "source", "opset", "device_id", "typing", "tf32", "dynamic_batch",
                 "max_side"}


class TensorRTAdapter(Adapter):
    """A TensorRT engine (built from the ONNX export, or given) run on a dedicated CUDA stream with torch memory."""

    name = "tensorrt"

    def __init__(self):
        super().__init__()
        self.engine = self.context = self.stream = None

    def load(self, card, weights="random", device="gpu", precision="fp32", batch=1, threads=None, model_path=None,
             **options):
        """Build or reuse the engine and create an execution context; see :meth:`Adapter.load`.

        Args:
            model_path: a serialized engine (``.engine``/``.plan``) to run, or an ONNX file to build from.
            options: ``input_hw`` (bottom-up: one (H, W) instead of the EvalAffine range), ``max_side``,
                ``dynamic_batch``, ``typing`` (``strong``/``weak``), ``tf32``, ``workspace_gb``, ``source``,
                ``opset``, ``device_id`` (see :func:`build_engine`).
        """
        self.check_target(device, precision)
        unknown = sorted(set(options) - _LOAD_OPTIONS)
        if unknown:
            raise InputError(f"tensorrt: unknown option(s) {', '.join(unknown)}")
        if threads is not None:
            raise InputError("tensorrt runs on the GPU: it takes no CPU thread count (drop --threads)")
        typing = options.get("typing", "strong")
        if typing not in TYPINGS:
            raise InputError(f"tensorrt: typing must be one of {', '.join(TYPINGS)}, got {typing!r}")
        tf32 = bool(options.get("tf32", False))
        dynamic_batch = bool(options.get("dynamic_batch", False))
        device_id = int(options.get("device_id", 0))
        profile = shape_profile(card, batch, options.get("input_hw"), dynamic_batch, options.get("max_side"))
        trt = import_tensorrt()
        torch = cuda_torch()
        path = Path(model_path) if model_path is not None else None
        if path is not None and path.suffix in (".engine", ".plan", ".trt"):
            from kbench._fileio import check_readable

            engine_file = check_readable(path)
        else:
            engine_file = build_engine(card, None, weights, batch, precision == "fp16", options.get("input_hw"),
                                       onnx_path=path, workspace_gb=options.get("workspace_gb", DEFAULT_WORKSPACE_GB),
                                       source=options.get("source", "auto"), opset=options.get("opset"),
                                       device_id=device_id, typing=typing, tf32=tf32, dynamic_batch=dynamic_batch,
                                       max_side=options.get("max_side"))
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(device_id):
            runtime = trt.Runtime(self._logger)
            engine = runtime.deserialize_cuda_engine(engine_file.read_bytes())
            if engine is None:
                raise InputError(f"{engine_file}: TensorRT {trt.__version__} cannot load this engine (built by another "
                                 f"TensorRT version or for another GPU); delete it to rebuild")
            context = engine.create_execution_context()
            # A stream of its own: work enqueued on the legacy default stream synchronises with every other stream.
            stream = torch.cuda.Stream(device=device_id)
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        expected = ["heatmaps"] if card.top_down else ["heatmaps", "tags"]
        if len(ins) != 1 or len(outs) != len(expected):
            raise InputError(f"{engine_file}: expected 1 input and {len(expected)} output(s) for {card.name}, the "
                             f"engine has inputs {ins} and outputs {outs}")
        if set(outs) == set(expected):
            outs = expected  # heatmaps first, whatever order the engine lists them in
        if path is not None and path.suffix in (".engine", ".plan", ".trt"):
            mn, opt, mx = (tuple(int(v) for v in s) for s in engine.get_tensor_profile_shape(ins[0], 0))
            profile = ShapeProfile(mn, opt, mx, ins[0])  # a given engine: its own profile, not the card's
        self._trt, self._torch, self._runtime = trt, torch, runtime
        self.engine, self.context, self.engine_file, self.stream = engine, context, engine_file, stream
        self._in, self._outs = ins[0], outs
        self._dtypes = {n: self._torch_dtype(engine.get_tensor_dtype(n)) for n in names}
        self._cuda = torch.device("cuda", device_id)
        self.card, self.device, self.precision, self.batch = card, device, precision, batch
        self.profile, self.shapes, self.device_id = profile, profile.as_dict(), device_id
        self.typing, self.tf32 = typing, tf32
        self.gpu = _gpu_label(torch, device_id)

    def _torch_dtype(self, trt_dtype):
        np_dtype = np.dtype(self._trt.nptype(trt_dtype))
        table = {"float32": "float32", "float16": "float16", "int32": "int32", "int64": "int64", "int8": "int8",
                 "bool": "bool"}
        if np_dtype.name not in table:
            raise InputError(f"tensorrt: unsupported tensor type {np_dtype} in the engine")
        return getattr(self._torch, table[np_dtype.name])

    def describe(self) -> dict:
        """Runtime, version, GPU, precision, typing, engine file, profile, tensor types and the engine's memory."""
        e = self.engine
        tensors = {e.get_tensor_name(i): {"shape": list(e.get_tensor_shape(e.get_tensor_name(i))),
                                          "dtype": str(self._dtypes[e.get_tensor_name(i)]).replace("torch.", "")}
                   for i in range(e.num_io_tensors)}
        memory = getattr(e, "device_memory_size_v2", None)
        if memory is None:
            memory = getattr(e, "device_memory_size", None)
        major = _version_tuple(self._trt.__version__)[:1]
        return {"runtime": self.name, "version": self._trt.__version__, "device": self.device, "gpu": self.gpu,
                "precision": self.precision, "typing": self.typing, "tf32": self.tf32, "batch": self.batch,
                "engine": str(self.engine_file), "profile": self.shapes, "input": {self._in: tensors[self._in]},
                "outputs": {n: tensors[n] for n in self._outs}, "cuda_memory": "torch.cuda",
                "stream": "dedicated torch.cuda.Stream", "engine_device_memory_mb":
                    round(int(memory) / 2**20, 3) if memory is not None else None,
                "api_tested": bool(major) and major[0] in TESTED_MAJORS}

    def _run_once(self, x: np.ndarray) -> list[np.ndarray]:
        torch, ctx = self._torch, self.context
        with torch.cuda.device(self.device_id), torch.cuda.stream(self.stream):
            chunk = torch.from_numpy(x).to(self._cuda, dtype=self._dtypes[self._in]).contiguous()
            if not ctx.set_input_shape(self._in, tuple(chunk.shape)):
                raise InputError(f"tensorrt: input shape {tuple(chunk.shape)} is outside the engine's profile")
            ctx.set_tensor_address(self._in, chunk.data_ptr())
            outs = []
            for name in self._outs:
                buf = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtypes[name], device=self._cuda)
                ctx.set_tensor_address(name, buf.data_ptr())
                outs.append(buf)
            if not ctx.execute_async_v3(self.stream.cuda_stream):
                raise InputError("tensorrt: execution failed (see TensorRT's messages above)")
            host = [o.float().cpu() for o in outs]  # on this stream: waits for the engine
        return [h.numpy() for h in host]

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Run a float32 (N, 3, H, W) batch in pieces the profile admits; float32 outputs."""
        if self.context is None:
            raise InputError("tensorrt: load() a model before run()")
        x = check_batch(batch, self.card)
        p = self.profile
        hw_ok = all(lo <= v <= hi for lo, v, hi in zip(p.min[2:], x.shape[2:], p.max[2:]))
        if not hw_ok:
            raise InputError(f"this engine takes inputs from {p.min[2]}x{p.min[3]} to {p.max[2]}x{p.max[3]} (HxW), "
                             f"got {x.shape[2]}x{x.shape[3]}; load with input_hw=({x.shape[2]}, {x.shape[3]}) or "
                             f"a larger max_side")
        from kbench.adapters.base import run_in_pieces

        if p.min[0] == p.max[0]:  # a fixed batch: pieces of it, the last one padded
            outs = run_in_pieces(self._run_once, x, p.max[0])
        else:
            pieces = [self._run_once(x[i:i + p.max[0]]) for i in range(0, x.shape[0], p.max[0])]
            outs = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*pieces)]
        return ModelOutputs(outs[0], outs[1] if len(outs) > 1 else None)

    def close(self) -> None:
        """Drop the context and engine (context first: it references the engine), then the stream."""
        self.context = None
        self.engine = None
        self.stream = None
