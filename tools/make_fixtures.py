#!/usr/bin/env python3
"""Writes tests/fixtures/models/*.safetensors: small random PyTorch models, a fixed input, the outputs,
and the gradient of a fixed scalar loss with respect to every parameter and every input.
tests/test_models.cpp loads them and requires the C++ models to reproduce the numbers.

Fixtures (each in the naming the C++ loader must understand):
  clip_vit_hf.safetensors      Hugging Face CLIPVisionModelWithProjection, tiny config, quick_gelu
                               (vision_model.*, visual_projection.weight, and an old-style position_ids)
  sind_local_global.safetensors  SIND LocalGlobalClipIQA in the reference's names: an OpenCLIP-layout
                               visual tower written here in plain torch (nn.MultiheadAttention, the
                               OpenCLIP module names) under clip_model.visual, text-tower stand-ins
                               under clip_model.* (to be skipped), head.quality_predictor.0
  resnet_tiny.safetensors      torchvision-layout ResNet (Bottleneck, [1,1,1,1], narrow widths) in plain
                               torch with torchvision's names; train-mode forward/backward (batch
                               statistics, running-stat updates) and an eval-mode forward
  dsm_predictor_tiny.safetensors  DSMix sensitivity-map predictor: no-CLS patch-8 tower + Linear decoder

Keys: param.<name>, input.<name>, output.<name>, loss_weight.<output>, grad.<param name>,
grad_input.<name>; metadata "config" (JSON). Loss = sum over outputs of sum(output * loss_weight).
Forward/backward run in float64 on float32-rounded weights and inputs; everything is stored as float32.

Usage: python3 tools/make_fixtures.py [--out tests/fixtures/models]   (needs torch, transformers, safetensors)
"""
import argparse
import json
import math
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


def randomize_(module, gen):
    """Re-initialises every parameter with O(1) spread so each one visibly affects the output."""
    with torch.no_grad():
        done = set()
        for m in module.modules():
            if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
                done.update((id(m.weight), id(m.bias)))
        for p in module.parameters():
            if id(p) in done:
                continue
            if p.dim() >= 2:  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like nn.Linear
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def run_case(model, inputs, forward, gen):
    """forward(model, inputs) -> OrderedDict of outputs. Returns the tensors to store (f32)."""
    model = model.double()
    ins = {k: v.double().clone().requires_grad_(True) for k, v in inputs.items()}
    outs = forward(model, ins)
    weights = {k: torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in outs.items()}
    loss = sum((outs[k] * weights[k]).sum() for k in outs)
    loss.backward()
    store = {}
    for k, v in ins.items():
        store["input." + k] = v.detach()
        store["grad_input." + k] = v.grad
    for k, v in outs.items():
        store["output." + k] = v.detach()
        store["loss_weight." + k] = weights[k]
    for n, p in model.named_parameters():
        store["grad." + n] = p.grad
    return store


def finish(store, state, path, config):
    tensors = {}
    for n, t in state.items():
        tensors["param." + n] = t.detach().float().contiguous() if t.is_floating_point() else t.contiguous()
    for n, t in store.items():
        tensors[n] = t.detach().float().contiguous()
    save_file(tensors, path, metadata={"config": json.dumps(config, sort_keys=True)})
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    print(f"{path}: {len(tensors)} tensors, {size / 1e6:.2f} MB")


# ------------------------------------------------------------------ Hugging Face CLIP
def make_clip_hf(out_dir, gen):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = dict(width=64, layers=2, heads=4, patch=8, image=32, output_dim=32, batch=2)
    hf_cfg = CLIPVisionConfig(hidden_size=cfg["width"], intermediate_size=4 * cfg["width"],
                              num_hidden_layers=cfg["layers"], num_attention_heads=cfg["heads"],
                              image_size=cfg["image"], patch_size=cfg["patch"], projection_dim=cfg["output_dim"],
                              hidden_act="quick_gelu", layer_norm_eps=1e-5)
    hf_cfg._attn_implementation = "eager"
    model = CLIPVisionModelWithProjection(hf_cfg).eval()
    randomize_(model, gen)
    state = OrderedDict(model.state_dict())
    # Older transformers versions saved this index buffer; the loader must skip it.
    state["vision_model.embeddings.position_ids"] = torch.arange(cfg["image"] ** 2 // cfg["patch"] ** 2 + 1)[None]
    x = torch.rand((cfg["batch"], 3, cfg["image"], cfg["image"]), generator=gen) * 2 - 1

    def forward(m, ins):
        r = m(pixel_values=ins["x"], output_hidden_states=False)
        hidden = r.last_hidden_state  # before post_layernorm in HF
        tokens = m.vision_model.post_layernorm(hidden[:, 1:])
        return OrderedDict(pooled=r.image_embeds, tokens=tokens)

    store = run_case(model, {"x": x}, forward, gen)
    finish(store, state, os.path.join(out_dir, "clip_vit_hf.safetensors"), cfg)


# ------------------------------------------------------------------ OpenCLIP layout, plain torch
class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        for b in self.resblocks:
            x = b(x)
        return x


class OpenClipVisual(nn.Module):
    """OpenCLIP's VisionTransformer (pool 'tok', output_tokens=True) reduced to what SIND uses."""

    def __init__(self, width, layers, heads, patch, image, output_dim, class_token=True):
        super().__init__()
        grid = image // patch
        self.class_token = class_token
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        if class_token:
            self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + int(class_token), width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim)) if output_dim else None

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        if self.class_token:
            cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
            x = torch.cat([cls, x], dim=1)
        x = self.ln_pre(x + self.positional_embedding)
        x = self.ln_post(self.transformer(x))
        if not self.class_token:
            return None, x
        pooled = x[:, 0] @ self.proj if self.proj is not None else x[:, 0]
        return pooled, x[:, 1:]


class ClipHolder(nn.Module):
    def __init__(self, visual):
        super().__init__()
        self.visual = visual


class LocalGlobal(nn.Module):
    def __init__(self, visual, global_dim, local_dim):
        super().__init__()
        self.clip_model = ClipHolder(visual)
        self.head = nn.Module()
        self.head.quality_predictor = nn.Sequential(nn.Linear(global_dim + local_dim, 1))

    def forward(self, xg, xl):
        g, _ = self.clip_model.visual(xg)
        _, t = self.clip_model.visual(xl)
        return self.head.quality_predictor(torch.cat([g, t.mean(dim=1)], dim=1))


def make_sind_local_global(out_dir, gen):
    cfg = dict(width=64, layers=2, heads=4, patch=16, image=32, output_dim=32, batch=3)
    visual = OpenClipVisual(cfg["width"], cfg["layers"], cfg["heads"], cfg["patch"], cfg["image"], cfg["output_dim"])
    model = LocalGlobal(visual, cfg["output_dim"], cfg["width"])
    randomize_(model, gen)
    state = OrderedDict(model.state_dict())
    # The reference keeps the whole CLIP model; a few text-tower names the loader must skip.
    state["clip_model.logit_scale"] = torch.tensor(4.6052)
    state["clip_model.token_embedding.weight"] = torch.randn((10, 8), generator=gen)
    state["clip_model.transformer.resblocks.0.ln_1.weight"] = torch.ones(8)
    xg = torch.rand((cfg["batch"], 3, cfg["image"], cfg["image"]), generator=gen) * 2 - 1
    xl = torch.rand((cfg["batch"], 3, cfg["image"], cfg["image"]), generator=gen) * 2 - 1
    store = run_case(model, {"x_global": xg, "x_local": xl},
                     lambda m, i: OrderedDict(score=m(i["x_global"], i["x_local"])), gen)
    finish(store, state, os.path.join(out_dir, "sind_local_global.safetensors"), cfg)


def make_dsm_predictor(out_dir, gen):
    cfg = dict(width=64, layers=2, heads=4, patch=8, image=32, batch=2)
    model = nn.Module()
    model.encoder = OpenClipVisual(cfg["width"], cfg["layers"], cfg["heads"], cfg["patch"], cfg["image"], 0,
                                   class_token=False)
    model.decoder = nn.Sequential(nn.Linear(cfg["width"], 1))
    randomize_(model, gen)
    state = OrderedDict(model.state_dict())
    x = torch.rand((cfg["batch"], 3, cfg["image"], cfg["image"]), generator=gen)
    grid = cfg["image"] // cfg["patch"]

    def forward(m, ins):
        _, tokens = m.encoder(ins["x"])
        return OrderedDict(map=m.decoder(tokens).reshape(ins["x"].shape[0], 1, grid, grid))

    store = run_case(model, {"x": x}, forward, gen)
    finish(store, state, os.path.join(out_dir, "dsm_predictor_tiny.safetensors"), cfg)


# ------------------------------------------------------------------ torchvision-layout ResNet
class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride, expansion=4):
        super().__init__()
        cout = planes * expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return self.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, blocks, stem, planes, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem
        for s in range(4):
            layers = []
            for b in range(blocks[s]):
                layers.append(Bottleneck(cin, planes[s], 2 if (b == 0 and s > 0) else 1))
                cin = planes[s] * 4
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = OrderedDict()
        for s in range(1, 5):
            h = getattr(self, f"layer{s}")(h)
            out[f"layer{s}"] = h
        out["pooled"] = torch.flatten(self.avgpool(h), 1)
        out["logits"] = self.fc(out["pooled"])
        return out


def check_torchvision_names():
    """The plain-torch ResNet above must name things exactly like torchvision's resnet50."""
    try:
        import torchvision
    except ImportError:
        print("torchvision not installed: skipped the name check against torchvision.models.resnet50")
        return
    ours = ResNet([3, 4, 6, 3], 64, [64, 128, 256, 512], 1000).state_dict()
    theirs = torchvision.models.resnet50().state_dict()
    assert list(ours) == list(theirs), "plain-torch ResNet names differ from torchvision's"
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    print("ResNet names and shapes match torchvision.models.resnet50")


def make_resnet(out_dir, gen):
    cfg = dict(blocks=[1, 1, 1, 1], stem=8, planes=[4, 8, 16, 32], num_classes=10, batch=2, image=48)
    model = ResNet(cfg["blocks"], cfg["stem"], cfg["planes"], cfg["num_classes"])
    randomize_(model, gen)
    with torch.no_grad():  # non-trivial running statistics for the eval-mode forward
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.num_batches_tracked.fill_(7)
    state = OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    x = torch.rand((cfg["batch"], 3, cfg["image"], cfg["image"]), generator=gen) * 2 - 1

    model = model.double()
    model.eval()
    with torch.no_grad():
        eval_logits = model(x.double())["logits"]
    model.train()
    store = run_case(model, {"x": x}, lambda m, i: m(i["x"]), gen)
    store["eval.logits"] = eval_logits
    for k, v in model.state_dict().items():  # running statistics after the one training forward
        if "running_" in k:
            store["after." + k] = v
    finish(store, state, os.path.join(out_dir, "resnet_tiny.safetensors"), cfg)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "models"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(20240412)
    check_torchvision_names()
    make_clip_hf(args.out, gen)
    make_sind_local_global(args.out, gen)
    make_dsm_predictor(args.out, gen)
    make_resnet(args.out, gen)


if __name__ == "__main__":
    main()
