"""Download files (model weights, data sets) once into a local cache: resumable, verified, safe in parallel jobs.

``fetch(url)`` keeps ``<cache>/<stem>-<url hash><ext>``, named after the URL's basename (the cache is
``$KBENCH_CACHE``, else ``~/.cache/kbench/weights``; :mod:`kbench.datasets.fetch` passes its own). A download goes to
``<name>.part``, resumes from it with an HTTP Range request after an interruption (Ctrl-C included), and is renamed
into place only once complete and verified. The sha256 of every cached file is kept in ``<name>.sha256`` (``sha256sum
-c`` reads it), so a cached file that changes later is noticed even when the caller pinned no hash. A published md5
(``md5=``, as PaddleDetection's ``ppdet/utils/download.py`` pins COCO's archives) is checked the same way.

``KBENCH_MIRROR`` (a base URL) replaces the scheme and host of every download, for users behind a proxy mirror
and for the tests: ``KBENCH_MIRROR=http://mirror.local/kbench`` fetches
``http://images.cocodataset.org/zips/val2017.zip`` from ``http://mirror.local/kbench/zips/val2017.zip``. The cache
is keyed by the original URL, so a file fetched through a mirror is the one fetched without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from kbench import __version__
from kbench._fileio import sha256_file
from kbench.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, parallel downloads of one file are not supported there
    fcntl = None

__all__ = ["fetch", "resolve_weights", "checkpoint_spec", "cache_path", "default_cache_dir", "DEFAULT_TIMEOUT",
           "split_pin", "pin", "verification", "set_verification", "recorded_sha256", "mirrored", "VERIFIED",
           "VERIFIED_MD5", "RECORDED", "MATCHED_RECORD", "MIRROR_ENV"]

#: What :func:`verification` says of a download: checked against a hash given in advance, or not.
VERIFIED = "verified against the pinned sha256"
VERIFIED_MD5 = "verified against the published md5"
RECORDED = "sha256 recorded on first download (no published hash to verify against)"
MATCHED_RECORD = "matched the sha256 recorded at its first download (no published hash to verify against)"
_VERIFICATION: dict = {}


def split_pin(spec: str) -> tuple[str, str | None]:
    """``"URL#sha256=HEX"`` (or a path with it) -> ``("URL", "HEX")``; anything else -> ``(spec, None)``.

    The suffix pins any download argument (``--weights``, ``--det-file``, a card's URL) to a hash.
    """
    text = str(spec)
    base, sep, frag = text.rpartition("#sha256=")
    if not sep:
        return text, None
    return base, _normalize_sha256(frag)


def pin(spec: str, sha256: str | None) -> str:
    """``spec`` with ``#sha256=HEX`` appended (``--sha256`` given as a flag); unchanged when ``sha256`` is None."""
    if sha256 is None:
        return spec
    base, old = split_pin(spec)
    digest = _normalize_sha256(sha256)
    if old is not None and old != digest:
        raise InputError(f"{spec}: two different sha256 pins ({old} and {digest})")
    return f"{base}#sha256={digest}"


def verification(path: str | os.PathLike) -> str | None:
    """How the file :func:`fetch` returned at ``path`` was checked in this process (None: not downloaded)."""
    return _VERIFICATION.get(str(path))


def set_verification(path: str | os.PathLike, text: str) -> None:
    """Say how a file that did not come from :func:`fetch` in this process was checked (a fetched data set's file)."""
    _VERIFICATION[str(path)] = text


#: The environment variable whose base URL replaces the scheme and host of every download.
MIRROR_ENV = "KBENCH_MIRROR"


def mirrored(url: str) -> str:
    """``url`` as fetched: with ``$KBENCH_MIRROR`` set, its scheme and host are replaced by the mirror's base URL.

    The mirror's own path is kept as a prefix (``http://m/kb`` + ``/zips/val2017.zip``), and so is the URL's query.

    Raises:
        InputError: ``$KBENCH_MIRROR`` is set but is not an http(s) URL with a host.
    """
    base = os.environ.get(MIRROR_ENV, "").strip()
    if not base:
        return url
    b = urllib.parse.urlsplit(base)
    if b.scheme.lower() not in ("http", "https") or not b.netloc:
        raise InputError(f"{MIRROR_ENV}={base}: not an http(s) base URL (e.g. http://mirror.example.com/kbench)")
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((b.scheme, b.netloc, b.path.rstrip("/") + (u.path or "/"), u.query, ""))

#: Seconds to wait for a connection or for the next bytes of a response.
DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def default_cache_dir() -> Path:
    """The weights cache: ``$KBENCH_CACHE`` when set, else ``~/.cache/kbench/weights``."""
    env = os.environ.get("KBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kbench" / "weights"


def cache_path(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`fetch` keeps the file of ``url``: its basename plus a short hash of the whole URL.

    The hash keeps apart files that share a basename (``model_final.pdparams`` of two configs); the basename
    keeps the cache readable and tells a user where to put a file fetched by other means.

    Args:
        url: The download URL.
        cache_dir: The cache folder; None for :func:`default_cache_dir`.

    Returns:
        The path of the cached file (which may not exist yet).
    """
    base = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:120] or "download"
    # the hash goes before the extension, so that tools still recognise the file (.tar.gz kept whole)
    m = re.fullmatch(r"(.+?)((?:\.tar)?\.[A-Za-z0-9]{1,10})", base)
    stem, ext = (m[1], m[2]) if m else (base, "")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / f"{stem}-{digest}{ext}"


def _normalize_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(value):
        raise InputError(f"{sha256!r} is not a sha256 digest (64 hexadecimal digits)")
    return value


def _normalize_md5(md5: str | None) -> str | None:
    if md5 is None:
        return None
    value = md5.strip().lower().removeprefix("md5:")
    if not _HEX32.fullmatch(value):
        raise InputError(f"{md5!r} is not an md5 digest (32 hexadecimal digits)")
    return value


class _Digests:
    """sha256 (always) and md5 (when asked for) of the same bytes, in one pass."""

    def __init__(self, md5: bool):
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False) if md5 else None

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        if self.md5 is not None:
            self.md5.update(block)


def _file_digests(path: Path, md5: bool) -> tuple[str, str | None]:
    """(sha256, md5 or None) of a file; sha256 alone goes through the shared helper (and its digest cache)."""
    if not md5:
        return sha256_file(path), None
    d = _Digests(md5=True)
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK * 16):
            d.update(block)
    return d.sha256.hexdigest(), d.md5.hexdigest()


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _read_sidecar(target: Path) -> str | None:
    try:
        words = _sidecar(target).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    # a damaged sidecar is as good as none: the file is re-hashed and the sidecar rewritten
    return words[0].lower() if words and _HEX64.fullmatch(words[0].lower()) else None


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 :func:`fetch` recorded for a cached file (its ``.sha256`` sidecar), or None."""
    return _read_sidecar(Path(path))


def _write_sidecar(target: Path, digest: str) -> None:
    side = _sidecar(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{side.name}.", suffix=".tmp", dir=side.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"{digest}  {target.name}\n")
        os.replace(tmp, side)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _cached(target: Path, expected: str | None, warn: bool = True, md5: str | None = None) -> bool:
    """True if ``target`` holds the wanted file. One that fails its hash stays until a good download replaces it."""
    if not target.is_file():
        return False
    recorded = _read_sidecar(target)
    want = expected or recorded
    actual, actual_md5 = _file_digests(target, md5 is not None)
    if md5 is not None and actual_md5 != md5:
        if warn:
            print(f"kbench: {target} does not match the published md5 (expected {md5}, got {actual_md5}): downloading "
                  f"it again", file=sys.stderr)
        return False
    if want is None or actual == want or (md5 is not None and expected is None):
        # a file that matches its published md5 is the published file, whatever an older sidecar said
        if recorded != actual:
            with contextlib.suppress(OSError):  # a read-only shared cache still serves its files
                _write_sidecar(target, actual)
        return True
    if warn:
        source = "the sha256 asked for" if expected else f"the sha256 recorded in {_sidecar(target)}"
        print(f"kbench: {target} does not match {source} (expected {want}, got {actual}): downloading it again",
              file=sys.stderr)
    return False


@contextlib.contextmanager
def _locked_part(part: Path) -> Iterator[IO[bytes]]:
    """Open ``part`` for appending, holding an exclusive lock so that parallel jobs download a file once."""
    while True:
        fh = open(part, "a+b")
        try:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(part))
            except FileNotFoundError:
                same = False
        except BaseException:
            fh.close()
            raise
        if same:
            break
        # the holder we waited for renamed the part into place (or deleted it): lock the file now at that path
        fh.close()
    try:
        yield fh
    finally:
        # on a full disk the final flush fails too: what reached the disk is still a prefix of the file, which a
        # resume re-hashes, so the error that matters is the one already being raised
        with contextlib.suppress(OSError):
            fh.close()


def _cannot(url: str, target: Path, reason: str) -> InputError:
    return InputError(f"cannot download {url}: {reason} (offline? put the file at {target} or pass a local path)")


def _reason(exc: BaseException, url: str, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, socket.gaierror):
        return f"cannot resolve {urllib.parse.urlsplit(url).hostname} ({inner.strerror or inner})"
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(inner, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(inner, ssl.SSLError):
        return f"TLS error ({inner.reason or inner})"
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror[:1].lower() + inner.strerror[1:]
    return str(inner).splitlines()[0] if str(inner) else type(inner).__name__


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a Content-Range header; None for what it leaves out."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if m is None:
        return None, None
    return (int(m[1]) if m[1] else None), (int(m[2]) if m[2] != "*" else None)


def _hash_of(fh: IO[bytes], size: int, md5: bool = False) -> Any:
    h = _Digests(md5)
    fh.seek(0)
    left = size
    while left:
        block = fh.read(min(_CHUNK * 16, left))
        if not block:
            break
        h.update(block)
        left -= len(block)
    return h


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def _download_into(fh: IO[bytes], url: str, target: Path, part: Path, progress: bool, timeout: float,
                   md5: bool = False) -> _Digests:
    """Complete the (locked, append-mode) part file from ``url``; returns the digests of the whole file."""
    # A server that ignores Range (200), refuses it (416) or answers another range restarts from zero,
    # which needs one more request; the third try is for a 416 on the restart, which should not happen.
    for _ in range(3):
        fh.seek(0, os.SEEK_END)
        have = fh.tell()
        headers = {"User-Agent": f"kbench/{__version__}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code != 416 or not have:
                    raise _cannot(url, target, _reason(exc, url, timeout)) from None
                _, total = _content_range(exc.headers.get("Content-Range"))
            if total == have:  # the part already holds the whole file (interrupted before the rename)
                return _hash_of(fh, have, md5)
            fh.truncate(0)
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _cannot(url, target, _reason(exc, url, timeout)) from None

        with resp:
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if resp.status == 206:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != have:
                    fh.truncate(0)
                    continue
                if total is None and length is not None:
                    total = have + length
            elif resp.status == 200:
                if have:  # the server ignored the Range header and sends the whole file
                    fh.truncate(0)
                    have = 0
                total = length
            else:
                raise _cannot(url, target, f"unexpected HTTP status {resp.status} {resp.reason}")

            h = _hash_of(fh, have, md5)
            fh.seek(0, os.SEEK_END)
            got = have
            # disable=None turns the bar off when stderr is not a terminal (CI logs, pipes)
            with tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name,
                      disable=None if progress else True) as bar:
                while True:
                    try:
                        block = resp.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        fh.flush()
                        raise _interrupted(url, part, got, total, _reason(exc, url, timeout)) from None
                    if not block:
                        break
                    try:
                        fh.write(block)
                    except OSError as exc:
                        kept = ("the partial file is kept: run again to resume once that is fixed" if got else
                                "run again once that is fixed")
                        raise InputError(f"cannot write {part}: {exc.strerror or exc} ({kept})") from None
                    h.update(block)
                    got += len(block)
                    bar.update(len(block))
            fh.flush()
            if total is not None and got != total:
                raise _interrupted(url, part, got, total, "the connection closed early")
            return h
    raise _cannot(url, target, "the server does not answer a resume request with the range asked for")


def _interrupted(url: str, part: Path, got: int, total: int | None, reason: str) -> InputError:
    of = f" of {_size(total)}" if total is not None else ""
    return InputError(f"cannot download {url}: {reason} after {_size(got)}{of} (the partial file {part} is kept: run "
                      f"again to resume)")


def fetch(url: str, sha256: str | None = None, cache_dir: str | os.PathLike | None = None, progress: bool = True,
          *, timeout: float = DEFAULT_TIMEOUT, md5: str | None = None, keep_bad: bool = False) -> Path:
    """Download ``url`` into the weights cache, or return the cached copy without touching the network.

    A cached file is returned when it matches ``sha256`` (and ``md5``) or, with neither, the hash recorded when
    it was downloaded; one that does not is downloaded again. A download resumes the ``.part`` file left by an
    interrupted one and is renamed into place only after its hash checks out, so the cache never holds half
    a file. Parallel calls for the same URL download it once. With ``$KBENCH_MIRROR`` set, the file is
    downloaded from the mirror (:func:`mirrored`) and cached under the original URL.

    Args:
        url: An http(s) URL.
        sha256: The expected hex digest (an optional ``sha256:`` prefix is accepted); None to trust the first
            download and record its hash in ``<name>.sha256``.
        cache_dir: The cache folder; None for ``$KBENCH_CACHE`` or ``~/.cache/kbench/weights``.
        progress: Show a progress bar (bytes, rate, ETA) on a terminal.
        timeout: Seconds to wait for the connection and for each read.
        md5: A published md5 to verify against (COCO's archives publish one); a download that matches it is
            accepted whatever sha256 an earlier download recorded.
        keep_bad: A download that fails its checksum is renamed to ``<name>.mismatch`` (kept aside for
            inspection, never used) instead of being deleted.

    Returns:
        The path of the cached file.

    Raises:
        InputError: The URL cannot be downloaded (offline, unknown host, refused, HTTP error, interrupted) or
            the download does not match its sha256 or md5. The message is one line.
    """
    url, pinned = split_pin(url)
    if pinned is not None:
        if sha256 is not None and _normalize_sha256(sha256) != pinned:
            raise InputError(f"{url}: two different sha256 pins ({pinned} and {sha256})")
        sha256 = pinned
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise InputError(f"{url}: not an http(s) URL")
    expected = _normalize_sha256(sha256)
    md5 = _normalize_md5(md5)
    source = mirrored(url)
    target = cache_path(url, cache_dir)
    had_record = _read_sidecar(target) is not None
    _VERIFICATION[str(target)] = (VERIFIED if expected else VERIFIED_MD5 if md5 else
                                  MATCHED_RECORD if had_record else RECORDED)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the download cache {target.parent}: {exc.strerror or exc}") from None
    if _cached(target, expected, md5=md5):
        return target

    part = target.with_name(target.name + ".part")
    with _locked_part(part) as fh:
        # with no hash given, a new download must match the hash recorded by the first one
        want = expected or (None if md5 else _read_sidecar(target))
        if _cached(target, expected, warn=False, md5=md5):  # another job finished it while this one waited
            if os.fstat(fh.fileno()).st_size == 0:
                part.unlink()
            return target
        try:
            digests = _download_into(fh, source, target, part, progress, timeout, md5=md5 is not None)
        except BaseException:
            if os.fstat(fh.fileno()).st_size == 0:  # nothing to resume: leave no empty part behind
                part.unlink()
            raise
        digest = digests.sha256.hexdigest()
        got_md5 = digests.md5.hexdigest() if digests.md5 is not None else None
        why = None
        if md5 is not None and got_md5 != md5:
            why = (f"md5 mismatch: expected the published {md5}, got {got_md5} (a corrupt download, or the file "
                   f"changed on the server)")
        elif want is not None and digest != want:
            if expected is None:
                why = (f"sha256 mismatch: expected {want} as recorded in {_sidecar(target)} by the first download, "
                       f"got {digest}: the file changed on the server; delete {_sidecar(target)} to accept it")
            else:
                why = f"sha256 mismatch: expected {want}, got {digest} (a corrupt download, or the file changed on " \
                      f"the server)"
        if why is not None:
            if keep_bad:
                aside = target.with_name(target.name + ".mismatch")
                if os.name == "nt":  # pragma: no cover - Windows cannot rename an open file
                    fh.close()
                os.replace(part, aside)
                why += f"; the download is kept aside as {aside} and not used"
            else:
                part.unlink()
            raise InputError(f"{source}: {why}")
        # the sidecar first: whoever sees the new file also sees its hash
        _write_sidecar(target, digest)
        if os.name == "nt":  # pragma: no cover - Windows cannot rename an open file
            fh.close()
        os.replace(part, target)
    return target


def resolve_weights(spec: str | os.PathLike, sha256: str | None = None) -> Path:
    """Turn a weights argument into a local path: an http(s) URL is fetched into the cache, a path is kept.

    Args:
        spec: A local file or folder, or an http(s) URL.
        sha256: The expected hex digest; checked for URLs and for local files.

    Returns:
        The local path (for a local ``spec``, the path itself).

    Raises:
        InputError: The local path does not exist or does not match ``sha256``, the URL scheme is not
            http(s), or :func:`fetch` fails.
    """
    text, pinned = split_pin(str(os.fspath(spec)))
    if pinned is not None:
        if sha256 is not None and _normalize_sha256(sha256) != pinned:
            raise InputError(f"{text}: two different sha256 pins ({pinned} and {sha256})")
        sha256 = pinned
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return fetch(text, sha256=sha256)
    if len(scheme) > 1 and "://" in text:  # one letter is a Windows drive, not a scheme
        raise InputError(f"{text}: unsupported URL scheme {scheme!r}: give an http(s) URL or a local path")
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    expected = _normalize_sha256(sha256)
    if expected is not None and path.is_file():
        actual = sha256_file(path)
        if actual != expected:
            raise InputError(f"{path}: sha256 mismatch: expected {expected}, got {actual}")
        _VERIFICATION[str(path)] = VERIFIED
    return path


def checkpoint_spec(card, weights: str | None) -> tuple[str, str | None]:
    """Where a model's weights come from: ``(path or URL, expected sha256 or None)``.

    ``None`` or ``"zoo"`` means the card's released checkpoint (with the card's sha256, if it has one); anything
    else is taken as a path or URL. ``"random"`` has no checkpoint and is handled by the callers.
    """
    base, pinned = split_pin(weights) if weights is not None else (None, None)
    if base == "zoo":  # the card's checkpoint, pinned by the user
        url, card_sha = checkpoint_spec(card, "zoo")
        if card_sha is not None and card_sha != pinned:
            raise InputError(f"{card.name}: --sha256 {pinned} differs from the card's {card_sha}")
        return url, pinned
    if weights is None or weights == "zoo":
        download = card.downloads.checkpoint
        if download is None or download.url is None:
            raise InputError(f"{card.name}: the zoo publishes no checkpoint for this model; pass --weights PATH|URL "
                             f"or --weights random")
        return download.url, download.sha256
    return str(weights), None
