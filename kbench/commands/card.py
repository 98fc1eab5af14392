"""``kbench card import`` and the ``-c CONFIG.yml -o key=value`` form of ``eval`` and ``profile``."""

from __future__ import annotations

from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "apply_config"]


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


def apply_config(args, use_weights: bool) -> None:
    """``-c CONFIG.yml [-o ...]``: import the config into a cached card and point ``args.model`` at it.

    With ``use_weights``, the config's ``weights`` (after ``-o``) becomes ``--weights`` when that was left at its
    default, as PaddleDetection's eval loads ``weights`` (``.pdparams`` appended when missing, as ppdet does).
    """
    config, opts = getattr(args, "config", None), getattr(args, "opt", None)
    if not config:
        if opts:
            raise InputError("-o overrides a PaddleDetection config: give it with -c CONFIG.yml")
        return
    if getattr(args, "model", None):
        raise InputError("-c CONFIG.yml names the model: do not give --model as well")
    from kbench.card_import import cached_card_for_config

    path, imported = cached_card_for_config(config, opts)
    args.model = str(path)
    weights = imported.weights
    if use_weights and weights and args.weights == args.default_weights:
        if "://" not in weights and not weights.endswith(".pdparams"):
            weights += ".pdparams"
        args.weights = weights
