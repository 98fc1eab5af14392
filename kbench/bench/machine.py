"""The machine a measurement ran on, and its memory: CPU and GPU fingerprints, peak host RSS, device memory.

Everything here is cheap and imports no framework: the CPU comes from ``/proc/cpuinfo`` (and psutil where it
knows more), GPUs from ``nvidia-smi`` (only when it is on PATH, with a short timeout, asked once per process),
so a record's ``env`` can carry the GPU's name and driver without loading CUDA.

Peak host memory on Linux is the kernel's high-water mark of resident memory (``VmHWM`` in
``/proc/self/status``), which :func:`reset_peak_rss` resets to the current RSS (writing 5 to
``/proc/self/clear_refs``, Linux 4.0 and later), so each measurement gets its own peak. Elsewhere, or where the
reset is refused, the peak is the process's lifetime peak (``ru_maxrss``) and :func:`reset_peak_rss` says so.
Device memory is what ``nvidia-smi`` reports in use by this process (sampled; runtimes' caching allocators keep
their peak, so a sample after the runs sees it).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess

__all__ = ["cpu_info", "gpu_info", "gpu_available", "parse_gpu_query", "parse_compute_apps", "reset_peak_rss",
           "peak_rss_bytes", "current_rss_bytes", "device_memory_mb", "matmul_rate"]

_NVIDIA_SMI_TIMEOUT_S = 5.0
_ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
              "amx_int8", "neon", "asimd", "asimdhp")


def _cpuinfo_lines() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """CPU model, logical and physical cores, cores this process may use, maximum frequency, vector extensions.

    oneDNN and ONNX Runtime pick kernels by the vector extensions (AVX2, AVX-512, AMX), so they belong in the
    fingerprint of a CPU latency.
    """
    lines = _cpuinfo_lines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(("model name", "Model"))), "")
    flags: set[str] = set()
    for ln in lines:
        if ln.startswith(("flags", "Features")):
            flags.update(ln.split(":", 1)[1].split())
            break
    cores = {(ln_phys, ln_core) for ln_phys, ln_core in _physical_core_ids(lines)}
    physical = len(cores) or None
    freq = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or physical
        f = psutil.cpu_freq()
        freq = round(f.max or f.current) if f else None
    except Exception:  # psutil is a dependency, but a container may hide what it reads; the rest still stands
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {"model": model or platform.processor() or platform.machine(), "arch": platform.machine(),
            "logical_cores": os.cpu_count(), "physical_cores": physical, "usable_cores": usable,
            "max_mhz": freq or None, "isa": [f for f in _ISA_FLAGS if f in flags]}


def _physical_core_ids(lines: list[str]):
    phys = core = None
    for ln in lines + [""]:
        if ln.startswith("physical id"):
            phys = ln.split(":", 1)[1].strip()
        elif ln.startswith("core id"):
            core = ln.split(":", 1)[1].strip()
        elif not ln.strip():
            if core is not None:
                yield phys, core
            phys = core = None


def parse_gpu_query(text: str) -> list[dict]:
    """Rows of ``nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0]:
            continue
        gpu = {"name": parts[0], "driver": parts[1]}
        if len(parts) > 2:
            try:
                gpu["memory_mb"] = int(float(parts[2]))
            except ValueError:
                pass
        gpus.append(gpu)
    return gpus


def _nvidia_smi(args: list[str]) -> tuple[str | None, str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None, "no NVIDIA driver (nvidia-smi not found)"
    try:
        out = subprocess.run([exe, *args], capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"nvidia-smi did not answer within {_NVIDIA_SMI_TIMEOUT_S:g} s"
    except OSError as exc:
        return None, f"nvidia-smi failed: {exc}"
    if out.returncode != 0:
        first = (out.stdout.strip() or out.stderr.strip()).splitlines()
        return None, f"nvidia-smi failed: {first[0] if first else f'exit {out.returncode}'}"
    return out.stdout, ""


@functools.lru_cache(maxsize=1)
def gpu_info() -> tuple[tuple[dict, ...], str]:
    """NVIDIA GPUs (name, driver, memory in MiB) from ``nvidia-smi``, and the reason when there are none.

    Asked once per process: nothing is imported, and without ``nvidia-smi`` on PATH it costs nothing.
    """
    text, why = _nvidia_smi(["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"])
    if text is None:
        return (), why
    gpus = parse_gpu_query(text)
    return tuple(gpus), "" if gpus else "nvidia-smi lists no GPU"


def gpu_available() -> tuple[bool, str]:
    """Whether an NVIDIA GPU is visible here, and why not."""
    gpus, why = gpu_info()
    return bool(gpus), why


def parse_compute_apps(text: str, pid: int) -> float | None:
    """A process's GPU memory (MiB) in the output of ``nvidia-smi --query-compute-apps=pid,used_memory``.

    The text is ``--format=csv,noheader,nounits``; the memory is summed over GPUs; None when the process is not
    listed.
    """
    total, seen = 0.0, False
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0] == str(pid):
            try:
                total += float(parts[1])
                seen = True
            except ValueError:
                continue
    return total if seen else None


def device_memory_mb(pid: int | None = None) -> float | None:
    """GPU memory in use by a process (default: this one), in MiB, or None when it cannot be known."""
    text, _ = _nvidia_smi(["--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"])
    if text is None:
        return None
    return parse_compute_apps(text, os.getpid() if pid is None else pid)


def device_used_mb() -> float | None:
    """Memory in use on the GPUs, all processes together (MiB, summed over GPUs), or None without nvidia-smi.

    The fallback for :func:`device_memory_mb` where nvidia-smi cannot list this process (a container with its own
    process ids): the increase of this figure over a run is the run's memory when nothing else runs on the GPU.
    """
    text, _ = _nvidia_smi(["--query-gpu=memory.used", "--format=csv,noheader,nounits"])
    if text is None:
        return None
    total, seen = 0.0, False
    for line in text.splitlines():
        try:
            total += float(line.strip())
            seen = True
        except ValueError:
            continue
    return total if seen else None


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def current_rss_bytes() -> int | None:
    """Resident memory of this process now."""
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


def reset_peak_rss() -> bool:
    """Reset the kernel's resident high-water mark to the current RSS; False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process since the last :func:`reset_peak_rss` (Linux), else its lifetime peak."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if platform.system() == "Darwin" else peak * 1024)  # macOS reports bytes, Linux KiB
    except (ImportError, OSError):
        return None


def matmul_rate(threads: int | None = None, n: int = 1024, seconds: float = 0.3) -> float | None:
    """This machine's float32 matrix-multiply rate through numpy's BLAS at ``threads`` BLAS threads, in GFLOP/s.

    One multiply-add counts as 1 FLOP (the zoo README's convention): a measured yardstick for a model's GFLOP/s.
    Needs threadpoolctl to set the BLAS thread count; returns None without it (or when BLAS refuses).
    """
    try:
        import numpy as np
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    import time

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)  # BLAS spins its threads up on the first call
        best = float("inf")
        end = time.perf_counter() + seconds
        reps = 0
        while reps < 3 or time.perf_counter() < end:
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
            reps += 1
    return n ** 3 / best / 1e9 if best > 0 else None
