// Tests for include/moerb/kernels/softmax.hpp
//
// Tolerances (SIMD kernel vs the scalar reference in the same precision, eps = machine epsilon):
// softmax 16 eps relative per entry (both compute x − max exactly alike; the difference is the
// exp implementation, ~1 ulp, and the summation order), plus an absolute floor of
// 1024·numeric_limits<S>::min() because xsimd's exp flushes to 0 where libm returns subnormals;
// log-softmax 16 eps·(1 + |y|); logsumexp 8 eps·max(1, |lse|).
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/kernels/softmax.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_kernels_softmax {

namespace {

using moerb::Index;
using moerb::Matrix;
using moerb::Rng;
namespace kernels = moerb::kernels;
namespace ref = moerb::kernels::reference;

using Scalars = boost::mpl::list<float, double>;

template <class S>
constexpr double kEps = std::numeric_limits<S>::epsilon();
template <class S>
constexpr double kFloor = 1024.0 * std::numeric_limits<S>::min();
template <class S>
constexpr S kInf = std::numeric_limits<S>::infinity();

/// Rows exercising the kernels: random logits of several scales, ±1e4, huge spreads, all-equal
/// rows and rows with −inf (masked) entries, for every length 1..67.
template <class S>
std::vector<std::vector<S>> test_rows(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<S>> rows;
  for (Index n = 1; n <= 67; ++n) {
    const auto un = static_cast<std::size_t>(n);
    for (const double scale : {1.0, 10.0, 100.0, 1e4}) {
      std::vector<S> r(un);
      for (auto& v : r) v = static_cast<S>(scale * rng.normal());
      rows.push_back(r);
    }
    rows.emplace_back(un, S(1e4));   // all equal, large
    rows.emplace_back(un, S(-1e4));  // all equal, large negative
    rows.emplace_back(un, S(0));
    std::vector<S> spread(un);  // alternating ±1e4: only the +1e4 entries survive
    for (std::size_t i = 0; i < un; ++i) spread[i] = i % 2 ? S(-1e4) : S(1e4);
    rows.push_back(spread);
    std::vector<S> masked(un);  // about a third masked, never all
    for (std::size_t i = 0; i < un; ++i) {
      masked[i] = (i % 3 == 1) ? -kInf<S> : static_cast<S>(3 * rng.normal());
    }
    rows.push_back(masked);
    std::vector<S> one_left(un, -kInf<S>);  // every entry masked but one
    one_left[static_cast<std::size_t>(rng.uniform_index(un))] = S(2.5);
    rows.push_back(one_left);
  }
  return rows;
}

struct Mismatches {
  int count = 0;
  std::string first;
  template <class S>
  void check(S got, S want, double bound, const std::string& where) {
    const bool ok =
        got == want || std::abs(static_cast<double>(got) - static_cast<double>(want)) <= bound;
    if (!ok) {
      if (count == 0) {
        std::ostringstream os;
        os.precision(17);
        os << where << ": got " << got << ", want " << want << ", bound " << bound;
        first = os.str();
      }
      ++count;
    }
  }
};

template <class S>
bool all_finite(const std::vector<S>& v) {
  for (const S e : v) {
    if (!std::isfinite(e)) return false;
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(softmax)

BOOST_AUTO_TEST_CASE_TEMPLATE(simd_matches_reference, S, Scalars) {
  Mismatches sm, lsm, lse;
  Index row_no = 0;
  for (const auto& x : test_rows<S>(21)) {
    const Index n = static_cast<Index>(x.size());
    std::vector<S> y(x.size()), y_ref(x.size()), l(x.size()), l_ref(x.size());
    kernels::softmax(x.data(), y.data(), n);
    ref::softmax(x.data(), y_ref.data(), n);
    kernels::log_softmax(x.data(), l.data(), n);
    ref::log_softmax(x.data(), l_ref.data(), n);
    const std::string where = "row " + std::to_string(row_no++) + " n=" + std::to_string(n);
    for (Index i = 0; i < n; ++i) {
      const double yr = static_cast<double>(y_ref[i]), lr = static_cast<double>(l_ref[i]);
      sm.check(y[i], y_ref[i], 16 * kEps<S> * yr + kFloor<S>, where + " softmax");
      lsm.check(l[i], l_ref[i], 16 * kEps<S> * (1 + std::abs(lr)), where + " log_softmax");
    }
    const S a = kernels::logsumexp(x.data(), n), b = ref::logsumexp(x.data(), n);
    lse.check(a, b, 8 * kEps<S> * std::max(1.0, std::abs(static_cast<double>(b))),
              where + " logsumexp");
  }
  BOOST_TEST(sm.count == 0, sm.count << " softmax mismatches, first " << sm.first);
  BOOST_TEST(lsm.count == 0, lsm.count << " log_softmax mismatches, first " << lsm.first);
  BOOST_TEST(lse.count == 0, lse.count << " logsumexp mismatches, first " << lse.first);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rows_are_distributions, S, Scalars) {
  for (const auto& x : test_rows<S>(22)) {
    const Index n = static_cast<Index>(x.size());
    std::vector<S> y(x.size());
    kernels::softmax(x.data(), y.data(), n);
    BOOST_TEST_REQUIRE(all_finite(y));
    double sum = 0;
    for (Index i = 0; i < n; ++i) {
      BOOST_TEST(y[i] >= S(0));
      BOOST_TEST(y[i] <= S(1));
      if (x[i] == -kInf<S>) BOOST_TEST(y[i] == S(0));
      sum += static_cast<double>(y[i]);
    }
    BOOST_TEST(std::abs(sum - 1.0) <= 4 * kEps<S> * static_cast<double>(n + 1),
               "n = " << n << ": sum " << sum);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(log_softmax_is_log_of_softmax, S, Scalars) {
  for (const auto& x : test_rows<S>(23)) {
    const Index n = static_cast<Index>(x.size());
    std::vector<S> y(x.size()), l(x.size());
    kernels::softmax(x.data(), y.data(), n);
    kernels::log_softmax(x.data(), l.data(), n);
    const S lse = kernels::logsumexp(x.data(), n);
    for (Index i = 0; i < n; ++i) {
      if (x[i] == -kInf<S>) {
        BOOST_TEST(l[i] == -kInf<S>);
        continue;
      }
      BOOST_TEST(std::isfinite(l[i]));
      BOOST_TEST(l[i] <= S(0));
      // log_softmax = x − logsumexp up to the rounding of the larger of the two terms.
      const double scale = std::max(std::abs(static_cast<double>(x[i])), std::abs(double(lse)));
      BOOST_TEST(std::abs(static_cast<double>(l[i]) - (static_cast<double>(x[i]) - lse)) <=
                 8 * kEps<S> * (1 + scale));
      if (y[i] > std::numeric_limits<S>::min()) {  // log(y) is accurate where y is normal
        BOOST_TEST(std::abs(std::log(static_cast<double>(y[i])) - static_cast<double>(l[i])) <=
                       32 * kEps<S> * (1 + std::abs(static_cast<double>(l[i]))),
                   "n = " << n << " i = " << i << ": log(softmax) " << std::log(double(y[i]))
                          << ", log_softmax " << l[i]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(exact_cases, S, Scalars) {
  for (Index n = 1; n <= 67; ++n) {
    const auto un = static_cast<std::size_t>(n);
    // Equal logits of any size: uniform, and logsumexp = c + log n.
    for (const S c : {S(0), S(1e4), S(-1e4), S(-3.25)}) {
      const std::vector<S> x(un, c);
      std::vector<S> y(un), l(un);
      kernels::softmax(x.data(), y.data(), n);
      kernels::log_softmax(x.data(), l.data(), n);
      for (Index i = 0; i < n; ++i) {
        BOOST_TEST(std::abs(y[i] - S(1) / static_cast<S>(n)) <= 2 * kEps<S> / double(n));
        BOOST_TEST(std::abs(l[i] + std::log(static_cast<S>(n))) <= 4 * kEps<S> * (1 + std::log(n)));
      }
      const double lse = static_cast<double>(kernels::logsumexp(x.data(), n));
      const double want = static_cast<double>(c) + std::log(static_cast<double>(n));
      BOOST_TEST(std::abs(lse - want) <= 4 * kEps<S> * std::max(1.0, std::abs(want)));
    }
    // One live entry among −inf: exactly one-hot, log-softmax 0 there, logsumexp = that entry.
    std::vector<S> x(un, -kInf<S>), y(un), l(un);
    const Index hot = (5 * n) / 7;
    x[static_cast<std::size_t>(hot)] = S(-1e4);
    kernels::softmax(x.data(), y.data(), n);
    kernels::log_softmax(x.data(), l.data(), n);
    for (Index i = 0; i < n; ++i) {
      BOOST_TEST(y[i] == (i == hot ? S(1) : S(0)));
      BOOST_TEST(l[i] == (i == hot ? S(0) : -kInf<S>));
    }
    BOOST_TEST(kernels::logsumexp(x.data(), n) == S(-1e4));
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(shift_invariance, S, Scalars) {
  // softmax(x + c) = softmax(x) and logsumexp(x + c) = logsumexp(x) + c, with c = ±1e4.
  Rng rng(24);
  for (Index n = 1; n <= 67; n += 3) {
    std::vector<S> x(static_cast<std::size_t>(n));
    for (auto& v : x) v = static_cast<S>(std::round(8 * rng.normal()));  // exact under the shift
    for (const S c : {S(1e4), S(-1e4)}) {
      std::vector<S> xs(x.size()), y(x.size()), ys(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) xs[i] = x[i] + c;
      kernels::softmax(x.data(), y.data(), n);
      kernels::softmax(xs.data(), ys.data(), n);
      BOOST_TEST(ys == y, boost::test_tools::per_element());  // x − max is identical
      const double a = static_cast<double>(kernels::logsumexp(xs.data(), n));
      const double b =
          static_cast<double>(kernels::logsumexp(x.data(), n)) + static_cast<double>(c);
      BOOST_TEST(std::abs(a - b) <= 8 * kEps<S> * std::abs(b));
    }
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(all_masked_row_is_nan_free, S, Scalars) {
  // Not a valid input (documented), but the result must not be NaN: uniform / −log n / −inf.
  for (Index n = 1; n <= 19; ++n) {
    const auto un = static_cast<std::size_t>(n);
    const std::vector<S> x(un, -kInf<S>);
    std::vector<S> y(un), l(un), y_ref(un), l_ref(un);
    kernels::softmax(x.data(), y.data(), n);
    kernels::log_softmax(x.data(), l.data(), n);
    ref::softmax(x.data(), y_ref.data(), n);
    ref::log_softmax(x.data(), l_ref.data(), n);
    for (Index i = 0; i < n; ++i) {
      BOOST_TEST(y[i] == S(1) / static_cast<S>(n));
      BOOST_TEST(l[i] == -std::log(static_cast<S>(n)));
      BOOST_TEST(y_ref[i] == y[i]);
      BOOST_TEST(l_ref[i] == l[i]);
    }
    BOOST_TEST(kernels::logsumexp(x.data(), n) == -kInf<S>);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(empty_row, S, Scalars) {
  S x = S(1), y = S(5);
  kernels::softmax(&x, &y, 0);
  kernels::log_softmax(&x, &y, 0);
  BOOST_TEST(y == S(5));
  BOOST_TEST(kernels::logsumexp(&x, 0) == -kInf<S>);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(in_place_matches_out_of_place, S, Scalars) {
  for (const auto& x : test_rows<S>(25)) {
    const Index n = static_cast<Index>(x.size());
    std::vector<S> y(x.size()), l(x.size()), y_in = x, l_in = x;
    kernels::softmax(x.data(), y.data(), n);
    kernels::softmax(y_in.data(), y_in.data(), n);
    kernels::log_softmax(x.data(), l.data(), n);
    kernels::log_softmax(l_in.data(), l_in.data(), n);
    BOOST_TEST(y_in == y, boost::test_tools::per_element());
    BOOST_TEST(l_in == l, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rows_helpers, S, Scalars) {
  Rng rng(26);
  for (const Index cols : {Index(1), Index(7), Index(8), Index(64), Index(67)}) {
    Matrix<S> in(13, cols);
    for (Index i = 0; i < in.size(); ++i) in.data()[i] = static_cast<S>(5 * rng.normal());
    in(3, 0) = -kInf<S>;
    Matrix<S> out, lout;
    kernels::softmax_rows(in, out);
    kernels::log_softmax_rows(in, lout);
    BOOST_TEST_REQUIRE(out.rows() == in.rows());
    BOOST_TEST_REQUIRE(out.cols() == cols);
    BOOST_TEST_REQUIRE(lout.rows() == in.rows());
    BOOST_TEST_REQUIRE(lout.cols() == cols);
    std::vector<S> y(static_cast<std::size_t>(cols));
    for (Index r = 0; r < in.rows(); ++r) {
      kernels::softmax(in.row(r).data(), y.data(), cols);
      for (Index c = 0; c < cols; ++c) BOOST_TEST(out(r, c) == y[c]);
      kernels::log_softmax(in.row(r).data(), y.data(), cols);
      for (Index c = 0; c < cols; ++c) BOOST_TEST(lout(r, c) == y[c]);
    }
    // Same shape again: the existing storage is reused (no reallocation).
    const S* storage = out.data();
    const S* lstorage = lout.data();
    kernels::softmax_rows(in, out);
    kernels::log_softmax_rows(in, lout);
    BOOST_TEST(out.data() == storage);
    BOOST_TEST(lout.data() == lstorage);
    // In place.
    Matrix<S> inplace = in;
    kernels::softmax_rows(inplace, inplace);
    BOOST_TEST((inplace == out));
    // A differently shaped out is resized.
    Matrix<S> wrong(2, 3);
    kernels::softmax_rows(in, wrong);
    BOOST_TEST((wrong == out));
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_kernels_softmax
