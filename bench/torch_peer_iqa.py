#!/usr/bin/env python3
"""PyTorch peers of iqa-bench's SIND kernel cases (bench/bench_iqa_kernels.cpp): the reference
implementation's own PyTorch computations at the same shapes. bench/torch_peer.py imports make_case
from here for the op names in OPS.

- scale_shift_loss: loss_by_scene with robust_scale_shift_loss (shared/spec/sind.md §2), eager, a Python
  loop over the scenes, forward and backward; B = 64 predictions in 2 scenes (the issue's target
  shape), and scale_shift_loss_128x4 at 128 in 4.
- scene_l1_loss: the same loop with F.l1_loss (the "without alignment" baseline), 64 in 2 scenes.
- fusion_head: LocalGlobalClipIQA's head, mean over tokens + cat + nn.Linear(1280, 1), forward and
  backward; B = 256 (16 with small).
- views_global / views_mosaic: the reference's torchvision transforms on PIL images, on the CPU as its
  DataLoader workers run them, for a batch of 64 (4 with small) 1024x768 RGB images; timed per batch.
  The iqa side times its render kernel only (the sources already on the device).
"""
import torch
import torch.nn.functional as F

OPS = ["scale_shift_loss", "scale_shift_loss_128x4", "scene_l1_loss", "fusion_head", "views_global", "views_mosaic"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def robust_scale_shift_loss(y_pred, y):
    t_pred = torch.median(y_pred)
    t = torch.median(y)
    s_pred = torch.mean(torch.abs(y_pred - t_pred))
    s = torch.mean(torch.abs(y - t))
    y_pred = (y_pred - t_pred) / (s_pred + 1e-8)
    y = (y - t) / (s + 1e-8)
    return F.l1_loss(y_pred, y).float()


def loss_by_scene(y_pred, y, scene, loss_fn=robust_scale_shift_loss):
    scene_ids = torch.unique(scene)
    loss = 0
    for s in scene_ids:
        idx = scene == s
        loss = loss + loss_fn(y_pred[idx], y[idx])
    return loss / len(scene_ids)


class RandomCropMiniPatch:
    """The reference's local view: Resize(672) has run; ToTensor'ed image in, 7x7 mini-patch mosaic out,
    offsets drawn per row and per column of cells, pixels gathered through a boolean mask."""

    def __init__(self, size=224, patch_num=7):
        self.patch_num = patch_num
        self.patch = size // patch_num
        self.size = size

    def __call__(self, img):
        _, h, w = img.shape
        ch, cw = h // self.patch_num, w // self.patch_num
        oy = torch.randint(ch - self.patch, (self.patch_num,))
        ox = torch.randint(cw - self.patch, (self.patch_num,))
        rows = torch.zeros(h, dtype=torch.bool)
        cols = torch.zeros(w, dtype=torch.bool)
        for i in range(self.patch_num):
            rows[i * ch + oy[i]: i * ch + oy[i] + self.patch] = True
            cols[i * cw + ox[i]: i * cw + ox[i] + self.patch] = True
        mask = rows[:, None] & cols[None, :]
        return img[:, mask].view(3, self.size, self.size)


def _views_case(op, small):
    from PIL import Image
    import numpy as np
    from torchvision import transforms

    batch = 4 if small else 64
    rng = np.random.default_rng(5)
    images = [Image.fromarray(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), "RGB") for _ in range(batch)]
    normalize = transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if op == "views_global":
        tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.Resize((256, 256)),
                                 transforms.RandomCrop(224), transforms.ToTensor(), normalize])
    else:
        tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.Resize(672), transforms.ToTensor(),
                                 RandomCropMiniPatch(224, 7), normalize])
    out_bytes = batch * 3 * 224 * 224 * 4
    return f"{batch}x1024x768", float(out_bytes), 0.0, lambda: torch.stack([tf(im) for im in images])


def make_case(op, device, dtype, small):
    """Returns (shape string, bytes, flops, callable), like bench/torch_peer.py's make_case."""
    es = torch.empty((), dtype=dtype).element_size()
    if op in ("scale_shift_loss", "scale_shift_loss_128x4", "scene_l1_loss"):
        b, scenes = (128, 4) if op.endswith("128x4") else (64, 2)
        loss_fn = F.l1_loss if op == "scene_l1_loss" else robust_scale_shift_loss
        with torch.inference_mode(False):
            pred = torch.randn(b, device=device, dtype=dtype, requires_grad=True)
            mos = torch.rand(b, device=device, dtype=dtype)
            scene = torch.arange(b, device=device) // (b // scenes)

        def run():
            with torch.inference_mode(False), torch.enable_grad():
                pred.grad = None
                loss_by_scene(pred, mos, scene, loss_fn).backward()

        return f"{b}x{scenes}scenes", float(b * (3 * es + 8)), 0.0, run
    if op == "fusion_head":
        b, g_dim, n, d = (16 if small else 256), 512, 196, 768
        with torch.inference_mode(False):
            g = torch.randn(b, g_dim, device=device, dtype=dtype, requires_grad=True)
            tokens = torch.randn(b, n, d, device=device, dtype=dtype, requires_grad=True)
            head = torch.nn.Linear(g_dim + d, 1).to(device=device, dtype=dtype)
            dq = torch.randn(b, 1, device=device, dtype=dtype)

        def run():
            with torch.inference_mode(False), torch.enable_grad():
                q = head(torch.cat([g, tokens.mean(1)], dim=1))
                q.backward(dq)

        return f"{b}x196x768+512", 2.0 * (tokens.numel() + g.numel()) * es, 0.0, run
    if op in ("views_global", "views_mosaic"):
        return _views_case(op, small)
    raise SystemExit(f"torch_peer_iqa: unknown op '{op}' (known: {' '.join(OPS)})")
