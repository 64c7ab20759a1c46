// A downstream program: it sees moerb only through the installed package (or add_subdirectory).
#include <moerb/moerb.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <string>

// Defined in second_unit.cpp, which includes the same headers: linking both checks that the headers
// define nothing with external linkage more than once.
double second_unit_sum(std::uint64_t seed);

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "consumer check failed: " << what << '\n';
    ++failures;
  }
}

}  // namespace

int main() {
  moerb::Rng rng(2024);
  moerb::Matrix<double> x(4, 3);
  for (moerb::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
  check(x.IsRowMajor, "moerb::Matrix is row-major");

  moerb::require_shape(x, 4, 3, "consumer", "x");
  moerb::require_finite(x, "consumer", "x");

  // A wrong shape and a NaN are reported as moerb::error, catchable as std::invalid_argument.
  try {
    moerb::require_shape(x, 4, 5, "consumer", "x");
    check(false, "require_shape accepted a 4x3 matrix as 4x5");
  } catch (const std::invalid_argument& e) {
    check(std::string(e.what()).find("expected 4") != std::string::npos, "shape message");
  }
  x(2, 1) = std::numeric_limits<double>::quiet_NaN();
  try {
    moerb::require_finite(x, "consumer", "x");
    check(false, "require_finite accepted a NaN");
  } catch (const moerb::error& e) {
    check(std::string(e.what()).find("(2, 1)") != std::string::npos, "NaN position in message");
  }

  moerb::Parameter<float> w(3, 8);
  moerb::Rng init = rng.split(moerb::rng_tag::router);
  w.init_uniform_fan_in(init, 8);
  const float bound = 1.0f / std::sqrt(8.0f);
  check(w.value.cwiseAbs().maxCoeff() <= bound, "fan-in initialisation bound");
  check(w.grad.isZero(), "fresh gradient is zero");

  moerb::ForwardContext ctx;
  const moerb::ForwardContext train = ctx.with_rng(moerb::Rng(7));
  check(!train.training && train.rng.key() == moerb::Rng(7).key(), "ForwardContext::with_rng");

  const double a = second_unit_sum(11), b = second_unit_sum(11);
  check(a == b && std::isfinite(a), "same seed, same numbers across translation units");

  // The GEMM engine the target chose: moerb::blas (MOERB_CONSUMER_EXPECT_BLAS) or Eigen's kernels.
  // A product large enough for a GEMM kernel (BLAS's sgemm with moerb::blas), against a plain loop.
  moerb::Matrix<float> p(40, 30), q(30, 20), pq(40, 20);
  for (moerb::Index i = 0; i < p.size(); ++i) p.data()[i] = static_cast<float>(rng.normal());
  for (moerb::Index i = 0; i < q.size(); ++i) q.data()[i] = static_cast<float>(rng.normal());
  pq.noalias() = p * q;
  double worst = 0;
  for (moerb::Index i = 0; i < pq.rows(); ++i) {
    for (moerb::Index j = 0; j < pq.cols(); ++j) {
      double sum = 0;
      for (moerb::Index k = 0; k < p.cols(); ++k) sum += double(p(i, k)) * double(q(k, j));
      worst = std::max(worst, std::abs(sum - double(pq(i, j))));
    }
  }
  check(worst < 1e-4, "a 40x30 by 30x20 product");
#ifdef MOERB_CONSUMER_EXPECT_BLAS
  check(std::string(moerb::gemm_engine_name()) == "BLAS", "moerb::blas gives the BLAS engine");
  check(moerb::gemm_engine_threading() == "OpenMP",
        "moerb::blas found OpenBLAS's OpenMP build (" + moerb::gemm_engine_description() + ")");
#else
  check(std::string(moerb::gemm_engine_name()) == "Eigen", "moerb::moerb gives Eigen's kernels");
#endif
  if (failures != 0) return 1;
  std::cout << "moerb consumer OK (" << w.size() << " parameters initialised, sum " << a
            << "; GEMM engine " << moerb::gemm_engine_description() << ")\n";
  return 0;
}
