#!/usr/bin/env python3
"""Joins iqa-bench and torch_peer.py JSON lines into one side-by-side table.

usage: bench/compare.py OURS.jsonl TORCH.jsonl

Lines not starting with '{' are ignored, so whole logs can be passed. Columns:
  speed   torch time / our time (above 1: ours is faster)
  rate    GB/s for memory-bound ops, TFLOP/s for GEMM-like ones
  %copy   our GB/s as a share of our own copy_large bandwidth (the device's measured copy bandwidth)
"""
import json
import sys


def read(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            # Several torch rows may share a case (one per attention backend): keep each, by impl.
            out.setdefault((r["op"], r["shape"], r["dtype"]), []).append(r)
    return out


def rate(r):
    if r is None:
        return "-"
    if "gbps" in r:
        return f"{r['gbps']:.4g} GB/s"
    if "tflops" in r:
        return f"{r['tflops']:.4g} TF/s"
    if "images_per_s" in r:
        return f"{r['images_per_s']:.4g} img/s"
    return "-"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    ours, torch = read(sys.argv[1]), read(sys.argv[2])
    copy_bw = next((rs[0]["gbps"] for (op, _, _), rs in ours.items() if op == "copy_large"), None)
    keys = list(ours) + [k for k in torch if k not in ours]
    print(f"{'op':<18} {'shape':<22} {'dtype':<5} {'peer':<12} {'ours_ms':>9} {'torch_ms':>9} {'speed':>6} "
          f"{'ours_rate':>12} {'torch_rate':>12} {'%copy':>6}")
    for key in keys:
        o = ours.get(key, [None])[0]
        for t in torch.get(key, [None]):
            print_row(key, o, t, copy_bw)


def print_row(key, o, t, copy_bw):
    o_ms = f"{o['median_ms']:.4f}" if o else "-"
    t_ms = f"{t['median_ms']:.4f}" if t else "-"
    speed = f"{t['median_ms'] / o['median_ms']:.2f}" if o and t and o["median_ms"] > 0 else "-"
    pct = f"{100 * o['gbps'] / copy_bw:.0f}%" if o and "gbps" in o and copy_bw else "-"
    peer = t.get("impl", "torch") if t else "-"
    print(f"{key[0]:<18} {key[1]:<22} {key[2]:<5} {peer:<12} {o_ms:>9} {t_ms:>9} {speed:>6} "
          f"{rate(o):>12} {rate(t):>12} {pct:>6}")

if __name__ == "__main__":
    main()
