// Tests for include/moerb/core/parameter.hpp
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/parameter.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_parameter {

namespace {

using moerb::Index;
using moerb::Matrix;
using moerb::Parameter;

/// A linear map with weight and bias: the smallest layer with the uniform parameter interface.
template <class S>
struct TinyLinear {
  using Scalar = S;
  Parameter<S> weight{4, 3};
  Parameter<S> bias{1, 3};

  template <class Visitor>
  void visit_parameters(Visitor&& visit, std::string_view prefix) {
    visit(moerb::join_name(prefix, "weight"), weight);
    visit(moerb::join_name(prefix, "bias"), bias);
  }
};

/// A router and three experts, nested the way MoE layers name their parameters.
struct TinyMoE {
  using Scalar = double;
  TinyLinear<double> router;
  std::vector<TinyLinear<double>> experts = std::vector<TinyLinear<double>>(3);

  template <class Visitor>
  void visit_parameters(Visitor&& visit, std::string_view prefix) {
    router.visit_parameters(visit, moerb::join_name(prefix, "router"));
    const std::string experts_prefix = moerb::join_name(prefix, "experts");
    for (std::size_t e = 0; e < experts.size(); ++e) {
      experts[e].visit_parameters(visit, moerb::join_name(experts_prefix, std::to_string(e)));
    }
  }
};

struct NoScalar {
  template <class Visitor>
  void visit_parameters(Visitor&&, std::string_view) {}
};

std::vector<std::string> names_of(TinyMoE& m) {
  std::vector<std::string> names;
  m.visit_parameters([&](std::string_view name, Parameter<double>&) { names.emplace_back(name); },
                     "");
  return names;
}

std::vector<bool> frozen_flags(TinyMoE& m) {
  std::vector<bool> flags;
  m.visit_parameters([&](std::string_view, Parameter<double>& p) { flags.push_back(p.frozen); },
                     "");
  return flags;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(parameter)

BOOST_AUTO_TEST_CASE(construction_zeroes_value_and_grad) {
  const Parameter<float> empty;
  BOOST_TEST(empty.size() == 0);
  BOOST_TEST(!empty.frozen);

  const Parameter<double> p(3, 5);
  BOOST_TEST(p.value.rows() == 3);
  BOOST_TEST(p.value.cols() == 5);
  BOOST_TEST(p.grad.rows() == 3);
  BOOST_TEST(p.grad.cols() == 5);
  BOOST_TEST(p.size() == 15);
  BOOST_TEST(p.value.isZero(0.0));
  BOOST_TEST(p.grad.isZero(0.0));
  BOOST_TEST(!p.frozen);
}

BOOST_AUTO_TEST_CASE(resize_and_zero_grad) {
  Parameter<double> p(2, 2);
  p.value.setOnes();
  p.grad.setConstant(3.0);
  p.zero_grad();
  BOOST_TEST(p.grad.isZero(0.0));
  BOOST_TEST(p.value.isOnes(0.0));  // zero_grad leaves the value alone

  p.grad.setOnes();
  p.resize(4, 1);
  BOOST_TEST(p.value.rows() == 4);
  BOOST_TEST(p.grad.cols() == 1);
  BOOST_TEST(p.value.isZero(0.0));
  BOOST_TEST(p.grad.isZero(0.0));
}

BOOST_AUTO_TEST_CASE(join_name_builds_dotted_paths) {
  BOOST_TEST(moerb::join_name("", "w_in") == "w_in");
  BOOST_TEST(moerb::join_name("experts", "3") == "experts.3");
  BOOST_TEST(moerb::join_name("experts.3", "w_in") == "experts.3.w_in");
  BOOST_TEST(moerb::join_name(moerb::join_name("", "router"), "weight") == "router.weight");
}

BOOST_AUTO_TEST_CASE(has_parameters_concept) {
  static_assert(moerb::HasParameters<TinyLinear<float>>);
  static_assert(moerb::HasParameters<TinyMoE>);
  static_assert(!moerb::HasParameters<NoScalar>, "a layer must name its Scalar type");
  static_assert(!moerb::HasParameters<Parameter<double>>);
  static_assert(!moerb::HasParameters<int>);
}

BOOST_AUTO_TEST_CASE(visit_gives_hierarchical_names) {
  TinyMoE m;
  const std::vector<std::string> expected = {
      "router.weight",    "router.bias",    "experts.0.weight", "experts.0.bias",
      "experts.1.weight", "experts.1.bias", "experts.2.weight", "experts.2.bias"};
  BOOST_TEST(names_of(m) == expected, boost::test_tools::per_element());

  std::vector<std::string> prefixed;
  m.router.visit_parameters(
      [&](std::string_view name, Parameter<double>&) { prefixed.emplace_back(name); }, "moe.gate");
  BOOST_TEST(prefixed == (std::vector<std::string>{"moe.gate.weight", "moe.gate.bias"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(parameter_count_sums_all_tensors) {
  TinyLinear<float> lin;
  BOOST_TEST(moerb::parameter_count(lin) == 4 * 3 + 3);
  TinyMoE m;
  BOOST_TEST(moerb::parameter_count(m) == 4 * (4 * 3 + 3));
  m.experts.pop_back();
  BOOST_TEST(moerb::parameter_count(m) == 3 * (4 * 3 + 3));
}

BOOST_AUTO_TEST_CASE(zero_grad_clears_every_gradient) {
  TinyMoE m;
  m.visit_parameters(
      [](std::string_view, Parameter<double>& p) {
        p.value.setConstant(2.0);
        p.grad.setConstant(-1.5);
      },
      "");
  moerb::zero_grad(m);
  m.visit_parameters(
      [](std::string_view name, Parameter<double>& p) {
        BOOST_TEST(p.grad.isZero(0.0), name << " still has a gradient");
        BOOST_TEST((p.value.array() == 2.0).all(), name << " value changed");
      },
      "");
}

BOOST_AUTO_TEST_CASE(set_frozen_by_prefix) {
  TinyMoE m;
  BOOST_TEST(moerb::set_frozen(m, "router") == 2);
  BOOST_TEST(
      frozen_flags(m) == (std::vector<bool>{true, true, false, false, false, false, false, false}),
      boost::test_tools::per_element());

  BOOST_TEST(moerb::set_frozen(m, "experts.1") == 2);
  BOOST_TEST(
      frozen_flags(m) == (std::vector<bool>{true, true, false, false, true, true, false, false}),
      boost::test_tools::per_element());

  BOOST_TEST(moerb::set_frozen(m, "router", false) == 2);
  BOOST_TEST(moerb::set_frozen(m, "experts.2.bias") == 1);
  BOOST_TEST(
      frozen_flags(m) == (std::vector<bool>{false, false, false, false, true, true, false, true}),
      boost::test_tools::per_element());

  BOOST_TEST(moerb::set_frozen(m, "no_such_module") == 0);
  // Whole dotted components only: "expert" is not a prefix of "experts.1.w".
  BOOST_TEST(moerb::set_frozen(m, "expert") == 0);
  BOOST_TEST(moerb::set_frozen(m, "router.w") == 0);
  BOOST_TEST(moerb::set_frozen(m, "", false) == 8);  // "" matches everything
  BOOST_TEST(frozen_flags(m) == std::vector<bool>(8, false), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(name_prefix_matches_whole_components) {
  BOOST_TEST(moerb::name_has_prefix("experts.1.w_in", "experts.1"));
  BOOST_TEST(!moerb::name_has_prefix("experts.10.w_in", "experts.1"));
  BOOST_TEST(moerb::name_has_prefix("router.weight", "router.weight"));
  BOOST_TEST(!moerb::name_has_prefix("router_noise.weight", "router"));
  BOOST_TEST(moerb::name_has_prefix("anything", ""));
}

BOOST_AUTO_TEST_CASE(init_uniform_fan_in_stays_within_bound) {
  const Index fan_in = 16;
  const double bound = 1.0 / std::sqrt(double(fan_in));  // 0.25
  moerb::Rng rng(99);
  Parameter<double> p(64, 64);
  p.init_uniform_fan_in(rng, fan_in);
  BOOST_TEST(p.value.maxCoeff() <= bound);
  BOOST_TEST(p.value.minCoeff() >= -bound);
  // 4096 draws cover the interval: both ends are approached and the mean is near 0.
  BOOST_TEST(p.value.maxCoeff() > 0.99 * bound);
  BOOST_TEST(p.value.minCoeff() < -0.99 * bound);
  BOOST_TEST(std::abs(p.value.mean()) < 0.02);
  // Variance of U(-b, b) is b²/3.
  const double var = (p.value.array() - p.value.mean()).square().mean();
  BOOST_TEST(std::abs(var - bound * bound / 3) < 0.1 * bound * bound / 3);
  BOOST_TEST(p.grad.isZero(0.0));

  Parameter<float> q(8, 8);
  moerb::Rng frng(5);
  q.init_uniform_fan_in(frng, 1);  // bound 1
  BOOST_TEST(q.value.cwiseAbs().maxCoeff() <= 1.0f);
  BOOST_TEST(q.value.cwiseAbs().maxCoeff() > 0.0f);
}

BOOST_AUTO_TEST_CASE(init_is_reproducible_from_the_seed) {
  Parameter<double> a(5, 7), b(5, 7), c(5, 7);
  moerb::Rng ra(7), rb(7), rc(8);
  a.init_uniform_fan_in(ra, 7);
  b.init_uniform_fan_in(rb, 7);
  c.init_uniform_fan_in(rc, 7);
  BOOST_TEST((a.value.array() == b.value.array()).all());
  BOOST_TEST(!(a.value.array() == c.value.array()).all());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_parameter
