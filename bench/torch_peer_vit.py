#!/usr/bin/env python3
"""PyTorch peers of iqa-bench's ViT training-step cases (bench/bench_vit_step.cpp): PyTorch's eager
computations of the same step pieces at the same shapes and byte counts. bench/torch_peer.py imports
make_cases from here for the op names in OPS; each returns one row per PyTorch variant.

- bias_quick_gelu: OpenCLIP's QuickGELU (x * sigmoid(1.702 x)) on the c_fc output, forward and
  backward, plus the bias gradient (the column sum of d(pre)); 12608 x 3072 (1024 x 3072 with small).
- add_layer_norm: h = x + r, y = F.layer_norm(h), backward with gradients arriving at both y and h;
  12608 x 768.
- cross_entropy_soft: mean(-sum(t * log_softmax(x))) ("torch", the composite) and F.cross_entropy with
  probability targets ("torch-F.cross_entropy"), forward and backward; 64 x 1000.
- adamw_multi_tensor / adamw_per_tensor / sgd_multi_tensor: torch.optim.AdamW / SGD(momentum 0.9) over
  ViT-B/16's fp32 parameter tensors with gradients set: foreach=False ("torch"), foreach=True
  ("torch-foreach") and, for AdamW on CUDA, fused=True ("torch-fused").
"""
import torch
import torch.nn.functional as F

OPS = ["bias_quick_gelu", "add_layer_norm", "cross_entropy_soft", "adamw_multi_tensor", "adamw_per_tensor",
       "sgd_multi_tensor"]


def vit_b16_param_sizes(small):
    w = 768
    sizes = [w, 197 * w, w * 512, w * 3 * 16 * 16, w, w]
    for _ in range(2 if small else 12):
        sizes += [w, w, 3 * w * w, 3 * w, w * w, w, w, w, 4 * w * w, 4 * w, 4 * w * w, w]
    return sizes + [w, w]


def _grad_case(fn):
    """Runs fn (which calls backward) with autograd on, inside torch_peer's inference_mode."""
    def run():
        with torch.inference_mode(False), torch.enable_grad():
            fn()
    return run


def _optimizer_cases(op, device, small):
    sizes = vit_b16_param_sizes(small)
    total = sum(sizes)
    shape = f"{len(sizes)}tensors,{total}"
    nbytes = (5.0 if op == "sgd_multi_tensor" else 7.0) * 4 * total
    variants = [("torch", {"foreach": False})]
    if op != "adamw_per_tensor":
        variants = [("torch-foreach", {"foreach": True})]
        if op == "adamw_multi_tensor" and device == "cuda":
            variants.append(("torch-fused", {"fused": True}))
    cases = []
    for impl, kwargs in variants:
        with torch.inference_mode(False):
            params = [torch.randn(n, device=device, requires_grad=True) for n in sizes]
            for p in params:
                p.grad = torch.randn_like(p)
            if op == "sgd_multi_tensor":
                opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, **kwargs)
            else:
                opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.05, **kwargs)

        def run(opt=opt):
            with torch.inference_mode(False):
                opt.step()
        cases.append((impl, shape, nbytes, 0.0, run))
    return cases


def make_cases(op, device, dtype, small):
    """[(impl, shape, bytes, flops, callable)] for one op; see bench/bench_vit_step.cpp."""
    es = torch.empty((), dtype=dtype).element_size()
    if op in ("adamw_multi_tensor", "adamw_per_tensor", "sgd_multi_tensor"):
        return _optimizer_cases(op, device, small)
    with torch.inference_mode(False):
        if op == "bias_quick_gelu":
            rows, cols = (1024 if small else 12608), 3072
            pre = torch.randn(rows, cols, device=device, dtype=dtype, requires_grad=True)
            g = torch.randn(rows, cols, device=device, dtype=dtype)

            def step():
                pre.grad = None
                y = pre * torch.sigmoid(1.702 * pre)
                y.backward(g)
                pre.grad.sum(0)  # the bias gradient
            return [("torch", f"{rows}x{cols}", 5.0 * rows * cols * es, 0.0, _grad_case(step))]
        if op == "add_layer_norm":
            rows, cols = (1024 if small else 12608), 768
            x, r = (torch.randn(rows, cols, device=device, dtype=dtype, requires_grad=True) for _ in range(2))
            w, b = (torch.randn(cols, device=device, dtype=dtype, requires_grad=True) for _ in range(2))
            gy, gs = (torch.randn(rows, cols, device=device, dtype=dtype) for _ in range(2))

            def step():
                h = x + r
                y = F.layer_norm(h, (cols,), w, b, 1e-5)
                torch.autograd.backward([y, h], [gy, gs])
            return [("torch", f"{rows}x{cols}", 10.0 * rows * cols * es, 0.0, _grad_case(step))]
        if op == "cross_entropy_soft":
            rows, cols = 64, 1000
            x = torch.randn(rows, cols, device=device, dtype=dtype, requires_grad=True)
            t = torch.softmax(torch.randn(rows, cols, device=device, dtype=dtype), -1)

            def composite():
                torch.sum(-t * F.log_softmax(x, -1), -1).mean().backward()

            def functional():
                F.cross_entropy(x, t).backward()
            shape, nbytes = f"{rows}x{cols}", 5.0 * rows * cols * es
            return [("torch", shape, nbytes, 0.0, _grad_case(composite)),
                    ("torch-F.cross_entropy", shape, nbytes, 0.0, _grad_case(functional))]
    raise SystemExit(f"torch_peer_vit: unknown op '{op}' (known: {' '.join(OPS)})")
