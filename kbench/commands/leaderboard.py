"""``kbench leaderboard build|serve``: write the static leaderboard site, or serve one on localhost."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run"]


def _build(args) -> int:
    from kbench.leaderboard.build import build_site, check_target
    from kbench.results.sources import load_sources

    check_target(Path(args.out))  # before reading a store of thousands of records
    records, sources = load_sources(args.records, args.store, args.filters)
    out = build_site(records, args.out, title=args.title, sources=sources)
    models = sum(1 for _ in (out / "models").glob("*.html")) if (out / "models").is_dir() else 0
    print(f"site: {out} ({len(records)} records, {models} model pages); open {out / 'index.html'} or run: "
          f"kbench leaderboard serve --dir {out}")
    return 0


def run(args, parser) -> int:
    """Dispatch ``kbench leaderboard build`` / ``serve``."""
    if args.leaderboard_command == "build":
        return _build(args)
    from kbench.leaderboard.serve import serve

    return serve(args.dir, args.port, args.host)
