"""Read and write PaddleDetection ``.pdparams`` checkpoints without paddle and without running their code.

A ``.pdparams`` file is a pickle written by ``paddle.save``: a dict of parameter name -> numpy array (paddle
turns tensors into arrays before pickling), plus a ``StructuredToParameterName@@`` name table. paddle 3.x
writes pickle protocol 4 by default and accepts 2 and 3; the released PaddleDetection weights are mostly
protocol 2, written by numpy 1.x, so their globals say ``numpy.core.multiarray`` where numpy 2 writes
``numpy._core.multiarray``.

``pickle.load`` on a downloaded file runs whatever callables the file names. The loader here resolves only
the handful of globals that numpy arrays and plain containers need, and refuses any other one before it is
called, so a crafted file cannot run code.
"""

from __future__ import annotations

import codecs
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kbench._fileio import check_readable
from kbench.errors import InputError

__all__ = ["check_state_fits", "check_num_joints", "load_pdparams", "save_pdparams", "PICKLE_PROTOCOL"]

#: Protocol of the files :func:`save_pdparams` writes: what ``paddle.save`` writes by default since paddle 2.1,
#: and the lowest one that can hold an array over 4 GiB without paddle's slicing scheme.
PICKLE_PROTOCOL = 4

# Keys that paddle.save adds next to the parameters; they are bookkeeping, not weights.
_NAME_TABLE = "StructuredToParameterName@@"
_BIG_PARAMS = "UnpackBigParamInfor@@"  # protocol 2/3 files split arrays over 1 GiB into slices listed here


def _numpy_globals() -> dict[tuple[str, str], Any]:
    # numpy moved its internals from numpy.core to numpy._core in 2.0 and a file may carry either name. Taking
    # the functions from what numpy's own reductions return works under both majors and, unlike importing
    # numpy.core, raises no deprecation warning under numpy 2.
    reconstruct = np.empty(0).__reduce__()[0]
    scalar = np.float32(0).__reduce__()[0]
    frombuffer = np.empty(1).__reduce_ex__(5)[0]  # protocol 5 pickles contiguous arrays through _frombuffer
    table: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Protocol 2 stores bytes as codecs.encode(str, "latin1"); any other codec name has no business in a checkpoint.
    if not isinstance(encoding, str) or encoding.lower() not in ("latin1", "latin-1", "latin_1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _sized_not_by_count(cls: type) -> Any:
    # bytes(n) and bytearray(n) allocate n zero bytes: a few bytes of pickle could ask for terabytes.
    def build(*args: Any) -> Any:
        if args and isinstance(args[0], int):
            raise pickle.UnpicklingError(f"{cls.__name__}() of a size")
        return cls(*args)

    return build


def _container_globals() -> dict[tuple[str, str], Any]:
    safe = {"tuple": tuple, "list": list, "dict": dict, "set": set, "frozenset": frozenset,
            "bytes": _sized_not_by_count(bytes), "bytearray": _sized_not_by_count(bytearray)}
    table: dict[tuple[str, str], Any] = {("collections", "OrderedDict"): OrderedDict,
                                         ("_codecs", "encode"): _latin1_encode}
    for module in ("builtins", "__builtin__"):  # protocol 2 keeps Python 2's module name for builtins
        for name, obj in safe.items():
            table[(module, name)] = obj
    return table


_ALLOWED: dict[tuple[str, str], Any] = {**_numpy_globals(), **_container_globals()}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals; every callable a pickle can call comes from here."""

    def __init__(self, fh: Any, path: Path):
        # latin1 is what paddle.load uses: it turns Python 2 byte strings back into the bytes numpy expects.
        super().__init__(fh, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise InputError(f"{self._path}: refusing to load: the checkpoint references {module}.{name}, which is "
                             f"not a numpy array or a plain container") from None

    def persistent_load(self, pid: Any) -> Any:
        raise InputError(f"{self._path}: refusing to load: the checkpoint uses pickle persistent ids (a PyTorch "
                         f"checkpoint?), which a .pdparams file never does")


def _sniff(head: bytes) -> str | None:
    """Why ``head`` (the first bytes of a file) cannot start a .pdparams pickle, or None if it can."""
    if not head:
        return "file is empty, expected a .pdparams checkpoint"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
        return None
    # paddle.save writes protocols 2-4 only; anything else is some other file, and naming it helps more than
    # a pickle opcode error would.
    stripped = head.lstrip()
    if head.startswith(b"PK\x03\x04"):
        hint = "it is a zip archive (a PyTorch .pt/.pth checkpoint, or a .zip to extract?)"
    elif head.startswith(b"\x1f\x8b"):
        hint = "it is gzip-compressed (a .tar.gz to extract?)"
    elif stripped[:1] in (b"{", b"["):
        hint = "it looks like JSON"
    elif stripped[:1] == b"<":
        hint = "it looks like HTML or XML (an error page saved by a failed download?)"
    elif head.startswith(b"\x89HDF"):
        hint = "it is an HDF5 file"
    elif len(head) >= 10 and head[8:10] == b'{"':
        hint = "it looks like a safetensors file"
    else:
        hint = f"it starts with bytes {head[:8].hex(' ')}"
    return f"not a .pdparams checkpoint (not a pickle of protocol 2 or later: {hint})"


def _article(value: Any) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" or name == "ndarray" else f"a {name}"


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    # paddle.save of a nested (non state-dict) object stores each tensor as the tuple (tensor name, array)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], np.ndarray):
        return value[1]
    return None


def _join_big_params(state: dict, info: Any, path: Path) -> None:
    """Join back the arrays that paddle.save split into 1-D slices under protocol 2 and 3 (its _pack_loaded_dict)."""
    if not isinstance(info, dict):
        raise InputError(f"{path}: malformed {_BIG_PARAMS} entry: {_article(info)}, expected a dict")
    for key, meta in info.items():
        try:
            shape = tuple(int(n) for n in meta["OriginShape"])
            parts = [state.pop(name) for name in meta["slices"]]
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: malformed {_BIG_PARAMS} entry for {key!r}: expected OriginShape and slices "
                             f"that name arrays of the file") from None
        if not parts or not all(isinstance(p, np.ndarray) and p.ndim == 1 for p in parts):
            raise InputError(f"{path}: the slices of {key!r} listed in {_BIG_PARAMS} are not 1-D arrays")
        flat = np.concatenate(parts)
        if flat.size != int(np.prod(shape, dtype=np.int64)):
            raise InputError(f"{path}: the slices of {key!r} hold {flat.size} values, its shape {shape} needs "
                             f"{int(np.prod(shape, dtype=np.int64))}")
        state[key] = flat.reshape(shape)


def _to_state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise InputError(f"{path}: the checkpoint holds {_article(obj)}, expected a dict of parameter name -> array "
                         f"(what paddle.save writes for a state dict)")
    top = dict(obj)
    top.pop(_NAME_TABLE, None)
    if _BIG_PARAMS in top:
        _join_big_params(top, top.pop(_BIG_PARAMS), path)

    out: dict[str, np.ndarray] = {}

    def walk(mapping: dict, prefix: str) -> None:
        for key, value in mapping.items():
            if not isinstance(key, str):
                where = f"under {prefix[:-1]!r}" if prefix else "at the top level"
                raise InputError(f"{path}: key {key!r} {where} is {_article(key)}, expected a parameter name")
            name = prefix + key
            if isinstance(value, dict):  # a nested dict saved by paddle.save: its names join with dots
                walk(value, name + ".")
                continue
            array = _as_array(value)
            if array is None:
                raise InputError(f"{path}: entry {name!r} is {_article(value)}, not an array: this is not a parameter "
                                 f"checkpoint (an optimizer .pdopt file?)")
            if array.dtype.hasobject:
                raise InputError(f"{path}: entry {name!r} is an array of Python objects, not of numbers")
            if name in out:
                raise InputError(f"{path}: parameter {name!r} appears twice (once as a nested dict)")
            out[name] = array

    walk(top, "")
    return out


def load_pdparams(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a ``.pdparams`` checkpoint as a dict of parameter name -> numpy array, without importing paddle.

    Only numpy arrays and plain containers are rebuilt: a pickle that references any other global (a
    function to call, a class to instantiate) is refused before anything in it runs. paddle's bookkeeping
    (the ``StructuredToParameterName@@`` name table) is dropped, arrays that paddle split into slices are
    joined back, and nested dicts are flattened with dotted names.

    Args:
        path: The ``.pdparams`` file, as written by ``paddle.save`` (pickle protocol 2 to 4, numpy 1.x or
            2.x) or by :func:`save_pdparams`.

    Returns:
        The state dict, in the order of the file.

    Raises:
        InputError: The file is missing, empty, truncated, not a pickle, references a global outside the
            allow-list, or does not hold a dict of arrays. The message is one line naming the file.
    """
    p = check_readable(path)
    with open(p, "rb") as fh:
        problem = _sniff(fh.read(16))
        if problem is not None:
            raise InputError(f"{p}: {problem}")
        fh.seek(0)
        try:
            obj = _SafeUnpickler(fh, p).load()
        except InputError:
            raise
        except EOFError:
            raise InputError(f"{p}: truncated checkpoint: the file ends inside the pickle (an interrupted download "
                             f"or copy?)") from None
        except pickle.UnpicklingError as exc:
            if "truncated" in str(exc):
                raise InputError(f"{p}: truncated checkpoint: the file ends inside the pickle (an interrupted "
                                 f"download or copy?)") from None
            raise InputError(f"{p}: corrupt checkpoint ({str(exc).splitlines()[0]})") from None
        except Exception as exc:  # anything numpy or the containers raise on bad arguments: the file is corrupt
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise InputError(f"{p}: corrupt checkpoint ({type(exc).__name__}{': ' + detail if detail else ''})") \
                from None
    return _to_state_dict(obj, p)


def save_pdparams(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a state dict as a ``.pdparams`` pickle that ``paddle.load`` and :func:`load_pdparams` both read.

    The file is a plain pickle (protocol :data:`PICKLE_PROTOCOL`) of a dict of numpy arrays, written through a
    temporary file and a rename so that a reader never sees half a checkpoint. Used by the tests and to
    write random-weight checkpoints.

    Args:
        state: Parameter name -> array (anything ``numpy.asarray`` turns into a numeric array).
        path: Where to write; parent folders are created.

    Returns:
        The path written.

    Raises:
        InputError: A name is not a string or a value is not a numeric array.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(name, str):
            raise InputError(f"save_pdparams: parameter name {name!r} is {_article(name)}, expected a str")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise InputError(f"save_pdparams: parameter {name!r} is not a numeric array")
        arrays[name] = array
    from kbench._fileio import atomic_open

    with atomic_open(path, "wb") as fh:
        pickle.dump(arrays, fh, protocol=PICKLE_PROTOCOL)
    return Path(path)


def check_num_joints(state: Mapping[str, Any], num_joints: int, source: str) -> None:
    """Refuse a top-down checkpoint trained for another joint count, naming both counts (``num_joints``).

    The heatmap head (``final_conv``, PaddleDetection's ``TopDownHRNet``) has one output channel per joint.
    """
    head = state.get("final_conv.weight")
    if head is not None and np.ndim(head) == 4 and np.shape(head)[0] != num_joints:
        raise InputError(f"{source}: the checkpoint predicts {np.shape(head)[0]} joints (final_conv), the card's "
                         f"num_joints is {num_joints}")


def check_state_fits(model_shapes: dict, state: dict, source: str) -> None:
    """Refuse a checkpoint whose names or shapes differ from a model's, in one line naming the first difference.

    Args:
        model_shapes: parameter name (PaddleDetection's naming) -> shape, for the model.
        state: name -> array, as :func:`load_pdparams` returns.
        source: the checkpoint's path or URL, for the message.
    """
    missing = sorted(set(model_shapes) - set(state))
    unexpected = sorted(set(state) - set(model_shapes))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise InputError(f"{source}: checkpoint does not fit this model: {'; '.join(parts)} keys")
    for key, shape in model_shapes.items():
        if tuple(shape) != tuple(np.shape(state[key])):
            raise InputError(f"{source}: checkpoint key {key} has shape {tuple(np.shape(state[key]))}, the model "
                             f"{tuple(shape)}")
