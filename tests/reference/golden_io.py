"""Writes golden files in the text format that tests/support/golden.hpp reads."""
import os
import tempfile

import torch


class GoldenWriter:
    def __init__(self, path, comment=""):
        self.path = path
        self.lines = []
        for c in comment.splitlines():
            self.lines.append("# " + c)

    def scalar(self, name, value):
        self.lines.append(f"scalar {name} {float(value):.17g}")

    def tensor(self, name, t):
        t = torch.as_tensor(t).detach().to(torch.float64)
        if t.dim() == 1:
            t = t.reshape(-1, 1)
        assert t.dim() == 2, f"{name}: expected 1-D or 2-D, got {tuple(t.shape)}"
        r, c = t.shape
        self.lines.append(f"tensor {name} {r} {c}")
        for row in t.tolist():
            self.lines.append(" ".join(f"{v:.17g}" for v in row))

    def save(self):
        # Atomic: write a temporary file beside the target, then rename.
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".golden-")
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)
