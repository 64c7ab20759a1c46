#!/usr/bin/env python3
"""Regenerates tests/reference/golden/norms_*.txt: LayerNorm and RMSNorm computed with PyTorch.

Each file holds one case: the input x (tokens x dim), the parameters under moerb's names ("weight",
"bias", each 1 x dim), the upstream gradient G, and the expected outputs: y, and the gradients of
L = sum(y * G) with respect to x ("grad.x") and every parameter ("grad.<name>"); scalars "eps" and
"dim". LayerNorm uses torch.nn.functional.layer_norm; RMSNorm is written out with torch ops
(y = x * rsqrt(mean(x^2) + eps) * weight), since torch 1.13 has no RMSNorm. The C++ tests
(tests/nn/test_layer_norm.cpp, tests/nn/test_rms_norm.cpp) load them and compare.

The inputs include a constant row (variance 0: only eps keeps the result finite) and a row on an
offset of 1000, so that the reference also exercises the numerically delicate cases.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden_norms.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

T, D = 9, 12


def make_input(gen):
    x = torch.randn(T, D, generator=gen) * 1.5 + 0.3
    x[3] = 0.75  # constant row: variance 0
    # Large offset, spread ~0.5; multiples of 1/64 so that the row is exact in float too (the
    # float test would otherwise measure the rounding of the input, not the algorithm).
    x[6] = 1000.0 + torch.randint(-48, 49, (D,), generator=gen).to(torch.float64) / 64
    return x


def row_param(gen, scale, shift):
    return (torch.randn(1, D, generator=gen) * scale + shift).requires_grad_(True)


def write_case(name, comment, eps, x, params, G, y):
    loss = (y * G).sum()
    names = list(params)
    grads = torch.autograd.grad(loss, [x] + [params[n] for n in names])
    w = GoldenWriter(os.path.join(OUT_DIR, f"norms_{name}.txt"), comment)
    w.scalar("eps", eps)
    w.scalar("dim", D)
    w.tensor("x", x)
    for n in names:
        w.tensor(n, params[n])
    w.tensor("G", G)
    w.tensor("y", y)
    w.tensor("grad.x", grads[0])
    for n, g in zip(names, grads[1:]):
        w.tensor("grad." + n, g)
    w.save()


def layer_norm_case(name, seed, with_bias):
    gen = torch.Generator().manual_seed(seed)
    eps = 1e-5
    x = make_input(gen).requires_grad_(True)
    params = {"weight": row_param(gen, 0.5, 1.0)}
    if with_bias:
        params["bias"] = row_param(gen, 0.5, 0.0)
    G = torch.randn(T, D, generator=gen)
    y = F.layer_norm(x, (D,), params["weight"].reshape(D),
                     params["bias"].reshape(D) if with_bias else None, eps)
    write_case(name, f"LayerNorm T={T} dim={D} eps={eps} bias={with_bias}; L = sum(y * G)",
               eps, x, params, G, y)


def rms_norm_case(name, seed):
    gen = torch.Generator().manual_seed(seed)
    eps = 1e-6
    x = make_input(gen).requires_grad_(True)
    params = {"weight": row_param(gen, 0.5, 1.0)}
    G = torch.randn(T, D, generator=gen)
    y = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * params["weight"]
    write_case(name, f"RMSNorm T={T} dim={D} eps={eps}; L = sum(y * G)", eps, x, params, G, y)


def main():
    layer_norm_case("layer_norm_bias", 101, with_bias=True)
    layer_norm_case("layer_norm_no_bias", 102, with_bias=False)
    rms_norm_case("rms_norm", 103)


if __name__ == "__main__":
    main()
