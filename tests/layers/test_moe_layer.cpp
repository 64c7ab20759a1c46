// Tests for include/moerb/layers/moe_layer.hpp
//
// Eigen's runtime allocation guard is switched on for this file (EIGEN_RUNTIME_NO_MALLOC with an
// eigen_assert that throws) so that the steady-state test can check that forward and backward do
// not allocate; the guard is off everywhere else in the file.
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "moerb/experts/ffn_expert.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/moe_layer.hpp"
// GCC 12 with -fsanitize=address -O2 reports std::optional<double> capacity factors in the
// token-choice routers' option checks as maybe-uninitialized (a false positive: they are read only
// after has_value()); silenced for the router headers only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "moerb/routing/balanced_router.hpp"
#include "moerb/routing/bias_balanced_router.hpp"
#include "moerb/routing/expert_choice_router.hpp"
#include "moerb/routing/hash_router.hpp"
#include "moerb/routing/noisy_top_k_router.hpp"
#include "moerb/routing/random_router.hpp"
#include "moerb/routing/top_k_router.hpp"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// Counts operator-new calls while `g_count_news` is set (std::vector growth and the like; Eigen's
// own buffers are caught by the guard above).
namespace {

std::atomic<bool> g_count_news{false};
std::atomic<long> g_news{0};
}  // namespace
// GCC's -Wmismatched-new-delete cannot tell that these replace the global pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (g_count_news.load(std::memory_order_relaxed)) g_news.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_layers_moe_layer {

using moerb::test::message_has;
using moerb::Activation;
using moerb::ForwardContext;
using moerb::Index;
using moerb::MoELayer;
using moerb::Rng;
using moerb::Routing;
template <class S>
using Matrix = moerb::Matrix<S>;
using FFN = moerb::FFNExpert<double>;
using SwiGLU = moerb::SwiGLUExpert<double>;

namespace {

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

double gelu(double v) {
  return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
}
double silu(double v) {
  return v / (1.0 + std::exp(-v));
}

// Plain re-computations of one expert on a few rows (GELU FFN / SwiGLU), independent of the
// experts' own forward.
Matrix<double> reference_expert(const FFN& f, const Matrix<double>& x) {
  Matrix<double> pre = x * f.w_in().value;
  if (f.options().bias) pre.rowwise() += f.b_in().value.row(0);
  Matrix<double> y = pre.unaryExpr([](double v) { return gelu(v); }) * f.w_out().value;
  if (f.options().bias) y.rowwise() += f.b_out().value.row(0);
  return y;
}
Matrix<double> reference_expert(const SwiGLU& g, const Matrix<double>& x) {
  const Index h = g.hidden_dim();
  const Matrix<double> gu = x * g.w_gate_up().value;
  const Matrix<double> hidden =
      gu.leftCols(h).unaryExpr([](double v) { return silu(v); }).cwiseProduct(gu.rightCols(h));
  return hidden * g.w_out().value;
}

// The MoE output computed token by token from the layer's routing: y[t] = Σ shared_i(x_t) +
// Σ_{a: token a = t} weight_a · expert_{e(a)}(x_t).
template <class Layer>
Matrix<double> naive_moe(const Layer& moe, const Matrix<double>& x) {
  const Routing<double>& r = moe.routing();
  Matrix<double> y = Matrix<double>::Zero(x.rows(), moe.output_dim());
  for (Index t = 0; t < x.rows(); ++t) {
    const Matrix<double> xt = x.row(t);
    for (Index i = 0; i < moe.num_shared_experts(); ++i) {
      y.row(t) += reference_expert(moe.shared_expert(i), xt);
    }
    for (Index e = 0; e < moe.num_experts(); ++e) {
      for (Index a = r.begin(e); a < r.end(e); ++a) {
        if (r.token[static_cast<std::size_t>(a)] != t) continue;
        y.row(t) += r.weight[static_cast<std::size_t>(a)] * reference_expert(moe.expert(e), xt);
      }
    }
  }
  return y;
}

/// Test fixture router: returns a hand-built Routing and records the d_weight of backward. It
/// has no routing() accessor, so the layer's fallback path is exercised too.
template <class S>
class FixedRouter {
 public:
  using Scalar = S;
  FixedRouter(Index input_dim, Routing<S> routing) : input_dim_(input_dim), routing_(routing) {}
  [[nodiscard]] Index input_dim() const { return input_dim_; }
  [[nodiscard]] Index num_experts() const { return routing_.num_experts; }
  const Routing<S>& forward(const Matrix<S>&, const ForwardContext&) { return routing_; }
  void backward(const Matrix<S>&, std::span<const S> d_weight, Matrix<S>&) {
    last_d_weight.assign(d_weight.begin(), d_weight.end());
  }
  template <class V>
  void visit_parameters(V&&, std::string_view) {}
  Routing<S>& mutable_routing() { return routing_; }
  std::vector<S> last_d_weight;

 private:
  Index input_dim_;
  Routing<S> routing_;
};
static_assert(moerb::Router<FixedRouter<double>>);

// 5 tokens, 3 experts: expert 0 takes tokens {0, 2, 3}, expert 1 none, expert 2 tokens {0, 3, 4};
// token 1 reaches no expert.
Routing<double> hand_built_routing() {
  Routing<double> r;
  r.num_tokens = 5;
  r.num_experts = 3;
  r.k = 2;
  r.offsets = {0, 3, 3, 6};
  r.token = {0, 2, 3, 0, 3, 4};
  r.weight = {0.5, 1.0, 0.25, 0.5, 0.75, 2.0};
  r.slot = {0, 0, 1, 1, 0, 0};
  r.load = {3, 0, 3};
  r.unrouted_tokens = 1;
  return r;
}

FFN::Options ffn_options(Index d, Index h, double dropout = 0.0) {
  return {.d_model = d,
          .d_ff = h,
          .activation = Activation::gelu_erf,
          .bias = true,
          .expert_dropout = dropout};
}

// Finite-difference check of L = Σ y ⊙ G + aux_loss() for an MoE layer.
template <class Layer>
void check_moe_gradients(Layer& moe, Index T, const ForwardContext& ctx, std::uint64_t seed) {
  Rng init(seed);
  moe.initialize(init);
  Rng rng(seed + 1);
  Matrix<double> x = random_matrix(T, moe.input_dim(), rng);
  const Matrix<double> G = random_matrix(T, moe.output_dim(), rng);
  auto loss = [&] {
    const Matrix<double>& y = moe.forward(x, ctx);
    return (y.array() * G.array()).sum() + moe.aux_loss();
  };
  auto backward = [&](Matrix<double>& dx) {
    moe.forward(x, ctx);
    dx = moe.backward(x, G);
  };
  const auto results = moerb::test::check_gradients(moe, x, loss, backward);
  Index tensors = 1;  // the input
  moe.visit_parameters([&](std::string_view, auto& p) { tensors += p.frozen ? 0 : 1; }, "");
  BOOST_TEST(static_cast<Index>(results.size()) == tensors);
  for (const auto& r : results) BOOST_TEST_MESSAGE("  " << r.name << " " << r.rel_error);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(moe_layer)

BOOST_AUTO_TEST_CASE(dispatch_and_combine_match_the_hand_built_routing) {
  const Index d = 4;
  MoELayer<FixedRouter<double>, FFN> moe(FixedRouter<double>(d, hand_built_routing()),
                                         {.expert = ffn_options(d, 6)});
  Rng init(1);
  moe.initialize(init);
  Rng rng(2);
  const Matrix<double> x = random_matrix(5, d, rng);
  const Matrix<double>& y = moe.forward(x, {});

  auto e = [&](Index i, Index t) { return reference_expert(moe.expert(i), x.row(t)); };
  Matrix<double> expected(5, d);
  expected.row(0) = 0.5 * e(0, 0) + 0.5 * e(2, 0);
  expected.row(1).setZero();
  expected.row(2) = 1.0 * e(0, 2);
  expected.row(3) = 0.25 * e(0, 3) + 0.75 * e(2, 3);
  expected.row(4) = 2.0 * e(2, 4);
  BOOST_TEST((y - expected).cwiseAbs().maxCoeff() < 1e-12);
  BOOST_TEST((y.row(1).array() == 0.0).all(), "an unrouted token gets exactly zero");

  // Backward: d_weight[a] = ⟨dy[t_a], out[a]⟩ in Routing order.
  const Matrix<double> dy = random_matrix(5, d, rng);
  moe.backward(x, dy);
  const std::vector<std::pair<Index, Index>> expert_token = {{0, 0}, {0, 2}, {0, 3},
                                                             {2, 0}, {2, 3}, {2, 4}};
  const auto& dw = moe.router().last_d_weight;
  BOOST_TEST_REQUIRE(dw.size() == 6u);
  for (std::size_t a = 0; a < 6; ++a) {
    const auto [ex, t] = expert_token[a];
    BOOST_TEST(std::abs(dw[a] - dy.row(t).dot(e(ex, t).row(0))) < 1e-12);
  }
  // Expert 1 had no tokens: its parameters get no gradient.
  BOOST_TEST(moe.expert(1).w_in().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(moe.expert(0).w_in().grad.cwiseAbs().maxCoeff() > 0.0);
  // The unrouted token gets no gradient from the experts (and this router adds none).
  BOOST_TEST((moe.input_grad().row(1).array() == 0.0).all());
}

BOOST_AUTO_TEST_CASE(gradients_through_a_fixed_routing) {
  MoELayer<FixedRouter<double>, FFN> moe(FixedRouter<double>(4, hand_built_routing()),
                                         {.expert = ffn_options(4, 6, 0.3)});
  check_moe_gradients(moe, 5, ForwardContext{.training = true, .rng = Rng(5)}, 3);
}

BOOST_AUTO_TEST_CASE(malformed_routing_from_a_router_is_rejected) {
  Routing<double> r = hand_built_routing();
  r.token[4] = 7;
  MoELayer<FixedRouter<double>, FFN> moe(FixedRouter<double>(4, r), {.expert = ffn_options(4, 6)});
  const Matrix<double> x = Matrix<double>::Ones(5, 4);
  BOOST_CHECK_EXCEPTION(moe.forward(x, {}), moerb::error,
                        message_has({"MoELayer::forward", "routing.token[4] = 7", "[0, 5)"}));
  const Matrix<double> x6 = Matrix<double>::Ones(6, 4);
  BOOST_CHECK_EXCEPTION(moe.forward(x6, {}), moerb::error,
                        message_has({"routing for 5 tokens", "expected 6"}));
  moe.router().mutable_routing().token[4] = 3;
  moe.router().mutable_routing().offsets = {0, 3, 3};
  BOOST_CHECK_EXCEPTION(moe.forward(x, {}), moerb::error, message_has({"routing.offsets"}));
}

BOOST_AUTO_TEST_CASE(top_k_with_capacity_drops_matches_naive_and_zeroes_dropped_tokens) {
  const Index T = 24, d = 6, E = 4;
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = d,
                                  .num_experts = E,
                                  .k = 2,
                                  .capacity_factor = 0.5,
                                  .eval_capacity_factor = 0.5},
                       {.expert = ffn_options(d, 8)});
  Rng init(7);
  moe.initialize(init);
  Rng rng(8);
  const Matrix<double> x = random_matrix(T, d, rng);
  const Matrix<double>& y = moe.forward(x, {});
  const Routing<double>& r = moe.routing();
  BOOST_TEST_REQUIRE(r.dropped > 0);
  BOOST_TEST_REQUIRE(r.unrouted_tokens > 0);
  BOOST_TEST((y - naive_moe(moe, x)).cwiseAbs().maxCoeff() < 1e-12);
  Index zero_rows = 0;
  for (Index t = 0; t < T; ++t) {
    const bool kept = (r.assignment.row(t).array() >= 0).any();
    if (!kept) {
      BOOST_TEST((y.row(t).array() == 0.0).all(), "dropped token " << t << " must get zero");
      ++zero_rows;
    }
  }
  BOOST_TEST(zero_rows == r.unrouted_tokens);
}

BOOST_AUTO_TEST_CASE(expert_choice_matches_naive_and_zeroes_untaken_tokens) {
  const Index T = 16, d = 6, E = 4;
  using R = moerb::ExpertChoiceRouter<double>;
  MoELayer<R, SwiGLU> moe(R::Options{.input_dim = d, .num_experts = E, .capacity_factor = 1.0},
                          {.expert = {.d_model = d, .d_ff = 8}});
  Rng init(9);
  moe.initialize(init);
  Rng rng(10);
  const Matrix<double> x = random_matrix(T, d, rng, -2, 2);
  const Matrix<double>& y = moe.forward(x, {});
  const Routing<double>& r = moe.routing();
  BOOST_TEST(r.num_assignments() == T);  // capacity T·1/E per expert
  BOOST_TEST((y - naive_moe(moe, x)).cwiseAbs().maxCoeff() < 1e-12);
  const auto& per_token = moe.router().experts_per_token();
  Index untaken = 0;
  for (Index t = 0; t < T; ++t) {
    if (per_token[static_cast<std::size_t>(t)] == 0) {
      ++untaken;
      BOOST_TEST((y.row(t).array() == 0.0).all());
    }
  }
  BOOST_TEST(untaken == r.unrouted_tokens);
  BOOST_TEST(moe.experts_per_token() == 1.0);  // the capacity factor
}

BOOST_AUTO_TEST_CASE(shared_experts_are_added_with_weight_one) {
  const Index T = 12, d = 6, E = 4;
  using R = moerb::TopKRouter<double>;
  const R::Options ro{.input_dim = d, .num_experts = E, .k = 2, .capacity_factor = 0.5};
  MoELayer<R, FFN> moe(
      ro,
      {.expert = ffn_options(d, 8), .num_shared_experts = 2, .shared_expert = ffn_options(d, 5)});
  BOOST_TEST(moe.num_shared_experts() == 2);
  BOOST_TEST(moe.shared_expert(1).hidden_dim() == 5);
  Rng init(11);
  moe.initialize(init);
  Rng rng(12);
  const Matrix<double> x = random_matrix(T, d, rng);
  const Matrix<double> y = moe.forward(x, {});
  BOOST_TEST((y - naive_moe(moe, x)).cwiseAbs().maxCoeff() < 1e-12);
  // A token dropped by capacity still gets the shared experts' output.
  const Routing<double>& r = moe.routing();
  const Matrix<double> shared =
      reference_expert(moe.shared_expert(0), x) + reference_expert(moe.shared_expert(1), x);
  for (Index t = 0; t < T; ++t) {
    if ((r.assignment.row(t).array() < 0).all()) {
      BOOST_TEST((y.row(t) - shared.row(t)).cwiseAbs().maxCoeff() < 1e-12);
    }
  }
  // Shared experts draw their own initial values (independent streams).
  BOOST_TEST(
      !(moe.shared_expert(0).w_out().value == moe.shared_expert(1).w_out().value.leftCols(6)));
}

BOOST_AUTO_TEST_CASE(frozen_router_gets_no_gradient_and_input_gradient_is_unchanged) {
  const Index T = 12, d = 6, E = 4;
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = d,
                                  .num_experts = E,
                                  .k = 2,
                                  .load_balancing_weight = 0.1,
                                  .z_loss_weight = 0.01},
                       {.expert = ffn_options(d, 8)});
  Rng init(13);
  moe.initialize(init);
  Rng rng(14);
  const Matrix<double> x = random_matrix(T, d, rng);
  const Matrix<double> dy = random_matrix(T, d, rng);
  moe.forward(x, {});
  const Matrix<double> dx_trainable = moe.backward(x, dy);
  BOOST_TEST(moe.router().weight().grad.cwiseAbs().maxCoeff() > 0.0);
  const Matrix<double> expert_grad = moe.expert(0).w_in().grad;

  moerb::zero_grad(moe);
  BOOST_TEST(moerb::set_frozen(moe, "router") == 1);
  moe.forward(x, {});
  const Matrix<double> dx_frozen = moe.backward(x, dy);
  BOOST_TEST(moe.router().weight().grad.cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((dx_frozen == dx_trainable));
  BOOST_TEST((moe.expert(0).w_in().grad == expert_grad));
}

BOOST_AUTO_TEST_CASE(parameter_names_and_counts) {
  const Index d = 6, E = 4, h = 8;
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = d, .num_experts = E, .k = 2},
                       {.expert = ffn_options(d, h), .num_shared_experts = 1});
  std::vector<std::string> names;
  moe.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { names.emplace_back(n); },
      "blocks.0.moe");
  std::vector<std::string> expected = {"blocks.0.moe.router.weight"};
  for (int e = 0; e < E; ++e) {
    for (const char* p : {"w_in", "b_in", "w_out", "b_out"}) {
      expected.push_back("blocks.0.moe.experts." + std::to_string(e) + "." + p);
    }
  }
  for (const char* p : {"w_in", "b_in", "w_out", "b_out"}) {
    expected.push_back(std::string("blocks.0.moe.shared_experts.0.") + p);
  }
  BOOST_TEST(names == expected, boost::test_tools::per_element());

  const Index router = d * E;
  const Index expert = 2 * d * h + h + d;
  BOOST_TEST(moe.router_parameter_count() == router);
  BOOST_TEST(moe.expert_parameter_count() == expert);
  BOOST_TEST(moe.shared_expert_parameter_count() == expert);
  BOOST_TEST(moe.total_parameter_count() == router + (E + 1) * expert);
  BOOST_TEST(moe.total_parameter_count() == moerb::parameter_count(moe));
  BOOST_TEST(moe.experts_per_token() == 2.0);
  BOOST_TEST(moe.active_parameter_count() == static_cast<double>(router + 3 * expert));
  BOOST_TEST(moe.active_parameter_count(1.0) == static_cast<double>(router + 2 * expert));
  BOOST_TEST(moe.flops_per_token() == 2.0 * d * E + 3 * 4.0 * d * h);
  BOOST_TEST(moe.num_experts() == E);
  BOOST_TEST(moe.input_dim() == d);
  BOOST_TEST(moe.output_dim() == d);
}

BOOST_AUTO_TEST_CASE(buffers_are_visited_for_the_bias_router) {
  using R = moerb::BiasBalancedRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6, .num_experts = 4, .k = 2},
                       {.expert = ffn_options(6, 8)});
  std::vector<std::string> names;
  moe.visit_buffers(
      [&](std::string_view n, Matrix<double>& b) {
        names.emplace_back(n);
        BOOST_TEST(b.cols() == 4);
      },
      "moe");
  BOOST_TEST(names == std::vector<std::string>{"moe.router.bias"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(initialize_gives_every_expert_its_own_values_reproducibly) {
  using R = moerb::TopKRouter<double>;
  const R::Options ro{.input_dim = 6, .num_experts = 4};
  MoELayer<R, FFN> a(ro, {.expert = ffn_options(6, 8)}), b(ro, {.expert = ffn_options(6, 8)});
  Rng ra(3), rb(3);
  a.initialize(ra);
  b.initialize(rb);
  BOOST_TEST(!(a.expert(0).w_in().value == a.expert(1).w_in().value));
  BOOST_TEST((a.expert(3).w_out().value == b.expert(3).w_out().value));
  BOOST_TEST((a.router().weight().value == b.router().weight().value));
  BOOST_TEST(a.router().weight().value.cwiseAbs().maxCoeff() > 0.0);
  // One draw from the caller's rng: a second layer initialised from it differs.
  b.initialize(rb);
  BOOST_TEST(!(a.expert(0).w_in().value == b.expert(0).w_in().value));
}

BOOST_AUTO_TEST_CASE(expert_dropout_uses_a_stream_per_expert) {
  const Index T = 64, d = 6;
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = d, .num_experts = 4, .k = 2},
                       {.expert = ffn_options(d, 16, 0.5)});
  Rng init(1);
  moe.initialize(init);
  Rng rng(2);
  const Matrix<double> x = random_matrix(T, d, rng);
  const Matrix<double> eval = moe.forward(x, {});
  BOOST_TEST((eval - naive_moe(moe, x)).cwiseAbs().maxCoeff() < 1e-12);  // no dropout in eval
  const ForwardContext train{.training = true, .rng = Rng(42)};
  const Matrix<double> t1 = moe.forward(x, train);
  const Matrix<double> t2 = moe.forward(x, train);
  const Matrix<double> t3 = moe.forward(x, train.with_rng(Rng(43)));
  BOOST_TEST((t1 == t2));
  BOOST_TEST(!(t1 == eval));
  BOOST_TEST(!(t1 == t3));
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  // Large enough for the row loops to run in parallel.
  const Index T = 512, d = 32, E = 8;
  using R = moerb::TopKRouter<float>;
  MoELayer<R, moerb::SwiGLUExpert<float>> moe(
      R::Options{.input_dim = d, .num_experts = E, .k = 2, .capacity_factor = 1.0},
      {.expert = {.d_model = d, .d_ff = 64, .expert_dropout = 0.1}, .num_shared_experts = 1});
  Rng init(1);
  moe.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(T, d, rng).cast<float>();
  const Matrix<float> dy = random_matrix(T, d, rng).cast<float>();
  const ForwardContext ctx{.training = true, .rng = Rng(3)};
  const int threads = Eigen::nbThreads();
  const Matrix<float> y1 = moe.forward(x, ctx);
  const Matrix<float> dx1 = moe.backward(x, dy);
  const Matrix<float> y2 = moe.forward(x, ctx);
  const Matrix<float> dx2 = moe.backward(x, dy);
  BOOST_TEST((y1 == y2));
  BOOST_TEST((dx1 == dx2));
  Eigen::setNbThreads(1);
  const Matrix<float> y3 = moe.forward(x, ctx);
  const Matrix<float> dx3 = moe.backward(x, dy);
  Eigen::setNbThreads(threads);
  BOOST_TEST_MESSAGE("threads " << threads << ", max |Δy| 1 vs default threads "
                                << (y3 - y1).cwiseAbs().maxCoeff());
  BOOST_TEST((y3 - y1).cwiseAbs().maxCoeff() <= 1e-5f * (1.0f + y1.cwiseAbs().maxCoeff()));
  BOOST_TEST((dx3 - dx1).cwiseAbs().maxCoeff() <= 1e-5f * (1.0f + dx1.cwiseAbs().maxCoeff()));
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  const Index T = 48, d = 8, E = 4;
  using R = moerb::TopKRouter<float>;
  MoELayer<R, moerb::SwiGLUExpert<float>> moe(
      R::Options{.input_dim = d, .num_experts = E, .k = 2, .capacity_factor = 1.0},
      {.expert = {.d_model = d, .d_ff = 16, .expert_dropout = 0.1}, .num_shared_experts = 2});
  Rng init(1);
  moe.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(T, d, rng).cast<float>();
  const Matrix<float> dy = random_matrix(T, d, rng).cast<float>();
  const ForwardContext ctx{.training = true, .rng = Rng(3)};
  moe.forward(x, ctx);  // grows the workspaces
  moe.backward(x, dy);
  const Matrix<float> y_first = moe.output();
  g_news = 0;
  g_count_news = true;
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    moe.forward(x, ctx);
    moe.backward(x, dy);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  g_count_news = false;
  BOOST_TEST(!threw, "Eigen allocated in the steady state");
  BOOST_TEST(g_news.load() == 0, "operator new called " << g_news.load() << " times");
  BOOST_TEST((moe.output() == y_first));
}

BOOST_AUTO_TEST_CASE(bad_inputs_and_options_throw) {
  using R = moerb::TopKRouter<double>;
  const R::Options ro{.input_dim = 6, .num_experts = 4, .k = 2};
  using moerb::error;
  BOOST_CHECK_EXCEPTION(
      (MoELayer<R, FFN>(ro, {.expert = ffn_options(5, 8)})), error,
      message_has({"MoELayer", "expert input_dim = 5", "router's input_dim = 6"}));
  BOOST_CHECK_EXCEPTION(
      (MoELayer<R, FFN>(ro, {.expert = ffn_options(6, 8), .num_shared_experts = -1})), error,
      message_has({"num_shared_experts = -1", "expected >= 0"}));
  BOOST_CHECK_EXCEPTION((MoELayer<R, FFN>(ro, {.expert = ffn_options(6, 8),
                                               .num_shared_experts = 1,
                                               .shared_expert = ffn_options(7, 8)})),
                        error, message_has({"shared expert input_dim = 7", "expected 6"}));
  BOOST_CHECK_EXCEPTION((MoELayer<R, FFN>(ro, {.expert = ffn_options(6, 0)})), error,
                        message_has({"FFNExpert", "d_ff = 0"}));

  MoELayer<R, FFN> moe(ro, {.expert = ffn_options(6, 8)});
  Rng init(1);
  moe.initialize(init);
  Matrix<double> x = Matrix<double>::Ones(5, 6);
  BOOST_CHECK_EXCEPTION((void)moe.routing(), error, message_has({"routing", "no forward"}));
  BOOST_CHECK_EXCEPTION(moe.backward(x, x), error,
                        message_has({"MoELayer::backward", "before forward"}));
  const Matrix<double> wrong = Matrix<double>::Ones(5, 7);
  BOOST_CHECK_EXCEPTION(moe.forward(wrong, {}), error,
                        message_has({"MoELayer::forward", "x has 7 columns", "expected 6"}));
  x(3, 4) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(moe.forward(x, {}), error,
                        message_has({"MoELayer::forward", "x(3, 4) is nan", "finite"}));
  x(3, 4) = 1.0;
  moe.forward(x, {});
  const Matrix<double> dy_short = Matrix<double>::Ones(4, 6);
  BOOST_CHECK_EXCEPTION(moe.backward(x, dy_short), error,
                        message_has({"MoELayer::backward", "dy has shape 4×6", "expected 5×6"}));
  Matrix<double> dy = Matrix<double>::Ones(5, 6);
  dy(0, 0) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(moe.backward(x, dy), error, message_has({"dy(0, 0) is inf"}));
  BOOST_CHECK_EXCEPTION(moe.expert(4), error,
                        message_has({"MoELayer::expert", "index 4", "[0, 4)"}));
  BOOST_CHECK_EXCEPTION(moe.shared_expert(0), error,
                        message_has({"MoELayer::shared_expert", "index 0", "[0, 0)"}));

  // A layer moved after forward cannot backward through a router without routing().
  MoELayer<FixedRouter<double>, FFN> fixed(FixedRouter<double>(4, hand_built_routing()),
                                           {.expert = ffn_options(4, 6)});
  const Matrix<double> x5 = Matrix<double>::Ones(5, 4);
  fixed.forward(x5, {});
  MoELayer<FixedRouter<double>, FFN> moved = std::move(fixed);
  BOOST_CHECK_EXCEPTION(moved.backward(x5, x5), error, message_has({"routing was lost"}));
}

// ---- finite-difference gradient checks with every router ----------------------------------

BOOST_AUTO_TEST_CASE(gradcheck_top_k_renormalized_with_aux_losses) {
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6,
                                  .num_experts = 4,
                                  .k = 2,
                                  .renormalize = true,
                                  .jitter = 0.1,
                                  .load_balancing_weight = 0.1,
                                  .z_loss_weight = 0.05},
                       {.expert = ffn_options(6, 8, 0.2)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(1)}, 100);
}

BOOST_AUTO_TEST_CASE(gradcheck_top_k_without_renormalization) {
  using R = moerb::TopKRouter<double>;
  MoELayer<R, SwiGLU> moe(R::Options{.input_dim = 6,
                                     .num_experts = 4,
                                     .k = 2,
                                     .renormalize = false,
                                     .load_balancing_weight = 0.1,
                                     .z_loss_weight = 0.05},
                          {.expert = {.d_model = 6, .d_ff = 8}});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(2)}, 101);
}

BOOST_AUTO_TEST_CASE(gradcheck_mixtral_top_k_then_softmax) {
  using R = moerb::MixtralRouter<double>;
  MoELayer<R, SwiGLU> moe(R::Options{.input_dim = 6,
                                     .num_experts = 4,
                                     .k = 2,
                                     .load_balancing_weight = 0.1,
                                     .z_loss_weight = 0.05},
                          {.expert = {.d_model = 6, .d_ff = 8, .expert_dropout = 0.2}});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(3)}, 102);
}

BOOST_AUTO_TEST_CASE(gradcheck_switch_with_capacity_drops) {
  using R = moerb::SwitchRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6,
                                  .num_experts = 4,
                                  .capacity_factor = 0.5,
                                  .load_balancing_weight = 0.1,
                                  .z_loss_weight = 0.05},
                       {.expert = ffn_options(6, 8, 0.2)});
  const ForwardContext ctx{.training = true, .rng = Rng(4)};
  check_moe_gradients(moe, 12, ctx, 103);
  BOOST_TEST(moe.routing().dropped > 0);
}

BOOST_AUTO_TEST_CASE(gradcheck_noisy_top_k) {
  using R = moerb::NoisyTopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6,
                                  .num_experts = 4,
                                  .k = 2,
                                  .noise_epsilon = 0.01,
                                  .load_balancing_weight = 0.1,
                                  .z_loss_weight = 0.05},
                       {.expert = ffn_options(6, 8)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(5)}, 104);
  BOOST_TEST(moe.router().noise().size() == 12 * 4);
}

BOOST_AUTO_TEST_CASE(gradcheck_expert_choice) {
  using R = moerb::ExpertChoiceRouter<double>;
  MoELayer<R, FFN> moe(
      R::Options{.input_dim = 6, .num_experts = 4, .capacity_factor = 1.5, .z_loss_weight = 0.05},
      {.expert = ffn_options(6, 8, 0.2)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(6)}, 105);
}

BOOST_AUTO_TEST_CASE(gradcheck_hash) {
  using R = moerb::HashRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6, .num_experts = 4, .vocab_size = 50},
                       {.expert = ffn_options(6, 8, 0.2)});
  std::vector<std::int32_t> ids = {3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3};
  ForwardContext ctx{.training = true, .rng = Rng(7)};
  ctx.token_ids = ids;
  check_moe_gradients(moe, 12, ctx, 106);
}

BOOST_AUTO_TEST_CASE(gradcheck_base_balanced) {
  using R = moerb::BalancedRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6, .num_experts = 4},
                       {.expert = ffn_options(6, 8, 0.2)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(8)}, 107);
  for (const Index load : moe.routing().load) BOOST_TEST(load == 3);
}

BOOST_AUTO_TEST_CASE(gradcheck_deepseek_v3_bias_router) {
  using R = moerb::BiasBalancedRouter<double>;
  MoELayer<R, FFN> moe(
      R::Options{.input_dim = 6, .num_experts = 4, .k = 2, .routed_scaling_factor = 2.5},
      {.expert = ffn_options(6, 8, 0.2)});
  Matrix<double> bias(1, 4);
  bias << 0.05, -0.1, 0.0, 0.2;
  moe.router().set_bias(bias);
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(9)}, 108);
}

BOOST_AUTO_TEST_CASE(gradcheck_random_router) {
  using R = moerb::RandomRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6, .num_experts = 4, .k = 2},
                       {.expert = ffn_options(6, 8, 0.2)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(10)}, 109);
}

BOOST_AUTO_TEST_CASE(gradcheck_shared_experts) {
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 6,
                                  .num_experts = 4,
                                  .k = 2,
                                  .capacity_factor = 0.75,
                                  .load_balancing_weight = 0.1,
                                  .z_loss_weight = 0.05},
                       {.expert = ffn_options(6, 8, 0.2),
                        .num_shared_experts = 2,
                        .shared_expert = ffn_options(6, 5, 0.1)});
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(11)}, 110);
}

BOOST_AUTO_TEST_CASE(gradcheck_with_frozen_router) {
  using R = moerb::TopKRouter<double>;
  MoELayer<R, SwiGLU> moe(
      R::Options{.input_dim = 6, .num_experts = 4, .k = 2, .load_balancing_weight = 0.1},
      {.expert = {.d_model = 6, .d_ff = 8}, .num_shared_experts = 1});
  moerb::set_frozen(moe, "router");
  check_moe_gradients(moe, 12, ForwardContext{.training = true, .rng = Rng(12)}, 111);
}

// ---- an extra gradient with respect to the router logits (the router attack's path) ----------

BOOST_AUTO_TEST_CASE(router_logits_gradient_joins_the_next_backward) {
  // L = Σ y ⊙ G + aux_loss() + Σ routing().logits ⊙ C: the layer's own loss plus one defined on the
  // router logits, whose gradient C enters through add_router_logits_gradient.
  using R = moerb::TopKRouter<double>;
  MoELayer<R, SwiGLU> moe(R::Options{.input_dim = 6,
                                     .num_experts = 4,
                                     .k = 2,
                                     .temperature = 0.7,
                                     .jitter = 0.1,
                                     .load_balancing_weight = 0.1,
                                     .z_loss_weight = 0.05},
                          {.expert = {.d_model = 6, .d_ff = 8}});
  const ForwardContext ctx{.training = true, .rng = Rng(13)};
  Rng init(112);
  moe.initialize(init);
  Rng rng(113);
  Matrix<double> x = random_matrix(10, 6, rng);
  const Matrix<double> G = random_matrix(10, 6, rng);
  const Matrix<double> C = random_matrix(10, 4, rng);
  auto loss = [&] {
    const Matrix<double>& y = moe.forward(x, ctx);
    return (y.array() * G.array()).sum() + moe.aux_loss() +
           (moe.routing().logits.array() * C.array()).sum();
  };
  auto backward = [&](Matrix<double>& dx) {
    moe.forward(x, ctx);
    moe.add_router_logits_gradient(0.25 * C);  // two calls add up
    moe.add_router_logits_gradient(0.75 * C);
    BOOST_TEST(moe.has_router_logits_gradient());
    dx = moe.backward(x, G);
    BOOST_TEST(!moe.has_router_logits_gradient());  // consumed
  };
  moerb::test::check_gradients(moe, x, loss, backward);

  // Consumed: a second backward of the same forward is the layer's own gradient again.
  moe.forward(x, ctx);
  const Matrix<double> own = moe.backward(x, G);
  moe.add_router_logits_gradient(C);
  const Matrix<double> with_c = moe.backward(x, G);
  BOOST_TEST((with_c - own).norm() > 1e-3);
  BOOST_TEST((moe.backward(x, G) - own).norm() == 0.0);
  // A pending gradient does not survive a new forward.
  moe.add_router_logits_gradient(C);
  moe.forward(x, ctx);
  BOOST_TEST(!moe.has_router_logits_gradient());
  BOOST_TEST((moe.backward(x, G) - own).norm() == 0.0);
}

BOOST_AUTO_TEST_CASE(router_logits_gradient_rejects_bad_input) {
  using moerb::error;
  using R = moerb::TopKRouter<double>;
  MoELayer<R, FFN> moe(R::Options{.input_dim = 4, .num_experts = 3, .k = 1},
                       {.expert = ffn_options(4, 5)});
  Rng init(114);
  moe.initialize(init);
  const Matrix<double> C = Matrix<double>::Ones(5, 3);
  BOOST_CHECK_EXCEPTION(moe.add_router_logits_gradient(C), error,
                        message_has({"MoELayer::add_router_logits_gradient", "before forward"}));
  const Matrix<double> x = Matrix<double>::Ones(5, 4);
  moe.forward(x, {});
  BOOST_CHECK_EXCEPTION(moe.add_router_logits_gradient(Matrix<double>::Ones(5, 4)), error,
                        message_has({"d_logits", "5×4", "expected 5×3"}));
  Matrix<double> bad = C;
  bad(2, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(moe.add_router_logits_gradient(bad), error, message_has({"d_logits"}));
  BOOST_TEST(!moe.has_router_logits_gradient());
  moe.set_random_inference_routing(true);
  moe.forward(x, {});
  BOOST_CHECK_EXCEPTION(moe.add_router_logits_gradient(C), error, message_has({"random"}));
}

// detail::for_each_expert (layers/detail/dispatch.hpp): every expert exactly once, on several
// threads the most loaded first (ties by index), an exception from one expert rethrown after the
// loop, and the order scratch buffer reused.
BOOST_AUTO_TEST_CASE(for_each_expert_runs_every_expert_once_most_loaded_first) {
  const std::vector<Index> rows = {3, 9, 0, 9, 5, 1};
  const auto E = static_cast<Index>(rows.size());
  const auto load = [&](Index e) { return rows[static_cast<std::size_t>(e)]; };
  const int threads = Eigen::nbThreads();
  for (int t : {1, 2}) {
    Eigen::setNbThreads(t);
    std::vector<Index> order;
    std::vector<std::atomic<int>> visits(rows.size());
    moerb::detail::for_each_expert(
        E, load, order, [&](Index e) { visits[static_cast<std::size_t>(e)].fetch_add(1); });
    BOOST_TEST_CONTEXT("threads " << t) {
      for (const auto& v : visits) BOOST_TEST(v.load() == 1);
#ifdef _OPENMP
      if (t > 1) {
        const std::vector<Index> expected = {1, 3, 4, 0, 5, 2};
        BOOST_TEST(order == expected, boost::test_tools::per_element());
      }
#endif
      BOOST_CHECK_THROW(moerb::detail::for_each_expert(E, load, order,
                                                       [&](Index e) {
                                                         if (e == 4) throw std::runtime_error("e4");
                                                       }),
                        std::runtime_error);
    }
  }
  Eigen::setNbThreads(threads);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_layers_moe_layer
