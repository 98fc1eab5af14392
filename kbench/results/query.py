"""Filters over the records frame, written as on the command line: ``model=tinypose_*``, ``m.AP>0.5``.

Grammar: ``COLUMN OP VALUE`` with

* ``=`` (or ``==``) and ``!=``: equal / not equal. A value with ``*``, ``?`` or ``[`` is a glob
  (``model=lite_hrnet_*``); commas separate alternatives (``backend=onnxruntime,paddle``); ``none``
  (or an empty value) matches a missing value (``model=none``: ``kbench eval --predictions`` records).
  Text compares case-insensitively; numeric columns compare as numbers (``batch=1``).
* ``>``, ``>=``, ``<``, ``<=``: numeric columns, or ``created`` against a date (``created>=2026-11-01``).

``COLUMN`` is any column of :func:`kbench.results.frame.records_frame`; a metric may be named without
its ``m.`` prefix when no other column has that name (``AP>0.5`` means ``m.AP>0.5``). A metric column
that no record has matches nothing rather than failing, since metrics differ by record kind; any other
unknown column is an error naming the columns there are.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kbench.errors import InputError
from kbench.results.frame import METRIC_PREFIX

__all__ = ["Filter", "parse_filter", "apply_filters"]

_FILTER_RE = re.compile(r"^\s*([^=!<>\s]+)\s*(==|!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_NONE = ("", "none", "null")


@dataclass(frozen=True)
class Filter:
    """One parsed filter: ``column`` ``op`` ``value`` (``op`` one of ``= != > >= < <=``)."""

    column: str
    op: str
    value: str

    def __str__(self) -> str:
        """The filter as it would be typed: ``m.AP>0.5``."""
        return f"{self.column}{self.op}{self.value}"


def parse_filter(text: str) -> Filter:
    """Parse ``key=value``, ``key!=value``, ``m.AP>0.5``, ... into a :class:`Filter`.

    Args:
        text: one filter expression.

    Returns:
        The filter (``==`` normalised to ``=``).

    Raises:
        InputError: the text is not ``COLUMN OP VALUE``.
    """
    match = _FILTER_RE.match(text)
    if not match:
        raise InputError(f"filter {text!r}: expected COLUMN=VALUE, COLUMN!=VALUE or COLUMN>NUMBER "
                         f"(e.g. model=tinypose_*, backend=onnxruntime, m.AP>0.5)")
    column, op, value = match.groups()
    return Filter(column, "=" if op == "==" else op, value)


def _resolve_column(df, column: str) -> str | None:
    if column in df.columns:
        return column
    if METRIC_PREFIX + column in df.columns:
        return METRIC_PREFIX + column
    if column.startswith(METRIC_PREFIX):
        return None  # a metric no loaded record has: matches nothing
    names = ", ".join(c for c in df.columns if not c.startswith(METRIC_PREFIX))
    raise InputError(f"filter on unknown column {column!r}; columns: {names}, and m.<metric>")


def _text(value) -> str | None:
    # One text form per value for = and globs: booleans as true/false, timestamps in ISO form, lowercase.
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):  # None, NaN, NaT, pd.NA
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).lower()


def _is_numeric(series) -> bool:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _number(flt: Filter, alt: str) -> float:
    try:
        return float(alt)
    except ValueError:
        raise InputError(f"filter {flt}: {flt.column} holds numbers, {alt!r} is not one") from None


def _mask(df, flt: Filter):
    import pandas as pd

    column = _resolve_column(df, flt.column)
    if column is None:
        return pd.Series(False, index=df.index)
    series = df[column]
    if flt.op in ("=", "!="):
        mask = pd.Series(False, index=df.index)
        texts = None
        for alt in flt.value.split(","):
            alt = alt.strip()
            if alt.lower() in _NONE:
                mask |= series.isna()
            elif _is_numeric(series) and not any(ch in alt for ch in "*?["):
                mask |= (series.astype("float64") == _number(flt, alt)).fillna(False).astype(bool)
            else:
                if texts is None:  # a plain list: Series.map would turn None back into NaN
                    texts = [_text(v) for v in series.tolist()]
                pattern = alt.lower()
                if any(ch in pattern for ch in "*?["):
                    hits = [t is not None and fnmatch.fnmatchcase(t, pattern) for t in texts]
                else:
                    hits = [t == pattern for t in texts]
                mask |= pd.Series(hits, index=df.index, dtype=bool)
        return ~mask if flt.op == "!=" else mask
    if column == "created":
        try:
            bound = pd.Timestamp(flt.value)
        except ValueError:
            raise InputError(f"filter {flt}: {flt.value!r} is not a date (e.g. 2026-11-01)") from None
        bound = bound.tz_localize("UTC") if bound.tzinfo is None else bound.tz_convert("UTC")
        values = series
    elif _is_numeric(series):
        bound, values = _number(flt, flt.value), series.astype("float64")
    else:
        raise InputError(f"filter {flt}: {column} holds text; use = or != (globs allowed)")
    ops = {">": values > bound, ">=": values >= bound, "<": values < bound, "<=": values <= bound}
    return ops[flt.op].fillna(False).astype(bool)


def apply_filters(df, filters: Iterable[str | Filter]):
    """Rows of ``df`` that pass every filter (all must hold).

    Args:
        df: a frame from :func:`kbench.results.frame.records_frame`.
        filters: expressions (``"model=tinypose_*"``) or parsed :class:`Filter` objects.

    Returns:
        The matching rows (a new frame; the index is kept).

    Raises:
        InputError: a malformed filter, an unknown column, a non-number compared with ``>``.
    """
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    for flt in filters:
        mask &= _mask(df, flt if isinstance(flt, Filter) else parse_filter(flt))
    return df[mask]
