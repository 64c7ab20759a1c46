#!/usr/bin/env python3
"""Regenerates tests/reference/golden/optim_*.txt: optimizer trajectories from torch.optim in float64.

The toy model has two tensors under moerb's names: "weight" (3×4) and "bias" (1×4). Each case runs
five steps of torch.optim.AdamW or torch.optim.SGD with given gradients and a different learning rate
per step (set on the param groups before each step, as a schedule would). A "frozen" step sets the
bias gradient to None, which torch.optim skips exactly as moerb's optimizers skip frozen parameters:
no update, no weight decay, no state change (its own step count does not advance either).

File layout (read by tests/train/test_adamw.cpp and tests/train/test_sgd.cpp):
  scalar steps, the hyperparameters, decay_bias (0 = bias in a weight_decay = 0 group, which is
  moerb's DecayPolicy::matrices_only), frozen_bias_step (-1 = never)
  tensor init.weight / init.bias                   initial values
  scalar lr.<k>; tensor grad.<k>.weight / .bias    lr and gradients of step k (0-based)
  tensor value.<k>.weight / .bias                  parameter values after step k

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_golden_optim.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

STEPS = 5
LRS = [1e-2, 3e-2, 5e-3, 2e-2, 1e-2]
NAMES = ("weight", "bias")
SHAPES = {"weight": (3, 4), "bias": (1, 4)}


def run_case(name, seed, make_optimizer, hyper, decay_bias=True, frozen_bias_step=-1, comment=""):
    gen = torch.Generator().manual_seed(seed)
    params = {n: torch.randn(*SHAPES[n], generator=gen).requires_grad_(True) for n in NAMES}
    grads = [{n: torch.randn(*SHAPES[n], generator=gen) for n in NAMES} for _ in range(STEPS)]

    w = GoldenWriter(os.path.join(OUT_DIR, f"optim_{name}.txt"), comment=comment)
    w.scalar("steps", STEPS)
    for key, value in hyper.items():
        w.scalar(key, value)
    w.scalar("decay_bias", 1 if decay_bias else 0)
    w.scalar("frozen_bias_step", frozen_bias_step)
    for n in NAMES:
        w.tensor(f"init.{n}", params[n])

    wd = hyper.get("weight_decay", 0.0)
    if decay_bias:
        groups = [{"params": [params["weight"], params["bias"]]}]
    else:
        groups = [{"params": [params["weight"]]}, {"params": [params["bias"]], "weight_decay": 0.0}]
    opt = make_optimizer(groups, wd)

    for k in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = LRS[k]
        for n in NAMES:
            params[n].grad = grads[k][n].clone()
        if k == frozen_bias_step:
            params["bias"].grad = None
        opt.step()
        w.scalar(f"lr.{k}", LRS[k])
        for n in NAMES:
            w.tensor(f"grad.{k}.{n}", grads[k][n])
            w.tensor(f"value.{k}.{n}", params[n])
    w.save()


def adamw_case(name, seed, beta1, beta2, eps, weight_decay, **kw):
    def make(groups, wd):
        return torch.optim.AdamW(groups, lr=LRS[0], betas=(beta1, beta2), eps=eps, weight_decay=wd)

    hyper = {"beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}
    run_case(name, seed, make, hyper, comment=f"torch.optim.AdamW {hyper} {kw}", **kw)


def sgd_case(name, seed, momentum, dampening, nesterov, weight_decay, **kw):
    def make(groups, wd):
        return torch.optim.SGD(groups, lr=LRS[0], momentum=momentum, dampening=dampening,
                               nesterov=nesterov, weight_decay=wd)

    hyper = {"momentum": momentum, "dampening": dampening, "nesterov": 1 if nesterov else 0,
             "weight_decay": weight_decay}
    run_case(name, seed, make, hyper, comment=f"torch.optim.SGD {hyper} {kw}", **kw)


def main():
    adamw_case("adamw_all", 101, 0.9, 0.999, 1e-8, 0.1)
    adamw_case("adamw_matrices", 102, 0.8, 0.95, 1e-6, 0.1, decay_bias=False)
    adamw_case("adamw_frozen", 103, 0.9, 0.999, 1e-8, 0.05, frozen_bias_step=2)
    sgd_case("sgd_plain", 201, 0.0, 0.0, False, 0.1)
    sgd_case("sgd_momentum", 202, 0.9, 0.0, False, 0.01)
    sgd_case("sgd_dampening", 203, 0.9, 0.3, False, 0.0)
    sgd_case("sgd_nesterov", 204, 0.9, 0.0, True, 0.05)
    sgd_case("sgd_frozen", 205, 0.9, 0.0, False, 0.05, decay_bias=False, frozen_bias_step=2)


if __name__ == "__main__":
    main()
