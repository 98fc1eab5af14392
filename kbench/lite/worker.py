"""Paddle Lite worker: run by the Python 3.10 interpreter of kbench's Lite environment, never imported by kbench.

It imports only the standard library, numpy and paddlelite (kbench itself is not installed in that environment).

Commands::

    python -I worker.py version        # one JSON line: python, numpy and paddlelite versions
    python -I worker.py opt ARGS       # run Paddle Lite's opt; one JSON line: the .nb written
    python -I worker.py serve          # the request loop below

Protocol of ``serve`` (requests on stdin, answers on stdout, one answer per request, in order). Every message is a
frame::

    4 bytes   header length L, unsigned big-endian
    L bytes   header: UTF-8 JSON object; its "arrays" list (may be absent) gives {"dtype", "shape"} per array
    payload   the arrays' raw C-order bytes, one after the other (sizes follow from dtype and shape)

Requests (header "op"):

* ``load``: ``{"op": "load", "model": "/path/model.nb", "threads": 4 | null}`` loads the model (a second load
  replaces the first). Answer: ``{"ok": true, "inputs": [...], "outputs": [...], "threads": n, "version": ...}``.
* ``run``: ``{"op": "run", "arrays": [{"dtype": "float32", "shape": [N, 3, H, W]}]}`` plus the input bytes.
  Answer: ``{"ok": true, "arrays": [...], "ms": t}`` plus the output bytes (float32), in output order.
* ``time``: ``{"op": "time", "warmup_runs": k | null, "warmup_seconds": s, "runs": n | null, "seconds": s,
  "min_runs": m, "max_runs": M, "min_warmup_runs": w}`` plus one input: the worker sets the input once and times
  ``predictor.run()`` itself, as kbench's harness does (warm-up apart, a count or a time budget), so that no pipe
  transfer lands in the figures. Answer: ``{"ok": true, "arrays": [int64 samples_ns], "warmup_runs": k,
  "warmup_ns": t, "wall_ns": t, "cpu_ns": t}``: ``cpu_ns`` is the worker's CPU time over the measured runs.
* ``exit``: answers ``{"ok": true}`` and exits 0. End of input (the parent closed the pipe or died) also exits 0.

A failure Python can catch is answered ``{"ok": false, "error": "one line"}`` and the loop goes on. Paddle Lite
aborts the process on a bad model (a failed CHECK): the parent then sees end of stream and reads the reason from
the worker's stderr, where Paddle Lite logs it.

Paddle Lite's C++ code prints to file descriptor 1; so that it cannot corrupt the frames, the worker moves the
protocol to a duplicate of fd 1 and points fd 1 at stderr before importing paddlelite.
"""

import json
import os
import struct
import sys
import time

_HEADER = struct.Struct(">I")


def _read_exact(stream, n):
    """Exactly n bytes, or None at a clean end of stream before the first byte."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError(f"stream ended after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(stream):
    """(header dict, list of numpy arrays), or None at end of stream."""
    import numpy as np

    raw = _read_exact(stream, _HEADER.size)
    if raw is None:
        return None
    (length,) = _HEADER.unpack(raw)
    header = json.loads(_read_exact(stream, length).decode("utf-8"))
    arrays = []
    for spec in header.get("arrays", []):
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(s) for s in spec["shape"])
        count = 1
        for s in shape:
            count *= s
        data = _read_exact(stream, count * dtype.itemsize) if count else b""
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    return header, arrays


def write_frame(stream, header, arrays=()):
    """Write one frame and flush."""
    import numpy as np

    arrays = [np.ascontiguousarray(a) for a in arrays]
    if arrays:
        header = dict(header, arrays=[{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays])
    body = json.dumps(header).encode("utf-8")
    stream.write(_HEADER.pack(len(body)) + body)
    for a in arrays:
        stream.write(a.tobytes())
    stream.flush()


def _protect_stdout():
    """A binary stream on a duplicate of fd 1; fd 1 itself then goes to stderr (see the module docstring)."""
    sys.stdout.flush()
    proto = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def _versions():
    import importlib.metadata

    import numpy

    return {"python": ".".join(str(v) for v in sys.version_info[:3]), "numpy": numpy.__version__,
            "paddlelite": importlib.metadata.version("paddlelite")}


def _set_x86_threads(threads):
    """Set the math-library threads of Paddle Lite's x86 kernels; returns the count now in effect (or None).

    The Python ``MobileConfig`` has no ``set_threads`` and the light predictor resets MKL to one thread when it is
    created, so the count is set afterwards, on the MKL and OpenMP libraries that paddlelite ships and has loaded.
    """
    import ctypes

    import paddlelite

    libs = os.path.join(os.path.dirname(paddlelite.__file__), "libs")
    try:
        mkl = ctypes.CDLL(os.path.join(libs, "libmklml_intel.so"))
        omp = ctypes.CDLL(os.path.join(libs, "libiomp5.so"))
    except OSError:
        return None  # not an MKL build (ARM or macOS wheels): nothing to set here
    if threads:
        mkl.MKL_Set_Num_Threads(int(threads))
        omp.omp_set_num_threads(int(threads))
    return int(mkl.MKL_Get_Max_Threads())


class _Server:
    def __init__(self):
        self.predictor = None

    def load(self, header):
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        model = header["model"]
        if not os.path.isfile(model):
            raise ValueError(f"{model}: no such file")
        config = MobileConfig()
        config.set_model_from_file(model)
        self.predictor = None  # free the previous model first
        self.predictor = create_paddle_predictor(config)
        threads = _set_x86_threads(header.get("threads"))
        return {"ok": True, "inputs": list(self.predictor.get_input_names()),
                "outputs": list(self.predictor.get_output_names()), "threads": threads,
                "version": _versions()["paddlelite"]}, []

    def run(self, header, arrays):
        import numpy as np

        if self.predictor is None:
            raise ValueError("no model loaded")
        names = self.predictor.get_input_names()
        if len(arrays) != len(names):
            raise ValueError(f"the model takes {len(names)} input(s), got {len(arrays)}")
        for i, a in enumerate(arrays):
            self.predictor.get_input(i).from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        start = time.perf_counter()
        self.predictor.run()
        ms = (time.perf_counter() - start) * 1000.0
        outs = [np.asarray(self.predictor.get_output(i).numpy(), dtype=np.float32)
                for i in range(len(self.predictor.get_output_names()))]
        return {"ok": True, "ms": ms}, outs

    def time(self, header, arrays):
        import numpy as np

        if self.predictor is None:
            raise ValueError("no model loaded")
        if len(arrays) != 1:
            raise ValueError(f"time takes one input, got {len(arrays)}")
        self.predictor.get_input(0).from_numpy(np.ascontiguousarray(arrays[0], dtype=np.float32))
        run = self.predictor.run
        pc = time.perf_counter_ns

        def loop(n_min, n_max, seconds):
            samples = []
            start = pc()
            deadline = start + int((seconds or 0) * 1e9)
            while True:
                t0 = pc()
                run()
                t1 = pc()
                samples.append(t1 - t0)
                if len(samples) >= n_max or (len(samples) >= n_min and t1 >= deadline):
                    return samples, pc() - start

        max_runs = int(header.get("max_runs") or 1_000_000)
        warm_runs = header.get("warmup_runs")
        if warm_runs is not None:
            warm, warm_ns = loop(int(warm_runs), int(warm_runs), None) if warm_runs else ([], 0)
        else:
            warm, warm_ns = loop(int(header.get("min_warmup_runs") or 2), max_runs, header.get("warmup_seconds"))
        runs = header.get("runs")
        n_min, n_max = (int(runs), int(runs)) if runs else (int(header.get("min_runs") or 10), max_runs)
        gc_was = __import__("gc").isenabled()
        __import__("gc").disable()
        try:
            cpu0 = time.process_time_ns()
            samples, wall = loop(n_min, n_max, None if runs else header.get("seconds"))
            cpu_ns = time.process_time_ns() - cpu0
        finally:
            if gc_was:
                __import__("gc").enable()
        return {"ok": True, "warmup_runs": len(warm), "warmup_ns": warm_ns, "wall_ns": wall, "cpu_ns": cpu_ns}, \
            [np.asarray(samples, dtype=np.int64)]

    def serve(self, inp, out):
        while True:
            frame = read_frame(inp)
            if frame is None:
                return 0
            header, arrays = frame
            op = header.get("op")
            if op == "exit":
                write_frame(out, {"ok": True})
                return 0
            try:
                if op == "load":
                    answer, outs = self.load(header)
                elif op == "run":
                    answer, outs = self.run(header, arrays)
                elif op == "time":
                    answer, outs = self.time(header, arrays)
                else:
                    raise ValueError(f"unknown op {op!r}")
            except Exception as exc:  # answered, not raised: the parent turns it into one line
                answer, outs = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}, []
            write_frame(out, answer, outs)


def _opt(argv):
    """Paddle Lite's opt on a legacy Paddle model; prints one JSON line: the .nb path."""
    import argparse

    parser = argparse.ArgumentParser(prog="worker.py opt")
    parser.add_argument("--model-file", required=True)
    parser.add_argument("--param-file", required=True)
    parser.add_argument("--valid-targets", required=True, help="x86 or arm")
    parser.add_argument("--optimize-out", required=True, help="output path without .nb")
    parser.add_argument("--fp16", action="store_true", help="fp16 kernels (ARM only)")
    args = parser.parse_args(argv)
    proto = _protect_stdout()  # opt prints its progress on fd 1
    from paddlelite.lite import Opt

    opt = Opt()
    opt.set_model_file(args.model_file)
    opt.set_param_file(args.param_file)
    opt.set_valid_places(args.valid_targets)
    opt.set_model_type("naive_buffer")
    if args.fp16:
        opt.enable_fp16()
    opt.set_optimize_out(args.optimize_out)
    opt.run()
    nb = args.optimize_out + ".nb"
    if not os.path.isfile(nb):
        print(f"opt finished but wrote no {nb}", file=sys.stderr)
        return 1
    proto.write((json.dumps({"ok": True, "nb": nb}) + "\n").encode("utf-8"))
    proto.flush()
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else ""
    if command == "version":
        print(json.dumps(_versions()))
        return 0
    if command == "opt":
        return _opt(argv[1:])
    if command == "serve":
        proto = _protect_stdout()
        return _Server().serve(sys.stdin.buffer, proto)
    print("usage: worker.py version | opt ARGS | serve", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
