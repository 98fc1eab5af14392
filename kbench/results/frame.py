"""Run records as a pandas DataFrame: the column contract that the store, the gate and the reports share.

Two functions::

    from kbench.results.frame import load_records, records_frame

    records = load_records(["kbench-runs", "ci-artifacts/linux-gpu/"])   # files and/or directories
    df = records_frame(records)                                        # one row per record
    df[(df.kind == "eval") & (df.model == "tinypose_128x96")][["machine", "backend", "m.AP"]]

:func:`load_records` reads record files (directories recursively: every ``*.json`` whose ``schema``
is ``kbench.record/1``) and returns the parsed records, each annotated with ``"_path"``.
:func:`records_frame` flattens them into the columns below, in this order (``None``/``NaN`` where a
record does not have the value):

=================  ================================================================================
column             meaning
=================  ================================================================================
``record_id``      16 hex digits: sha256 of the record's canonical JSON (sorted keys, no ``_*``
                   annotations). The same measurement has the same id wherever its file lies.
``path``           the file the record was read from (``None`` for records built in memory)
``kind``           ``eval``, ``latency``, ``profile``
``created``        UTC time the record was written (a pandas UTC datetime)
``machine``        stable machine id, readable: ``<hostname>-<8 hex>``, the hash over hostname, CPU
                   model and GPU names; records from several machines never share one
``machine_label``  ``hostname: CPU model, N CPUs; GPU names`` for tables and reports
``hostname``       ``env.hostname``
``cpu``            ``env.cpu`` (CPU model name)
``gpu``            GPU name(s) from ``env`` (``gpu``/``gpus``/``gpu_name``; several joined by ``, ``)
``git_commit``     ``env.git_commit``: short hash, ``-dirty`` when the tree had local changes
``model``          ``options.model`` (zoo card name); ``None`` for ``kbench eval --predictions``
``backend``        ``options.backend`` (``runtime`` accepted): ``paddle``, ``onnxruntime``, ...
``device``         ``options.device``: ``cpu``, ``gpu``, ...
``precision``      ``options.precision``: ``fp32``, ``fp16``
``batch``          ``options.batch`` (int)
``threads``        ``options.threads`` (int)
``scope``          ``options.scope``: latency of the ``model`` alone or the whole ``pipeline``
``bbox``           ``options.bbox``: person boxes from ``gt`` or a ``detector`` (eval with a model)
``flip``           ``options.flip`` (bool): flip-test averaging
``input_size``     ``options.input_size`` as ``WxH`` (profile and latency records)
``weights``        ``options.weights``: ``random-seed0``, ``sha256:<12 hex>`` of a checkpoint, or as given
                   (``zoo``, a path)
``limit``          ``options.limit``: evaluation on the first N images only
``evaluator``      ``options.evaluator``: ``coco_keypoints``, ``mpii_pckh``
``dataset``        ``options.dataset`` (``coco``, ``mpii``) qualified by the data read, from ``inputs``:
                   ``sample-<images>-seed<seed>`` for a built-in sample, else the annotation file's
                   name: ``coco/person_keypoints_val2017.json``; either part alone when only it is known
``m.<metric>``     one float column per metric name seen, in first-seen order: ``m.AP``, ``m.PCKh``,
                   ``m.median_ms``, ``m.params``, ... (metric values as the record holds them: COCO
                   0-1, MPII percent, times in ms)
=================  ================================================================================

Row ``i`` of the frame is ``records[i]``, so the full record (inputs, every option, library versions)
stays one index away. :data:`CONFIG_COLUMNS` names the columns that identify a measured configuration
(what the gate pairs baseline and current records by).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kbench._fileio import read_json
from kbench.bench.records import SCHEMA
from kbench.errors import InputError

__all__ = [
    "load_records",
    "records_frame",
    "record_id",
    "machine_id",
    "record_row",
    "read_record",
    "RecordsSkippedWarning",
    "OPTION_COLUMNS",
    "CONFIG_COLUMNS",
    "BASE_COLUMNS",
    "METRIC_PREFIX",
]

METRIC_PREFIX = "m."

# Column -> the option keys it is read from, first present wins. The one place that maps record options
# to columns: a new option that identifies a configuration is one line here (and, if the gate must pair by
# it, one entry in CONFIG_COLUMNS; a value that needs converting, one entry in _CONVERTERS below).
OPTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "backend": ("backend", "runtime"),
    "device": ("device",),
    "precision": ("precision",),
    "batch": ("batch",),
    "threads": ("threads",),
    "scope": ("scope",),
    "bbox": ("bbox",),
    "flip": ("flip",),
    "input_size": ("input_size",),
    "weights": ("weights",),
    "limit": ("limit",),
    "evaluator": ("evaluator",),
}

_ENV_COLUMNS = ("record_id", "path", "kind", "created", "machine", "machine_label", "hostname", "cpu", "gpu",
                "git_commit")

#: Every non-metric column, in frame order.
BASE_COLUMNS: tuple[str, ...] = (*_ENV_COLUMNS, *OPTION_COLUMNS, "dataset")

#: The columns that together say *what* was measured (not where or when): records agreeing on all of
#: them measure the same thing, so their metrics are comparable.
CONFIG_COLUMNS: tuple[str, ...] = ("kind", "model", "backend", "device", "precision", "batch", "threads", "scope",
                                   "bbox", "flip", "input_size", "weights", "limit", "evaluator", "dataset")

# Directory scans read a file whole only below this size; a bigger JSON (a predictions file beside the
# records) is recognised as "not a record" from its first bytes, kbench writes "schema" first.
_FULL_READ_LIMIT = 8 << 20
_HEAD_BYTES = 64 << 10


class RecordsSkippedWarning(UserWarning):
    """Some ``*.json`` files under a scanned directory were not kbench run records and were skipped."""


def record_id(record: dict) -> str:
    """Stable id of a record: sha256 of its canonical JSON (sorted keys, ``_*`` annotations left out), 16 hex.

    Args:
        record: a parsed run record.

    Returns:
        16 lowercase hex digits; equal for equal content, whatever the file's name, place or formatting.
    """
    clean = {k: v for k, v in record.items() if not str(k).startswith("_")}
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _gpu_names(env: dict) -> str | None:
    # GPU fields are being added to env; accept a name, a {"name": ...} object, or a list of either.
    for key in ("gpu", "gpus", "gpu_name", "gpu_names"):
        value = env.get(key)
        if not value:
            continue
        items = value if isinstance(value, list) else [value]
        names = []
        for item in items:
            if isinstance(item, dict):
                item = item.get("name") or item.get("model")
            if item:
                names.append(str(item))
        if names:
            return ", ".join(names)
    return None


def machine_id(env: dict) -> tuple[str, str]:
    """The machine a record was measured on, from its ``env``.

    Args:
        env: the record's ``env`` object.

    Returns:
        ``(machine, label)``: ``machine`` is ``<hostname>-<8 hex>``, the hash over hostname, CPU model and
        GPU names (stable across runs, distinct across machines that share a hostname but not hardware);
        ``label`` is ``"hostname: CPU model, N CPUs; GPU"`` for display.
    """
    host = str(env.get("hostname") or "unknown")
    cpu = str(env.get("cpu") or "")
    gpu = _gpu_names(env) or ""
    digest = hashlib.sha256("\x1f".join((host, cpu, gpu)).encode("utf-8")).hexdigest()[:8]
    label = host
    details = ", ".join(x for x in (cpu, f"{env['cpu_count']} CPUs" if env.get("cpu_count") else "") if x)
    if details:
        label += f": {details}"
    if gpu:
        label += f"; {gpu}"
    return f"{host}-{digest}", label


def _scalar(value: Any) -> Any:
    # Columns must hold hashable scalars so that rows can be grouped and paired.
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return f"{value[0]}x{value[1]}"
        return json.dumps(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _weights(value: Any) -> Any:
    # A checkpoint is named by what it is, not where it lies: random weights by seed, files by sha256.
    if isinstance(value, dict):
        if value.get("random"):
            return "random" if value.get("seed") is None else f"random-seed{value['seed']}"
        if value.get("sha256"):
            return f"sha256:{str(value['sha256'])[:12]}"
        return _scalar(value.get("spec") or value.get("source"))
    return _scalar(value)  # hashable, as every column


# Columns whose option values need more than _scalar (which makes lists "WxH" or JSON text).
_CONVERTERS = {"weights": _weights}


def _dataset(options: dict, inputs: dict) -> str | None:
    # The data set's name (options.dataset: "coco", "mpii") qualified by the data actually read, so that a
    # synthetic sample, a subset and the full validation set never pass for one another.
    base = str(options["dataset"]) if options.get("dataset") else None
    detail = None
    sample = inputs.get("sample")
    if isinstance(sample, dict):
        detail = f"sample-{sample.get('images')}-seed{sample.get('seed')}"
        if sample.get("version") is not None:
            detail += f"-v{sample['version']}"
    else:
        for key in ("ann", "annotations", "gt"):
            item = inputs.get(key)
            if isinstance(item, dict) and item.get("path"):
                detail = Path(str(item["path"])).name
                break
    if base and detail:
        return f"{base}/{detail}"
    return base or detail


def record_row(record: dict) -> dict:
    """One record flattened to the frame's columns (a plain dict; metrics under ``m.<name>``).

    Args:
        record: a parsed run record (``"_path"``, if present, fills ``path``).

    Returns:
        A dict with every :data:`BASE_COLUMNS` key plus one ``m.<name>`` key per metric of this record.
    """
    env = record.get("env") or {}
    options = record.get("options") or {}
    inputs = record.get("inputs") or {}
    machine, label = machine_id(env)
    row: dict[str, Any] = {
        "record_id": record_id(record),
        "path": record.get("_path"),
        "kind": record.get("kind"),
        "created": record.get("created"),
        "machine": machine,
        "machine_label": label,
        "hostname": env.get("hostname"),
        "cpu": env.get("cpu"),
        "gpu": _gpu_names(env),
        "git_commit": env.get("git_commit"),
    }
    for column, keys in OPTION_COLUMNS.items():
        convert = _CONVERTERS.get(column, _scalar)
        row[column] = next((convert(options[k]) for k in keys if options.get(k) is not None), None)
    row["dataset"] = _dataset(options, inputs)
    for name, value in (record.get("metrics") or {}).items():
        row[METRIC_PREFIX + str(name)] = float("nan") if value is None else float(value)
    return row


def records_frame(records: Iterable[dict]):
    """One pandas DataFrame row per record; see the module docstring for every column.

    Args:
        records: parsed run records, e.g. from :func:`load_records` or :meth:`ResultStore.records`.

    Returns:
        A DataFrame with :data:`BASE_COLUMNS` then ``m.<metric>`` columns in first-seen order; an empty
        input gives an empty frame with the base columns. ``batch``/``threads`` are nullable integers,
        ``created`` is a UTC datetime, metric columns are float64 (NaN where a record lacks the metric).
    """
    import pandas as pd

    rows = [record_row(r) for r in records]
    metric_cols: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith(METRIC_PREFIX):
                metric_cols.setdefault(key, None)
    columns = [*BASE_COLUMNS, *metric_cols]
    df = pd.DataFrame(rows, columns=columns)
    df["created"] = pd.to_datetime(df["created"], utc=True, errors="coerce", format="ISO8601")
    for col in ("batch", "threads"):
        numeric = pd.to_numeric(df[col], errors="coerce")
        if numeric.notna().sum() == df[col].notna().sum():  # all present values are numbers
            df[col] = numeric.astype("Int64")
    for col in metric_cols:
        df[col] = df[col].astype("float64")
    return df


#: Options that name a configuration: text (or null) in every record kbench writes.
_TEXT_OPTIONS = ("model", "backend", "device", "precision", "scope", "bbox", "evaluator")


def _classify(obj: Any, path: Path) -> str | None:
    """None when ``obj`` is a usable record; otherwise why it is skipped. Raises on a broken kbench record."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    schema = obj.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("kbench.record/"):
            return f"schema {schema} is not supported (this kbench reads {SCHEMA})"
        return "no kbench.record schema"
    if not isinstance(obj.get("kind"), str):
        raise InputError(f"{path}: malformed kbench run record: 'kind' must be a string")
    if not isinstance(obj.get("metrics"), dict):
        raise InputError(f"{path}: malformed kbench run record: 'metrics' must be an object")
    for key in ("options", "inputs", "env"):
        if obj.get(key) is not None and not isinstance(obj[key], dict):
            raise InputError(f"{path}: malformed kbench run record: '{key}' must be an object")
    for name, value in obj["metrics"].items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"{path}: malformed kbench run record: metric {name!r} is {value!r}, not a number")
    options = obj.get("options") or {}
    for key in _TEXT_OPTIONS:  # the reports and the gate label and pair configurations by these
        if options.get(key) is not None and not isinstance(options[key], str):
            raise InputError(f"{path}: malformed kbench run record: option {key!r} is {options[key]!r}, not a text")
    return None


def _looks_like_record(path: Path) -> bool:
    # Cheap pre-check for directory scans: a record names its schema; anything else is not parsed at all.
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(size if size <= _FULL_READ_LIMIT else _HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return b"kbench.record/" in head


def read_record(path: str | os.PathLike, *, strict: bool = True) -> dict | None:
    """Read one record file.

    Args:
        path: the file.
        strict: True: a file that is not a kbench run record raises InputError. False: it returns None.

    Returns:
        The record with ``"_path"`` set to ``str(path)``, or None (``strict=False``, not a record).

    Raises:
        InputError: unreadable file or invalid JSON (always), a record with the kbench schema but malformed
            fields (always), a JSON file that is not a record (``strict`` only).
    """
    p = Path(path)
    obj = read_json(p)
    why = _classify(obj, p)
    if why is not None:
        if strict:
            raise InputError(f"{p}: not a kbench run record ({why})")
        return None
    obj["_path"] = str(p)
    return obj


def _unreadable(exc: OSError):
    # os.walk would pass over a folder it cannot list in silence, and its records would be missing from the results
    raise InputError(f"{exc.filename}: cannot read this folder ({exc.strerror or exc})")


def _scan(directory: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(directory, onerror=_unreadable):
        # Hidden directories (.git, .venv) are never record stores; sorted for a stable order.
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".json") and not f.startswith("."))
    return found


def load_records(sources: str | os.PathLike | Iterable[str | os.PathLike], *, dedupe: bool = True) -> list[dict]:
    """Read run records from files and directories.

    Args:
        sources: a path or several. A file must be a kbench run record. A directory is searched
            recursively (hidden folders skipped) for ``*.json``; files there that are not
            ``kbench.record/1`` records are skipped, and one :class:`RecordsSkippedWarning` says how many.
        dedupe: keep one record per :func:`record_id` (the first found), so the same measurement copied
            into two places counts once.

    Returns:
        The records in the order found (sources in order, directory contents sorted by path); each is
        the parsed JSON object plus ``"_path"``, the file it came from. Keys starting with ``_`` are
        annotations: :func:`record_id` ignores them.

    Raises:
        InputError: a source does not exist; a file holds invalid JSON or a malformed kbench record; a
            file named directly is not a run record.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    records: list[dict] = []
    seen_files: set[Path] = set()
    seen_ids: set[str] = set()
    skipped: list[tuple[Path, str]] = []

    def _take(rec: dict) -> None:
        if dedupe:
            rid = record_id(rec)
            if rid in seen_ids:
                return
            seen_ids.add(rid)
        records.append(rec)

    for source in sources:
        src = Path(source)
        if not src.exists():
            raise InputError(f"{src}: no such file or directory")
        if src.is_dir():
            for path in _scan(src):
                key = path.resolve()
                if key in seen_files:
                    continue
                seen_files.add(key)
                if not _looks_like_record(path):
                    skipped.append((path, "no kbench.record schema"))
                    continue
                obj = read_json(path)
                why = _classify(obj, path)
                if why is not None:
                    skipped.append((path, why))
                    continue
                obj["_path"] = str(path)
                _take(obj)
        else:
            key = src.resolve()
            if key in seen_files:
                continue
            seen_files.add(key)
            _take(read_record(src, strict=True))
    if skipped:
        first, why = skipped[0]
        warnings.warn(f"skipped {len(skipped)} JSON file(s) that are not kbench run records (e.g. {first}: {why})",
                      RecordsSkippedWarning, stacklevel=2)
    return records
