#pragma once
// MultiHeadAttention: multi-head scaled dot-product self-attention (Vaswani et al. 2017, §3.2) on
// packed variable-length sequences (moerb/nn/sequence_batch.hpp), with optional causal masking,
// key (padding) masks, rotary position encoding (moerb/nn/rotary.hpp) and attention dropout.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/core/detail/workspace.hpp"
#include "moerb/nn/detail/attention_head.hpp"
#include "moerb/nn/rotary.hpp"
#include "moerb/nn/sequence_batch.hpp"

namespace moerb {

/// Multi-head self-attention on `tokens × d_model` activations packed as a SequenceBatch says;
/// tokens attend only to tokens of their own sequence.
///
///   [q | k | v] = x·W_qkv + b_qkv,  q, k optionally rotated (RoPE, rotate-half pairing),
///   per head h: O_h = softmax(q_h k_hᵀ / √head_dim + mask) v_h,
///   y = [O_1 | … | O_H]·W_out + b_out.
///
/// Parameters (weights act as x·W, i.e. the transpose of PyTorch's nn.Linear.weight):
/// - "w_qkv" d_model × 3·d_model: columns [0, d) give q, [d, 2d) k, [2d, 3d) v; inside each,
///   head h owns the contiguous columns [h·head_dim, (h+1)·head_dim).
/// - "b_qkv" 1 × 3·d_model (only with Options::bias), same column layout.
/// - "w_out" d_model × d_model (row block h multiplies head h's output), "b_out" 1 × d_model
///   (only with Options::bias).
///
/// Masking: query i of a sequence may attend key j of the same sequence when j ≤ i (only if
/// Options::causal) and key_valid[j] != 0 (if a key mask is given). A query with no attendable key
/// (e.g. every key masked) gets a zero attention output, so its y is b_out; it receives and passes
/// on no gradient through attention. Rows of masked tokens are still computed as queries: callers
/// with padded batches ignore them downstream.
///
/// Numerics: the softmax subtracts each row's maximum, so huge logits (inputs of ±1e4) give finite
/// probabilities; a forward whose logits overflow to ±inf throws.
///
/// Attention dropout (training only, Options::attention_dropout > 0): inverted dropout on the
/// probabilities (zero with probability p, others scaled by 1 / (1 − p)), as in Vaswani et al.
/// 2017 §5.4 and PyTorch's MultiheadAttention. The mask of sequence b, head h draws row-major from
/// ctx.rng.split(dropout_rng_tag).split(b).split(h), so it does not depend on the thread count.
/// attention_probabilities() returns the probabilities before dropout.
///
/// Work: the projections are whole-matrix GEMMs; the (sequence, head) pairs run in parallel over
/// OpenMP threads (when built with OpenMP), each writing only its own blocks, so results do not
/// depend on the thread count. Memory: the probabilities of the last forward (Σ_b H·L_b² values)
/// plus a scratch of the same size (and the dropout mask when active). Buffers only grow, so
/// steady-state forward/backward allocate nothing. Copyable.
template <FloatingScalar S>
class MultiHeadAttention {
 public:
  using Scalar = S;

  /// Tag of the attention-dropout stream under ForwardContext::rng ("attn" in ASCII; distinct
  /// from the tags of moerb::rng_tag).
  static constexpr std::uint64_t dropout_rng_tag = 0x6174746eULL;

  struct Options {
    Index d_model = 0;             ///< model width; a multiple of num_heads
    Index num_heads = 1;           ///< number of heads; head_dim = d_model / num_heads
    bool causal = false;           ///< query i attends only keys j ≤ i of its sequence
    bool bias = true;              ///< b_qkv and b_out
    bool rotary = false;           ///< rotary position encoding of q and k (needs an even head_dim)
    double rotary_base = 10000.0;  ///< RoPE frequency base
    double attention_dropout = 0.0;  ///< in [0, 1); on the probabilities, training only
  };

  explicit MultiHeadAttention(const Options& options) : options_(validated(options)) {
    const Index d = options_.d_model;
    w_qkv_.resize(d, 3 * d);
    w_out_.resize(d, d);
    if (options_.bias) {
      b_qkv_.resize(1, 3 * d);
      b_out_.resize(1, d);
    }
    if (options_.rotary) {
      rotary_.emplace(typename RotaryEmbedding<S>::Options{.head_dim = head_dim(),
                                                           .base = options_.rotary_base});
    }
  }

  /// Number of scalar parameters: 4·d_model² (+ 4·d_model with biases).
  [[nodiscard]] static Index parameter_count(const Options& o) {
    return 4 * o.d_model * o.d_model + (o.bias ? 4 * o.d_model : 0);
  }

  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] Index d_model() const { return options_.d_model; }
  [[nodiscard]] Index input_dim() const { return options_.d_model; }
  [[nodiscard]] Index output_dim() const { return options_.d_model; }
  [[nodiscard]] Index num_heads() const { return options_.num_heads; }
  [[nodiscard]] Index head_dim() const { return options_.d_model / options_.num_heads; }
  [[nodiscard]] double attention_dropout() const { return options_.attention_dropout; }
  void set_attention_dropout(double rate) {
    require_rate(rate, "MultiHeadAttention::set_attention_dropout", "rate");
    options_.attention_dropout = rate;
  }

  /// 2 · multiply-adds of one token's forward when its query attends `keys_per_query` keys:
  /// 8·d_model² for the projections plus 4·d_model·keys_per_query for q·kᵀ and p·v (softmax,
  /// biases and rotation not counted). Bidirectional: keys_per_query = L; causal: (L + 1) / 2 on
  /// average (this implementation computes the full L × L scores either way).
  [[nodiscard]] double flops_per_token(double keys_per_query) const {
    const auto d = static_cast<double>(options_.d_model);
    return 8.0 * d * d + 4.0 * d * keys_per_query;
  }

  Parameter<S>& w_qkv() { return w_qkv_; }
  Parameter<S>& w_out() { return w_out_; }
  /// 0 × 0 when Options::bias is false.
  Parameter<S>& b_qkv() { return b_qkv_; }
  Parameter<S>& b_out() { return b_out_; }
  const Parameter<S>& w_qkv() const { return w_qkv_; }
  const Parameter<S>& w_out() const { return w_out_; }
  const Parameter<S>& b_qkv() const { return b_qkv_; }
  const Parameter<S>& b_out() const { return b_out_; }

  /// PyTorch nn.Linear's default for both projections: every tensor U(−1/√d_model, 1/√d_model)
  /// (fan_in = d_model for all four); draws in the order w_qkv, b_qkv, w_out, b_out.
  void initialize(Rng& rng) {
    const Index d = options_.d_model;
    w_qkv_.init_uniform_fan_in(rng, d);
    if (options_.bias) b_qkv_.init_uniform_fan_in(rng, d);
    w_out_.init_uniform_fan_in(rng, d);
    if (options_.bias) b_out_.init_uniform_fan_in(rng, d);
  }

  /// Visits "w_qkv", "b_qkv", "w_out", "b_out" (biases only with Options::bias) under `prefix`.
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "w_qkv")), w_qkv_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_qkv")), b_qkv_);
    visitor(std::string_view(join_name(prefix, "w_out")), w_out_);
    if (options_.bias) visitor(std::string_view(join_name(prefix, "b_out")), b_out_);
  }

  /// y (tokens × d_model, a member valid until the next forward) for x (tokens × d_model, packed
  /// as `batch` says). key_valid: empty (every token may be attended to) or one entry per token,
  /// 0 = the token may not be attended to (padding). Keeps q, k, v and the probabilities.
  const Matrix<S>& forward(const Matrix<S>& x, const SequenceBatch& batch,
                           const ForwardContext& ctx,
                           std::span<const std::uint8_t> key_valid = {}) {
    constexpr std::string_view where = "MultiHeadAttention::forward";
    const Index d = options_.d_model;
    require_cols(x, d, where, "x");
    batch.require_rows(x.rows(), where);
    MOERB_REQUIRE(key_valid.empty() || static_cast<Index>(key_valid.size()) == x.rows(), where,
            ": key_valid has ", key_valid.size(),
            " entries, expected 0 (no mask) or one per token (", x.rows(), ")");
    detail::require_all_finite(x, where, "x");
    has_forward_ = false;
    const Index tokens = x.rows();
    const Index heads = options_.num_heads;
    const Index hd = head_dim();
    batch_ = batch;
    dropout_active_ = ctx.training && options_.attention_dropout > 0.0;

    auto qkv = qkv_.rows(tokens, 3 * d);
    qkv.noalias() = x * w_qkv_.value;
    if (options_.bias) qkv.rowwise() += b_qkv_.value.row(0);
    // q and k side by side are 2·H heads of head_dim columns, rotated alike.
    if (rotary_) rotary_->rotate(qkv.leftCols(2 * d), batch_, 2 * heads);

    const Index pairs = prepare_pair_buffers();
    auto attn = attn_.rows(tokens, d);
    const S scale = static_cast<S>(1.0 / std::sqrt(static_cast<double>(hd)));
    const bool causal = options_.causal;
    const double rate = options_.attention_dropout;
    const Rng dropout_rng = ctx.rng.split(dropout_rng_tag);
    detail::for_each_row(pairs, pair_work(), [&](Index pair) {
      const Index b = pair / heads;
      const Index h = pair % heads;
      const Index begin = batch_.begin(b);
      const Index length = batch_.length(b);
      const auto q = qkv.block(begin, h * hd, length, hd);
      const auto k = qkv.block(begin, d + h * hd, length, hd);
      const auto v = qkv.block(begin, 2 * d + h * hd, length, hd);
      const std::uint8_t* valid = key_valid.empty() ? nullptr : key_valid.data() + begin;
      pair_finite_[static_cast<std::size_t>(pair)] = detail::masked_softmax_attention<S>(
          q, k, scale, causal, valid, square(probs_, pair, length));
      const S* mask = nullptr;
      if (dropout_active_) {
        detail::fill_attention_dropout_mask<S>(
            square(mask_, pair, length), rate,
            dropout_rng.split(static_cast<std::uint64_t>(b)).split(static_cast<std::uint64_t>(h)));
        mask = square(mask_, pair, length).data();
      }
      detail::attention_head_output<S>(square(probs_, pair, length), mask,
                                       square(scratch_, pair, length), v,
                                       attn.block(begin, h * hd, length, hd));
    });
    for (Index pair = 0; pair < pairs; ++pair) {
      MOERB_REQUIRE(pair_finite_[static_cast<std::size_t>(pair)] != 0, where,
              ": the attention logits of sequence ", pair / heads, ", head ", pair % heads,
              " overflowed (q·kᵀ is not finite); the inputs are too large");
    }

    y_.resize(tokens, d);
    y_.noalias() = attn * w_out_.value;
    if (options_.bias) y_.rowwise() += b_out_.value.row(0);
    has_forward_ = true;
    return y_;
  }

  /// Keys and values of one sequence's tokens so far, for incremental causal decoding: rows
  /// [0, length) of `keys` (after rotation) and `values`, each capacity × d_model; the capacity
  /// grows geometrically. A default-constructed cache is empty.
  struct KeyValueCache {
    Matrix<S> keys, values;
    Index length = 0;
  };

  /// Incremental forward of a causal layer (decoding with a key-value cache): x (n × d_model)
  /// holds the next n tokens of one sequence whose first cache.length tokens the cache holds.
  /// Appends their keys and values to the cache and returns y (n × d_model, a member valid until
  /// the next call): row i is what a whole-sequence forward gives token cache.length + i (to
  /// rounding), at the cost of n rows of attention instead of the whole prefix. Evaluation only
  /// (no dropout); it invalidates backward until the next forward.
  const Matrix<S>& forward_cached(const Matrix<S>& x, KeyValueCache& cache) {
    constexpr std::string_view where = "MultiHeadAttention::forward_cached";
    const Index d = options_.d_model;
    MOERB_REQUIRE(options_.causal, where,
                  ": needs a causal layer (a bidirectional layer's earlier outputs change with "
                  "every new token, so there is nothing to cache)");
    require_cols(x, d, where, "x");
    detail::require_all_finite(x, where, "x");
    const Index past = cache.length;
    MOERB_REQUIRE(past == 0 || (past > 0 && cache.keys.cols() == d && cache.values.cols() == d &&
                                cache.keys.rows() >= past && cache.values.rows() >= past),
                  where, ": the cache holds ", cache.length, " tokens in ", cache.keys.rows(),
                  " × ", cache.keys.cols(), " keys and ", cache.values.rows(), " × ",
                  cache.values.cols(), " values, which do not fit d_model = ", d);
    has_forward_ = false;
    const Index n = x.rows();
    const Index total = past + n;
    const Index heads = options_.num_heads;
    const Index hd = head_dim();

    Matrix<S>& qkv = cached_qkv_;
    qkv.resize(n, 3 * d);
    qkv.noalias() = x * w_qkv_.value;
    if (options_.bias) qkv.rowwise() += b_qkv_.value.row(0);
    if (rotary_) rotary_->rotate_at(qkv.leftCols(2 * d), past, 2 * heads);
    if (cache.keys.rows() < total || cache.keys.cols() != d) {
      const Index capacity = std::max<Index>({total, 2 * cache.keys.rows(), 16});
      cache.keys.conservativeResize(capacity, d);
      cache.values.conservativeResize(capacity, d);
    }
    cache.keys.middleRows(past, n) = qkv.middleCols(d, d);
    cache.values.middleRows(past, n) = qkv.rightCols(d);
    cache.length = total;

    Matrix<S>& attn = cached_attn_;
    attn.resize(n, d);
    Matrix<S>& scores = cached_scores_;
    const S scale = static_cast<S>(1.0 / std::sqrt(static_cast<double>(hd)));
    for (Index h = 0; h < heads; ++h) {
      const auto keys = cache.keys.block(0, h * hd, total, hd);
      const auto values = cache.values.block(0, h * hd, total, hd);
      scores.resize(n, total);
      scores.noalias() = (qkv.block(0, h * hd, n, hd) * keys.transpose()) * scale;
      for (Index i = 0; i < n; ++i) {
        // Query i is token past + i: it attends keys 0 … past + i.
        const Index visible = past + i + 1;
        auto row = scores.row(i);
        const S top = row.head(visible).maxCoeff();
        MOERB_REQUIRE(std::isfinite(top), where, ": the attention logits of head ", h,
                      " overflowed (q·kᵀ is not finite); the inputs are too large");
        row.head(visible) = (row.head(visible).array() - top).exp();
        row.head(visible) /= row.head(visible).sum();
        row.tail(total - visible).setZero();
      }
      attn.block(0, h * hd, n, hd).noalias() = scores * values;
    }
    cached_y_.resize(n, d);
    cached_y_.noalias() = attn * w_out_.value;
    if (options_.bias) cached_y_.rowwise() += b_out_.value.row(0);
    return cached_y_;
  }

  /// ∂L/∂x (a member valid until the next backward) for the x of the last forward and
  /// dy = ∂L/∂y (tokens × d_model); accumulates the gradients of the parameters that are not
  /// frozen.
  const Matrix<S>& backward(const Matrix<S>& x, const Matrix<S>& dy) {
    constexpr std::string_view where = "MultiHeadAttention::backward";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    const Index tokens = batch_.num_tokens();
    const Index d = options_.d_model;
    const Index heads = options_.num_heads;
    const Index hd = head_dim();
    require_shape(x, tokens, d, where, "x");
    require_shape(dy, tokens, d, where, "dy");
    detail::require_all_finite(dy, where, "dy");

    auto attn = attn_.view(tokens);
    if (!w_out_.frozen) w_out_.grad.noalias() += attn.transpose() * dy;
    if (options_.bias && !b_out_.frozen) b_out_.grad.row(0) += dy.colwise().sum();
    auto d_attn = d_attn_.rows(tokens, d);
    d_attn.noalias() = dy * w_out_.value.transpose();

    auto qkv = qkv_.view(tokens);
    auto d_qkv = d_qkv_.rows(tokens, 3 * d);
    const S scale = static_cast<S>(1.0 / std::sqrt(static_cast<double>(hd)));
    const Index pairs = batch_.num_sequences() * heads;
    detail::for_each_row(pairs, pair_work(), [&](Index pair) {
      const Index b = pair / heads;
      const Index h = pair % heads;
      const Index begin = batch_.begin(b);
      const Index length = batch_.length(b);
      const S* mask = dropout_active_ ? square(mask_, pair, length).data() : nullptr;
      detail::attention_head_backward<S>(
          qkv.block(begin, h * hd, length, hd), qkv.block(begin, d + h * hd, length, hd),
          qkv.block(begin, 2 * d + h * hd, length, hd), square(probs_, pair, length), mask,
          square(scratch_, pair, length), d_attn.block(begin, h * hd, length, hd), scale,
          d_qkv.block(begin, h * hd, length, hd), d_qkv.block(begin, d + h * hd, length, hd),
          d_qkv.block(begin, 2 * d + h * hd, length, hd));
    });
    if (rotary_) rotary_->rotate_backward(d_qkv.leftCols(2 * d), batch_, 2 * heads);

    if (!w_qkv_.frozen) w_qkv_.grad.noalias() += x.transpose() * d_qkv;
    if (options_.bias && !b_qkv_.frozen) b_qkv_.grad.row(0) += d_qkv.colwise().sum();
    dx_.resize(tokens, d);
    dx_.noalias() = d_qkv * w_qkv_.value.transpose();
    return dx_;
  }

  /// The L × L attention probabilities (before dropout) of `head` for `sequence` in the last
  /// forward: row i is query i's distribution over the keys of its sequence (all zero for a query
  /// with no attendable key). Valid until the next forward.
  [[nodiscard]] Eigen::Map<const Matrix<S>> attention_probabilities(Index sequence,
                                                                    Index head) const {
    constexpr std::string_view where = "MultiHeadAttention::attention_probabilities";
    MOERB_REQUIRE(has_forward_, where, ": called before forward");
    MOERB_REQUIRE(sequence >= 0 && sequence < batch_.num_sequences(), where, ": sequence = ", sequence,
            ", expected in [0, ", batch_.num_sequences(), ")");
    MOERB_REQUIRE(head >= 0 && head < options_.num_heads, where, ": head = ", head, ", expected in [0, ",
            options_.num_heads, ")");
    const Index pair = sequence * options_.num_heads + head;
    const Index length = batch_.length(sequence);
    return Eigen::Map<const Matrix<S>>(
        probs_.data() + pair_offsets_[static_cast<std::size_t>(pair)], length, length);
  }

  [[nodiscard]] const Matrix<S>& output() const { return y_; }
  [[nodiscard]] const Matrix<S>& input_grad() const { return dx_; }
  /// The rotary encoding (null without Options::rotary).
  [[nodiscard]] const RotaryEmbedding<S>* rotary() const { return rotary_ ? &*rotary_ : nullptr; }

 private:
  static Options validated(const Options& o) {
    constexpr std::string_view where = "MultiHeadAttention";
    require_positive(o.d_model, where, "Options::d_model");
    require_positive(o.num_heads, where, "Options::num_heads");
    MOERB_REQUIRE(o.d_model % o.num_heads == 0, where, ": Options::d_model = ", o.d_model,
            " is not a multiple of Options::num_heads = ", o.num_heads);
    MOERB_REQUIRE(!o.rotary || (o.d_model / o.num_heads) % 2 == 0, where, ": Options::rotary needs an ",
            "even head_dim, got head_dim = d_model / num_heads = ", o.d_model / o.num_heads);
    MOERB_REQUIRE(!o.rotary || (std::isfinite(o.rotary_base) && o.rotary_base > 0), where,
            ": Options::rotary_base = ", o.rotary_base, ", expected a finite value > 0");
    require_rate(o.attention_dropout, where, "Options::attention_dropout");
    return o;
  }

  /// Lays out the L × L blocks of every (sequence, head) pair of batch_ in the flat buffers
  /// (growing them if needed); returns the number of pairs.
  Index prepare_pair_buffers() {
    const Index heads = options_.num_heads;
    const Index pairs = batch_.num_sequences() * heads;
    pair_offsets_.resize(static_cast<std::size_t>(pairs));
    pair_finite_.assign(static_cast<std::size_t>(pairs), 1);
    Index total = 0;
    for (Index b = 0; b < batch_.num_sequences(); ++b) {
      const Index length = batch_.length(b);
      for (Index h = 0; h < heads; ++h) {
        pair_offsets_[static_cast<std::size_t>(b * heads + h)] = total;
        total += length * length;
      }
    }
    grow(probs_, total);
    grow(scratch_, total);
    if (dropout_active_) grow(mask_, total);
    total_square_ = total;
    return pairs;
  }

  static void grow(Vector<S>& buffer, Index size) {
    if (buffer.size() < size) buffer.resize(size + size / 2);
  }

  detail::SquareMap<S> square(Vector<S>& buffer, Index pair, Index length) {
    return detail::SquareMap<S>(buffer.data() + pair_offsets_[static_cast<std::size_t>(pair)],
                                length, length);
  }

  /// Mean scalar operations of one (sequence, head) pair, for the parallel-or-not decision.
  [[nodiscard]] Index pair_work() const {
    const Index pairs = batch_.num_sequences() * options_.num_heads;
    return pairs == 0 ? 0 : 4 * head_dim() * total_square_ / pairs;
  }

  Options options_;
  Parameter<S> w_qkv_, b_qkv_, w_out_, b_out_;
  std::optional<RotaryEmbedding<S>> rotary_;

  // State of the last forward, kept for backward.
  SequenceBatch batch_;
  detail::RowBuffer<S> qkv_;   // tokens × 3·d_model: [q | k | v] after rotation
  detail::RowBuffer<S> attn_;  // tokens × d_model: concatenated head outputs
  Vector<S> probs_;            // pair p's L × L probabilities at pair_offsets_[p]
  Vector<S> mask_;             // dropout masks, same layout (only while dropout is active)
  Vector<S> scratch_;          // per-pair L × L workspace, same layout
  std::vector<Index> pair_offsets_;
  std::vector<std::uint8_t> pair_finite_;
  Index total_square_ = 0;
  bool dropout_active_ = false;
  bool has_forward_ = false;

  detail::RowBuffer<S> d_attn_, d_qkv_;
  Matrix<S> y_, dx_;
  Matrix<S> cached_qkv_, cached_attn_, cached_scores_, cached_y_;  // forward_cached's
};

}  // namespace moerb
