#!/usr/bin/env python3
"""PyTorch peers of iqa-bench's layout cases (bench/bench_nhwc.cpp): ResNet-50's layer1 3x3 conv, its
widest batch norm and the stem's max pool at batch 110 (4 with small), NCHW and channels-last side by
side. The *_nhwc cases use memory_format=torch.channels_last tensors (weights too, as
model.to(memory_format=torch.channels_last) makes them), with the logical NCHW shape PyTorch always
reports; the shape strings are written in each layout's memory order, as iqa-bench prints them.
bench/torch_peer.py imports make_case from here for the op names in OPS.

- conv2d_3x3 / conv2d_nhwc_3x3: F.conv2d 64 -> 64 at 56x56, 3x3, stride 1, padding 1, no bias;
  FLOPs 2*B*56*56*64*64*9. The *_fwd_bwd variants add torch.autograd.grad for the input and the
  weight (3x the forward's FLOPs).
- batch_norm / batch_norm_nhwc: F.batch_norm in training mode at [B, 256, 56, 56] with affine
  parameters and running statistics, forward and backward (input, weight and bias gradients);
  bytes 8x the activation (see bench_nhwc.cpp). On CUDA the parameters are f32, as under autocast.
- max_pool / max_pool_nhwc: F.max_pool2d(3, 2, 1), 112 -> 56 at 64 channels, forward; bytes input +
  output.
"""
import torch
import torch.nn.functional as F

OPS = ["conv2d_3x3", "conv2d_nhwc_3x3", "conv2d_3x3_fwd_bwd", "conv2d_nhwc_3x3_fwd_bwd", "batch_norm",
       "batch_norm_nhwc", "max_pool", "max_pool_nhwc"]


def dims(*ds):
    return "x".join(str(d) for d in ds)


def _layout_shape(nhwc, b, c, h, w):
    return dims(b, h, w, c) if nhwc else dims(b, c, h, w)


def _grad_case(fn):
    """Runs fn (which differentiates) with autograd on, inside torch_peer's inference_mode."""
    def run():
        with torch.inference_mode(False), torch.enable_grad():
            fn()
    return run


def make_case(op, device, dtype, small):
    """Returns (shape string, bytes, flops, callable) for one op, as bench/bench_nhwc.cpp counts it."""
    nhwc = "_nhwc" in op
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    batch = 4 if small else 110
    es = torch.empty((), dtype=dtype).element_size()

    # main() runs under inference_mode; tensors that autograd will see must be made outside it.
    def rnd(*shape, grad=False, dt=dtype):
        with torch.inference_mode(False):
            t = torch.randn(*shape, device=device, dtype=dt)
            if len(shape) == 4:
                t = t.contiguous(memory_format=fmt)
            return t.requires_grad_(grad)

    if op.startswith("conv2d"):
        c, h = 64, 56
        backward = op.endswith("_fwd_bwd")
        x, w = rnd(batch, c, h, h, grad=backward), rnd(c, c, 3, 3, grad=backward)
        flops = 2.0 * batch * h * h * c * c * 9 * (3.0 if backward else 1.0)
        shape = _layout_shape(nhwc, batch, c, h, h) + ",k3s1p1"
        if not backward:
            return shape, 0.0, flops, lambda: F.conv2d(x, w, None, stride=1, padding=1)
        gy = rnd(batch, c, h, h)
        return shape, 0.0, flops, _grad_case(
            lambda: torch.autograd.grad(F.conv2d(x, w, None, stride=1, padding=1), (x, w), gy))
    if op.startswith("batch_norm"):
        c, h = 256, 56
        param_dtype = dtype if device == "cpu" else torch.float32
        x, gy = rnd(batch, c, h, h, grad=True), rnd(batch, c, h, h)
        w, b = rnd(c, grad=True, dt=param_dtype), rnd(c, grad=True, dt=param_dtype)
        with torch.inference_mode(False):
            running_mean = torch.zeros(c, device=device, dtype=param_dtype)
            running_var = torch.ones(c, device=device, dtype=param_dtype)
        nbytes = 8.0 * x.numel() * es

        def fwd_bwd():
            y = F.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=0.1, eps=1e-5)
            torch.autograd.grad(y, (x, w, b), gy)
        return _layout_shape(nhwc, batch, c, h, h), nbytes, 0.0, _grad_case(fwd_bwd)
    if op.startswith("max_pool"):
        c, h, out = 64, 112, 56
        x = rnd(batch, c, h, h)
        nbytes = (x.numel() + batch * c * out * out) * es
        return (_layout_shape(nhwc, batch, c, h, h) + ",k3s2p1", nbytes, 0.0,
                lambda: F.max_pool2d(x, 3, stride=2, padding=1))
    raise SystemExit(f"torch_peer_nhwc: unknown op '{op}' (known: {' '.join(OPS)})")
