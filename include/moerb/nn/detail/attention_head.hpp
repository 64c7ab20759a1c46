#pragma once
// The work of one (sequence, head) pair of MultiHeadAttention: scaled dot-product attention
// (Vaswani et al. 2017, eq. 1) on L × head_dim blocks of the packed q, k, v, and its backward.
// MultiHeadAttention runs these for every pair in parallel; each call writes only its own blocks.
#include <Eigen/Core>
#include <cstdint>
#include <limits>

#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"
#include "moerb/kernels/softmax.hpp"

namespace moerb::detail {

/// An L × L row-major block of a flat buffer (probabilities, dropout mask, scratch).
template <class S>
using SquareMap = Eigen::Map<Matrix<S>>;

/// probs (L × L) = softmax over the attendable keys of scale · q kᵀ, 0 elsewhere.
///
/// Key j is attendable from query i when j ≤ i (if `causal`) and key_valid[j] != 0 (if
/// key_valid is not null; it points at this sequence's first token). The softmax subtracts the
/// row maximum (kernels::softmax), so logits of any finite size give finite probabilities. A query
/// with no attendable key gets an all-zero row. Returns false when an attendable logit is not
/// finite (q·kᵀ overflowed); the probabilities are then meaningless.
template <class S>
bool masked_softmax_attention(MatrixCRef<S> q, MatrixCRef<S> k, S scale, bool causal,
                              const std::uint8_t* key_valid, SquareMap<S> probs) {
  const Index length = q.rows();
  probs.noalias() = scale * (q * k.transpose());
  constexpr S minus_inf = -std::numeric_limits<S>::infinity();
  // Σ logit·0 over the attendable logits is 0 exactly when they are all finite (masked logits may
  // overflow harmlessly: they are replaced by −inf).
  S finite_probe = 0;
  for (Index i = 0; i < length; ++i) {
    S* row = probs.row(i).data();
    // Causal: keys after i are never attended; the softmax runs over the prefix [0, i].
    const Index keys = causal ? i + 1 : length;
    for (Index j = keys; j < length; ++j) row[j] = S(0);
    bool any_key = true;
    if (key_valid == nullptr) {
      finite_probe += (Eigen::Map<const Vector<S>>(row, keys).array() * S(0)).sum();
    } else {
      any_key = false;
      for (Index j = 0; j < keys; ++j) {
        if (key_valid[j] == 0) {
          row[j] = minus_inf;
        } else {
          any_key = true;
          finite_probe += row[j] * S(0);
        }
      }
    }
    if (any_key) {
      kernels::softmax(row, row, keys);
    } else {
      for (Index j = 0; j < keys; ++j) row[j] = S(0);
    }
  }
  return finite_probe == S(0);
}

/// Inverted dropout mask (Srivastava et al. 2014) on attention probabilities: each entry is 0 with
/// probability `rate` and 1 / (1 − rate) otherwise, drawn row-major from `rng`.
template <class S>
void fill_attention_dropout_mask(SquareMap<S> mask, double rate, Rng rng) {
  const S keep_scale = static_cast<S>(1.0 / (1.0 - rate));
  for (Index i = 0; i < mask.size(); ++i) {
    mask.data()[i] = rng.uniform() < rate ? S(0) : keep_scale;
  }
}

/// out (L × head_dim) = (probs ⊙ mask) · v, or probs · v without dropout (mask = nullptr).
/// `scratch` (L × L) receives probs ⊙ mask.
template <class S>
void attention_head_output(SquareMap<S> probs, const S* mask, SquareMap<S> scratch, MatrixCRef<S> v,
                           MatrixRef<S> out) {
  if (mask == nullptr) {
    out.noalias() = probs * v;
    return;
  }
  const Index length = probs.rows();
  const Eigen::Map<const Matrix<S>> m(mask, length, length);
  scratch.array() = probs.array() * m.array();
  out.noalias() = scratch * v;
}

/// Backward of one head. With P the probabilities, M the dropout mask (all ones without dropout),
/// P' = P ⊙ M and O = P' v:
///   dv = P'ᵀ dO,  dP = (dO vᵀ) ⊙ M,
///   dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik)   (softmax backward; 0 where P is 0),
///   dq = scale · dS k,  dk = scale · dSᵀ q.
/// Masked keys and fully masked queries have P = 0 and so get no gradient. `scratch` (L × L) is
/// overwritten.
template <class S>
void attention_head_backward(MatrixCRef<S> q, MatrixCRef<S> k, MatrixCRef<S> v, SquareMap<S> probs,
                             const S* mask, SquareMap<S> scratch, MatrixCRef<S> d_out, S scale,
                             MatrixRef<S> dq, MatrixRef<S> dk, MatrixRef<S> dv) {
  const Index length = probs.rows();
  const Eigen::Map<const Matrix<S>> m(mask, mask == nullptr ? 0 : length,
                                      mask == nullptr ? 0 : length);
  if (mask == nullptr) {
    dv.noalias() = probs.transpose() * d_out;
  } else {
    scratch.array() = probs.array() * m.array();
    dv.noalias() = scratch.transpose() * d_out;
  }
  scratch.noalias() = d_out * v.transpose();
  if (mask != nullptr) scratch.array() *= m.array();
  for (Index i = 0; i < length; ++i) {
    const S dot = probs.row(i).dot(scratch.row(i));
    scratch.row(i) = (probs.row(i).array() * (scratch.row(i).array() - dot)).matrix();
  }
  dq.noalias() = scale * (scratch * k);
  dk.noalias() = scale * (scratch.transpose() * q);
}

}  // namespace moerb::detail
