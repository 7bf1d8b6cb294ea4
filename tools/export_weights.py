#!/usr/bin/env python3
"""Converts PyTorch checkpoints to safetensors for the C++ loaders (models/checkpoint_names.h).

Reads:
  * the OpenAI CLIP TorchScript archive (e.g. ViT-B-16.pt from the CLIP release),
  * OpenCLIP checkpoints (.bin / .pt / .pth: a state dict, possibly under "state_dict" with a
    "module." prefix),
  * torchvision checkpoints (resnet50-*.pth), Hugging Face pytorch_model.bin,
  * any pickled dict of tensors (pick a nested entry with --key, e.g. --key model).
Names are kept as they are (the C++ side knows every naming); --visual-only keeps just the image
tower of a CLIP checkpoint (OpenCLIP "visual.*", Hugging Face "vision_model.*" and
"visual_projection.weight"). Floating tensors keep their dtype unless --dtype says otherwise.

Usage:
  python3 tools/export_weights.py ViT-B-16.pt clip_vit_b16.safetensors --visual-only
  python3 tools/export_weights.py resnet50-0676ba61.pth resnet50.safetensors
  python3 tools/export_weights.py ckpt.pt out.safetensors --key state_dict --list
Pickles are read with torch.load(weights_only=True); --unsafe-pickle lifts that for files you trust.
"""
import argparse
import os
import sys
import zipfile

import torch
from safetensors.torch import save_file

DTYPES = {"keep": None, "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def is_torchscript(path):
    """TorchScript archives are zip files with a constants.pkl next to the code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in z.namelist())


def read_checkpoint(path, unsafe_pickle):
    if is_torchscript(path):
        return torch.jit.load(path, map_location="cpu").state_dict()
    try:
        return torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except Exception as e:  # weights_only refuses arbitrary objects in the pickle
        if unsafe_pickle:
            raise
        sys.exit(f"error: {path}: torch.load(weights_only=True) failed ({e}); "
                 "if you trust the file, rerun with --unsafe-pickle")


def find_state_dict(obj, key, path):
    if key:
        for part in key.split("."):
            if not isinstance(obj, dict) or part not in obj:
                sys.exit(f"error: {path}: no entry '{part}' (of --key {key}); "
                         f"top-level keys: {list(obj)[:20] if isinstance(obj, dict) else type(obj).__name__}")
            obj = obj[part]
    elif isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        for guess in ("state_dict", "model", "module"):  # common wrappers of training checkpoints
            if isinstance(obj.get(guess), dict):
                print(f"{path}: using the nested '{guess}' entry", file=sys.stderr)
                obj = obj[guess]
                break
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        sys.exit(f"error: {path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def is_visual(name):
    name = name[len("module."):] if name.startswith("module.") else name
    return name.startswith(("visual.", "vision_model.")) or name == "visual_projection.weight"


def convert(state, visual_only, dtype, path):
    out, dropped = {}, []
    for name, value in state.items():
        if not torch.is_tensor(value):
            dropped.append(f"{name} (not a tensor: {type(value).__name__})")
            continue
        if visual_only and not is_visual(name):
            continue
        t = value.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[name] = t.contiguous().clone()  # safetensors refuses tensors that share storage
    if dropped:
        print(f"{path}: skipped {len(dropped)} entries: " + ", ".join(dropped[:10]), file=sys.stderr)
    if not out:
        sys.exit(f"error: {path}: no tensors to write" + (" (nothing matched --visual-only)" if visual_only else ""))
    return out


def main():
    ap = argparse.ArgumentParser(description="PyTorch checkpoint -> safetensors")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--visual-only", action="store_true", help="keep only a CLIP checkpoint's image tower")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="keep", help="convert floating tensors")
    ap.add_argument("--key", help="dotted path of the state dict inside the pickle (e.g. state_dict)")
    ap.add_argument("--list", action="store_true", help="print each name, dtype and shape written")
    ap.add_argument("--unsafe-pickle", action="store_true", help="allow arbitrary pickles (trusted files only)")
    args = ap.parse_args()

    state = find_state_dict(read_checkpoint(args.input, args.unsafe_pickle), args.key, args.input)
    tensors = convert(state, args.visual_only, DTYPES[args.dtype], args.input)
    if args.list:
        for n, t in tensors.items():
            print(f"{n}\t{str(t.dtype).replace('torch.', '')}\t{list(t.shape)}")
    meta = {"source": os.path.basename(args.input), "converted_by": "tools/export_weights.py"}
    save_file(tensors, args.output, metadata=meta)
    total = sum(t.numel() for t in tensors.values())
    print(f"{args.output}: {len(tensors)} tensors, {total / 1e6:.2f} M values")


if __name__ == "__main__":
    main()
