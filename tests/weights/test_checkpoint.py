"""Safe .pdparams loading: paddle-written files, numpy 1.x names, refused globals, broken files, atomic saves."""

from __future__ import annotations

import builtins
import importlib
import io
import json
import os
import pickle
import pickletools
import subprocess
import sys
import types
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from kbench.errors import InputError
from kbench.weights import load_pdparams, save_pdparams


def _state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "backbone.conv1.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "backbone.bn1._mean": np.zeros(4, np.float32),
        "head.fc.bias": rng.standard_normal(2).astype(np.float64),
        "half": np.arange(5, dtype=np.float16),
        "steps": np.array(7, dtype=np.int64),  # 0-d
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float32),
        "transposed": np.arange(6, dtype=np.int32).reshape(2, 3).T,  # not C-contiguous
        "fortran": np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3)),
    }


def _assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name, array in want.items():
        assert isinstance(got[name], np.ndarray), name
        assert got[name].dtype == array.dtype, name
        assert got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array, err_msg=name)


def _globals_of(data: bytes) -> set[str]:
    """module.name of every global a pickle references (GLOBAL and STACK_GLOBAL opcodes)."""
    found, pushed, memo = set(), [], {}
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            pushed.append(arg)
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = pushed[-1] if pushed else None
        elif op.name in ("GET", "BINGET", "LONG_BINGET"):  # protocol 4 names a repeated module by memo reference
            pushed.append(memo.get(int(arg)))
        elif op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            found.add(f"{pushed[-2]}.{pushed[-1]}")
        if op.name not in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "GET", "BINGET", "LONG_BINGET",
                           "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STACK_GLOBAL"):
            pushed.append(None)  # anything else on the stack breaks a (module, name) pair
    return found


# ---------------------------------------------------------------------------------------------- round trips


def test_save_then_load_round_trip(tmp_path):
    state = _state()
    path = save_pdparams(state, tmp_path / "sub" / "w.pdparams")
    assert path == tmp_path / "sub" / "w.pdparams"
    _assert_same(load_pdparams(path), state)
    assert sorted(os.listdir(path.parent)) == ["w.pdparams"]  # no temporary file left


def test_save_replaces_atomically_and_keeps_the_old_file_on_error(tmp_path):
    path = save_pdparams({"a": np.ones(3)}, tmp_path / "w.pdparams")
    before = path.read_bytes()
    with pytest.raises(InputError, match="'bad' is not a numeric array"):
        save_pdparams({"a": np.zeros(3), "bad": [object()]}, path)
    with pytest.raises(InputError, match="parameter name 3 is an int"):
        save_pdparams({3: np.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w.pdparams"]


def test_save_accepts_array_likes_and_writes_a_plain_pickle(tmp_path):
    path = save_pdparams(OrderedDict(w=[[1.0, 2.0]], b=3), tmp_path / "w.pdparams")
    got = load_pdparams(path)
    np.testing.assert_array_equal(got["w"], [[1.0, 2.0]])
    assert got["b"].shape == ()
    data = path.read_bytes()
    assert data[:2] == b"\x80\x04"
    assert _globals_of(data) <= {"numpy.ndarray", "numpy.dtype", "numpy._core.multiarray._reconstruct",
                                 "numpy.core.multiarray._reconstruct"}


def test_protocol5_frombuffer_pickles_load(tmp_path):
    state = _state()
    path = tmp_path / "p5.pdparams"
    path.write_bytes(pickle.dumps(state, protocol=5))
    assert any(g.endswith("numeric._frombuffer") for g in _globals_of(path.read_bytes()))
    _assert_same(load_pdparams(path), state)


def test_numpy_scalars_become_0d_arrays(tmp_path):
    path = tmp_path / "s.pdparams"
    path.write_bytes(pickle.dumps({"s": np.float32(2.5)}, protocol=2))
    got = load_pdparams(path)
    assert got["s"].shape == () and got["s"].dtype == np.float32 and got["s"] == 2.5


# ------------------------------------------------------------------------------------- files written by paddle


@pytest.fixture(scope="module")
def paddle():
    try:
        with warnings.catch_warnings():  # paddle warns about a missing ccache on import, which is not ours to fix
            warnings.simplefilter("ignore")
            return importlib.import_module("paddle")
    except Exception as exc:  # ImportError, or a broken install that fails while importing
        pytest.skip(f"paddle is not importable ({type(exc).__name__}: {exc}); pip install 'kbench[paddle]' to run "
                    f"the tests against files that paddle.save writes")


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_loads_what_paddle_save_writes(paddle, tmp_path, protocol):
    paddle.seed(0)
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4), paddle.nn.Linear(4, 2))
    path = tmp_path / "model.pdparams"
    paddle.save(net.state_dict(), str(path), protocol=protocol)
    assert b"StructuredToParameterName@@" in path.read_bytes()

    got = load_pdparams(path)
    want = {name: tensor.numpy() for name, tensor in net.state_dict().items()}
    _assert_same(got, want)
    ref = paddle.load(str(path), return_numpy=True)
    assert list(ref) == list(got)


@pytest.mark.parametrize("protocol", [2, 4])
def test_loads_paddle_nested_and_low_precision_tensors(paddle, tmp_path, protocol):
    path = tmp_path / "nested.pdparams"
    obj = {"x": np.arange(3, dtype=np.float16),
           "ema": {"w": paddle.to_tensor([[1.0, 2.0]]), "n": paddle.to_tensor([3], dtype="int64")},
           "bf16": paddle.to_tensor([1.5, -2.0], dtype="bfloat16"),
           "empty": paddle.to_tensor(np.zeros((0,), np.float32))}
    paddle.save(obj, str(path), protocol=protocol)
    got = load_pdparams(path)
    assert list(got) == ["x", "ema.w", "ema.n", "bf16", "empty"]
    np.testing.assert_array_equal(got["ema.w"], [[1.0, 2.0]])
    assert got["ema.n"].dtype == np.int64
    assert got["bf16"].dtype == obj["bf16"].numpy().dtype  # bfloat16 travels as its raw uint16 bits
    np.testing.assert_array_equal(got["bf16"], obj["bf16"].numpy())
    assert got["empty"].shape == (0,)


def test_paddle_reads_what_save_pdparams_writes(paddle, tmp_path):
    paddle.seed(1)
    net = paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.BatchNorm2D(4))
    rng = np.random.default_rng(1)
    state = {name: rng.standard_normal(t.shape).astype(t.numpy().dtype) for name, t in net.state_dict().items()}
    path = save_pdparams(state, tmp_path / "random.pdparams")
    net.set_state_dict(paddle.load(str(path)))
    _assert_same({name: t.numpy() for name, t in net.state_dict().items()}, state)


# -------------------------------------------------------------------------- numpy 1.x module names and slices


def _numpy1_pickle(obj, protocol: int, monkeypatch) -> bytes:
    """Pickle ``obj`` the way numpy 1.x does: arrays through numpy.core.multiarray / numpy.core.numeric.

    numpy 2 writes numpy._core; a stand-in function registered under the old module name makes the pickler
    write the old name, exactly as a checkpoint written under numpy 1.x carries it.
    """
    fakes = {}
    for module, name in (("numpy.core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer")):
        def stand_in(*args):  # pragma: no cover - only its name is pickled
            raise AssertionError("never called")

        stand_in.__module__, stand_in.__qualname__, stand_in.__name__ = module, name, name
        fake = types.ModuleType(module)
        setattr(fake, name, stand_in)
        monkeypatch.setitem(sys.modules, module, fake)
        fakes[name] = stand_in

    class Numpy1Pickler(pickle.Pickler):
        def reducer_override(self, value):
            if type(value) is not np.ndarray:
                return NotImplemented
            func, args, *rest = value.__reduce_ex__(protocol)
            return (fakes[func.__name__], args, *rest)

    buf = io.BytesIO()
    Numpy1Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy1_module_names_load(tmp_path, monkeypatch, protocol):
    state = _state()
    data = _numpy1_pickle(state, protocol, monkeypatch)
    monkeypatch.undo()  # the loader must not depend on the stand-ins
    names = _globals_of(data)
    assert any(g.startswith("numpy.core.") for g in names) and not any(g.startswith("numpy._core.") for g in names)
    path = tmp_path / "np1.pdparams"
    path.write_bytes(data)
    _assert_same(load_pdparams(path), state)


def test_name_table_is_dropped_and_big_params_are_joined(tmp_path):
    # paddle.save under protocol 2/3 splits arrays over 1 GiB into 1-D slices; crafted small here
    big = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    flat = big.ravel()
    obj = {"small": np.ones(2, np.float32), "big@@.0": flat[:10], "big@@.1": flat[10:],
           "UnpackBigParamInfor@@": {"big": {"OriginShape": (2, 3, 4), "slices": ["big@@.0", "big@@.1"]}},
           "StructuredToParameterName@@": {"small": "linear_0.w_0", "big": "linear_0.w_1"}}
    path = tmp_path / "big.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    got = load_pdparams(path)
    assert sorted(got) == ["big", "small"]
    np.testing.assert_array_equal(got["big"], big)


def test_malformed_big_param_table(tmp_path):
    path = tmp_path / "big.pdparams"
    path.write_bytes(pickle.dumps({"UnpackBigParamInfor@@": {"w": {"OriginShape": (2, 2), "slices": ["gone"]}}},
                                  protocol=2))
    with pytest.raises(InputError, match="malformed UnpackBigParamInfor@@ entry for 'w'"):
        load_pdparams(path)


# ------------------------------------------------------------------------------------------ refused globals


class _Reduce:
    """An object that pickles as a call of ``func(*args)``, as a malicious checkpoint would."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _refusal(path: Path, func) -> str:
    return (f"{path}: refusing to load: the checkpoint references {func.__module__}.{func.__qualname__}, which is "
            f"not a numpy array or a plain container")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_os_system_payload_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = {"w": np.ones(2, np.float32), "x": _Reduce(os.system, f"touch {marker}")}
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    with pytest.raises(InputError) as info:
        load_pdparams(path)
    assert str(info.value) == _refusal(path, os.system)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_protocol0_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pdparams"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(InputError, match="not a pickle of protocol 2 or later"):
        load_pdparams(path)
    assert not marker.exists()


@pytest.mark.parametrize("func, args", [
    (builtins.eval, ("__import__('os').system('touch {marker}')",)),
    (builtins.exec, ("open('{marker}', 'w').close()",)),
    (builtins.getattr, ("{marker}", "upper")),
    (builtins.__import__, ("os",)),
    (subprocess.check_call, (["touch", "{marker}"],)),
    (subprocess.Popen, (["touch", "{marker}"],)),
    (importlib.import_module, ("os",)),
    (np.load, ("{marker}",)),
    (np.fromfile, ("{marker}",)),
    (zipfile.ZipFile, ("{marker}", "w")),
], ids=lambda v: getattr(v, "__qualname__", None))
def test_dangerous_globals_are_refused(tmp_path, func, args):
    marker = tmp_path / "pwned"
    args = tuple(a.format(marker=marker) if isinstance(a, str) else
                 [x.format(marker=marker) for x in a] if isinstance(a, list) else a for a in args)
    path = tmp_path / "evil.pdparams"
    path.write_bytes(pickle.dumps({"w": _Reduce(func, *args)}, protocol=4))
    with pytest.raises(InputError, match="refusing to load: the checkpoint references ") as info:
        load_pdparams(path)
    assert str(info.value) == _refusal(path, func)
    assert not marker.exists()


def test_allow_list_is_by_name_not_by_module(tmp_path):
    # numpy._core.multiarray is allowed for _reconstruct and scalar only
    path = tmp_path / "evil.pdparams"
    path.write_bytes(b"\x80\x02cnumpy._core.multiarray\nfromfile\nq\x00.")
    with pytest.raises(InputError, match=r"references numpy\._core\.multiarray\.fromfile, which is not"):
        load_pdparams(path)


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    path = tmp_path / "evil.pdparams"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(InputError, match="corrupt checkpoint"):
        load_pdparams(path)


def test_persistent_ids_are_refused(tmp_path):
    class TorchLike(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", "0") if isinstance(obj, np.ndarray) else None

    buf = io.BytesIO()
    TorchLike(buf, protocol=2).dump({"w": np.ones(2)})
    path = tmp_path / "torch.pdparams"
    path.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="pickle persistent ids"):
        load_pdparams(path)


# -------------------------------------------------------------------------------------------- broken files


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pdparams"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.pdparams: file is empty"):
        load_pdparams(path)


@pytest.mark.parametrize("keep", [lambda n: 2, lambda n: n * 3 // 10, lambda n: n * 9 // 10, lambda n: n - 1],
                         ids=["header-only", "30%", "90%", "all-but-STOP"])
def test_truncated_file(tmp_path, keep):
    data = save_pdparams(_state(), tmp_path / "full.pdparams").read_bytes()
    path = tmp_path / "cut.pdparams"
    path.write_bytes(data[:keep(len(data))])
    with pytest.raises(InputError, match=r"cut\.pdparams: truncated checkpoint") as info:
        load_pdparams(path)
    assert "\n" not in str(info.value)


def test_json_renamed_pdparams(tmp_path):
    path = tmp_path / "weights.pdparams"
    path.write_text(json.dumps({"conv.weight": [[1.0, 2.0]]}))
    with pytest.raises(InputError, match=r"weights\.pdparams: not a \.pdparams checkpoint .*looks like JSON"):
        load_pdparams(path)


@pytest.mark.parametrize("content, hint", [
    (b"PK\x03\x04rest of a zip", "zip archive"),
    (b"\x1f\x8b\x08\x00gzip", "gzip"),
    (b"  <!DOCTYPE html><html>403</html>", "HTML"),
    (b"\x00\x00\x00\x00\x01\x02", "starts with bytes 00 00 00 00 01 02"),
])
def test_other_file_kinds_are_named(tmp_path, content, hint):
    path = tmp_path / "x.pdparams"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a .pdparams checkpoint") as info:
        load_pdparams(path)
    assert hint in str(info.value)


def test_garbage_after_the_header_is_corrupt(tmp_path):
    path = tmp_path / "x.pdparams"
    path.write_bytes(b"\x80\x04\xff\xfe\xfd")
    with pytest.raises(InputError, match="corrupt checkpoint"):
        load_pdparams(path)


def test_bad_array_state_is_corrupt(tmp_path):
    # an array whose data is shorter than its shape says: numpy refuses it, and so does the loader
    good = pickle.dumps({"w": np.arange(4, dtype=np.float32)}, protocol=2)
    bad = good.replace(b"K\x04\x85", b"K\x05\x85")  # shape (4,) -> (5,)
    assert bad != good
    path = tmp_path / "x.pdparams"
    path.write_bytes(bad)
    with pytest.raises(InputError, match="corrupt checkpoint"):
        load_pdparams(path)


@pytest.mark.parametrize("obj, message", [
    ([np.ones(2)], "holds a list, expected a dict of parameter name -> array"),
    (np.ones(2), "holds an ndarray, expected a dict"),
    ({"w": np.ones(2), "epoch": 3}, "entry 'epoch' is an int, not an array"),
    ({"w": "text"}, "entry 'w' is a str, not an array"),
    ({"w": [np.ones(2)]}, "entry 'w' is a list, not an array"),
    ({"LR_Scheduler": {"last_epoch": 3}}, "entry 'LR_Scheduler.last_epoch' is an int"),
    ({"w": np.array([1, None], dtype=object)}, "entry 'w' is an array of Python objects"),
    ({1: np.ones(2)}, "key 1 at the top level is an int, expected a parameter name"),
    ({"a": {2: np.ones(2)}}, "key 2 under 'a' is an int"),
    ({"a.b": np.ones(2), "a": {"b": np.ones(2)}}, "parameter 'a.b' appears twice"),
])
def test_wrong_content_types(tmp_path, obj, message):
    path = tmp_path / "x.pdparams"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(InputError) as info:
        load_pdparams(path)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_pdparams(tmp_path / "nope.pdparams")
    with pytest.raises(InputError, match="is a directory"):
        load_pdparams(tmp_path)


def test_empty_state_dict_loads(tmp_path):
    path = tmp_path / "empty_dict.pdparams"
    path.write_bytes(pickle.dumps({}, protocol=2))
    assert load_pdparams(path) == {}


def test_does_not_import_paddle():
    code = ("import sys, kbench.weights, kbench.weights.checkpoint, kbench.weights.download; "
            "bad = [m for m in ('paddle', 'torch') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
