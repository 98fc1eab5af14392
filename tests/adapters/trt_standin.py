"""A stand-in ``tensorrt`` module whose API is a recorded TensorRT release's, for the build tests without a GPU.

``tests/fixtures/tensorrt_api/<version>.json`` holds every class, enum member, module-level name and method
signature of a real release's Python bindings (``scripts/record_tensorrt_api.py`` imports the real wheel). The
stand-in models the builder calls kbench makes (logger, builder, network, ONNX parser, builder config,
optimisation profile) and guards every attribute against that record:

* a name the release does not have raises AttributeError, as the real module would (``BuilderFlag.FP16`` or
  ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` on TensorRT 11);
* a modelled method called with more positional arguments than the release's signature takes, or fewer than it
  requires, raises TypeError;
* a name the release has but the stand-in does not model raises NotImplementedError (model it here, then).

So kbench cannot call an API a supported release lacks without a test failing, which a hand-written stand-in
defining exactly the methods kbench calls cannot notice.
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tensorrt_api"


def recorded_versions() -> list[str]:
    """The releases with a recorded API, oldest first."""
    def key(v):
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    return sorted((p.stem for p in FIXTURES.glob("*.json")), key=key)


def load_api(version: str) -> dict:
    return json.loads((FIXTURES / f"{version}.json").read_text())


def _arity(signature: str) -> tuple[int, int]:
    """(required, total) positional parameters after ``self`` in a pybind11 signature line."""
    m = re.match(r"[\w.]+\((.*)\)\s*->", signature)
    if not m:
        return 0, 99
    params, depth, cur = [], 0, ""
    for ch in m.group(1):  # split on top-level commas (types may hold brackets)
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            params.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        params.append(cur.strip())
    params = [p for p in params if not p.startswith("self")]
    if any(p.startswith("*") for p in params):
        return 0, 99
    return sum("=" not in p for p in params), len(params)


class _Member(int):
    """An enum member: an int (``1 << int(flag)`` works) with a name."""

    def __new__(cls, enum: str, name: str, value: int):
        obj = super().__new__(cls, value)
        obj.label = f"{enum}.{name}"
        return obj

    def __repr__(self):
        return f"<{self.label}: {int(self)}>"


def _enum(version: str, name: str, members: list[str]):
    ns = {m: _Member(name, m, i) for i, m in enumerate(members)}

    class Enum:
        def __getattr__(self, attr):
            raise AttributeError(f"TensorRT {version} has no {name}.{attr}")

    e = Enum()
    e.__dict__.update(ns)
    return e


def make_standin(version: str, parse_ok: bool = True, build_ok: bool = True, input_name: str = "image"):
    """(module, log): a stand-in ``tensorrt`` of that release and the record of the calls made to it."""
    api = load_api(version)
    classes, sigs = api["classes"], api["signatures"]
    log = {"flags": [], "cleared": [], "profiles": 0}

    def guarded(cls_name: str, impl: type) -> type:
        allowed = set(classes[cls_name])

        def getattribute(self, attr):
            if not attr.startswith("_") and attr not in allowed:
                raise AttributeError(f"TensorRT {version} has no {cls_name}.{attr}")
            try:
                value = object.__getattribute__(self, attr)
            except AttributeError:
                if attr.startswith("_"):
                    raise
                raise NotImplementedError(f"the stand-in does not model {cls_name}.{attr}") from None
            if callable(value) and f"{cls_name}.{attr}" in sigs:
                lo, hi = _arity(sigs[f"{cls_name}.{attr}"])

                def checked(*args, **kwargs):
                    if not lo <= len(args) + len(kwargs) <= hi:
                        raise TypeError(f"TensorRT {version}: {sigs[f'{cls_name}.{attr}']} called with "
                                        f"{len(args) + len(kwargs)} argument(s)")
                    return value(*args, **kwargs)

                return checked
            return value

        impl.__getattribute__ = getattribute
        impl.__name__ = cls_name
        return impl

    class Logger:
        def __init__(self, level=None):
            self.level = level

    for sev in ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"):
        setattr(Logger, sev, sev)

    class Tensor:
        def __init__(self, name):
            self.name = name

    class Network:
        def __init__(self, flags):
            self.flags = flags

        @property
        def num_inputs(self):
            return 1

        def get_input(self, index):
            return guarded("ITensor", type("ITensor", (Tensor,), {}))(input_name)

    class OnnxParser:
        def __init__(self, network, logger):
            self._errors = 0 if parse_ok else 1

        @property
        def num_errors(self):
            return self._errors

        def parse_from_file(self, model):
            log["parsed"] = model
            return parse_ok

        def get_error(self, index):
            return "In node 12 (importResize): UNSUPPORTED_NODE: Assertion failed"

    class Profile:
        def set_shape(self, input, min, opt, max):  # noqa: A002 - TensorRT's own parameter names
            log["profile"] = (input, tuple(min), tuple(opt), tuple(max))

    class Config:
        def set_memory_pool_limit(self, pool, pool_size):
            log["workspace"] = (pool, pool_size)

        def set_flag(self, flag):
            log["flags"].append(flag.label)

        def clear_flag(self, flag):
            log["cleared"].append(flag.label)

        def add_optimization_profile(self, profile):
            log["profiles"] += 1
            return 0

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            log["network_flags"] = int(flags)
            return guarded("INetworkDefinition", Network)(flags)

        def create_builder_config(self):
            return guarded("IBuilderConfig", Config)()

        def create_optimization_profile(self):
            return guarded("IOptimizationProfile", Profile)()

        def build_serialized_network(self, network, config):
            return b"engine-bytes" if build_ok else None

    mod = types.ModuleType("tensorrt")
    mod.__version__ = api["version"]
    modelled = {"Logger": guarded("Logger", Logger), "Builder": guarded("Builder", Builder),
                "OnnxParser": guarded("OnnxParser", OnnxParser)}
    for name, members in api["enums"].items():
        modelled[name] = _enum(version, name, members)
    for name in api["module"]:
        if name in modelled:
            setattr(mod, name, modelled[name])

    def missing(attr):
        if attr in api["module"]:
            raise NotImplementedError(f"the stand-in does not model tensorrt.{attr}")
        raise AttributeError(f"TensorRT {version} has no tensorrt.{attr}")

    mod.__getattr__ = missing
    return mod, log
