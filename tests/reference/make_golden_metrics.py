#!/usr/bin/env python3
"""Regenerates tests/reference/golden/metrics_*.txt: metric values computed by scikit-learn (and
numpy where scikit-learn has no such metric) on seeded random data sets, for
tests/metrics/test_classification.cpp, test_calibration.cpp and test_ood.cpp.

- metrics_classification.txt: accuracy_score, f1_score(average="macro"), confusion_matrix.
- metrics_calibration.txt: log_loss; the multi-class Brier score (1/n) sum_i sum_k (p_ik - y_ik)^2
  (Brier 1950; numpy), checked against brier_score_loss on two classes, where it is twice that; ECE
  and MCE with 15 equal-width and 10 equal-mass bins (numpy, written independently of moerb).
- metrics_ood.txt: roc_auc_score, average_precision_score with in-distribution as the positive class
  (AUPR-in) and with OOD as positive on the negated score (AUPR-out), FPR at 95 % TPR from
  roc_curve(drop_intermediate=False); scores from logits (maximum softmax probability, max logit,
  negative energy at T = 1 and T = 2). Several sets have ties, one has constant scores.

Run with Debian's python3-sklearn:  /usr/bin/python3 tests/reference/make_golden_metrics.py

The text format is golden_io.GoldenWriter's (tests/support/golden.hpp reads it); the writer is
repeated here so that this script needs numpy and scikit-learn only, not torch.
"""
import os
import tempfile

import numpy as np
import sklearn
from scipy.special import logsumexp, softmax
from sklearn.metrics import (accuracy_score, average_precision_score, brier_score_loss,
                             confusion_matrix, f1_score, log_loss, roc_auc_score, roc_curve)

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


class GoldenWriter:
    """The format of golden_io.GoldenWriter: scalar / tensor records, 17 significant digits."""

    def __init__(self, path, comment=""):
        self.path = path
        self.lines = ["# " + c for c in comment.splitlines()]

    def scalar(self, name, value):
        self.lines.append(f"scalar {name} {float(value):.17g}")

    def tensor(self, name, t):
        t = np.asarray(t, dtype=np.float64)
        if t.ndim == 1:
            t = t.reshape(-1, 1)
        assert t.ndim == 2, f"{name}: expected 1-D or 2-D, got {t.shape}"
        r, c = t.shape
        self.lines.append(f"tensor {name} {r} {c}")
        for row in t.tolist():
            self.lines.append(" ".join(f"{v:.17g}" for v in row))

    def save(self):
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".golden-")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)


def header(what):
    return (f"{what}\nWritten by tests/reference/make_golden_metrics.py with scikit-learn "
            f"{sklearn.__version__} and numpy {np.__version__}.")


# ---------------------------------------------------------------- classification
def classification_sets():
    rng = np.random.RandomState(20240801)
    sets = {}
    # 200 examples, 4 classes, about 60 % correct.
    y = rng.randint(0, 4, 200)
    pred = np.where(rng.rand(200) < 0.6, y, rng.randint(0, 4, 200))
    sets["random4"] = (y, pred)
    # 60 examples, 6 classes: class 3 never occurs as a label but is predicted, class 5 occurs as
    # a label but is never predicted, class 4 occurs nowhere (left out of the macro average).
    y = rng.choice([0, 1, 2, 5], 60)
    pred = np.where(rng.rand(60) < 0.5, y, rng.choice([0, 1, 2, 3], 60))
    pred[pred == 5] = 0
    sets["absent_classes"] = (y, pred)
    # One class only, always right.
    sets["single_class"] = (np.zeros(17, dtype=int), np.zeros(17, dtype=int))
    # Binary, always wrong.
    y = rng.randint(0, 2, 31)
    sets["always_wrong"] = (y, 1 - y)
    return sets


def write_classification():
    w = GoldenWriter(os.path.join(OUT_DIR, "metrics_classification.txt"),
                     header("Classification metrics: <set>.labels, <set>.predicted, <set>.accuracy, "
                            "<set>.macro_f1, <set>.confusion (labels 0 .. max class)."))
    for name, (y, pred) in classification_sets().items():
        n_classes = int(max(y.max(), pred.max())) + 1
        w.tensor(f"{name}.labels", y)
        w.tensor(f"{name}.predicted", pred)
        w.scalar(f"{name}.accuracy", accuracy_score(y, pred))
        w.scalar(f"{name}.macro_f1", f1_score(y, pred, average="macro", zero_division=0))
        w.tensor(f"{name}.confusion", confusion_matrix(y, pred, labels=np.arange(n_classes)))
    w.save()


# ---------------------------------------------------------------- calibration
def binned_calibration(confidence, correct, edges_or_groups):
    """ECE and MCE over a list of index groups (one per bin)."""
    n = len(confidence)
    ece, mce = 0.0, 0.0
    for idx in edges_or_groups:
        if len(idx) == 0:
            continue
        gap = abs(correct[idx].mean() - confidence[idx].mean())
        ece += len(idx) / n * gap
        mce = max(mce, gap)
    return ece, mce


def equal_width_groups(confidence, bins):
    # Bin b holds (e_b, e_{b+1}] with the edges e_b = b/B as doubles; confidence 0 goes to bin 0.
    # (0.4 = 6/15 falls in (1/3, 0.4], not in the next bin as ceil(0.4 * 15) - 1 would put it.)
    inner_edges = (np.arange(bins + 1) / bins)[1:-1]
    b = np.searchsorted(inner_edges, confidence, side="left")
    return [np.nonzero(b == k)[0] for k in range(bins)]


def equal_mass_groups(confidence, correct, bins):
    order = np.lexsort((correct, confidence))  # by confidence, then correct
    n = len(confidence)
    return [order[(k * n) // bins:((k + 1) * n) // bins] for k in range(bins)]


def calibration_sets():
    rng = np.random.RandomState(7)
    sets = {}
    # 300 examples, 5 classes, a sharp Dirichlet; labels drawn from the probabilities (so the model
    # is roughly calibrated) except for an over-confident third.
    p = rng.dirichlet(np.full(5, 0.4), 300)
    y = np.array([rng.choice(5, p=row) for row in p])
    flip = rng.rand(300) < 0.3
    y[flip] = rng.randint(0, 5, flip.sum())
    sets["dirichlet5"] = (p, y)
    # 120 examples, 3 classes, probabilities in steps of 0.05 (many tied confidences).
    raw = rng.randint(1, 20, (120, 3)).astype(float)
    p = raw / raw.sum(axis=1, keepdims=True)
    p = np.round(p * 20) / 20
    p[:, 2] = 1 - p[:, 0] - p[:, 1]
    p = np.where(p <= 0, 0.05, p)
    p = p / p.sum(axis=1, keepdims=True)
    y = rng.randint(0, 3, 120)
    sets["tied3"] = (p, y)
    # Binary, 80 examples: Brier is twice sklearn's brier_score_loss.
    p1 = rng.rand(80) * 0.98 + 0.01
    p = np.stack([1 - p1, p1], axis=1)
    y = (rng.rand(80) < p1).astype(int)
    sets["binary"] = (p, y)
    return sets


def write_calibration():
    w = GoldenWriter(os.path.join(OUT_DIR, "metrics_calibration.txt"),
                     header("Calibration metrics: <set>.probabilities (examples x classes), "
                            "<set>.labels, <set>.nll (log_loss), <set>.brier (multi-class, Brier "
                            "1950), <set>.ece15 / .mce15 (15 equal-width bins), <set>.ece_mass10 / "
                            ".mce_mass10 (10 equal-mass bins), <set>.accuracy; binary also "
                            ".brier_score_loss (sklearn, positive class only)."))
    for name, (p, y) in calibration_sets().items():
        n, c = p.shape
        onehot = np.eye(c)[y]
        confidence = p.max(axis=1)
        correct = (p.argmax(axis=1) == y).astype(float)
        w.tensor(f"{name}.probabilities", p)
        w.tensor(f"{name}.labels", y)
        w.scalar(f"{name}.nll", log_loss(y, p, labels=np.arange(c)))
        w.scalar(f"{name}.brier", np.mean(np.sum((p - onehot) ** 2, axis=1)))
        if c == 2:
            w.scalar(f"{name}.brier_score_loss", brier_score_loss(y, p[:, 1]))
        w.scalar(f"{name}.accuracy", correct.mean())
        ece, mce = binned_calibration(confidence, correct, equal_width_groups(confidence, 15))
        w.scalar(f"{name}.ece15", ece)
        w.scalar(f"{name}.mce15", mce)
        ece, mce = binned_calibration(confidence, correct,
                                      equal_mass_groups(confidence, correct, 10))
        w.scalar(f"{name}.ece_mass10", ece)
        w.scalar(f"{name}.mce_mass10", mce)
    w.save()


# ---------------------------------------------------------------- OOD detection
def ood_sets():
    rng = np.random.RandomState(11)
    sets = {}
    sets["gaussian"] = (rng.randn(300) + 1.0, rng.randn(200))
    # Scores rounded to one decimal: many ties within and across the two groups.
    sets["rounded"] = (np.round(rng.randn(150) * 0.6 + 0.5, 1), np.round(rng.randn(170) * 0.6, 1))
    # Three distinct values only.
    sets["three_values"] = (rng.randint(0, 3, 40).astype(float), rng.randint(0, 3, 25).astype(float))
    # Every score equal.
    sets["constant"] = (np.full(12, 0.25), np.full(9, 0.25))
    # Perfectly separated.
    sets["separated"] = (rng.rand(20) + 2.0, rng.rand(30))
    # OOD scores higher than in-distribution (a bad detector).
    sets["inverted"] = (rng.randn(50) - 1.0, rng.randn(60) + 1.0)
    return sets


def write_ood():
    w = GoldenWriter(os.path.join(OUT_DIR, "metrics_ood.txt"),
                     header("OOD detection: <set>.in / <set>.out scores (higher = in-distribution), "
                            "<set>.auroc, <set>.aupr_in, <set>.aupr_out, <set>.fpr95; and "
                            "logits.values (examples x classes) with logits.msp, logits.max_logit, "
                            "logits.energy_t1, logits.energy_t2 (negative energy T*logsumexp(z/T))."))
    for name, (s_in, s_out) in ood_sets().items():
        y = np.concatenate([np.ones(len(s_in)), np.zeros(len(s_out))])
        s = np.concatenate([s_in, s_out])
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        w.tensor(f"{name}.in", s_in)
        w.tensor(f"{name}.out", s_out)
        w.scalar(f"{name}.auroc", roc_auc_score(y, s))
        w.scalar(f"{name}.aupr_in", average_precision_score(y, s))
        w.scalar(f"{name}.aupr_out", average_precision_score(1 - y, -s))
        w.scalar(f"{name}.fpr95", fpr[np.searchsorted(tpr, 0.95, side="left")])
    rng = np.random.RandomState(3)
    z = rng.randn(25, 7) * 3
    z[3] = 0.0  # a constant row
    w.tensor("logits.values", z)
    w.tensor("logits.msp", softmax(z, axis=1).max(axis=1))
    w.tensor("logits.max_logit", z.max(axis=1))
    w.tensor("logits.energy_t1", logsumexp(z, axis=1))
    w.tensor("logits.energy_t2", 2.0 * logsumexp(z / 2.0, axis=1))
    w.save()


if __name__ == "__main__":
    write_classification()
    write_calibration()
    write_ood()
