#!/usr/bin/env python3
"""Regenerates tests/reference/golden/model_<case>.{safetensors,txt}: whole moerb models computed
independently with the PyTorch reference in moe_transformer_torch.py (float64 autograd).

For each case the script builds a small model, fills every parameter with random values from a
fixed torch.Generator (scaled so that attention, routing and every gradient are far from trivial,
and checked so that no token's k-th and (k+1)-th router logits are closer than MIN_MARGIN, which
keeps a float32 model's routing identical), and writes

- model_<case>.safetensors: every parameter under moerb's name and layout, written here by hand
  (struct + json, see moe_transformer_torch.write_safetensors) with "__metadata__" exactly the
  C++ model's config_metadata(); dtype F64, except the case named *_f32 (F32; its values are
  rounded to float32 first, so that the float64 computation below uses exactly the stored values);
- model_<case>.txt (golden_io.GoldenWriter): the packed input ("ids", "lengths", "segments",
  "labels" / "targets"), "logits" of an evaluation forward, the scalars "ce_loss" (cross entropy
  of the classifier, mean next-token NLL of the LM), "aux_loss" (the MoE blocks' weighted
  load-balancing + z-losses) and "loss" = ce_loss + aux_loss, for every MoE block i
  "routing.<i>.selected" (tokens x k, expert ids) and its unweighted
  "routing.<i>.load_balancing_loss" and "routing.<i>.z_loss", and the gradients of "loss" with
  respect to every parameter ("grad.<name>") and to the word embeddings ("grad.word_embeddings",
  tokens x d_model).

Before writing, the vectorised reference is checked against a slow per-sequence / per-token
re-computation (naive_logits) so that its batching (padding, index_add) cannot hide a mistake.

The C++ side is tests/models/test_model_golden.cpp, which builds the same four models.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden_models.py
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402
import moe_transformer_torch as ref  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
MIN_MARGIN = 1e-3

# Four sequences: a sentence pair (segments 0/1), a single token, and two more.
ENCODER_SEQUENCES = [[1, 7, 3, 9, 3], [4], [1, 11, 12], [1, 5, 8, 2, 10, 6]]
ENCODER_SEGMENTS = [[0, 0, 0, 1, 1], [0], [0, 0, 0], [0, 0, 0, 1, 1, 1]]
ENCODER_LABELS = [2, 0, 1, 2]
DECODER_SEQUENCES = [[3, 1, 4, 1, 5, 9], [2], [6, 5, 3, 5], [8, 9, 7]]


def transformer(**kw):
    base = dict(vocab_size=13, d_model=8, num_heads=2, num_layers=2, max_positions=16)
    base.update(kw)
    return ref.TransformerConfig(**base)


def moe_ffn(**kw):
    base = dict(kind="moe", d_ff=6, num_experts=4, k=2, renormalize=True,
                load_balancing_weight=0.01, z_loss_weight=0.001)
    base.update(kw)
    return ref.FeedForwardConfig(**base)


CASES = {
    # (a) MoE in every block, learned positions, segment pairs, [CLS] pooling, tanh head.
    "encoder_moe": dict(
        config=ref.ModelConfig(model="EncoderClassifier",
                               transformer=transformer(num_segments=2), ffn=moe_ffn(),
                               norm="layer", num_classes=3, pooling="first", head_hidden=5),
        dtype="F64", seed=1),
    # (b) Its dense counterpart (one SwiGLU block of d_ff 12), mean pooling, linear head.
    "encoder_dense": dict(
        config=ref.ModelConfig(model="EncoderClassifier",
                               transformer=transformer(num_segments=2),
                               ffn=ref.FeedForwardConfig(kind="dense", d_ff=12),
                               norm="layer", num_classes=3, pooling="mean", head_hidden=0),
        dtype="F64", seed=2),
    # (c) Causal LM: rotary positions, tied head, MoE every other block (block 0 dense, 1 MoE).
    "decoder_moe": dict(
        config=ref.ModelConfig(model="DecoderLM",
                               transformer=transformer(position="rotary", moe_every=2),
                               ffn=moe_ffn(), norm="layer", tie_embeddings=True, head_bias=False),
        dtype="F64", seed=3),
    # (d) Causal LM: learned positions, RMSNorm, no attention biases, untied head with bias,
    #     un-renormalised top-2 weights, larger aux weights; stored as F32.
    "decoder_untied_f32": dict(
        config=ref.ModelConfig(model="DecoderLM",
                               transformer=transformer(attention_bias=False),
                               ffn=moe_ffn(renormalize=False, load_balancing_weight=0.02,
                                           z_loss_weight=0.005),
                               norm="rms", tie_embeddings=False, head_bias=True),
        dtype="F32", seed=4),
}


# ------------------------------------------------------------------------------------------------
def fill_parameters(model, gen):
    """Random values: embeddings N(0, 0.5^2) (positions/segments 0.3), norm weights 1 + N(0, 0.2^2)
    and biases N(0, 0.1^2), weights N(0, 1/fan_in) (router gates N(0, 1): well separated logits),
    other biases N(0, 0.1^2)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            z = torch.randn(p.shape, generator=gen)
            leaf = name.rsplit(".", 1)[1]
            if name == "embeddings.tokens.weight":
                p.copy_(0.5 * z)
            elif name.startswith("embeddings."):
                p.copy_(0.3 * z)
            elif "norm." in name:
                p.copy_(1.0 + 0.2 * z if leaf == "weight" else 0.1 * z)
            elif name.endswith("router.weight"):
                p.copy_(z)
            elif leaf == "bias" or leaf.startswith("b_"):
                p.copy_(0.1 * z)
            else:
                p.copy_(z / math.sqrt(p.shape[0]))


def routing_margin(out, k):
    """Smallest gap between a token's k-th and (k+1)-th router logits over all MoE blocks."""
    margin = math.inf
    for r in out.routing.values():
        top = torch.sort(r["logits"].detach(), dim=-1, descending=True).values
        margin = min(margin, float((top[:, k - 1] - top[:, k]).min()))
    return margin


# ------------------------------------------------------------------------------------------------
# Slow re-computation of the logits: attention one sequence and one head at a time, the MoE layer
# one token and one chosen expert at a time.
def naive_logits(model, batch):
    cfg, t = model.config, model.config.transformer
    begins = batch.begins()
    e = model.embeddings.tokens.weight[batch.ids]
    h = e.clone()
    for b, n in zip(begins, batch.lengths):
        if t.position == "learned":
            h[b:b + n] += model.embeddings.positions.weight[:n]
    if t.num_segments > 0 and batch.segments is not None:
        h = h + model.embeddings.segments.weight[batch.segments]
    for block in model.blocks:
        x = block.attn_norm(h)
        att = block.attention
        qkv = x @ att.w_qkv + (att.b_qkv if att.b_qkv is not None else 0)
        d, hd = t.d_model, att.head_dim
        heads_out = torch.zeros(x.shape[0], d)
        for b, n in zip(begins, batch.lengths):
            for head in range(t.num_heads):
                cols = slice(head * hd, (head + 1) * hd)
                q = qkv[b:b + n, 0 * d:1 * d][:, cols]
                k = qkv[b:b + n, 1 * d:2 * d][:, cols]
                v = qkv[b:b + n, 2 * d:3 * d][:, cols]
                if att.rotary:
                    half = hd // 2
                    rot_q, rot_k = q.clone(), k.clone()
                    for pos in range(n):
                        for i in range(half):
                            theta = pos * t.rotary_base ** (-2.0 * i / hd)
                            c, s = math.cos(theta), math.sin(theta)
                            for src, dst in ((q, rot_q), (k, rot_k)):
                                dst[pos, i] = src[pos, i] * c - src[pos, i + half] * s
                                dst[pos, i + half] = src[pos, i + half] * c + src[pos, i] * s
                    q, k = rot_q, rot_k
                scores = q @ k.t() / math.sqrt(hd)
                if att.causal:
                    scores = scores + torch.triu(torch.full((n, n), -math.inf), diagonal=1)
                heads_out[b:b + n, cols] = torch.softmax(scores, dim=-1) @ v
        a = h + heads_out @ att.w_out + (att.b_out if att.b_out is not None else 0)
        x = block.ffn_norm(a)
        ffn = block.ffn
        if isinstance(ffn, ref.MoELayer):
            rc = ffn.router.cfg
            f = torch.zeros_like(x)
            for tok in range(x.shape[0]):
                logits = (x[tok] @ ffn.router.weight) / rc.temperature
                probs = torch.softmax(logits, dim=-1)
                order = sorted(range(rc.num_experts), key=lambda j: (-float(logits[j]), j))[:rc.k]
                w = probs[order]
                if rc.renormalize:
                    w = w / w.sum()
                for j, expert in enumerate(order):
                    f[tok] += w[j] * ffn.experts[expert](x[tok:tok + 1])[0]
        else:
            f = ffn(x)[0]
        h = a + f
    out = model.final_norm(h)
    if model.is_lm:
        w = model.embeddings.tokens.weight.t() if cfg.tie_embeddings else model.lm_head.weight
        return out @ w + (model.lm_head.bias if cfg.head_bias else 0)
    if cfg.pooling == "first":
        pooled = torch.stack([out[b] for b in begins])
    else:
        pooled = torch.stack([out[b:b + n].mean(dim=0) for b, n in zip(begins, batch.lengths)])
    if cfg.head_hidden > 0:
        pooled = torch.tanh(model.head.dense(pooled))
    return model.head.out(pooled)


# ------------------------------------------------------------------------------------------------
def make_case(name, spec):
    cfg = spec["config"]
    model = ref.TransformerModel(cfg).to(torch.float64)
    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    fill_parameters(model, gen)
    if spec["dtype"] == "F32":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.float32).to(torch.float64))

    if model.is_lm:
        batch = ref.make_batch(DECODER_SEQUENCES)
    else:
        batch = ref.make_batch(ENCODER_SEQUENCES, ENCODER_SEGMENTS, ENCODER_LABELS)

    out = model(batch, training=False)
    ce, aux, total = model.loss(out, batch)
    if cfg.ffn.kind == "moe":
        margin = routing_margin(out, cfg.ffn.k)
        assert margin > MIN_MARGIN, f"{name}: router logits margin {margin} too small"
        for i, r in out.routing.items():
            used = torch.bincount(r["selected"].reshape(-1), minlength=cfg.ffn.num_experts)
            assert int((used > 0).sum()) == cfg.ffn.num_experts, f"{name}: block {i} uses {used}"
    else:
        margin = math.inf
    with torch.no_grad():
        naive = naive_logits(model, batch)
    err = float((naive - out.logits).abs().max())
    assert err < 1e-12, f"{name}: vectorised and naive logits differ by {err}"
    total.backward()

    ref.write_safetensors(
        os.path.join(OUT_DIR, f"model_{name}.safetensors"),
        {n: (spec["dtype"], p.detach()) for n, p in model.named_parameters()}, cfg.metadata())

    comment = (f"{cfg.model} '{name}' from tests/reference/make_golden_models.py "
               f"(PyTorch {torch.__version__}, float64).\n"
               f"Weights: model_{name}.safetensors ({spec['dtype']}). "
               f"Smallest k-th vs (k+1)-th router logit gap: {margin:.6g}.")
    g = GoldenWriter(os.path.join(OUT_DIR, f"model_{name}.txt"), comment)
    g.tensor("ids", batch.ids)
    g.tensor("lengths", torch.tensor(batch.lengths))
    if batch.segments is not None:
        g.tensor("segments", batch.segments)
    if model.is_lm:
        g.tensor("targets", ref.next_token_targets(batch))
    else:
        g.tensor("labels", batch.labels)
    g.tensor("logits", out.logits)
    g.scalar("ce_loss", ce)
    g.scalar("aux_loss", aux)
    g.scalar("loss", total)
    for i, r in out.routing.items():
        g.tensor(f"routing.{i}.selected", r["selected"])
        g.scalar(f"routing.{i}.load_balancing_loss", r["load_balancing_loss"])
        g.scalar(f"routing.{i}.z_loss", r["z_loss"])
    for n, p in model.named_parameters():
        g.tensor(f"grad.{n}", p.grad)
    g.tensor("grad.word_embeddings", out.word_embeddings.grad)
    g.save()
    print(f"{name}: loss {float(total):.6f} (ce {float(ce):.6f}, aux {float(aux):.6f}), "
          f"margin {margin:.4g}, naive error {err:.2e}")


def main():
    for name, spec in CASES.items():
        make_case(name, spec)


if __name__ == "__main__":
    main()
