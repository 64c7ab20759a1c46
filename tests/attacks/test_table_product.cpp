#include "moerb/attacks/detail/table_product.hpp"

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>
#include <cstring>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_table_product {

using namespace moerb;
using namespace moerb::test;
using moerb::detail::attacks::table_block_rows;
using moerb::detail::attacks::times_table_transposed;

namespace {

/// Restores Eigen's and OpenMP's thread counts when a test case ends, also on failure.
struct ThreadCountGuard {
  int saved = Eigen::nbThreads();
#ifdef _OPENMP
  int saved_openmp = omp_get_max_threads();
#endif
  ~ThreadCountGuard() {
    Eigen::setNbThreads(saved);
#ifdef _OPENMP
    omp_set_num_threads(saved_openmp);
#endif
  }
};

/// Sets the thread count as a program does (OMP_NUM_THREADS, which the BLAS engine follows) and
/// as Eigen::setNbThreads does.
void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  Eigen::setNbThreads(n);
}

template <class S>
bool bitwise_equal(const Matrix<S>& a, const Matrix<S>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(S) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(table_product)

BOOST_AUTO_TEST_CASE(every_entry_is_the_dot_product_of_a_row_and_a_word) {
  // Vocabularies below, at and around the block size, and several blocks with a short last one.
  for (const Index vocab : {Index{1}, Index{7}, table_block_rows - 1, table_block_rows,
                            table_block_rows + 1, 3 * table_block_rows + 45}) {
    for (const Index n : {Index{1}, Index{5}}) {
      const Matrix<double> rows = random_matrix(n, 9, 1.0, 11);
      const Matrix<double> table = random_matrix(vocab, 9, 1.0, 12);
      Matrix<double> out;
      times_table_transposed<double>(rows, table, out);
      BOOST_TEST_REQUIRE(out.rows() == n);
      BOOST_TEST_REQUIRE(out.cols() == vocab);
      for (Index i = 0; i < n; ++i) {
        for (Index v = 0; v < vocab; ++v) {
          BOOST_TEST(out(i, v) == rows.row(i).dot(table.row(v)),
                     boost::test_tools::tolerance(1e-12));
        }
      }
    }
  }
  // No rows: an empty result of the right shape.
  Matrix<double> out;
  times_table_transposed<double>(Matrix<double>(0, 9), random_matrix(40, 9, 1.0, 13), out);
  BOOST_TEST(out.rows() == 0);
  BOOST_TEST(out.cols() == 40);
}

BOOST_AUTO_TEST_CASE(the_result_is_the_same_for_any_thread_count) {
  ThreadCountGuard guard;
  const Matrix<float> rows = random_matrix(15, 128, 1.0, 21).cast<float>();
  const Matrix<float> table = random_matrix(5 * table_block_rows + 17, 128, 1.0, 22).cast<float>();
  set_threads(1);
  Matrix<float> one;
  times_table_transposed<float>(rows, table, one);
  set_threads(2);
  Matrix<float> two;
  times_table_transposed<float>(rows, table, two);
  BOOST_TEST(bitwise_equal(one, two));
  // Eigen's count alone set to 1 (the BLAS engine still sees OpenMP's two threads).
  Eigen::setNbThreads(1);
  Matrix<float> eigen_one;
  times_table_transposed<float>(rows, table, eigen_one);
  BOOST_TEST(bitwise_equal(one, eigen_one));
  set_threads(2);
  // Called from a thread of an enclosing parallel region (the attacks' examples on threads).
  Matrix<float> nested;
#ifdef _OPENMP
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    times_table_transposed<float>(rows, table, nested);
  }
#else
  times_table_transposed<float>(rows, table, nested);
#endif
  BOOST_TEST(bitwise_equal(one, nested));
  // A row block of a larger matrix (the router attack's per-sequence rows) gives the same rows.
  const Matrix<float> stacked = random_matrix(40, 128, 1.0, 23).cast<float>();
  Matrix<float> block, copy;
  times_table_transposed<float>(stacked.middleRows(10, 15), table, block);
  times_table_transposed<float>(Matrix<float>(stacked.middleRows(10, 15)), table, copy);
  BOOST_TEST(bitwise_equal(block, copy));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_table_product
