// Tests for include/moerb/core/gemm_engine.hpp, on whichever engine the tree is built with
// (MOERB_TEST_GEMM_ENGINE in tests/CMakeLists.txt): the products moerb's layers compute agree with
// a plain loop in double, run single-threaded inside an OpenMP parallel region (one expert per
// thread), and the engine threads through OpenMP.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moerb/core/gemm_engine.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/core/types.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_gemm_engine {

namespace {

using moerb::Index;
using moerb::Matrix;

template <class S>
Matrix<S> random_matrix(Index rows, Index cols, std::uint64_t seed) {
  moerb::Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(rng.normal());
  return m;
}

/// a·b by a plain triple loop in double, whatever the operands' storage.
template <class A, class B>
Matrix<double> loop_product(const A& a, const B& b) {
  Matrix<double> c = Matrix<double>::Zero(a.rows(), b.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < b.cols(); ++j)
      for (Index p = 0; p < a.cols(); ++p)
        c(i, j) += static_cast<double>(a(i, p)) * static_cast<double>(b(p, j));
  return c;
}

/// Largest |x - y| over |y|'s scale: a few ulps of the depth's accumulated rounding.
template <class X>
double max_error(const X& x, const Matrix<double>& y) {
  return (x.template cast<double>() - y).cwiseAbs().maxCoeff() / (1.0 + y.cwiseAbs().maxCoeff());
}

template <class S>
double tolerance() {
  return std::is_same_v<S, float> ? 1e-5 : 1e-13;
}

/// The product shapes of an expert's forward and backward at a size where every engine uses its
/// blocked GEMM: y = x·W, dW += xᵀ·dy, dx = dy·Wᵀ, on row blocks of a larger buffer.
template <class S>
void check_layer_products() {
  const Index n = 97, d = 64, h = 80;
  const Matrix<S> buffer = random_matrix<S>(n + 7, d, 1);
  const auto x = buffer.middleRows(3, n);  // a block of rows, as the MoE dispatch hands out
  const Matrix<S> w = random_matrix<S>(d, h, 2);
  const Matrix<S> dy = random_matrix<S>(n, h, 3);

  Matrix<S> y(n, h);
  y.noalias() = x * w;
  BOOST_TEST(max_error(y, loop_product(x, w)) < tolerance<S>());

  Matrix<S> dw = random_matrix<S>(d, h, 4);
  const Matrix<S> dw0 = dw;
  dw.noalias() += x.transpose() * dy;
  BOOST_TEST(max_error(dw, dw0.template cast<double>() + loop_product(x.transpose(), dy)) <
             tolerance<S>());

  Matrix<S> dx(n, d);
  dx.noalias() = dy * w.transpose();
  BOOST_TEST(max_error(dx, loop_product(dy, w.transpose())) < tolerance<S>());

  // A column-major operand and a product written into a block of a larger matrix.
  const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic> w_col = w;
  Matrix<S> wide = Matrix<S>::Zero(n, h + 5);
  wide.middleCols(2, h).noalias() = x * w_col;
  BOOST_TEST(max_error(wide.middleCols(2, h), loop_product(x, w)) < tolerance<S>());
  BOOST_TEST(wide.leftCols(2).isZero(0));
  BOOST_TEST(wide.rightCols(3).isZero(0));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gemm_engine)

BOOST_AUTO_TEST_CASE(names_the_engine_the_tree_is_built_with) {
#ifdef EIGEN_USE_BLAS
  BOOST_TEST(std::string(moerb::gemm_engine_name()) == "BLAS");
#else
  BOOST_TEST(std::string(moerb::gemm_engine_name()) == "Eigen");
#endif
  const std::string description = moerb::gemm_engine_description();
  BOOST_TEST_MESSAGE("GEMM engine: " << description);
  BOOST_TEST(description.rfind(moerb::gemm_engine_name(), 0) == 0);
  BOOST_TEST(description.find("threads " + moerb::gemm_engine_threading()) != std::string::npos);
}

// moerb runs experts concurrently on OpenMP threads and the dense layer with all of them; an engine
// with a thread pool of its own (OpenBLAS's pthread build) would oversubscribe the cores.
BOOST_AUTO_TEST_CASE(threads_through_openmp) {
#ifdef _OPENMP
  BOOST_TEST(moerb::gemm_engine_threading() == "OpenMP");
#else
  BOOST_TEST(moerb::gemm_engine_threading() == "sequential");
#endif
}

// OpenBLAS reports its core type by the names of its DYNAMIC_ARCH table (or in capitals, in a build
// for one target); the kernels' vectors decide the engine's speed.
BOOST_AUTO_TEST_CASE(maps_openblas_core_types_to_their_vectors) {
  using moerb::VectorIsa;
  using moerb::detail::openblas_core_isa;
  BOOST_TEST((openblas_core_isa("Cooperlake") == VectorIsa::avx512));
  BOOST_TEST((openblas_core_isa("SKYLAKEX") == VectorIsa::avx512));
  BOOST_TEST((openblas_core_isa("SapphireRapids") == VectorIsa::avx512));
  BOOST_TEST((openblas_core_isa("Haswell") == VectorIsa::avx2));
  BOOST_TEST((openblas_core_isa("Zen") == VectorIsa::avx2));
  BOOST_TEST((openblas_core_isa("Sandybridge") == VectorIsa::avx));
  BOOST_TEST((openblas_core_isa("Prescott") == VectorIsa::sse));
  BOOST_TEST((openblas_core_isa("Nehalem") == VectorIsa::sse));
  BOOST_TEST((openblas_core_isa("NEOVERSEN1") == VectorIsa::unknown));
  BOOST_TEST((openblas_core_isa("") == VectorIsa::unknown));
}

BOOST_AUTO_TEST_CASE(warns_when_kernels_are_narrower_than_the_cpu) {
  using moerb::VectorIsa;
  using moerb::detail::kernel_warning;
  // Matching, wider (cannot run, so nothing to say) or unknown: no warning.
  BOOST_TEST(kernel_warning(VectorIsa::avx512, VectorIsa::avx512, "SkylakeX", nullptr).empty());
  BOOST_TEST(kernel_warning(VectorIsa::avx2, VectorIsa::avx2, "", nullptr).empty());
  BOOST_TEST(kernel_warning(VectorIsa::unknown, VectorIsa::avx512, "NEOVERSEN1", nullptr).empty());
  BOOST_TEST(kernel_warning(VectorIsa::sse, VectorIsa::unknown, "Prescott", nullptr).empty());

  // An OpenBLAS older than the CPU (0.3.21 on a 2023 Xeon): names the kernels and the remedy.
  const std::string unknown_cpu =
      kernel_warning(VectorIsa::sse, VectorIsa::avx512, "Prescott", nullptr);
  BOOST_TEST_MESSAGE(unknown_cpu);
  BOOST_TEST(unknown_cpu.find("Prescott kernels (SSE)") != std::string::npos);
  BOOST_TEST(unknown_cpu.find("CPU with AVX-512") != std::string::npos);
  BOOST_TEST(unknown_cpu.find("OPENBLAS_CORETYPE") != std::string::npos);
  BOOST_TEST(unknown_cpu.find("SkylakeX") != std::string::npos);
  BOOST_TEST(kernel_warning(VectorIsa::sse, VectorIsa::avx2, "Prescott", nullptr).find("Haswell") !=
             std::string::npos);

  // Kernels forced by the environment: says so.
  const std::string forced =
      kernel_warning(VectorIsa::avx2, VectorIsa::avx512, "Haswell", "Haswell");
  BOOST_TEST(forced.find("OPENBLAS_CORETYPE=Haswell in the environment") != std::string::npos);

  // Eigen compiled for narrower vectors than the CPU has.
  const std::string eigen = kernel_warning(VectorIsa::sse, VectorIsa::avx2, "", nullptr);
  BOOST_TEST(eigen.find("Eigen's kernels use SSE") != std::string::npos);
  BOOST_TEST(eigen.find("-march=native") != std::string::npos);
}

// The engine's kernels can never be wider than the CPU that runs them; whether they are narrower
// depends on the build (CI compiles for x86-64-v2 on AVX-512 machines) and on OpenBLAS.
BOOST_AUTO_TEST_CASE(reads_the_cpu_and_the_kernels) {
  const moerb::VectorIsa cpu = moerb::cpu_vector_isa();
  const moerb::VectorIsa kernels = moerb::gemm_kernel_isa();
  BOOST_TEST_MESSAGE("CPU vectors " << moerb::vector_isa_name(cpu) << ", kernels "
                                    << moerb::vector_isa_name(kernels));
#if defined(__x86_64__)
  BOOST_TEST((cpu >= moerb::VectorIsa::sse));
#endif
  if (kernels != moerb::VectorIsa::unknown) BOOST_TEST((kernels <= cpu));
  const std::string warning = moerb::gemm_engine_kernel_warning();
  BOOST_TEST(warning.empty() == (kernels == moerb::VectorIsa::unknown || kernels >= cpu));
}

BOOST_AUTO_TEST_CASE(layer_products_match_a_plain_loop_in_float) {
  check_layer_products<float>();
}

BOOST_AUTO_TEST_CASE(layer_products_match_a_plain_loop_in_double) {
  check_layer_products<double>();
}

// The MoE layer's experts each run a product on one thread inside a parallel region, on whichever
// thread the schedule picks. That product must be the one a single-threaded run computes, bit for
// bit, so that the layer's results depend on the thread count only. Outside a parallel region the
// engine may use every thread (the dense layer): a different split, equal to float tolerance.
BOOST_AUTO_TEST_CASE(products_inside_a_parallel_region_are_single_threaded_ones) {
  const Index n = 300, d = 128, h = 256;
  const Matrix<float> x = random_matrix<float>(n, d, 5);
  std::vector<Matrix<float>> weights;
  for (std::uint64_t e = 0; e < 4; ++e) weights.push_back(random_matrix<float>(d, h, 10 + e));
  const auto products = [&] {
    std::vector<Matrix<float>> out(weights.size(), Matrix<float>(n, h));
    for (std::size_t e = 0; e < weights.size(); ++e) out[e].noalias() = x * weights[e];
    return out;
  };

  const std::vector<Matrix<float>> all_threads = products();
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Eigen::setNbThreads(1);
#endif
  const std::vector<Matrix<float>> one_thread = products();
#ifdef _OPENMP
  omp_set_num_threads(threads);
  Eigen::setNbThreads(threads);
#endif

  std::vector<Matrix<float>> inside(weights.size(), Matrix<float>(n, h));
  const int count = static_cast<int>(weights.size());
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(2)
#endif
  for (int e = 0; e < count; ++e) {
    const auto se = static_cast<std::size_t>(e);
    inside[se].noalias() = x * weights[se];
  }
  for (std::size_t e = 0; e < weights.size(); ++e) {
    BOOST_TEST_CONTEXT("expert " << e) {
      BOOST_TEST((inside[e].array() == one_thread[e].array()).all());
      BOOST_TEST(max_error(all_threads[e], one_thread[e].cast<double>()) < tolerance<float>());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_gemm_engine
