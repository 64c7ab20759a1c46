// Tests for include/moerb/core/error.hpp
#include <boost/test/unit_test.hpp>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/core/error.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_error {

namespace {

using moerb::Index;
using moerb::Matrix;

/// Runs `f`, which must throw moerb::error, and returns the message.
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const moerb::error& e) {
    return e.what();
  }
  BOOST_FAIL("expected moerb::error, nothing was thrown");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(error_is_an_invalid_argument) {
  static_assert(std::is_base_of_v<std::invalid_argument, moerb::error>);
  try {
    throw moerb::error("Layer::forward: x is wrong");
  } catch (const std::logic_error& e) {
    BOOST_TEST(std::string(e.what()) == "Layer::forward: x is wrong");
  }
  // Every helper throws the same type, so one catch clause handles all of moerb's input checks.
  BOOST_CHECK_THROW(moerb::require_positive(0, "f", "k"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(require_concatenates_the_message) {
  BOOST_CHECK_NO_THROW(MOERB_REQUIRE(true, "never ", 1));
  const std::string msg = message_of([] { MOERB_REQUIRE(false, "Router: k = ", 9, " > ", 8); });
  BOOST_TEST(msg == "Router: k = 9 > 8");
}

BOOST_AUTO_TEST_CASE(require_evaluates_its_message_only_when_the_check_fails) {
  // The message may index what the condition guards: on the success path it must not run at all.
  const std::vector<int> empty;
  int evaluations = 0;
  const auto counted = [&] {
    ++evaluations;
    return "counted";
  };
  BOOST_CHECK_NO_THROW(MOERB_REQUIRE(empty.empty(), "first is ", empty[0], counted()));
  BOOST_TEST(evaluations == 0);
  const std::string msg = message_of([&] { MOERB_REQUIRE(false, counted(), " ", 1.5); });
  BOOST_TEST(evaluations == 1);
  BOOST_TEST(msg == "counted 1.5");
}

BOOST_AUTO_TEST_CASE(require_shape_names_where_what_expected_actual) {
  const Matrix<double> x = Matrix<double>::Zero(2, 3);
  BOOST_CHECK_NO_THROW(moerb::require_shape(x, 2, 3, "MoELayer::forward", "x"));
  const std::string msg =
      message_of([&] { moerb::require_shape(x, 4, 5, "MoELayer::forward", "x"); });
  BOOST_TEST(msg == "MoELayer::forward: x has shape 2×3, expected 4×5");
  // Only the rows, or only the columns, wrong.
  BOOST_CHECK_THROW(moerb::require_shape(x, 3, 3, "f", "x"), moerb::error);
  BOOST_CHECK_THROW(moerb::require_shape(x, 2, 4, "f", "x"), moerb::error);
  // Works on blocks and expressions, not only on plain matrices.
  BOOST_CHECK_NO_THROW(moerb::require_shape(x.topRows(1), 1, 3, "f", "x.top"));
  BOOST_CHECK_THROW(moerb::require_shape(x.transpose(), 2, 3, "f", "xᵀ"), moerb::error);
}

BOOST_AUTO_TEST_CASE(require_cols_names_where_what_expected_actual) {
  const Matrix<float> w = Matrix<float>::Zero(4, 3);
  BOOST_CHECK_NO_THROW(moerb::require_cols(w, 3, "Gate::forward", "x"));
  const std::string msg = message_of([&] { moerb::require_cols(w, 8, "Gate::forward", "x"); });
  BOOST_TEST(msg == "Gate::forward: x has 3 columns (shape 4×3), expected 8");
}

BOOST_AUTO_TEST_CASE(require_finite_accepts_finite_values) {
  Matrix<double> x(3, 4);
  x.setConstant(std::numeric_limits<double>::max());
  x(0, 0) = std::numeric_limits<double>::denorm_min();
  x(1, 1) = -std::numeric_limits<double>::max();
  BOOST_CHECK_NO_THROW(moerb::require_finite(x, "f", "x"));
  BOOST_CHECK_NO_THROW(moerb::require_finite(Matrix<double>(0, 5), "f", "empty"));
}

BOOST_AUTO_TEST_CASE(require_finite_reports_nan_with_position) {
  Matrix<double> x = Matrix<double>::Ones(3, 4);
  x(2, 1) = kNaN;
  const std::string msg = message_of([&] { moerb::require_finite(x, "Expert::forward", "x"); });
  BOOST_TEST(contains(msg, "Expert::forward: x(2, 1) is "), msg);
  BOOST_TEST(contains(msg, "nan"), msg);
  BOOST_TEST(contains(msg, "expected a finite value"), msg);
}

BOOST_AUTO_TEST_CASE(require_finite_reports_inf_with_position) {
  Matrix<float> x = Matrix<float>::Ones(2, 5);
  x(1, 4) = -std::numeric_limits<float>::infinity();
  const std::string msg = message_of([&] { moerb::require_finite(x, "f", "logits"); });
  BOOST_TEST(msg == "f: logits(1, 4) is -inf, expected a finite value");
  x(1, 4) = std::numeric_limits<float>::infinity();
  BOOST_TEST(message_of([&] { moerb::require_finite(x, "f", "logits"); }) ==
             "f: logits(1, 4) is inf, expected a finite value");
}

BOOST_AUTO_TEST_CASE(require_finite_reports_the_first_offender_in_row_order) {
  Matrix<double> x = Matrix<double>::Zero(4, 4);
  x(3, 0) = kNaN;
  x(1, 3) = kInf;
  x(2, 2) = kNaN;
  const std::string msg = message_of([&] { moerb::require_finite(x, "f", "x"); });
  BOOST_TEST(contains(msg, "x(1, 3) is inf"), msg);
  // Positions are relative to the block that was checked.
  const std::string block_msg =
      message_of([&] { moerb::require_finite(x.bottomRows(2), "f", "tail"); });
  BOOST_TEST(contains(block_msg, "tail(0, 2) is "), block_msg);
}

BOOST_AUTO_TEST_CASE(require_positive_bounds) {
  BOOST_CHECK_NO_THROW(moerb::require_positive(1, "f", "k"));
  BOOST_CHECK_NO_THROW(moerb::require_positive(1e-300, "f", "eps"));
  BOOST_TEST(message_of([] { moerb::require_positive(0, "TopK", "k"); }) ==
             "TopK: k = 0, expected > 0");
  BOOST_TEST(message_of([] { moerb::require_positive(Index(-3), "Layer", "experts"); }) ==
             "Layer: experts = -3, expected > 0");
  BOOST_CHECK_THROW(moerb::require_positive(kNaN, "f", "scale"), moerb::error);
  BOOST_CHECK_THROW(moerb::require_positive(-0.0, "f", "scale"), moerb::error);
}

BOOST_AUTO_TEST_CASE(require_in_range_is_inclusive) {
  BOOST_CHECK_NO_THROW(moerb::require_in_range(1, 1, 8, "f", "k"));
  BOOST_CHECK_NO_THROW(moerb::require_in_range(8, 1, 8, "f", "k"));
  BOOST_TEST(message_of([] { moerb::require_in_range(9, 1, 8, "Router", "k"); }) ==
             "Router: k = 9, expected in [1, 8]");
  BOOST_TEST(message_of([] { moerb::require_in_range(0, 1, 8, "Router", "k"); }) ==
             "Router: k = 0, expected in [1, 8]");
  BOOST_CHECK_THROW(moerb::require_in_range(kNaN, 0.0, 1.0, "f", "p"), moerb::error);
}

BOOST_AUTO_TEST_CASE(require_rate_is_half_open) {
  BOOST_CHECK_NO_THROW(moerb::require_rate(0.0, "f", "p"));
  BOOST_CHECK_NO_THROW(moerb::require_rate(0.999f, "f", "p"));
  BOOST_TEST(message_of([] { moerb::require_rate(1.0, "Dropout", "p"); }) ==
             "Dropout: p = 1, expected in [0, 1)");
  BOOST_TEST(message_of([] { moerb::require_rate(-0.25, "Dropout", "p"); }) ==
             "Dropout: p = -0.25, expected in [0, 1)");
  BOOST_CHECK_THROW(moerb::require_rate(kNaN, "f", "p"), moerb::error);
  BOOST_CHECK_THROW(moerb::require_rate(kInf, "f", "p"), moerb::error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_error
