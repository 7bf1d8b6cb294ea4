#!/usr/bin/env python3
"""Writes tests/fixtures/clip_text/: what tests/test_clip_text.cpp compares the C++ CLIP text side with.

  tokenizer.json      open_clip's tokenizer (SimpleTokenizer, clean='lower', context 77) on a varied list
                      of strings: {"cases": [{"text": ..., "tokens": [ids without the padding]}]}
  clip_tiny.safetensors  an open_clip CLIP (QuickGELU) with both towers at reduced size and seeded random
                      weights in OpenCLIP's names, a token batch, an image batch and the outputs:
                      text features, image features, logits_per_image.
  clip_tiny_hf.safetensors  the same for a Hugging Face transformers CLIPModel (its own names: q/k/v split,
                      projections as Linear weights), so the name translation is checked against the
                      library that writes those names, not against the test's own idea of them.

Why reduced size: the full ViT-B/32 text tower (width 512, 12 layers, 8 heads, context 77, vocabulary
49,408) has 63M parameters (250 MB in f32), far over what a repository should carry; every layer of it is
the same code as the reduced tower's (width 64, 2 layers, 4 heads, the full context of 77, a 512-token
vocabulary so the embedding stays small). The test checks the full-size config's parameter shapes against
open_clip's (stored below as "full_shapes"). Pooling is at the argmax token id as in open_clip, so the
token batch puts its largest id (511, standing in for <end_of_text>) at each sequence's end.

Forward runs in float64 on float32-rounded weights; everything is stored as float32.
Usage: /opt/torchenv/bin/python tools/make_clip_text_fixtures.py [--out tests/fixtures/clip_text]
           [--full /tmp/clip_full.safetensors]   (then IQA_CLIP_FULL_FIXTURE=that build/iqa_tests "[.clip-full]")
(needs torch, open_clip_torch, transformers, safetensors).
"""
import argparse
import json
import math
import os

import open_clip
import torch
from safetensors.torch import save_file

STRINGS = [
    "a photo of Animal", "a photo of Indoor scene", "a photo of Still-life", "a photo of Night scene",
    "Hello, World!!! What's up?", "  lots   of\twhitespace\n\nand  newlines  ",
    "don't can't we're they've I'm you'll she'd it's", "DON'T SHOUT'S",
    "numbers 1234 and 3.14159, 1,000,000 and 2nd 21st", "x² ½ ٣ ① Ⅻ",
    "café naïve résumé Zürich São Paulo Ærøskøbing", "Ελληνικά Русский текст", "日本語のテキスト 中文 한국어",
    "emoji 😀🎉👍🏽 and ❤️ hearts", "tom&amp;jerry &lt;b&gt; &quot;quoted&quot; &#39;x&#39; &#x263A;",
    "curly “double” and ‘single’ quotes", "email@example.com https://x.org/a?b=c#d", "__init__ ++ -- ... ???",
    "<start_of_text> inside <end_of_text>", "", "İstanbul ŞIK",
    " ".join(["long"] + [f"word{i}" for i in range(60)]) + " the end",
]


def randomize_(module, gen):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("logit_scale"):
                continue
            if name.count(".") and name.split(".")[-2].startswith("ln"):  # LayerNorm: weight ~1, bias ~0
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() >= 2:
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / math.sqrt(p.shape[-1]))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def make_model(width_t, layers_t, heads_t, vocab, embed, vision):
    return open_clip.CLIP(
        embed_dim=embed, quick_gelu=True, vision_cfg=vision,
        text_cfg=dict(context_length=77, vocab_size=vocab, width=width_t, heads=heads_t, layers=layers_t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/clip_text")
    ap.add_argument("--full", help="also write the full-size case to this path")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    tok = open_clip.get_tokenizer("ViT-B-32")
    lines = []
    for s in STRINGS:  # the padding zeros dropped (the last real id is <end_of_text>); the test adds them
        ids = tok([s])[0].tolist()
        while ids[-1] == 0:
            ids.pop()
        lines.append(json.dumps({"text": s, "tokens": ids}, ensure_ascii=False))
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write('{"open_clip": "%s", "cases": [\n%s\n]}\n' % (open_clip.__version__, ",\n".join(lines)))

    gen = torch.Generator().manual_seed(2024)
    vision = dict(image_size=32, patch_size=16, width=64, layers=2, head_width=16)
    cfg = dict(text_width=64, text_layers=2, text_heads=4, vocab=512, embed=32, context=77, vision=vision)
    tensors = parity_case(cfg, gen)
    full = make_model(512, 12, 8, 49408, 512, FULL_VISION)
    full_shapes = {k: list(v.shape) for k, v in full.state_dict().items() if k != "attn_mask"}
    save_file(tensors, os.path.join(args.out, "clip_tiny.safetensors"),
              metadata={"config": json.dumps(cfg), "full_shapes": json.dumps(full_shapes)})
    hf_cfg = dict(cfg, vision=dict(vision))
    save_file(hf_parity_case(hf_cfg, torch.Generator().manual_seed(2025)),
              os.path.join(args.out, "clip_tiny_hf.safetensors"),
              metadata={"config": json.dumps(hf_cfg), "full_shapes": "{}"})
    if args.full:  # the same case at ViT-B/32 size (600 MB, not committed): test "[.clip-full]"
        cfg = dict(text_width=512, text_layers=12, text_heads=8, vocab=49408, embed=512, context=77, vision=FULL_VISION)
        save_file(parity_case(cfg, gen), args.full, metadata={"config": json.dumps(cfg), "full_shapes": "{}"})


FULL_VISION = dict(image_size=224, patch_size=32, width=768, layers=12, head_width=64)


def random_tokens(vocab, gen):
    """4 token sequences of lengths 2..77: start (vocab-2), random ids, end (vocab-1, the largest id)."""
    lengths = [2, 7, 30, 77]
    tokens = torch.zeros(len(lengths), 77, dtype=torch.long)
    for i, n in enumerate(lengths):
        tokens[i, 0] = vocab - 2
        tokens[i, 1:n - 1] = torch.randint(1, vocab - 12, (n - 2,), generator=gen)
        tokens[i, n - 1] = vocab - 1
    return tokens


def hf_parity_case(cfg, gen):
    """A transformers CLIPModel at the tiny size, random weights, its outputs in float64."""
    import transformers
    v, vis = cfg["vocab"], cfg["vision"]
    text_cfg = dict(vocab_size=v, hidden_size=cfg["text_width"], intermediate_size=4 * cfg["text_width"],
                    num_hidden_layers=cfg["text_layers"], num_attention_heads=cfg["text_heads"],
                    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                    bos_token_id=v - 2, eos_token_id=v - 1, pad_token_id=0)
    vision_cfg = dict(hidden_size=vis["width"], intermediate_size=4 * vis["width"], num_hidden_layers=vis["layers"],
                      num_attention_heads=vis["width"] // vis["head_width"], image_size=vis["image_size"],
                      patch_size=vis["patch_size"], hidden_act="quick_gelu", layer_norm_eps=1e-5)
    config = transformers.CLIPConfig(text_config=text_cfg, vision_config=vision_cfg, projection_dim=cfg["embed"])
    config._attn_implementation = "eager"
    model = transformers.CLIPModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            if "norm" in name:  # every LayerNorm of transformers' CLIP has "norm" in its name
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() >= 2:
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / math.sqrt(p.shape[-1]))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    model = model.float().double().eval()
    tokens = random_tokens(v, gen)
    images = torch.randn(3, 3, vis["image_size"], vis["image_size"], generator=gen).float().double()
    with torch.no_grad():
        text = model.text_projection(model.text_model(input_ids=tokens).pooler_output)
        image = model.visual_projection(model.vision_model(pixel_values=images).pooler_output)
        logits = model.logit_scale.exp() * torch.nn.functional.normalize(image, dim=-1) @ \
            torch.nn.functional.normalize(text, dim=-1).T
    tensors = {f"param.{k}": t.float().contiguous() for k, t in model.state_dict().items()}
    tensors.update({"input.tokens": tokens.to(torch.int64), "input.images": images.float(),
                    "output.text_features": text.float(), "output.image_features": image.float(),
                    "output.logits_per_image": logits.float()})
    return tensors


def parity_case(cfg, gen):
    """Random weights, 4 token sequences (lengths 2..77, the end token the largest id), 3 images."""
    v = cfg["vocab"]
    model = make_model(cfg["text_width"], cfg["text_layers"], cfg["text_heads"], v, cfg["embed"], cfg["vision"])
    randomize_(model, gen)
    model = model.float().double().eval()
    tokens = random_tokens(v, gen)
    size = cfg["vision"]["image_size"]
    images = torch.randn(3, 3, size, size, generator=gen).float().double()
    with torch.no_grad():
        text = model.encode_text(tokens)
        image = model.encode_image(images)
        logits = model.logit_scale.exp() * torch.nn.functional.normalize(image, dim=-1) @ \
            torch.nn.functional.normalize(text, dim=-1).T
    tensors = {f"param.{k}": v.float().contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    tensors.update({"input.tokens": tokens.to(torch.int64), "input.images": images.float(),
                    "output.text_features": text.float(), "output.image_features": image.float(),
                    "output.logits_per_image": logits.float()})
    return tensors

if __name__ == "__main__":
    main()
