"""Import a PaddleDetection keypoint config into a kbench model card (``kbench card import``, ``-c CONFIG.yml``).

The config is read as PaddleDetection's ``ppdet/core/workspace.py`` and ``ppdet/utils/cli.py`` read it:

* ``_BASE_``: a list of files (relative to the including file, ``~`` expanded) loaded recursively and merged in
  order, later ones over earlier ones, then the including file over them all; mappings merge key by key
  (``dict_merge``), anything else is replaced.
* YAML anchors and aliases (``&trainsize`` / ``*trainsize``) are plain YAML; they do not cross files.
* ``!Class`` tags (``!KeypointTopDownCocoDataset``, ``!PiecewiseDecay``) build the named class from the tagged
  mapping in ppdet. Here nothing is constructed: a tagged value is read as :class:`Tagged` (class name and its
  arguments). Only the safe YAML types load; ``!!python/...`` tags are refused like any invalid YAML.
* ``-o key=value`` overrides: the value is parsed as YAML, dotted keys (``TopDownHRNet.use_dark=false``) reach into
  sections, and the overrides merge over the loaded config. One difference on purpose: a dotted override into a
  tagged section (``EvalDataset.anno_path=...``) changes that argument, where ppdet's ``dict_merge`` would replace
  the whole tagged object by a plain mapping.

The card holds what kbench's networks, crops, decoding and evaluators read (:mod:`kbench.cards`); every other key of
the config is kept verbatim under the card's ``config_extra`` and listed, so nothing is dropped silently. An
architecture or backbone kbench has no network for is refused in one line. This module imports only the standard
library and yaml.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kbench.errors import InputError

__all__ = ["Tagged", "load_paddle_config", "parse_overrides", "card_from_config", "import_config", "ImportedCard",
           "write_card", "cached_card_for_config", "apply_config_args"]

BASE_KEY = "_BASE_"
# ppdet's defaults for the arguments a config may leave out (TopDownHRNet, HRNet, LiteHRNet, KeyPointMSELoss,
# KeypointTopDownBaseDataset / KeypointTopDownCocoDataset), as in paddledet 2.6.0's signatures.
TOPDOWN_DEFAULTS = {"backbone": "HRNet", "loss": "KeyPointMSELoss", "post_process": "HRNetPostProcess",
                    "flip_perm": None, "flip": True, "shift_heatmap": True, "use_dark": True}
BACKBONE_DEFAULTS = {"HRNet": {"width": 18, "freeze_at": 0, "freeze_norm": True, "return_idx": [0, 1, 2, 3]},
                     "LiteHRNet": {"freeze_at": 0, "freeze_norm": True, "return_idx": [0, 1, 2, 3]}}
# Backbone arguments that change the network kbench builds: only these values have a kbench network.
BACKBONE_FIXED = {"HRNet": {"has_se": False, "upsample": False, "downsample": False}, "LiteHRNet": {}}
EVAL_DATASETS = {"KeypointTopDownCocoDataset": "coco", "KeypointTopDownCocoWholeBodyHandDataset": "coco",
                 "KeypointTopDownMPIIDataset": "mpii"}
HEATMAP_TARGETS = ("ToHeatmapsTopDown", "ToHeatmapsTopDown_DARK", "ToHeatmapsTopDown_UDP")
_NO_FIGURES = {"source": "none: imported from a local config", "ap": None, "ap_with_dark": None, "pckh": None,
               "pckh_at_0_1": None, "boxes": None, "params_m": None, "gflops": None, "latencies": []}
_NO_DOWNLOADS = {"checkpoint": {"url": None, "sha256": None}, "deploy_model": {"url": None, "sha256": None}}


@dataclass(frozen=True)
class Tagged:
    """A ``!Class`` value of a ppdet config: the class name and what the YAML gave it (mapping, list or scalar)."""

    tag: str
    value: Any

    def plain(self) -> dict:
        """The value as plain YAML data for the card: ``{"_class": tag, ...arguments}``."""
        if isinstance(self.value, dict):
            return {"_class": self.tag, **_plain(self.value)}
        return {"_class": self.tag, "args": _plain(self.value)}


def _plain(value):
    if isinstance(value, Tagged):
        return value.plain()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader plus ppdet's ``!Class`` tags, read as :class:`Tagged` (nothing is constructed)."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        return Tagged(suffix, loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Tagged(suffix, loader.construct_sequence(node, deep=True))
    return Tagged(suffix, loader.construct_scalar(node))


_ConfigLoader.add_multi_constructor("!", _tagged)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    where = getattr(exc, "problem_mark", None)
    line = f" at line {where.line + 1}" if where is not None else ""
    problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
    return f"invalid YAML{line}: {problem}"


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the config ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        data = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: {_yaml_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a PaddleDetection config (a mapping), got a YAML {type(data).__name__}")
    return data


def _merge(dct: dict, other: Mapping) -> dict:
    """ppdet's ``dict_merge``: ``other`` into ``dct``, mappings key by key, anything else replaced."""
    for k, v in other.items():
        if k in dct and isinstance(dct[k], dict) and isinstance(v, Mapping):
            _merge(dct[k], v)
        elif k in dct and isinstance(dct[k], Tagged) and isinstance(dct[k].value, dict) and isinstance(v, Mapping) \
                and not isinstance(v, Tagged):
            dct[k] = Tagged(dct[k].tag, _merge(dict(dct[k].value), v))  # see the module docstring
        else:
            dct[k] = v
    return dct


def _load_with_base(path: Path, chain: tuple) -> dict:
    if path.resolve() in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path.resolve()))
        raise InputError(f"{path}: _BASE_ includes form a cycle ({cycle})")
    cfg = _read_yaml(path)
    if BASE_KEY not in cfg:
        return cfg
    bases = cfg.pop(BASE_KEY)
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise InputError(f"{path}: _BASE_ must be a list of file names, got {bases!r}")
    merged: dict = {}
    for base in bases:
        base_path = Path(os.path.expanduser(base))
        if not base_path.is_absolute():
            base_path = path.parent / base_path
        if not base_path.is_file():
            raise InputError(f"{path}: _BASE_ file {base} not found (looked for {base_path})")
        merged = _merge(merged, _load_with_base(base_path, (*chain, path.resolve())))
    return _merge(merged, cfg)


def parse_overrides(opts: list[str] | None) -> dict:
    """ppdet's ``-o`` options: ``key=value`` with a YAML value, dotted keys nested, into one mapping."""
    out: dict = {}
    for raw in opts or ():
        text = raw.strip()
        if "=" not in text or not text.split("=", 1)[0].strip():
            raise InputError(f"-o {raw!r}: expected key=value (e.g. -o weights=output/model_final)")
        key, value = text.split("=", 1)
        try:
            parsed = yaml.load(value, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise InputError(f"-o {raw!r}: {_yaml_problem(exc)}") from None
        keys = key.strip().split(".")
        node = out
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[keys[-1]] = parsed
    return out


def load_paddle_config(path: str | os.PathLike, opts: list[str] | None = None) -> dict:
    """A PaddleDetection config with its ``_BASE_`` files merged and the ``-o`` overrides applied.

    Args:
        path: the ``.yml`` config.
        opts: ``key=value`` overrides, as ppdet's ``-o``.

    Returns:
        The merged config; ``!Class`` values are :class:`Tagged`.

    Raises:
        InputError: a missing or unreadable file, invalid YAML, a ``_BASE_`` cycle or missing base, a bad override.
    """
    path = Path(path)
    if path.suffix not in (".yml", ".yaml"):
        raise InputError(f"{path}: a PaddleDetection config is a .yml or .yaml file")
    if not path.is_file():
        raise InputError(f"{path}: config not found")
    return _merge(_load_with_base(path, ()), parse_overrides(opts))


# --- config -> card -----------------------------------------------------------------------------------------------

class _Config:
    """The merged config, consumed key by key: what is left afterwards goes into the card's ``config_extra``."""

    def __init__(self, cfg: dict, path: Path):
        self.rest = copy.deepcopy(cfg)
        self.path = path

    def fail(self, key: str, problem: str):
        raise InputError(f"{self.path}: {key}: {problem}")

    def pop(self, key: str, default=None, required: bool = False):
        if key not in self.rest:
            if required:
                raise InputError(f"{self.path}: missing key '{key}'")
            return default
        return self.rest.pop(key)

    def section(self, name: str) -> dict:
        """A section's arguments (a tagged section's too), left in place to be consumed with :meth:`take`."""
        value = self.rest.get(name)
        if isinstance(value, Tagged):
            value = value.value
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(name, f"expected a mapping, got {value!r}")
        return value

    def take(self, name: str, key: str, default=None):
        sec = self.section(name)
        value = sec.pop(key, default)
        self._prune(name)
        return value

    def _prune(self, name: str):
        value = self.rest.get(name)
        inner = value.value if isinstance(value, Tagged) else value
        if isinstance(inner, dict) and not inner and not isinstance(value, Tagged):
            del self.rest[name]


def _transforms(reader: dict, key: str) -> list:
    items = reader.get(key) or []
    return items if isinstance(items, list) else []


def _find_transform(items: list, names) -> tuple[int, str, dict] | None:
    for i, item in enumerate(items):
        if isinstance(item, dict) and len(item) == 1:
            (name, args), = item.items()
            if name in names:
                return i, name, dict(args or {})
    return None


def _take_transform(cfg: _Config, reader: str, names) -> tuple[str, dict] | None:
    """Remove the first of ``names`` from the reader's sample or batch transforms; its arguments."""
    sec = cfg.section(reader)
    for key in ("sample_transforms", "batch_transforms"):
        items = _transforms(sec, key)
        found = _find_transform(items, names)
        if found:
            i, name, args = found
            del items[i]
            if not items:
                del sec[key]
            cfg._prune(reader)
            return name, args
    return None


def _network_refusal(path: Path, what: str, value, known) -> InputError:
    return InputError(f"{path}: {what} {value!r}: kbench has no network for it (known: {', '.join(known)})")


def card_from_config(cfg: dict, name: str, config_path: str | os.PathLike) -> tuple[dict, list[str]]:
    """The card data of a merged config, and the config keys kept (not used by kbench) in ``config_extra``.

    Args:
        cfg: the output of :func:`load_paddle_config`.
        name: the card's name (its file's stem).
        config_path: the config file, recorded as the card's ``source.config``.

    Raises:
        InputError: an architecture, backbone or setting kbench has no network or pipeline for, or a config that
            lacks what a card needs; one line naming the key.
    """
    from kbench.cards import ARCHITECTURES, HRNET_WIDTHS, LITE_HRNET_TYPES, METRICS

    path = Path(config_path)
    c = _Config(cfg, path)
    arch = c.pop("architecture", required=True)
    if arch not in ARCHITECTURES:
        raise _network_refusal(path, "architecture", arch, ARCHITECTURES)
    if arch == "HigherHRNet":
        return _bottom_up_card(c, path, name)
    num_joints = c.pop("num_joints", required=True)
    if isinstance(num_joints, bool) or not isinstance(num_joints, int) or num_joints < 1:
        c.fail("num_joints", f"expected a whole number >= 1, got {num_joints!r}")
    arch_num_joints = c.take(arch, "num_joints", num_joints)
    if arch_num_joints != num_joints:
        c.fail(f"{arch}.num_joints", f"{arch_num_joints} differs from the config's num_joints {num_joints}")
    args = {k: c.take(arch, k, v) for k, v in TOPDOWN_DEFAULTS.items()}
    flip_perm = args["flip_perm"] if args["flip_perm"] is not None else c.pop("flip_perm", [])
    c.pop("flip_perm")  # the top-level anchor; the architecture's own value (the one ppdet uses) wins
    width = c.take(arch, "width")
    if width is None:
        c.fail(f"{arch}.width", "missing: the head's input channels")

    backbone_type = args["backbone"]
    if backbone_type not in BACKBONE_DEFAULTS:
        raise _network_refusal(path, f"{arch}.backbone", backbone_type, BACKBONE_DEFAULTS)
    bb = {k: c.take(backbone_type, k, v) for k, v in BACKBONE_DEFAULTS[backbone_type].items()}
    for key, only in BACKBONE_FIXED[backbone_type].items():
        value = c.take(backbone_type, key, only)
        if value != only:
            raise InputError(f"{path}: {backbone_type}.{key}: {value!r}: kbench's {backbone_type} network has "
                             f"{key}={only!r} only")
    if backbone_type == "HRNet":
        if bb["width"] not in HRNET_WIDTHS:
            raise _network_refusal(path, "HRNet.width", bb["width"], [str(w) for w in HRNET_WIDTHS])
        network_type, hr_width = None, bb["width"]
    else:
        network_type = c.take("LiteHRNet", "network_type")
        if network_type not in LITE_HRNET_TYPES:
            raise _network_refusal(path, "LiteHRNet.network_type", network_type, LITE_HRNET_TYPES)
        hr_width = None
    pretrain = c.pop("pretrain_weights")
    return_idx = bb["return_idx"] if isinstance(bb["return_idx"], list) else [bb["return_idx"]]

    if args["post_process"] != "HRNetPostProcess":
        raise _network_refusal(path, f"{arch}.post_process", args["post_process"], ["HRNetPostProcess"])
    if args["loss"] != "KeyPointMSELoss":
        raise _network_refusal(path, f"{arch}.loss", args["loss"], ["KeyPointMSELoss"])
    use_target_weight = c.take("KeyPointMSELoss", "use_target_weight", True)

    metric = c.pop("metric", "KeyPointTopDownCOCOEval")
    if metric not in METRICS:
        c.fail("metric", f"{metric!r}: kbench evaluates {', '.join(METRICS)}")
    eval_ds = cfg.get("EvalDataset")
    ds_class = eval_ds.tag if isinstance(eval_ds, Tagged) else None
    if ds_class is not None and ds_class not in EVAL_DATASETS:
        c.fail("EvalDataset", f"!{ds_class}: kbench reads {', '.join(EVAL_DATASETS)}")
    dataset = EVAL_DATASETS.get(ds_class, "mpii" if metric == "KeyPointTopDownMPIIEval" else "coco")
    use_gt_bbox = c.take("EvalDataset", "use_gt_bbox", True)
    image_thre = c.take("EvalDataset", "image_thre", 0.0)
    bbox_file = c.take("EvalDataset", "bbox_file")
    pixel_std = c.pop("pixel_std", 200)
    if pixel_std != 200:
        c.fail("pixel_std", f"{pixel_std!r}: kbench's crops use PaddleDetection's pixel_std 200")

    trainsize = c.pop("trainsize", required=True)
    hmsize = c.pop("hmsize", required=True)

    affine = _take_transform(c, "EvalReader", ("TopDownAffine",))
    udp = bool(affine and affine[1].get("use_udp", False))
    normalize = _common_sections(c)
    target = _take_transform(c, "TrainReader", HEATMAP_TARGETS)
    sigma = (target[1].get("sigma", 2) if target else 2)

    sigmas = c.pop("sigmas")  # not a ppdet key: kbench's OKS sigmas for a custom joint set (or -o sigmas=[...])
    flip_on = bool(args["flip"]) and bool(flip_perm)  # ppdet mirrors even with no pairs; kbench flips only with pairs
    eval_settings = {"flip": flip_on, "shift_heatmap": bool(args["shift_heatmap"]), "use_dark": bool(args["use_dark"]),
                     "udp": udp, "use_gt_bbox": bool(use_gt_bbox),
                     "image_thre": image_thre if dataset == "coco" else None,
                     "bbox_file": bbox_file if dataset == "coco" else None,
                     "max_num_people": None, "heat_thresh": None, "tag_thresh": None, "resize_stride": None}
    training = {"target": target[0] if target else "ToHeatmapsTopDown", "sigma": sigma,
                "anno_path": c.take("TrainDataset", "anno_path", "unknown"), "epochs": c.pop("epoch", 1)}
    card = {
        "name": name, "title": f"{name} (imported from {path.name})", "architecture": arch, "paradigm": "top_down",
        "dataset": dataset, "num_joints": num_joints, "input_size": trainsize, "heatmap_size": hmsize,
        "heatmap_size_2x": None, "flip_perm": flip_perm, "metric": metric, "sigmas": sigmas,
        "backbone": {"type": backbone_type, "width": hr_width, "network_type": network_type,
                     "freeze_at": bb["freeze_at"], "freeze_norm": bb["freeze_norm"], "return_idx": return_idx,
                     "pretrain_weights": pretrain if isinstance(pretrain, str) and pretrain.startswith("https://")
                     else None},
        "head": {"type": "final_conv", "width": width, "loss": "KeyPointMSELoss",
                 "use_target_weight": bool(use_target_weight), "swahr": None, "deconv": None,
                 "post_process": "HRNetPostProcess"},
        "eval": eval_settings,
        "normalize": normalize,
        "training": training,
        "published": _NO_FIGURES, "downloads": _NO_DOWNLOADS,
        "source": {"repo": None, "config": str(path), "commit": None},
    }
    return _finish_card(c, card, pretrain)


def _finish_card(c: _Config, card: dict, pretrain) -> tuple[dict, list[str]]:
    if pretrain is not None and card["backbone"]["pretrain_weights"] is None:
        c.rest["pretrain_weights"] = pretrain  # a local path: kept, not a card field
    extra = _plain(c.rest)
    card["config_extra"] = extra
    return card, sorted(extra)


def _common_sections(c: _Config) -> dict:
    """The EvalReader's normalisation and layout (both paradigms)."""
    norm = _take_transform(c, "EvalReader", ("NormalizeImage",))
    if norm is None:
        c.fail("EvalReader", "no NormalizeImage transform: the card needs the input normalisation")
    permute = _take_transform(c, "EvalReader", ("Permute",))
    normalize = {"mean": norm[1].get("mean", [0.485, 0.456, 0.406]), "std": norm[1].get("std", [0.229, 0.224, 0.225]),
                 "is_scale": bool(norm[1].get("is_scale", True)), "channel_order": "RGB",
                 "layout": "CHW" if permute is not None else "HWC"}
    return normalize


def _bottom_up_card(c: _Config, path: Path, name: str) -> tuple[dict, list[str]]:
    """A HigherHRNet config (``configs/keypoint/higherhrnet/*.yml``): HRNet + HrHRNetHead, associative embedding."""
    from kbench.cards import HRNET_WIDTHS, METRICS

    arch = "HigherHRNet"
    num_joints = c.pop("num_joints", required=True)
    head_joints = c.take("HrHRNetHead", "num_joints", num_joints)
    if head_joints != num_joints:
        c.fail("HrHRNetHead.num_joints", f"{head_joints} differs from the config's num_joints {num_joints}")
    defaults = {"backbone": "HRNet", "hrhrnet_head": "HrHRNetHead", "post_process": "HrHRNetPostProcess",
                "eval_flip": True, "flip_perm": None, "max_num_people": 30}
    args = {k: c.take(arch, k, v) for k, v in defaults.items()}
    for key, only in (("backbone", "HRNet"), ("hrhrnet_head", "HrHRNetHead"), ("post_process", "HrHRNetPostProcess")):
        if args[key] != only:
            raise _network_refusal(path, f"{arch}.{key}", args[key], [only])
    flip_perm = args["flip_perm"] if args["flip_perm"] is not None else c.pop("flip_perm", [])
    c.pop("flip_perm")
    bb = {k: c.take("HRNet", k, v) for k, v in BACKBONE_DEFAULTS["HRNet"].items()}
    for key, only in BACKBONE_FIXED["HRNet"].items():
        if c.take("HRNet", key, only) != only:
            raise InputError(f"{path}: HRNet.{key}: kbench's HRNet network has {key}={only!r} only")
    if bb["width"] not in HRNET_WIDTHS:
        raise _network_refusal(path, "HRNet.width", bb["width"], [str(w) for w in HRNET_WIDTHS])
    head_width = c.take("HrHRNetHead", "width", 32)
    swahr = bool(c.take("HrHRNetHead", "swahr", False))
    c.take("HrHRNetHead", "loss", "HrHRNetLoss")
    metric = c.pop("metric", "COCO")
    if metric not in METRICS or METRICS[metric] != "coco_oks":
        c.fail("metric", f"{metric!r}: a bottom-up model is evaluated by COCO OKS AP (metric: COCO)")
    size = c.pop("input_size", required=True)
    hm, hm2 = c.pop("hm_size", required=True), c.pop("hm_size_2x", required=True)
    pretrain = c.pop("pretrain_weights")
    target = _take_transform(c, "TrainReader", ("ToHeatmaps",))
    normalize = _common_sections(c)
    _take_transform(c, "EvalReader", ("EvalAffine",))
    card = {
        "name": name, "title": f"{name} (imported from {path.name})", "architecture": arch, "paradigm": "bottom_up",
        "dataset": "coco", "num_joints": num_joints, "input_size": [size, size], "heatmap_size": [hm, hm],
        "heatmap_size_2x": [hm2, hm2], "flip_perm": flip_perm, "metric": metric, "sigmas": c.pop("sigmas"),
        "backbone": {"type": "HRNet", "width": bb["width"], "network_type": None, "freeze_at": bb["freeze_at"],
                     "freeze_norm": bb["freeze_norm"],
                     "return_idx": bb["return_idx"] if isinstance(bb["return_idx"], list) else [bb["return_idx"]],
                     "pretrain_weights": pretrain if isinstance(pretrain, str) and pretrain.startswith("https://")
                     else None},
        "head": {"type": "HrHRNetHead", "width": head_width, "loss": "HrHRNetLoss", "use_target_weight": None,
                 "swahr": swahr, "post_process": "HrHRNetPostProcess",
                 # fixed in ppdet 2.6's HrHRNetHead, as the packaged cards record them
                 "deconv": {"num_deconvs": 1, "kernel_size": 4, "stride": 2, "num_basic_blocks": 4,
                            "cat_output": True}},
        "eval": {"flip": bool(args["eval_flip"]) and bool(flip_perm), "shift_heatmap": False, "use_dark": False,
                 "udp": False, "use_gt_bbox": None, "image_thre": None, "bbox_file": None,
                 "max_num_people": args["max_num_people"],
                 "heat_thresh": c.take("HrHRNetPostProcess", "heat_thresh", 0.1),
                 "tag_thresh": c.take("HrHRNetPostProcess", "tag_thresh", 1.0), "resize_stride": 64},
        "normalize": normalize,
        "training": {"target": "ToHeatmaps", "sigma": target[1].get("sigma", 2) if target else 2,
                     "anno_path": c.take("TrainDataset", "anno_path", "unknown"), "epochs": c.pop("epoch", 1)},
        "published": _NO_FIGURES, "downloads": _NO_DOWNLOADS,
        "source": {"repo": None, "config": str(path), "commit": None},
    }
    return _finish_card(c, card, pretrain)


@dataclass(frozen=True)
class ImportedCard:
    """An imported card: its data, the config keys it keeps unused, and the config's ``weights`` (if any)."""

    data: dict
    kept: list
    weights: str | None


def import_config(config: str | os.PathLike, opts: list[str] | None = None, name: str | None = None) -> ImportedCard:
    """Read a PaddleDetection config (with ``-o`` overrides) into card data, validated as a card is.

    Args:
        config: the config file.
        opts: ``key=value`` overrides.
        name: the card's name (default: the config's stem).
    """
    path = Path(config)
    cfg = load_paddle_config(path, opts)
    data, kept = card_from_config(cfg, name or path.stem, path)
    weights = cfg.get("weights")
    _validate(data)
    return ImportedCard(data, kept, str(weights) if weights is not None else None)


_HEADER = ("# kbench model card imported from a PaddleDetection config ({config}) by `kbench card import`.\n"
           "# Same schema as kbench/configs/*.yml (see there for what each key means); `config_extra` keeps every\n"
           "# config key kbench does not use, verbatim (`_class`: a !Class tag). No published figures.\n")


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _card_text(data: dict) -> str:
    """The card as YAML laid out as the packaged cards are: sections in block style, values on one line each;
    ``config_extra`` (the config's own nesting) in block style."""
    lines = []
    for key, value in data.items():
        if key == "config_extra":
            body = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, width=120) if value else ""
            lines.append(f"{key}:" + (" {}" if not value else ""))
            lines.extend("  " + line for line in body.splitlines())
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            for sub, v in value.items():
                if isinstance(v, dict):
                    lines.append(f"  {sub}:")
                    lines.extend(f"    {k}: {_flow(x)}" for k, x in v.items())
                else:
                    lines.append(f"  {sub}: {_flow(v)}")
        else:
            lines.append(f"{key}: {_flow(value)}")
    return _HEADER.format(config=data["source"]["config"]) + "\n".join(lines) + "\n"


def _validate(data: dict) -> None:
    """Load the card text as ``kbench`` will (one-line errors naming the key), from a scratch copy."""
    from kbench.cards import load_card

    with tempfile.TemporaryDirectory(prefix="kbench-card-") as tmp:
        probe = Path(tmp) / f"{data['name']}.yml"
        probe.write_text(_card_text(data), encoding="utf-8")
        try:
            load_card(probe)
        except InputError as exc:
            raise InputError(str(exc).replace(f"{probe}: ", "imported card: ", 1)) from None


def write_card(data: dict, out: str | os.PathLike) -> Path:
    """Write card data to ``out`` atomically (temporary file, then rename); its stem must be the card's name."""
    from kbench._fileio import atomic_open

    out = Path(out)
    if out.stem != data["name"]:
        raise InputError(f"{out}: a card's file is named after the card ({data['name']}.yml)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "w") as fh:
        fh.write(_card_text(data))
    return out


def cached_card_for_config(config: str | os.PathLike, opts: list[str] | None = None) -> tuple[Path, ImportedCard]:
    """The card of a config (``-c CONFIG.yml -o ...``), written once under ``$KBENCH_CACHE``'s ``cards/`` folder.

    The folder is keyed by the card's content, so the same config and overrides give the same file, and worker
    processes read it back by path.
    """
    from kbench.export.cache import artifacts_root

    imported = import_config(config, opts)
    digest = hashlib.sha256(json.dumps(imported.data, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    out = Path(artifacts_root()).parent / "cards" / digest / f"{imported.data['name']}.yml"
    if not out.is_file():
        write_card(imported.data, out)
    return out, imported


def apply_config_args(args, use_weights: bool) -> None:
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
    path, imported = cached_card_for_config(config, opts)
    args.model = str(path)
    weights = imported.weights
    if use_weights and weights and args.weights == args.default_weights:
        if "://" not in weights and not weights.endswith(".pdparams"):
            weights += ".pdparams"
        args.weights = weights
