#pragma once
// Helpers shared by the router test suites: random inputs, the weighted-choice objective used for
// finite-difference checks, and a check that a moerb::error names what was wrong.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "moerb/core/context.hpp"
#include "moerb/core/error.hpp"
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

}  // namespace moerb::test

/// Checks that `statement` throws moerb::error whose message contains `name`.
#define CHECK_THROWS_NAMING(statement, name)     \
  BOOST_CHECK_EXCEPTION(statement, moerb::error, \
                        [](const moerb::error& e) { return moerb::test::message_names(e, name); })
