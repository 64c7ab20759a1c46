#!/usr/bin/env python3
"""An independent PyTorch reference of moerb's transformer models (include/moerb/models/).

It re-implements, from the formulas documented in moerb's headers (not from their code),
EncoderClassifier<FFN, Norm> and DecoderLM<FFN, Norm> with

- pre-norm blocks a = x + Attention(Norm1(x)), y = a + FFN(Norm2(a)) (Xiong et al. 2020),
- learned absolute positions or rotary positions (RoPE, rotate-half pairing: dimension i pairs
  with i + head_dim/2; Su et al. 2021), optional segment (token-type) embeddings, a final norm,
- LayerNorm (biased variance, eps inside the square root) or RMSNorm,
- feed-forward parts that are MoE layers (TopKRouter: softmax over the experts, top-k of the
  logits with ties to the lower expert index, optional renormalisation of the k chosen
  probabilities, optional expert capacity; the Switch load-balancing loss
  N * sum_i f_i P_i with f_i = choices of expert i / (T k) before capacity, and the ST-MoE z-loss
  mean_t logsumexp(logits_t)^2, both on every forward) with gated experts (SwiGLU / GeGLU), or
  dense gated FFNs; with moe_every = m block i is an MoE block when i % m == m - 1,
- first-token or mean pooling and a classification head (linear, or BERT's dense -> tanh -> out),
- a tied (logits = h E^T) or untied (h W + b) language-model head.

Sequences are PACKED as in moerb (moerb/nn/sequence_batch.hpp): one `tokens x d_model` matrix,
sequence b owns rows [begin(b), end(b)), positions restart at 0 in every sequence, and tokens
attend only within their own sequence. Attention runs batched over all sequences at once (the
packed rows are scattered into a padded B x L_max layout with a key mask and gathered back);
the MoE layer runs as a loop over experts, each on its tokens gathered with index_select and
scattered back with index_add, so the module is fast enough to time training steps.

Parameters are named and laid out exactly as moerb's visit_parameters does
("embeddings.tokens.weight", "blocks.0.attention.w_qkv", "blocks.1.ffn.router.weight",
"blocks.1.ffn.experts.3.w_gate_up", "blocks.0.ffn.w_gate_up" (dense block), "final_norm.weight",
"head.dense.weight", "head.out.bias", "lm_head.weight"), every one 2-D (biases and norm weights
are 1 x n) and acting as x @ W (the transpose of nn.Linear.weight), so model.state_dict() is a
moerb checkpoint and moerb checkpoints load here (load_moerb_checkpoint).

Public API (float64 for golden files; float32 works for benchmarks, on CPU or CUDA):

    config = ModelConfig(model="DecoderLM", transformer=TransformerConfig(...),
                         ffn=FeedForwardConfig(...))
    model = build_model(config, seed=0)           # moerb-like initialisation, float32
    batch = make_batch([[1, 2, 3], [4, 5]])       # packed sequences (+ segments, labels)
    out = model(batch, training=True)             # ModelOutput: logits, aux_loss, ...
    ce, aux, total = model.loss(out, batch)       # cross entropy + weighted MoE aux losses
    stats = train_step(model, optimizer, batch)   # one optimizer step, returns the losses

Run with Debian's python3-torch (torch 1.13); this file only defines things.
"""
import json
import math
import os
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

assert sys.byteorder == "little", "safetensors data is written in host (little-endian) order"


# ------------------------------------------------------------------------------------------------
# Configuration (mirrors moerb::TransformerConfig, FeedForwardSpec and the models' Options)
# ------------------------------------------------------------------------------------------------
@dataclass
class TransformerConfig:
    """moerb::TransformerConfig."""
    vocab_size: int
    d_model: int
    num_heads: int
    num_layers: int
    max_positions: int = 512
    position: str = "learned"  # "learned" | "rotary"
    num_segments: int = 0
    norm_eps: float = 1e-5
    attention_bias: bool = True
    moe_every: int = 1
    # Residual / embedding dropout and dropout on the attention probabilities, training only.
    # They draw from torch's RNG, so with dropout > 0 a training forward matches moerb only in
    # distribution (the golden files use 0).
    dropout: float = 0.0
    attention_dropout: float = 0.0
    rotary_base: float = 10000.0

    def is_moe_block(self, layer: int) -> bool:
        return layer % self.moe_every == self.moe_every - 1

    def validate(self):
        assert self.vocab_size > 0 and self.d_model > 0 and self.num_layers > 0
        assert self.num_heads > 0 and self.d_model % self.num_heads == 0
        assert self.position in ("learned", "rotary"), self.position
        assert self.position != "rotary" or (self.d_model // self.num_heads) % 2 == 0
        assert self.num_segments >= 0 and self.moe_every >= 1 and self.norm_eps > 0


@dataclass
class FeedForwardConfig:
    """The feed-forward part of every block: FeedForwardSpec<MoELayer<TopKRouter, GatedExpert>>
    (kind "moe") or FeedForwardSpec<DenseFFN<GatedExpert>> (kind "dense")."""
    kind: str = "moe"  # "moe" | "dense"
    d_ff: int = 0  # hidden width of every expert (moe) or of the dense block (dense)
    activation: str = "silu"  # gate activation: "silu" (SwiGLU) | "gelu" (GeGLU, erf form)
    bias: bool = False  # b_gate_up and b_out
    num_experts: int = 4
    k: int = 2
    renormalize: bool = True
    temperature: float = 1.0
    capacity_factor: Optional[float] = None  # training capacity ceil(cf T k / E); None = unlimited
    eval_capacity_factor: Optional[float] = None  # evaluation capacity; None = unlimited
    load_balancing_weight: float = 0.01
    z_loss_weight: float = 0.0
    # Width of the dense blocks of an MoE model (moe_every > 1); None = d_ff (as moerb's
    # FeedForwardSpec::dense left default: the experts' own options).
    dense_d_ff: Optional[int] = None

    def validate(self):
        assert self.kind in ("moe", "dense"), self.kind
        assert self.d_ff > 0 and self.activation in ("silu", "gelu")
        if self.kind == "moe":
            assert 1 <= self.k <= self.num_experts and self.temperature > 0


@dataclass
class ModelConfig:
    """EncoderClassifier::Options / DecoderLM::Options plus the FFN and norm template arguments."""
    model: str  # "EncoderClassifier" | "DecoderLM"
    transformer: TransformerConfig
    ffn: FeedForwardConfig
    norm: str = "layer"  # "layer" (LayerNorm) | "rms" (RMSNorm)
    # EncoderClassifier
    num_classes: int = 2
    pooling: str = "first"  # "first" | "mean"
    head_hidden: int = 0
    head_dropout: float = 0.0
    # DecoderLM
    tie_embeddings: bool = True
    head_bias: bool = False

    def validate(self):
        self.transformer.validate()
        self.ffn.validate()
        assert self.model in ("EncoderClassifier", "DecoderLM"), self.model
        assert self.norm in ("layer", "rms") and self.pooling in ("first", "mean")
        assert self.num_classes >= 2 and self.head_hidden >= 0

    def metadata(self):
        """Exactly what the C++ model's config_metadata() returns (the checkpoint's
        __metadata__ that check_config_metadata compares)."""
        t = self.transformer
        m = {
            "vocab_size": str(t.vocab_size),
            "d_model": str(t.d_model),
            "num_heads": str(t.num_heads),
            "num_layers": str(t.num_layers),
            "max_positions": str(t.max_positions),
            "position": t.position,
            "num_segments": str(t.num_segments),
            "moe_every": str(t.moe_every),
            "attention_bias": "true" if t.attention_bias else "false",
            "model": self.model,
        }
        m["norm"] = {"layer": "layer_norm", "rms": "rms_norm"}[self.norm]
        f = self.ffn
        m["ffn.d_ff"] = str(f.d_ff)
        if f.kind == "moe":
            m["ffn"] = "moe"
            m["ffn.router"] = "TopKRouter"
            m["ffn.num_experts"] = str(f.num_experts)
            m["ffn.k"] = str(f.k)
            m["ffn.renormalize"] = "true" if f.renormalize else "false"
            m["ffn.num_shared_experts"] = "0"
            m["ffn.dense_d_ff"] = str(f.dense_d_ff if f.dense_d_ff is not None else f.d_ff)
        else:
            m["ffn"] = "dense"
        if self.model == "EncoderClassifier":
            m["num_classes"] = str(self.num_classes)
            m["pooling"] = self.pooling
            m["head_hidden"] = str(self.head_hidden)
        else:
            m["tie_embeddings"] = "true" if self.tie_embeddings else "false"
            m["head_bias"] = "true" if self.head_bias else "false"
        return m


# ------------------------------------------------------------------------------------------------
# Packed batches (moerb::TokenBatch)
# ------------------------------------------------------------------------------------------------
@dataclass
class PackedBatch:
    """B sequences back to back: ids (tokens,), lengths (B ints), optional segment ids (tokens,)
    and labels (B,) for classification. Derived index tensors describe the packed layout."""
    ids: torch.Tensor
    lengths: List[int]
    segments: Optional[torch.Tensor] = None
    labels: Optional[torch.Tensor] = None
    # Derived (make_batch fills them): sequence and position of every token.
    sequence_of_token: torch.Tensor = field(default=None, repr=False)
    position_of_token: torch.Tensor = field(default=None, repr=False)

    @property
    def num_tokens(self) -> int:
        return int(self.ids.numel())

    @property
    def num_sequences(self) -> int:
        return len(self.lengths)

    @property
    def max_length(self) -> int:
        return max(self.lengths)

    def begins(self) -> List[int]:
        out, b = [], 0
        for n in self.lengths:
            out.append(b)
            b += n
        return out

    def to(self, device):
        move = (lambda t: None if t is None else t.to(device))
        return PackedBatch(move(self.ids), list(self.lengths), move(self.segments),
                           move(self.labels), move(self.sequence_of_token),
                           move(self.position_of_token))


def make_batch(sequences: Sequence[Sequence[int]], segments=None, labels=None, device=None):
    """Packs token-id lists (each non-empty) into a PackedBatch; `segments` is None or one list per
    sequence; `labels` None or one class per sequence."""
    assert len(sequences) > 0 and all(len(s) > 0 for s in sequences)
    ids = torch.tensor([t for s in sequences for t in s], dtype=torch.long, device=device)
    lengths = [len(s) for s in sequences]
    seg = None
    if segments is not None:
        assert all(len(a) == len(b) for a, b in zip(segments, sequences))
        seg = torch.tensor([t for s in segments for t in s], dtype=torch.long, device=device)
    lab = None if labels is None else torch.tensor(list(labels), dtype=torch.long, device=device)
    seq_of = torch.cat([torch.full((n,), b, dtype=torch.long) for b, n in enumerate(lengths)])
    pos_of = torch.cat([torch.arange(n, dtype=torch.long) for n in lengths])
    return PackedBatch(ids, lengths, seg, lab, seq_of.to(device), pos_of.to(device))


def next_token_targets(batch: PackedBatch, ignore_index: int = -100) -> torch.Tensor:
    """ids[t + 1] within the same sequence; ignore_index at the last token of each sequence
    (DecoderLM::next_token_targets)."""
    targets = torch.full_like(batch.ids, ignore_index)
    for b, n in zip(batch.begins(), batch.lengths):
        targets[b:b + n - 1] = batch.ids[b + 1:b + n]
    return targets


# ------------------------------------------------------------------------------------------------
# Layers (parameter names = moerb's; every parameter is 2-D and acts as x @ W)
# ------------------------------------------------------------------------------------------------
def _param(*shape):
    return nn.Parameter(torch.zeros(*shape))


class Table(nn.Module):
    """TokenEmbedding / LearnedPositionEmbedding: "weight" rows x d_model."""

    def __init__(self, rows, d_model):
        super().__init__()
        self.weight = _param(rows, d_model)


class Affine(nn.Module):
    """moerb::Linear: "weight" in x out, "bias" 1 x out."""

    def __init__(self, d_in, d_out, bias=True):
        super().__init__()
        self.weight = _param(d_in, d_out)
        self.bias = _param(1, d_out) if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class LayerNorm(nn.Module):
    """Ba et al. 2016: (x - mean) / sqrt(var + eps) * weight + bias, biased variance."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = _param(1, dim)
        self.bias = _param(1, dim)

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.weight[0], self.bias[0], self.eps)


class RMSNorm(nn.Module):
    """Zhang & Sennrich 2019: x / sqrt(mean(x^2) + eps) * weight."""

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = _param(1, dim)

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind, dim, eps):
    return LayerNorm(dim, eps) if kind == "layer" else RMSNorm(dim, eps)


def rotary_tables(max_length, head_dim, base, dtype, device):
    """cos, sin (max_length x head_dim/2) of pos * base^(-2i / head_dim), computed in float64."""
    half = head_dim // 2
    i = torch.arange(half, dtype=torch.float64)
    inv_freq = base ** (-2.0 * i / head_dim)
    angle = torch.arange(max_length, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return angle.cos().to(dtype=dtype, device=device), angle.sin().to(dtype=dtype, device=device)


def apply_rotary(x, cos, sin):
    """x: tokens x heads x head_dim; cos/sin: tokens x head_dim/2. Rotate-half pairing:
    x' = [lo cos - hi sin, hi cos + lo sin]."""
    half = x.shape[-1] // 2
    lo, hi = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([lo * c - hi * s, hi * c + lo * s], dim=-1)


class Attention(nn.Module):
    """moerb::MultiHeadAttention: [q | k | v] = x W_qkv + b_qkv (head h owns columns
    [h hd, (h+1) hd) of each part), optional RoPE on q and k, softmax(q k^T / sqrt(hd) + mask) v,
    heads concatenated, then W_out + b_out."""

    def __init__(self, d_model, num_heads, bias, causal, rotary, rotary_base, dropout):
        super().__init__()
        self.d_model, self.num_heads = d_model, num_heads
        self.head_dim = d_model // num_heads
        self.causal, self.rotary, self.rotary_base = causal, rotary, rotary_base
        self.dropout = dropout
        self.w_qkv = _param(d_model, 3 * d_model)
        self.b_qkv = _param(1, 3 * d_model) if bias else None
        self.w_out = _param(d_model, d_model)
        self.b_out = _param(1, d_model) if bias else None

    def forward(self, x, batch: PackedBatch, training=False):
        T, d, H, hd = x.shape[0], self.d_model, self.num_heads, self.head_dim
        qkv = x @ self.w_qkv
        if self.b_qkv is not None:
            qkv = qkv + self.b_qkv
        q, k, v = (qkv[:, i * d:(i + 1) * d].reshape(T, H, hd) for i in range(3))
        pos = batch.position_of_token
        if self.rotary:
            cos, sin = rotary_tables(batch.max_length, hd, self.rotary_base, x.dtype, x.device)
            q = apply_rotary(q, cos[pos], sin[pos])
            k = apply_rotary(k, cos[pos], sin[pos])
        # Scatter the packed rows into B x L x H x hd, attend with a key mask, gather back.
        B, L = batch.num_sequences, batch.max_length
        seq = batch.sequence_of_token
        index = (seq, pos)

        def padded(t):
            return t.new_zeros(B, L, H, hd).index_put(index, t).transpose(1, 2)  # B x H x L x hd

        Q, K, V = padded(q), padded(k), padded(v)
        scores = (Q @ K.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        lengths = torch.tensor(batch.lengths, device=x.device)
        key_pos = torch.arange(L, device=x.device)
        allowed = (key_pos[None, :] < lengths[:, None])[:, None, None, :]  # B x 1 x 1 x L
        if self.causal:
            allowed = allowed & (key_pos[None, :] <= key_pos[:, None])[None, None, :, :]
        # Key 0 is always allowed, so no row is fully masked (padded query rows are discarded).
        probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        if training and self.dropout > 0:
            probs = F.dropout(probs, self.dropout, training=True)
        out = (probs @ V).transpose(1, 2)[index].reshape(T, d)  # tokens x d_model
        y = out @ self.w_out
        return y if self.b_out is None else y + self.b_out


class GatedExpert(nn.Module):
    """moerb::GatedExpert: (f(x W_gate) * (x W_up)) W_out with W_gate = w_gate_up[:, :d_ff],
    W_up = w_gate_up[:, d_ff:]. Also the dense FFN of a block (DenseFFN visits the block's
    parameters without an extra name level)."""

    def __init__(self, d_model, d_ff, activation="silu", bias=False):
        super().__init__()
        self.d_ff, self.activation = d_ff, activation
        self.w_gate_up = _param(d_model, 2 * d_ff)
        self.b_gate_up = _param(1, 2 * d_ff) if bias else None
        self.w_out = _param(d_ff, d_model)
        self.b_out = _param(1, d_model) if bias else None

    def forward(self, x):
        h = x @ self.w_gate_up
        if self.b_gate_up is not None:
            h = h + self.b_gate_up
        gate, up = h[:, :self.d_ff], h[:, self.d_ff:]
        gate = F.silu(gate) if self.activation == "silu" else F.gelu(gate)
        y = (gate * up) @ self.w_out
        return y if self.b_out is None else y + self.b_out


class DenseFFN(GatedExpert):
    """DenseFFN<GatedExpert>: one expert applied to every token, no auxiliary loss."""

    def forward(self, x, training=False):
        return super().forward(x), x.new_zeros(()), None


class TopKRouter(nn.Module):
    """moerb::TopKRouter (SoftmaxThenTopK): "weight" d_model x E."""

    def __init__(self, d_model, cfg: FeedForwardConfig):
        super().__init__()
        self.cfg = cfg
        self.weight = _param(d_model, cfg.num_experts)

    def forward(self, x, training=False):
        """Returns a dict: logits, probs (T x E), selected (T x k, descending logits, ties to the
        lower expert), weights (T x k, before capacity), keep (T x k bool), and the unweighted
        load_balancing_loss, z_loss and the weighted aux_loss."""
        cfg, E, k = self.cfg, self.cfg.num_experts, self.cfg.k
        T = x.shape[0]
        logits = x @ self.weight
        if cfg.temperature != 1.0:
            logits = logits / cfg.temperature
        probs = torch.softmax(logits, dim=-1)
        # A stable descending sort puts equal logits in ascending expert order, as moerb's top-k.
        selected = torch.sort(logits.detach(), dim=-1, descending=True, stable=True).indices[:, :k]
        chosen = probs.gather(1, selected)
        weights = chosen / chosen.sum(dim=-1, keepdim=True) if cfg.renormalize else chosen
        factor = cfg.capacity_factor if training else cfg.eval_capacity_factor
        keep = torch.ones_like(selected, dtype=torch.bool)
        if factor is not None:
            capacity = max(1, math.ceil(factor * T * k / E - 1e-9))
            # GShard priority: all first choices (tokens in order) before any second choice.
            order = selected.t().reshape(-1)  # choice-major
            rank = F.one_hot(order, E).cumsum(0).gather(1, order[:, None])[:, 0]  # 1-based
            keep = (rank <= capacity).reshape(k, T).t()
        counts = torch.bincount(selected.reshape(-1), minlength=E).to(x.dtype)
        f = counts / (T * k)  # fraction of the choices (before capacity); no gradient
        lb = E * (f * probs.mean(dim=0)).sum()
        z = (torch.logsumexp(logits, dim=-1) ** 2).mean()
        aux = cfg.load_balancing_weight * lb + cfg.z_loss_weight * z
        return dict(logits=logits, probs=probs, selected=selected, weights=weights, keep=keep,
                    load_balancing_loss=lb, z_loss=z, aux_loss=aux)


class MoELayer(nn.Module):
    """MoELayer<TopKRouter, GatedExpert>: y_t = sum over kept choices j of w_tj expert_{e_tj}(x_t).
    Names "router.weight", "experts.<e>.<name>"."""

    def __init__(self, d_model, cfg: FeedForwardConfig):
        super().__init__()
        self.router = TopKRouter(d_model, cfg)
        self.experts = nn.ModuleList(GatedExpert(d_model, cfg.d_ff, cfg.activation, cfg.bias)
                                     for _ in range(cfg.num_experts))

    def forward(self, x, training=False):
        r = self.router(x, training)
        y = torch.zeros_like(x)
        routed = (r["selected"][:, :, None] == torch.arange(len(self.experts), device=x.device))
        routed = routed & r["keep"][:, :, None]  # T x k x E
        for e, expert in enumerate(self.experts):
            token, slot = routed[:, :, e].nonzero(as_tuple=True)
            if token.numel() == 0:
                continue
            out = expert(x.index_select(0, token))
            y = y.index_add(0, token, out * r["weights"][token, slot][:, None])
        return y, r["aux_loss"], r


class Block(nn.Module):
    """TransformerBlock: a = x + Drop(Attention(Norm1(x))), y = a + Drop(FFN(Norm2(a)))."""

    def __init__(self, cfg: ModelConfig, layer: int, causal: bool):
        super().__init__()
        t, f = cfg.transformer, cfg.ffn
        self.dropout = t.dropout
        self.attn_norm = make_norm(cfg.norm, t.d_model, t.norm_eps)
        self.attention = Attention(t.d_model, t.num_heads, t.attention_bias, causal,
                                   t.position == "rotary", t.rotary_base, t.attention_dropout)
        self.ffn_norm = make_norm(cfg.norm, t.d_model, t.norm_eps)
        if f.kind == "moe" and t.is_moe_block(layer):
            self.ffn = MoELayer(t.d_model, f)
        else:
            width = f.d_ff if f.kind == "dense" or f.dense_d_ff is None else f.dense_d_ff
            self.ffn = DenseFFN(t.d_model, width, f.activation, f.bias)

    def forward(self, x, batch, training=False):
        drop = (lambda h: F.dropout(h, self.dropout, training=True)) if (
            training and self.dropout > 0) else (lambda h: h)
        a = x + drop(self.attention(self.attn_norm(x), batch, training))
        f, aux, routing = self.ffn(self.ffn_norm(a), training)
        return a + drop(f), aux, routing


@dataclass
class ModelOutput:
    logits: torch.Tensor  # sequences x classes (classifier) or tokens x vocab (LM)
    aux_loss: torch.Tensor  # sum over MoE blocks of their weighted auxiliary losses
    word_embeddings: torch.Tensor  # tokens x d_model, the embedding lookup (grad retained)
    routing: dict  # block index -> the router's dict (MoE blocks only)


class TransformerModel(nn.Module):
    """EncoderClassifier (bidirectional, pooling + classification head) or DecoderLM (causal,
    LM head), selected by config.model."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        t = config.transformer
        self.is_lm = config.model == "DecoderLM"
        self.embeddings = nn.Module()
        self.embeddings.tokens = Table(t.vocab_size, t.d_model)
        if t.position == "learned":
            self.embeddings.positions = Table(t.max_positions, t.d_model)
        if t.num_segments > 0:
            self.embeddings.segments = Table(t.num_segments, t.d_model)
        self.blocks = nn.ModuleList(Block(config, i, causal=self.is_lm)
                                    for i in range(t.num_layers))
        self.final_norm = make_norm(config.norm, t.d_model, t.norm_eps)
        if self.is_lm:
            self.lm_head = nn.Module()
            if not config.tie_embeddings:
                self.lm_head.weight = _param(t.d_model, t.vocab_size)
            if config.head_bias:
                self.lm_head.bias = _param(1, t.vocab_size)
        else:
            self.head = nn.Module()
            if config.head_hidden > 0:
                self.head.dense = Affine(t.d_model, config.head_hidden)
            self.head.out = Affine(config.head_hidden or t.d_model, config.num_classes)

    # -- forward -----------------------------------------------------------------------------
    def embed(self, batch: PackedBatch):
        """The word embeddings (tokens x d_model)."""
        return self.embeddings.tokens.weight[batch.ids]

    def forward(self, batch: PackedBatch, training=False, word_embeddings=None):
        """Logits and auxiliary loss. `word_embeddings` (tokens x d_model) replaces the lookup, e.g.
        perturbed embeddings; otherwise the lookup is made and its gradient retained (after
        backward, out.word_embeddings.grad is dL/de, as the C++ models' backward returns)."""
        t = self.config.transformer
        assert batch.max_length <= t.max_positions, "a sequence is longer than max_positions"
        e = self.embed(batch) if word_embeddings is None else word_embeddings
        if e.requires_grad and not e.is_leaf:
            e.retain_grad()
        h = e
        if t.position == "learned":
            h = h + self.embeddings.positions.weight[batch.position_of_token]
        # A batch without segment ids is all segment 0 (moerb::TokenBatch's convention).
        if t.num_segments > 0:
            seg = batch.segments if batch.segments is not None else torch.zeros_like(batch.ids)
            h = h + self.embeddings.segments.weight[seg]
        if training and t.dropout > 0:
            h = F.dropout(h, t.dropout, training=True)
        aux = h.new_zeros(())
        routing = {}
        for i, block in enumerate(self.blocks):
            h, block_aux, r = block(h, batch, training)
            aux = aux + block_aux
            if r is not None:
                routing[i] = r
        out = self.final_norm(h)
        if self.is_lm:
            logits = out @ (self.embeddings.tokens.weight.t() if self.config.tie_embeddings
                            else self.lm_head.weight)
            if self.config.head_bias:
                logits = logits + self.lm_head.bias
        else:
            if self.config.pooling == "first":
                pooled = out[torch.tensor(batch.begins(), device=out.device)]
            else:
                B = batch.num_sequences
                sums = out.new_zeros(B, out.shape[1]).index_add(0, batch.sequence_of_token, out)
                pooled = sums / torch.tensor(batch.lengths, dtype=out.dtype,
                                             device=out.device)[:, None]
            if training and self.config.head_dropout > 0:
                pooled = F.dropout(pooled, self.config.head_dropout, training=True)
            x = pooled
            if self.config.head_hidden > 0:
                x = torch.tanh(self.head.dense(x))
            logits = self.head.out(x)
        return ModelOutput(logits, aux, e, routing)

    def loss(self, output: ModelOutput, batch: PackedBatch):
        """(cross entropy, aux, total = ce + aux): mean cross entropy over the sequences' labels
        (classifier) or mean next-token NLL over the rows that have a next token (LM)."""
        if self.is_lm:
            ce = F.cross_entropy(output.logits, next_token_targets(batch), ignore_index=-100)
        else:
            ce = F.cross_entropy(output.logits, batch.labels)
        return ce, output.aux_loss, ce + output.aux_loss

    # -- checkpoints -------------------------------------------------------------------------
    def moerb_state(self):
        """name -> tensor in moerb's names and layouts (the same as state_dict())."""
        return {n: p.detach() for n, p in self.named_parameters()}

    def save_moerb_checkpoint(self, path, dtype="F64", metadata=None):
        """Writes a safetensors file that moerb's load_checkpoint accepts; __metadata__ is
        config.metadata() (plus `metadata`)."""
        meta = dict(metadata or {})
        meta.update(self.config.metadata())
        write_safetensors(path, {n: (dtype, t) for n, t in self.moerb_state().items()}, meta)

    def load_moerb_checkpoint(self, path):
        """Loads a checkpoint written by moerb's save_checkpoint (or save_moerb_checkpoint);
        checks the architecture metadata and that the tensor names match exactly."""
        tensors, meta = read_safetensors(path)
        mine = self.config.metadata()
        for key, value in mine.items():
            assert meta.get(key) == value, \
                f"{path}: metadata {key} = {meta.get(key)}, the model has {value}"
        params = dict(self.named_parameters())
        assert set(tensors) == set(params), f"{path}: names differ: {set(tensors) ^ set(params)}"
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(tensors[name].reshape(p.shape).to(p.dtype))
        return meta


# ------------------------------------------------------------------------------------------------
# Building and training
# ------------------------------------------------------------------------------------------------
def initialize_(model: TransformerModel, generator: Optional[torch.Generator] = None):
    """moerb's initialisation scheme (the same distributions, not the same draws): embedding tables
    N(0, 0.02^2); every projection, router gate and head tensor U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (PyTorch nn.Linear's default) with fan_in = d_model, except an expert's w_out / b_out
    (fan_in = d_ff) and the classifier's out layer after a hidden layer (fan_in = head_hidden);
    norm weights 1, norm biases 0."""
    def uniform(p, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        p.copy_((torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 - 1) * bound)

    with torch.no_grad():
        for module in model.modules():
            own = dict(module.named_parameters(recurse=False))
            if isinstance(module, Table):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator,
                                                dtype=module.weight.dtype) * 0.02)
            elif isinstance(module, (LayerNorm, RMSNorm)):
                module.weight.fill_(1.0)
                if isinstance(module, LayerNorm):
                    module.bias.zero_()
            elif isinstance(module, Affine):
                for p in own.values():
                    uniform(p, module.weight.shape[0])
            elif isinstance(module, GatedExpert):
                for name, p in own.items():
                    uniform(p, module.d_ff if name in ("w_out", "b_out")
                            else module.w_gate_up.shape[0])
            elif own:  # Attention, TopKRouter, the LM head: fan_in = d_model
                for p in own.values():
                    uniform(p, model.config.transformer.d_model)


def build_model(config: ModelConfig, seed: int = 0, dtype=torch.float32, device=None):
    """A TransformerModel for `config` initialised as initialize_ describes from
    torch.Generator().manual_seed(seed), converted to `dtype` and moved to `device`."""
    model = TransformerModel(config).to(torch.float64)
    initialize_(model, torch.Generator().manual_seed(seed))
    return model.to(dtype=dtype, device=device)


def train_step(model: TransformerModel, optimizer: torch.optim.Optimizer, batch: PackedBatch,
               max_grad_norm: Optional[float] = None):
    """One training step: zero the gradients, a training forward, loss = cross entropy + aux,
    backward, optional global gradient-norm clipping, optimizer.step(). Returns floats
    {"loss", "ce", "aux"}."""
    optimizer.zero_grad(set_to_none=True)
    out = model(batch, training=True)
    ce, aux, total = model.loss(out, batch)
    total.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return {"loss": float(total), "ce": float(ce), "aux": float(aux)}


# ------------------------------------------------------------------------------------------------
# safetensors (written by hand: struct + json, no safetensors package)
# ------------------------------------------------------------------------------------------------
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> (dtype name, tensor), converted to that dtype. Layout as the reference
    implementation (and moerb) write it: an 8-byte little-endian header length N, compact JSON
    with keys in byte order (including "__metadata__", present only when `metadata` is non-empty)
    padded with spaces to a multiple of 8, then the tensors in name order, contiguous,
    little-endian, C order. Written atomically (temporary file in the same directory, renamed)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    for name in sorted(tensors, key=lambda s: s.encode("utf-8")):
        dtype_name, t = tensors[name]
        data = _tensor_bytes(t.to(_DTYPES[dtype_name]))
        header[name] = {"dtype": dtype_name, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    raw = text.encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".safetensors-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            for c in chunks:
                f.write(c)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_safetensors(path):
    """(name -> tensor, metadata dict) of a safetensors file of F16/BF16/F32/F64 tensors."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        chunk = bytearray(data[b:e])
        if dtype in (torch.float16, torch.bfloat16):
            t = torch.frombuffer(chunk, dtype=torch.int16).view(dtype) if chunk else torch.empty(0)
        else:
            t = torch.frombuffer(chunk, dtype=dtype) if chunk else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta
