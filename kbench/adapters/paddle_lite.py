"""Paddle Lite: the zoo model converted to a ``.nb`` with ``opt``, run on x86 by a worker process, or on ARM via adb.

x86 (``target="x86"``, the default): Paddle Lite's Python package exists only for Python <= 3.10, so the model runs
in a worker process of kbench's Lite environment (:mod:`kbench.lite.env`, created on first use), which speaks the
framed protocol of :mod:`kbench.lite.worker` over pipes. One worker per loaded adapter; ``close()`` stops it, and a
worker that died (Paddle Lite aborts on some errors) is restarted by the next ``run()``.

ARM (``target="arm"``): the model is converted for ARM and run on an Android device attached through ``adb`` by
Paddle Lite's own benchmark binary (``$KBENCH_LITE_BENCHMARK_BIN``, built for the device's architecture from the
same Paddle Lite release as the ``opt`` that converted the model). ``run()`` pushes the batch as text, runs the
binary with ``--show_output_elem`` and parses the outputs and its timings (``last_timing``). Without ``adb`` or a
ready device, ``load`` says so in one line before converting anything.

Converted models are cached under ``$KBENCH_CACHE/artifacts/lite`` (else ``~/.cache/kbench/artifacts/lite``), keyed
by model, weights (``random-seed0`` or the checkpoint's sha256), batch, target, precision and paddlelite version.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from kbench.adapters.base import PRECISIONS, Adapter, ModelOutputs, check_batch, run_in_pieces
from kbench.errors import InputError
from kbench.export.cache import artifacts_root, weights_key

__all__ = ["PaddleLiteAdapter", "LiteWorker", "AdbBenchmark", "find_arm_device", "benchmark_bin",
           "parse_benchmark_output", "BENCHMARK_BIN_VAR", "REMOTE_ROOT"]

BENCHMARK_BIN_VAR = "KBENCH_LITE_BENCHMARK_BIN"
REMOTE_ROOT = "/data/local/tmp/kbench-lite"
_NO_ARM = ("no ARM device attached: {why} (target arm runs the .nb on an Android device through adb: install Android "
           "platform-tools and connect a device with USB debugging on, or use target x86)")


def _clean_env() -> dict:
    """The environment for the 3.10 interpreter: kbench's own PYTHONPATH/PYTHONHOME must not leak into it."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


# --- x86: the worker process -----------------------------------------------------------------------------------------

class LiteWorker:
    """A worker process of the Lite environment (see :mod:`kbench.lite.worker` for the protocol).

    Its stderr goes to an anonymous temporary file: Paddle Lite logs why it aborted there, and a file cannot fill up
    and block the worker the way an unread pipe would.
    """

    #: Seconds a request may take before the worker is taken for hung, stopped and named in one line. Loading
    #: converts nothing (the .nb is made beforehand), so both are generous; $KBENCH_LITE_TIMEOUT overrides them.
    TIMEOUTS = {"load": 300.0, "run": 120.0}

    def __init__(self, python: str | os.PathLike, timeout: float | None = None):
        self.python = Path(python)
        self.proc: subprocess.Popen | None = None
        self._log = None
        env = os.environ.get("KBENCH_LITE_TIMEOUT")
        self.timeout = timeout if timeout is not None else (float(env) if env else None)

    def _deadline(self, op: str) -> float:
        return self.timeout if self.timeout is not None else self.TIMEOUTS.get(op, 120.0)

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        return self.proc.pid if self.alive() else None

    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> LiteWorker:
        """Start (or restart) the worker process."""
        from kbench.lite.env import worker_script

        self.close()
        self._log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen([str(self.python), "-I", str(worker_script()), "serve"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                         env=_clean_env())
        except OSError as exc:
            self._cleanup()
            raise InputError(f"cannot start the Paddle Lite worker with {self.python}: {exc}") from None
        return self

    def request(self, header: dict, arrays=()) -> tuple[dict, list]:
        """Send one request; returns the answer header and arrays, or raises one InputError line."""
        from kbench.lite.worker import read_frame, write_frame

        op = header.get("op", "?")
        if not self.alive():
            if self.proc is None:
                raise InputError("the Paddle Lite worker is not running")
            raise self._died(f"before {op}")  # killed while idle (out of memory, or from outside)
        # A watchdog, not a timeout on the read alone: a hung worker may also stop reading, and block the write.
        limit, proc, hung = self._deadline(op), self.proc, threading.Event()

        def stop_hung_worker():
            hung.set()
            proc.kill()

        watchdog = threading.Timer(limit, stop_hung_worker)
        watchdog.daemon = True
        watchdog.start()
        try:
            write_frame(self.proc.stdin, header, arrays)
            frame = read_frame(self.proc.stdout)
        except (BrokenPipeError, EOFError, OSError, ValueError):
            frame = None
        finally:
            watchdog.cancel()
        if hung.is_set():
            proc.wait()
            self._cleanup()
            raise InputError(f"the Paddle Lite worker (pid {proc.pid}) did not answer {op} within {limit:g} s: it was "
                             f"stopped (KBENCH_LITE_TIMEOUT allows longer)")
        if frame is None:
            raise self._died(f"during {op}")
        answer, outs = frame
        if not answer.get("ok"):
            raise InputError(f"Paddle Lite {op} failed: {answer.get('error', 'no reason given')}")
        return answer, outs

    def _log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - 65536))  # the reason is at the end
        return self._log.read().decode("utf-8", "replace")

    def _died(self, when: str) -> InputError:
        """The one-line error for a worker that ended (``when``: "during run", "before load"), and its cleanup."""
        from kbench.export.lite import lite_failure_reason

        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it closed its pipes but lives on: end it
            self.proc.kill()
            code = self.proc.wait()
        reason = lite_failure_reason(self._log_text())
        try:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        except ValueError:
            how = f"exit {code}"
        if reason == "no message" and code == -signal.SIGSEGV:
            reason = "crashed without a message (an .nb converted for another target, e.g. arm, crashes on x86)"
        elif reason == "no message" and code == -signal.SIGKILL:
            reason = "killed (out of memory, or from outside)"
        self._cleanup()
        return InputError(f"the Paddle Lite worker died {when}: {reason} ({how})")

    def _cleanup(self) -> None:
        if self.proc is not None:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass
        if self._log is not None:
            self._log.close()
        self.proc, self._log = None, None

    def close(self, timeout: float = 10.0) -> None:
        """Ask the worker to exit (it also exits when its stdin closes); kill it if it does not within ``timeout``."""
        if self.proc is None:
            return
        if self.alive():
            from kbench.lite.worker import read_frame, write_frame

            try:
                write_frame(self.proc.stdin, {"op": "exit"})
                read_frame(self.proc.stdout)
            except (OSError, ValueError, EOFError):
                pass  # it is going anyway; closing stdin below is the fallback
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._cleanup()


# --- ARM: adb and Paddle Lite's benchmark binary -------------------------------------------------------------------

def find_arm_device() -> tuple[str, str]:
    """(adb path, serial) of a ready device (``$ANDROID_SERIAL`` if set), or one InputError line saying why none."""
    adb = shutil.which("adb")
    if adb is None:
        raise InputError(_NO_ARM.format(why="adb is not on PATH"))
    try:
        done = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(_NO_ARM.format(why=f"`adb devices` failed ({exc})")) from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(_NO_ARM.format(why=f"`adb devices` failed ({tail})"))
    ready, other = [], []
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith(("List of", "*")):
            (ready if parts[1] == "device" else other).append(parts[0] if parts[1] == "device"
                                                              else f"{parts[0]} {parts[1]}")
    wanted = os.environ.get("ANDROID_SERIAL")
    if wanted:
        if wanted not in ready:
            raise InputError(_NO_ARM.format(why=f"ANDROID_SERIAL={wanted} is not a ready device in `adb devices`"))
        return adb, wanted
    if not ready:
        why = "`adb devices` lists none" + (f" ready ({', '.join(other)})" if other else "")
        raise InputError(_NO_ARM.format(why=why))
    return adb, ready[0]


def benchmark_bin() -> Path:
    """Paddle Lite's ARM benchmark binary, from ``$KBENCH_LITE_BENCHMARK_BIN``, or one InputError line."""
    value = os.environ.get(BENCHMARK_BIN_VAR)
    if not value:
        raise InputError(f"target arm needs Paddle Lite's ARM benchmark binary: set {BENCHMARK_BIN_VAR} to its "
                         f"benchmark_bin (in a Paddle-Lite checkout of the paddlelite release that converts the "
                         f"model: ./lite/tools/build_android.sh --toolchain=clang --with_benchmark=ON full_publish "
                         f"writes build.lite.android.armv8.clang/lite/api/tools/benchmark/benchmark_bin)")
    path = Path(value).expanduser()
    if not path.is_file():
        raise InputError(f"{BENCHMARK_BIN_VAR}={value}: no such file")
    return path


_OUT_SHAPE = re.compile(r"^output shape\(NCHW\):(.*)$", re.M)
_OUT_ELEM = re.compile(r"^out\[(\d+)\]\[\d+\]:\s*(\S+)\s*$", re.M)
_TIME = re.compile(r"^(init|first|min|max|avg)\s*=\s*([-+0-9.eE]+|nan|inf)", re.M)
_BIN_VERSION = re.compile(r"^benchmark_bin version:\s*(\S+)", re.M)


def _perf_timing(text: str) -> dict:
    """The ``Time(unit: ms)`` block of a benchmark_bin report as ``{"init_ms": ..., "avg_ms": ...}``."""
    perf = text[text.find("Time(unit: ms)"):] if "Time(unit: ms)" in text else ""
    perf = perf.split("Memory Usage", 1)[0]  # its init/peak lines are MB, not ms
    return {f"{k}_ms": float(v) for k, v in _TIME.findall(perf)}


def parse_benchmark_output(text: str) -> tuple[list[np.ndarray], dict]:
    """Outputs and timings (ms) from what Paddle Lite's benchmark_bin prints with ``--show_output_elem=true``.

    The binary prints, per output tensor, ``output shape(NCHW): 1,17,64,48,`` then ``out[t][i]:value`` lines (six
    significant digits), and then ``init = ... first = ... min = ... max = ... avg = ...`` under ``Time(unit: ms)``.

    Returns:
        (float32 arrays in output order, {"init_ms", "first_ms", "min_ms", "max_ms", "avg_ms", "version"}).

    Raises:
        InputError: no outputs, or fewer values than a shape says (the tail of the output is quoted).
    """
    shapes = [tuple(int(x) for x in re.findall(r"\d+", m)) for m in _OUT_SHAPE.findall(text)]
    if not shapes:
        tail = (text.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"benchmark_bin printed no output tensor: {tail}")
    values: list[list[str]] = [[] for _ in shapes]
    for tensor, value in _OUT_ELEM.findall(text):
        t = int(tensor)
        if t < len(values):
            values[t].append(value)
    outs = []
    for t, shape in enumerate(shapes):
        count = int(np.prod(shape)) if shape else 1
        if len(values[t]) != count:
            raise InputError(f"benchmark_bin printed {len(values[t])} of the {count} values of output {t} "
                             f"(shape {shape}); was it run with --show_output_elem=true?")
        outs.append(np.array(values[t], dtype=np.float64).astype(np.float32).reshape(shape))
    timing = _perf_timing(text)
    version = _BIN_VERSION.search(text)
    if version:
        timing["version"] = version.group(1)
    return outs, timing


class AdbBenchmark:
    """One converted ARM model on one adb device, run by Paddle Lite's benchmark binary."""

    def __init__(self, adb: str, serial: str, binary: Path, nb: Path, threads: int = 1, precision: str = "fp32",
                 warmup: int = 10, repeats: int = 50, power_mode: int = 0):
        self.adb, self.serial, self.binary, self.nb = adb, serial, Path(binary), Path(nb)
        self.threads, self.precision, self.warmup, self.repeats = threads, precision, warmup, repeats
        self.power_mode = power_mode
        # one folder per host process and model, so that two runs on one device do not overwrite each other
        self.remote = f"{REMOTE_ROOT}/{os.getpid()}-{self.nb.parent.name or 'model'}"
        self.last_output = ""

    def _adb(self, *args: str, what: str, timeout: float = 600) -> str:
        try:
            done = subprocess.run([self.adb, "-s", self.serial, *args], capture_output=True, text=True,
                                  timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            raise InputError(f"adb {what} on {self.serial} took over {timeout:.0f} s") from None
        except OSError as exc:
            raise InputError(f"adb {what} on {self.serial} failed: {exc}") from None
        if done.returncode != 0:
            tail = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
            raise InputError(f"adb {what} on {self.serial} failed (exit {done.returncode}): {tail}")
        return done.stdout

    def setup(self) -> None:
        """Push the model and the binary to the device."""
        self._adb("shell", f"mkdir -p {self.remote}", what="mkdir")
        self._adb("push", str(self.nb), f"{self.remote}/model.nb", what="push of the model")
        self._adb("push", str(self.binary), f"{self.remote}/benchmark_bin", what="push of benchmark_bin")
        self._adb("shell", f"chmod 755 {self.remote}/benchmark_bin", what="chmod")

    def command(self, shape: tuple) -> str:
        """The shell command run on the device."""
        return (f"cd {self.remote} && rm -f result.txt && ./benchmark_bin --optimized_model_file=model.nb "
                f"--input_shape={','.join(str(int(s)) for s in shape)} --input_data_path=input.txt --backend=arm "
                f"--cpu_precision={self.precision} --threads={self.threads} --power_mode={self.power_mode} "
                f"--warmup={self.warmup} --repeats={self.repeats} --show_output_elem=true --result_path=result.txt")

    def run(self, batch: np.ndarray) -> tuple[list[np.ndarray], dict]:
        """Run one batch on the device; returns (outputs, timing in ms)."""
        with tempfile.TemporaryDirectory(prefix="kbench-lite-adb-") as tmp:
            local_in = Path(tmp) / "input.txt"
            # benchmark_bin reads whitespace-separated floats with operator>>; 9 digits round-trip float32
            np.savetxt(local_in, np.asarray(batch, dtype=np.float32).reshape(-1), fmt="%.9g")
            self._adb("push", str(local_in), f"{self.remote}/input.txt", what="push of the input")
            text = self._adb("shell", self.command(batch.shape), what="benchmark_bin")
            self.last_output = text
            outs, timing = parse_benchmark_output(text)
            local_result = Path(tmp) / "result.txt"
            try:  # the binary's own result file carries the same timings; prefer it when it came back
                self._adb("pull", f"{self.remote}/result.txt", str(local_result), what="pull of result.txt")
                timing.update(_perf_timing(local_result.read_text(encoding="utf-8", errors="replace")))
            except (InputError, OSError):
                pass
        return outs, timing

    def close(self) -> None:
        """Remove the pushed files from the device (best effort)."""
        try:
            self._adb("shell", f"rm -rf {self.remote}", what="cleanup", timeout=60)
        except InputError:
            pass


# --- the adapter -----------------------------------------------------------------------------------------------------

class PaddleLiteAdapter(Adapter):
    """The zoo network as a Paddle Lite ``.nb``: x86 in a Python 3.10 worker process, or ARM through adb."""

    name = "lite"

    def __init__(self):
        super().__init__()
        self.target = "x86"
        self.batch = 1
        self.threads = None
        self.model_path: Path | None = None
        self.manifest: dict | None = None
        self.env = None
        self.io: dict = {}
        self.timings: dict = {}
        self.last_timing: dict | None = None
        self._worker: LiteWorker | None = None
        self._arm: AdbBenchmark | None = None

    def load(self, card, weights="random", device="cpu", precision="fp32", batch=1, threads=None, model_path=None,
             target="x86", warmup=10, repeats=50, **options):
        """Convert (or take from the cache, or from ``model_path``) and start the runtime; see :meth:`Adapter.load`.

        Args:
            model_path: an existing ``.nb`` to run instead of converting the card's model (``weights`` is then
                ignored; a ``manifest.json`` beside it is used for ``describe()``).
            target: ``x86`` (a worker process here) or ``arm`` (an adb device and ``$KBENCH_LITE_BENCHMARK_BIN``).
            threads: CPU threads; None is Paddle Lite's default (one thread on x86; ``--threads=1`` on ARM).
            precision: ``fp32``; ``fp16`` only with ``target="arm"`` (Paddle Lite has fp16 kernels only for ARM).
            warmup: ARM only: benchmark_bin's warm-up runs per ``run()``.
            repeats: ARM only: benchmark_bin's timed runs per ``run()``.
        """
        from kbench.export.lite import TARGETS

        if target not in TARGETS:
            raise InputError(f"unknown Paddle Lite target {target!r}; use x86 or arm")
        self.check_target(device, "fp32")  # the device; precision is checked here, as it depends on the target
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}; use fp32 or fp16")
        if precision == "fp16" and target == "x86":
            raise InputError("Paddle Lite fp16 is an ARM feature (fp16 .nb models need ARM kernels; opt has none for "
                             "x86): use --precision fp32 on x86, or target arm with a device attached")
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads must be a positive integer or None, got {threads!r}")
        self.close()
        arm = None
        if target == "arm":  # before converting anything: without a device there is nothing to run it on
            adb, serial = find_arm_device()
            arm = (adb, serial, benchmark_bin())
        from kbench.lite.env import ensure_lite_env

        self.env = ensure_lite_env()
        self.card, self.device, self.precision = card, device, precision
        self.target, self.batch, self.threads = target, batch, threads
        started = time.monotonic()
        if model_path is not None:
            nb = Path(model_path).expanduser()
            if not nb.is_file():
                raise InputError(f"{nb}: no such .nb file" if not nb.exists() else f"{nb}: is not a file")
            from kbench.export.lite import read_lite_manifest

            self.manifest = read_lite_manifest(nb.parent, check_sha=False) if nb.name == "model.nb" else None
            self.timings = {"cached": True}
        else:
            nb, self.manifest, cached = self._convert_cached(card, weights, target, batch, precision)
            self.timings = {"cached": cached, "convert_s": round(time.monotonic() - started, 2)}
        self.model_path = nb
        started = time.monotonic()
        if arm is not None:
            self._arm = AdbBenchmark(*arm, nb, threads=threads or 1, precision=precision, warmup=warmup,
                                     repeats=repeats)
            self._arm.setup()
            self.io = {}
        else:
            self._start_worker()
        self.timings["start_s"] = round(time.monotonic() - started, 2)

    def _convert_cached(self, card, weights, target, batch, precision) -> tuple[Path, dict, bool]:
        from kbench.export.lite import convert_to_lite, read_lite_manifest
        from kbench.lite.env import file_lock

        folder = (artifacts_root() / "lite" / card.key /
                  f"{weights_key(card, weights)}-b{batch}-{target}-{precision}-lite{self.env.paddlelite}")
        manifest = read_lite_manifest(folder)
        if manifest is not None:
            return folder / "model.nb", manifest, True
        with file_lock(folder):  # parallel jobs convert once
            manifest = read_lite_manifest(folder)
            if manifest is not None:
                return folder / "model.nb", manifest, True
            nb = convert_to_lite(card, folder, weights, target=target, batch=batch, precision=precision)
        return nb, read_lite_manifest(folder, check_sha=False), False

    def _start_worker(self) -> None:
        worker = LiteWorker(self.env.python).start()
        try:
            answer, _ = worker.request({"op": "load", "model": str(self.model_path), "threads": self.threads})
        except InputError as exc:
            worker.close()
            raise InputError(f"Paddle Lite could not load {self.model_path}: {exc}") from None
        self._worker = worker
        self.io = {"inputs": answer["inputs"], "outputs": answer["outputs"], "threads": answer.get("threads"),
                   "version": answer.get("version")}

    def describe(self) -> dict:
        """Runtime, version, target, threads, shapes, the .nb and its provenance, the worker or the device."""
        if self.card is None:
            raise InputError("the lite adapter is not loaded: call load() first")
        w, h = self.card.input_size
        shape = [self.batch, 3, h, w] if self.card.top_down else [self.batch, 3, -1, -1]
        info = {"runtime": self.name, "version": self.env.paddlelite, "device": self.device, "target": self.target,
                "precision": self.precision, "threads": self.io.get("threads", self.threads), "batch": self.batch,
                "input": {"image": shape}, "outputs": self.io.get("outputs"), "model": str(self.model_path),
                "weights": (self.manifest or {}).get("weights"), "timings": dict(self.timings),
                "environment": self.env.describe()}
        if self.manifest:
            info["converted"] = {"nb_sha256": self.manifest["nb"]["sha256"], "converter": self.manifest["converter"],
                                 "seconds": self.manifest.get("seconds")}
        if self._arm is not None:
            info["adb"] = {"serial": self._arm.serial, "benchmark_bin": str(self._arm.binary),
                           "remote": self._arm.remote, "warmup": self._arm.warmup, "repeats": self._arm.repeats}
        elif self._worker is not None:
            info["worker"] = {"pid": self._worker.pid, "python": str(self.env.python)}
        if self.last_timing is not None:
            info["last_timing"] = dict(self.last_timing)
        return info

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """Run a float32 batch: the .nb's fixed batch at a time, a smaller last piece padded (as every runtime does
        on a fixed-batch graph: :func:`kbench.adapters.base.run_in_pieces`).

        A worker that died is reported once (one InputError line with Paddle Lite's reason); the next call starts a
        fresh worker.
        """
        if self.model_path is None:
            raise InputError("the lite adapter is not loaded: call load() first")
        arr = check_batch(batch, self.card)
        outs = run_in_pieces(self._run_once, arr, self.batch)
        outs = [np.asarray(o, dtype=np.float32) for o in outs]
        return ModelOutputs(outs[0], outs[1] if len(outs) > 1 else None)

    def _run_once(self, arr: np.ndarray) -> list:
        if self._arm is not None:
            outs, self.last_timing = self._arm.run(arr)
        else:
            if self._worker is None or self._worker.proc is None:
                self._start_worker()  # the first run after close(), or after a death that was reported
            answer, outs = self._worker.request({"op": "run"}, [arr])
            self.last_timing = {"run_ms": answer.get("ms")}
        return list(outs)

    def time_in_worker(self, batch: np.ndarray, budget):
        """Time ``predictor.run()`` inside the x86 worker (no pipe transfer in the figures); a Timing.

        The worker runs the harness's loop itself (:class:`kbench.bench.timing.Budget`: warm-up apart, a count or
        a time budget) on an input set once, and reports its own CPU time over the measured runs.
        """
        from kbench.bench.timing import Timing

        if self._arm is not None:
            raise InputError("Paddle Lite on ARM is timed by benchmark_bin on the device, not by a worker")
        if self.model_path is None:
            raise InputError("the lite adapter is not loaded: call load() first")
        arr = check_batch(batch, self.card)
        if self._worker is None or self._worker.proc is None:
            self._start_worker()
        header = {"op": "time", "warmup_runs": budget.warmup_runs, "warmup_seconds": budget.warmup_seconds,
                  "runs": budget.runs, "seconds": budget.seconds, "min_runs": budget.min_runs,
                  "max_runs": budget.max_runs, "min_warmup_runs": budget.min_warmup_runs}
        answer, arrays = self._worker.request(header, [arr])
        return Timing(np.asarray(arrays[0], dtype=np.int64), int(answer["warmup_runs"]), int(answer["warmup_ns"]),
                      int(answer["wall_ns"]), "perf_counter_ns in the Lite worker", int(arr.shape[0]),
                      cpu_ns=int(answer["cpu_ns"]))

    def close(self) -> None:
        """Stop the worker (or clean the device folder). ``load`` may be called again afterwards."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._arm is not None:
            self._arm.close()
            self._arm = None
