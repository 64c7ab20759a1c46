#!/usr/bin/env python3
"""PyTorch reference for bench_training: training steps of the same MoE classifier and dense twins.

One training step = zero_grad, forward (cross entropy + the MoE load-balancing losses), backward,
global-norm gradient clipping (1.0), torch.optim.AdamW (lr 1e-4, weight decay 0.01 on matrices
only). Float32, torch.set_num_threads(2) by default. Same model as benchmarks/bench_training.cpp:

- 4 pre-norm blocks (x + Drop(Attn(LN(x))), then + Drop(FFN(LN(.)))), d_model 256, 4 heads, fused
  qkv projection with biases, learned positions, vocabulary 8192, dropout 0.1 on the embeddings,
  after attention, after the FFN and on the pooled first token; final LayerNorm; linear head to
  2 classes;
- moe: a softmax router (no bias) over 8 experts, top-2 renormalised, Switch load-balancing loss
  0.01 * E * sum_i f_i P_i (f_i = share of the T*k choices, P_i = mean probability), no
  capacity limit; SwiGLU experts (fused gate/up projection, d_ff 512, no biases) run as a loop
  over experts: the choices are sorted by expert once, each expert gathers its tokens with
  index_select and adds its weighted output back with index_add_;
- dense_active / dense_total: one SwiGLU FFN per block with the MoE layer's active / total
  parameter count (d_ff 1027 / 4099, as moerb's dense_options_for_{active,total}_params round).

Batch: 32 sequences of 64 random token ids (a torch.Generator with a fixed seed), random binary
labels, 8 distinct batches cycled. After --warmup steps, --repeats timed runs of --steps steps
each; the median tokens/s (32 * 64 tokens per step) is reported. --phases also times forward,
backward, clipping and the optimizer separately.

--impl reference runs tests/reference/moe_transformer_torch.py's model instead (moerb's
parameter layout, packed sequences with padded batched attention) with the same hyper-parameters.

Threads: Debian's torch runs element-wise ops on an OpenMP pool (torch.set_num_threads) and GEMMs
in OpenBLAS, whose build the alternatives system picks (the report's "BLAS:" line says which).
With libopenblas0-pthread, GEMMs run in OpenBLAS's own pool (OPENBLAS_NUM_THREADS, default: all
cores), which set_num_threads does not change; with libopenblas0-openmp (what scripts/common.sh
installs for moerb::blas) they share torch's OpenMP pool. With --threads 2 on a 2-core machine the spinning OpenMP
threads and OpenBLAS's threads compete for the cores; --threads 1 (GEMMs still on 2 OpenBLAS
threads) or OMP_WAIT_POLICY=PASSIVE is much faster there, and OPENBLAS_NUM_THREADS=1 --threads 1
gives a true single-core run (benchmarks/RESULTS.md, "Training throughput (issue 3)").

Run with Debian's python3-torch:  /usr/bin/python3 benchmarks/reference/train_step_torch.py
"""
import argparse
import math
import os
import statistics
import sys
import time

import torch

from openblas_info import openblas_info
import torch.nn.functional as F
from torch import nn

VOCAB, D_MODEL, HEADS, LAYERS, SEQ_LEN, BATCH = 8192, 256, 4, 4, 64, 32
EXPERTS, TOP_K, EXPERT_D_FF = 8, 2, 512
DROPOUT, LB_WEIGHT = 0.1, 0.01
LR, WEIGHT_DECAY, MAX_GRAD_NORM = 1e-4, 0.01, 1.0
DISTINCT_BATCHES = 8


def dense_d_ff(match):
    """Hidden width of a dense SwiGLU FFN (3 d h parameters) with the MoE layer's active (router +
    k experts) or total (router + E experts) parameter count, rounded to the nearest integer."""
    router = D_MODEL * EXPERTS
    experts = TOP_K if match == "active" else EXPERTS
    return round((router + experts * 3 * D_MODEL * EXPERT_D_FF) / (3 * D_MODEL))


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w_gate_up = nn.Linear(d_model, 2 * d_ff, bias=False)
        self.w_out = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        gate, up = self.w_gate_up(x).chunk(2, dim=-1)
        return self.w_out(F.silu(gate) * up)


class DenseFFN(SwiGLU):
    def forward(self, x):
        return super().forward(x), x.new_zeros(())


class LoopMoE(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, k, lb_weight):
        super().__init__()
        self.k, self.lb_weight = k, lb_weight
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.experts = nn.ModuleList(SwiGLU(d_model, d_ff) for _ in range(num_experts))

    def forward(self, x):  # x: tokens x d_model
        T, E, k = x.shape[0], len(self.experts), self.k
        probs = torch.softmax(self.router(x), dim=-1)
        weights, chosen = probs.topk(k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        flat = chosen.reshape(-1)  # choice i belongs to token i // k
        counts = torch.bincount(flat, minlength=E)
        lb = E * (counts.to(x.dtype) / (T * k) * probs.mean(dim=0)).sum()
        order = torch.argsort(flat)
        tokens = order // k
        w = weights.reshape(-1)[order]
        out = torch.zeros_like(x)
        start = 0
        for e, n in enumerate(counts.tolist()):
            if n == 0:
                continue
            idx = tokens[start:start + n]
            y = self.experts[e](x.index_select(0, idx)) * w[start:start + n, None]
            out.index_add_(0, idx, y)
            start += n
        return out, self.lb_weight * lb


class Attention(nn.Module):
    def __init__(self, d_model, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x):  # x: B x L x d
        B, L, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        probs = torch.softmax((q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)), dim=-1)
        return self.out((probs @ v).transpose(1, 2).reshape(B, L, d))


class Block(nn.Module):
    def __init__(self, ffn):
        super().__init__()
        self.attn_norm = nn.LayerNorm(D_MODEL)
        self.attention = Attention(D_MODEL, HEADS)
        self.ffn_norm = nn.LayerNorm(D_MODEL)
        self.ffn = ffn
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x):
        a = x + self.drop(self.attention(self.attn_norm(x)))
        B, L, d = a.shape
        f, aux = self.ffn(self.ffn_norm(a).reshape(B * L, d))
        return a + self.drop(f.view(B, L, d)), aux


class Classifier(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, D_MODEL)
        self.positions = nn.Embedding(SEQ_LEN, D_MODEL)
        self.drop = nn.Dropout(DROPOUT)

        def ffn():
            if kind == "moe":
                return LoopMoE(D_MODEL, EXPERT_D_FF, EXPERTS, TOP_K, LB_WEIGHT)
            return DenseFFN(D_MODEL, dense_d_ff(kind.split("_")[1]))

        self.blocks = nn.ModuleList(Block(ffn()) for _ in range(LAYERS))
        self.final_norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, 2)

    def forward(self, ids):  # ids: B x L
        h = self.drop(self.tokens(ids) + self.positions.weight[:ids.shape[1]])
        aux = h.new_zeros(())
        for block in self.blocks:
            h, block_aux = block(h)
            aux = aux + block_aux
        pooled = self.drop(self.final_norm(h)[:, 0])
        return self.head(pooled), aux


def make_optimizer(model, foreach):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=LR, betas=(0.9, 0.999), eps=1e-8,
                             foreach=True if foreach else None)


def synthetic_batches():
    g = torch.Generator().manual_seed(2024)
    ids = torch.randint(0, VOCAB, (DISTINCT_BATCHES, BATCH, SEQ_LEN), generator=g)
    labels = torch.randint(0, 2, (DISTINCT_BATCHES, BATCH), generator=g)
    return ids, labels


class CompactRunner:
    """This file's model; batches are B x L id tensors."""

    def __init__(self, kind, foreach):
        torch.manual_seed(0)
        self.model = Classifier(kind)
        self.model.train()
        self.optimizer = make_optimizer(self.model, foreach)
        self.ids, self.labels = synthetic_batches()

    def forward_loss(self, step):
        b = step % DISTINCT_BATCHES
        logits, aux = self.model(self.ids[b])
        return F.cross_entropy(logits, self.labels[b]) + aux


class ReferenceRunner:
    """tests/reference/moe_transformer_torch.py's model with the same shapes and knobs."""

    def __init__(self, kind, foreach):
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "tests", "reference"))
        import moe_transformer_torch as ref
        t = ref.TransformerConfig(vocab_size=VOCAB, d_model=D_MODEL, num_heads=HEADS,
                                  num_layers=LAYERS, max_positions=SEQ_LEN, dropout=DROPOUT)
        if kind == "moe":
            f = ref.FeedForwardConfig(kind="moe", d_ff=EXPERT_D_FF, num_experts=EXPERTS, k=TOP_K,
                                      load_balancing_weight=LB_WEIGHT)
        else:
            f = ref.FeedForwardConfig(kind="dense", d_ff=dense_d_ff(kind.split("_")[1]))
        config = ref.ModelConfig(model="EncoderClassifier", transformer=t, ffn=f,
                                 head_dropout=DROPOUT)
        self.model = ref.build_model(config, seed=0, dtype=torch.float32)
        self.optimizer = make_optimizer(self.model, foreach)
        ids, labels = synthetic_batches()
        self.batches = [ref.make_batch(ids[b].tolist(), labels=labels[b].tolist())
                        for b in range(DISTINCT_BATCHES)]

    def forward_loss(self, step):
        batch = self.batches[step % DISTINCT_BATCHES]
        out = self.model(batch, training=True)
        return self.model.loss(out, batch)[2]


def train_step(runner, step, times=None):
    """One optimizer step; adds the seconds of each phase to `times` when given."""
    t0 = time.perf_counter()
    runner.optimizer.zero_grad()
    loss = runner.forward_loss(step)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(runner.model.parameters(), MAX_GRAD_NORM)
    t3 = time.perf_counter()
    runner.optimizer.step()
    t4 = time.perf_counter()
    if times is not None:
        for key, dt in zip(("forward", "backward", "clip", "adamw"), (t1 - t0, t2 - t1, t3 - t2,
                                                                       t4 - t3)):
            times[key] += dt
    return float(loss)


def bench(kind, impl, a):
    runner = (CompactRunner if impl == "compact" else ReferenceRunner)(kind, a.foreach)
    params = sum(p.numel() for p in runner.model.parameters())
    step = 0
    for _ in range(a.warmup):
        train_step(runner, step)
        step += 1
    rates = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.steps):
            loss = train_step(runner, step)
            step += 1
        rates.append(a.steps * BATCH * SEQ_LEN / (time.perf_counter() - t0))
    median = statistics.median(rates)
    runs = ", ".join(f"{r:.0f}" for r in rates)
    line = (f"{impl:9s} {kind:12s} params {params / 1e6:7.4f}M  tokens/s median {median:8.0f}"
            f"  (runs: {runs})  ms/step {1e3 * BATCH * SEQ_LEN / median:7.1f}"
            f"  last loss {loss:.3f}")
    if a.phases:
        times = dict(forward=0.0, backward=0.0, clip=0.0, adamw=0.0)
        for _ in range(a.steps):
            train_step(runner, step, times)
            step += 1
        line += "  | ms/step " + " ".join(f"{k} {1e3 * v / a.steps:.1f}" for k, v in times.items())
    print(line, flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--models", default="moe,dense_active,dense_total")
    p.add_argument("--impl", choices=("compact", "reference"), default="compact")
    p.add_argument("--foreach", action="store_true",
                   help="torch.optim.AdamW(foreach=True) (torch 1.13's default on CPU is the loop)")
    p.add_argument("--phases", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, "
          f"batch {BATCH} x {SEQ_LEN} tokens, foreach={a.foreach}", flush=True)
    torch.zeros(8, 8) @ torch.zeros(8, 8)  # loads the BLAS
    print(f"BLAS: {openblas_info()}", flush=True)
    for kind in a.models.split(","):
        bench(kind, a.impl, a)


if __name__ == "__main__":
    main()
