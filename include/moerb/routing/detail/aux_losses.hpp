#pragma once
// Auxiliary router losses and their gradients.
#include <vector>

#include "moerb/core/types.hpp"
#include "moerb/kernels/softmax.hpp"

namespace moerb::detail {

/// Switch load-balancing loss (Fedus et al. 2021, eq. 4): N · Σ_i f_i · P_i, where f_i is the
/// fraction of the router's choices (tokens × k, before capacity) that go to expert i and P_i the
/// mean router probability of expert i. Equals 1 under perfect balance for any k (HF Transformers'
/// Mixtral loss sums over the k slots instead and equals k). f is not differentiable; the gradient
/// flows through P: ∂L/∂probs(t, i) = N · f_i / T.
template <class S>
S load_balancing_loss(const Matrix<S>& probs, const std::vector<Index>& choice_counts,
                      Index total_choices, S coef, Matrix<S>* d_probs) {
  const Index T = probs.rows();
  const Index N = probs.cols();
  if (T == 0 || total_choices == 0) return S(0);
  S loss = 0;
  for (Index i = 0; i < N; ++i) {
    const S f =
        static_cast<S>(choice_counts[static_cast<std::size_t>(i)]) / static_cast<S>(total_choices);
    const S P = probs.col(i).sum() / static_cast<S>(T);
    loss += f * P;
    if (d_probs != nullptr && coef != S(0)) {
      d_probs->col(i).array() += coef * static_cast<S>(N) * f / static_cast<S>(T);
    }
  }
  return static_cast<S>(N) * loss;
}

/// ST-MoE router z-loss (Zoph et al. 2022, eq. 5): (1/T) Σ_t (logsumexp_i logits(t, i))².
/// ∂/∂logits(t, i) = 2 · lse_t · softmax(logits_t)_i / T.
template <class S>
S router_z_loss(const Matrix<S>& logits, S coef, Matrix<S>* d_logits, std::vector<S>& scratch) {
  const Index T = logits.rows();
  const Index N = logits.cols();
  if (T == 0) return S(0);
  scratch.resize(static_cast<std::size_t>(N));
  S loss = 0;
  for (Index t = 0; t < T; ++t) {
    const S lse = kernels::logsumexp(logits.row(t).data(), N);
    loss += lse * lse;
    if (d_logits != nullptr && coef != S(0)) {
      kernels::softmax(logits.row(t).data(), scratch.data(), N);
      const S g = coef * S(2) * lse / static_cast<S>(T);
      for (Index i = 0; i < N; ++i) (*d_logits)(t, i) += g * scratch[static_cast<std::size_t>(i)];
    }
  }
  return loss / static_cast<S>(T);
}

/// Softmax backward for one row: dx = p ⊙ (dp − ⟨dp, p⟩). dx may alias dp.
template <class S>
void softmax_backward(const S* p, const S* dp, S* dx, Index n) {
  S dot = 0;
  for (Index i = 0; i < n; ++i) dot += dp[i] * p[i];
  for (Index i = 0; i < n; ++i) dx[i] = p[i] * (dp[i] - dot);
}

}  // namespace moerb::detail
