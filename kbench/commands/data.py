"""``kbench data``: fetch data sets and list them (flags -> :mod:`kbench.runners.data` -> printed lines)."""

from __future__ import annotations

import json
import sys

__all__ = ["run", "verification_text"]


def verification_text(source: dict) -> str:
    """How one downloaded file was checked, in words, with the sha256 when it is what was recorded."""
    what = source.get("verification") or "not verified"
    if source.get("published") == "md5":
        origin = f", {source['checksum_source']}" if source.get("checksum_source") else ""
        return f"md5 {source.get('md5')} matched (published{origin})"
    if source.get("published") == "sha256":
        return f"sha256 {source.get('sha256')} matched (published)"
    if what.startswith("matched"):
        return f"sha256 {source.get('sha256')} matched the one recorded at its first download (none is published)"
    return f"sha256 {source.get('sha256')} recorded at first download (no checksum is published)"


def _size(n) -> str:
    from kbench.datasets.registry import human_size

    return "-" if n is None else human_size(n)


def _fetch(args) -> int:
    from kbench.runners.data import fetch_datasets

    log = None if args.no_progress else (lambda line: print(f"kbench: {line}", file=sys.stderr))
    reports = fetch_datasets(args.names, progress=not args.no_progress, log=log)
    if args.json:
        print(json.dumps([{"name": r.name, "root": str(r.root), "already": r.already, "files": r.files,
                           "bytes": r.bytes, "sources": r.sources} for r in reports], indent=2))
        return 0
    for r in reports:
        state = "already present" if r.already else "installed"
        print(f"{r.name}: {state} at {r.root} ({r.files} files, {_size(r.bytes)})")
        for source in r.sources:
            print(f"  {source.get('file')}: {verification_text(source)}")
    return 0


def _list(args) -> int:
    from kbench.runners.data import list_datasets

    rows = list_datasets()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<18} {'state':<11} {'size':>11}  verification / how to get it")
    for row in rows:
        if row["state"] in ("present", "changed"):
            size = _size(row["bytes"])
            checks = "; ".join(f"{s.get('file')}: {verification_text(s)}" for s in row["sources"])
            detail = checks + ("" if row["state"] == "present" else
                               f" (files changed since: `kbench data fetch {row['name']}` installs it again)")
        elif row["state"] == "partial":
            size = _size(row["bytes"])
            detail = f"partial download ({row['download']} in all): `kbench data fetch {row['name']}` resumes it"
        elif row["state"] == "downloaded":
            size = "-"
            detail = f"downloaded, not installed: `kbench data fetch {row['name']}` installs it"
        else:
            size = "-"
            detail = f"`kbench data fetch {row['name']}` ({row['download']})"
        print(f"{row['name']:<18} {row['state']:<11} {size:>11}  {detail}")
        if row["state"] != "absent":
            print(f"{'':<18} {'':<11} {'':>11}  {row['path']}")
        for aside in row["kept_aside"]:
            print(f"{'':<18} {'':<11} {'':>11}  kept aside, not used: {aside}")
    return 0


def run(args, parser) -> int:
    """Run ``kbench data fetch`` or ``kbench data list``."""
    return _fetch(args) if args.data_command == "fetch" else _list(args)
