"""Paddle Inference on an exported static model: CPU with oneDNN and a thread count, GPU, Paddle-TensorRT.

The model comes from one of three places: kbench's own export of the card's network (cached), an
exported directory (``model_dir``), or one of the zoo's deploy packages (the ``.tar`` behind the
README's deploy links: ``model.pdmodel``, ``model.pdiparams`` and ``infer_cfg.yml``).

kbench exports the legacy program format and runs it on the classic executor: in Paddle 3.3 the PIR
executor's oneDNN kernels reject the interpolation op's attributes (any model with upsampling fails),
while the legacy path runs every zoo model under oneDNN.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np

from kbench.adapters.base import Adapter, ModelOutputs, check_batch, run_in_pieces
from kbench.errors import InputError
from kbench.export.cache import artifacts_root, versions_key, weights_key

__all__ = ["PaddleInferenceAdapter", "open_deploy_package", "configure_gpu", "collect_shape_ranges"]


def open_deploy_package(path: str | os.PathLike, into: Path | None = None) -> Path:
    """Extract a PaddleDetection deploy ``.tar`` safely and return the directory holding the model files.

    The package is extracted into a folder named after its content (``<artifacts>/deploy/<name>-<sha256[:16]>``),
    so two versions of a package never mix, through a temporary sibling renamed into place with a manifest, so a
    killed extraction is never taken for a package. ``into`` overrides the folder (the tests).
    """
    from kbench._fileio import sha256_file
    from kbench.export.cache import file_sizes, manifest_ok, staged_dir
    from kbench.export.paddle_inference import write_manifest

    p = Path(path)
    if p.is_dir():
        return _find_model_dir(p)
    try:
        digest = sha256_file(p)
    except OSError as exc:
        raise InputError(f"{p}: cannot read the deploy package ({exc.strerror or exc})") from None
    if into is None:
        into = artifacts_root() / "deploy" / f"{p.name.split('.')[0]}-{digest[:16]}"
    if manifest_ok(into):
        return _find_model_dir(into)
    try:
        with tarfile.open(p) as tar, staged_dir(into) as work:
            members = tar.getmembers()
            for m in members:
                target = (work / m.name).resolve()
                if not str(target).startswith(str(work.resolve()) + os.sep) and target != work.resolve():
                    raise InputError(f"{p}: refusing to extract {m.name!r}, which points outside the package")
                if m.issym() or m.islnk() or m.isdev():
                    raise InputError(f"{p}: refusing to extract link or device {m.name!r}")
            tar.extractall(work, members=members, filter="data")
            files = sorted(str(f.relative_to(work)) for f in work.rglob("*") if f.is_file())
            write_manifest(work, {"kind": "deploy-package", "source": str(p), "sha256": digest, "files": files,
                                  "sizes": file_sizes(work, files)})
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{p}: not a readable deploy package ({exc})") from None
    return _find_model_dir(into)


def _find_model_dir(root: Path) -> Path:
    for cfg in sorted(root.rglob("infer_cfg.yml")):
        return cfg.parent
    for graph in sorted(root.rglob("*.pdmodel")) + sorted(root.rglob("*.json")):
        if graph.with_suffix(".pdiparams").is_file():
            return graph.parent
    raise InputError(f"{root}: no exported model (model.pdmodel + model.pdiparams) found")


def config_summary(cfg) -> dict:
    """The predictor configuration as Paddle reports it (``Config.summary()``'s table), as a dict of strings."""
    out = {}
    for line in cfg.summary().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] and cells[0] != "Option":
            out[cells[0]] = cells[1]
    return out


def _check_infer_cfg(model_dir: Path, card) -> dict:
    """Read ``infer_cfg.yml`` (if any) and check it describes a model the card can stand for."""
    cfg_path = model_dir / "infer_cfg.yml"
    if not cfg_path.is_file():
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{cfg_path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    arch = str(cfg.get("arch", ""))
    if arch and ((arch == "HigherHRNet") == card.top_down):
        raise InputError(f"{cfg_path}: a {arch} package does not fit {card.name} ({card.architecture})")
    for step in cfg.get("Preprocess", []) or []:
        size = step.get("trainsize") if isinstance(step, dict) else None
        if size and list(size) != list(card.input_size):
            raise InputError(f"{cfg_path}: trainsize {size} differs from {card.name}'s input {card.input_size}")
    return cfg


_LOAD_OPTIONS = {"trt_shapes", "input_hw", "max_side"}


def configure_gpu(cfg, inference, precision: str, batch: int, tensorrt: bool, card, trt_built: bool = True,
                  trt_shapes: str = "profile", input_hw=None, max_side=None, shape_file: Path | None = None,
                  collect=None) -> dict | None:
    """Set up a predictor config for the GPU, with Paddle-TensorRT when asked; returns its shape settings.

    As PaddleDetection's ``deploy/python/infer.py`` (``load_predictor``): ``enable_use_gpu``, then for TensorRT
    ``enable_tensorrt_engine`` (workspace 1 GiB, ``max_batch_size`` the batch, ``min_subgraph_size`` 3 as the zoo's
    keypoint ``infer_cfg.yml`` files say, FP32 or Half), and dynamic-shape ranges for the inputs whose size varies:

    * ``trt_shapes="profile"`` (default): kbench's min/opt/max of :mod:`kbench.adapters.gpu_shapes` through
      ``set_trt_dynamic_shape_info`` (the same range the TensorRT runtime and ORT's TensorRT provider get); a
      fixed-size input (top-down crops at a fixed batch) needs none;
    * ``trt_shapes="collect"``: the shapes of every intermediate tensor collected by running the model over the
      profile's min, opt and max inputs (``collect_shape_range_info``, cached in ``shape_file``), then
      ``enable_tuned_tensorrt_dynamic_shape`` (Paddle's tuned dynamic shape);
    * any other text: a ``shape_range_info.pbtxt`` file to use as given.

    Without TensorRT, FP16 is Paddle's own GPU half-precision mode (``enable_use_gpu(..., Half)``).
    """
    half = inference.PrecisionType.Half
    if precision == "fp16" and not tensorrt:
        cfg.enable_use_gpu(256, 0, half)  # Paddle's own GPU fp16 (mixed precision) kernels
    else:
        cfg.enable_use_gpu(256, 0)
    if not tensorrt:
        return None
    if not trt_built:
        raise InputError("Paddle-TensorRT is not compiled into this paddlepaddle-gpu build")
    from kbench.adapters.gpu_shapes import shape_profile

    profile = shape_profile(card, batch, input_hw, False, max_side)
    mode = half if precision == "fp16" else inference.PrecisionType.Float32
    cfg.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=max(1, batch), min_subgraph_size=3,
                               precision_mode=mode, use_static=False, use_calib_mode=False)
    if trt_shapes == "profile":
        if profile.fixed:
            return {"source": "static", "input": profile.as_dict()}
        mn, mx, opt = profile.paddle_options()
        cfg.set_trt_dynamic_shape_info(mn, mx, opt)
        return {"source": "profile", "input": profile.as_dict()}
    if trt_shapes == "collect":
        if shape_file is None or collect is None:
            raise InputError("trt_shapes='collect' needs a shape file and a collection pass")
        if not _shape_file_ok(shape_file):
            collect(shape_file)
        cfg.enable_tuned_tensorrt_dynamic_shape(str(shape_file), True)
        return {"source": "collected", "file": str(shape_file), "input": profile.as_dict()}
    given = Path(str(trt_shapes))
    if not given.is_file():
        raise InputError(f"trt_shapes: {given} is not a shape_range_info file (or use 'profile' or 'collect')")
    cfg.enable_tuned_tensorrt_dynamic_shape(str(given), True)
    return {"source": "given", "file": str(given)}


def _shape_file_ok(path: Path) -> bool:
    """A collected shape file counts only with its manifest (written after it) naming its size."""
    import json

    manifest = path.with_suffix(".manifest.json")
    try:
        return path.is_file() and json.loads(manifest.read_text()).get("size") == path.stat().st_size
    except (OSError, ValueError):
        return False


def collect_shape_ranges(graph: Path, params: Path, inputs, out: Path) -> Path:
    """Run the model over ``inputs`` with ``collect_shape_range_info`` and write the ranges to ``out``.

    The collection runs on the CPU: Paddle disables the graph optimisations in this mode, so the file names the
    tensors of the graph as exported, and their shapes do not depend on the device. The file is written under a
    temporary name and renamed, then its manifest, so a killed collection leaves nothing that counts.
    """
    import json
    import tempfile

    from paddle import inference

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        cfg = inference.Config(str(graph), str(params))
        cfg.disable_glog_info()
        cfg.disable_gpu()
        if graph.suffix == ".pdmodel":
            cfg.enable_new_ir(False)
        cfg.collect_shape_range_info(tmp)
        predictor = inference.create_predictor(cfg)
        handle = predictor.get_input_handle(predictor.get_input_names()[0])
        for x in inputs:
            handle.reshape(list(x.shape))
            handle.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
            predictor.run()
        del predictor  # the ranges are written when the predictor goes
        if os.path.getsize(tmp) == 0:
            raise InputError(f"{graph}: Paddle wrote no shape ranges")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest = out.with_suffix(".manifest.json")
    manifest.write_text(json.dumps({"size": out.stat().st_size, "graph": str(graph),
                                    "inputs": [list(x.shape) for x in inputs]}))
    return out


class PaddleInferenceAdapter(Adapter):
    """Paddle Inference predictor on a static model."""

    name = "paddle-inference"

    def load(self, card, weights="random", device="cpu", precision="fp32", batch=1, threads=None, model_dir=None,
             onednn=True, tensorrt=False, **options):
        """Export (or open) the model and create a predictor.

        Args:
            model_dir: an exported model directory or a deploy ``.tar``; None exports the card's network.
            onednn: use oneDNN on CPU.
            tensorrt: on GPU, run through Paddle-TensorRT (always for fp16, which Paddle runs through TensorRT
                or its GPU fp16 mode).
            Others: see :meth:`Adapter.load`.
        """
        self.check_target(device, precision)
        unknown = sorted(set(options) - _LOAD_OPTIONS)
        if unknown:
            raise InputError(f"paddle-inference: unknown option(s) {', '.join(unknown)}")
        self.trt_shapes = None
        from kbench.zoo.paddle import import_paddle

        paddle = import_paddle()
        from paddle import inference

        self.card, self.device, self.precision, self.threads = card, device, precision, threads
        self.infer_cfg = {}
        if model_dir is None:
            from kbench.export.cache import manifest_ok
            from kbench.export.paddle_inference import export_paddle_inference

            ident = weights_key(card, weights)
            # A fixed batch, as every other runtime gets (ORT, TensorRT, Lite): a dynamic batch costs Paddle
            # Inference shape/slice/fill_constant ops and defeats fusion passes; run() pads or splits other sizes.
            out = artifacts_root() / (f"paddle-inference-{card.key}-{ident}-b{batch}-legacy-"
                                      f"{versions_key('paddlepaddle')}")
            if not manifest_ok(out):  # absent, half-built by an older kbench, or changed since: build it again
                export_paddle_inference(card, out, weights, batch, legacy=True)
            self.source = {"export": str(out), "weights": ident, "batch": batch}
            model_path = out
        else:
            model_path = open_deploy_package(model_dir)
            self.infer_cfg = _check_infer_cfg(model_path, card)
            self.source = {"package": str(model_dir)}
        from kbench.export.paddle_inference import model_files

        graph, params = model_files(model_path)
        cfg = inference.Config(str(graph), str(params))
        cfg.disable_glog_info()
        cfg.switch_ir_optim(True)
        if graph.suffix == ".pdmodel":
            cfg.enable_new_ir(False)  # see the module docstring: oneDNN needs the classic executor
        if device == "gpu":
            if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() == 0:
                raise InputError("Paddle Inference on GPU needs paddlepaddle-gpu and a CUDA device; none here "
                                 "(use --device cpu)")
            trt_built = tuple(inference.get_trt_compile_version()) != (0, 0, 0)
            if tensorrt and not trt_built:
                raise InputError("Paddle-TensorRT is not compiled into this paddlepaddle-gpu build: install a "
                                 "TensorRT-enabled paddlepaddle-gpu, or drop --tensorrt")
            tensorrt = bool(tensorrt or (precision == "fp16" and trt_built))
            self.trt_shapes = configure_gpu(
                cfg, inference, precision, batch, tensorrt, card=card, trt_built=trt_built,
                trt_shapes=options.get("trt_shapes", "profile"), input_hw=options.get("input_hw"),
                max_side=options.get("max_side"), shape_file=self._shape_file(card, weights, batch, options),
                collect=lambda file: self._collect_shapes(graph, params, card, batch, file, options))
        else:  # PaddleDetection's deploy/python/infer.py (load_predictor) on the CPU
            cfg.disable_gpu()
            cfg.set_cpu_math_library_num_threads(int(threads or 1))
            if onednn:
                cfg.set_mkldnn_cache_capacity(10)
                cfg.enable_mkldnn()
        cfg.enable_memory_optim()
        cfg.switch_use_feed_fetch_ops(False)
        self.onednn = bool(onednn) and device == "cpu"
        self.tensorrt = device == "gpu" and bool(tensorrt)
        try:
            self.predictor = inference.create_predictor(cfg)
        except Exception as exc:  # Paddle raises its own error types with multi-line text
            raise InputError(f"Paddle Inference could not load {graph}: {str(exc).strip().splitlines()[0]}") from None
        self.version = paddle.__version__
        self.graph = graph
        # What the predictor was configured with, read back from the config (not what was asked)
        self.settings = config_summary(cfg)
        self.settings["cpu_math_library_num_threads"] = cfg.cpu_math_library_num_threads()
        shape = list(self.predictor.get_input_handle(self.predictor.get_input_names()[0]).shape())
        self._fixed_batch = shape[0] if shape and shape[0] > 0 else None

    @staticmethod
    def _shape_file(card, weights, batch: int, options: dict) -> Path:
        """Where the collected ranges of this model, batch and profile are kept."""
        from kbench.adapters.gpu_shapes import shape_profile

        p = shape_profile(card, batch, options.get("input_hw"), False, options.get("max_side"))
        span = "x".join(str(v) for v in (*p.min[2:], *p.max[2:]))
        return artifacts_root() / "paddle-trt-shapes" / (f"{card.key}-{weights_key(card, weights)}-b{batch}-{span}-"
                                                         f"{versions_key('paddlepaddle')}.pbtxt")

    @staticmethod
    def _collect_shapes(graph, params, card, batch: int, out: Path, options: dict) -> Path:
        """The collection pass over the profile's min, opt and max inputs."""
        from kbench.adapters.gpu_shapes import shape_profile

        profile = shape_profile(card, batch, options.get("input_hw"), False, options.get("max_side"))
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal(shape).astype(np.float32)
                  for shape in dict.fromkeys((profile.min, profile.opt, profile.max))]
        return collect_shape_ranges(Path(graph), Path(params), inputs, out)

    def describe(self) -> dict:
        """Runtime, version, device, oneDNN/TensorRT, input and output names."""
        p = self.predictor
        threads = self.settings.get("cpu_math_library_num_threads") if self.device == "cpu" else None
        return {"runtime": self.name, "version": self.version, "device": self.device, "precision": self.precision,
                "onednn": self.onednn, "tensorrt": self.tensorrt, "trt_shapes": self.trt_shapes, "threads": threads,
                "settings": dict(self.settings),
                "batch": self._fixed_batch,
                "inputs": list(p.get_input_names()), "outputs": list(p.get_output_names()), "model": str(self.graph),
                "source": self.source}

    def run(self, batch: np.ndarray) -> ModelOutputs:
        """One predictor run; the first output is the heatmaps, the second (bottom-up) the tags."""
        outs = run_in_pieces(self._run_once, check_batch(batch, self.card), self._fixed_batch)
        if self.card.top_down:
            return ModelOutputs(np.asarray(outs[0], dtype=np.float32))
        return ModelOutputs(np.asarray(outs[0], dtype=np.float32), np.asarray(outs[1], dtype=np.float32))

    def _run_once(self, x: np.ndarray) -> list:
        p = self.predictor
        handle = p.get_input_handle(p.get_input_names()[0])
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        p.run()
        return [p.get_output_handle(n).copy_to_cpu() for n in p.get_output_names()]

    def close(self) -> None:
        """Drop the predictor."""
        self.predictor = None
