#!/usr/bin/env python3
"""PyTorch peer of iqa-bench: the same ops at the same shapes, timed the same way, printed as the
same JSON lines (with "impl": "torch") so bench/gpu_check.sh can put the two side by side.

Timing (mirrors bench/timer.h): warm-up calls, then per repetition a 256 MiB buffer is zeroed (evicts
L2 and lets the host run ahead of the GPU) and a pair of CUDA events brackets one call; the median
is reported. Byte and FLOP counts match bench/bench_ops.cpp.

Besides iqa-bench's ops it times "sdpa_fused" (F.scaled_dot_product_attention, a fused kernel) as a
reference for what the unfused "sdpa" may gain later; iqa-bench has no such entry yet.

"attention_fwd" and "attention_fwd_bwd" (the peers of bench/bench_attention.cpp) print one row per
PyTorch backend, forced with torch.nn.attention.sdpa_kernel: impl "torch-flash" (FlashAttention-2)
and "torch-cudnn" (cuDNN's fused attention, where this PyTorch has it). FLOPs as in
bench_attention.cpp: 4*B*H*S^2*D forward, 3.5x that forward+backward.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

OPS = ["copy", "copy_large", "copy_permute", "add", "gelu", "softmax", "layer_norm", "linear_qkv", "linear_mlp",
       "conv2d_stem", "sdpa", "sdpa_fused", "attention_fwd", "attention_fwd_bwd"]
ATTENTION_OPS = ("attention_fwd", "attention_fwd_bwd")
# SIND's own kernels (scale-shift loss, fusion head, view kernels) have their peers in torch_peer_iqa.py.
try:
    import torch_peer_iqa
    OPS += torch_peer_iqa.OPS
except ImportError:  # the view peers need torchvision and PIL; the engine ops do not
    torch_peer_iqa = None
# The ViT training-step kernels (fused bias+QuickGELU, add+LayerNorm, soft cross-entropy, multi-tensor
# optimizers) have theirs in torch_peer_vit.py, one row per PyTorch variant.
import torch_peer_vit
OPS += torch_peer_vit.OPS
# ResNet-50's conv / batch norm / max pool in NCHW and channels-last (bench/bench_nhwc.cpp) have theirs
# in torch_peer_nhwc.py.
import torch_peer_nhwc
OPS += torch_peer_nhwc.OPS
# Whole training steps (SIND, DSMix stage 2) have theirs in torch_peer_train.py; rows report images/s.
try:
    import torch_peer_train
    OPS += torch_peer_train.OPS
except ImportError:
    torch_peer_train = None
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16, "f64": torch.float64}


def dims(*ds):
    return "x".join(str(d) for d in ds)


def make_case(op, device, dtype, small):
    """Returns (shape string, bytes, flops, callable) for one op; see bench/bench_ops.cpp."""
    es = torch.empty((), dtype=dtype).element_size()
    rows, cols = (1024 if small else 12608), 768
    n = rows * cols

    def rnd(*shape):
        return torch.randn(*shape, device=device, dtype=dtype)

    if op in ("copy", "copy_large"):
        count = n if op == "copy" else ((1 << 22) if small else (1 << 27))
        src, dst = rnd(count), torch.empty(count, device=device, dtype=dtype)
        return (dims(rows, cols) if op == "copy" else dims(count)), 2.0 * count * es, 0.0, lambda: dst.copy_(src)
    if op == "copy_permute":
        b = 4 if small else 64
        src = rnd(b, 197, 12, 64)
        return dims(b, 197, 12, 64), 2.0 * src.numel() * es, 0.0, lambda: src.permute(0, 2, 1, 3).contiguous()
    if op == "add":
        a, b = rnd(rows, cols), rnd(rows, cols)
        return dims(rows, cols), 3.0 * n * es, 0.0, lambda: torch.add(a, b)
    if op == "gelu":
        a = rnd(rows, cols)
        return dims(rows, cols), 2.0 * n * es, 0.0, lambda: F.gelu(a)
    if op == "softmax":
        a = rnd(rows, cols)
        return dims(rows, cols), 2.0 * n * es, 0.0, lambda: torch.softmax(a, -1)
    if op == "layer_norm":
        x, w, b = rnd(rows, cols), rnd(cols), rnd(cols)
        return dims(rows, cols), 2.0 * n * es + 2.0 * cols * es, 0.0, lambda: F.layer_norm(x, (cols,), w, b, 1e-5)
    if op in ("linear_qkv", "linear_mlp"):
        m, k, nout = (1024 if small else 50432), 768, (2304 if op == "linear_qkv" else 3072)
        x, w, b = rnd(m, k), rnd(nout, k), rnd(nout)
        return dims(m, k, nout), 0.0, 2.0 * m * k * nout, lambda: F.linear(x, w, b)
    if op == "conv2d_stem":
        batch = 4 if small else 64
        x, w = rnd(batch, 3, 224, 224), rnd(64, 3, 7, 7)
        flops = 2.0 * batch * 64 * 112 * 112 * 3 * 7 * 7
        return dims(batch, 3, 224, 224) + ",k7s2p3", 0.0, flops, lambda: F.conv2d(x, w, None, stride=2, padding=3)
    if op in ("sdpa", "sdpa_fused"):
        batch, heads, seq, hd = (4 if small else 256), 12, 197, 64
        q, k, v = rnd(batch, heads, seq, hd), rnd(batch, heads, seq, hd), rnd(batch, heads, seq, hd)
        flops = 4.0 * batch * heads * seq * seq * hd
        scale = hd ** -0.5
        if op == "sdpa":  # the same unfused algorithm as the engine's op
            run = lambda: torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * scale, -1), v)
        else:
            run = lambda: F.scaled_dot_product_attention(q, k, v)
        return dims(batch, heads, seq, hd), 0.0, flops, run
    raise SystemExit(f"torch_peer: unknown op '{op}' (known: {' '.join(OPS)})")


def attention_cases(op, device, dtype, small):
    """[(impl, shape, bytes, flops, callable)] for the fused-attention peers, one per SDPA backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    batch, heads, seq, hd = (4 if small else 256), 12, 197, 64
    backward = op == "attention_fwd_bwd"
    flops = 4.0 * batch * heads * seq * seq * hd * (3.5 if backward else 1.0)
    # main() runs under inference_mode; tensors that autograd will see must be made outside it.
    with torch.inference_mode(False):
        q, k, v = (torch.randn(batch, heads, seq, hd, device=device, dtype=dtype, requires_grad=backward)
                   for _ in range(3))
        grad_out = torch.randn(batch, heads, seq, hd, device=device, dtype=dtype)

    def runner(backend):
        def run():
            with torch.inference_mode(False), torch.enable_grad(), sdpa_kernel(backend):
                out = F.scaled_dot_product_attention(q, k, v)
                if backward:
                    # The gradients themselves, not accumulation into .grad: what the fused op hands back.
                    torch.autograd.grad(out, (q, k, v), grad_out)
        return run

    backends = [("torch-flash", SDPBackend.FLASH_ATTENTION)]
    if device != "cuda":
        pass  # cuDNN attention exists on the GPU only
    elif hasattr(SDPBackend, "CUDNN_ATTENTION"):
        backends.append(("torch-cudnn", SDPBackend.CUDNN_ATTENTION))
    else:
        print(f"note: {op}: this PyTorch has no cuDNN SDPA backend; no torch-cudnn row", file=sys.stderr)
    shape = dims(batch, heads, seq, hd)
    return [(impl, shape, 0.0, flops, runner(backend)) for impl, backend in backends]


def time_reps(device, warmup, reps, run):
    for _ in range(warmup):
        run()
    if device == "cpu":
        ms = []
        for _ in range(reps):
            t0 = time.perf_counter()
            run()
            ms.append((time.perf_counter() - t0) * 1e3)
        return ms
    flush = torch.empty(256 << 20, dtype=torch.uint8, device=device)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    stops = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        flush.zero_()
        starts[i].record()
        run()
        stops[i].record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in zip(starts, stops)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--ops", default=",".join(OPS), help="comma-separated op names")
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions (default 100 cuda, 10 cpu)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls first (default 10 cuda, 2 cpu)")
    ap.add_argument("--dtype", default=None, choices=sorted(DTYPES), help="default bf16 on cuda, f32 on cpu")
    ap.add_argument("--small", action="store_true", help="the reduced shapes of iqa-bench --small")
    args = ap.parse_args()

    on_cuda = args.device == "cuda"
    if on_cuda and not torch.cuda.is_available():
        raise SystemExit("torch_peer: --device cuda but torch sees no GPU")
    dtype_name = args.dtype or ("bf16" if on_cuda else "f32")
    dtype = DTYPES[dtype_name]
    reps = args.reps if args.reps is not None else (100 if on_cuda else 10)
    warmup = args.warmup if args.warmup is not None else (10 if on_cuda else 2)
    # The strongest PyTorch baseline: cuDNN picks its fastest convolution algorithm during warm-up.
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)

    failures = 0
    with torch.inference_mode():
        for op in [o for o in args.ops.split(",") if o]:
            try:
                if op in ATTENTION_OPS:  # one row per SDPA backend
                    cases = attention_cases(op, args.device, dtype, args.small)
                elif op in torch_peer_vit.OPS:
                    cases = torch_peer_vit.make_cases(op, args.device, dtype, args.small)
                elif op in torch_peer_nhwc.OPS:
                    cases = [("torch",) + torch_peer_nhwc.make_case(op, args.device, dtype, args.small)]
                elif torch_peer_iqa is not None and op in torch_peer_iqa.OPS:
                    cases = [("torch",) + torch_peer_iqa.make_case(op, args.device, dtype, args.small)]
                elif torch_peer_train is not None and op in torch_peer_train.OPS:
                    cases = [("torch",) + torch_peer_train.make_case(op, args.device, dtype, args.small)]
                else:
                    cases = [("torch",) + make_case(op, args.device, dtype, args.small)]
            except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                print(f"error: {op}: {e}", file=sys.stderr)
                failures += 1
                continue
            for impl, shape, nbytes, flops, run in cases:
                try:
                    ms = time_reps(args.device, warmup, reps, run)
                except (RuntimeError, torch.cuda.OutOfMemoryError) as e:
                    print(f"error: {op} ({impl}): {e}", file=sys.stderr)
                    failures += 1
                    continue
                med = statistics.median(ms)
                rec = {"impl": impl, "device": args.device, "op": op, "shape": shape, "dtype": dtype_name,
                       "median_ms": med, "min_ms": min(ms), "reps": reps}
                if nbytes:
                    rec["gbps"] = nbytes / (med * 1e-3) / 1e9
                if flops:
                    rec["tflops"] = flops / (med * 1e-3) / 1e12
                if torch_peer_train is not None and op in torch_peer_train.ITEMS:
                    rec["images_per_s"] = torch_peer_train.ITEMS[op] / (med * 1e-3)
                print(json.dumps(rec), flush=True)
            cases = run = None  # frees the inputs before the next op allocates its own
            if on_cuda:
                torch.cuda.empty_cache()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
