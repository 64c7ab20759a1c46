#!/usr/bin/env python3
"""Regenerates tests/reference/golden/fixture_*.safetensors and fixture_safetensors_values.txt.

The safetensors files are written by hand (struct + json, no safetensors library), following the
format's specification: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each
tensor name to {"dtype", "shape", "data_offsets"} plus an optional "__metadata__" object of strings,
padded with spaces to a multiple of 8, then the tensors' little-endian bytes in C order. Tensors are
laid out in name order and the JSON is compact with sorted keys, which is also how moerb's writer
lays files out, so the C++ test can check byte-for-byte equality as well as values.

Tensor values come from torch: float64 values drawn with a fixed torch.Generator, converted with
Tensor.to(dtype). For F16 and BF16 the values are first made float32 ("source" tensors in the text
golden) so that torch performs a single float32 -> 16-bit rounding; the C++ test rounds the same
float32 sources with moerb's converter and compares the bytes with torch's. The text golden
(tests/support/golden.hpp format) holds every stored value widened to float64, which is exact.

Run with Debian's python3-torch:  /usr/bin/python3 tests/reference/make_safetensors_fixtures.py
"""
import json
import os
import struct
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import GoldenWriter  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
assert sys.byteorder == "little", "tensor bytes are written in host order"

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
METADATA = {"format": "pt", "producer": "make_safetensors_fixtures.py", "note": "σ-MoE ✓"}


def tensor_bytes(t):
    """The tensor's elements in C order, little-endian."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> (dtype name, torch tensor)."""
    header = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks = []
    offset = 0
    for name in sorted(tensors):
        dtype_name, t = tensors[name]
        assert t.dtype == DTYPES[dtype_name]
        data = tensor_bytes(t)
        assert len(data) == t.numel() * t.element_size()
        header[name] = {"dtype": dtype_name, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = text.encode("utf-8")
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    blob = struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)
    # Atomic: a temporary file beside the target, then rename.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".fixture-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def sources(gen):
    """float64 source tensors with values that exercise every dtype's corners."""
    weight = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    weight[0, 0] = -0.0
    weight[0, 1] = 65504.0           # largest F16
    weight[0, 2] = 3.0e-6            # F16 subnormal
    weight[0, 3] = 1.0e-39           # F32 and BF16 subnormal, F16 zero
    weight[1, 0] = 1.0 + 2.0 ** -11  # F16 tie: rounds to even (1)
    weight[1, 1] = 1.0 + 3 * 2.0 ** -11  # F16 tie: rounds up
    weight[1, 2] = 1.0 + 2.0 ** -8   # BF16 tie: rounds to even (1)
    weight[1, 3] = -(1.0 + 3 * 2.0 ** -8)  # BF16 tie: rounds up
    weight[2, 0] = 1.0 / 3.0
    weight[2, 1] = 1.0e30            # F16 overflow is avoided below; BF16/F32 keep it
    bias = torch.randn(4, generator=gen, dtype=torch.float64) * 10.0
    bias[0] = 2.0 ** -1074  # smallest F64 subnormal
    empty = torch.zeros(0, 3, dtype=torch.float64)
    return {"block.weight": weight, "block.bias": bias, "empty": empty}


def main():
    gen = torch.Generator().manual_seed(20240607)
    src = sources(gen)
    golden = GoldenWriter(
        os.path.join(OUT_DIR, "fixture_safetensors_values.txt"),
        "Values stored in tests/reference/golden/fixture_*.safetensors, widened to float64.\n"
        "<dtype>.<name>: the stored values; <dtype>.source.<name>: the float32 values torch\n"
        "rounded to F16/BF16. 1-D tensors appear as n x 1 columns (golden_io's convention).\n"
        "Written by tests/reference/make_safetensors_fixtures.py.")
    for dtype_name, dtype in DTYPES.items():
        tensors = {}
        for name, t in src.items():
            t = t.clone()
            if dtype == torch.float16:
                t[t.abs() > 65504.0] = 60000.0  # keep the golden values finite
            if dtype in (torch.float16, torch.bfloat16):
                source = t.to(torch.float32)
                golden.tensor(f"{dtype_name}.source.{name}", source)
                stored = source.to(dtype)
            else:
                stored = t.to(dtype)
            tensors[name] = (dtype_name, stored)
            golden.tensor(f"{dtype_name}.{name}", stored.to(torch.float64))
        write_safetensors(os.path.join(OUT_DIR, f"fixture_{dtype_name.lower()}.safetensors"),
                          tensors, METADATA)

    # One file mixing every dtype, without metadata (so without "__metadata__").
    mixed = {
        "a_f64": ("F64", torch.randn(2, generator=gen, dtype=torch.float64)),
        "b_f32": ("F32", torch.randn(2, 2, generator=gen, dtype=torch.float64).to(torch.float32)),
        "c_bf16": ("BF16", torch.randn(3, generator=gen, dtype=torch.float64)
                   .to(torch.float32).to(torch.bfloat16)),
        "d_f16": ("F16", torch.randn(1, 3, generator=gen, dtype=torch.float64)
                  .to(torch.float32).to(torch.float16)),
    }
    for name, (_, t) in mixed.items():
        golden.tensor(f"mixed.{name}", t.to(torch.float64))
    write_safetensors(os.path.join(OUT_DIR, "fixture_mixed.safetensors"), mixed, {})
    golden.save()


if __name__ == "__main__":
    main()
