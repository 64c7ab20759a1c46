// Tests for include/moerb/metrics/count_matrix.hpp
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <type_traits>

#include "moerb/metrics/count_matrix.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_count_matrix {

BOOST_AUTO_TEST_SUITE(count_matrix)

BOOST_AUTO_TEST_CASE(is_a_row_major_matrix_of_64_bit_counts) {
  static_assert(std::is_same_v<moerb::CountMatrix::Scalar, std::int64_t>);
  static_assert(moerb::CountMatrix::IsRowMajor);
  moerb::CountMatrix m = moerb::CountMatrix::Zero(2, 3);
  m(1, 2) = 5;
  BOOST_TEST(m.data()[5] == 5);  // row-major: (1, 2) is the last entry
}

BOOST_AUTO_TEST_CASE(adding_shards_is_exact_beyond_double_precision) {
  // 2^53 + 1 is not representable in double; integer counts merge exactly.
  moerb::CountMatrix a = moerb::CountMatrix::Constant(1, 1, std::int64_t{1} << 53);
  const moerb::CountMatrix b = moerb::CountMatrix::Ones(1, 1);
  a += b;
  BOOST_TEST(a(0, 0) == (std::int64_t{1} << 53) + 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_count_matrix
