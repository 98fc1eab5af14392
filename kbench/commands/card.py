"""``kbench card import`` and the ``-c CONFIG.yml -o key=value`` form of ``eval`` and ``profile``."""

from __future__ import annotations

from pathlib import Path

from kbench.errors import InputError

__all__ = ["run"]


def _kept_line(kept: list) -> str:
    if not kept:
        return "every config key is in the card"
    return f"kept under config_extra ({len(kept)} config keys kbench does not use): {', '.join(kept)}"


def run(args, parser) -> int:
    """Import a config into a card file."""
    from kbench.card_import import import_config, write_card

    config = Path(args.config)
    out = Path(args.out) if args.out else Path("kbench-cards") / f"{config.stem}.yml"
    if out.suffix not in (".yml", ".yaml"):
        raise InputError(f"--out {out}: a card is a .yml file")
    if out.exists() and out.resolve() == config.resolve():
        raise InputError(f"{out}: that is the config itself; give --out CARD.yml")
    if out.exists() and not args.force:
        raise InputError(f"{out} exists; pass --force to replace it")
    imported = import_config(config, args.opt, name=out.stem)
    path = write_card(imported.data, out)
    d = imported.data
    bb = d["backbone"]
    flip = "flip test with " + f"{len(d['flip_perm'])} pairs" if d["eval"]["flip"] else "no flip (flip_perm: [])"
    print(f"wrote {path}: {d['architecture']} + {bb['type']} {bb['network_type'] or bb['width']}, "
          f"{d['num_joints']} joints, input {d['input_size'][0]}x{d['input_size'][1]}, {flip}, metric {d['metric']}")
    print(_kept_line(imported.kept))
    return 0
