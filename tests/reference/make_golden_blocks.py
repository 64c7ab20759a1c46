#!/usr/bin/env python3
"""Regenerates tests/reference/golden/blocks_*.txt: moerb's nn building blocks computed
independently with PyTorch float64 autograd and torch.nn.functional ops.

Cases (each file holds inputs, parameters under moerb's names and layouts, the upstream gradient
G where there is one, and the expected outputs and gradients "grad.<name>"):

- blocks_linear.txt: y = F.linear(x, W^T, b) with L = sum(y * G).
- blocks_embedding_position.txt: out = F.embedding(ids, E) + F.embedding(pos, P) for a packed
  batch (pos restarts at 0 in every sequence), with repeated ids; L = sum(out * G).
- blocks_classification_head.txt: logits = F.linear(tanh(F.linear(x, Wd^T, bd)), Wo^T, bo)
  (the BERT-style head with a hidden layer), L = sum(logits * G).
- blocks_lm_head_ce.txt: tied LM head with bias, logits = F.linear(x, E, b) (E is the vocab x d_model
  embedding table), loss = F.cross_entropy(logits, targets, ignore_index=-100) with one ignored
  target; also d_logits = dloss/dlogits.

Conventions shared with moerb: weights act as x @ W (the transpose of nn.Linear.weight); integer
vectors (ids, lengths, targets) are stored as n x 1 tensors.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden_blocks.py
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def rnd(gen, *shape, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).requires_grad_(True)


def write_grads(w, tensors):
    for name, t in tensors.items():
        w.tensor("grad." + name, t.grad)


def linear_case(gen):
    rows, d_in, d_out = 5, 4, 3
    x = rnd(gen, rows, d_in)
    weight = rnd(gen, d_in, d_out, scale=0.5)
    bias = rnd(gen, 1, d_out, scale=0.5)
    G = torch.randn(rows, d_out, generator=gen)
    y = F.linear(x, weight.t(), bias.reshape(-1))
    (y * G).sum().backward()
    w = GoldenWriter(os.path.join(OUT_DIR, "blocks_linear.txt"),
                     "Linear: y = x W + b, L = sum(y * G)\n"
                     "written by tests/reference/make_golden_blocks.py")
    w.tensor("x", x)
    w.tensor("weight", weight)
    w.tensor("bias", bias)
    w.tensor("G", G)
    w.tensor("y", y)
    write_grads(w, {"x": x, "weight": weight, "bias": bias})
    w.save()


def embedding_position_case(gen):
    vocab, d_model, max_positions = 7, 4, 6
    lengths = [3, 5, 2]
    ids = torch.tensor([2, 5, 2, 0, 6, 2, 5, 1, 6, 6], dtype=torch.long)
    positions = torch.cat([torch.arange(n) for n in lengths])
    token_weight = rnd(gen, vocab, d_model, scale=0.02)
    position_weight = rnd(gen, max_positions, d_model, scale=0.02)
    G = torch.randn(len(ids), d_model, generator=gen)
    out = F.embedding(ids, token_weight) + F.embedding(positions, position_weight)
    (out * G).sum().backward()
    w = GoldenWriter(os.path.join(OUT_DIR, "blocks_embedding_position.txt"),
                     "TokenEmbedding + LearnedPositionEmbedding on a packed batch, "
                     "L = sum(out * G)\nwritten by tests/reference/make_golden_blocks.py")
    w.tensor("ids", ids.to(torch.float64))
    w.tensor("lengths", torch.tensor(lengths, dtype=torch.float64))
    w.tensor("token.weight", token_weight)
    w.tensor("position.weight", position_weight)
    w.tensor("G", G)
    w.tensor("out", out)
    write_grads(w, {"token.weight": token_weight, "position.weight": position_weight})
    w.save()


def classification_head_case(gen):
    rows, d_model, hidden, classes = 6, 5, 4, 3
    x = rnd(gen, rows, d_model)
    params = {
        "dense.weight": rnd(gen, d_model, hidden, scale=0.5),
        "dense.bias": rnd(gen, 1, hidden, scale=0.5),
        "out.weight": rnd(gen, hidden, classes, scale=0.5),
        "out.bias": rnd(gen, 1, classes, scale=0.5),
    }
    G = torch.randn(rows, classes, generator=gen)
    h = torch.tanh(F.linear(x, params["dense.weight"].t(), params["dense.bias"].reshape(-1)))
    logits = F.linear(h, params["out.weight"].t(), params["out.bias"].reshape(-1))
    (logits * G).sum().backward()
    w = GoldenWriter(os.path.join(OUT_DIR, "blocks_classification_head.txt"),
                     "ClassificationHead with hidden = 4 (linear -> tanh -> linear), evaluation "
                     "mode, L = sum(logits * G)\nwritten by tests/reference/make_golden_blocks.py")
    w.tensor("x", x)
    for name, p in params.items():
        w.tensor(name, p)
    w.tensor("G", G)
    w.tensor("logits", logits)
    write_grads(w, {"x": x, **params})
    w.save()


def lm_head_ce_case(gen):
    tokens, d_model, vocab = 7, 4, 9
    x = rnd(gen, tokens, d_model)
    weight = rnd(gen, vocab, d_model)  # the tied embedding table E
    bias = rnd(gen, 1, vocab, scale=0.5)
    targets = torch.tensor([3, 0, -100, 8, 3, 5, 1], dtype=torch.long)
    logits = F.linear(x, weight, bias.reshape(-1))
    logits.retain_grad()
    loss = F.cross_entropy(logits, targets, ignore_index=-100)
    loss.backward()
    w = GoldenWriter(os.path.join(OUT_DIR, "blocks_lm_head_ce.txt"),
                     "Tied LMHead with bias (logits = x E^T + b) and mean softmax cross-entropy "
                     "with ignore_index = -100\nwritten by tests/reference/make_golden_blocks.py")
    w.tensor("x", x)
    w.tensor("weight", weight)
    w.tensor("bias", bias)
    w.tensor("targets", targets.to(torch.float64))
    w.tensor("logits", logits)
    w.scalar("loss", loss.item())
    w.tensor("d_logits", logits.grad)
    write_grads(w, {"x": x, "weight": weight, "bias": bias})
    w.save()


def main():
    gen = torch.Generator().manual_seed(20240611)
    linear_case(gen)
    embedding_position_case(gen)
    classification_head_case(gen)
    lm_head_ce_case(gen)


if __name__ == "__main__":
    main()
