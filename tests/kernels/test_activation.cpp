// Tests for include/moerb/kernels/activation.hpp
//
// Tolerances (SIMD kernel vs the scalar reference in the same precision, eps = machine epsilon):
// - forward: |simd − ref| <= tol·|ref| + floor, tol = 8 eps (relu: exact), except
//   GELU-erf: tol = (32 + x²) eps, because xsimd's erfc(z) goes through exp(−z²) and carries the
//   rounding of z² = x²/2 (about 2z² ulp, which std::erfc avoids); double erfc is also ~20 ulp
//   off for |z| < 2 (xsimd 8.1);
//   GELU-tanh: tol = (8 + 4|z|) eps with z = 2√(2/π)(x + 0.044715x³), because σ(z) ≈ e^z
//   amplifies the rounding of the cubic z by |z|, and compilers may contract it into FMAs
//   differently in the scalar and the SIMD code.
// - backward: the same tol applied to |dy|·(sum of the magnitudes of the terms of f'(x)), since
//   f'(x) has roots (x ≈ −1.28 for SiLU, ≈ −0.75 for GELU) where a relative bound is meaningless.
// - floor = 1024·numeric_limits<S>::min(): where exp underflows xsimd returns 0 while libm returns
//   a subnormal, so results below ~1e-35 (float) / 1e-305 (double) may differ absolutely.
// Derivatives are checked against central differences in double (relative error < 1e-6 per
// vector, as tests/support/gradcheck.hpp measures it).
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/kernels/activation.hpp"
#include "support/gradcheck.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_kernels_activation {

namespace {

using moerb::Activation;
using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
namespace kernels = moerb::kernels;
namespace ref = moerb::kernels::reference;

using Scalars = boost::mpl::list<float, double>;

constexpr Activation kAll[] = {Activation::relu, Activation::gelu_erf, Activation::gelu_tanh,
                               Activation::silu};

template <class S>
constexpr double kEps = std::numeric_limits<S>::epsilon();
template <class S>
constexpr double kFloor = 1024.0 * std::numeric_limits<S>::min();

/// Relative tolerance in units of eps for input x (see the header comment).
double tol_ulps(Activation a, double x) {
  switch (a) {
    case Activation::relu:
      return 0.0;
    case Activation::gelu_erf:
      return 32.0 + x * x;
    case Activation::gelu_tanh: {
      const double z = 2 * std::sqrt(2 / std::numbers::pi) * (x + 0.044715 * x * x * x);
      return 8.0 + 4.0 * std::abs(z);
    }
    case Activation::silu:
      return 8.0;
  }
  return 0.0;
}

/// Σ |terms of f'(x)|, computed in double: the scale against which f'(x) is rounded.
double derivative_scale(Activation a, double x) {
  switch (a) {
    case Activation::relu:
      return 1.0;
    case Activation::gelu_erf: {
      const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
      const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * std::numbers::pi);
      return cdf + std::abs(x) * pdf;
    }
    case Activation::gelu_tanh: {
      const double c = 2 * std::sqrt(2 / std::numbers::pi);
      const double z = c * (x + 0.044715 * x * x * x);
      const double dz = c * (1 + 3 * 0.044715 * x * x);
      const double s = 1 / (1 + std::exp(-z));
      const double g = s * (1 - s);
      return s + (g == 0 ? 0 : std::abs(x) * g * dz);
    }
    case Activation::silu: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 + std::abs(x) * (1 - s));
    }
  }
  return 1.0;
}

/// Collects elementwise comparison failures: |got − want| <= tol + floor.
struct Mismatches {
  int count = 0;
  double worst_ratio = 0;  // max |got − want| / (tol + floor) seen
  std::string first;

  template <class S>
  void check(S got, S want, double tol, double floor, const std::string& where) {
    const double err = std::abs(static_cast<double>(got) - static_cast<double>(want));
    const double bound = tol + floor;
    const bool ok = (got == want) || err <= bound;  // got == want covers equal infinities
    if (bound > 0) worst_ratio = std::max(worst_ratio, got == want ? 0.0 : err / bound);
    if (!ok) {
      if (count == 0) {
        std::ostringstream os;
        os.precision(17);
        os << where << ": got " << got << ", want " << want << " (|diff| " << err << " > " << bound
           << ")";
        first = os.str();
      }
      ++count;
    }
  }
};

template <class S>
std::vector<S> random_vector(Rng& rng, Index n, double scale) {
  std::vector<S> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = static_cast<S>(scale * rng.normal());
  return v;
}

/// Forward and backward of the SIMD kernels vs the reference on x, dy.
template <class S>
void compare_with_reference(Activation a, const std::vector<S>& x, const std::vector<S>& dy,
                            Mismatches& fwd, Mismatches& bwd, const std::string& label) {
  const Index n = static_cast<Index>(x.size());
  std::vector<S> y(x.size()), y_ref(x.size()), dx(x.size()), dx_ref(x.size());
  kernels::activate(a, x.data(), y.data(), n);
  ref::activate(a, x.data(), y_ref.data(), n);
  kernels::activate_backward(a, x.data(), dy.data(), dx.data(), n);
  ref::activate_backward(a, x.data(), dy.data(), dx_ref.data(), n);
  for (Index i = 0; i < n; ++i) {
    const double xi = static_cast<double>(x[i]);
    const double ulps = tol_ulps(a, xi) * kEps<S>;
    const std::string where = label + " " + std::string(moerb::to_string(a)) +
                              " n=" + std::to_string(n) + " i=" + std::to_string(i) +
                              " x=" + std::to_string(xi);
    fwd.check(y[i], y_ref[i], ulps * std::abs(static_cast<double>(y_ref[i])), kFloor<S>,
              where + " forward");
    const double scale = std::abs(static_cast<double>(dy[i])) * derivative_scale(a, xi);
    bwd.check(dx[i], dx_ref[i], ulps * scale, kFloor<S> * (1 + std::abs(xi)), where + " backward");
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(activation)

BOOST_AUTO_TEST_CASE(names) {
  BOOST_TEST(moerb::to_string(Activation::relu) == "relu");
  BOOST_TEST(moerb::to_string(Activation::gelu_erf) == "gelu");
  BOOST_TEST(moerb::to_string(Activation::gelu_tanh) == "gelu_tanh");
  BOOST_TEST(moerb::to_string(Activation::silu) == "silu");
  BOOST_TEST_MESSAGE("kernels compiled for " << kernels::detail::simd_arch_name());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(simd_matches_reference_on_all_lengths, S, Scalars) {
  Rng rng(11);
  for (const Activation a : kAll) {
    Mismatches fwd, bwd;
    for (Index n = 1; n <= 67; ++n) {
      for (const double scale : {0.5, 3.0, 30.0}) {
        const auto x = random_vector<S>(rng, n, scale);
        const auto dy = random_vector<S>(rng, n, 1.0);
        compare_with_reference(a, x, dy, fwd, bwd, "random");
      }
    }
    BOOST_TEST(fwd.count == 0, moerb::to_string(a)
                                   << ": " << fwd.count << " forward mismatches, " << fwd.first);
    BOOST_TEST(bwd.count == 0, moerb::to_string(a)
                                   << ": " << bwd.count << " backward mismatches, " << bwd.first);
    BOOST_TEST_MESSAGE(moerb::to_string(a) << " worst error / tolerance: forward "
                                           << fwd.worst_ratio << ", backward " << bwd.worst_ratio);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(simd_matches_reference_on_a_dense_grid, S, Scalars) {
  // Every 1/64 on [−40, 40]: covers the tails, the roots of f' and the underflow of exp.
  std::vector<S> x, dy;
  for (int i = -40 * 64; i <= 40 * 64; ++i) {
    x.push_back(static_cast<S>(i / 64.0));
    dy.push_back(static_cast<S>(1 + (i % 7) * 0.25));
  }
  for (const Activation a : kAll) {
    Mismatches fwd, bwd;
    compare_with_reference(a, x, dy, fwd, bwd, "grid");
    BOOST_TEST(fwd.count == 0, moerb::to_string(a)
                                   << ": " << fwd.count << " forward mismatches, " << fwd.first);
    BOOST_TEST(bwd.count == 0, moerb::to_string(a)
                                   << ": " << bwd.count << " backward mismatches, " << bwd.first);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(textbook_formulas, S, Scalars) {
  // The kernels evaluate rewritten forms (erfc, sigmoid); check them against the published ones,
  // evaluated in long double, where those have no cancellation problem (|x| <= 3).
  std::vector<S> x;
  for (int i = -300; i <= 300; i += 7) x.push_back(static_cast<S>(i / 100.0));
  const Index n = static_cast<Index>(x.size());
  std::vector<S> y(x.size());
  for (const Activation a : kAll) {
    kernels::activate(a, x.data(), y.data(), n);
    for (Index i = 0; i < n; ++i) {
      const long double xl = x[i];
      long double want = 0;
      switch (a) {
        case Activation::relu:
          want = xl > 0 ? xl : 0;
          break;
        case Activation::gelu_erf:
          want = 0.5L * xl * (1 + std::erf(xl / std::sqrt(2.0L)));
          break;
        case Activation::gelu_tanh:
          want = 0.5L * xl *
                 (1 + std::tanh(std::sqrt(2 / std::numbers::pi_v<long double>) *
                                (xl + 0.044715L * xl * xl * xl)));
          break;
        case Activation::silu:
          want = xl / (1 + std::exp(-xl));
          break;
      }
      // 64 eps relative to max(|f|, 1e-3): the textbook forms lose digits as f → 0 for x < 0.
      const double bound = 64 * kEps<S> * std::max(std::abs(static_cast<double>(want)), 1e-3);
      BOOST_TEST(std::abs(static_cast<double>(y[i] - want)) <= bound,
                 moerb::to_string(a) << "(" << x[i] << ") = " << y[i] << ", textbook "
                                     << static_cast<double>(want));
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(extreme_inputs_saturate_without_nan, S, Scalars) {
  const S big = std::numeric_limits<S>::max();
  const std::vector<S> x = {S(1e4),
                            S(-1e4),
                            S(1e3),
                            S(-1e3),
                            S(88.5),
                            S(-88.5),
                            S(710),
                            S(-710),
                            S(1e30),
                            S(-1e30),
                            big / 2,
                            -big / 2,
                            big,
                            -big,
                            S(0),
                            S(-0.0),
                            S(1e-30),
                            S(-1e-30),
                            std::numeric_limits<S>::denorm_min(),
                            S(5e4)};
  const Index n = static_cast<Index>(x.size());
  const std::vector<S> ones(x.size(), S(1));
  std::vector<S> y(x.size()), dx(x.size()), gy(x.size()), d_gate(x.size()), d_up(x.size());
  for (const Activation a : kAll) {
    kernels::activate(a, x.data(), y.data(), n);
    kernels::activate_backward(a, x.data(), ones.data(), dx.data(), n);
    kernels::glu(a, x.data(), ones.data(), gy.data(), n);
    kernels::glu_backward(a, x.data(), ones.data(), ones.data(), d_gate.data(), d_up.data(), n);
    for (Index i = 0; i < n; ++i) {
      const std::string what = std::string(moerb::to_string(a)) + " at " + std::to_string(x[i]);
      BOOST_TEST(std::isfinite(y[i]), what << ": f = " << y[i]);
      BOOST_TEST(std::isfinite(dx[i]), what << ": f' = " << dx[i]);
      BOOST_TEST(std::isfinite(gy[i]), what << ": glu = " << gy[i]);
      BOOST_TEST(std::isfinite(d_gate[i]), what << ": glu d_gate = " << d_gate[i]);
      BOOST_TEST(std::isfinite(d_up[i]), what << ": glu d_up = " << d_up[i]);
      if (std::abs(x[i]) >= S(1e3)) {
        // Far from 0 every activation is the identity on the right and 0 on the left.
        const bool right = x[i] > 0;
        BOOST_TEST(y[i] == (right ? x[i] : S(0)), what << ": f = " << y[i]);
        BOOST_TEST(dx[i] == (right ? S(1) : S(0)), what << ": f' = " << dx[i]);
        BOOST_TEST(gy[i] == y[i], what);
        BOOST_TEST(d_gate[i] == dx[i], what);
        BOOST_TEST(d_up[i] == y[i], what);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(derivatives_match_central_differences) {
  // x on a grid that avoids ReLU's kink at 0; loss = Σ w_i f(x_i).
  Matrix<double> x(1, 64), w(1, 64);
  Rng rng(5);
  for (Index i = 0; i < x.cols(); ++i) {
    x(0, i) = -8.0 + 16.0 * (static_cast<double>(i) + 0.37) / static_cast<double>(x.cols());
    w(0, i) = rng.normal();
  }
  const Index n = x.cols();
  for (const Activation a : kAll) {
    Matrix<double> y(1, n), dx(1, n);
    const auto loss = [&] {
      kernels::activate(a, x.data(), y.data(), n);
      return y.cwiseProduct(w).sum();
    };
    kernels::activate_backward(a, x.data(), w.data(), dx.data(), n);
    const Matrix<double> num = moerb::test::numeric_gradient(x, loss);
    const double err = moerb::test::relative_error(num, dx);
    BOOST_TEST(err < 1e-6, moerb::to_string(a) << ": relative error " << err);
  }
}

BOOST_AUTO_TEST_CASE(glu_gradients_match_central_differences) {
  const Index n = 37;  // odd: the padded tail is differentiated too
  Rng rng(6);
  Matrix<double> gate(1, n), up(1, n), w(1, n);
  for (Index i = 0; i < n; ++i) {
    gate(0, i) = 3 * rng.normal();
    if (std::abs(gate(0, i)) < 1e-3) gate(0, i) = 0.5;  // keep away from ReLU's kink
    up(0, i) = rng.normal();
    w(0, i) = rng.normal();
  }
  for (const Activation a : kAll) {
    Matrix<double> y(1, n), d_gate(1, n), d_up(1, n);
    const auto loss = [&] {
      kernels::glu(a, gate.data(), up.data(), y.data(), n);
      return y.cwiseProduct(w).sum();
    };
    kernels::glu_backward(a, gate.data(), up.data(), w.data(), d_gate.data(), d_up.data(), n);
    const Matrix<double> num_gate = moerb::test::numeric_gradient(gate, loss);
    const Matrix<double> num_up = moerb::test::numeric_gradient(up, loss);
    const double err_gate = moerb::test::relative_error(num_gate, d_gate);
    const double err_up = moerb::test::relative_error(num_up, d_up);
    BOOST_TEST(err_gate < 1e-6, moerb::to_string(a) << ": d_gate relative error " << err_gate);
    BOOST_TEST(err_up < 1e-6, moerb::to_string(a) << ": d_up relative error " << err_up);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(glu_matches_reference, S, Scalars) {
  Rng rng(7);
  for (const Activation a : kAll) {
    Mismatches fwd, d_gate_m, d_up_m;
    for (Index n = 1; n <= 67; ++n) {
      const auto gate = random_vector<S>(rng, n, 3.0);
      const auto up = random_vector<S>(rng, n, 1.0);
      const auto dy = random_vector<S>(rng, n, 1.0);
      std::vector<S> y(gate.size()), y_ref(gate.size()), dg(gate.size()), dg_ref(gate.size()),
          du(gate.size()), du_ref(gate.size());
      kernels::glu(a, gate.data(), up.data(), y.data(), n);
      ref::glu(a, gate.data(), up.data(), y_ref.data(), n);
      kernels::glu_backward(a, gate.data(), up.data(), dy.data(), dg.data(), du.data(), n);
      ref::glu_backward(a, gate.data(), up.data(), dy.data(), dg_ref.data(), du_ref.data(), n);
      for (Index i = 0; i < n; ++i) {
        const double g = static_cast<double>(gate[i]);
        const double u = std::abs(static_cast<double>(up[i]));
        const double d = std::abs(static_cast<double>(dy[i]));
        const double ulps = (tol_ulps(a, g) + 2) * kEps<S>;  // + the product's roundings
        const std::string where = std::string(moerb::to_string(a)) + " n=" + std::to_string(n) +
                                  " i=" + std::to_string(i);
        fwd.check(y[i], y_ref[i], ulps * std::abs(static_cast<double>(y_ref[i])), kFloor<S>,
                  where + " y");
        d_up_m.check(du[i], du_ref[i], ulps * std::abs(static_cast<double>(du_ref[i])), kFloor<S>,
                     where + " d_up");
        d_gate_m.check(dg[i], dg_ref[i], ulps * d * u * derivative_scale(a, g),
                       kFloor<S> * (1 + std::abs(g)), where + " d_gate");
      }
    }
    BOOST_TEST(fwd.count == 0, fwd.first);
    BOOST_TEST(d_gate_m.count == 0, d_gate_m.first);
    BOOST_TEST(d_up_m.count == 0, d_up_m.first);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(glu_is_activation_times_up, S, Scalars) {
  // Same kernels, same rounding: glu == activate(gate)·up and d_up == dy·activate(gate) up to
  // the one rounding of the product (FMA contraction may fuse it differently).
  Rng rng(8);
  const Index n = 45;
  const auto gate = random_vector<S>(rng, n, 2.0);
  const auto up = random_vector<S>(rng, n, 1.0);
  const auto dy = random_vector<S>(rng, n, 1.0);
  std::vector<S> f(gate.size()), y(gate.size()), dg(gate.size()), du(gate.size()), fp(gate.size());
  for (const Activation a : kAll) {
    kernels::activate(a, gate.data(), f.data(), n);
    kernels::glu(a, gate.data(), up.data(), y.data(), n);
    kernels::glu_backward(a, gate.data(), up.data(), dy.data(), dg.data(), du.data(), n);
    std::vector<S> dyu(gate.size());
    for (Index i = 0; i < n; ++i) dyu[i] = dy[i] * up[i];
    kernels::activate_backward(a, gate.data(), dyu.data(), fp.data(), n);
    for (Index i = 0; i < n; ++i) {
      const double e = 2 * kEps<S>;
      BOOST_TEST(std::abs(static_cast<double>(y[i] - f[i] * up[i])) <=
                 e * std::abs(static_cast<double>(f[i] * up[i])) + kFloor<S>);
      BOOST_TEST(std::abs(static_cast<double>(du[i] - f[i] * dy[i])) <=
                 e * std::abs(static_cast<double>(f[i] * dy[i])) + kFloor<S>);
      BOOST_TEST(std::abs(static_cast<double>(dg[i] - fp[i])) <=
                 e * std::abs(static_cast<double>(fp[i])) + kFloor<S>);
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(in_place_matches_out_of_place, S, Scalars) {
  Rng rng(9);
  const Index n = 29;
  const auto x = random_vector<S>(rng, n, 2.0);
  const auto up = random_vector<S>(rng, n, 1.0);
  const auto dy = random_vector<S>(rng, n, 1.0);
  for (const Activation a : kAll) {
    std::vector<S> y(x.size()), inplace = x;
    kernels::activate(a, x.data(), y.data(), n);
    kernels::activate(a, inplace.data(), inplace.data(), n);
    BOOST_TEST(inplace == y, boost::test_tools::per_element());

    std::vector<S> dx(x.size()), dx_inplace = dy;
    kernels::activate_backward(a, x.data(), dy.data(), dx.data(), n);
    kernels::activate_backward(a, x.data(), dx_inplace.data(), dx_inplace.data(), n);
    BOOST_TEST(dx_inplace == dx, boost::test_tools::per_element());

    std::vector<S> g(x.size()), g_inplace = x;
    kernels::glu(a, x.data(), up.data(), g.data(), n);
    kernels::glu(a, g_inplace.data(), up.data(), g_inplace.data(), n);
    BOOST_TEST(g_inplace == g, boost::test_tools::per_element());

    // d_gate over gate and d_up over up.
    std::vector<S> dg(x.size()), du(x.size()), dg_in = x, du_in = up;
    kernels::glu_backward(a, x.data(), up.data(), dy.data(), dg.data(), du.data(), n);
    kernels::glu_backward(a, dg_in.data(), du_in.data(), dy.data(), dg_in.data(), du_in.data(), n);
    BOOST_TEST(dg_in == dg, boost::test_tools::per_element());
    BOOST_TEST(du_in == du, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(empty_input_is_a_no_op) {
  float x = 1.f, y = 7.f, z = 8.f;
  for (const Activation a : kAll) {
    kernels::activate(a, &x, &y, 0);
    kernels::activate_backward(a, &x, &x, &y, 0);
    kernels::glu(a, &x, &x, &y, 0);
    kernels::glu_backward(a, &x, &x, &x, &y, &z, 0);
  }
  BOOST_TEST(y == 7.f);
  BOOST_TEST(z == 8.f);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_kernels_activation
