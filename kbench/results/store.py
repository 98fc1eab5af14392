"""The results store: a directory of run-record files with an SQLite index, queryable as a DataFrame.

Layout of a store root (default ``./kbench-runs``, where every kbench command writes its records unless
told otherwise, so a fresh store already holds everything measured here)::

    kbench-runs/
        20261129T050546Z-eval-bd16ea20.json     records written here by kbench commands
        ci-runner-7-3f2a9c1e/                   records imported by ``add``, one folder per machine
            20261128T101500Z-latency-0c1d2e3f.json
        index.sqlite                            the index; derived data, safe to delete

The files are the truth; the index is a cache of their parsed content keyed by record id
(:func:`kbench.results.frame.record_id`). Every read first brings the index up to date with the files
(new, changed or deleted files, found by path, size and mtime), so records copied in by hand, or
written by a kbench command, are seen at once; :meth:`ResultStore.reindex` rebuilds it from nothing.
Records from several machines merge cleanly: each keeps its ``env`` (hostname, CPU, GPU), the
``machine`` column tells them apart, and the same record imported twice, from anywhere, is stored once.

A root that cannot be written (a read-only checkout) is indexed in memory instead.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Iterable
from contextlib import closing as _closing
from dataclasses import dataclass, field
from pathlib import Path

from kbench._fileio import atomic_open, read_json
from kbench.errors import InputError
from kbench.results.frame import (
    RecordsSkippedWarning,
    _classify,
    _looks_like_record,
    _scan,
    load_records,
    machine_id,
    record_id,
    records_frame,
)

__all__ = ["ResultStore", "AddResult", "DEFAULT_ROOT", "INDEX_NAME"]

DEFAULT_ROOT = "kbench-runs"
INDEX_NAME = "index.sqlite"
_INDEX_VERSION = 3  # PRAGMA user_version; a different number means "rebuild"
_LOCK_TIMEOUT_S = 5.0  # SQLite's own wait for a lock, per try
_BUSY_TRIES = 8  # tries with backoff before a lock held that long is reported
DAMAGED = "damaged: "  # the note of a record file that cannot be read


def _busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _backoff(attempt: int) -> float:
    return min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random())

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path      TEXT PRIMARY KEY,   -- relative to the root, '/'-separated
    mtime_ns  INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    record_id TEXT,               -- NULL: a JSON file that is not a kbench record
    note      TEXT                -- why a file that names the kbench record schema was skipped
);
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    kind      TEXT,
    created   TEXT,
    machine   TEXT,
    model     TEXT,
    json      TEXT NOT NULL       -- the record as parsed, for building frames without re-reading files
);
CREATE INDEX IF NOT EXISTS files_record ON files(record_id);
"""


@dataclass
class AddResult:
    """What :meth:`ResultStore.add` did."""

    added: list[Path] = field(default_factory=list)  #: new files written into the store
    present: int = 0  #: records the store already had (same record id), not copied again

    def __str__(self) -> str:
        """``"2 record(s) added, 1 already in the store"``."""
        return f"{len(self.added)} record(s) added, {self.present} already in the store"


def _create_exclusive(folder: Path, name: str, data: bytes, rid: str) -> Path | None:
    """Write ``data`` as a new file in ``folder`` without ever replacing one: a complete temporary file, then a hard
    link to the name (which fails if the name exists). Another record of the same name gets the id as suffix; the
    same record already there (written by another process) returns None."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(name).stem, Path(name).suffix or ".json"
    tmp = folder / f".{name}.{os.getpid()}.new"  # hidden: the store's scan skips it
    with atomic_open(tmp, "wb") as fh:
        fh.write(data)
    try:
        for candidate in (f"{stem}{suffix}", f"{stem}-{rid[:8]}{suffix}", f"{stem}-{rid[:16]}{suffix}"):
            target = folder / candidate
            try:
                os.link(tmp, target)
                return target
            except FileExistsError:
                try:
                    if record_id(read_json(target)) == rid:
                        return None
                except InputError:
                    pass  # a damaged file of that name: keep it, take another name
            except OSError:  # a file system without hard links: exclusive create, then write
                try:
                    with open(target, "xb") as fh:
                        fh.write(data)
                    return target
                except FileExistsError:
                    continue
        raise InputError(f"{folder}: cannot find a free name for record {rid[:16]}")
    finally:
        tmp.unlink(missing_ok=True)


class ResultStore:
    """A directory of run records plus an SQLite index, read as a pandas DataFrame.

    Example::

        store = ResultStore("kbench-runs")
        store.add(["ci-artifacts/"])                 # copy records in (idempotent)
        df = store.frame(["kind=latency", "model=tinypose_*"])

    Args:
        root: the store's directory (default ``./kbench-runs``). It need not exist until something is added.
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_ROOT):
        self.root = Path(root)
        self._skipped: list[str] = []
        self._damaged: list[tuple[str, str]] = []

    # -- index ---------------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        """Where the SQLite index lives: ``<root>/index.sqlite``."""
        return self.root / INDEX_NAME

    def _connect(self) -> sqlite3.Connection:
        writable = self.root.is_dir() and os.access(self.root, os.W_OK)
        if not writable:
            return self._open(":memory:")
        for attempt in range(_BUSY_TRIES):
            try:
                return self._open(str(self.index_path))
            except sqlite3.DatabaseError as exc:
                if _busy(exc):  # another process holds it: wait, never treat that as damage
                    time.sleep(_backoff(attempt))
                    continue
                # A damaged index is only a cache: move it aside (processes that have it open keep their
                # handle) and start again from the files.
                self._set_aside_damaged_index()
        raise InputError(f"{self.index_path}: the index stayed locked by another process for "
                         f"{sum(_backoff(a) for a in range(_BUSY_TRIES)):.0f} s")

    def _set_aside_damaged_index(self) -> None:
        try:
            os.replace(self.index_path, self.index_path.with_name(f"{INDEX_NAME}.damaged-{os.getpid()}"))
        except FileNotFoundError:
            pass  # another process moved it first
        for suffix in ("-wal", "-shm"):
            try:
                os.unlink(str(self.index_path) + suffix)
            except FileNotFoundError:
                pass

    @staticmethod
    def _open(target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=_LOCK_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_LOCK_TIMEOUT_S * 1000)}")
            if target != ":memory:":
                # WAL: readers never block the writer nor the writer them; the mode is kept in the file.
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            if conn.execute("PRAGMA user_version").fetchone()[0] != _INDEX_VERSION:
                # One process at a time checks the version and rebuilds, inside one transaction.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("PRAGMA user_version").fetchone()[0] != _INDEX_VERSION:
                        conn.execute("DROP TABLE IF EXISTS files")
                        conn.execute("DROP TABLE IF EXISTS records")
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {_INDEX_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _parse(self, rel: str) -> tuple:
        """(record id, note, index row) of one file, read outside any lock; note says why it is skipped."""
        path = self.root / rel
        try:
            if not _looks_like_record(path):
                return None, None, None
            obj = read_json(path)
            note = _classify(obj, path)
        except InputError as exc:  # a damaged record: said once, skipped, the rest of the store stays readable
            return None, f"{DAMAGED}{str(exc).removeprefix(str(path) + ': ')}", None
        if note is not None:
            return None, note, None
        rid = record_id(obj)
        row = (rid, obj["kind"], obj.get("created"), machine_id(obj.get("env") or {})[0],
               (obj.get("options") or {}).get("model"), json.dumps(obj))
        return rid, None, row

    def _refresh(self, conn: sqlite3.Connection) -> int:
        """Bring the index in line with the files; returns how many files were (re)read.

        Files are parsed before the write lock is taken, and the lock is held only to write the rows, so other
        processes reading or adding records wait milliseconds, not the time of parsing.
        """
        on_disk = {}
        if self.root.is_dir():
            for path in _scan(self.root):
                try:
                    st = path.stat()
                except OSError:  # deleted between the scan and now
                    continue
                on_disk[path.relative_to(self.root).as_posix()] = (st.st_mtime_ns, st.st_size)
        indexed = {p: (m, s) for p, m, s in conn.execute("SELECT path, mtime_ns, size FROM files")}
        gone = [p for p in indexed if p not in on_disk]
        changed = [p for p, stamp in on_disk.items() if indexed.get(p) != stamp]
        parsed = {rel: self._parse(rel) for rel in changed}
        if gone or changed:
            for attempt in range(_BUSY_TRIES):
                try:
                    self._write_rows(conn, on_disk, gone, parsed)
                    break
                except sqlite3.OperationalError as exc:
                    if not _busy(exc) or attempt == _BUSY_TRIES - 1:
                        raise
                    time.sleep(_backoff(attempt))
        # Other JSON files (keypoint results that `kbench eval --model` writes beside its record) belong in a
        # runs folder and pass in silence; files that claim the record schema but cannot be read are worth a word.
        notes = conn.execute("SELECT path, note FROM files WHERE note IS NOT NULL ORDER BY path").fetchall()
        self._skipped = [f"{p}: {note}" for p, note in notes if not note.startswith(DAMAGED)]
        self._damaged = [(str(self.root / p), note.removeprefix(DAMAGED)) for p, note in notes
                         if note.startswith(DAMAGED)]
        return len(changed) + len(gone)

    @staticmethod
    def _write_rows(conn, on_disk: dict, gone: list, parsed: dict) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
            for rel, (rid, note, row) in parsed.items():
                if row is not None:
                    conn.execute("INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?)", row)
                mtime, size = on_disk[rel]
                conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", (rel, mtime, size, rid, note))
            conn.execute("DELETE FROM records WHERE record_id NOT IN "
                         "(SELECT record_id FROM files WHERE record_id IS NOT NULL)")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def refresh(self) -> int:
        """Update the index from the files (new, changed, deleted); returns how many files changed.

        Every read calls this first, so it is needed only to pay the cost up front.
        """
        with _closing(self._connect()) as conn:
            return self._refresh(conn)

    def reindex(self) -> int:
        """Rebuild the index from the files alone; returns the number of records indexed."""
        with _closing(self._connect()) as conn:
            conn.executescript("DELETE FROM files; DELETE FROM records;")
            self._refresh(conn)
            return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    # -- reading -------------------------------------------------------------------------------------
    def records(self) -> list[dict]:
        """Every record in the store, oldest first, each with ``"_path"`` (its file; the first, if copied twice).

        Other JSON files (keypoint results written beside eval records) are ignored; files that name a kbench
        record schema this version cannot read (``kbench.record/2``) are skipped with one
        :class:`RecordsSkippedWarning`.
        """
        with _closing(self._connect()) as conn:
            self._refresh(conn)
            rows = conn.execute(
                "SELECT r.json, MIN(f.path) AS path FROM records r JOIN files f ON f.record_id = r.record_id "
                "GROUP BY r.record_id ORDER BY r.created, path").fetchall()
        if self._skipped:
            warnings.warn(f"{self.root}: skipped {len(self._skipped)} file(s) with a kbench record schema this "
                          f"kbench cannot read (e.g. {self._skipped[0]})", RecordsSkippedWarning, stacklevel=2)
        for path, why in self._damaged:
            warnings.warn(f"{path}: damaged record skipped ({why})", RecordsSkippedWarning, stacklevel=2)
        out = []
        for text, rel in rows:
            rec = json.loads(text)
            rec["_path"] = str(self.root / rel)
            out.append(rec)
        return out

    def check(self) -> list[tuple[str, str]]:
        """Every record file the store cannot read, with why: (path, reason), sorted by path."""
        with _closing(self._connect()) as conn:
            self._refresh(conn)
        return list(self._damaged) + [(line.split(": ", 1)[0], line.split(": ", 1)[1]) for line in self._skipped]

    def frame(self, filters: Iterable[str] = (), kind: str | None = None):
        """The store as a DataFrame (columns: :mod:`kbench.results.frame`), filtered.

        Args:
            filters: expressions as :mod:`kbench.results.query` reads them (``"model=tinypose_*"``, ``"m.AP>0.5"``).
            kind: keep only records of this kind (``eval``, ``latency``, ``profile``).

        Returns:
            The matching rows, oldest first.
        """
        from kbench.results.query import apply_filters

        df = records_frame(self.records())
        filters = list(filters)
        if kind:
            filters.insert(0, f"kind={kind}")
        return apply_filters(df, filters).reset_index(drop=True) if filters else df

    def __len__(self) -> int:
        """How many distinct records the store holds (after bringing the index up to date)."""
        with _closing(self._connect()) as conn:
            self._refresh(conn)
            return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    # -- writing -------------------------------------------------------------------------------------
    def find_cell(self, cell_id: str) -> list[dict]:
        """The records measured from a spec with this :attr:`kbench.specs.Spec.cell_id` (``options.cell_id``)."""
        return [r for r in self.records() if (r.get("options") or {}).get("cell_id") == cell_id]

    def add(self, sources) -> AddResult:
        """Copy records into the store, one folder per machine; idempotent.

        Args:
            sources: record files and/or directories (searched as :func:`kbench.results.frame.load_records`
                searches them: non-record JSON files there are skipped with a warning), or run records as
                :func:`kbench.run` returns them (one, or an iterable mixing records and paths).

        Returns:
            Which files were written and how many records the store already held (same record id:
            copying the same measurement again, from any path or machine, changes nothing).

        Raises:
            InputError: a source is missing or holds a malformed record (nothing is added then).
        """
        if isinstance(sources, dict):
            sources = [sources]
        elif isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        sources = list(sources)
        in_memory = [dict(s) for s in sources if isinstance(s, dict)]
        for rec in in_memory:
            if not (str(rec.get("schema", "")).startswith("kbench.record/") and rec.get("kind")
                    and isinstance(rec.get("metrics"), dict)):
                raise InputError("not a kbench run record: a dict without the kbench.record schema, kind and metrics")
        paths = [s for s in sources if not isinstance(s, dict)]
        records = (load_records(paths) if paths else []) + in_memory  # validates everything before the first write
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.root}: cannot create the store ({exc.strerror or exc})") from None
        if not os.access(self.root, os.W_OK):
            raise InputError(f"{self.root}: the store is not writable")
        result = AddResult()
        with _closing(self._connect()) as conn:
            self._refresh(conn)
            known = {rid for (rid,) in conn.execute("SELECT record_id FROM records")}
        for rec in records:
            rid = record_id(rec)
            if rid in known:
                result.present += 1
                continue
            folder = self.root / machine_id(rec.get("env") or {})[0]
            if "_path" in rec:
                source = Path(rec["_path"])
                name = source.name
            else:
                source, name = None, f"{str(rec.get('created', '')).replace(':', '').replace('-', '')[:15]}Z-" \
                                     f"{rec.get('kind')}-{rid[:8]}.json"
            # A file is copied byte for byte (its record id stays the same); a record in memory is written as JSON.
            data = source.read_bytes() if source is not None else \
                (json.dumps(rec, indent=2, allow_nan=True) + "\n").encode("utf-8")
            target = _create_exclusive(folder, name, data, rid)
            known.add(rid)
            if target is None:  # another process wrote the same record at the same moment
                result.present += 1
            else:
                result.added.append(target)
        # The index takes the new files on its next read: no second scan here (many processes add at once).
        return result

