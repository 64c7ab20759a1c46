#pragma once
// RotaryEmbedding: rotary position encoding (RoPE; Su et al. 2021, "RoFormer: Enhanced Transformer
// with Rotary Position Embedding"), which encodes a token's position by rotating its query and key
// vectors so that their dot product depends only on the positions' difference.
#include <algorithm>
#include <cmath>
#include <string_view>

#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/core/detail/workspace.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

/// Rotary position encoding of `tokens × (num_heads · head_dim)` query or key matrices; no
/// parameters.
///
/// Pairing ("rotate-half", as in GPT-NeoX and LLaMA, rather than RoFormer's interleaved pairs):
/// inside each head, dimension i and dimension i + head_dim/2 (i < head_dim/2) form a pair that
/// is rotated by the angle θ = pos · base^(−2i / head_dim):
///
///   x'_i            = x_i · cos θ − x_{i+head_dim/2} · sin θ
///   x'_{i+head_dim/2} = x_{i+head_dim/2} · cos θ + x_i · sin θ
///
/// i.e. x' = x ⊙ cos + rotate_half(x) ⊙ sin with rotate_half([a, b]) = [−b, a]. `pos` is the
/// index of the token within its sequence of the SequenceBatch (0 for the first token of every
/// sequence). Then ⟨R(m)q, R(n)k⟩ = ⟨q, R(n − m)k⟩ (RoFormer, eq. 16).
///
/// Angles are computed in double and cached as cos/sin tables of `table_length() × head_dim/2`
/// entries, grown (by at least 1.5×) only when a sequence is longer than any seen before, so
/// steady-state calls allocate nothing. The object is copyable.
template <FloatingScalar S>
class RotaryEmbedding {
 public:
  using Scalar = S;

  struct Options {
    Index head_dim = 0;     ///< width of one head; even and > 0
    double base = 10000.0;  ///< frequency base (RoFormer: 10000); finite and > 0
  };

  explicit RotaryEmbedding(const Options& options) : options_(validated(options)) {}

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index head_dim() const { return options_.head_dim; }
  /// Number of positions the cos/sin tables cover now.
  [[nodiscard]] Index table_length() const { return cos_.rows(); }

  /// Grows the tables to cover positions [0, max_length) (no-op when they already do).
  void reserve(Index max_length) {
    if (max_length <= cos_.rows()) return;
    const Index length = std::max(max_length, cos_.rows() + cos_.rows() / 2);
    const Index half = options_.head_dim / 2;
    cos_.resize(length, half);
    sin_.resize(length, half);
    for (Index i = 0; i < half; ++i) {
      // θ_i = base^(−2i/head_dim) (RoFormer, §3.2.2), in double so that float tables are exact
      // to rounding even for long sequences.
      const double inv_freq = std::pow(
          options_.base, -2.0 * static_cast<double>(i) / static_cast<double>(options_.head_dim));
      for (Index pos = 0; pos < length; ++pos) {
        const double angle = static_cast<double>(pos) * inv_freq;
        cos_(pos, i) = static_cast<S>(std::cos(angle));
        sin_(pos, i) = static_cast<S>(std::sin(angle));
      }
    }
  }

  /// Rotates x (tokens × num_heads·head_dim, rows packed as `batch` says) in place; each head's
  /// column block is rotated by its token's position within its sequence.
  void rotate(MatrixRef<S> x, const SequenceBatch& batch, Index num_heads) {
    apply<false>(x, batch, num_heads, "RotaryEmbedding::rotate", "x");
  }
  void rotate(Matrix<S>& x, const SequenceBatch& batch, Index num_heads) {
    rotate(MatrixRef<S>(x), batch, num_heads);
  }

  /// Backward of `rotate`: dx (tokens × num_heads·head_dim) = ∂L/∂(rotated x) is replaced in
  /// place by ∂L/∂x, the inverse rotation (the rotation's transpose, i.e. the angle −θ).
  void rotate_backward(MatrixRef<S> dx, const SequenceBatch& batch, Index num_heads) {
    apply<true>(dx, batch, num_heads, "RotaryEmbedding::rotate_backward", "dx");
  }
  void rotate_backward(Matrix<S>& dx, const SequenceBatch& batch, Index num_heads) {
    rotate_backward(MatrixRef<S>(dx), batch, num_heads);
  }

  /// Rotates x (tokens × num_heads·head_dim) in place as consecutive positions of one sequence,
  /// row r at position first_position + r: the new tokens of incremental decoding with a
  /// key-value cache, rotated exactly as `rotate` rotates them in a whole-sequence forward.
  void rotate_at(MatrixRef<S> x, Index first_position, Index num_heads) {
    constexpr std::string_view where = "RotaryEmbedding::rotate_at";
    require_positive(num_heads, where, "num_heads");
    require_cols(x, num_heads * options_.head_dim, where, "x");
    MOERB_REQUIRE(first_position >= 0, where, ": first_position = ", first_position,
                  ", expected >= 0");
    detail::require_all_finite(x, where, "x");
    reserve(first_position + x.rows());
    for (Index r = 0; r < x.rows(); ++r) {
      rotate_row<false>(&x.coeffRef(r, 0), first_position + r, num_heads);
    }
  }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "RotaryEmbedding";
    require_positive(o.head_dim, where, "Options::head_dim");
    MOERB_REQUIRE(o.head_dim % 2 == 0, where, ": Options::head_dim = ", o.head_dim,
            ", expected an even value (dimensions i and i + head_dim/2 form rotation pairs)");
    MOERB_REQUIRE(std::isfinite(o.base) && o.base > 0, where, ": Options::base = ", o.base,
            ", expected a finite value > 0");
    return o;
  }

  template <bool Inverse>
  void apply(MatrixRef<S> x, const SequenceBatch& batch, Index num_heads, std::string_view where,
             std::string_view what) {
    require_positive(num_heads, where, "num_heads");
    require_cols(x, num_heads * options_.head_dim, where, what);
    batch.require_rows(x.rows(), where);
    detail::require_all_finite(x, where, what);
    reserve(batch.max_length());
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      const Index begin = batch.begin(b);
      const Index length = batch.length(b);
      for (Index pos = 0; pos < length; ++pos) {
        rotate_row<Inverse>(&x.coeffRef(begin + pos, 0), pos, num_heads);
      }
    }
  }

  /// Rotates one token's num_heads head blocks (contiguous) by position `pos` (tables reserved).
  template <bool Inverse>
  void rotate_row(S* row, Index pos, Index num_heads) const {
    const Index hd = options_.head_dim;
    const Index half = hd / 2;
    // The inverse rotation by θ is the rotation by −θ: the same formula with sin negated.
    const S sin_sign = Inverse ? S(-1) : S(1);
    const S* c = cos_.row(pos).data();
    const S* s = sin_.row(pos).data();
    for (Index h = 0; h < num_heads; ++h) {
      S* lo = row + h * hd;
      S* hi = lo + half;
      for (Index i = 0; i < half; ++i) {
        const S a = lo[i];
        const S b2 = hi[i];
        const S si = sin_sign * s[i];
        lo[i] = a * c[i] - b2 * si;
        hi[i] = b2 * c[i] + a * si;
      }
    }
  }

  Options options_;
  Matrix<S> cos_, sin_;  // table_length × head_dim/2: cos/sin(pos · base^(−2i/head_dim))
};

}  // namespace moerb
