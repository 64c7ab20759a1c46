#pragma once
// The feed-forward part of a transformer block as a template parameter.
//
// A model is written once over `FFN`, which is either a sparse layer (any MoELayer<Router,
// Expert>) or a dense one (DenseFFN<Expert>). FeedForwardSpec<FFN> holds what it takes to build
// the blocks; FeedForwardSlot<FFN> is what a block owns: the sparse layer in MoE blocks and a
// DenseFFN of the same expert type in the others (TransformerConfig::moe_every).
#include <concepts>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "moerb/core/context.hpp"
#include "moerb/core/parameter.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/routing/router.hpp"

namespace moerb {

template <class FFN>
inline constexpr bool is_moe_layer_v = false;
template <class R, class X>
inline constexpr bool is_moe_layer_v<MoELayer<R, X>> = true;

template <class FFN>
inline constexpr bool is_dense_ffn_v = false;
template <class X>
inline constexpr bool is_dense_ffn_v<DenseFFN<X>> = true;

/// A type usable as a model's feed-forward part.
template <class FFN>
concept FeedForwardLayer = is_moe_layer_v<FFN> || is_dense_ffn_v<FFN>;

template <class FFN>
struct FeedForwardSpec;

/// Sparse blocks: the router's and the layer's options; blocks that are not MoE blocks
/// (moe_every > 1) get a DenseFFN built from `dense`; left default (d_model == 0) it is the
/// experts' own options, i.e. one expert applied to every token, as Switch's dense layers.
template <class R, class X>
struct FeedForwardSpec<MoELayer<R, X>> {
  typename R::Options router{};
  typename MoELayer<R, X>::Options moe{};
  typename X::Options dense{};
};

/// Dense blocks: the options of the one block.
template <class X>
struct FeedForwardSpec<DenseFFN<X>> {
  typename X::Options dense{};
};

/// The feed-forward configuration as checkpoint metadata: "ffn" (moe | dense), the hidden widths
/// and, for MoE, the router's name (where it has one), number of experts, k and renormalisation
/// (where its options have them) and the shared experts — what a checkpoint's tensor shapes alone
/// would not catch (e.g. a model trained with k = 2 loaded into one built with k = 1).
template <class FFN>
std::map<std::string, std::string> feed_forward_metadata(const FeedForwardSpec<FFN>& spec) {
  std::map<std::string, std::string> m;
  if constexpr (is_moe_layer_v<FFN>) {
    using R = typename FFN::RouterType;
    const auto& r = spec.router;
    m["ffn"] = "moe";
    if constexpr (requires { R::name; }) m["ffn.router"] = std::string(R::name);
    m["ffn.num_experts"] = std::to_string(r.num_experts);
    if constexpr (requires { r.k; }) m["ffn.k"] = std::to_string(r.k);
    if constexpr (requires { r.renormalize; }) {
      m["ffn.renormalize"] = r.renormalize ? "true" : "false";
    }
    m["ffn.num_shared_experts"] = std::to_string(spec.moe.num_shared_experts);
    m["ffn.d_ff"] = std::to_string(spec.moe.expert.d_ff);
    m["ffn.dense_d_ff"] =
        std::to_string((spec.dense.d_model == 0 ? spec.moe.expert : spec.dense).d_ff);
  } else {
    m["ffn"] = "dense";
    m["ffn.d_ff"] = std::to_string(spec.dense.d_ff);
  }
  return m;
}

/// What one transformer block owns as its feed-forward part.
template <class FFN>
class FeedForwardSlot {
  static_assert(FeedForwardLayer<FFN>,
                "a model's feed-forward part must be a moerb::MoELayer<Router, Expert> or a "
                "moerb::DenseFFN<Expert>");

 public:
  using ExpertType = typename FFN::ExpertType;
  using Scalar = typename ExpertType::Scalar;
  using Dense = DenseFFN<ExpertType>;
  using Sparse = FFN;

  FeedForwardSlot(const FeedForwardSpec<FFN>& spec, bool sparse) : layer_(make(spec, sparse)) {}

  [[nodiscard]] bool is_sparse() const {
    if constexpr (is_moe_layer_v<FFN>) {
      return std::holds_alternative<FFN>(layer_);
    } else {
      return false;
    }
  }
  /// The MoE layer (nullptr in a dense block).
  FFN* sparse() {
    if constexpr (is_moe_layer_v<FFN>) {
      return std::get_if<FFN>(&layer_);
    } else {
      return nullptr;
    }
  }
  const FFN* sparse() const { return const_cast<FeedForwardSlot*>(this)->sparse(); }
  /// Whether an evaluation forward maps each token on its own: always for a dense layer, and for
  /// an MoE layer when MoELayer::routes_tokens_independently() says so.
  [[nodiscard]] bool routes_tokens_independently() const {
    if constexpr (is_moe_layer_v<FFN>) {
      if (const FFN* moe = sparse()) return moe->routes_tokens_independently();
    }
    return true;
  }

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), layer_);
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), layer_);
  }

  void initialize(Rng& rng) {
    visit([&](auto& l) { l.initialize(rng); });
  }
  template <class Visitor>
  void visit_parameters(Visitor&& visitor, std::string_view prefix) {
    visit([&](auto& l) { l.visit_parameters(visitor, prefix); });
  }
  template <class Visitor>
  void visit_buffers(Visitor&& visitor, std::string_view prefix) {
    visit([&](auto& l) { l.visit_buffers(visitor, prefix); });
  }
  const Matrix<Scalar>& forward(const Matrix<Scalar>& x, const ForwardContext& ctx) {
    return visit([&](auto& l) -> const Matrix<Scalar>& { return l.forward(x, ctx); });
  }
  const Matrix<Scalar>& backward(const Matrix<Scalar>& x, const Matrix<Scalar>& dy) {
    return visit([&](auto& l) -> const Matrix<Scalar>& { return l.backward(x, dy); });
  }
  [[nodiscard]] Scalar aux_loss() const {
    return visit([](const auto& l) { return l.aux_loss(); });
  }
  [[nodiscard]] double flops_per_token() const {
    return visit([](const auto& l) { return l.flops_per_token(); });
  }
  [[nodiscard]] Index input_dim() const {
    return visit([](const auto& l) { return l.input_dim(); });
  }
  [[nodiscard]] Index output_dim() const {
    return visit([](const auto& l) { return l.output_dim(); });
  }

 private:
  using Variant =
      std::conditional_t<is_moe_layer_v<FFN>, std::variant<FFN, Dense>, std::variant<FFN>>;

  static Variant make(const FeedForwardSpec<FFN>& spec, bool sparse) {
    if constexpr (is_moe_layer_v<FFN>) {
      if (sparse) return Variant(std::in_place_index<0>, spec.router, spec.moe);
      const typename ExpertType::Options& o =
          spec.dense.d_model == 0 ? spec.moe.expert : spec.dense;
      return Variant(std::in_place_index<1>, o);
    } else {
      (void)sparse;
      return Variant(std::in_place_index<0>, spec.dense);
    }
  }

  Variant layer_;
};

}  // namespace moerb
