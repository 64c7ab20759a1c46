#pragma once
// xsimd bodies of the row softmax kernels: a max pass, an exp(x − max) pass that sums (and, for
// softmax, stores) and a final elementwise pass. Padded tail lanes hold −inf, which the max
// ignores and whose exponential adds 0 to the sum.
#include <limits>

#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/simd.hpp"

#if MOERB_KERNELS_SIMD

namespace moerb::kernels::detail {

/// max_i x_i; −inf for n = 0.
template <class S>
S max_simd(const S* x, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  constexpr S ninf = -std::numeric_limits<S>::infinity();
  B acc(ninf);
  Index i = 0;
  for (; i + W <= n; i += W) acc = xsimd::max(acc, B::load_unaligned(x + i));
  if (i < n) acc = xsimd::max(acc, load_partial(x + i, n - i, ninf));
  return reduce_max(acc);
}

/// Σ exp(x_i − m), also writing the terms to y when Store (y may alias x).
template <bool Store, class S>
S exp_shifted_sum_simd(const S* x, S m, S* y, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  constexpr S ninf = -std::numeric_limits<S>::infinity();
  const B mb(m);
  B acc(S(0));
  Index i = 0;
  for (; i + W <= n; i += W) {
    const B e = exp_batch(B::load_unaligned(x + i) - mb);
    if constexpr (Store) e.store_unaligned(y + i);
    acc += e;
  }
  if (i < n) {
    const B e = exp_batch(load_partial(x + i, n - i, ninf) - mb);
    if constexpr (Store) store_partial(y + i, e, n - i);
    acc += e;
  }
  return xsimd::hadd(acc);
}

/// y = a·x elementwise (y may alias x).
template <class S>
void scale_simd(const S* x, S a, S* y, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  const B ab(a);
  Index i = 0;
  for (; i + W <= n; i += W) (ab * B::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) store_partial(y + i, ab * load_partial(x + i, n - i, S(0)), n - i);
}

/// y = (x − m) − c elementwise (y may alias x); the log-softmax output pass.
template <class S>
void shift_twice_simd(const S* x, S m, S c, S* y, Index n) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  const B mb(m), cb(c);
  Index i = 0;
  for (; i + W <= n; i += W) ((B::load_unaligned(x + i) - mb) - cb).store_unaligned(y + i);
  if (i < n) store_partial(y + i, (load_partial(x + i, n - i, S(0)) - mb) - cb, n - i);
}

}  // namespace moerb::kernels::detail

#endif  // MOERB_KERNELS_SIMD
