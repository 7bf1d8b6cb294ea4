#!/usr/bin/env python3
"""PyTorch peers of iqa-bench's whole-training-step cases (bench/bench_train_step.cpp). Each runs the
same step in PyTorch eager on random inputs already on the device; bench/torch_peer.py imports
make_case from here for the op names in OPS and reports images/s from ITEMS.

- sind_step_b64 / _b256: the SIND step built from shared/spec/sind.md §1 and §4 with plain torch
  modules (no open_clip needed): OpenAI CLIP ViT-B/16 visual tower (conv1 without bias, class and
  positional embeddings, ln_pre, 12 pre-LN blocks with fused in_proj and QuickGELU MLP, ln_post,
  proj 768x512) run on the global crop and on the mosaic; LocalGlobal head (projected CLS of the
  global view ++ mean of the mosaic's patch tokens after ln_post -> Linear(1280, 1)); the reference's
  loss_by_scene scale-shift loss over 2 scenes; Adam (coupled L2) in two groups; the EMA update.
  Attention goes through F.scaled_dot_product_attention, as nn.MultiheadAttention does in recent
  PyTorch. bf16 autocast on CUDA.
- qep_step_b110 / _b256: DSMix stage 2: torchvision ResNet-50 (no fc) + type (26) and level (6) MLP
  heads, soft-target cross-entropy on both, SGD momentum 0.9; channels_last with bf16 autocast on
  CUDA, the layout the issue's PyTorch numbers were measured in.
With --small: tiny networks at batch 4 (the same sizes as iqa-bench --small).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_peer_iqa import loss_by_scene

OPS = ["sind_step_b64", "sind_step_b256", "qep_step_b110", "qep_step_b256"]
ITEMS = {}  # op -> images per call, filled by make_case


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x):
        b, s, w = x.shape
        qkv = self.in_proj(self.ln_1(x)).view(b, s, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.out_proj(o.transpose(1, 2).reshape(b, s, w))
        h = self.c_fc(self.ln_2(x))
        return x + self.c_proj(h * torch.sigmoid(1.702 * h))  # QuickGELU MLP


class VisionTransformer(nn.Module):
    def __init__(self, patch, width, layers, heads, out_dim, image=224):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        tokens = (image // patch) ** 2
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(tokens + 1, width) * width ** -0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out_dim) * width ** -0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.ln_post(x)
        return x[:, 0] @ self.proj, x[:, 1:]


class LocalGlobal(nn.Module):
    def __init__(self, small):
        super().__init__()
        # tiny: width 64, 2 layers, 32-pixel patches, as models/clip_vit.h's tiny(32, 224).
        self.clip = VisionTransformer(32, 64, 2, 2, 32) if small else VisionTransformer(16, 768, 12, 12, 512)
        width, out = (64, 32) if small else (768, 512)
        self.head = nn.Linear(out + width, 1)

    def forward(self, xg, xl):
        g, _ = self.clip(xg)
        _, tokens = self.clip(xl)
        return self.head(torch.cat([g, tokens.mean(1)], 1))


def ema_update(shadow, params, decay=0.99):
    with torch.no_grad():
        torch._foreach_mul_(shadow, decay)
        torch._foreach_add_(shadow, params, alpha=1 - decay)


def sind_case(device, dtype, small, batch):
    b = 4 if small else batch
    with torch.inference_mode(False):
        model = LocalGlobal(small).to(device).train()
        opt = torch.optim.Adam([{"params": model.clip.parameters(), "lr": 1e-5},
                                {"params": model.head.parameters(), "lr": 1e-5}], weight_decay=1e-5)
        params = [p for p in model.parameters()]
        shadow = [p.detach().clone() for p in params]
        xg = torch.randn(b, 3, 224, 224, device=device)
        xl = torch.randn(b, 3, 224, 224, device=device)
        mos = torch.rand(b, device=device)
        scene = torch.arange(b, device=device) * 2 // b
    autocast = device == "cuda" and dtype != torch.float32

    def run():
        with torch.inference_mode(False), torch.enable_grad():
            with torch.autocast(device, dtype=dtype, enabled=autocast):
                pred = model(xg, xl).view(-1).float()
                loss = loss_by_scene(pred, mos, scene)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema_update(shadow, [p.detach() for p in params])

    return f"{'tiny' if small else 'ViT-B-16'}-b{b}", b, run


def qep_case(device, dtype, small, batch):
    try:
        import torchvision
    except ImportError as e:
        raise RuntimeError(f"the ResNet-50 peer needs torchvision: {e}") from e

    b = 4 if small else batch
    with torch.inference_mode(False):
        if small:
            # A small stock bottleneck net for the CPU smoke run; not the same network as
            # models/resnet.h's tiny, so --small rows check the plumbing, not a ratio.
            backbone = torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 1, 1, 1],
                                                        width_per_group=16)
        else:
            backbone = torchvision.models.resnet50()
        feat = backbone.fc.in_features
        backbone.fc = nn.Identity()
        hidden = 32 if small else 512
        model = nn.ModuleDict({
            "backbone": backbone,
            "type_head": nn.Sequential(nn.Linear(feat, hidden), nn.ReLU(), nn.Linear(hidden, 26)),
            "level_head": nn.Sequential(nn.Linear(feat, hidden), nn.ReLU(), nn.Linear(hidden, 6)),
        }).to(device).train()
        channels_last = device == "cuda"
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        x = torch.randn(b, 3, 224, 224, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        type_t = torch.softmax(torch.randn(b, 26, device=device), -1)
        level_t = torch.softmax(torch.randn(b, 6, device=device), -1)
    autocast = device == "cuda" and dtype != torch.float32

    def run():
        with torch.inference_mode(False), torch.enable_grad():
            with torch.autocast(device, dtype=dtype, enabled=autocast):
                f = model["backbone"](x)
                loss = (F.cross_entropy(model["type_head"](f).float(), type_t) +
                        F.cross_entropy(model["level_head"](f).float(), level_t))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return f"{'resnet-tiny' if small else 'resnet50'}-b{b}", b, run


def make_case(op, device, dtype, small):
    """Returns (shape string, bytes, flops, callable) like bench/torch_peer.py; images in ITEMS[op]."""
    batch = int(op.rsplit("_b", 1)[1])
    shape, items, run = (sind_case if op.startswith("sind") else qep_case)(device, dtype, small, batch)
    ITEMS[op] = items
    return shape, 0.0, 0.0, run
