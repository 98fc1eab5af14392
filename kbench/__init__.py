"""kbench: benchmarking and evaluation suite for human keypoint models.

The Python API: a measurement is a spec (:mod:`kbench.specs`), :func:`run` measures it and returns its record::

    from kbench import EvalSpec, LatencySpec, run

    record = run(EvalSpec(model="tinypose_128x96", sample=24, weights="random"))
    print(record.summary)                       # what `kbench eval` prints
    record["metrics"]["AP"], record["options"]["cell_id"]

Importing the package is cheap: the names below load on first use, and no deep-learning framework is
imported until a runtime is asked for.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "run", "Record", "EvalSpec", "LatencySpec", "ProfileSpec", "ConformanceSpec", "ExportSpec",
           "BenchmarkSpec", "ProgressEvent", "TerminalProgress"]

_LAZY = {"run": "kbench.runners", "Record": "kbench.runners", "EvalSpec": "kbench.specs",
         "LatencySpec": "kbench.specs", "ProfileSpec": "kbench.specs", "ConformanceSpec": "kbench.specs",
         "ExportSpec": "kbench.specs", "BenchmarkSpec": "kbench.specs", "ProgressEvent": "kbench.progress",
         "TerminalProgress": "kbench.progress"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kbench' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
