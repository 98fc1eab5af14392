"""Weights download cache against a real HTTP server on 127.0.0.1: ranges, resumes, hashes, failures."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from local_server import LocalServer

from kbench.errors import InputError
from kbench.weights import download
from kbench.weights.download import cache_path, default_cache_dir, fetch, resolve_weights

PAYLOAD = os.urandom(200 * 1024)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
NAME = "hrnet_w32_256x192.pdparams"
TIMEOUT = 5.0


class _Server(LocalServer):
    def __init__(self):
        super().__init__({f"/weights/{NAME}": PAYLOAD})

    def url(self, path: str = f"/weights/{NAME}") -> str:
        return super().url(path)


@pytest.fixture
def server():
    srv = _Server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def _fetch(url, cache, **kw):
    return fetch(url, cache_dir=cache, progress=False, timeout=TIMEOUT, **kw)


def _files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


# ------------------------------------------------------------------------------------------------- names


def test_cache_path_keeps_the_basename_and_separates_urls(tmp_path):
    a = cache_path("https://example.com/a/model_final.pdparams", tmp_path)
    b = cache_path("https://example.com/b/model_final.pdparams", tmp_path)
    assert a.parent == tmp_path and a != b
    assert re.fullmatch(r"model_final-[0-9a-f]{10}\.pdparams", a.name)
    assert re.fullmatch(r"x-[0-9a-f]{10}\.tar\.gz", cache_path("http://h/x.tar.gz?sig=1", tmp_path).name)
    assert re.fullmatch(r"dark_hrnet\.v2-[0-9a-f]{10}\.pdparams", cache_path("http://h/dark_hrnet.v2.pdparams").name)
    assert re.fullmatch(r"we_ird_\.\.name-[0-9a-f]{10}\.pdparams",
                        cache_path("http://h/we%20ird%2F..name.pdparams", tmp_path).name)
    assert cache_path("http://h/", tmp_path).name.startswith("download-")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "kc"))
    assert default_cache_dir() == tmp_path / "kc"
    assert cache_path("http://h/w.pdparams").parent == tmp_path / "kc"
    monkeypatch.delenv("KBENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "kbench" / "weights"


# ---------------------------------------------------------------------------------------------- downloads


def test_full_download_verifies_and_records_the_hash(server, cache):
    path = _fetch(server.url(), cache, sha256=SHA)
    assert path == cache_path(server.url(), cache)
    assert path.read_bytes() == PAYLOAD
    assert _files(cache) == sorted([path.name, path.name + ".sha256"])  # no .part left behind
    assert (cache / (path.name + ".sha256")).read_text() == f"{SHA}  {path.name}\n"
    assert [r["range"] for r in server.requests] == [None]


def test_progress_bar_path_runs(server, cache):
    path = fetch(server.url(), cache_dir=cache, progress=True, timeout=TIMEOUT)
    assert path.read_bytes() == PAYLOAD


def test_cache_hit_needs_no_network(server, cache):
    first = _fetch(server.url(), cache)
    url = server.url()
    server.stop()
    n = len(server.requests)
    assert _fetch(url, cache) == first
    assert _fetch(url, cache, sha256=SHA.upper()) == first
    assert _fetch(url, cache, sha256="sha256:" + SHA) == first
    assert len(server.requests) == n == 1


def test_resume_after_a_dropped_connection(server, cache):
    server.drop_after = 80 * 1024
    with pytest.raises(InputError) as info:
        _fetch(server.url(), cache, sha256=SHA)
    msg = str(info.value)
    assert msg.startswith(f"cannot download {server.url()}: the connection closed early after 80.0 KiB of 200.0 KiB")
    assert "is kept: run again to resume" in msg and "\n" not in msg
    part = cache_path(server.url(), cache).with_name(cache_path(server.url(), cache).name + ".part")
    assert part.read_bytes() == PAYLOAD[:80 * 1024]

    path = _fetch(server.url(), cache, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert not part.exists()
    resume = server.requests[-1]
    assert resume["range"] == f"bytes={80 * 1024}-"
    assert resume["sent"] == len(PAYLOAD) - 80 * 1024  # only the remainder came over the wire


def test_server_that_ignores_range_restarts_from_zero(server, cache):
    target = cache_path(server.url(), cache)
    cache.mkdir()
    target.with_name(target.name + ".part").write_bytes(b"stale bytes that must not survive")
    server.ignore_range = True
    path = _fetch(server.url(), cache, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == "bytes=33-" and server.requests[-1]["sent"] == len(PAYLOAD)


def test_416_with_a_complete_part_finishes_without_a_body(server, cache):
    target = cache_path(server.url(), cache)
    cache.mkdir()
    target.with_name(target.name + ".part").write_bytes(PAYLOAD)  # e.g. killed between the last byte and the rename
    path = _fetch(server.url(), cache)
    assert path.read_bytes() == PAYLOAD
    assert [(r["range"], r["sent"]) for r in server.requests] == [(f"bytes={len(PAYLOAD)}-", 0)]
    assert (cache / (target.name + ".sha256")).read_text().split()[0] == SHA


def test_416_with_an_oversized_part_restarts(server, cache):
    target = cache_path(server.url(), cache)
    cache.mkdir()
    target.with_name(target.name + ".part").write_bytes(PAYLOAD + b"junk")
    path = _fetch(server.url(), cache, sha256=SHA)
    assert path.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [f"bytes={len(PAYLOAD) + 4}-", None]


def test_checksum_mismatch_deletes_the_download(server, cache):
    wrong = "0" * 64
    with pytest.raises(InputError) as info:
        _fetch(server.url(), cache, sha256=wrong)
    msg = str(info.value)
    assert server.url() in msg and f"expected {wrong}" in msg and f"got {SHA}" in msg and "\n" not in msg
    assert _files(cache) == []


def test_a_wrong_pinned_hash_keeps_the_good_cached_copy(server, cache):
    path = _fetch(server.url(), cache)
    with pytest.raises(InputError, match="sha256 mismatch"):
        _fetch(server.url(), cache, sha256="f" * 64)
    assert path.read_bytes() == PAYLOAD
    url = server.url()
    server.stop()
    assert _fetch(url, cache) == path  # still verified against its sidecar, offline


def test_invalid_sha256_argument(cache):
    with pytest.raises(InputError, match="is not a sha256 digest"):
        _fetch("http://127.0.0.1:9/w.pdparams", cache, sha256="abc")


def test_http_404(server, cache):
    url = server.url("/weights/missing.pdparams")
    with pytest.raises(InputError) as info:
        _fetch(url, cache)
    assert str(info.value) == (f"cannot download {url}: HTTP 404 Not Found (offline? put the file at "
                               f"{cache_path(url, cache)} or pass a local path)")
    assert _files(cache) == []  # no empty .part left


def test_connection_refused(cache):
    url = f"http://127.0.0.1:{_closed_port()}/weights/{NAME}"
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        _fetch(url, cache)
    assert time.monotonic() - start < TIMEOUT
    assert str(info.value) == (f"cannot download {url}: connection refused (offline? put the file at "
                               f"{cache_path(url, cache)} or pass a local path)")
    assert _files(cache) == []


def test_unresolvable_host_is_one_line(monkeypatch, cache):
    # no DNS traffic: getaddrinfo fails the way it does offline
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    url = "https://weights.invalid/w.pdparams"
    with pytest.raises(InputError) as info:
        _fetch(url, cache)
    assert str(info.value).startswith(f"cannot download {url}: cannot resolve weights.invalid (Name or service")
    assert "(offline? put the file at" in str(info.value)


def test_not_http(cache):
    with pytest.raises(InputError, match="not an http"):
        _fetch("ftp://127.0.0.1/w.pdparams", cache)


# -------------------------------------------------------------------------------------- sidecar and tampering


def test_sidecar_detects_a_corrupted_cached_file_and_downloads_again(server, cache, capsys):
    path = _fetch(server.url(), cache)  # no sha256 given: the first download is trusted and recorded
    assert (cache / (path.name + ".sha256")).read_text().split()[0] == SHA
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))

    again = _fetch(server.url(), cache)
    assert again == path and path.read_bytes() == PAYLOAD
    assert "does not match the sha256 recorded in" in capsys.readouterr().err
    assert len(server.requests) == 2


def test_sidecar_corruption_offline_is_an_input_error(server, cache):
    path = _fetch(server.url(), cache)
    path.write_bytes(b"tampered")
    url = server.url()
    server.stop()
    with pytest.raises(InputError, match=f"cannot download {re.escape(url)}: connection refused"):
        _fetch(url, cache)


def test_sidecar_catches_a_file_changed_on_the_server(server, cache):
    path = _fetch(server.url(), cache)
    path.unlink()  # the cached copy is gone, its recorded hash is not
    server.files[f"/weights/{NAME}"] = b"new upstream content"
    with pytest.raises(InputError) as info:
        _fetch(server.url(), cache)
    msg = str(info.value)
    assert "sha256 mismatch" in msg and f"expected {SHA}" in msg and "file changed on the server" in msg
    assert not path.exists()


def test_a_file_put_in_the_cache_by_hand_is_used_and_recorded(cache):
    url = f"http://127.0.0.1:{_closed_port()}/weights/{NAME}"
    target = cache_path(url, cache)
    cache.mkdir()
    target.write_bytes(PAYLOAD)
    assert _fetch(url, cache) == target
    assert (cache / (target.name + ".sha256")).read_text().split()[0] == SHA


def test_pinned_hash_wins_over_the_sidecar(server, cache):
    path = _fetch(server.url(), cache)
    server.files[f"/weights/{NAME}"] = new = b"v2 of the weights"
    new_sha = hashlib.sha256(new).hexdigest()
    assert _fetch(server.url(), cache, sha256=new_sha).read_bytes() == new
    assert (cache / (path.name + ".sha256")).read_text().split()[0] == new_sha


# ---------------------------------------------------------------------------------- interruption, concurrency


def test_ctrl_c_leaves_only_a_resumable_part(server, cache, monkeypatch):
    calls = {"n": 0}

    class InterruptingBar:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", InterruptingBar)
    with pytest.raises(KeyboardInterrupt):
        _fetch(server.url(), cache, sha256=SHA)
    target = cache_path(server.url(), cache)
    assert _files(cache) == [target.name + ".part"]
    kept = (cache / (target.name + ".part")).stat().st_size
    assert 0 < kept < len(PAYLOAD)

    monkeypatch.undo()
    assert _fetch(server.url(), cache, sha256=SHA).read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == f"bytes={kept}-"


def test_parallel_fetches_download_once(server, cache):
    server.delay = 0.01  # long enough for the second fetch to find the first one holding the lock
    results, errors = [], []

    def worker():
        try:
            results.append(_fetch(server.url(), cache, sha256=SHA))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0].read_bytes() == PAYLOAD
    assert len(server.requests) == 1
    assert _files(cache) == sorted([results[0].name, results[0].name + ".sha256"])


# ---------------------------------------------------------------------------------------------- resolve


def test_resolve_local_paths(tmp_path):
    f = tmp_path / "w.pdparams"
    f.write_bytes(PAYLOAD)
    assert resolve_weights(f) == f
    assert resolve_weights(str(f), sha256=SHA) == f
    assert resolve_weights(tmp_path) == tmp_path  # an exported model folder is a local path too
    with pytest.raises(InputError, match="sha256 mismatch"):
        resolve_weights(f, sha256="1" * 64)
    with pytest.raises(InputError, match="no such file"):
        resolve_weights(tmp_path / "missing.pdparams")
    with pytest.raises(InputError, match="unsupported URL scheme 's3'"):
        resolve_weights("s3://bucket/w.pdparams")


def test_resolve_url_goes_through_the_cache(server, monkeypatch, tmp_path):
    monkeypatch.setenv("KBENCH_CACHE", str(tmp_path / "kc"))
    path = resolve_weights(server.url(), sha256=SHA)
    assert path.parent == tmp_path / "kc" and path.read_bytes() == PAYLOAD


# ------------------------------------------------------------------------------------------------- pins


def test_a_url_pinned_with_its_suffix_is_verified(server, cache):
    path = _fetch(f"{server.url()}#sha256={SHA}", cache)
    assert path == cache_path(server.url(), cache) and path.read_bytes() == PAYLOAD
    assert download.verification(path) == download.VERIFIED


def test_a_wrong_pin_in_the_suffix_is_a_mismatch_and_nothing_is_cached(server, cache):
    with pytest.raises(InputError, match="sha256 mismatch"):
        _fetch(f"{server.url()}#sha256={'0' * 64}", cache)
    assert not cache_path(server.url(), cache).exists()


def test_without_a_pin_the_first_download_is_recorded_then_matched(server, cache):
    path = _fetch(server.url(), cache)
    assert download.verification(path) == download.RECORDED
    assert _fetch(server.url(), cache) == path
    assert download.verification(path) == download.MATCHED_RECORD


def test_pin_and_split_pin():
    url = "https://example.com/w.pdparams"
    assert download.split_pin(download.pin(url, SHA.upper())) == (url, SHA)
    assert download.pin(url, None) == url
    assert download.split_pin(url) == (url, None)
    with pytest.raises(InputError, match="two different sha256 pins"):
        download.pin(f"{url}#sha256={SHA}", "1" * 64)
    with pytest.raises(InputError, match="not a sha256 digest"):
        download.split_pin(f"{url}#sha256=abc")


def test_a_local_file_is_checked_against_its_pin(tmp_path):
    f = tmp_path / "w.pdparams"
    f.write_bytes(PAYLOAD)
    assert resolve_weights(f"{f}#sha256={SHA}") == f
    assert download.verification(f) == download.VERIFIED
    with pytest.raises(InputError, match="sha256 mismatch"):
        resolve_weights(f"{f}#sha256={'2' * 64}")


def test_cli_sha256_flag_pins_the_weights_and_random_has_nothing_to_pin(tmp_path, capsys):
    from kbench.cli import main

    f = tmp_path / "w.pdparams"
    f.write_bytes(PAYLOAD)
    assert main(["profile", "--model", "tinypose_128x96", "--weights", str(f), "--sha256", "3" * 64,
                 "--no-record"]) == 2
    err = capsys.readouterr().err.strip()
    assert "sha256 mismatch" in err and len(err.splitlines()) == 1
    assert main(["profile", "--model", "tinypose_128x96", "--weights", "random", "--sha256", SHA, "--no-record"]) == 2
    assert "--weights random has none" in capsys.readouterr().err
    assert main(["eval", "--model", "tinypose_128x96", "--sample", "2", "--det-sha256", SHA, "--no-record"]) == 2
    assert "--det-sha256 pins --det-file" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- md5 pins, the mirror

MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_a_published_md5_is_verified(server, cache):
    path = _fetch(server.url(), cache, md5=MD5.upper())
    assert path.read_bytes() == PAYLOAD and download.verification(path) == download.VERIFIED_MD5
    assert download.recorded_sha256(path) == SHA  # the sha256 is recorded beside it all the same
    url = server.url()
    server.stop()
    assert _fetch(url, cache, md5=MD5) == path  # the cached copy is checked against the md5, offline


def test_an_md5_mismatch_keeps_the_download_aside_when_asked(server, cache):
    with pytest.raises(InputError) as info:
        _fetch(server.url(), cache, md5="0" * 32, keep_bad=True)
    msg = str(info.value)
    target = cache_path(server.url(), cache)
    aside = target.with_name(target.name + ".mismatch")
    assert "md5 mismatch: expected the published " + "0" * 32 in msg and f"got {MD5}" in msg and "\n" not in msg
    assert f"kept aside as {aside} and not used" in msg
    assert _files(cache) == [aside.name] and aside.read_bytes() == PAYLOAD
    with pytest.raises(InputError, match="md5 mismatch"):  # without keep_bad: deleted, as a sha256 mismatch is
        _fetch(server.url(), cache, md5="1" * 32)
    assert _files(cache) == [aside.name]
    with pytest.raises(InputError, match="not an md5 digest"):
        _fetch(server.url(), cache, md5="abc")


def test_a_published_md5_accepts_a_file_that_changed_since_the_recorded_sha256(server, cache):
    path = _fetch(server.url(), cache)
    path.unlink()
    server.files[f"/weights/{NAME}"] = new = b"the published file, republished"
    assert _fetch(server.url(), cache, md5=hashlib.md5(new).hexdigest()).read_bytes() == new
    assert download.recorded_sha256(path) == hashlib.sha256(new).hexdigest()


def test_the_mirror_replaces_the_host_and_the_cache_keeps_the_original_url(server, cache, monkeypatch):
    server.files = {f"/mirror/models/keypoint/{NAME}": PAYLOAD}
    monkeypatch.setenv("KBENCH_MIRROR", server.base + "/mirror/")
    url = f"https://paddledet.bj.bcebos.com/models/keypoint/{NAME}"
    assert download.mirrored(url) == server.url(f"/mirror/models/keypoint/{NAME}")
    assert download.mirrored(url + "?x=1") == server.url(f"/mirror/models/keypoint/{NAME}?x=1")
    path = _fetch(url, cache, sha256=SHA)
    assert path == cache_path(url, cache) and path.read_bytes() == PAYLOAD
    assert [r["path"] for r in server.requests] == [f"/mirror/models/keypoint/{NAME}"]
    monkeypatch.setenv("KBENCH_CACHE", str(cache))
    assert resolve_weights(url, sha256=SHA) == path  # weights resolve through the same cache, no new request
    assert len(server.requests) == 1


def test_the_mirror_names_itself_in_errors_and_a_bad_mirror_is_one_line(server, cache, monkeypatch):
    monkeypatch.setenv("KBENCH_MIRROR", server.base)
    with pytest.raises(InputError) as info:
        _fetch("https://paddledet.bj.bcebos.com/data/missing.json", cache)
    assert str(info.value).startswith(f"cannot download {server.base}/data/missing.json: HTTP 404")
    monkeypatch.setenv("KBENCH_MIRROR", "ftp://mirror")
    with pytest.raises(InputError, match=r"^KBENCH_MIRROR=ftp://mirror: not an http\(s\) base URL"):
        _fetch(server.url(), cache)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux), a device that is always full")
def test_a_really_full_disk_is_one_line(server, cache):
    """The part file is a link to /dev/full: every write fails with ENOSPC, as on a full disk."""
    target = cache_path(server.url(), cache)
    cache.mkdir()
    part = target.with_name(target.name + ".part")
    part.symlink_to("/dev/full")
    with pytest.raises(InputError) as info:
        _fetch(server.url(), cache, sha256=SHA)
    msg = str(info.value)
    assert msg == f"cannot write {part}: No space left on device (run again once that is fixed)"
    assert not target.exists() and not os.path.lexists(part)  # nothing was kept: nothing reached the disk
    assert _fetch(server.url(), cache, sha256=SHA).read_bytes() == PAYLOAD
