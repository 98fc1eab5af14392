"""``kbench export``: write a zoo model as a Paddle Inference, ONNX, Paddle Lite or TensorRT artifact."""

from __future__ import annotations

import sys
from pathlib import Path

from kbench.errors import InputError

__all__ = ["run", "parse_batch"]

TARGETS = ("paddle-inference", "onnx", "lite", "tensorrt")


def parse_batch(text: str) -> int | None:
    """``dynamic`` -> None; a positive integer otherwise."""
    if text == "dynamic":
        return None
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"--batch must be a positive number or 'dynamic', got {text!r}") from None
    if value < 1:
        raise InputError(f"--batch must be at least 1, got {value}")
    return value


def _default_out(card, target: str, fp16: bool, batch: int | None) -> Path:
    suffix = {"onnx": ".onnx", "tensorrt": ".engine"}.get(target, "")
    tag = f"{card.name}-{target}{'-fp16' if fp16 else ''}-b{batch or 'dyn'}"
    return Path("kbench-exports") / f"{tag}{suffix}"


def run(args, parser) -> int:
    """Export and print where the artifact and its manifest went."""
    from kbench.cards import get_card

    card = get_card(args.model)
    batch = parse_batch(args.batch)
    out = Path(args.out) if args.out else _default_out(card, args.to, args.fp16, batch)
    weights = args.weights
    if args.to == "paddle-inference":
        if args.fp16:
            raise InputError("Paddle Inference chooses FP16 when it runs (kbench latency --fp16 on a GPU): export "
                             "without --fp16")
        from kbench.export.paddle_inference import export_paddle_inference

        path = export_paddle_inference(card, out, weights, batch, legacy=args.format == "legacy")
    elif args.to == "onnx":
        from kbench.export.onnx import export_onnx

        path = export_onnx(card, out, weights=weights, batch=batch, fp16=args.fp16, keep_io_types=not args.fp16_io,
                           source=args.source, opset=args.opset)
    elif args.to == "lite":
        if args.fp16 and args.target != "arm":
            raise InputError("FP16 Paddle Lite models are an ARM feature: add --target arm")
        from kbench.export.lite import convert_to_lite

        path = convert_to_lite(card, out, weights=weights, target=args.target, batch=batch or 1,
                               precision="fp16" if args.fp16 else "fp32")
    else:
        from kbench.adapters.tensorrt import build_engine

        path = build_engine(card, out, weights=weights, batch=batch or 1, fp16=args.fp16)
    print(f"{args.to} artifact for {card.name}: {path}", file=sys.stdout)
    return 0
