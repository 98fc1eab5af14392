"""The ``profile`` runner: parameters and FLOPs of one zoo model, by the convention the zoo's README uses."""

from __future__ import annotations

from kbench.runners.record import Record, spec_record

__all__ = ["run_profile", "profile_card", "matches_published", "FLOPS_COUNT_CONVENTION"]

FLOPS_COUNT_CONVENTION = ("paddle.flops: conv/deconv out x (cin/groups x k^2 + bias), BN 2 x in, linear out x in; "
                          "params include BatchNorm running statistics")


def matches_published(measured: float, published: float | None) -> bool | None:
    """Whether ``measured`` rounds to ``published`` at the precision the README prints it (None: nothing published)."""
    if published is None:
        return None
    text = repr(float(published))
    decimals = len(text.split(".")[1].rstrip("0")) if "." in text else 0
    return round(measured, decimals) == round(float(published), decimals)


def profile_card(card, input_size: tuple | None = None, weights: str = "random"):
    """Count a card's network; returns (:class:`kbench.bench.flops.ModelSize`, :class:`WeightsInfo`).

    Counts do not depend on the weights; loading them (``weights`` a path or URL, or None for the card's
    checkpoint) checks that they fit the network and puts their checksum in the record.
    """
    from kbench.bench.flops import count_paddle
    from kbench.zoo.paddle.load import load_model

    net, info = load_model(card, weights)
    w, h = input_size or card.input_size
    return count_paddle(net, (1, 3, h, w)), info


def run_profile(spec, progress=None) -> Record:
    """Run a :class:`~kbench.specs.ProfileSpec`: the record's ``outputs`` hold the counted row for the table."""
    from kbench.cards import get_card
    from kbench.specs import check_weights, parse_input_size
    from kbench.zoo.paddle import import_paddle

    card = get_card(spec.model)
    size = parse_input_size(spec.input)
    check_weights(spec.weights)  # before paddle loads
    import_paddle()
    counted, weights = profile_card(card, size, spec.weights)
    input_wh = size or tuple(card.input_size)
    same_input = size is None or tuple(size) == tuple(card.input_size)
    pub_p = card.published.params_m
    pub_f = card.published.gflops if same_input else None
    row = {"model": card.name, "input": f"{input_wh[0]}x{input_wh[1]}", "params_m": counted.params_m,
           "gflops": counted.gflops, "published_params_m": pub_p, "published_gflops": pub_f,
           "params_match": matches_published(counted.params_m, pub_p),
           "gflops_match": matches_published(counted.gflops, pub_f)}
    options = {"model": card.name, "input_size": list(input_wh), "framework": "paddle",
               "convention": FLOPS_COUNT_CONVENTION,
               "published": {"params_m": pub_p, "gflops": pub_f, "source": card.published.source},
               "weights": weights.describe()}
    return spec_record(spec, {"params": counted.params, "flops": counted.flops}, options=options,
                       summary=format_profile_rows([row]), outputs={"row": row, "weights_label": weights.label()})


def format_profile_rows(rows: list[dict]) -> str:
    """The profile table: model, input, params, GFLOPs and the published figures with ok/DIFFERS."""
    lines = [f"{'model':<36} {'input':>8} {'params (M)':>11} {'GFLOPs':>8}   published (README)"]
    for r in rows:
        pub = []
        if r["published_params_m"] is not None:
            pub.append(f"{r['published_params_m']} M {'ok' if r['params_match'] else 'DIFFERS'}")
        if r["published_gflops"] is not None:
            pub.append(f"{r['published_gflops']} GFLOPs {'ok' if r['gflops_match'] else 'DIFFERS'}")
        lines.append(f"{r['model']:<36} {r['input']:>8} {r['params_m']:>11.3f} {r['gflops']:>8.3f}   "
                     f"{', '.join(pub) or '-'}")
    return "\n".join(lines)
