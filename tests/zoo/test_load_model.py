"""Loading weights into a zoo model from its card: local and downloaded checkpoints, random weights, bad files."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("paddle", reason="paddlepaddle is not installed: pip install 'kbench[paddle]'")

from kbench.cards import get_card  # noqa: E402
from kbench.errors import InputError  # noqa: E402
from kbench.weights.checkpoint import save_pdparams  # noqa: E402
from kbench.zoo.paddle.load import build_from_card, load_model  # noqa: E402


@pytest.fixture(scope="module")
def card():
    return get_card("tinypose_128x96")


@pytest.fixture()
def checkpoint(card, tmp_path):
    rng = np.random.default_rng(3)
    state = {k: rng.normal(0, 0.1, tuple(v.shape)).astype("float32")
             for k, v in build_from_card(card).state_dict().items()}
    return save_pdparams(state, tmp_path / "tinypose.pdparams"), state


def test_local_checkpoint_loads_every_key(card, checkpoint):
    path, state = checkpoint
    net, info = load_model(card, str(path))
    assert not info.random and len(info.sha256) == 64
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state[key])


def test_random_weights_are_seeded_and_labelled(card):
    a, info = load_model(card, "random", seed=5)
    b, _ = load_model(card, "random", seed=5)
    assert info.random and "random weights (seed 5)" == info.label()
    key = next(iter(a.state_dict()))
    np.testing.assert_array_equal(a.state_dict()[key].numpy(), b.state_dict()[key].numpy())


def test_missing_and_unexpected_keys_are_refused(card, checkpoint, tmp_path):
    _, state = checkpoint
    broken = dict(state)
    broken.pop(next(iter(broken)))
    broken["extra.weight"] = np.zeros(3, "float32")
    save_pdparams(broken, tmp_path / "broken.pdparams")
    with pytest.raises(InputError, match="1 missing .* 1 unexpected"):
        load_model(card, str(tmp_path / "broken.pdparams"))


def test_wrong_shape_is_refused(card, checkpoint, tmp_path):
    _, state = checkpoint
    key = next(k for k, v in state.items() if v.ndim == 4)
    bad = dict(state, **{key: np.zeros((1, 1, 1, 1), "float32")})
    save_pdparams(bad, tmp_path / "bad.pdparams")
    with pytest.raises(InputError, match="has shape"):
        load_model(card, str(tmp_path / "bad.pdparams"))


def test_url_weights_download_and_load(card, checkpoint, tmp_path, monkeypatch):
    path, _ = checkpoint
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "cache"))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(path.parent), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        _, info = load_model(card, url)
    finally:
        server.shutdown()
        server.server_close()
    assert info.source == url and len(info.sha256) == 64


def test_profile_records_the_weights(checkpoint, tmp_path):
    path, _ = checkpoint
    out = subprocess.run([sys.executable, "-m", "kbench", "profile", "--model", "tinypose_128x96", "--weights",
                          str(path), "--record", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    weights = json.loads((tmp_path / "r.json").read_text())["options"]["weights"]
    assert weights["random"] is False and len(weights["sha256"]) == 64
    out = subprocess.run([sys.executable, "-m", "kbench", "profile", "--model", "tinypose_128x96", "--weights",
                          str(tmp_path / "absent.pdparams"), "--no-record"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
