#!/usr/bin/env python3
"""Regenerates tests/reference/golden/attention_*.txt: multi-head self-attention computed with PyTorch
autograd (float64) by an independent implementation on a PADDED batch.

The reference works the way padded-batch code does: the B sequences are a B x Lmax x D tensor, a
boolean key mask marks the real (and attendable) tokens, disallowed logits are filled with -inf
before the softmax (masked_fill), and causal masking is a lower-triangular boolean mask. Rotary
position encoding (Su et al. 2021) is written out with the rotate-half pairing (GPT-NeoX / LLaMA):
x * cos + rotate_half(x) * sin with rotate_half([a, b]) = [-b, a], angles pos * base^(-2i/head_dim).
moerb instead packs the real tokens without padding (SequenceBatch); the files store the packed
inputs and outputs, so the C++ test shows that the packed layout gives the padded result.

Each file holds: scalars d_model, num_heads, causal, bias, rotary, rotary_base; tensors lengths
(B x 1), x (tokens x d_model, packed), key_valid (tokens x 1; 0 = may not be attended to), G, the
parameters under moerb's names (w_qkv, b_qkv, w_out, b_out; x @ W layout, q|k|v column blocks with
heads contiguous inside each), y, and the gradients of L = sum(y * G) with respect to x ("grad.x")
and every parameter ("grad.<name>"). The key-mask case also stores the padded layout
(padded_x, padded_key_valid, padded_G, scalar padded_length) for the C++ padded-batch run.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden_attention.py
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def rotate_half(t):
    half = t.shape[-1] // 2
    return torch.cat([-t[..., half:], t[..., :half]], dim=-1)


def apply_rotary(t, base):
    """t: B x H x L x hd; position = index along L."""
    length, hd = t.shape[-2], t.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1)
    return t * cos + rotate_half(t) * sin


def padded_attention(xp, key_valid, p, num_heads, causal, rotary, base):
    """xp: B x L x D (padded); key_valid: B x L bool. Returns y: B x L x D."""
    B, L, D = xp.shape
    hd = D // num_heads
    qkv = xp @ p["w_qkv"]
    if "b_qkv" in p:
        qkv = qkv + p["b_qkv"]
    q, k, v = qkv.split(D, dim=-1)

    def heads(t):
        return t.reshape(B, L, num_heads, hd).transpose(1, 2)

    q, k, v = heads(q), heads(k), heads(v)
    if rotary:
        q, k = apply_rotary(q, base), apply_rotary(k, base)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    allowed = key_valid[:, None, None, :].expand(B, 1, L, L)
    if causal:
        allowed = allowed & torch.ones(L, L, dtype=torch.bool).tril()
    assert bool(allowed.any(dim=-1).all()), "every query needs an attendable key (softmax of -inf)"
    probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(B, L, D)
    y = out @ p["w_out"]
    if "b_out" in p:
        y = y + p["b_out"]
    return y


def make_case(name, gen, lengths, d_model, num_heads, causal=False, bias=True, rotary=False,
              base=10000.0, masked_real=(), pad_to=None):
    """masked_real: packed indices of real tokens that may not be attended to."""
    B = len(lengths)
    L = pad_to or max(lengths)
    T = sum(lengths)

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    params = {"w_qkv": rnd(d_model, 3 * d_model, scale=0.4)}
    if bias:
        params["b_qkv"] = rnd(1, 3 * d_model, scale=0.4)
    params["w_out"] = rnd(d_model, d_model, scale=0.4)
    if bias:
        params["b_out"] = rnd(1, d_model, scale=0.4)
    for t in params.values():
        t.requires_grad_(True)

    # Padded batch: real rows first in every sequence, random garbage in the pads (the mask must
    # make them irrelevant).
    xp = rnd(B, L, d_model)
    valid = torch.zeros(B, L, dtype=torch.bool)
    real = torch.zeros(B, L, dtype=torch.bool)
    for b, n in enumerate(lengths):
        real[b, :n] = True
        valid[b, :n] = True
    packed_index = []  # (b, i) of every packed row
    for b, n in enumerate(lengths):
        packed_index += [(b, i) for i in range(n)]
    for t in masked_real:
        b, i = packed_index[t]
        valid[b, i] = False
    Gp = rnd(B, L, d_model) * real[..., None]  # no gradient from pad rows
    xp.requires_grad_(True)

    y = padded_attention(xp, valid, params, num_heads, causal, rotary, base)
    loss = (y * Gp).sum()
    loss.backward()

    def pack(t):
        return torch.stack([t[b, i] for b, i in packed_index])

    w = GoldenWriter(os.path.join(OUT_DIR, f"{name}.txt"),
                     comment=f"{name}: multi-head attention, torch padded-batch reference "
                             "(tests/reference/make_golden_attention.py)")
    w.scalar("d_model", d_model)
    w.scalar("num_heads", num_heads)
    w.scalar("causal", int(causal))
    w.scalar("bias", int(bias))
    w.scalar("rotary", int(rotary))
    w.scalar("rotary_base", base)
    w.tensor("lengths", torch.tensor(lengths, dtype=torch.float64).reshape(-1, 1))
    w.tensor("x", pack(xp.detach()))
    w.tensor("key_valid", pack(valid.to(torch.float64)).reshape(-1, 1))
    w.tensor("G", pack(Gp))
    for n, t in params.items():
        w.tensor(n, t.detach())
    w.tensor("y", pack(y.detach()))
    w.tensor("grad.x", pack(xp.grad))
    for n, t in params.items():
        w.tensor(f"grad.{n}", t.grad)
    if pad_to is not None:
        w.scalar("padded_length", L)
        w.tensor("padded_x", xp.detach().reshape(B * L, d_model))
        w.tensor("padded_key_valid", valid.to(torch.float64).reshape(-1, 1))
        w.tensor("padded_G", Gp.reshape(B * L, d_model))
    w.save()
    print(f"wrote {name}: tokens={T} loss={loss.item():.6f}")


def main():
    gen = torch.Generator().manual_seed(20240611)
    # Several sequences of different lengths, one of length 1.
    make_case("attention_bidirectional", gen, [3, 1, 4], d_model=8, num_heads=2)
    make_case("attention_causal", gen, [4, 2, 1, 3], d_model=8, num_heads=2, causal=True)
    make_case("attention_rotary", gen, [5, 1, 3], d_model=8, num_heads=2, rotary=True, base=100.0,
              bias=False)
    make_case("attention_rotary_causal", gen, [6, 4], d_model=16, num_heads=2, causal=True,
              rotary=True)
    # Padded batch (right padding to 6) with a key mask; one real token of sequence 0 is masked too.
    make_case("attention_key_mask", gen, [4, 2, 5], d_model=8, num_heads=4, masked_real=(1,),
              pad_to=6)


if __name__ == "__main__":
    main()
