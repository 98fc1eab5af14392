"""Model cards: what kbench knows about each PaddleDetection keypoint model, read from ``kbench/configs/*.yml``.

One YAML file per model, named as PaddleDetection names the model's config (``hrnet_w32_256x192.yml``). A card holds
the config's hyper-parameters that matter for inference (architecture, backbone, head, input and heatmap sizes,
flip pairs, pre- and post-processing switches), the figures PaddleDetection publishes (AP or PCKh, size, latencies
with their hardware) and the download URLs.

Every field is validated when a card is read: a wrong type, a missing or unknown key, an index outside the joints
or a URL that is not https raises :class:`kbench.errors.InputError` naming the file and the field. This module
imports only the standard library and yaml, so ``kbench zoo`` answers at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kbench.errors import InputError

__all__ = ["ModelCard", "Backbone", "Head", "Deconv", "EvalSettings", "Normalize", "Training", "Latency",
           "Published", "Download", "Downloads", "Source", "list_cards", "get_card", "select_cards", "load_card",
           "cards_dir", "is_card_path", "METRICS"]

ARCHITECTURES = {"TopDownHRNet": "top_down", "HigherHRNet": "bottom_up"}  # architecture -> the paradigm it implies
DATASET_JOINTS = {"coco": 17, "mpii": 16}  # the joints of each data set's own keypoint set
# PaddleDetection's keypoint metric classes (the config's ``metric``) -> what kbench computes for them.
METRICS = {"KeyPointTopDownCOCOEval": "coco_oks", "COCO": "coco_oks", "KeyPointTopDownCOCOWholeBadyHandEval": "pck",
           "KeyPointTopDownMPIIEval": "mpii_pckh"}  # COCO: the bottom-up configs' name of OKS AP
DEFAULT_METRIC = {"coco": "KeyPointTopDownCOCOEval", "mpii": "KeyPointTopDownMPIIEval"}
HRNET_WIDTHS = (18, 30, 32, 40, 44, 48, 60, 64)  # the widths ppdet's HRNet backbone has channel tables for
LITE_HRNET_TYPES = ("lite_18", "lite_30", "naive", "wider_naive")
DOWNLOAD_SUFFIX = {"checkpoint": ".pdparams", "deploy_model": ".tar", "lite_fp32": ".nb", "lite_fp16": ".nb"}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Backbone:
    """The backbone and the hyper-parameters the config sets for it."""

    type: str  # HRNet or LiteHRNet
    width: int | None  # HRNet only
    network_type: str | None  # LiteHRNet only
    freeze_at: int
    freeze_norm: bool
    return_idx: tuple[int, ...]
    pretrain_weights: str | None


@dataclass(frozen=True)
class Deconv:
    """HigherHRNet's upsampling stage (fixed in ppdet's code, recorded for completeness)."""

    num_deconvs: int
    kernel_size: int
    stride: int
    num_basic_blocks: int
    cat_output: bool


@dataclass(frozen=True)
class Head:
    """The head that turns backbone features into heatmaps (and, bottom-up, tag maps)."""

    type: str
    width: int
    loss: str
    use_target_weight: bool | None  # top-down only
    swahr: bool | None  # bottom-up only
    deconv: Deconv | None  # bottom-up only
    post_process: str


@dataclass(frozen=True)
class EvalSettings:
    """Test-time switches. Top-down and bottom-up fields are null on the other paradigm's cards."""

    flip: bool
    shift_heatmap: bool
    use_dark: bool
    udp: bool
    use_gt_bbox: bool | None
    image_thre: float | None
    bbox_file: str | None
    max_num_people: int | None
    heat_thresh: float | None
    tag_thresh: float | None
    resize_stride: int | None


@dataclass(frozen=True)
class Normalize:
    """Input normalisation: ``(pixel / 255 if is_scale else pixel - mean) / std`` per channel, in channel_order."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    is_scale: bool
    channel_order: str  # RGB or BGR
    layout: str  # CHW or HWC


@dataclass(frozen=True)
class Training:
    """How the checkpoint was trained, as far as it changes what the model predicts."""

    target: str
    sigma: float
    anno_path: str
    epochs: int


@dataclass(frozen=True)
class Latency:
    """One published inference time and where it was measured."""

    ms: float
    precision: str | None  # fp32, fp16, int8; null where the source does not say
    hardware: str
    runtime: str
    threads: int | None
    batch_size: int | None
    source: str


@dataclass(frozen=True)
class Published:
    """Figures PaddleDetection publishes for the model (percentages as printed, e.g. 76.9)."""

    source: str
    ap: float | None
    ap_with_dark: float | None
    pckh: float | None
    pckh_at_0_1: float | None
    boxes: str | None  # gt or detected (top-down COCO); null where no boxes are involved
    params_m: float | None
    gflops: float | None
    latencies: tuple[Latency, ...]


@dataclass(frozen=True)
class Download:
    """A downloadable file: its URL (null where none is published) and its SHA-256 (null until recorded)."""

    url: str | None
    sha256: str | None


@dataclass(frozen=True)
class Downloads:
    """The model's files. Paddle-Lite models exist for PP-TinyPose only."""

    checkpoint: Download
    deploy_model: Download
    lite_fp32: Download = Download(None, None)
    lite_fp16: Download = Download(None, None)


@dataclass(frozen=True)
class Source:
    """Where the card's config facts come from: PaddleDetection at a commit, or (``repo`` null) a local config."""

    repo: str | None
    config: str
    commit: str | None


@dataclass(frozen=True)
class ModelCard:
    """One model of PaddleDetection's keypoint zoo. Build it with :func:`load_card` or :func:`get_card`."""

    name: str
    title: str
    architecture: str
    paradigm: str
    dataset: str
    num_joints: int
    input_size: tuple[int, int]  # [width, height]
    heatmap_size: tuple[int, int]  # [width, height]
    heatmap_size_2x: tuple[int, int] | None
    flip_perm: tuple  # pairs (top-down) or a permutation (bottom-up), as the config gives it
    backbone: Backbone
    head: Head
    eval: EvalSettings
    normalize: Normalize
    training: Training
    published: Published
    downloads: Downloads
    source: Source
    path: Path = field(compare=False, repr=False)
    metric: str = "KeyPointTopDownCOCOEval"  # PaddleDetection's metric class (optional key; default by dataset)
    sigmas: tuple[float, ...] | None = None  # OKS sigmas, one per joint (optional; None: COCO's 17)
    config_extra: dict = field(default_factory=dict, compare=False)  # imported config keys kbench does not use
    packaged: bool = field(default=True, compare=False, repr=False)  # under kbench/configs/ (else a user's file)
    digest: str = field(default="", compare=False, repr=False)  # sha256 of the card file's bytes

    @property
    def ref(self) -> str:
        """What :func:`get_card` reads this card back from: the name of a packaged card, else its file's path."""
        return self.name if self.packaged else str(self.path.resolve())

    @property
    def key(self) -> str:
        """A name for caches: the packaged card's name, or a user card's name and the start of its sha256.

        Two user cards of the same name (or one named like a zoo model) never share exported artifacts.
        """
        return self.name if self.packaged else f"{self.name}-{self.digest[:12]}"

    @property
    def evaluation(self) -> str:
        """What the card's metric computes: ``coco_oks``, ``pck`` (PCK/AUC/EPE) or ``mpii_pckh``."""
        return METRICS[self.metric]

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """Left/right joint pairs whichever form the config uses (pairs, or a permutation as in HigherHRNet)."""
        if self.flip_perm and isinstance(self.flip_perm[0], tuple):
            return self.flip_perm
        return tuple((i, j) for i, j in enumerate(self.flip_perm) if i < j)

    @property
    def top_down(self) -> bool:
        """Whether the model reads one crop per person box."""
        return self.paradigm == "top_down"

    @property
    def headline(self) -> tuple[str, float] | None:
        """The published accuracy figure as ``(metric, value)``: ``("AP", 76.9)`` or ``("PCKh", 90.6)``."""
        if self.published.ap is not None:
            return "AP", self.published.ap
        if self.published.pckh is not None:
            return "PCKh", self.published.pckh
        return None

    def to_dict(self) -> dict:
        """The card as plain JSON-ready data, keyed as in the YAML file."""
        data = dataclasses.asdict(self)
        for internal in ("path", "packaged", "digest"):
            del data[internal]
        order = list(data)  # the YAML's order: metric and sigmas after flip_perm, config_extra last
        for key in ("metric", "sigmas"):
            order.remove(key)
            order.insert(order.index("flip_perm") + 1 + (key == "sigmas"), key)
        return _lists({k: data[k] for k in order})


def _lists(value):
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    return value


# --- validation --------------------------------------------------------------------------------------------------

class _Section:
    """The keys of one YAML mapping, taken one by one so that missing and unknown keys both get reported."""

    def __init__(self, path: Path, data: Any, where: str):
        self.path, self.where = path, where
        if not isinstance(data, dict):
            self.fail(where or "card", f"expected a mapping, got {_show(data)}")
        self.data, self.seen = data, set()

    def fail(self, key: str, problem: str):
        raise InputError(f"{self.path}: field '{key}': {problem}")

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def take(self, name: str, check: Callable):
        if name not in self.data:
            raise InputError(f"{self.path}: missing field '{self.key(name)}'")
        self.seen.add(name)
        return check(self, self.key(name), self.data[name])

    def section(self, name: str) -> _Section:
        if name not in self.data:
            raise InputError(f"{self.path}: missing field '{self.key(name)}'")
        self.seen.add(name)
        return _Section(self.path, self.data[name], self.key(name))

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen, key=str)
        if extra:
            known = ", ".join(sorted(self.seen))
            self.fail(self.key(str(extra[0])), f"unknown field (known here: {known})")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _str(s: _Section, key: str, v):
    if not isinstance(v, str) or not v.strip():
        s.fail(key, f"expected a non-empty string, got {_show(v)}")
    return v


def _bool(s: _Section, key: str, v):
    if not isinstance(v, bool):
        s.fail(key, f"expected true or false, got {_show(v)}")
    return v


def _int(s: _Section, key: str, v):
    if isinstance(v, bool) or not isinstance(v, int):
        s.fail(key, f"expected a whole number, got {_show(v)}")
    return v


def _positive_int(s: _Section, key: str, v):
    if _int(s, key, v) < 1:
        s.fail(key, f"expected a whole number >= 1, got {v}")
    return v


def _number(s: _Section, key: str, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
        s.fail(key, f"expected a finite number, got {_show(v)}")
    return float(v)


def _positive(s: _Section, key: str, v):
    if _number(s, key, v) <= 0:
        s.fail(key, f"expected a number > 0, got {v}")
    return float(v)


def _percent(s: _Section, key: str, v):
    if not 0 <= _number(s, key, v) <= 100:
        s.fail(key, f"expected a percentage in [0, 100], got {v}")
    return float(v)


def _https(s: _Section, key: str, v):
    if not isinstance(v, str) or not re.fullmatch(r"https://[^\s/]+/\S+", v):
        s.fail(key, f"expected an https:// URL, got {_show(v)}")
    return v


def _sha256(s: _Section, key: str, v):
    if not isinstance(v, str) or not _SHA256.fullmatch(v):
        s.fail(key, f"expected 64 lower-case hex digits, got {_show(v)}")
    return v


def _null_or(check: Callable) -> Callable:
    def inner(s: _Section, key: str, v):
        return None if v is None else check(s, key, v)
    return inner


def _choice(*options) -> Callable:
    def inner(s: _Section, key: str, v):
        if v not in options:
            s.fail(key, f"expected one of {', '.join(map(str, options))}, got {_show(v)}")
        return v
    return inner


def _list_of(check: Callable, length: int | None = None) -> Callable:
    def inner(s: _Section, key: str, v):
        if not isinstance(v, list) or (length is not None and len(v) != length):
            want = f"a list of {length}" if length is not None else "a list"
            s.fail(key, f"expected {want}, got {_show(v)}")
        return tuple(check(s, f"{key}[{i}]", x) for i, x in enumerate(v))
    return inner


_size = _list_of(_positive_int, 2)


def _read_backbone(sec: _Section) -> Backbone:
    kind = sec.take("type", _choice("HRNet", "LiteHRNet"))
    width = sec.take("width", _null_or(_choice(*HRNET_WIDTHS)))
    network_type = sec.take("network_type", _null_or(_choice(*LITE_HRNET_TYPES)))
    if kind == "HRNet" and (width is None or network_type is not None):
        sec.fail(sec.key("width"), "HRNet needs a width and a null network_type")
    if kind == "LiteHRNet" and (network_type is None or width is not None):
        sec.fail(sec.key("network_type"), "LiteHRNet needs a network_type and a null width")
    backbone = Backbone(
        type=kind, width=width, network_type=network_type, freeze_at=sec.take("freeze_at", _int),
        freeze_norm=sec.take("freeze_norm", _bool), return_idx=sec.take("return_idx", _list_of(_int)),
        pretrain_weights=sec.take("pretrain_weights", _null_or(_https)))
    if not backbone.return_idx or any(not 0 <= i <= 3 for i in backbone.return_idx):
        sec.fail(sec.key("return_idx"), f"expected branch indices in 0..3, got {list(backbone.return_idx)}")
    sec.done()
    return backbone


def _read_head(sec: _Section, top_down: bool) -> Head:
    kind = sec.take("type", _choice("final_conv") if top_down else _choice("HrHRNetHead"))
    width = sec.take("width", _positive_int)
    loss = sec.take("loss", _choice("KeyPointMSELoss") if top_down else _choice("HrHRNetLoss"))
    use_target_weight = sec.take("use_target_weight", _bool if top_down else _choice(None))
    swahr = sec.take("swahr", _choice(None) if top_down else _bool)
    deconv = None
    if top_down:
        sec.take("deconv", _choice(None))
    else:
        d = sec.section("deconv")
        deconv = Deconv(num_deconvs=d.take("num_deconvs", _positive_int),
                        kernel_size=d.take("kernel_size", _positive_int), stride=d.take("stride", _positive_int),
                        num_basic_blocks=d.take("num_basic_blocks", _int), cat_output=d.take("cat_output", _bool))
        d.done()
    post = sec.take("post_process", _choice("HRNetPostProcess") if top_down else _choice("HrHRNetPostProcess"))
    sec.done()
    return Head(type=kind, width=width, loss=loss, use_target_weight=use_target_weight, swahr=swahr, deconv=deconv,
                post_process=post)


def _read_eval(sec: _Section, top_down: bool, dataset: str) -> EvalSettings:
    td = (lambda check: check) if top_down else (lambda check: _choice(None))  # top-down-only fields
    bu = (lambda check: _choice(None)) if top_down else (lambda check: check)  # bottom-up-only fields
    coco_td = top_down and dataset == "coco"
    settings = EvalSettings(
        flip=sec.take("flip", _bool), shift_heatmap=sec.take("shift_heatmap", _bool),
        use_dark=sec.take("use_dark", _bool), udp=sec.take("udp", _bool),
        use_gt_bbox=sec.take("use_gt_bbox", td(_bool)),
        image_thre=sec.take("image_thre", _number if coco_td else _choice(None)),
        bbox_file=sec.take("bbox_file", _null_or(_str) if coco_td else _choice(None)),
        max_num_people=sec.take("max_num_people", bu(_positive_int)),
        heat_thresh=sec.take("heat_thresh", bu(_number)), tag_thresh=sec.take("tag_thresh", bu(_number)),
        resize_stride=sec.take("resize_stride", bu(_positive_int)))
    sec.done()
    return settings


def _read_normalize(sec: _Section) -> Normalize:
    norm = Normalize(mean=sec.take("mean", _list_of(_number, 3)), std=sec.take("std", _list_of(_positive, 3)),
                     is_scale=sec.take("is_scale", _bool),
                     channel_order=sec.take("channel_order", _choice("RGB", "BGR")),
                     layout=sec.take("layout", _choice("CHW", "HWC")))
    sec.done()
    return norm


def _read_training(sec: _Section) -> Training:
    training = Training(target=sec.take("target", _str), sigma=sec.take("sigma", _positive),
                        anno_path=sec.take("anno_path", _str), epochs=sec.take("epochs", _positive_int))
    sec.done()
    return training


def _read_latency(s: _Section, key: str, v) -> Latency:
    sec = _Section(s.path, v, key)
    lat = Latency(ms=sec.take("ms", _positive),
                  precision=sec.take("precision", _null_or(_choice("fp32", "fp16", "int8"))),
                  hardware=sec.take("hardware", _str), runtime=sec.take("runtime", _str),
                  threads=sec.take("threads", _null_or(_positive_int)),
                  batch_size=sec.take("batch_size", _null_or(_positive_int)), source=sec.take("source", _str))
    sec.done()
    return lat


def _read_published(sec: _Section, top_down: bool, dataset: str) -> Published:
    coco = _null_or(_percent) if dataset == "coco" else _choice(None)  # AP is COCO's metric, PCKh MPII's
    mpii = _null_or(_percent) if dataset == "mpii" else _choice(None)
    pub = Published(
        source=sec.take("source", _str), ap=sec.take("ap", coco), ap_with_dark=sec.take("ap_with_dark", coco),
        pckh=sec.take("pckh", mpii), pckh_at_0_1=sec.take("pckh_at_0_1", mpii),
        boxes=sec.take("boxes", _null_or(_choice("gt", "detected"))),
        params_m=sec.take("params_m", _null_or(_positive)), gflops=sec.take("gflops", _null_or(_positive)),
        latencies=sec.take("latencies", _list_of(_read_latency)))
    # The AP of a top-down model depends on the boxes it cropped: a COCO figure without them is not comparable.
    if top_down and dataset == "coco" and pub.ap is not None and pub.boxes is None:
        sec.fail(sec.key("boxes"), "a top-down COCO AP needs the boxes it used: gt or detected")
    if (not top_down or dataset != "coco") and pub.boxes is not None:
        sec.fail(sec.key("boxes"), "only top-down COCO figures depend on person boxes; expected null")
    if pub.ap_with_dark is not None and pub.ap is None:
        sec.fail(sec.key("ap_with_dark"), "given without ap")
    sec.done()
    return pub


def _read_downloads(sec: _Section) -> Downloads:
    found = {}
    for kind, suffix in DOWNLOAD_SUFFIX.items():
        if kind not in sec.data and kind.startswith("lite_"):
            continue
        d = sec.section(kind)
        url = d.take("url", _null_or(_https))
        if url is not None and not url.endswith(suffix):
            d.fail(d.key("url"), f"expected a {suffix} file, got {url}")
        found[kind] = Download(url=url, sha256=d.take("sha256", _null_or(_sha256)))
        d.done()
    sec.done()
    return Downloads(**found)


def _read_source(sec: _Section, name: str, packaged: bool) -> Source:
    repo = sec.take("repo", _choice("PaddlePaddle/PaddleDetection") if packaged
                    else _choice("PaddlePaddle/PaddleDetection", None))
    if repo is None:  # a user's card: the local config it was imported from, no upstream commit
        src = Source(repo=None, config=sec.take("config", _str), commit=sec.take("commit", _choice(None)))
        sec.done()
        return src
    src = Source(repo=repo, config=sec.take("config", _str), commit=sec.take("commit", _str))
    if not re.fullmatch(rf"configs/keypoint/[a-z_]+/{re.escape(name)}\.yml", src.config):
        sec.fail(sec.key("config"), f"expected configs/keypoint/<family>/{name}.yml, got {src.config}")
    if not _COMMIT.fullmatch(src.commit):
        sec.fail(sec.key("commit"), f"expected a 40-hex-digit commit, got {_show(src.commit)}")
    sec.done()
    return src


def _check_flip_perm(sec: _Section, value, top_down: bool, num_joints: int) -> tuple:
    key = "flip_perm"
    if top_down:  # TopDownHRNet.flip_back swaps the channels of each pair
        pairs = _list_of(_list_of(_int, 2))(sec, key, value)
        used = [i for pair in pairs for i in pair]
        bad = [i for i in used if not 0 <= i < num_joints]
        if bad:
            sec.fail(key, f"joint index {bad[0]} is outside 0..{num_joints - 1}")
        if any(a == b for a, b in pairs):
            sec.fail(key, "a pair swaps a joint with itself")
        if len(set(used)) != len(used):
            sec.fail(key, "a joint appears in more than one pair")
        return pairs
    # HigherHRNet gathers channels by index: a permutation that undoes itself (mirroring twice is the identity).
    perm = _list_of(_int, num_joints)(sec, key, value)
    if sorted(perm) != list(range(num_joints)):
        sec.fail(key, f"expected a permutation of 0..{num_joints - 1}")
    if any(perm[p] != i for i, p in enumerate(perm)):
        sec.fail(key, "expected a permutation that is its own inverse (left<->right swaps)")
    return perm


def _read_sigmas(sec: _Section, num_joints: int, metric: str):
    sigmas = sec.take("sigmas", _null_or(_list_of(_positive))) if "sigmas" in sec.data else None
    if sigmas is not None and len(sigmas) != num_joints:
        sec.fail("sigmas", f"expected {num_joints} sigmas (one per joint), got {len(sigmas)}")
    if sigmas is None and METRICS[metric] == "coco_oks" and num_joints != 17:
        sec.fail("sigmas", f"coco has 17 joints; a {num_joints}-joint model evaluated by OKS needs sigmas: "
                           f"(one per joint)")
    return sigmas


def _read_extra(s: _Section, key: str, v):
    if not isinstance(v, dict):
        s.fail(key, f"expected a mapping of config keys, got {_show(v)}")
    return v


def load_card(path: str | Path, packaged: bool = False) -> ModelCard:
    """Read and validate one model card.

    Args:
        path: the card's YAML file; its stem must equal the card's ``name``.
        packaged: a card of kbench's zoo (``kbench/configs/``): its ``source`` must name PaddleDetection's config
            at a commit. A user's card may instead name a local config (``repo: null``, ``commit: null``).

    Returns:
        The validated card.

    Raises:
        InputError: the file is missing, is not valid YAML, or a field is missing, unknown or invalid; the
            message names the file and the field.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the model card ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]  # a ReaderError has no problem
        raise InputError(f"{path}: invalid YAML{line}: {problem}") from None
    sec = _Section(path, data, "")
    name = sec.take("name", _str)
    if name != path.stem:
        sec.fail("name", f"expected the file's stem {path.stem!r}, got {name!r}")
    title = sec.take("title", _str)
    architecture = sec.take("architecture", _choice(*ARCHITECTURES))
    paradigm = sec.take("paradigm", _choice("top_down", "bottom_up"))
    if paradigm != ARCHITECTURES[architecture]:
        sec.fail("paradigm", f"{architecture} is {ARCHITECTURES[architecture]}, got {paradigm}")
    top_down = paradigm == "top_down"
    dataset = sec.take("dataset", _choice(*DATASET_JOINTS))
    num_joints = sec.take("num_joints", _positive_int)
    metric = sec.take("metric", _choice(*METRICS)) if "metric" in sec.data else DEFAULT_METRIC[dataset]
    if (dataset == "mpii") != (METRICS[metric] == "mpii_pckh"):
        sec.fail("metric", f"{metric} does not evaluate the {dataset} data set")
    if paradigm == "bottom_up" and METRICS[metric] != "coco_oks":
        sec.fail("metric", f"a bottom-up model is evaluated by COCO OKS AP, not {metric}")
    if dataset == "mpii" and num_joints != DATASET_JOINTS[dataset]:
        sec.fail("num_joints", f"{dataset} has {DATASET_JOINTS[dataset]} joints, got {num_joints}")
    if dataset == "coco" and num_joints != 17 and "sigmas" not in data and METRICS[metric] == "coco_oks":
        sec.fail("num_joints", f"coco has 17 joints, got {num_joints}: another joint count needs sigmas: "
                               f"(one OKS sigma per joint) or a PCK metric")
    sigmas = _read_sigmas(sec, num_joints, metric)
    config_extra = sec.take("config_extra", _read_extra) if "config_extra" in sec.data else {}
    input_size = sec.take("input_size", _size)
    heatmap_size = sec.take("heatmap_size", _size)
    # Both paradigms predict the first heatmap at 1/4 of the input, the stride of HRNet's highest-resolution branch.
    if tuple(4 * x for x in heatmap_size) != input_size:
        sec.fail("heatmap_size", f"expected 1/4 of input_size {list(input_size)}, got {list(heatmap_size)}")
    heatmap_size_2x = sec.take("heatmap_size_2x", _choice(None) if top_down else _size)
    if heatmap_size_2x is not None and heatmap_size_2x != tuple(2 * x for x in heatmap_size):
        sec.fail("heatmap_size_2x", f"expected twice heatmap_size {list(heatmap_size)}, got {list(heatmap_size_2x)}")
    flip_perm = sec.take("flip_perm", lambda s, k, v: _check_flip_perm(s, v, top_down, num_joints))
    if not flip_perm and isinstance(data.get("eval"), dict) and data["eval"].get("flip") is True:
        sec.fail("eval.flip", "flip_perm is empty (no left/right joints): the flip test needs flip: false")
    backbone = _read_backbone(sec.section("backbone"))
    head = _read_head(sec.section("head"), top_down)
    card = ModelCard(
        name=name, title=title, architecture=architecture, paradigm=paradigm, dataset=dataset, num_joints=num_joints,
        input_size=input_size, heatmap_size=heatmap_size, heatmap_size_2x=heatmap_size_2x, flip_perm=flip_perm,
        backbone=backbone, head=head, eval=_read_eval(sec.section("eval"), top_down, dataset),
        normalize=_read_normalize(sec.section("normalize")), training=_read_training(sec.section("training")),
        published=_read_published(sec.section("published"), top_down, dataset),
        downloads=_read_downloads(sec.section("downloads")),
        source=_read_source(sec.section("source"), name, packaged), path=path, metric=metric, sigmas=sigmas,
        config_extra=config_extra, packaged=packaged, digest=hashlib.sha256(raw).hexdigest())
    sec.done()
    return card


# --- registry ----------------------------------------------------------------------------------------------------

def cards_dir() -> Path:
    """The folder of the packaged model cards."""
    return Path(str(resources.files("kbench.configs")))


def _natural_key(name: str) -> list:
    # hrnet_w32_256x192 before hrnet_w32_384x288, and w32 before w48, whatever the digit count
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, ModelCard]:
    paths = sorted(cards_dir().glob("*.yml"), key=lambda p: _natural_key(p.stem))
    return {p.stem: load_card(p, packaged=True) for p in paths}


def list_cards(pattern: str = "*") -> list[ModelCard]:
    """The packaged cards whose names match a glob, in natural order.

    Args:
        pattern: an :mod:`fnmatch` pattern over model names, matched case-insensitively (names are lower case).

    Returns:
        The matching cards, naturally sorted by name (``..._256x192`` before ``..._384x288``); empty if none match.
    """
    pattern = pattern.lower()
    return [card for name, card in _registry().items() if fnmatch.fnmatchcase(name, pattern)]


def get_card(name: str) -> ModelCard:
    """The packaged card of one model.

    Args:
        name: the model's name, PaddleDetection's config stem (``hrnet_w32_256x192``); a trailing ``.yml`` is allowed.
            A path to a card file (one with a folder, ``cards/my_pose.yml`` or ``./my_pose.yml``, or a ``.yml``
            that is no zoo name) reads that card, validated as the packaged ones are (:func:`load_card`).

    Returns:
        The card.

    Raises:
        InputError: no card has that name; the one-line message suggests close names.
    """
    registry = _registry()
    if is_card_path(name):
        path = Path(name).expanduser()
        if path.resolve().parent == cards_dir().resolve() and path.stem in registry:
            return registry[path.stem]
        return load_card(path)
    key = name.strip().lower().removesuffix(".yml")
    if key in registry:
        return registry[key]
    close = difflib.get_close_matches(key, registry, n=3, cutoff=0.6)
    if not close:  # a fragment such as "tinypose" is far from any full name by ratio, but names its family
        close = [n for n in registry if key and key in n][:3]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise InputError(f"unknown model {name!r}{hint} (`kbench zoo list` shows all {len(registry)})")


def is_card_path(name: str) -> bool:
    """Whether a ``--model`` value names a card file rather than a zoo model."""
    text = name.strip()
    if "/" in text or "\\" in text:
        return True
    stem = text.lower().removesuffix(".yml").removesuffix(".yaml")
    return text.lower().endswith((".yml", ".yaml")) and stem not in _registry()


def select_cards(spec: str | None) -> list[ModelCard]:
    """Cards from a comma-separated list of names or globs (every card when None, empty or ``all``).

    Raises:
        InputError: a name that no card has (with close names), or globs that match nothing.
    """
    if not spec or spec == "all":
        return list_cards()
    cards = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        glob = any(ch in part for ch in "*?[") and not is_card_path(part)
        cards.extend(list_cards(part) if glob else [get_card(part)])
    if not cards:
        raise InputError(f"no zoo model matches {spec!r}")
    return list(dict.fromkeys(cards))

