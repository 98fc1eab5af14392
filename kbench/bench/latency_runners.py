"""The model-only call of each runtime: its own inference call on an input already where the runtime reads it.

The "model" scope of ``kbench latency`` times the runtime, not kbench: for each runtime :func:`model_call` prepares
the input once (on the device for a GPU run) and returns a zero-argument call that does only the runtime's own
inference step, outputs left where the runtime puts them:

========================  ==========================================================================================
runtime                   timed call
========================  ==========================================================================================
onnxruntime               ``session.run_with_iobinding`` with the input bound once (an OrtValue on the device)
paddle-inference          ``predictor.run()`` with the input copied into the predictor's input tensor once
paddle (dygraph)          ``net(x)`` under ``no_grad`` with ``x`` a tensor on the device
torch                     ``net(x)`` under ``inference_mode`` with ``x`` a tensor on the device (and dtype)
tensorrt                  ``execute_async_v3`` on the stream, input and output buffers bound once
lite (x86)                ``predictor.run()`` timed inside the Lite worker process (the loop runs there: no pipe
                          transfer in the figures); the round trip of ``adapter.run`` is measured apart
others                    ``adapter.run(x)``
========================  ==========================================================================================

GPU runs are timed with CUDA events on the runtime's stream where kbench holds that stream (torch, tensorrt) and
with the host clock around the call plus a device synchronisation otherwise. Before timing, one call's output is
compared with ``adapter.run`` on the same input (:func:`check_call`): the direct call must compute what the
adapter computes, or kbench falls back to timing ``adapter.run`` and says so.

The runners read the adapters' public attributes (``session``, ``predictor``, ``net``, ``engine``/``context``);
an adapter without them is timed through ``adapter.run``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ModelCall", "CudaEventTimer", "model_call", "adapter_call", "check_call"]


@dataclass
class ModelCall:
    """A prepared, zero-argument runtime call and how to time it."""

    call: Callable[[], Any]
    fetch: Callable[[], np.ndarray]  # the heatmaps of the last call, as float32 numpy (for the check only)
    what: str  # what the timed call does, for the record
    sync: Callable[[], Any] | None = None  # waits for the device; used with the host clock
    device_timer: Any = None  # CUDA events (see CudaEventTimer)
    rebind: Callable[[], Any] | None = None  # puts the prepared input (and buffers) back after adapter.run moved them
    keep: list = field(default_factory=list)  # device buffers that must outlive the call
    notes: list = field(default_factory=list)
    remote: Callable[[Any], Any] | None = None  # budget -> Timing: the runtime times itself in another process


class CudaEventTimer:
    """Device time of one call from two CUDA events recorded on a stream (torch's event API).

    The end event is waited for after it is recorded, so the wait is outside the measured interval.
    """

    name = "cuda-events"

    def __init__(self, torch, stream=None):
        """Two timing events; ``stream`` None records on the current stream."""
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)
        self._stream = stream

    def begin(self) -> None:
        """Record the start event on the stream."""
        self._start.record(self._stream)

    def end(self) -> int:
        """Record the end event, wait for it, return the device time in nanoseconds."""
        self._end.record(self._stream)
        self._end.synchronize()
        return int(self._start.elapsed_time(self._end) * 1e6)


def adapter_call(adapter, x: np.ndarray, why: str = "") -> ModelCall:
    """Time ``adapter.run(x)`` itself (host clock): outputs come back to the host as float32 numpy."""
    last: dict = {}

    def call():
        last["out"] = adapter.run(x)

    def fetch():
        return np.asarray(last["out"].heatmaps, dtype=np.float32)

    mc = ModelCall(call, fetch, "adapter.run(x): input from host memory, outputs copied back as float32 numpy")
    if why:
        mc.notes.append(why)
    return mc


def _ort_call(adapter, x: np.ndarray) -> ModelCall:
    import onnxruntime as ort

    session = adapter.session
    inp = session.get_inputs()[0]
    dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
    where = "cuda" if adapter.device == "gpu" else "cpu"
    device_id = int(getattr(adapter, "device_id", 0) or 0)
    value = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x, dtype=dtype), where, device_id)
    binding = session.io_binding()
    binding.bind_ortvalue_input(inp.name, value)
    for out in session.get_outputs():
        binding.bind_output(out.name, where, device_id)
    run = session.run_with_iobinding

    def call():
        run(binding)

    def fetch():
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)

    what = (f"session.run_with_iobinding: input bound once on {where}, outputs left on {where} "
            f"({', '.join(session.get_providers())})")
    # run_with_iobinding waits for the providers' streams before it returns; the explicit wait costs nothing more
    sync = binding.synchronize_outputs if where == "cuda" else None
    return ModelCall(call, fetch, what, sync=sync, keep=[value, binding])


def _paddle_inference_call(adapter, x: np.ndarray) -> ModelCall:
    p = adapter.predictor
    handle = p.get_input_handle(p.get_input_names()[0])
    x32 = np.ascontiguousarray(x, dtype=np.float32)

    def bind():  # adapter.run copies its own input into the same tensor
        handle.reshape(list(x32.shape))
        handle.copy_from_cpu(x32)

    bind()
    out_name = p.get_output_names()[0]
    sync = None
    if adapter.device == "gpu":
        import paddle

        sync = paddle.device.cuda.synchronize  # the predictor's work must be done when the clock stops

    def fetch():
        return np.asarray(p.get_output_handle(out_name).copy_to_cpu(), dtype=np.float32)

    where = "GPU" + (" through Paddle-TensorRT" if getattr(adapter, "tensorrt", False) else "") \
        if adapter.device == "gpu" else ("CPU with oneDNN" if getattr(adapter, "onednn", False) else "CPU")
    return ModelCall(p.run, fetch, f"predictor.run() on {where}: input copied into the predictor once, outputs "
                                   f"left in its output tensors", sync=sync, keep=[handle], rebind=bind)


def _paddle_dygraph_call(adapter, x: np.ndarray) -> ModelCall:
    import paddle

    net = adapter.net
    gpu = adapter.device == "gpu"
    t = paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32), place=paddle.CUDAPlace(0) if gpu else
                         paddle.CPUPlace())
    last: dict = {}
    no_grad = paddle.no_grad

    def call():
        with no_grad():
            last["out"] = net(t)

    def fetch():
        out = last["out"]
        out = out[0] if isinstance(out, (tuple, list)) else out
        return np.asarray(out.numpy(), dtype=np.float32)

    sync = paddle.device.cuda.synchronize if gpu else None
    return ModelCall(call, fetch, f"net(x) under no_grad, x a tensor on {'the GPU' if gpu else 'the CPU'}",
                     sync=sync, keep=[t])


def _torch_call(adapter, x: np.ndarray) -> ModelCall:
    import torch

    net = adapter.net
    gpu = adapter.device == "gpu"
    dtype = torch.float16 if adapter.precision == "fp16" else torch.float32
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to("cuda" if gpu else "cpu", dtype)
    if getattr(adapter, "channels_last", False):
        t = t.contiguous(memory_format=torch.channels_last)  # as adapter.run feeds it
    last: dict = {}
    inference_mode = torch.inference_mode

    def call():
        with inference_mode():
            last["out"] = net(t)

    def fetch():
        out = last["out"]
        out = out[0] if isinstance(out, (tuple, list)) else out
        return out.float().cpu().numpy()

    what = f"net(x) under inference_mode, x a {str(dtype).replace('torch.', '')} tensor on " \
           f"{'the GPU' if gpu else 'the CPU'}" + (" (torch.compile)" if getattr(adapter, "compiled", False) else "") \
        + (", channels_last" if getattr(adapter, "channels_last", False) else "")
    if gpu:
        return ModelCall(call, fetch, what, device_timer=CudaEventTimer(torch, torch.cuda.current_stream()), keep=[t])
    return ModelCall(call, fetch, what, keep=[t])


def _tensorrt_call(adapter, x: np.ndarray) -> ModelCall:
    import tensorrt as trt
    import torch

    engine, ctx = adapter.engine, adapter.context
    device = torch.device("cuda", int(getattr(adapter, "device_id", 0) or 0))
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    ins = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if "heatmaps" in outs:
        outs = ["heatmaps"] + [n for n in outs if n != "heatmaps"]

    def dtype_of(name):
        return getattr(torch, np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name)

    inp = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device, dtype_of(ins[0])).contiguous()
    if not ctx.set_input_shape(ins[0], tuple(inp.shape)):
        raise ValueError(f"input shape {tuple(inp.shape)} is outside the engine's profile")
    buffers = [torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=dtype_of(name), device=device) for name in outs]

    def bind():  # adapter.run binds buffers of its own (freed when it returns): point the context back at ours
        ctx.set_input_shape(ins[0], tuple(inp.shape))
        ctx.set_tensor_address(ins[0], inp.data_ptr())
        for name, buf in zip(outs, buffers):
            ctx.set_tensor_address(name, buf.data_ptr())

    bind()
    stream = getattr(adapter, "stream", None) or torch.cuda.current_stream(device)  # the adapter's own stream
    handle = stream.cuda_stream
    execute = ctx.execute_async_v3

    def call():
        execute(handle)

    def fetch():
        stream.synchronize()
        return buffers[0].float().cpu().numpy()

    return ModelCall(call, fetch, "execute_async_v3 on the stream: input and output buffers on the GPU, bound once",
                     device_timer=CudaEventTimer(torch, stream), keep=[inp, *buffers], rebind=bind)


def _lite_call(adapter, x: np.ndarray) -> ModelCall:
    if getattr(adapter, "_arm", None) is not None or not hasattr(adapter, "time_in_worker"):
        return adapter_call(adapter, x)
    mc = adapter_call(adapter, x)
    mc.what = "predictor.run() timed inside the Paddle Lite worker process, input set there once (no transfer)"
    mc.remote = lambda budget: adapter.time_in_worker(x, budget)
    return mc


_RUNNERS: dict[str, Callable] = {
    "lite": _lite_call,
    "onnxruntime": _ort_call,
    "paddle-inference": _paddle_inference_call,
    "paddle": _paddle_dygraph_call,
    "torch": _torch_call,
    "tensorrt": _tensorrt_call,
}


def model_call(adapter, x: np.ndarray) -> ModelCall:
    """The model-only call for a loaded adapter on input ``x`` (see the module docstring).

    Falls back to :func:`adapter_call` for runtimes without a direct call, or when preparing one fails (the
    reason goes into the call's notes).
    """
    maker = _RUNNERS.get(getattr(adapter, "name", ""))
    if maker is None:
        return adapter_call(adapter, x)
    try:
        return maker(adapter, x)
    except (AttributeError, ImportError, ValueError, TypeError) as exc:
        return adapter_call(adapter, x, f"direct {adapter.name} call unavailable ({type(exc).__name__}: "
                                        f"{str(exc).splitlines()[0] if str(exc) else ''}); timed adapter.run")


def check_call(adapter, mc: ModelCall, x: np.ndarray, rtol: float = 1e-3) -> str:
    """Run the direct call once and compare its heatmaps with ``adapter.run(x)``; '' when they agree.

    Same runtime, same input, same weights: the two should be identical; ``rtol`` (relative to the largest
    heatmap value) only absorbs a runtime that picks different kernels for a bound input (oneDNN layouts, FP16).
    The call's own input and buffers are bound again afterwards (``adapter.run`` may have moved them).
    """
    if mc.rebind is not None:
        mc.rebind()
    mc.call()
    if mc.sync is not None:
        mc.sync()
    got = mc.fetch()
    try:
        ref = np.asarray(adapter.run(x).heatmaps, dtype=np.float32)
    finally:
        if mc.rebind is not None:
            mc.rebind()
    if got.shape != ref.shape:
        return f"the direct call returned shape {got.shape}, adapter.run {ref.shape}"
    scale = float(np.abs(ref).max()) or 1.0
    diff = float(np.abs(got.astype(np.float64) - ref).max())
    if not np.isfinite(diff) or diff > rtol * scale:
        return f"the direct call's heatmaps differ from adapter.run's by {diff:.3g} (largest value {scale:.3g})"
    return ""
