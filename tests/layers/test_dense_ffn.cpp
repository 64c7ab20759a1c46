// Tests for include/moerb/layers/dense_ffn.hpp
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "moerb/experts/ffn_expert.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/routing/expert_choice_router.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_layers_dense_ffn {

using moerb::Activation;
using moerb::DenseFFN;
using moerb::ForwardContext;
using moerb::Index;
using moerb::MoELayer;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;
using FFN = moerb::FFNExpert<double>;
using SwiGLU = moerb::SwiGLUExpert<double>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

// One step of L = Σ y ⊙ G + aux_loss(), written once for any FFN-like layer: compiles for both
// MoELayer and DenseFFN, which is what lets models swap them.
template <class Layer>
double loss_and_backward(Layer& layer, const Matrix<double>& x, const Matrix<double>& G,
                         const ForwardContext& ctx, Matrix<double>& dx) {
  const Matrix<double>& y = layer.forward(x, ctx);
  const double loss = (y.array() * G.array()).sum() + layer.aux_loss();
  dx = layer.backward(x, G);
  return loss;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dense_ffn)

BOOST_AUTO_TEST_CASE(forward_is_the_block_applied_to_every_token) {
  const FFN::Options o{
      .d_model = 6, .d_ff = 10, .activation = Activation::gelu_tanh, .expert_dropout = 0.3};
  DenseFFN<FFN> dense(o);
  Rng init(1);
  dense.initialize(init);
  Rng rng(2);
  const Matrix<double> x = random_matrix(12, 6, rng);
  // The block draws its dropout mask from ctx.rng.split(rng_tag::dense_ffn).
  const ForwardContext ctx{.training = true, .rng = Rng(3)};
  const Matrix<double> y = dense.forward(x, ctx);
  FFN block = dense.block();
  Matrix<double> y_block(12, 6);
  block.forward(x, y_block, ctx.with_rng(ctx.rng.split(moerb::rng_tag::dense_ffn)));
  BOOST_TEST((y == y_block));
  // Evaluation: no dropout, the plain formula.
  const Matrix<double>& y_eval = dense.forward(x, {});
  Matrix<double> pre = x * dense.block().w_in().value;
  pre.rowwise() += dense.block().b_in().value.row(0);
  const Matrix<double> h = pre.unaryExpr([](double v) {
    const double c = std::sqrt(2.0 / 3.14159265358979323846);
    return 0.5 * v * (1.0 + std::tanh(c * (v + 0.044715 * v * v * v)));
  });
  Matrix<double> ref = h * dense.block().w_out().value;
  ref.rowwise() += dense.block().b_out().value.row(0);
  BOOST_TEST((y_eval - ref).cwiseAbs().maxCoeff() < 1e-12);
  BOOST_TEST(dense.aux_loss() == 0.0);
}

BOOST_AUTO_TEST_CASE(interface_matches_the_moe_layer) {
  using R = moerb::TopKRouter<double>;
  MoELayer<R, SwiGLU> moe(R::Options{.input_dim = 6, .num_experts = 4},
                          {.expert = {.d_model = 6, .d_ff = 8}});
  DenseFFN<SwiGLU> dense({.d_model = 6, .d_ff = 16});
  Rng init(1);
  moe.initialize(init);
  dense.initialize(init);
  Rng rng(2);
  const Matrix<double> x = random_matrix(12, 6, rng);
  const Matrix<double> G = random_matrix(12, 6, rng);
  Matrix<double> dx_moe, dx_dense;
  const double l_moe = loss_and_backward(moe, x, G, {}, dx_moe);
  const double l_dense = loss_and_backward(dense, x, G, {}, dx_dense);
  BOOST_TEST(std::isfinite(l_moe));
  BOOST_TEST(std::isfinite(l_dense));
  BOOST_TEST(dx_dense.rows() == 12);
  BOOST_TEST(dx_dense.cols() == 6);
  BOOST_TEST((dense.input_grad() == dx_dense));
  BOOST_TEST(dense.output().rows() == 12);

  std::vector<std::string> names;
  dense.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>&) { names.emplace_back(n); },
      "blocks.1.ffn");
  BOOST_TEST(names == (std::vector<std::string>{"blocks.1.ffn.w_gate_up", "blocks.1.ffn.w_out"}),
             boost::test_tools::per_element());
  BOOST_TEST(dense.total_parameter_count() == 3 * 6 * 16);
  BOOST_TEST(dense.total_parameter_count() == moerb::parameter_count(dense));
  BOOST_TEST(dense.active_parameter_count() == 3.0 * 6 * 16);
  BOOST_TEST(dense.flops_per_token() == 6.0 * 6 * 16);
  BOOST_TEST(dense.hidden_dim() == 16);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  DenseFFN<FFN> ffn({.d_model = 6,
                     .d_ff = 8,
                     .activation = Activation::silu,
                     .bias = true,
                     .expert_dropout = 0.25});
  DenseFFN<SwiGLU> glu({.d_model = 6, .d_ff = 8, .bias = true, .expert_dropout = 0.25});
  Rng init(4);
  ffn.initialize(init);
  glu.initialize(init);
  const ForwardContext ctx{.training = true, .rng = Rng(5)};
  auto check = [&](auto& layer) {
    Rng rng(6);
    Matrix<double> x = random_matrix(12, 6, rng);
    const Matrix<double> G = random_matrix(12, 6, rng);
    auto loss = [&] {
      const Matrix<double>& y = layer.forward(x, ctx);
      return (y.array() * G.array()).sum() + layer.aux_loss();
    };
    auto backward = [&](Matrix<double>& dx) {
      layer.forward(x, ctx);
      dx = layer.backward(x, G);
    };
    const auto results = moerb::test::check_gradients(layer, x, loss, backward);
    BOOST_TEST(results.size() == 5u);
  };
  check(ffn);
  check(glu);
}

BOOST_AUTO_TEST_CASE(hidden_width_matches_active_and_total_parameters) {
  // Top-2 of 8 bias-free FFN experts: active = d·E + 2·(2·d·d_ff) -> H = k·d_ff + E/2.
  const Index d = 16, h = 32, E = 8;
  using R = moerb::TopKRouter<double>;
  const FFN::Options no_bias{.d_model = d, .d_ff = h, .bias = false};
  MoELayer<R, FFN> moe(R::Options{.input_dim = d, .num_experts = E, .k = 2}, {.expert = no_bias});
  BOOST_TEST(moerb::dense_hidden_for_active_params(moe) == 2 * h + E / 2);
  BOOST_TEST(moerb::dense_hidden_for_total_params(moe) == E * h + E / 2);
  DenseFFN<FFN> dense_active(moerb::dense_options_for_active_params(moe));
  BOOST_TEST(static_cast<double>(dense_active.total_parameter_count()) ==
             moe.active_parameter_count());
  DenseFFN<FFN> dense_total(moerb::dense_options_for_total_params(moe));
  BOOST_TEST(dense_total.total_parameter_count() == moe.total_parameter_count());
  BOOST_TEST(dense_total.block().options().bias == false);

  // SwiGLU with biases and a shared expert: the closest width, within half a hidden unit's cost.
  using G = SwiGLU;
  const G::Options glu{.d_model = 12, .d_ff = 20, .bias = true};
  MoELayer<R, G> shared(R::Options{.input_dim = 12, .num_experts = 6, .k = 2},
                        {.expert = glu, .num_shared_experts = 1});
  const double per_unit = 3.0 * 12 + 2;  // parameters per hidden unit
  for (const bool active : {true, false}) {
    const auto o = active ? moerb::dense_options_for_active_params(shared)
                          : moerb::dense_options_for_total_params(shared);
    DenseFFN<G> dense(o);
    const double target = active ? shared.active_parameter_count()
                                 : static_cast<double>(shared.total_parameter_count());
    BOOST_TEST(std::abs(static_cast<double>(dense.total_parameter_count()) - target) <=
               per_unit / 2);
  }
  // Expert choice: the capacity factor is the mean number of experts per token.
  using EC = moerb::ExpertChoiceRouter<double>;
  MoELayer<EC, FFN> ec(EC::Options{.input_dim = d, .num_experts = E, .capacity_factor = 2.0},
                       {.expert = no_bias});
  BOOST_TEST(moerb::dense_hidden_for_active_params(ec) == 2 * h + E / 2);
  BOOST_CHECK_EXCEPTION(moerb::dense_hidden_for_params<FFN>(no_bias, -3.0), moerb::error,
                        message_has({"target_params = -3", "expected a finite value > 0"}));
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  DenseFFN<moerb::SwiGLUExpert<float>> dense({.d_model = 8, .d_ff = 16, .expert_dropout = 0.1});
  Rng init(1);
  dense.initialize(init);
  Rng rng(2);
  const Matrix<float> x = random_matrix(20, 8, rng).cast<float>();
  const ForwardContext ctx{.training = true, .rng = Rng(3)};
  dense.forward(x, ctx);
  dense.backward(x, x);
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    dense.forward(x, ctx);
    dense.backward(x, x);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(DenseFFN<FFN>({.d_model = 6, .d_ff = 0}), error,
                        message_has({"FFNExpert", "d_ff = 0"}));
  DenseFFN<FFN> dense({.d_model = 6, .d_ff = 8});
  Matrix<double> x = Matrix<double>::Ones(4, 6);
  BOOST_CHECK_EXCEPTION(dense.backward(x, x), error,
                        message_has({"DenseFFN::backward", "before forward"}));
  const Matrix<double> wrong = Matrix<double>::Ones(4, 5);
  BOOST_CHECK_EXCEPTION(dense.forward(wrong, {}), error,
                        message_has({"DenseFFN::forward", "x has 5 columns", "expected 6"}));
  x(2, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(dense.forward(x, {}), error,
                        message_has({"DenseFFN::forward", "x(2, 1) is nan"}));
  x(2, 1) = 0;
  dense.forward(x, {});
  BOOST_CHECK_EXCEPTION(dense.backward(x, wrong), error,
                        message_has({"DenseFFN::backward", "dy has shape 4×5", "expected 4×6"}));
  const Matrix<double> x3 = Matrix<double>::Ones(3, 6);
  BOOST_CHECK_EXCEPTION(dense.backward(x3, x3), error, message_has({"x has shape 3×6"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_layers_dense_ffn
