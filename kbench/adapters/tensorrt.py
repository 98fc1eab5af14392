"""TensorRT: an engine built from the ONNX export with the TensorRT Python API, cached on disk, run on a CUDA GPU.

Build: the ONNX model (dynamic batch, FP32; :func:`kbench.export.onnx.cached_onnx`) is parsed by TensorRT's ONNX
parser; FP16 sets the builder's FP16 flag, so TensorRT picks FP16 or FP32 per layer, with float32 inputs and
outputs either way. One optimisation profile covers batches 1..``batch`` (optimised for ``batch``) at the card's
input size; bottom-up models, whose graphs take any image size, are built for ``input_hw`` (default: the card's
input size). The serialized engine is cached under ``<artifacts>/tensorrt/`` with a key over the model, weights,
profile shapes, precision, GPU name and compute capability, TensorRT version and the ONNX file's sha256, because an
engine is only valid for the GPU and TensorRT version that built it.

CUDA memory and streams come from **torch** (``torch.cuda`` tensors and the current stream): one dependency that a
GPU machine running kbench's torch runtime has anyway, with a caching allocator, instead of cuda-python or pycuda.
A missing torch is a :class:`MissingBackendError`; a torch without a usable CUDA device is one InputError line.

TensorRT 8.5 or newer is needed (the name-based tensor API: ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``).
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
from kbench.errors import InputError, MissingBackendError

__all__ = ["TensorRTAdapter", "build_engine", "build_serialized_engine", "engine_cache_key", "profile_shapes",
           "import_tensorrt", "cuda_torch", "MIN_TENSORRT"]

MIN_TENSORRT = (8, 5)
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
                         f"{'.'.join(map(str, MIN_TENSORRT))} or newer (pip install -U tensorrt)")
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


def profile_shapes(card, batch: int, input_hw: tuple[int, int] | None = None) -> dict:
    """The optimisation profile: ``{"min", "opt", "max"}`` input shapes for batches 1..batch at one input size."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    w, h = card.input_size
    if input_hw is not None:
        hh, ww = (int(v) for v in input_hw)
        if card.top_down and (hh, ww) != (h, w):
            raise InputError(f"{card.name} takes {h}x{w} (HxW) crops; input_hw {hh}x{ww} does not fit it")
        if hh < 32 or ww < 32 or hh % 32 or ww % 32:
            raise InputError(f"input_hw must be multiples of 32 (the network's stride), got {hh}x{ww}")
        h, w = hh, ww
    return {"min": [1, 3, h, w], "opt": [batch, 3, h, w], "max": [batch, 3, h, w]}


def engine_cache_key(model: str, weights: str, shapes: dict, precision: str, gpu: str, trt_version: str,
                     onnx_sha256: str = "") -> str:
    """A file-name-safe key naming everything an engine depends on; any change gives another key.

    Args:
        model: card name.
        weights: the weights' key (``random-seed0`` or a sha256 prefix).
        shapes: the profile (:func:`profile_shapes`).
        precision: ``fp32`` or ``fp16``.
        gpu: GPU name and compute capability (an engine runs only on the GPU model it was built for).
        trt_version: TensorRT version (engines do not cross versions).
        onnx_sha256: digest of the ONNX file the engine was built from (exporter, opset, simplifier changes).
    """
    payload = json.dumps({"model": model, "weights": weights, "shapes": shapes, "precision": precision, "gpu": gpu,
                          "tensorrt": trt_version, "onnx": onnx_sha256}, sort_keys=True)
    digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
    opt = "x".join(str(v) for v in shapes["opt"])
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{weights}-{precision}-{opt}-trt{trt_version}")
    return f"{safe}-{digest}"


def build_serialized_engine(trt, onnx_path: str | os.PathLike, input_name: str, shapes: dict, fp16: bool,
                            workspace_bytes: int, logger=None) -> bytes:
    """Parse an ONNX file and build a serialized engine (needs a GPU); the TensorRT module is passed in.

    Raises:
        InputError: the parser's errors, or a failed build, as one line.
    """
    logger = logger or trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if _version_tuple(trt.__version__)[0] < 10:  # explicit batch is the only mode from TensorRT 10 on
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no detail"
        raise InputError(f"{onnx_path}: TensorRT's ONNX parser failed: {' '.join(errors.split())[:400]}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [input_name]:
        raise InputError(f"{onnx_path}: expected one input named {input_name!r}, the network has {names}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"]))
    config.add_optimization_profile(profile)
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
                 source: str = "auto", opset: int | None = None, device_id: int = 0) -> Path:
    """Build (or reuse) a TensorRT engine for the card; returns the engine file (a manifest sits beside it).

    Args:
        card: the model card.
        out_path: where to write the engine; None keeps it in the cache only (``<artifacts>/tensorrt/<key>.engine``).
        weights: as for :func:`kbench.export.onnx.export_onnx`.
        batch: the largest batch the engine runs (the profile covers 1..batch).
        fp16: allow FP16 layers (builder flag); inputs and outputs stay float32.
        input_hw: bottom-up models: the (H, W) to build for (default: the card's input size).
        onnx_path: build from this ONNX file instead of kbench's export.
        workspace_gb: TensorRT's workspace memory limit.
        source, opset: the ONNX exporter and opset (see :func:`kbench.export.onnx.export_onnx`).
        device_id: CUDA device ordinal.
    """
    shapes = profile_shapes(card, batch, input_hw)
    trt = import_tensorrt()
    torch = cuda_torch()
    from kbench._fileio import sha256_file, write_json_atomic
    from kbench.export.onnx import artifacts_root, cached_onnx, read_manifest, weights_key

    if onnx_path is None:
        onnx_file = cached_onnx(card, weights, batch=None, fp16=False, source=source, opset=opset)
        wkey = weights_key(card, weights)
    else:
        from kbench._fileio import check_readable

        onnx_file = check_readable(onnx_path)
        wkey = "onnx-file"
    onnx_sha = sha256_file(onnx_file)
    precision = "fp16" if fp16 else "fp32"
    gpu = _gpu_label(torch, device_id)
    key = engine_cache_key(card.name, wkey, shapes, precision, gpu, trt.__version__, onnx_sha)
    cached = artifacts_root() / "tensorrt" / f"{key}.engine"
    manifest = {
        "kind": "tensorrt", "model": card.name, "key": key, "precision": precision, "profile": shapes,
        "gpu": gpu, "tensorrt": trt.__version__, "onnx": str(onnx_file), "onnx_sha256": onnx_sha,
        "onnx_manifest": read_manifest(onnx_file), "workspace_gb": workspace_gb,
    }
    if not (cached.is_file() and cached.with_suffix(".manifest.json").is_file()):
        with torch.cuda.device(device_id):
            data = build_serialized_engine(trt, onnx_file, "image", shapes, fp16, int(workspace_gb * (1 << 30)))
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


class TensorRTAdapter(Adapter):
    """A TensorRT engine (built from the ONNX export, or given) run with torch.cuda memory."""

    name = "tensorrt"

    def __init__(self):
        super().__init__()
        self.engine = self.context = None

    def load(self, card, weights="random", device="gpu", precision="fp32", batch=1, threads=None, model_path=None,
             input_hw=None, workspace_gb=DEFAULT_WORKSPACE_GB, source="auto", opset=None, device_id=0, **options):
        """Build or reuse the engine and create an execution context; see :meth:`Adapter.load`.

        Args:
            model_path: a serialized engine (``.engine``/``.plan``) to run, or an ONNX file to build from.
            input_hw: bottom-up models: the (H, W) the engine is built for.
            workspace_gb: TensorRT's workspace limit when building.
            source, opset: the ONNX exporter and opset.
            device_id: CUDA device ordinal.
        """
        self.check_target(device, precision)
        if options:
            raise InputError(f"tensorrt: unknown option(s) {', '.join(sorted(options))}")
        shapes = profile_shapes(card, batch, input_hw)
        trt = import_tensorrt()
        torch = cuda_torch()
        path = Path(model_path) if model_path is not None else None
        if path is not None and path.suffix in (".engine", ".plan", ".trt"):
            from kbench._fileio import check_readable

            engine_file = check_readable(path)
        else:
            engine_file = build_engine(card, None, weights, batch, precision == "fp16", input_hw, onnx_path=path,
                                       workspace_gb=workspace_gb, source=source, opset=opset, device_id=device_id)
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(device_id):
            runtime = trt.Runtime(self._logger)
            engine = runtime.deserialize_cuda_engine(engine_file.read_bytes())
            if engine is None:
                raise InputError(f"{engine_file}: TensorRT {trt.__version__} cannot load this engine (built by another "
                                 f"TensorRT version or for another GPU); delete it to rebuild")
            context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        expected = ["heatmaps"] if card.top_down else ["heatmaps", "tags"]
        if len(ins) != 1 or len(outs) != len(expected):
            raise InputError(f"{engine_file}: expected 1 input and {len(expected)} output(s) for {card.name}, the "
                             f"engine has inputs {ins} and outputs {outs}")
        if set(outs) == set(expected):
            outs = expected  # heatmaps first, whatever order the engine lists them in
        self._trt, self._torch, self._runtime = trt, torch, runtime
        self.engine, self.context, self.engine_file = engine, context, engine_file
        self._in, self._outs = ins[0], outs
        self._dtypes = {n: self._torch_dtype(engine.get_tensor_dtype(n)) for n in names}
        self._cuda = torch.device("cuda", device_id)
        self.card, self.device, self.precision, self.batch = card, device, precision, batch
        self.shapes, self.device_id = shapes, device_id
        self.gpu = _gpu_label(torch, device_id)

    def _torch_dtype(self, trt_dtype):
        np_dtype = np.dtype(self._trt.nptype(trt_dtype))
        table = {"float32": "float32", "float16": "float16", "int32": "int32", "int64": "int64", "int8": "int8",
                 "bool": "bool"}
        if np_dtype.name not in table:
            raise InputError(f"tensorrt: unsupported tensor type {np_dtype} in the engine")
        return getattr(self._torch, table[np_dtype.name])

    def describe(self) -> dict:
        """Runtime, version, GPU, precision, engine file, profile and tensor shapes."""
        e = self.engine
        tensors = {self.engine.get_tensor_name(i): list(e.get_tensor_shape(e.get_tensor_name(i)))
                   for i in range(e.num_io_tensors)}
        return {"runtime": self.name, "version": self._trt.__version__, "device": self.device, "gpu": self.gpu,
                "precision": self.precision, "batch": self.batch, "engine": str(self.engine_file),
                "profile": self.shapes, "input": {self._in: tensors[self._in]},
                "outputs": {n: tensors[n] for n in self._outs}, "cuda_memory": "torch.cuda"}

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Run a float32 (N, 3, H, W) batch, in pieces of at most the profile's batch; float32 outputs."""
        if self.context is None:
            raise InputError("tensorrt: load() a model before run()")
        x = check_batch(batch, self.card)
        h, w = self.shapes["max"][2:]
        if tuple(x.shape[2:]) != (h, w):
            raise InputError(f"this engine was built for {h}x{w} (HxW) inputs, got {x.shape[2]}x{x.shape[3]}; "
                             f"load with input_hw=({x.shape[2]}, {x.shape[3]})")
        torch, ctx = self._torch, self.context
        pieces = []
        with torch.cuda.device(self.device_id):
            stream = torch.cuda.current_stream(self._cuda)
            for start in range(0, x.shape[0], self.batch):
                chunk = torch.from_numpy(x[start:start + self.batch]).to(self._cuda, dtype=self._dtypes[self._in])
                chunk = chunk.contiguous()
                if not ctx.set_input_shape(self._in, tuple(chunk.shape)):
                    raise InputError(f"tensorrt: input shape {tuple(chunk.shape)} is outside the engine's profile")
                ctx.set_tensor_address(self._in, chunk.data_ptr())
                outs = []
                for name in self._outs:
                    buf = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtypes[name], device=self._cuda)
                    ctx.set_tensor_address(name, buf.data_ptr())
                    outs.append(buf)
                if not ctx.execute_async_v3(stream.cuda_stream):
                    raise InputError("tensorrt: execution failed (see TensorRT's messages above)")
                stream.synchronize()
                pieces.append([o.float().cpu().numpy() for o in outs])
        arrays = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in zip(*pieces)]
        return ModelOutputs(arrays[0], arrays[1] if len(arrays) > 1 else None)

    def close(self) -> None:
        """Drop the context and engine (context first: it references the engine)."""
        self.context = None
        self.engine = None
