"""``kbench zoo``: the model cards of PaddleDetection's keypoint zoo, as a table or one card in full."""

from __future__ import annotations

import json

from kbench.errors import InputError

__all__ = ["run", "format_table", "format_card"]

_COLUMNS = ("name", "architecture", "paradigm", "input HxW", "dataset", "published", "params M", "GFLOPs")
_FOOTNOTE = ("published: AP = COCO val2017 keypoint AP (top-down models on ground-truth boxes), PCKh = MPII val "
             "PCKh@0.5;\nfigures as PaddleDetection's configs/keypoint/README.md gives them, - = not published there "
             "(`kbench zoo show NAME` has the rest).")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _row(card) -> tuple[str, ...]:
    headline = card.headline
    width, height = card.input_size
    return (card.name, card.architecture, card.paradigm.replace("_", "-"), f"{height}x{width}", card.dataset,
            "-" if headline is None else f"{headline[0]} {headline[1]:.1f}", _number(card.published.params_m),
            _number(card.published.gflops))


def format_table(cards) -> str:
    """The cards as an aligned text table, one row per model.

    Args:
        cards: :class:`kbench.cards.ModelCard` objects, in the order to print.

    Returns:
        The table (header, rule, rows) without a trailing newline.
    """
    rows = [_COLUMNS] + [_row(card) for card in cards]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    numeric = {"params M", "GFLOPs"}  # right-aligned so that decimal places line up

    def line(row):
        cells = [cell.rjust(w) if col in numeric else cell.ljust(w) for col, cell, w in zip(_COLUMNS, row, widths)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(rows[0]), line(tuple("-" * w for w in widths))] + [line(r) for r in rows[1:]])


def _glob(pattern: str) -> str:
    # A plain word is a filter ("lite" -> every LiteHRNet); a pattern with wildcards is taken as written.
    return pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"


def _list(args) -> int:
    from kbench.cards import list_cards

    cards = list_cards(_glob(args.pattern))
    if not cards:
        raise InputError(f"no model matches {args.pattern!r} (`kbench zoo list` shows all {len(list_cards())})")
    if args.json:
        print(json.dumps([card.to_dict() for card in cards], indent=2, ensure_ascii=False))
    else:
        print(format_table(cards))
        print(_FOOTNOTE)
    return 0


def _scalar(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)  # null, true/false, numbers, and lists inline as [1, 2]


def format_card(data: dict, indent: int = 0) -> list[str]:
    """A card's data (``ModelCard.to_dict()``) as indented ``key: value`` lines, in the card's own key order.

    Args:
        data: the card, or one of its sections.
        indent: spaces before each key.

    Returns:
        The lines, one per field; a list of records (latencies) gets one line per record.
    """
    pad, lines = " " * indent, []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(format_card(value, indent + 2))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - " + ", ".join(f"{k}: {_scalar(v)}" for k, v in item.items()) for item in value)
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return lines


def _show(args) -> int:
    from kbench.cards import get_card

    card = get_card(args.name)
    data = card.to_dict()
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(f"{card.name}: {card.title} ({card.source.config}; card {card.path.name})")
    print("\n".join(format_card(data)))
    return 0


def run(args, parser) -> int:
    """Handle ``kbench zoo list [PATTERN]`` and ``kbench zoo show NAME``.

    Args:
        args: the parsed command line (``zoo_command``, ``pattern`` or ``name``, ``json``).
        parser: the top-level parser (unused; the sub-command is required by argparse).

    Returns:
        The exit code, 0.

    Raises:
        InputError: an unknown model name, or a pattern that matches no model.
    """
    if args.zoo_command == "show":
        return _show(args)
    return _list(args)
