#pragma once
// The xsimd configuration shared by the kernels: which architecture they use and the few block
// helpers (padded tail loads and stores, horizontal max) that xsimd 8.1 does not provide.
//
// The kernels use `xsimd::batch<S>` of xsimd's default architecture, i.e. the best instruction set
// the translation unit is compiled for (AVX2+FMA with -march=native here, SSE2 on any x86-64, NEON
// on ARM). Where xsimd has no register for S on that architecture (double on 32-bit NEON) or no
// architecture at all, `simd_enabled<S>` is false and the public kernels run the scalar reference.
//
// Remainders (n not a multiple of the batch size) are processed as one more full batch through a
// small stack buffer padded with a neutral value, rather than by a scalar loop: short rows (router
// logits over 4..8 experts) still run on SIMD, and every element goes through the same xsimd
// formulas and error bounds. (Results are not guaranteed bit-identical across positions: some
// xsimd functions branch on whole batches and the compiler may contract a·b + c into an FMA
// differently on the two paths.)
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstddef>

#include "moerb/core/types.hpp"

#if defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
#define MOERB_KERNELS_SIMD 0
#else
#define MOERB_KERNELS_SIMD 1
#endif

namespace moerb::kernels::detail {

#if MOERB_KERNELS_SIMD

using simd_arch = xsimd::default_arch;

/// True when the kernels for scalar type S run on xsimd batches.
template <class S>
inline constexpr bool simd_enabled = xsimd::has_simd_register<S, simd_arch>::value;

template <class S>
using batch = xsimd::batch<S, simd_arch>;

/// Number of S lanes in one batch.
template <class S>
inline constexpr Index simd_width = static_cast<Index>(batch<S>::size);

/// The name of the instruction set the kernels were compiled for ("fma3+avx2", "sse2", ...).
[[nodiscard]] inline const char* simd_arch_name() {
  return simd_arch::name();
}

/// A full batch holding p[0..count) followed by `fill` (0 < count < simd_width<S>).
template <class S>
[[nodiscard]] inline batch<S> load_partial(const S* p, Index count, S fill) {
  alignas(64) S buf[batch<S>::size];
  for (Index i = 0; i < simd_width<S>; ++i) buf[i] = i < count ? p[i] : fill;
  return batch<S>::load_unaligned(buf);
}

/// Writes the first `count` lanes of v to p[0..count).
template <class S>
inline void store_partial(S* p, const batch<S>& v, Index count) {
  alignas(64) S buf[batch<S>::size];
  v.store_unaligned(buf);
  std::copy_n(buf, count, p);
}

/// Largest lane of v (lanes must not be NaN).
template <class S>
[[nodiscard]] inline S reduce_max(const batch<S>& v) {
  alignas(64) S buf[batch<S>::size];
  v.store_unaligned(buf);
  S m = buf[0];
  for (std::size_t i = 1; i < batch<S>::size; ++i) m = buf[i] > m ? buf[i] : m;
  return m;
}

/// exp on a batch, defined for every input. xsimd 8.1's exp converts round(x/ln 2) to an integer
/// before it selects 0 or ∞ for lanes outside [minlog, maxlog]; for ±∞, NaN or a huge x that
/// conversion overflows, which is undefined behaviour (clang's UBSan reports it where xsimd falls
/// back to a scalar cast, e.g. double on AVX-512). Lanes are clamped to just outside that range,
/// which changes no result (they still give 0 or ∞), and NaN lanes pass through as NaN.
template <class B>
[[nodiscard]] inline B exp_batch(const B& x) {
  using S = typename B::value_type;
  const B lo = xsimd::constants::minlog<B>() - B(S(1));
  const B hi = xsimd::constants::maxlog<B>() + B(S(1));
  const auto nan = x != x;
  const B safe =
      xsimd::select(nan, B(S(0)), xsimd::select(x < lo, lo, xsimd::select(x > hi, hi, x)));
  return xsimd::select(nan, x, xsimd::exp(safe));
}

/// erfc on a batch, defined for every input: xsimd's erfc calls exp(−z²), so the same hazard as
/// above applies for |z| ≳ 3e9. erfc is 0 (2) in float and double for z ≥ 64 (z ≤ −64), so those
/// lanes are clamped there; NaN passes through.
template <class B>
[[nodiscard]] inline B erfc_batch_raw(const B& z) {
  using S = typename B::value_type;
  const B bound(S(64));
  const auto nan = z != z;
  const B safe = xsimd::select(
      nan, B(S(0)), xsimd::select(z < -bound, -bound, xsimd::select(z > bound, bound, z)));
  return xsimd::select(nan, z, xsimd::erfc(safe));
}

#else

template <class S>
inline constexpr bool simd_enabled = false;

[[nodiscard]] inline const char* simd_arch_name() {
  return "scalar";
}

#endif

}  // namespace moerb::kernels::detail
