#pragma once
// Central finite differences in double precision for any layer with the uniform parameter
// interface. Shared by the backward-pass tests of every layer.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "moerb/core/parameter.hpp"

namespace moerb::test {

/// ‖a − b‖ / max(‖a‖ + ‖b‖, floor): the relative error of a whole tensor.
inline double relative_error(const Matrix<double>& a, const Matrix<double>& b,
                             double floor = 1e-12) {
  const double denom = std::max(a.norm() + b.norm(), floor);
  return (a - b).norm() / denom;
}

/// Numerical gradient of `loss()` with respect to every element of `m`, by central differences.
inline Matrix<double> numeric_gradient(Matrix<double>& m, const std::function<double()>& loss,
                                       double eps = 1e-6) {
  Matrix<double> g(m.rows(), m.cols());
  for (Index i = 0; i < m.size(); ++i) {
    const double old = m.data()[i];
    m.data()[i] = old + eps;
    const double lp = loss();
    m.data()[i] = old - eps;
    const double lm = loss();
    m.data()[i] = old;
    g.data()[i] = (lp - lm) / (2 * eps);
  }
  return g;
}

struct GradCheckResult {
  std::string name;
  double rel_error;
};

/// Checks ∂loss/∂x and ∂loss/∂p for every parameter p of `layer`.
///
/// `loss()` runs a forward on the current x and parameters and returns the scalar objective.
/// `backward(dx)` runs forward + backward with zeroed parameter gradients and writes ∂loss/∂x.
/// Frozen parameters are checked to have zero gradient. Fails the current Boost test for any tensor
/// whose relative error exceeds `tol`; returns all errors for reporting.
template <class Layer>
std::vector<GradCheckResult> check_gradients(Layer& layer, Matrix<double>& x,
                                             const std::function<double()>& loss,
                                             const std::function<void(Matrix<double>&)>& backward,
                                             double tol = 1e-6, double eps = 1e-6) {
  std::vector<GradCheckResult> results;
  Matrix<double> dx = Matrix<double>::Zero(x.rows(), x.cols());
  zero_grad(layer);
  backward(dx);
  // Copy the analytic gradients before the numerical loop runs more forwards.
  std::vector<std::pair<std::string, Matrix<double>>> analytic;
  layer.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) {
        analytic.emplace_back(std::string(name), p.grad);
      },
      "");
  const Matrix<double> num_dx = numeric_gradient(x, loss, eps);
  results.push_back({"input", relative_error(num_dx, dx)});
  std::size_t i = 0;
  layer.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) {
        const Matrix<double>& ana = analytic[i++].second;
        if (p.frozen) {
          BOOST_TEST(ana.cwiseAbs().maxCoeff() == 0.0, "frozen " << name << " received a gradient");
          return;
        }
        const Matrix<double> num = numeric_gradient(p.value, loss, eps);
        results.push_back({std::string(name), relative_error(num, ana)});
      },
      "");
  for (const auto& r : results) {
    BOOST_TEST(r.rel_error < tol,
               "gradient of " << r.name << ": relative error " << r.rel_error << " >= " << tol);
  }
  return results;
}

}  // namespace moerb::test
