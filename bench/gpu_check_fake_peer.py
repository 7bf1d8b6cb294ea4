#!/usr/bin/env python3
"""Dry-run stand-in for the PyTorch peer of bench/gpu_check.sh (python3 stdlib only).

usage: gpu_check_fake_peer.py OURS.jsonl PEER.jsonl

Checks that every op iqa-bench timed has a peer in bench/torch_peer*.py (their OPS lists, read
without importing torch), so a renamed case fails the dry run rather than a GPU run. When PEER.jsonl
holds no rows (no torch here) it appends made-up ones, impl "fake-torch", at 1.25x our time, so the
table's join and ratios run.
"""
import ast
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEER_FILES = ["torch_peer.py", "torch_peer_iqa.py", "torch_peer_vit.py", "torch_peer_nhwc.py", "torch_peer_train.py"]


def peer_ops():
    ops = set()
    for name in PEER_FILES:
        with open(os.path.join(HERE, name)) as f:
            tree = ast.parse(f.read(), name)
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "OPS" for t in node.targets):
                ops.update(ast.literal_eval(node.value))
    return ops


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ours, known = rows(sys.argv[1]), peer_ops()
    missing = sorted({r["op"] for r in ours} - known)
    with open(sys.argv[2], "a") as out:
        for op in missing:
            out.write(f"error: {op}: no PyTorch peer in bench/torch_peer*.py\n")
        if rows(sys.argv[2]):
            return 0
        for r in ours:
            fake = dict(r, impl="fake-torch", median_ms=r["median_ms"] * 1.25, min_ms=r["min_ms"] * 1.25)
            for key in ("gbps", "tflops", "images_per_s"):
                if key in fake:
                    fake[key] = r[key] / 1.25
            out.write(json.dumps(fake) + "\n")
    print(f"fake peer: {len(ours)} rows; every op has a peer" if not missing else f"ops without a peer: {missing}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
