#pragma once
// Helpers shared by the router test suites: random inputs, the weighted-choice objective used for
// finite-difference checks, and a check that a moerb::error names what was wrong.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
#include "moerb/routing/router.hpp"
#include "moerb/routing/routing.hpp"
#include "support/gradcheck.hpp"

namespace moerb::test {

/// rows × cols matrix of U(-scale, scale) draws from Rng(seed).
inline Matrix<double> random_matrix(Index rows, Index cols, double scale, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(-scale, scale);
  return m;
}

inline ForwardContext context(bool training, std::uint64_t seed = 11) {
  ForwardContext ctx;
  ctx.training = training;
  ctx.rng = Rng(seed);
  return ctx;
}

/// The expert whose block holds assignment a.
template <class S>
Index expert_of(const Routing<S>& r, Index a) {
  Index e = 0;
  while (r.end(e) <= a) ++e;
  return e;
}

/// L = Σ_a weight_a · C[token_a, expert_a] + aux_loss, so ∂L/∂weight_a = C[token_a, expert_a].
template <class R>
double weighted_loss(R& router, const Matrix<double>& x, const ForwardContext& ctx,
                     const Matrix<double>& C) {
  const Routing<double>& r = router.forward(x, ctx);
  double loss = r.aux_loss;
  for (Index a = 0; a < r.num_assignments(); ++a) {
    loss += r.weight[static_cast<std::size_t>(a)] *
            C(r.token[static_cast<std::size_t>(a)], expert_of(r, a));
  }
  return loss;
}

template <class R>
void weighted_backward(R& router, const Matrix<double>& x, const ForwardContext& ctx,
                       const Matrix<double>& C, Matrix<double>& dx) {
  const Routing<double>& r = router.forward(x, ctx);
  std::vector<double> d_weight(static_cast<std::size_t>(r.num_assignments()));
  for (Index a = 0; a < r.num_assignments(); ++a) {
    d_weight[static_cast<std::size_t>(a)] =
        C(r.token[static_cast<std::size_t>(a)], expert_of(r, a));
  }
  router.backward(x, d_weight, dx);
}

/// Finite-difference check of ∂L/∂x and every parameter for the weighted-choice objective. Also
/// requires the input gradient to be non-trivial (two zero gradients would agree vacuously) unless
/// `expect_zero`, which requires it to be exactly zero instead.
template <class R>
std::vector<GradCheckResult> gradcheck(R& router, Matrix<double> x, const ForwardContext& ctx,
                                       bool expect_zero = false) {
  const Matrix<double> C = random_matrix(x.rows(), router.num_experts(), 1.0, 5);
  Matrix<double> dx = Matrix<double>::Zero(x.rows(), x.cols());
  weighted_backward(router, x, ctx, C, dx);
  if (expect_zero) {
    BOOST_TEST(dx.cwiseAbs().maxCoeff() == 0.0);
  } else {
    BOOST_TEST(dx.norm() > 1e-3);
  }
  const auto results = check_gradients(
      router, x, [&] { return weighted_loss(router, x, ctx, C); },
      [&](Matrix<double>& d) { weighted_backward(router, x, ctx, C, d); });
  for (const auto& r : results) BOOST_TEST_MESSAGE("  " << r.name << ": " << r.rel_error);
  return results;
}

/// True when the error's message contains `what` (logs the message otherwise).
inline bool message_names(const moerb::error& err, const std::string& what) {
  const std::string msg = err.what();
  const bool ok = msg.find(what) != std::string::npos;
  if (!ok) BOOST_TEST_MESSAGE("message '" << msg << "' does not name '" << what << "'");
  return ok;
}

/// backward_logits (RouterLogitsDifferentiable) against central differences of L = Σ routing.logits ⊙ C
/// with respect to x and the gate's weight, through the gate alone, and its argument checks.
/// `router` is initialised; `fresh` has had no forward; `name` is the router's name in messages.
template <class R>
void check_backward_logits(R& router, const R& fresh, bool training, const std::string& name) {
  static_assert(RouterLogitsDifferentiable<R>, "the router must model RouterLogitsDifferentiable");
  const Index rows = 7, dim = router.input_dim(), experts = router.num_experts();
  Rng draws(42);
  Matrix<double> x(rows, dim);
  Matrix<double> C(rows, experts);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = draws.uniform(-2.0, 2.0);
  for (Index i = 0; i < C.size(); ++i) C.data()[i] = draws.uniform(-1.0, 1.0);
  const ForwardContext ctx{.training = training, .rng = Rng(43)};
  auto loss = [&] { return (router.forward(x, ctx).logits.array() * C.array()).sum(); };
  auto backward = [&](Matrix<double>& dx) {
    router.forward(x, ctx);
    router.backward_logits(x, C, dx);
  };
  const auto results = check_gradients(router, x, loss, backward);
  for (const auto& r : results) BOOST_TEST_MESSAGE("  " << r.name << ": " << r.rel_error);

  const auto names = [](const std::string& what) {
    return [what](const moerb::error& e) { return message_names(e, what); };
  };
  Matrix<double> dx = Matrix<double>::Zero(rows, dim);
  BOOST_CHECK_EXCEPTION(router.backward_logits(x, C.leftCols(experts - 1), dx), moerb::error,
                        names(name + "::backward_logits: d_logits has shape 7×" +
                              std::to_string(experts - 1) + ", expected 7×" +
                              std::to_string(experts)));
  Matrix<double> dx_bad = Matrix<double>::Zero(rows - 1, dim);
  BOOST_CHECK_EXCEPTION(router.backward_logits(x, C, dx_bad), moerb::error, names("dx has shape"));
  R unused = fresh;
  BOOST_CHECK_EXCEPTION(unused.backward_logits(x, C, dx), moerb::error,
                        names(name + "::backward_logits: called before forward"));
}

}  // namespace moerb::test

/// Checks that `statement` throws moerb::error whose message contains `name`.
#define CHECK_THROWS_NAMING(statement, name)     \
  BOOST_CHECK_EXCEPTION(statement, moerb::error, \
                        [](const moerb::error& e) { return moerb::test::message_names(e, name); })
