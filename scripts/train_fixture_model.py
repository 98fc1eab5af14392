"""Train the fixture model: PP-TinyPose 128x96 (the zoo architecture, unchanged) on kbench's drawn stick figures.

Every AP kbench can show without a trained checkpoint is 0 (random weights predict nothing), so no test could show
that the whole chain gives a high AP for a good model. This script makes one, deterministically, in minutes on two
CPU cores: it is trained on SYNTHETIC FIGURES (kbench's own sample generator, other seeds than the evaluation
sample's), says nothing about real people, and is labelled so wherever it is used.

Recipe (chosen to learn the figures quickly, not PaddleDetection's): the crops of ``kbench eval`` (ppdet's
``_box2cs`` with the card's aspect ratio and 1.25 padding, the card's UDP warp and normalisation) from ground-truth
boxes jittered by up to 10 % in scale and 5 % in position, so detector-like boxes work too; Gaussian heatmap targets
(sigma 2 heatmap pixels, UDP's (size - 1) scaling); MSE; Adam, learning rate 2e-3 with a cosine decay; batch 32;
``--steps`` steps (default 700). Trained in kbench's PyTorch network, saved with the Paddle parameter names as a
``.pdparams`` holding numpy arrays only (what kbench's allow-list loader reads), with its sha256 printed and written
beside it. Seeds fix the data, the jitter and the initialisation; on one machine the run repeats, across CPUs the
last digits of the weights may differ (thread scheduling of the reductions).

    python scripts/train_fixture_model.py --out tests/fixtures/models/tinypose_128x96_synthetic.pdparams
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODEL = "tinypose_128x96"
TRAIN_SEEDS = (101, 102, 103, 104)
SIGMA = 2.0


def training_crops(card, images_per_seed: int, rng: np.random.Generator):
    """(crops float32 NCHW, joints in heatmap pixels (N, 17, 2), visibility (N, 17)) from generated images."""
    import cv2

    from kbench.datasets.sample_images import make_sample_dataset
    from kbench.pipelines.crops import box_to_center_scale, crop_batch, normalize_batch, warp_matrices

    in_w, in_h = card.input_size
    hm_w, hm_h = card.heatmap_size
    xs, joints, vis = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in TRAIN_SEEDS:
            sample = make_sample_dataset(Path(tmp) / f"s{seed}", num_images=images_per_seed, seed=seed)
            coco = json.loads(sample.ann_file.read_text())
            by_image: dict = {}
            for ann in coco["annotations"]:
                by_image.setdefault(ann["image_id"], []).append(ann)
            for img in coco["images"]:
                image = cv2.cvtColor(cv2.imread(str(sample.image_dir / img["file_name"])), cv2.COLOR_BGR2RGB)
                anns = by_image.get(img["id"], [])
                boxes = np.array([a["bbox"] for a in anns], np.float64)
                w, h = boxes[:, 2], boxes[:, 3]
                grow = rng.uniform(0.9, 1.1, (len(boxes), 1))
                shift = rng.uniform(-0.05, 0.05, (len(boxes), 2)) * np.stack([w, h], 1)
                centre = boxes[:, :2] + boxes[:, 2:] / 2 + shift
                size = boxes[:, 2:] * grow
                jittered = np.concatenate([centre - size / 2, size], 1)
                centers, scales = box_to_center_scale(jittered, in_w * 1.0 / in_h)
                mats = warp_matrices(centers, scales, (in_w, in_h), card.eval.udp)
                crops = crop_batch(image, centers, scales, (in_w, in_h), card.eval.udp, matrices=mats)
                xs.append(normalize_batch(crops, card.normalize))
                for a, m in zip(anns, mats):
                    kp = np.array(a["keypoints"], np.float64).reshape(-1, 3)
                    p = kp[:, :2] @ m[:, :2].T + m[:, 2]  # input pixels
                    if card.eval.udp:
                        p = p * np.array([(hm_w - 1) / (in_w - 1), (hm_h - 1) / (in_h - 1)])
                    else:
                        p = p * np.array([hm_w / in_w, hm_h / in_h])
                    joints.append(p)
                    inside = (p[:, 0] >= 0) & (p[:, 0] <= hm_w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= hm_h - 1)
                    vis.append((kp[:, 2] > 0) & inside)
    return np.concatenate(xs), np.array(joints, np.float32), np.array(vis, np.float32)


def heatmap_targets(joints: np.ndarray, vis: np.ndarray, hm_w: int, hm_h: int, sigma: float = SIGMA) -> np.ndarray:
    """Gaussian targets (N, J, hm_h, hm_w), zero for invisible joints."""
    xx = np.arange(hm_w, dtype=np.float32)[None, None, None, :]
    yy = np.arange(hm_h, dtype=np.float32)[None, None, :, None]
    gx = joints[..., 0][..., None, None]
    gy = joints[..., 1][..., None, None]
    t = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * sigma ** 2))
    return (t * vis[..., None, None]).astype(np.float32)


def train(steps: int, batch: int, images_per_seed: int, threads: int, sigma: float = SIGMA, init: str = "random",
          lr: float = 2e-3, log=print):
    import torch

    from kbench.cards import get_card
    from kbench.zoo.torch.load import load_torch_model, paddle_state_dict

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    card = get_card(MODEL)
    rng = np.random.default_rng(0)
    started = time.monotonic()
    x, joints, vis = training_crops(card, images_per_seed, rng)
    hm_w, hm_h = card.heatmap_size
    y = heatmap_targets(joints, vis, hm_w, hm_h, sigma)
    log(f"{len(x)} training crops from {len(TRAIN_SEEDS) * images_per_seed} generated images "
        f"in {time.monotonic() - started:.0f} s")
    net, _ = load_torch_model(card, init)  # "random", or a checkpoint to go on from
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(xt), generator=order)
    pos = 0
    for step in range(steps):
        if pos + batch > len(perm):
            perm, pos = torch.randperm(len(xt), generator=order), 0
        idx = perm[pos:pos + batch]
        pos += batch
        out = net(xt[idx])
        out = out[0] if isinstance(out, (tuple, list)) else out
        loss = ((out - yt[idx]) ** 2).mean() * 1000
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"step {step:4d}/{steps}  loss {loss.item():.4f}  {time.monotonic() - started:.0f} s")
    net.eval()
    return paddle_state_dict(net), card


def save_pdparams(state: dict, out: Path) -> str:
    """Write a dict of numpy arrays as a .pdparams (pickle), atomically; returns its sha256."""
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(arrays, fh, protocol=4)
    os.replace(tmp, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".sha256").write_text(f"{digest}  {out.name}\n")
    return digest


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--images-per-seed", type=int, default=120)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sigma", type=float, default=SIGMA, help="target Gaussian, heatmap pixels")
    p.add_argument("--init", default="random", help="random, or a .pdparams to go on training from")
    p.add_argument("--lr", type=float, default=2e-3)
    args = p.parse_args(argv)
    state, _ = train(args.steps, args.batch, args.images_per_seed, args.threads, args.sigma, args.init, args.lr)
    digest = save_pdparams(state, args.out)
    print(f"{args.out}: sha256 {digest} (trained on synthetic figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
