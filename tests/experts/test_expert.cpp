// Tests for include/moerb/experts/expert.hpp: which types model moerb::Expert, and the contract
// every shipped expert keeps (checked generically, so a new expert type is one line below).
#include <boost/test/unit_test.hpp>
#include <string_view>

#include "moerb/experts/expert.hpp"
#include "moerb/experts/ffn_expert.hpp"
#include "moerb/experts/gated_expert.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_experts_expert {

using moerb::Expert;
using moerb::ForwardContext;
using moerb::Index;
using moerb::Rng;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

// A user-defined expert: y = x·W (the smallest thing that models the concept).
struct LinearExpert {
  using Scalar = double;
  struct Options {
    Index d = 0;
  };
  explicit LinearExpert(const Options& o) : w(o.d, o.d) {}
  Index input_dim() const { return w.value.rows(); }
  Index output_dim() const { return w.value.cols(); }
  Index hidden_dim() const { return 0; }
  double flops_per_token() const { return 2.0 * static_cast<double>(w.size()); }
  void initialize(Rng& rng) { w.init_uniform_fan_in(rng, input_dim()); }
  void forward(moerb::MatrixCRef<double> in, moerb::MatrixRef<double> out, const ForwardContext&) {
    out.noalias() = in * w.value;
  }
  void backward(moerb::MatrixCRef<double> in, moerb::MatrixCRef<double> d_out,
                moerb::MatrixRef<double> d_in) {
    if (!w.frozen) w.grad.noalias() += in.transpose() * d_out;
    d_in.noalias() = d_out * w.value.transpose();
  }
  template <class V>
  void visit_parameters(V&& v, std::string_view prefix) {
    v(std::string_view(moerb::join_name(prefix, "w")), w);
  }
  moerb::Parameter<double> w;
};

struct NoBackward {
  using Scalar = double;
  struct Options {};
  Index input_dim() const { return 1; }
  Index output_dim() const { return 1; }
  Index hidden_dim() const { return 1; }
  double flops_per_token() const { return 0; }
  void initialize(Rng&) {}
  void forward(moerb::MatrixCRef<double>, moerb::MatrixRef<double>, const ForwardContext&) {}
  template <class V>
  void visit_parameters(V&&, std::string_view) {}
};

struct IntegerScalar : LinearExpert {
  using Scalar = int;
};

// The contract of moerb::Expert, for any expert type and options.
template <class X>
void check_contract(const typename X::Options& options) {
  X expert(options);
  Rng init(1);
  expert.initialize(init);
  const Index n = 7;
  Rng rng(2);
  Matrix<double> x(n, expert.input_dim()), dy(n, expert.output_dim());
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1);
  for (Index i = 0; i < dy.size(); ++i) dy.data()[i] = rng.uniform(-1, 1);
  Matrix<double> y = Matrix<double>::Constant(n, expert.output_dim(), 1e30);
  expert.forward(x, y, ForwardContext{});
  BOOST_TEST(y.allFinite(), "forward must write every entry of out");

  // d_in is overwritten (garbage before does not matter), parameter gradients accumulate.
  Matrix<double> d_in1 = Matrix<double>::Constant(n, expert.input_dim(), 1e30);
  Matrix<double> d_in2 = Matrix<double>::Constant(n, expert.input_dim(), -7.0);
  moerb::zero_grad(expert);
  expert.backward(x, dy, d_in1);
  std::vector<Matrix<double>> first;
  expert.visit_parameters([&](std::string_view, auto& p) { first.push_back(p.grad); }, "");
  expert.backward(x, dy, d_in2);
  BOOST_TEST((d_in1 == d_in2));
  std::size_t i = 0;
  expert.visit_parameters(
      [&](std::string_view name, auto& p) {
        BOOST_TEST((p.grad - 2.0 * first[i++]).cwiseAbs().maxCoeff() <= 1e-12, name);
      },
      "");
  BOOST_TEST(expert.flops_per_token() > 0.0);
}

}  // namespace

static_assert(Expert<moerb::FFNExpert<float>> && Expert<moerb::FFNExpert<double>>);
static_assert(Expert<moerb::SwiGLUExpert<float>> && Expert<moerb::GeGLUExpert<double>>);
static_assert(Expert<moerb::ReGLUExpert<double>>);
static_assert(Expert<LinearExpert>);
static_assert(!Expert<NoBackward>, "an expert needs backward");
static_assert(!Expert<IntegerScalar>, "an expert's Scalar is float or double");
static_assert(!Expert<int>);

BOOST_AUTO_TEST_SUITE(expert)

BOOST_AUTO_TEST_CASE(concept_accepts_experts_and_rejects_other_types) {
  BOOST_TEST(Expert<moerb::FFNExpert<double>>);
  BOOST_TEST(Expert<moerb::SwiGLUExpert<float>>);
  BOOST_TEST(Expert<LinearExpert>);
  BOOST_TEST(!Expert<NoBackward>);
  BOOST_TEST(!Expert<IntegerScalar>);
}

BOOST_AUTO_TEST_CASE(shipped_and_user_experts_keep_the_contract) {
  check_contract<moerb::FFNExpert<double>>({.d_model = 5, .d_ff = 9});
  check_contract<moerb::FFNExpert<double>>(
      {.d_model = 5, .d_ff = 9, .activation = moerb::Activation::relu, .bias = false});
  check_contract<moerb::SwiGLUExpert<double>>({.d_model = 5, .d_ff = 9, .bias = true});
  check_contract<moerb::GeGLUExpert<double>>({.d_model = 4, .d_ff = 3});
  check_contract<LinearExpert>({.d = 6});
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_experts_expert
