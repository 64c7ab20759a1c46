#!/usr/bin/env python3
"""Regenerates tests/reference/golden/*.txt: MoE layers computed independently with PyTorch autograd.

Each file holds one case: the input x, every parameter under moerb's parameter names
("router.weight", "experts.<i>.w_gate_up", ...), the upstream gradient G, and the expected outputs:
y = MoE(x), the router's auxiliary losses, and the gradients of L = sum(y * G) + aux_loss with respect
to x ("grad.x") and every parameter ("grad.<name>"). The C++ tests (tests/layers/test_moe_layer_golden.cpp)
load the weights into moerb's layers, run forward and backward, and compare.

Conventions shared with moerb (documented in its headers): weights act as x @ W (the transpose of
nn.Linear.weight); the gated expert's fused weight has W_gate in columns [0, d_ff) and W_up in
[d_ff, 2 d_ff); capacity is ceil(cf * T * k / E), granted to all first choices before second choices,
tokens in order; the Switch load-balancing loss uses f_i = (choices of expert i) / (T k).

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden.py
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

T, D, DFF, E = 10, 6, 8, 4


# ---------------------------------------------------------------- experts
def make_expert(kind, gen, bias=False):
    """Returns a dict of named parameters (moerb names, moerb layouts)."""
    def rnd(*shape):
        return (torch.randn(*shape, generator=gen) * 0.5).requires_grad_(True)

    if kind in ("swiglu", "geglu"):
        p = {"w_gate_up": rnd(D, 2 * DFF), "w_out": rnd(DFF, D)}
        if bias:
            p["b_gate_up"] = rnd(1, 2 * DFF)
            p["b_out"] = rnd(1, D)
    else:
        p = {"w_in": rnd(D, DFF), "w_out": rnd(DFF, D)}
        if bias:
            p["b_in"] = rnd(1, DFF)
            p["b_out"] = rnd(1, D)
    return p


def act(name, h):
    if name == "relu":
        return torch.relu(h)
    if name == "gelu":
        return F.gelu(h)
    if name == "gelu_tanh":
        return F.gelu(h, approximate="tanh")
    if name == "silu":
        return F.silu(h)
    raise ValueError(name)


def expert_forward(kind, p, x):
    if kind in ("swiglu", "geglu"):
        h = x @ p["w_gate_up"]
        if "b_gate_up" in p:
            h = h + p["b_gate_up"]
        gate, up = h[:, :DFF], h[:, DFF:]
        hidden = act("silu" if kind == "swiglu" else "gelu", gate) * up
    else:
        h = x @ p["w_in"]
        if "b_in" in p:
            h = h + p["b_in"]
        hidden = act(kind, h)
    y = hidden @ p["w_out"]
    if "b_out" in p:
        y = y + p["b_out"]
    return y


# ---------------------------------------------------------------- routers
def switch_lb_loss(probs, choices, k):
    """N * sum_i f_i P_i with f_i = choices of i / (T k), P_i = mean prob of i."""
    counts = torch.zeros(E)
    for e in choices.flatten().tolist():
        counts[e] += 1
    f = counts / (probs.shape[0] * k)
    return E * (f * probs.mean(dim=0)).sum()


def z_loss(logits):
    return (torch.logsumexp(logits, dim=-1) ** 2).mean()


def apply_capacity(sel, cf, k):
    """Keep mask (T x k): first choices before second choices, tokens in order."""
    keep = torch.zeros(sel.shape, dtype=torch.bool)
    if cf is None:
        keep[:] = True
        return keep
    cap = max(1, math.ceil(cf * sel.shape[0] * k / E - 1e-9))
    used = [0] * E
    for j in range(sel.shape[1]):
        for t in range(sel.shape[0]):
            e = int(sel[t, j])
            if used[e] < cap:
                used[e] += 1
                keep[t, j] = True
    return keep


def route_token_choice(x, W, opt):
    """Top-k softmax (both conventions), Switch, noisy top-k and DeepSeek-V3 bias routing.

    Returns (assignments [(t, e, weight)], aux terms dict)."""
    conv = opt["convention"]
    k = opt["k"]
    logits = (x @ W) / opt.get("temperature", 1.0)
    aux = {}
    if conv == "noisy":
        clean = logits
        noisy = clean + opt["noise"] * F.softplus(x @ opt["w_noise"])
        _, sel = torch.topk(noisy, k, dim=-1)
        weights = torch.softmax(torch.gather(noisy, 1, sel), dim=-1)
        probs = torch.softmax(clean, dim=-1)
        z_logits = clean
    elif conv == "bias":
        s = torch.sigmoid(logits)
        _, sel = torch.topk(s + opt["bias"], k, dim=-1)
        chosen = torch.gather(s, 1, sel)
        weights = chosen / chosen.sum(dim=-1, keepdim=True) * opt.get("scale", 1.0)
        probs = s
        z_logits = logits
    else:
        probs = torch.softmax(logits, dim=-1)
        _, sel = torch.topk(logits, k, dim=-1)
        if conv == "mixtral":
            weights = torch.softmax(torch.gather(logits, 1, sel), dim=-1)
        else:
            chosen = torch.gather(probs, 1, sel)
            weights = chosen / chosen.sum(dim=-1, keepdim=True) if opt.get("renormalize") else chosen
        z_logits = logits
    keep = apply_capacity(sel, opt.get("capacity_factor"), k)
    assignments = [(t, int(sel[t, j]), weights[t, j])
                   for t in range(x.shape[0]) for j in range(k) if keep[t, j]]
    aux["load_balancing_loss"] = switch_lb_loss(probs, sel, k)
    aux["z_loss"] = z_loss(z_logits)
    aux["dropped"] = int((~keep).sum())
    return assignments, aux


def route_expert_choice(x, W, opt):
    probs = torch.softmax(x @ W / opt.get("temperature", 1.0), dim=-1)
    c = min(x.shape[0], max(1, math.ceil(opt["capacity_factor"] * x.shape[0] / E - 1e-9)))
    assignments = []
    for e in range(E):
        # Stable sort by descending score: ties go to the lower token index.
        order = sorted(range(x.shape[0]), key=lambda t: (-float(probs[t, e]), t))[:c]
        for t in order:
            assignments.append((t, e, probs[t, e]))
    return assignments, {"z_loss": z_loss(x @ W / opt.get("temperature", 1.0))}


def route_balanced_train(x, W, opt):
    """BASE training assignment: log-domain Sinkhorn (rows to mass 1, columns to T/E, alternately,
    until the column error <= tol), then greedy rounding by descending plan value with capacity
    ceil(T/E). Weight sigmoid(score)."""
    scores = x @ W
    logk = (scores / opt.get("temperature", 1.0)).detach()
    n_tok = x.shape[0]
    log_u = torch.zeros(n_tok)
    log_v = torch.zeros(E)
    col_mass = n_tok / E
    for _ in range(opt["iterations"]):
        log_u = -torch.logsumexp(logk + log_v[None, :], dim=1)
        lse = torch.logsumexp(logk + log_u[:, None], dim=0)
        err = float((torch.exp(log_v + lse - math.log(col_mass)) - 1).abs().max())
        log_v = math.log(col_mass) - lse
        if err <= opt["tolerance"]:
            break
    plan = logk + log_u[:, None] + log_v[None, :]
    cap = math.ceil(n_tok / E)
    pairs = sorted(((float(plan[t, e]), t, e) for t in range(n_tok) for e in range(E)),
                   key=lambda p: (-p[0], p[1], p[2]))
    owner = [-1] * n_tok
    load = [0] * E
    for _, t, e in pairs:
        if owner[t] < 0 and load[e] < cap:
            owner[t] = e
            load[e] += 1
    return [(t, owner[t], torch.sigmoid(scores[t, owner[t]])) for t in range(n_tok)], {}


def route_hash(x, W, opt):
    return [(t, int(opt["table"][int(i)]), torch.tensor(1.0)) for t, i in enumerate(opt["token_ids"])], {}


M64 = (1 << 64) - 1
GOLDEN_RATIO = 0x9E3779B97F4A7C15


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class MoerbRng:
    """moerb::Rng re-implemented from its specification (include/moerb/core/rng.hpp): xoshiro256**
    seeded through SplitMix64, split(tag) derives key' = mix(key ^ mix(tag + golden ratio))."""

    def __init__(self, key):
        self.key = key & M64
        x = self.key
        self.s = []
        for _ in range(4):
            x = (x + GOLDEN_RATIO) & M64
            self.s.append(_mix(x))

    def split(self, tag):
        return MoerbRng(_mix(self.key ^ _mix((tag + GOLDEN_RATIO) & M64)))

    def next_u64(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform_index(self, n):
        limit = M64 - M64 % n
        v = self.next_u64()
        while v >= limit:
            v = self.next_u64()
        return v % n


def route_random(x, W, opt):
    """RandomRouter: k distinct experts per token by a partial Fisher-Yates shuffle of one
    permutation carried across tokens, drawing from ctx.rng.split(rng_tag::router = 1); weight 1/k."""
    rng = MoerbRng(opt["ctx_seed"]).split(1)
    k = opt["k"]
    perm = list(range(E))
    assignments = []
    for t in range(x.shape[0]):
        for j in range(k):
            pick = j + rng.uniform_index(E - j)
            perm[j], perm[pick] = perm[pick], perm[j]
            assignments.append((t, perm[j], torch.tensor(1.0 / k)))
    return assignments, {}


def route_balanced_eval(x, W, opt):
    scores = x @ W
    sel = torch.argmax(scores, dim=-1)
    return [(t, int(sel[t]), torch.sigmoid(scores[t, sel[t]])) for t in range(x.shape[0])], {}


# ---------------------------------------------------------------- cases
def run_case(name, router, expert_kind, opt, gen, bias=False, shared=0, lbw=0.0, zw=0.0,
             comment=""):
    x = torch.randn(T, D, generator=gen).requires_grad_(True)
    params = {"router.weight": (torch.randn(D, E, generator=gen) * 0.7).requires_grad_(True)}
    if router == "token_choice" and opt["convention"] == "noisy":
        params["router.noise_weight"] = (torch.randn(D, E, generator=gen) * 0.5).requires_grad_(True)
        opt["w_noise"] = params["router.noise_weight"]
        opt["noise"] = torch.randn(T, E, generator=gen)
    experts = [make_expert(expert_kind, gen, bias) for _ in range(E)]
    shared_experts = [make_expert(expert_kind, gen, bias) for _ in range(shared)]
    for i, p in enumerate(experts):
        for n, v in p.items():
            params[f"experts.{i}.{n}"] = v
    for i, p in enumerate(shared_experts):
        for n, v in p.items():
            params[f"shared_experts.{i}.{n}"] = v
    G = torch.randn(T, D, generator=gen)

    if router == "token_choice":
        assignments, aux = route_token_choice(x, params["router.weight"], opt)
    elif router == "expert_choice":
        assignments, aux = route_expert_choice(x, params["router.weight"], opt)
    elif router == "balanced_eval":
        assignments, aux = route_balanced_eval(x, params["router.weight"], opt)
    elif router == "balanced_train":
        assignments, aux = route_balanced_train(x, params["router.weight"], opt)
    elif router == "random":
        del params["router.weight"]
        assignments, aux = route_random(x, None, opt)
    elif router == "hash":
        del params["router.weight"]
        assignments, aux = route_hash(x, None, opt)
    else:
        raise ValueError(router)

    y = torch.zeros(T, D)
    for t, e, w in assignments:
        y = y.index_add(0, torch.tensor([t]), w * expert_forward(expert_kind, experts[e], x[t:t + 1]))
    for p in shared_experts:
        y = y + expert_forward(expert_kind, p, x)
    aux_loss = lbw * aux.get("load_balancing_loss", torch.tensor(0.0)) + zw * aux.get("z_loss", torch.tensor(0.0))
    loss = (y * G).sum() + aux_loss
    loss.backward()

    w = GoldenWriter(os.path.join(OUT_DIR, name + ".txt"),
                     f"{name}: {comment}\nGenerated by tests/reference/make_golden.py (torch {torch.__version__}, float64).")
    w.scalar("T", T)
    w.scalar("d_model", D)
    w.scalar("d_ff", DFF)
    w.scalar("num_experts", E)
    w.scalar("num_shared_experts", shared)
    w.scalar("load_balancing_weight", lbw)
    w.scalar("z_loss_weight", zw)
    for key in ("load_balancing_loss", "z_loss"):
        if key in aux:
            w.scalar(key, aux[key])
    w.scalar("aux_loss", aux_loss)
    if "dropped" in aux:
        w.scalar("dropped", aux["dropped"])
    w.tensor("x", x)
    w.tensor("G", G)
    if "noise" in opt:
        w.tensor("noise", opt["noise"])
    if "token_ids" in opt:
        w.tensor("token_ids", torch.tensor(opt["token_ids"], dtype=torch.float64).reshape(-1, 1))
        w.tensor("hash_table", torch.tensor(opt["table"], dtype=torch.float64).reshape(-1, 1))
    if "bias" in opt:
        w.tensor("bias", opt["bias"].reshape(1, -1))
    for n, v in params.items():
        w.tensor(n, v)
    w.tensor("y", y)
    w.tensor("grad.x", x.grad)
    for n, v in params.items():
        w.tensor("grad." + n, v.grad if v.grad is not None else torch.zeros_like(v))
    w.save()
    print(f"wrote {name}: {len(assignments)} assignments, aux_loss {float(aux_loss):.6f}")


def main():
    gen = torch.Generator().manual_seed(20240601)
    run_case("topk_renorm_swiglu", "token_choice", "swiglu",
             {"convention": "softmax_then_topk", "k": 2, "renormalize": True}, gen,
             lbw=0.01, zw=0.001, comment="TopKRouter k=2 renormalised, SwiGLU experts, lb and z losses")
    run_case("topk_capacity_gelu_bias", "token_choice", "gelu",
             {"convention": "softmax_then_topk", "k": 2, "renormalize": False, "capacity_factor": 0.5},
             gen, bias=True, lbw=0.02, comment="TopKRouter k=2 not renormalised, capacity 0.5 (drops), GELU FFN with biases")
    run_case("mixtral_geglu_temperature", "token_choice", "geglu",
             {"convention": "mixtral", "k": 2, "temperature": 0.7}, gen, zw=0.01,
             comment="MixtralRouter k=2 (softmax over the selected logits), temperature 0.7, GeGLU experts")
    run_case("switch_capacity_relu", "token_choice", "relu",
             {"convention": "softmax_then_topk", "k": 1, "renormalize": False, "capacity_factor": 1.0},
             gen, bias=True, lbw=0.01, zw=0.001,
             comment="SwitchRouter (training, capacity factor 1.0, no jitter), ReLU FFN with biases")
    run_case("noisy_topk_swiglu", "token_choice", "swiglu",
             {"convention": "noisy", "k": 2}, gen, lbw=0.01,
             comment="NoisyTopKRouter k=2 in training with the given standard-normal draws 'noise'")
    run_case("expert_choice_swiglu", "expert_choice", "swiglu",
             {"capacity_factor": 1.0}, gen, zw=0.001,
             comment="ExpertChoiceRouter capacity factor 1.0 (c = ceil(T cf / E))")
    run_case("balanced_eval_silu", "balanced_eval", "silu", {}, gen,
             comment="BalancedRouter (BASE) at evaluation: argmax expert, weight sigmoid(score)")
    run_case("balanced_train_swiglu", "balanced_train", "swiglu",
             {"iterations": 50, "tolerance": 1e-3}, gen,
             comment="BalancedRouter (BASE) in training: Sinkhorn (50 iterations, tolerance 1e-3) + greedy rounding")
    vocab = 13
    run_case("hash_swiglu", "hash", "swiglu",
             {"token_ids": torch.randint(0, vocab, (T,), generator=gen).tolist(),
              "table": torch.randint(0, E, (vocab,), generator=gen).tolist()}, gen,
             comment="HashRouter with the given table (vocab 13) and token ids; no router parameters")
    run_case("random_gate_swiglu", "random", "swiglu", {"k": 2, "ctx_seed": 99}, gen,
             comment="RandomRouter k=2 drawing from moerb::Rng(99).split(1) (re-implemented here)")
    bias = torch.randn(E, generator=gen) * 0.3
    run_case("bias_balanced_shared_swiglu", "token_choice", "swiglu",
             {"convention": "bias", "k": 2, "bias": bias}, gen, shared=1,
             comment="BiasBalancedRouter (DeepSeek-V3) k=2 with the given bias, plus 1 shared expert (DeepSeekMoE)")


if __name__ == "__main__":
    main()
