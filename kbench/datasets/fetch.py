"""``kbench data fetch``: download a registered data set, verify it, extract it safely and install it whole.

Each file of a :class:`~kbench.datasets.registry.Dataset` is downloaded by :func:`kbench.weights.download.fetch`
into ``$KBENCH_DATA/.downloads/`` (resumable ``.part`` files, the published md5 or sha256 checked, else the first
download's sha256 recorded in a ``.sha256`` file and required of every later download; ``$KBENCH_MIRROR``
honoured). The archives are then extracted into a temporary folder beside the target
(``$KBENCH_DATA/.<name>.tmp-*``), which is renamed to ``$KBENCH_DATA/<name>`` only once complete, with a
manifest (``.kbench-dataset.json``: where each file came from, its checksums and how it was verified, the file
count and bytes of the tree). So Ctrl-C, a damaged archive or a full disk leaves a resumable download and no
half-extracted tree, and a data set's folder, when it exists, is whole.

Extraction is safe: every member of an archive is checked before it is used, and an archive with an absolute
path, a ``..`` component, a symbolic or hard link, or a device member is refused whole (nothing of it is
installed, and it is moved aside as ``<archive>.refused``). Members are written as new regular files under
their basename in the folder the registry names; nothing is executed, no metadata is applied.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kbench.datasets.registry import DATASETS, Dataset, Source, data_dir, get_dataset, human_size
from kbench.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, parallel fetches of one data set are not supported there
    fcntl = None

__all__ = ["fetch_dataset", "dataset_status", "all_statuses", "installed_manifest", "downloads_dir", "FetchReport",
           "MANIFEST", "SCHEMA"]

MANIFEST = ".kbench-dataset.json"
SCHEMA = "kbench.dataset/1"
_BLOCK = 1 << 20
# what reading a damaged or truncated archive raises (gzip.BadGzipFile is an OSError)
_READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


@dataclass
class FetchReport:
    """What :func:`fetch_dataset` did: where the data set is, and how each of its files was checked."""

    name: str
    root: Path
    already: bool  # it was installed and intact: nothing was downloaded
    sources: list = field(default_factory=list)  # the manifest's "sources" entries
    files: int = 0
    bytes: int = 0


def downloads_dir() -> Path:
    """Where the downloaded archives (and their ``.part`` and ``.sha256`` files) are kept."""
    return data_dir() / ".downloads"


class _Damaged(Exception):
    """Reading the archive failed: it is truncated or corrupt."""

    def __init__(self, exc: BaseException):
        text = " ".join(str(exc).split())  # one line, whatever the library's message
        super().__init__(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class _Refused(Exception):
    """An archive member is unsafe to extract: the whole archive is refused."""

    def __init__(self, member: str, why: str):
        super().__init__(f"member {member!r} {why}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created if needed), so that parallel fetches of a data set install it once."""
    with open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield


def _cannot_write(name: str, where: Path, exc: OSError) -> InputError:
    what = exc.strerror or str(exc)
    return InputError(f"{name}: cannot write {where}: {what[:1].lower() + what[1:]} (nothing was installed; the "
                      f"downloads are kept: run `kbench data fetch {name}` again once that is fixed)")


def _unsafe(member: str) -> str | None:
    """Why an archive member's path is unsafe to extract, or None."""
    path = member.replace("\\", "/")
    if "\x00" in path:
        return "has a NUL byte in its name"
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "is an absolute path"
    if ".." in path.split("/"):
        return "climbs out of the folder (a '..' component)"
    return None


def _destination(src: Source, member: str) -> tuple[str, str] | None:
    """(data-set path ``folder/basename``, the pattern that matched) of an archive member, or None when the
    registry keeps none of it."""
    path = member.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    base = path.rsplit("/", 1)[-1]
    if not base:
        return None
    for pattern, folder in src.extract:
        if fnmatch.fnmatchcase(path, pattern):
            return (f"{folder}/{base}" if folder else base), pattern
    return None


def _only_filter(src: Source, tmp: Path, name: str) -> set[str] | None:
    """The data-set paths a source's ``only`` filter keeps (None: no filter)."""
    if src.only is None:
        return None
    if src.only == "mpii_val_images":
        ann = tmp / "annotations" / "mpii_val.json"
        try:
            entries = json.loads(ann.read_text(encoding="utf-8"))
            images = {f"images/{str(e['image']).replace(chr(92), '/').rsplit('/', 1)[-1]}" for e in entries}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{name}: cannot read the image list of mpii_val.json ({type(exc).__name__}: {exc}); "
                             f"expected HRNet's JSON, a list of objects with 'image'") from None
        return images
    raise ValueError(f"unknown member filter {src.only!r}")  # a registry error, not a user's


class _Counting:
    """A read-only file wrapper that advances a progress bar by the compressed bytes read."""

    def __init__(self, fh, bar):
        self.fh, self.bar = fh, bar

    def read(self, n: int = -1) -> bytes:
        block = self.fh.read(n)
        self.bar.update(len(block))
        return block


def _copy(read: Callable[[int], bytes], path: Path, name: str, bar=None) -> int:
    """Write what ``read`` gives into a new file ``path``; returns its size. Read errors are :class:`_Damaged`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = open(path, "xb")
    except FileExistsError:
        raise InputError(f"{name}: two archive members would both be {path.name}: refused") from None
    except OSError as exc:
        raise _cannot_write(name, path, exc) from None
    size = 0
    try:
        with out:
            while True:
                try:
                    block = read(_BLOCK)
                except _READ_ERRORS as exc:
                    raise _Damaged(exc) from None
                if not block:
                    break
                out.write(block)
                size += len(block)
                if bar is not None:
                    bar.update(len(block))
    except OSError as exc:
        raise _cannot_write(name, path, exc) from None
    return size


def _bar(total: int | None, desc: str, progress: bool):
    from tqdm import tqdm

    # disable=None turns the bar off when stderr is not a terminal (CI logs, pipes)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                disable=None if progress else True)


def _extract_zip(src: Source, archive: Path, tmp: Path, name: str, keep: set[str] | None,
                 progress: bool) -> dict[str, str]:
    """Extract what the registry keeps of a zip (every member checked first); returns data-set path -> pattern."""
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _Damaged(exc) from None
    with zf:
        infos = zf.infolist()
        for info in infos:  # every member is checked before anything is written
            why = _unsafe(info.filename)
            if why is None and stat.S_ISLNK(info.external_attr >> 16):
                why = "is a symbolic link"
            if why is not None:
                raise _Refused(info.filename, why)
        chosen = []
        for info in infos:
            match = None if info.is_dir() else _destination(src, info.filename)
            if match is not None and (keep is None or match[0] in keep):
                chosen.append((info, match))
        written = {}
        with _bar(sum(i.file_size for i, _ in chosen), f"extracting {src.basename}", progress) as bar:
            for info, (dest, pattern) in chosen:
                try:
                    member = zf.open(info)
                except _READ_ERRORS as exc:
                    raise _Damaged(exc) from None
                with member:
                    _copy(member.read, tmp / dest, name, bar)
                written[dest] = pattern
    return written


def _extract_tar(src: Source, archive: Path, tmp: Path, name: str, keep: set[str] | None,
                 progress: bool) -> dict[str, str]:
    """Extract what the registry keeps of a tar, in one streaming pass that refuses the first unsafe member."""
    written = {}
    with open(archive, "rb") as raw, _bar(archive.stat().st_size, f"extracting {src.basename}", progress) as bar:
        try:
            # a stream ("r|*"): the archive is read once, member after member, whatever its compression
            tf = tarfile.open(fileobj=_Counting(raw, bar), mode="r|*")
        except _READ_ERRORS as exc:
            raise _Damaged(exc) from None
        with tf:
            while True:
                try:
                    member = tf.next()
                except _READ_ERRORS as exc:
                    raise _Damaged(exc) from None
                if member is None:
                    break
                why = _unsafe(member.name)
                if why is None:
                    if member.issym():
                        why = f"is a symbolic link (to {member.linkname!r})"
                    elif member.islnk():
                        why = f"is a hard link (to {member.linkname!r})"
                    elif not (member.isfile() or member.isdir()):
                        why = "is a device, FIFO or other special file"
                if why is not None:  # refused before any of it is read; what came before is thrown away with tmp
                    raise _Refused(member.name, why)
                if not member.isfile():
                    continue
                match = _destination(src, member.name)
                if match is None or (keep is not None and match[0] not in keep):
                    continue
                try:
                    fin = tf.extractfile(member)
                except _READ_ERRORS as exc:
                    raise _Damaged(exc) from None
                _copy(fin.read, tmp / match[0], name)
                written[match[0]] = match[1]
    return written


def _set_aside(path: Path, suffix: str) -> Path:
    """Move a downloaded file that must not be used aside (``<name><suffix>``) and forget its recorded sha256."""
    aside = path.with_name(path.name + suffix)
    with contextlib.suppress(OSError):
        os.replace(path, aside)
    with contextlib.suppress(OSError):
        path.with_name(path.name + ".sha256").unlink()
    return aside


def _install_source(ds: Dataset, src: Source, archive: Path, tmp: Path, progress: bool) -> None:
    """Put what the data set keeps of one downloaded file into ``tmp``."""
    if src.kind == "file":
        with open(archive, "rb") as fin:
            _copy(fin.read, tmp / src.dest, ds.name)
        return
    keep = _only_filter(src, tmp, ds.name)
    extract = _extract_zip if src.kind == "zip" else _extract_tar
    try:
        written = extract(src, archive, tmp, ds.name, keep, progress)
    except _Refused as exc:
        aside = _set_aside(archive, ".refused")
        raise InputError(f"{ds.name}: {src.basename} refused: {exc} (a safe archive holds only relative paths inside "
                         f"its folder and no links); nothing was installed, the archive is kept aside as "
                         f"{aside}") from None
    except _Damaged as exc:
        aside = _set_aside(archive, ".damaged")
        raise InputError(f"{ds.name}: {src.basename} is truncated or damaged ({exc}); nothing was installed, it is "
                         f"kept aside as {aside}: run `kbench data fetch {ds.name}` to download it again") from None
    for pattern, _ in src.extract:
        if pattern not in written.values():
            aside = _set_aside(archive, ".unexpected")
            raise InputError(f"{ds.name}: {src.basename} has no member matching {pattern!r}: not the archive "
                             f"expected (a wrong file on the mirror?); nothing was installed, it is kept aside as "
                             f"{aside}")
    if keep is not None and keep - written.keys():
        missing = sorted(keep - written.keys())
        aside = _set_aside(archive, ".unexpected")
        raise InputError(f"{ds.name}: {len(missing)} of the {len(keep)} files the annotations list are not in "
                         f"{src.basename} (first: {missing[0]}); nothing was installed, it is kept aside as {aside}")


def _tree_stats(root: Path) -> tuple[int, int]:
    """(files, bytes) of a data set's tree, its manifest left out."""
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            if n == MANIFEST and Path(dirpath) == root:
                continue
            files += 1
            size += os.lstat(os.path.join(dirpath, n)).st_size
    return files, size


def installed_manifest(name: str) -> dict | None:
    """The manifest of an installed data set, or None when it is not installed (or its manifest is unreadable)."""
    from kbench.datasets.registry import dataset_root

    try:
        manifest = json.loads((dataset_root(name) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("schema") == SCHEMA else None


def _intact(root: Path, manifest: dict) -> bool:
    try:
        return _tree_stats(root) == (manifest.get("files"), manifest.get("bytes"))
    except OSError:
        return False


def _check_space(ds: Dataset, downloads: Path) -> None:
    """Refuse in one line when the downloads cannot fit (sources of known size, less what is already there)."""
    from kbench.weights.download import cache_path

    need = 0
    for src in ds.sources:
        target = cache_path(src.url, downloads)
        if src.size is None or target.is_file():
            continue
        part = target.with_name(target.name + ".part")
        need += max(0, src.size - (part.stat().st_size if part.is_file() else 0))
    if not need:
        return
    free = shutil.disk_usage(downloads).free
    if free < need:
        raise InputError(f"{ds.name}: the download needs about {human_size(need)} and {downloads} has "
                         f"{human_size(free)} free: make room, or point $KBENCH_DATA at a larger disk")


def _clean_stale(root: Path, name: str) -> None:
    """Remove what an installer killed mid-way left (under the data set's lock, so no installer is running)."""
    for p in root.glob(f".{name}.tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(f".{name}.old-*"):
        shutil.rmtree(p, ignore_errors=True)


def _describe(src: Source, archive: Path) -> dict:
    from kbench.weights.download import mirrored, recorded_sha256, verification

    return {"url": src.url, "fetched_from": mirrored(src.url), "file": src.basename, "size": archive.stat().st_size,
            "sha256": recorded_sha256(archive), "md5": src.md5, "published": "md5" if src.md5 else
            ("sha256" if src.sha256 else None), "checksum_source": src.checksum_source or None,
            "verification": verification(archive)}


def fetch_dataset(name: str, progress: bool = True, log: Callable[[str], None] | None = None,
                  timeout: float | None = None) -> FetchReport:
    """Download, verify, extract and install the data set ``name`` under ``$KBENCH_DATA`` (once).

    An installed, intact data set is returned as it is, without touching the network. Otherwise each file is
    fetched (resuming a partial download), the archives are extracted into a temporary folder beside the target
    and the folder is renamed into place with its manifest; then the archives are deleted (their recorded
    sha256 files stay, so a later download must match them).

    Args:
        name: A registered data set (:data:`kbench.datasets.registry.DATASETS`).
        progress: Progress bars (bytes, rate, ETA) on a terminal, for the downloads and the extraction.
        log: Called with a line before each download (None: silent).
        timeout: Seconds to wait for a connection or the next bytes (None: the downloader's default).

    Returns:
        A :class:`FetchReport`.

    Raises:
        InputError: An unknown name, a failed or mismatching download (kept aside as ``.mismatch``), an archive
            that is refused, truncated or not the one expected (kept aside), too little disk space, a folder in
            the way. One line; nothing half-written is left where the data set goes.
    """
    from kbench.weights.download import DEFAULT_TIMEOUT, cache_path, fetch

    ds = get_dataset(name)
    root = data_dir()
    target = root / ds.name
    downloads = downloads_dir()
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the data set folder {downloads}: {exc.strerror or exc}") from None
    with _locked(downloads / f"{ds.name}.lock"):
        _clean_stale(root, ds.name)
        manifest = installed_manifest(ds.name)
        if manifest is not None and _intact(target, manifest):
            return FetchReport(ds.name, target, True, manifest.get("sources", []), manifest["files"],
                               manifest["bytes"])
        if manifest is None and (target.exists() or target.is_symlink()):
            raise InputError(f"{target} exists but was not installed by `kbench data fetch` (no {MANIFEST}): move it "
                             f"away, or use it as it is with --data-root {target}")
        if manifest is not None and log is not None:
            log(f"{ds.name}: {target} changed since it was fetched: installing it again")
        _check_space(ds, downloads)
        fetched = []
        for src in ds.sources:
            if log is not None and not cache_path(src.url, downloads).is_file():
                size = f", {human_size(src.size)}" if src.size else ""
                log(f"{ds.name}: downloading {src.basename}{size}")
            path = fetch(src.url, sha256=src.sha256, md5=src.md5, cache_dir=downloads, progress=progress,
                         timeout=DEFAULT_TIMEOUT if timeout is None else timeout, keep_bad=True)
            fetched.append((src, path))
        sources = [_describe(src, path) for src, path in fetched]
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{ds.name}.tmp-", dir=root))
        except OSError as exc:
            raise _cannot_write(ds.name, root, exc) from None
        try:
            for src, path in fetched:
                _install_source(ds, src, path, tmp, progress)
            for entry in ds.layout:
                p = tmp / entry.rstrip("/")
                if not (p.is_dir() and any(p.iterdir()) if entry.endswith("/") else p.is_file()):
                    raise InputError(f"{ds.name}: the downloaded files give no {entry}: not the files expected "
                                     f"(a wrong file on the mirror?); nothing was installed")
            files, nbytes = _tree_stats(tmp)
            manifest = {"schema": SCHEMA, "name": ds.name, "title": ds.title, "created": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sources": sources, "files": files, "bytes": nbytes}
            try:
                (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
                if target.exists() or target.is_symlink():  # our own tree, changed since: replaced whole
                    old = Path(tempfile.mkdtemp(prefix=f".{ds.name}.old-", dir=root))
                    os.replace(target, old / "tree")
                    os.replace(tmp, target)
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(tmp, target)
            except OSError as exc:
                raise _cannot_write(ds.name, target, exc) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for _, path in fetched:  # the data set is installed: the archives are not needed (their .sha256 stays)
            with contextlib.suppress(OSError):
                path.unlink()
    return FetchReport(ds.name, target, False, sources, files, nbytes)


def dataset_status(name: str) -> dict:
    """What ``kbench data list`` says of a data set: state, path, size on disk or to download, verification.

    ``state`` is ``present`` (installed and unchanged), ``changed`` (installed, files changed since),
    ``downloaded`` (downloaded, not installed), ``partial`` (a resumable download) or ``absent``.
    """
    from kbench.datasets.registry import dataset_root
    from kbench.weights.download import cache_path

    ds = get_dataset(name)
    root = dataset_root(ds.name)
    status = {"name": ds.name, "title": ds.title, "path": str(root), "state": "absent", "files": None,
              "bytes": None, "download": ds.size_text(), "sources": [], "kept_aside": []}
    manifest = installed_manifest(ds.name)
    downloads = downloads_dir()
    if manifest is not None:
        status.update(files=manifest.get("files"), bytes=manifest.get("bytes"), sources=manifest.get("sources", []))
        status["state"] = "present" if _intact(root, manifest) else "changed"
    else:
        have = partial = 0
        for src in ds.sources:
            target = cache_path(src.url, downloads)
            part = target.with_name(target.name + ".part")
            if target.is_file():
                have += 1
            elif part.is_file():
                partial += part.stat().st_size
        if have == len(ds.sources):
            status["state"] = "downloaded"
        elif have or partial:
            status["state"] = "partial"
            status["bytes"] = partial
    for src in ds.sources:
        target = cache_path(src.url, downloads)
        for suffix in (".mismatch", ".refused", ".damaged", ".unexpected"):
            aside = target.with_name(target.name + suffix)
            if aside.is_file():
                status["kept_aside"].append(str(aside))
    return status


def all_statuses() -> list[dict]:
    """:func:`dataset_status` of every registered data set, in registry order."""
    return [dataset_status(name) for name in DATASETS]
