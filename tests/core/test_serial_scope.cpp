// Tests for include/moerb/core/detail/serial_scope.hpp
#include "moerb/core/detail/serial_scope.hpp"

#include <Eigen/Core>
#include <boost/test/unit_test.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_serial_scope {

using moerb::Index;
using moerb::detail::SerialScope;
using moerb::detail::small_forward;

BOOST_AUTO_TEST_SUITE(serial_scope)

BOOST_AUTO_TEST_CASE(small_means_below_two_to_the_eighteen_token_width_squared_products) {
  BOOST_TEST(small_forward(1, 128));
  BOOST_TEST(small_forward(15, 128));  // one sequence being scored, a generated token
  BOOST_TEST(!small_forward(16, 128));
  BOOST_TEST(!small_forward(1, 512));
  BOOST_TEST(small_forward(0, 4096));
}

#ifdef _OPENMP

BOOST_AUTO_TEST_CASE(an_active_scope_runs_parallel_regions_on_the_calling_thread) {
  const int outside = omp_get_max_threads();
  omp_set_num_threads(2);
  {
    const SerialScope serial(true);
    BOOST_TEST(omp_get_max_threads() == 1);
    BOOST_TEST(Eigen::nbThreads() == 1);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
      team = omp_get_num_threads();
    }
    BOOST_TEST(team == 1);
    {
      // Nested scopes restore what the enclosing one set.
      const SerialScope inner(true);
      BOOST_TEST(omp_get_max_threads() == 1);
    }
    BOOST_TEST(omp_get_max_threads() == 1);
  }
  BOOST_TEST(omp_get_max_threads() == 2);
  {
    const SerialScope idle(false);
    BOOST_TEST(omp_get_max_threads() == 2);
  }
  BOOST_TEST(omp_get_max_threads() == 2);
  omp_set_num_threads(outside);
}

BOOST_AUTO_TEST_CASE(the_setting_is_the_calling_threads_own) {
  const int outside = omp_get_max_threads();
  omp_set_num_threads(2);
  int seen_by_other = 0;
  // Two threads; the one that opens a scope does not change what the other sees.
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 0) {
      const SerialScope serial(true);
#pragma omp barrier
#pragma omp barrier
    } else {
#pragma omp barrier
      seen_by_other = omp_get_max_threads();
#pragma omp barrier
    }
  }
  BOOST_TEST(seen_by_other != 1);
  BOOST_TEST(omp_get_max_threads() == 2);
  omp_set_num_threads(outside);
}

#endif

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_serial_scope
