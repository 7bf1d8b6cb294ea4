#!/usr/bin/env python3
"""Writes tests/fixtures/resize/*.png: PIL's Image.resize(BILINEAR) of a synthetic 97x61 RGB image.

torchvision's Resize on a PIL image calls exactly this PIL function, so these files pin what
tests/image/test_augment.cpp requires of resize_bilinear_antialias (within +-1 gray level).
The source image is not stored: it is the integer formula below, which the test reproduces.

Usage: python3 tools/make_resize_fixture.py   (needs Pillow; run from anywhere)
"""
import os
import sys

from PIL import Image

WIDTH, HEIGHT = 97, 61
# (width, height) of each output: downscale by a non-integer factor, a large downscale, an anisotropic
# squash (shrink x, enlarge y) and an upscale.
TARGETS = [(37, 23), (13, 9), (48, 72), (109, 67)]


def source_pixel(x, y, c):
    """Gradients + a 4-pixel checkerboard + hashed noise, clipped to 0..255 (uint32 arithmetic)."""
    if c == 0:
        v = x * 255 // (WIDTH - 1)
    elif c == 1:
        v = y * 255 // (HEIGHT - 1)
    else:
        v = (x + y) * 255 // (WIDTH + HEIGHT - 2)
    v += 50 if (x // 4 + y // 4) % 2 else -50
    h = ((x * 73856093) & 0xFFFFFFFF) ^ ((y * 19349663) & 0xFFFFFFFF) ^ ((c * 83492791) & 0xFFFFFFFF)
    v += (h >> 13) % 13 - 6
    return max(0, min(255, v))


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "resize")
    os.makedirs(out_dir, exist_ok=True)
    data = bytes(source_pixel(x, y, c) for y in range(HEIGHT) for x in range(WIDTH) for c in range(3))
    src = Image.frombytes("RGB", (WIDTH, HEIGHT), data)
    for w, h in TARGETS:
        path = os.path.join(out_dir, f"src97x61_to_{w}x{h}.png")
        src.resize((w, h), Image.BILINEAR).save(path, optimize=True)
        print(path, os.path.getsize(path), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
