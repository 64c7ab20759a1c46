// Tests for include/moerb/kernels/topk.hpp
//
// Top-k is exact: every strategy must return exactly the first k elements under "value
// descending, then index ascending" (checked against std::partial_sort with that order and
// against the scalar reference), with val bit-identical to the input's entries.
#include <algorithm>
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"
#include "moerb/kernels/topk.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_kernels_topk {

namespace {

using moerb::Index;
using moerb::IndexMatrix;
using moerb::Matrix;
using moerb::Rng;
namespace kernels = moerb::kernels;

using Scalars = boost::mpl::list<float, double>;

template <class S>
constexpr S kInf = std::numeric_limits<S>::infinity();

template <class S>
using TopkFn = std::function<void(const S*, Index, Index, Index*, S*)>;

/// The strategies under test: the public dispatcher, each SIMD strategy on its own, the reference.
template <class S>
std::vector<std::pair<std::string, TopkFn<S>>> strategies() {
  std::vector<std::pair<std::string, TopkFn<S>>> s;
  s.emplace_back(
      "topk", [](const S* x, Index n, Index k, Index* i, S* v) { kernels::topk(x, n, k, i, v); });
#if MOERB_KERNELS_SIMD
  if constexpr (kernels::detail::simd_enabled<S>) {
    s.emplace_back("selection", [](const S* x, Index n, Index k, Index* i, S* v) {
      kernels::detail::topk_by_selection(x, n, k, i, v);
    });
    s.emplace_back("threshold", [](const S* x, Index n, Index k, Index* i, S* v) {
      kernels::detail::topk_by_threshold(x, n, k, i, v);
    });
  }
#endif
  s.emplace_back("reference", [](const S* x, Index n, Index k, Index* i, S* v) {
    kernels::reference::topk(x, n, k, i, v);
  });
  return s;
}

/// The expected indices: std::partial_sort with (value descending, index ascending).
template <class S>
std::vector<Index> expected_indices(const std::vector<S>& x, Index k) {
  std::vector<Index> order(x.size());
  std::iota(order.begin(), order.end(), Index(0));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](Index a, Index b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
  order.resize(static_cast<std::size_t>(k));
  return order;
}

/// Row families: random, many ties, ±inf, signed zeros, sorted either way, large magnitudes.
template <class S>
std::vector<std::vector<S>> test_rows(Index n, Rng& rng) {
  const auto un = static_cast<std::size_t>(n);
  std::vector<std::vector<S>> rows;
  std::vector<S> r(un);
  for (auto& v : r) v = static_cast<S>(rng.normal());
  rows.push_back(r);
  for (auto& v : r) v = static_cast<S>(rng.uniform_index(3));  // many ties
  rows.push_back(r);
  rows.emplace_back(un, S(0.25));         // all equal
  for (std::size_t i = 0; i < un; ++i) {  // masked entries, often more than n − k of them
    r[i] = rng.bernoulli(0.6) ? -kInf<S> : static_cast<S>(rng.normal());
  }
  rows.push_back(r);
  rows.emplace_back(un, -kInf<S>);        // all masked
  for (std::size_t i = 0; i < un; ++i) {  // +inf ties and −inf
    const auto u = rng.uniform_index(4);
    r[i] = u == 0 ? kInf<S> : u == 1 ? -kInf<S> : static_cast<S>(rng.normal());
  }
  rows.push_back(r);
  for (std::size_t i = 0; i < un; ++i) r[i] = rng.bernoulli(0.5) ? S(-0.0) : S(0.0);
  rows.push_back(r);
  for (std::size_t i = 0; i < un; ++i) r[i] = static_cast<S>(i);  // ascending
  rows.push_back(r);
  for (std::size_t i = 0; i < un; ++i) r[i] = static_cast<S>(n - static_cast<Index>(i));
  rows.push_back(r);
  for (auto& v : r)
    v = static_cast<S>(rng.bernoulli(0.5) ? 1e4 : -1e4) + static_cast<S>(rng.uniform_index(2));
  rows.push_back(r);
  for (auto& v : r) {
    v = rng.bernoulli(0.5) ? std::numeric_limits<S>::max() : std::numeric_limits<S>::lowest();
  }
  rows.push_back(r);
  return rows;
}

std::vector<Index> ks_for(Index n) {
  std::vector<Index> ks;
  for (Index k = 1; k <= std::min<Index>(n, 8); ++k) ks.push_back(k);
  for (const Index k :
       {n / 2, n - 1, n, Index(15), Index(16), Index(17), Index(24), Index(64), Index(256)}) {
    if (k > 8 && k <= n) ks.push_back(k);
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

struct Failures {
  int count = 0;
  std::string first;
  void add(const std::string& what) {
    if (count++ == 0) first = what;
  }
};

template <class S>
void check_row(const std::string& name, const TopkFn<S>& fn, const std::vector<S>& x, Index k,
               Failures& f) {
  const Index n = static_cast<Index>(x.size());
  const std::vector<Index> want = expected_indices(x, k);
  std::vector<Index> idx(static_cast<std::size_t>(k), -1);
  std::vector<S> val(static_cast<std::size_t>(k), S(-7));
  fn(x.data(), n, k, idx.data(), val.data());
  for (Index j = 0; j < k; ++j) {
    const Index w = want[static_cast<std::size_t>(j)];
    const bool ok = idx[j] == w && val[j] == x[w] && std::signbit(val[j]) == std::signbit(x[w]);
    if (!ok) {
      std::ostringstream os;
      os << name << " n=" << n << " k=" << k << " j=" << j << ": got (" << idx[j] << ", " << val[j]
         << "), want (" << w << ", " << x[w] << ")";
      f.add(os.str());
      return;
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(topk)

BOOST_AUTO_TEST_CASE_TEMPLATE(all_strategies_match_partial_sort, S, Scalars) {
  Rng rng(31);
  std::vector<Index> lengths;
  for (Index n = 1; n <= 67; ++n) lengths.push_back(n);
  // Longer rows as in expert-choice routing (n = tokens, k = capacity).
  for (const Index n : {Index(96), Index(128), Index(255), Index(256), Index(1000), Index(2048)}) {
    lengths.push_back(n);
  }
  for (const auto& [name, fn] : strategies<S>()) {
    Failures f;
    int checked = 0;
    for (const Index n : lengths) {
      for (const auto& x : test_rows<S>(n, rng)) {
        for (const Index k : ks_for(n)) {
          if (name == "reference" && n * k * k > 4'000'000) continue;  // O(n·k²)
          check_row(name, fn, x, k, f);
          ++checked;
        }
      }
    }
    BOOST_TEST(f.count == 0,
               name << ": " << f.count << " of " << checked << " rows wrong, first: " << f.first);
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(ties_go_to_the_lower_index, S, Scalars) {
  for (const auto& [name, fn] : strategies<S>()) {
    for (const Index n : {Index(1), Index(3), Index(8), Index(9), Index(64), Index(67)}) {
      const std::vector<S> x(static_cast<std::size_t>(n), S(0));  // zero-initialised router
      for (const Index k : ks_for(n)) {
        std::vector<Index> idx(static_cast<std::size_t>(k));
        std::vector<S> val(static_cast<std::size_t>(k));
        fn(x.data(), n, k, idx.data(), val.data());
        for (Index j = 0; j < k; ++j) {
          BOOST_TEST(idx[j] == j, name << " n=" << n << " k=" << k);
          BOOST_TEST(val[j] == S(0));
        }
      }
    }
    // A tie between the best two: the lower index first, then the rest by value.
    const std::vector<S> x = {S(1), S(5), S(2), S(5), S(-1), S(5), S(2)};
    std::vector<Index> idx(6);
    std::vector<S> val(6);
    fn(x.data(), 7, 6, idx.data(), val.data());
    const std::vector<Index> want = {1, 3, 5, 2, 6, 0};
    BOOST_TEST(idx == want, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE_TEMPLATE(rows_helper, S, Scalars) {
  Rng rng(32);
  Matrix<S> in(11, 64);
  for (Index i = 0; i < in.size(); ++i) in.data()[i] = static_cast<S>(rng.normal());
  in.row(4).setConstant(S(2));
  for (const Index k : {Index(1), Index(2), Index(8), Index(64)}) {
    IndexMatrix idx;
    Matrix<S> val;
    kernels::topk_rows(in, k, idx, val);
    BOOST_TEST_REQUIRE(idx.rows() == in.rows());
    BOOST_TEST_REQUIRE(idx.cols() == k);
    BOOST_TEST_REQUIRE(val.rows() == in.rows());
    BOOST_TEST_REQUIRE(val.cols() == k);
    for (Index r = 0; r < in.rows(); ++r) {
      const std::vector<S> row(in.row(r).data(), in.row(r).data() + in.cols());
      const std::vector<Index> want = expected_indices(row, k);
      for (Index j = 0; j < k; ++j) {
        BOOST_TEST(idx(r, j) == want[static_cast<std::size_t>(j)], "row " << r << " k " << k);
        BOOST_TEST(val(r, j) == in(r, idx(r, j)));
      }
    }
    // Same shape again: storage reused.
    const Index* idx_storage = idx.data();
    const S* val_storage = val.data();
    kernels::topk_rows(in, k, idx, val);
    BOOST_TEST(idx.data() == idx_storage);
    BOOST_TEST(val.data() == val_storage);
  }
}

BOOST_AUTO_TEST_CASE(invalid_k_is_rejected) {
  Matrix<float> in = Matrix<float>::Zero(3, 4);
  IndexMatrix idx;
  Matrix<float> val;
  BOOST_CHECK_THROW(kernels::topk_rows(in, 0, idx, val), moerb::error);
  BOOST_CHECK_THROW(kernels::topk_rows(in, 5, idx, val), moerb::error);
  const float x[4] = {1, 2, 3, 4};
  Index i[5];
  float v[5];
  BOOST_CHECK_THROW(kernels::topk(x, 4, 5, i, v), moerb::error);
  BOOST_CHECK_THROW(kernels::topk(x, 4, 0, i, v), moerb::error);
  BOOST_CHECK_THROW(kernels::topk(x, 0, 1, i, v), moerb::error);
  try {
    kernels::topk_rows(in, 5, idx, val);
  } catch (const moerb::error& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("k = 5") != std::string::npos, what);
    BOOST_TEST(what.find("4") != std::string::npos, what);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_kernels_topk
