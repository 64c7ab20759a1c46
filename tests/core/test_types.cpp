// Tests for include/moerb/core/types.hpp
#include <boost/test/unit_test.hpp>
#include <type_traits>

#include "moerb/core/types.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_types {

namespace {

using moerb::Index;
using moerb::Matrix;
using moerb::MatrixCRef;
using moerb::MatrixRef;

// Non-template functions: the boundaries the Ref aliases are meant for.
const double* data_of(MatrixCRef<double> m) {
  return m.data();
}
double sum_of(MatrixCRef<double> m) {
  return m.sum();
}
void scale(MatrixRef<double> m, double s) {
  m *= s;
}

Matrix<double> iota(Index rows, Index cols) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = double(i);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(types)

BOOST_AUTO_TEST_CASE(aliases_have_the_documented_types) {
  static_assert(std::is_same_v<Index, Eigen::Index>);
  static_assert(Matrix<float>::IsRowMajor);
  static_assert(Matrix<double>::IsRowMajor);
  static_assert(moerb::IndexMatrix::IsRowMajor);
  static_assert(std::is_same_v<moerb::IndexMatrix::Scalar, Index>);
  static_assert(moerb::Vector<float>::ColsAtCompileTime == 1);
  static_assert(Matrix<double>::RowsAtCompileTime == Eigen::Dynamic);
  static_assert(Matrix<double>::ColsAtCompileTime == Eigen::Dynamic);
  static_assert(moerb::FloatingScalar<float> && moerb::FloatingScalar<double>);
  static_assert(!moerb::FloatingScalar<int> && !moerb::FloatingScalar<long double>);
  static_assert(!moerb::FloatingScalar<const float>);
}

BOOST_AUTO_TEST_CASE(matrix_is_row_major_in_memory) {
  // One token is one contiguous row: element (r, c) sits at r * cols + c.
  const Matrix<double> m = iota(3, 4);
  for (Index r = 0; r < 3; ++r) {
    for (Index c = 0; c < 4; ++c) BOOST_TEST(m(r, c) == double(r * 4 + c));
  }
  BOOST_TEST(&m(1, 0) == m.data() + 4);
  BOOST_TEST(m.row(2).data() == m.data() + 8);
  BOOST_TEST(m.outerStride() == 4);
}

BOOST_AUTO_TEST_CASE(const_ref_binds_without_copy) {
  const Matrix<double> m = iota(5, 3);
  BOOST_TEST(data_of(m) == m.data());
  // A run of token rows is contiguous.
  BOOST_TEST(data_of(m.middleRows(1, 3)) == &m(1, 0));
  // A sub-block keeps the parent's row stride.
  BOOST_TEST(data_of(m.block(1, 1, 3, 2)) == &m(1, 1));
  const MatrixCRef<double> block = m.block(1, 1, 3, 2);
  BOOST_TEST(block.outerStride() == 3);
  BOOST_TEST(block(2, 1) == m(3, 2));
  BOOST_TEST(sum_of(m.middleRows(1, 2)) == m.middleRows(1, 2).sum());
}

BOOST_AUTO_TEST_CASE(const_ref_accepts_expressions_by_evaluating_them) {
  const Matrix<double> m = iota(2, 3);
  BOOST_TEST(sum_of(m * 2.0) == 2.0 * m.sum());
  // Column-major input is converted into a temporary, with the same values.
  const Eigen::MatrixXd col_major = m;
  BOOST_TEST(data_of(col_major) != col_major.data());
  BOOST_TEST(sum_of(col_major) == m.sum());
}

BOOST_AUTO_TEST_CASE(mutable_ref_writes_through_to_blocks) {
  Matrix<double> m = iota(4, 4);
  const Matrix<double> before = m;
  scale(m.middleRows(2, 2), -1.0);
  BOOST_TEST((m.topRows(2).array() == before.topRows(2).array()).all());
  BOOST_TEST((m.bottomRows(2).array() == -before.bottomRows(2).array()).all());
  scale(m.block(0, 1, 2, 2), 10.0);
  BOOST_TEST(m(0, 1) == 10.0 * before(0, 1));
  BOOST_TEST(m(1, 2) == 10.0 * before(1, 2));
  BOOST_TEST(m(0, 0) == before(0, 0));
  BOOST_TEST(m(0, 3) == before(0, 3));
  // A writable view cannot silently copy: column-major storage does not bind.
  static_assert(!std::is_convertible_v<Eigen::MatrixXd&, MatrixRef<double>>);
  static_assert(std::is_convertible_v<Matrix<double>&, MatrixRef<double>>);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_types
