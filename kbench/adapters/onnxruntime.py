"""ONNX Runtime: the exported ONNX model on the CPU, CUDA or TensorRT execution provider.

The model is exported once per (model, weights, batch, precision, exporter, opset) into the artifact cache
(:func:`kbench.export.onnx.cached_onnx`) unless ``model_path`` names an ONNX file. The export has a fixed batch
size (``batch``), which lets ORT plan memory and fuse with static shapes; :meth:`OnnxRuntimeAdapter.run` splits a
larger batch into pieces and pads a smaller last piece, so any batch size still runs.

Precision: FP16 runs on GPU only. On the CUDA provider kbench runs the FP16 export (float16 weights and
activations, float32 inputs and outputs); with the TensorRT provider it runs the FP32 export with
``trt_fp16_enable`` and lets TensorRT choose the layer precisions, as TensorRT itself does. FP16 on the CPU provider
is refused: ORT's CPU kernels are float32 and it would insert casts around every node, measuring neither.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kbench.adapters.base import Adapter, ModelOutputs, check_batch, run_in_pieces
from kbench.errors import InputError, MissingBackendError

__all__ = ["OnnxRuntimeAdapter", "resolve_providers", "PROVIDER_ALIASES"]

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
#: Short names accepted in ``providers``.
PROVIDER_ALIASES = {"cpu": CPU, "cuda": CUDA, "gpu": CUDA, "tensorrt": TRT, "trt": TRT}
_KNOWN_OPTIONS = {"source", "opset", "device_id", "tensorrt", "input_hw", "max_side", "tf32"}


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingBackendError("onnxruntime", "onnx") from None
    return onnxruntime


def resolve_providers(device: str, precision: str, available: list[str], providers=None, tensorrt: bool = False,
                      trt_cache: str | None = None, device_id: int = 0, profile=None,
                      tf32: bool = False) -> list[tuple[str, dict]]:
    """The (provider, options) list for a session, or one InputError line saying why it cannot be had here.

    Args:
        device: ``cpu`` or ``gpu``.
        precision: ``fp32`` or ``fp16`` (fp16 enables TensorRT's fp16 mode when the TensorRT provider is used).
        available: ``onnxruntime.get_available_providers()``.
        providers: provider names (or the short names of :data:`PROVIDER_ALIASES`), first preferred; None picks
            CPU for cpu, CUDA (then CPU for the nodes CUDA lacks) for gpu.
        tensorrt: on gpu, put the TensorRT provider first.
        trt_cache: folder for the TensorRT provider's engine and timing caches.
        device_id: CUDA device ordinal.
        profile: a :class:`~kbench.adapters.gpu_shapes.ShapeProfile` whose range the TensorRT provider builds for
            (``trt_profile_*_shapes``); a fixed profile needs none (the graph's shapes are static).
        tf32: let the CUDA provider use TF32 (``use_tf32``); off, an fp32 record means float32 arithmetic.
    """
    if providers is None:
        names = [CPU] if device == "cpu" else ([TRT] if tensorrt else []) + [CUDA, CPU]
    else:
        if isinstance(providers, str):
            providers = [p.strip() for p in providers.split(",") if p.strip()]
        names = [PROVIDER_ALIASES.get(str(p).lower(), str(p)) for p in providers]
        if tensorrt and TRT not in names:
            names.insert(0, TRT)
        if not names:
            raise InputError("providers is empty; name at least one (cpu, cuda, tensorrt)")
    unknown = [n for n in names if n not in available and n not in (CPU, CUDA, TRT)]
    if unknown:
        raise InputError(f"onnxruntime here lacks {', '.join(unknown)} (available: {', '.join(available)})")
    gpu_names = [n for n in names if n in (CUDA, TRT)]
    if device == "cpu" and gpu_names:
        raise InputError(f"device cpu cannot use {', '.join(gpu_names)}; use --device gpu or the cpu provider")
    if device == "gpu":
        if CUDA not in available:
            raise InputError(f"onnxruntime on gpu needs the onnxruntime-gpu package and a CUDA GPU; this onnxruntime "
                             f"offers {', '.join(available)} (pip uninstall onnxruntime; pip install onnxruntime-gpu)")
        if not gpu_names:
            raise InputError("device gpu needs the cuda or tensorrt provider in providers")
    missing = [n for n in names if n not in available]
    if missing:
        raise InputError(f"onnxruntime here lacks {', '.join(missing)} (available: {', '.join(available)})")
    out = []
    for name in names:
        if name == TRT:
            opts = {"device_id": device_id, "trt_fp16_enable": precision == "fp16"}
            if trt_cache:
                # Engines take minutes to build; the provider keys cached engines by model and shapes itself.
                opts.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": trt_cache,
                             "trt_timing_cache_enable": True, "trt_timing_cache_path": trt_cache})
            if profile is not None and not profile.fixed:  # one engine for the whole range, built once
                opts.update(profile.ort_options())
            out.append((TRT, opts))
        elif name == CUDA:
            # ORT's CUDA tuning guide: exhaustive cuDNN algorithm search and the largest convolution workspace
            # (both defaults, set so that the record shows them); TF32 only when asked.
            out.append((CUDA, {"device_id": device_id, "cudnn_conv_algo_search": "EXHAUSTIVE",
                               "cudnn_conv_use_max_workspace": "1", "use_tf32": "1" if tf32 else "0"}))
        else:
            out.append((name, {}))
    return out


class OnnxRuntimeAdapter(Adapter):
    """An ``onnxruntime.InferenceSession`` on the card's ONNX export (or a given ONNX file)."""

    name = "onnxruntime"

    def __init__(self):
        super().__init__()
        self.session = None
        self.model_path = None
        self.manifest = None

    def load(self, card, weights="random", device="cpu", precision="fp32", batch=1, threads=None, model_path=None,
             io_binding=None, providers=None, **options):
        """Export (or open) the ONNX model and create the session; see :meth:`Adapter.load`.

        Args:
            model_path: an ONNX file to run instead of kbench's export of the card's network.
            io_binding: bind the input and outputs on the device (``run_with_iobinding``) instead of passing
                numpy arrays through ``run``; None (default): on for gpu (outputs stay on the device until copied
                once, as ORT's CUDA guide advises), off for cpu.
            providers: execution providers, first preferred (see :func:`resolve_providers`).
            options: ``tensorrt`` (bool: TensorRT provider first on gpu), ``source`` (``auto``, ``paddle`` or
                ``torch``, the exporter), ``opset``, ``device_id``, ``input_hw`` / ``max_side`` (the TensorRT
                provider's profile for bottom-up models, as :mod:`kbench.adapters.gpu_shapes`), ``tf32``.
        """
        self.check_target(device, precision)
        unknown = sorted(set(options) - _KNOWN_OPTIONS)
        if unknown:
            raise InputError(f"onnxruntime: unknown option(s) {', '.join(unknown)}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        if device == "cpu" and precision == "fp16":
            raise InputError("onnxruntime fp16 runs on gpu only: the CPU provider has float32 kernels and would cast "
                             "around every node; use --precision fp32 or --device gpu")
        ort = _import_ort()
        tensorrt = bool(options.get("tensorrt", False))
        device_id = int(options.get("device_id", 0))
        # Provider checks come before the export: a request this machine cannot serve fails at once.
        from kbench.adapters.gpu_shapes import shape_profile
        from kbench.export.onnx import artifacts_root, cached_onnx, read_manifest

        profile = shape_profile(card, batch, options.get("input_hw"), False, options.get("max_side"))
        resolved = resolve_providers(device, precision, ort.get_available_providers(), providers, tensorrt,
                                     str(artifacts_root() / "ort-trt-cache"), device_id, profile,
                                     bool(options.get("tf32", False)))
        uses_trt = resolved[0][0] == TRT
        if uses_trt:
            (artifacts_root() / "ort-trt-cache").mkdir(parents=True, exist_ok=True)
        if model_path is None:
            # TensorRT reads the FP32 graph and picks FP16 layers itself (trt_fp16_enable); CUDA runs the FP16 graph.
            fp16_graph = precision == "fp16" and not uses_trt
            path = cached_onnx(card, weights, batch=batch, fp16=fp16_graph, source=options.get("source", "auto"),
                               opset=options.get("opset"))
        else:
            from kbench._fileio import check_readable

            path = check_readable(model_path)
        self.manifest = read_manifest(path)

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3  # ORT warns about every unused initializer of a user's model; errors still raise
        # ORT's documented CPU tuning: a sequential executor (these graphs have no parallel branches worth a second
        # pool), intra-op threads as asked, one inter-op thread, the memory arena and memory patterns on (defaults,
        # set so that the record shows them).
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        so.enable_cpu_mem_arena = True
        so.enable_mem_pattern = True
        if threads:
            so.intra_op_num_threads = threads
        try:
            session = ort.InferenceSession(str(path), so, providers=[n for n, _ in resolved],
                                           provider_options=[o for _, o in resolved])
        except Exception as exc:  # ORT raises its own exception types; one line for the user
            first = (str(exc).strip().splitlines() or [""])[0]
            raise InputError(f"{path}: onnxruntime cannot load this model: {first[:300]}") from None
        used = session.get_providers()
        if device == "gpu" and used[0] != resolved[0][0]:
            raise InputError(f"onnxruntime could not start {resolved[0][0]} (no usable GPU, or its CUDA/cuDNN/TensorRT "
                             f"libraries are missing); it fell back to {', '.join(used)}")
        inputs, outputs = session.get_inputs(), session.get_outputs()
        expected = 1 if card.top_down else 2
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) != expected:
            raise InputError(f"{path}: expected one (N, 3, H, W) input and {expected} output(s) for {card.name}, got "
                             f"{len(inputs)} input(s) {[i.shape for i in inputs]} and {len(outputs)} output(s)")
        self._ort = ort
        self.session, self.model_path = session, Path(path)
        self.card, self.device, self.precision, self.batch, self.threads = card, device, precision, batch, threads
        self.io_binding = device == "gpu" if io_binding is None else bool(io_binding)
        self.device_id = device_id
        self._in = inputs[0]
        self._in_dtype = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self._out_names = [o.name for o in outputs]
        dim0 = inputs[0].shape[0]
        self._fixed_batch = dim0 if isinstance(dim0, int) and dim0 > 0 else None

    def describe(self) -> dict:
        """Runtime, version, providers actually used (with their options), input/output names and shapes."""
        s = self.session
        options = s.get_provider_options()
        return {
            "runtime": self.name, "version": self._ort.__version__, "device": self.device,
            "precision": self.precision, "batch": self.batch, "threads": self._threads_in_effect(),
            "session_options": self._session_options(), "io_binding": self.io_binding,
            "providers": s.get_providers(), "provider_options": {p: options.get(p, {}) for p in s.get_providers()},
            "model": str(self.model_path),
            "input": {i.name: {"shape": i.shape, "type": i.type} for i in s.get_inputs()},
            "outputs": {o.name: {"shape": o.shape, "type": o.type} for o in s.get_outputs()},
            "exporter": (self.manifest or {}).get("exporter"), "source": (self.manifest or {}).get("source"),
            "weights": (self.manifest or {}).get("weights"),
        }

    def _session_options(self) -> dict:
        """The session's options as ORT reports them back."""
        so = self.session.get_session_options()
        return {"intra_op_num_threads": so.intra_op_num_threads, "inter_op_num_threads": so.inter_op_num_threads,
                "execution_mode": str(so.execution_mode).split(".")[-1],
                "graph_optimization_level": str(so.graph_optimization_level).split(".")[-1],
                "enable_cpu_mem_arena": so.enable_cpu_mem_arena, "enable_mem_pattern": so.enable_mem_pattern}

    def _threads_in_effect(self) -> int | None:
        """Intra-op threads of a CPU session: as set, or ORT's default (one per physical core) when 0."""
        if self.device != "cpu":
            return None
        n = self.session.get_session_options().intra_op_num_threads
        if n:
            return int(n)
        try:
            import psutil

            return psutil.cpu_count(logical=False) or os.cpu_count()
        except ImportError:
            return os.cpu_count()

    def _run_once(self, x: np.ndarray) -> list[np.ndarray]:
        x = x.astype(self._in_dtype, copy=False)
        if not self.io_binding:
            return self.session.run(self._out_names, {self._in.name: x})
        where = "cuda" if self.device == "gpu" else "cpu"
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self._in.name, self._ort.OrtValue.ortvalue_from_numpy(x, where, self.device_id))
        for name in self._out_names:
            binding.bind_output(name, where, self.device_id)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Run a float32 (N, 3, H, W) batch; float32 outputs. A fixed-batch model gets pieces of its batch size."""
        if self.session is None:
            raise InputError("onnxruntime: load() a model before run()")
        outs = run_in_pieces(self._run_once, check_batch(batch, self.card), self._fixed_batch)
        outs = [np.ascontiguousarray(o, dtype=np.float32) for o in outs]
        return ModelOutputs(outs[0], outs[1] if len(outs) > 1 else None)

    def close(self) -> None:
        """Drop the session."""
        self.session = None
