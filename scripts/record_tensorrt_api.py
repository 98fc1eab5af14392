"""Record the public Python API of TensorRT releases, without a GPU, as JSON fixtures for kbench's tests.

TensorRT's Python bindings (``tensorrt-cu12-bindings`` on PyPI, about 1.3 MB) are a pybind11 module linked
against libnvinfer, libnvonnxparser and libnvinfer_plugin, which come in multi-GB wheels that only NVIDIA's
index serves. The bindings call only nine C functions of those libraries (the ``create*_INTERNAL`` factories,
the plugin registries, two version queries), and none of them at import. So this script compiles three
stand-in libraries that export those nine symbols (each returns NULL; nothing here ever calls them), imports
the real bindings against them, and writes every class, enum member, module-level name and method signature
(pybind11's first docstring line) to ``tests/fixtures/tensorrt_api/<version>.json``.

kbench's TensorRT tests build their stand-in module from these files, so a call kbench makes that a release
does not have (``BuilderFlag.FP16`` in TensorRT 11, ``EXPLICIT_BATCH`` there too) fails the tests for that
release. Run it again for a new release and commit the file:

    python scripts/record_tensorrt_api.py 10.0.1 10.16.1.11 11.4.0.106

Needs pip (PyPI reachable), gcc and the Python version the wheels are for (cp311 here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "tensorrt_api"

# The only symbols of the TensorRT libraries that the bindings reference (nm -D --undefined-only tensorrt.so).
_STUBS = r"""
void* createInferBuilder_INTERNAL(void* l, int v){return 0;}
void* createInferRefitter_INTERNAL(void* a, void* l, int v){return 0;}
void* createInferRuntime_INTERNAL(void* l, int v){return 0;}
void* createNvOnnxParserRefitter_INTERNAL(void* a, void* l, int v){return 0;}
void* createNvOnnxParser_INTERNAL(void* a, void* l, int v){return 0;}
void* getBuilderPluginRegistry(int x){return 0;}
int getNvOnnxParserVersion(void){return 0;}
void* getPluginRegistry(void){return 0;}
int initLibNvInferPlugins(void* l, const char* n){return 1;}
"""

# Run inside the child process, with the bindings importable: prints the API as JSON.
_DUMP = r"""
import enum, inspect, json, sys
import tensorrt_bindings as trt

def public(obj):
    return sorted(n for n in dir(obj) if not n.startswith("_"))

def first_doc_line(obj):
    doc = getattr(obj, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""

api = {"version": trt.__version__, "module": public(trt), "classes": {}, "enums": {}, "signatures": {}}
for name in api["module"]:
    obj = getattr(trt, name)
    if not inspect.isclass(obj):
        if callable(obj):
            api["signatures"][name] = first_doc_line(obj)
        continue
    members = getattr(obj, "__members__", None)
    if isinstance(members, dict) and members:
        api["enums"][name] = list(members)
    api["classes"][name] = public(obj)
    for attr in api["classes"][name]:
        value = inspect.getattr_static(obj, attr, None)
        if callable(value) and not isinstance(value, property) and attr not in (members or {}):
            api["signatures"][f"{name}.{attr}"] = first_doc_line(getattr(obj, attr))
json.dump(api, sys.stdout, sort_keys=True)
"""


def record(version: str, work: Path) -> dict:
    """Download one release's bindings wheel, import it against the stand-in libraries, return its API."""
    major = version.split(".")[0]
    dl = work / f"wheel-{version}"
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dl),
                    f"tensorrt-cu12-bindings=={version}"], check=True)
    wheel = next(dl.glob("*.whl"))
    site = work / f"site-{version}"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    libs = work / f"libs-{major}"
    if not libs.is_dir():
        libs.mkdir()
        src = work / "stubs.c"
        src.write_text(_STUBS)
        for lib in ("nvinfer", "nvonnxparser", "nvinfer_plugin"):
            soname = f"lib{lib}.so.{major}"
            subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(libs / soname), f"-Wl,-soname,{soname}", str(src)],
                           check=True)
    env = dict(os.environ, LD_LIBRARY_PATH=str(libs), PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", _DUMP], env=env, check=True, capture_output=True, text=True)
    api = json.loads(out.stdout)
    api["recorded_from"] = wheel.name
    return api


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for version in argv:
            api = record(version, Path(tmp))
            path = OUT / f"{api['version']}.json"
            tmp_path = path.with_suffix(".json.tmp")
            tmp_path.write_text(json.dumps(api, indent=1, sort_keys=True) + "\n")
            os.replace(tmp_path, path)
            print(f"{path.relative_to(ROOT)}: {len(api['classes'])} classes, {len(api['signatures'])} signatures")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
