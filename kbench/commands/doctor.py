"""``kbench doctor``: which runtimes and devices are usable here, and why the others are not."""

from __future__ import annotations

import json
import shutil
import subprocess

__all__ = ["run", "gpu_devices"]


def gpu_devices() -> tuple[list[str], str]:
    """NVIDIA GPUs seen by ``nvidia-smi`` (no framework import), and a reason when there are none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "no NVIDIA driver (nvidia-smi not found)"
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return [], f"nvidia-smi failed: {exc}"
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return names, "" if names else "nvidia-smi lists no GPU"


def _adb_devices() -> tuple[list[str], str]:
    exe = shutil.which("adb")
    if exe is None:
        return [], "adb not found (needed for Paddle Lite on ARM devices)"
    try:
        out = subprocess.run([exe, "devices"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return [], f"adb failed: {exc}"
    devs = [ln.split()[0] for ln in out.stdout.splitlines()[1:] if ln.strip().endswith("device")]
    return devs, "" if devs else "no ARM device attached (adb devices lists none)"


def _lite_env() -> str:
    try:
        from kbench.lite.env import find_python310
    except ImportError:
        return "kbench.lite is not available"
    try:
        return f"Python 3.10 for the Paddle Lite worker: {find_python310()}"
    except Exception as exc:  # the finder raises InputError with the reason
        return f"Paddle Lite worker needs Python 3.10: {exc}"


def run(args, parser) -> int:
    """Print the table (or JSON)."""
    from kbench.adapters.base import RUNTIMES, runtime_status

    gpus, gpu_why = gpu_devices()
    adb, adb_why = _adb_devices()
    rows = []
    for name, info in RUNTIMES.items():
        ok, why = runtime_status(name)
        devices = []
        for dev in info.devices:
            if dev == "gpu" and not gpus:
                continue
            devices.append(dev)
        if ok and not devices:
            ok, why = False, f"needs a GPU: {gpu_why}"
        rows.append({"runtime": name, "usable": ok, "devices": devices if ok else [],
                     "precisions": list(info.precisions), "why": "" if ok else why, "notes": info.notes})
    report = {"runtimes": rows, "gpu": {"devices": gpus, "why": gpu_why}, "arm": {"devices": adb, "why": adb_why},
              "lite_worker": _lite_env()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'runtime':<18} {'usable':<7} {'devices':<10} {'precisions':<11} why / notes")
    for r in rows:
        print(f"{r['runtime']:<18} {'yes' if r['usable'] else 'no':<7} {','.join(r['devices']) or '-':<10} "
              f"{','.join(r['precisions']):<11} {r['why'] or r['notes']}")
    print(f"GPU: {', '.join(gpus) if gpus else gpu_why}")
    print(f"ARM (Paddle Lite via adb): {', '.join(adb) if adb else adb_why}")
    print(report["lite_worker"])
    return 0
