#!/usr/bin/env python3
"""PyTorch reference for bench_moe_layer: an MoE block written as a loop over experts.

This is the way Hugging Face Transformers' Mixtral sparse-MoE block computes: route with a linear gate,
softmax over experts, keep the top-k and renormalise, then for each expert gather its tokens, run the
SwiGLU expert (w_out(silu(x·w_gate) * x·w_up)) and scatter-add the weighted output. Same shapes and FLOP
count as moerb's benchmark, so the two GFLOP/s figures compare like with like.

Run with Debian's python3-torch (OpenBLAS):  /usr/bin/python3 benchmarks/reference/moe_block_torch.py
Options: --threads N (torch's OpenMP pool, default 1: with libopenblas0-pthread, Debian's torch runs
GEMMs in OpenBLAS's own pool on all cores whatever this says, and a second pool of 2 OpenMP threads
oversubscribes a 2-core machine, which makes the block 2.6x slower there; with libopenblas0-openmp,
GEMMs share torch's OpenMP pool, so try 1 and 2; the "BLAS:" line says which build runs),
--tokens, --d-model, --d-ff, --experts, --k, --repeats, --sweep (E, k and T sweeps as in
benchmarks/RESULTS.md), --dense (a dense SwiGLU FFN at equal active params).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from openblas_info import openblas_info


class SwiGLUExpert(torch.nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w_gate = torch.nn.Linear(d_model, d_ff, bias=False)
        self.w_up = torch.nn.Linear(d_model, d_ff, bias=False)
        self.w_out = torch.nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.w_out(F.silu(self.w_gate(x)) * self.w_up(x))


class LoopMoEBlock(torch.nn.Module):
    def __init__(self, d_model, d_ff, num_experts, k):
        super().__init__()
        self.k = k
        self.num_experts = num_experts
        self.gate = torch.nn.Linear(d_model, num_experts, bias=False)
        self.experts = torch.nn.ModuleList(SwiGLUExpert(d_model, d_ff) for _ in range(num_experts))

    def forward(self, x):
        logits = self.gate(x)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float)
        weights, chosen = torch.topk(probs, self.k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x)
        # experts × k × tokens mask, as the HF block builds it.
        mask = F.one_hot(chosen, num_classes=self.num_experts).permute(2, 1, 0)
        for e in range(self.num_experts):
            slot, tok = torch.where(mask[e])
            if tok.numel() == 0:
                continue
            y = self.experts[e](x[tok]) * weights[tok, slot, None]
            out.index_add_(0, tok, y)
        return out


def active_flops(T, d, d_ff, E, k):
    """Forward FLOPs as the issue defines them: 2·T·k·3·d·d_ff + 2·T·d·E."""
    return 2 * T * k * 3 * d * d_ff + 2 * T * d * E


def time_it(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(T, d, d_ff, E, k, repeats, dense=False):
    torch.manual_seed(0)
    if dense:
        block = SwiGLUExpert(d, k * d_ff)
    else:
        block = LoopMoEBlock(d, d_ff, E, k)
    x = torch.randn(T, d)
    xg = x.clone().requires_grad_(True)
    dy = torch.randn(T, d)

    def fwd():
        with torch.no_grad():
            block(x)

    def fwd_bwd():
        block.zero_grad(set_to_none=False)
        xg.grad = None
        block(xg).backward(dy)

    tf = time_it(fwd, repeats)
    tb = time_it(fwd_bwd, repeats)
    flops = active_flops(T, d, d_ff, E, k) if not dense else 2 * T * 3 * d * k * d_ff
    name = f"dense(d_ff={k * d_ff})" if dense else "loop-moe"
    print(f"{name:18s} T={T:5d} d={d} d_ff={d_ff} E={E:3d} k={k}  "
          f"fwd {tf * 1e3:8.2f} ms {T / tf:10.0f} tok/s {flops / tf / 1e9:7.1f} GFLOP/s | "
          f"fwd+bwd {tb * 1e3:8.2f} ms {T / tb:10.0f} tok/s {3 * flops / tb / 1e9:7.1f} GFLOP/s",
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tokens", type=int, default=2048)
    p.add_argument("--d-model", type=int, default=512)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--experts", type=int, default=8)
    p.add_argument("--k", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--dense", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32", flush=True)
    torch.zeros(8, 8) @ torch.zeros(8, 8)  # loads the BLAS
    print(f"BLAS: {openblas_info()}", flush=True)
    bench(a.tokens, a.d_model, a.d_ff, a.experts, a.k, a.repeats)
    if a.dense:
        bench(a.tokens, a.d_model, a.d_ff, a.experts, a.k, a.repeats, dense=True)
    if a.sweep:
        for E in (4, 16, 32, 64):
            bench(a.tokens, a.d_model, a.d_ff, E, a.k, a.repeats)
        for k in (1, 4):
            bench(a.tokens, a.d_model, a.d_ff, a.experts, k, a.repeats)
        for T in (128, 512, 8192):
            bench(T, a.d_model, a.d_ff, a.experts, a.k, max(3, a.repeats // 2))


if __name__ == "__main__":
    main()
