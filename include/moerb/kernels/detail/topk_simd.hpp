#pragma once
// The two top-k strategies behind moerb::kernels::topk, both exact and both ordering equal values
// by lower index first: the result is always the first k elements of the total order "value
// descending, then index ascending".
//
// - topk_by_selection: k rounds of SIMD passes. The element after (v, p) in that order is the
//   first tie x_i == v with i > p if there is one, else the first occurrence of max{x_i < v}.
//   About 2 passes of n/W batches per selected element, whatever the data; best for small k
//   (routers: n = 4..256 experts, k = 1..8).
// - topk_by_threshold: bisects the k-th largest value with SIMD counting passes, then collects
//   and sorts k indices. O(bits·n/W + k·log k) whatever the data; best for large k (expert-choice
//   routing: n = tokens, k = capacity).
//
// Inputs must not be NaN (routers reject NaN logits before); ±inf are fine. Requires 1 <= k <= n.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "moerb/core/types.hpp"
#include "moerb/kernels/detail/simd.hpp"
#include "moerb/kernels/detail/softmax_simd.hpp"

#if MOERB_KERNELS_SIMD

namespace moerb::kernels::detail {

/// The first i in [from, n) with x_i == v, or n.
template <class S>
Index find_first_equal_simd(const S* x, Index from, Index n, S v) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  const B vb(v);
  Index i = from;
  for (; i + W <= n; i += W) {
    if (xsimd::any(B::load_unaligned(x + i) == vb)) {
      for (Index j = i;; ++j) {
        if (x[j] == v) return j;
      }
    }
  }
  for (; i < n; ++i) {
    if (x[i] == v) return i;
  }
  return n;
}

/// max{x_i : x_i < v}, or −inf when there is none.
template <class S>
S max_below_simd(const S* x, Index n, S v) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  constexpr S ninf = -std::numeric_limits<S>::infinity();
  const B vb(v), ninfb(ninf);
  B acc(ninf);
  Index i = 0;
  for (; i + W <= n; i += W) {
    const B b = B::load_unaligned(x + i);
    acc = xsimd::max(acc, xsimd::select(b < vb, b, ninfb));
  }
  if (i < n) {
    const B b = load_partial(x + i, n - i, ninf);
    acc = xsimd::max(acc, xsimd::select(b < vb, b, ninfb));
  }
  return reduce_max(acc);
}

template <class S>
void topk_by_selection(const S* x, Index n, Index k, Index* idx, S* val) {
  S v = max_simd(x, n);
  Index p = find_first_equal_simd(x, 0, n, v);
  idx[0] = p;
  val[0] = x[p];  // x[p], not v: keeps the sign of a zero exactly as in the input
  for (Index j = 1; j < k; ++j) {
    Index q = find_first_equal_simd(x, p + 1, n, v);  // a later tie of v comes next
    if (q == n) {
      v = max_below_simd(x, n, v);
      q = find_first_equal_simd(x, 0, n, v);
    }
    p = q;
    idx[j] = p;
    val[j] = x[p];
  }
}

/// The unsigned integer type of S's width, for the order-preserving key below.
template <class S>
using key_type = std::conditional_t<sizeof(S) == 4, std::uint32_t, std::uint64_t>;

/// Maps non-NaN S to unsigned keys with the same order (−0 just below +0); from_key inverts it.
/// Keys below that of −inf and above that of +inf map back to NaN.
template <class S>
key_type<S> to_key(S v) {
  using U = key_type<S>;
  constexpr U sign = U(1) << (8 * sizeof(S) - 1);
  const U u = std::bit_cast<U>(v);
  return (u & sign) ? ~u : (u | sign);
}
template <class S>
S from_key(key_type<S> key) {
  using U = key_type<S>;
  constexpr U sign = U(1) << (8 * sizeof(S) - 1);
  return std::bit_cast<S>((key & sign) ? (key & ~sign) : ~key);
}

/// from_key, with the keys below −inf's clamped to −inf (so that counts stay monotone in the key;
/// keys above +inf's give NaN, which no value is >= of).
template <class S>
S threshold_of_key(key_type<S> key) {
  constexpr S ninf = -std::numeric_limits<S>::infinity();
  return key < to_key(ninf) ? ninf : from_key<S>(key);
}

/// #{i : x_i >= t} (Strict = false) or #{i : x_i > t} (Strict = true); 0 for t = NaN. Counts are
/// accumulated in S lanes, exact while n < 2^digits(S).
template <bool Strict, class S>
Index count_above_simd(const S* x, Index n, S t) {
  using B = batch<S>;
  constexpr Index W = simd_width<S>;
  const B tb(t), one(S(1)), zero(S(0));
  B acc(S(0));
  const auto above = [&](const B& b) {
    if constexpr (Strict) {
      return b > tb;
    } else {
      return b >= tb;
    }
  };
  Index i = 0;
  for (; i + W <= n; i += W) acc += xsimd::select(above(B::load_unaligned(x + i)), one, zero);
  if (i < n) {
    // NaN padding compares false against every t.
    const B b = load_partial(x + i, n - i, std::numeric_limits<S>::quiet_NaN());
    acc += xsimd::select(above(b), one, zero);
  }
  return static_cast<Index>(xsimd::hadd(acc));
}

/// Threshold selection: bisect the order-preserving key of the k-th largest value with SIMD
/// counting passes (at most 32 for float, 64 for double; usually fewer, stopping as soon as
/// exactly k values are >= the threshold), collect the k indices in one filtered pass and sort
/// them. O(bits·n/W + k·log k) whatever the data; best for large k. Requires n < 2^digits(S).
template <class S>
void topk_by_threshold(const S* x, Index n, Index k, Index* idx, S* val) {
  using B = batch<S>;
  using U = key_type<S>;
  constexpr Index W = simd_width<S>;
  // Largest key whose value t has #{x >= t} >= k: the key of the k-th largest value (or, after
  // an early stop, a t with exactly k values >= t).
  U key = 0;
  for (int bit = 8 * static_cast<int>(sizeof(S)) - 1; bit >= 0; --bit) {
    const U candidate = key | (U(1) << bit);
    const Index c = count_above_simd<false>(x, n, threshold_of_key<S>(candidate));
    if (c >= k) {
      key = candidate;
      if (c == k) break;
    }
  }
  const S t = threshold_of_key<S>(key);
  // All values > t are in (fewer than k, or exactly k after an early stop); the remaining slots
  // go to values equal to t in index order.
  Index ties_left = k - count_above_simd<true>(x, n, t);
  Index m = 0;
  const auto take = [&](Index i) {
    if (x[i] > t) {
      idx[m++] = i;
    } else if (x[i] == t && ties_left > 0) {
      idx[m++] = i;
      --ties_left;
    }
  };
  const B tb(t);
  Index i = 0;
  for (; i + W <= n; i += W) {
    if (xsimd::any(B::load_unaligned(x + i) >= tb)) {
      for (Index j = i; j < i + W; ++j) take(j);
    }
  }
  for (; i < n; ++i) take(i);
  const auto ahead = [x](Index a, Index b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  std::sort(idx, idx + k, ahead);
  for (Index j = 0; j < k; ++j) val[j] = x[idx[j]];
}

}  // namespace moerb::kernels::detail

#endif  // MOERB_KERNELS_SIMD
