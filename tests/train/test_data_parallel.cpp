// Tests for include/moerb/train/data_parallel.hpp
#include "moerb/train/data_parallel.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "moerb/models/encoder_classifier.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_data_parallel {

using namespace moerb;
using namespace moerb::test;

namespace {

/// Parameters "w" (3×4) and "b" (1×4) and a buffer "stat" (1×4).
struct BufferedModel {
  using Scalar = double;
  Parameter<double> w{3, 4};
  Parameter<double> b{1, 4};
  Matrix<double> stat = Matrix<double>::Zero(1, 4);

  template <class V>
  void visit_parameters(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "w")), w);
    visitor(std::string_view(join_name(prefix, "b")), b);
  }
  template <class V>
  void visit_buffers(V&& visitor, std::string_view prefix) {
    visitor(std::string_view(join_name(prefix, "stat")), stat);
  }
};

/// Shard s's gradients: ∂/∂w = (s + 1) · w², ∂/∂b = (s + 1) · stat + s; loss (s + 1) · Σ w.
/// Writes every gradient, frozen or not, so that the reduction's handling of frozen parameters
/// is what is tested.
double shard_work(BufferedModel& m, Index s) {
  const double f = static_cast<double>(s + 1);
  m.w.grad += f * m.w.value.array().square().matrix();
  m.b.grad += (f * m.stat.array() + static_cast<double>(s)).matrix();
  return f * m.w.value.sum();
}

void fill(BufferedModel& m, double offset) {
  for (Index i = 0; i < m.w.size(); ++i)
    m.w.value.data()[i] = 0.1 * static_cast<double>(i) + offset;
  for (Index i = 0; i < m.b.size(); ++i) m.b.value.data()[i] = -0.2 * static_cast<double>(i);
  for (Index i = 0; i < m.stat.size(); ++i) m.stat.data()[i] = 1.5 + static_cast<double>(i);
}

using Classifier = EncoderClassifier<TestMoE<double>>;

Classifier make_classifier() {
  const TransformerConfig c = tiny_config();
  Classifier::Options o;
  o.transformer = c;
  o.num_classes = 3;
  o.head_dropout = 0.1;
  Classifier model(o, tiny_moe_spec<double>(c));
  Rng rng(9);
  model.initialize(rng);
  return model;
}

const std::vector<std::int32_t> labels = {0, 2, 1};

/// Shard 0: sequences 0–1, shard 1: sequence 2 of tiny_batch(); a training forward with dropout.
double classifier_work(Classifier& m, Index s) {
  const TokenBatch all = tiny_batch();
  const Index first = s == 0 ? 0 : 2;
  const Index count = s == 0 ? 2 : 1;
  const TokenBatch shard = all.slice(first, count);
  const std::vector<std::int32_t> y(labels.begin() + first, labels.begin() + first + count);
  ForwardContext ctx;
  ctx.training = true;
  ctx.rng = Rng(77).split(static_cast<std::uint64_t>(s));
  const Matrix<double>& logits = m.forward(shard, ctx);
  Matrix<double> d_logits;
  const double loss = static_cast<double>(m.loss(logits, y, d_logits)) + m.aux_loss();
  m.backward(d_logits);
  return loss;
}

std::vector<Matrix<double>> grads_of(Classifier& m) {
  std::vector<Matrix<double>> g;
  m.visit_parameters([&](std::string_view, Parameter<double>& p) { g.push_back(p.grad); }, "");
  return g;
}

double max_difference(const std::vector<Matrix<double>>& a, const std::vector<Matrix<double>>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].size() > 0) d = std::max(d, (a[i] - b[i]).cwiseAbs().maxCoeff());
  }
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(data_parallel)

BOOST_AUTO_TEST_CASE(workers_and_shard_counts) {
  BufferedModel master;
  DataParallel<BufferedModel> three(master, 3);
  BOOST_TEST(three.num_workers() == 3);
  DataParallel<BufferedModel> all(master, 0);
  BOOST_TEST(all.num_workers() == available_threads());
  BOOST_TEST(available_threads() >= 1);
  DataParallel<BufferedModel> two(master, 2);
  const std::vector<double> w3 = {1, 1, 1};
  CHECK_THROWS_NAMING(two.accumulate(w3, shard_work),
                      "DataParallel::accumulate: 3 shards, expected 1 ..2");
  CHECK_THROWS_NAMING(two.accumulate(std::span<const double>{}, shard_work), "0 shards");
}

BOOST_AUTO_TEST_CASE(weighted_shards_are_summed_onto_the_master) {
  BufferedModel master;
  fill(master, 0.3);
  // Existing master gradients are kept: accumulate adds.
  master.w.grad.setConstant(0.5);
  master.b.grad.setConstant(-1.0);
  const Matrix<double> w_grad0 = master.w.grad, b_grad0 = master.b.grad;
  DataParallel<BufferedModel> dp(master, 3);
  const std::vector<double> weights = {0.5, 0.25, 2.0};
  const double loss = dp.accumulate(weights, shard_work);

  Matrix<double> w_expected = w_grad0, b_expected = b_grad0;
  double loss_expected = 0;
  for (std::size_t s = 0; s < 3; ++s) {
    BufferedModel shard = master;
    shard.w.grad.setZero();
    shard.b.grad.setZero();
    loss_expected += weights[s] * shard_work(shard, static_cast<Index>(s));
    w_expected += weights[s] * shard.w.grad;
    b_expected += weights[s] * shard.b.grad;
  }
  BOOST_TEST((master.w.grad - w_expected).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST((master.b.grad - b_expected).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(loss == loss_expected);
  // Values are not touched.
  BufferedModel reference;
  fill(reference, 0.3);
  BOOST_TEST((master.w.value - reference.w.value).norm() == 0.0);

  // A second call adds again.
  dp.accumulate(weights, shard_work);
  BOOST_TEST((master.w.grad - (2 * w_expected - w_grad0)).cwiseAbs().maxCoeff() < 1e-14);

  // Fewer shards than workers: only those are summed.
  master.w.grad.setZero();
  master.b.grad.setZero();
  const std::vector<double> one = {3.0};
  BOOST_TEST(dp.accumulate(one, shard_work) == 3.0 * master.w.value.sum());
  BOOST_TEST((master.w.grad - 3.0 * master.w.value.array().square().matrix()).norm() < 1e-14);
  BOOST_TEST((master.b.grad - 3.0 * master.stat).norm() < 1e-14);
}

BOOST_AUTO_TEST_CASE(replicas_see_the_current_master) {
  BufferedModel master;
  fill(master, 0.0);
  DataParallel<BufferedModel> dp(master, 2);
  // Changed after the replicas were made.
  fill(master, 1.0);
  master.stat.setConstant(4.0);
  master.b.frozen = true;
  master.w.grad.setConstant(9.0);  // the replicas' gradients start from zero regardless
  // Boost.Test is not thread-safe: the shards record what they saw, checked afterwards.
  std::vector<int> saw_master(2, 0), saw_zero_grads(2, 0);
  const std::vector<double> weights = {1.0, 1.0};
  dp.accumulate(weights, [&](BufferedModel& replica, Index s) {
    const auto i = static_cast<std::size_t>(s);
    saw_master[i] = &replica != &master && (replica.w.value - master.w.value).norm() == 0.0 &&
                    (replica.b.value - master.b.value).norm() == 0.0 &&
                    (replica.stat - master.stat).norm() == 0.0 && replica.b.frozen &&
                    !replica.w.frozen;
    saw_zero_grads[i] = replica.w.grad.norm() == 0.0 && replica.b.grad.norm() == 0.0;
    return shard_work(replica, s);
  });
  BOOST_TEST(saw_master == (std::vector<int>{1, 1}), boost::test_tools::per_element());
  BOOST_TEST(saw_zero_grads == (std::vector<int>{1, 1}), boost::test_tools::per_element());
  BOOST_TEST(&dp.replica(0) != &dp.replica(1));
  BOOST_TEST(dp.replica(1).stat(0, 0) == 4.0);
}

BOOST_AUTO_TEST_CASE(frozen_master_parameters_are_untouched) {
  BufferedModel master;
  fill(master, 0.2);
  master.b.frozen = true;
  master.b.grad.setConstant(0.125);  // whatever it holds stays
  DataParallel<BufferedModel> dp(master, 2);
  const std::vector<double> weights = {1.0, 0.5};
  dp.accumulate(weights, shard_work);  // shard_work writes b's gradient in the replicas anyway
  BOOST_TEST((master.b.grad.array() == 0.125).all());
  BOOST_TEST(master.w.grad.norm() > 0.0);
  BOOST_TEST(master.b.frozen);
}

BOOST_AUTO_TEST_CASE(replace_is_zero_grad_then_add_to_the_bit) {
  // Shard work whose weighted sum has −0, +0 and ordinary entries: zero_grad followed by `add`
  // gives +0 for an all-zero sum of signed zeros, and `replace` must too (memcmp, not ==).
  const auto signed_zero_work = [](BufferedModel& m, Index s) {
    m.w.grad.setConstant(s == 0 ? -0.0 : 0.25);
    m.w.grad(0, 0) = -0.0;
    m.w.grad(1, 1) = s == 0 ? 1.5 : -0.0;
    m.b.grad.setConstant(-0.0);
    return 1.0;
  };
  const std::vector<double> weights = {0.5, 2.0};
  BufferedModel added, replaced;
  fill(added, 0.4);
  fill(replaced, 0.4);
  added.w.grad.setZero();
  added.b.grad.setZero();
  replaced.w.grad.setConstant(7.0);  // whatever the master held is discarded
  replaced.b.grad.setConstant(-3.0);
  DataParallel<BufferedModel> dp_add(added, 2), dp_replace(replaced, 2);
  dp_add.accumulate(weights, signed_zero_work);
  dp_replace.accumulate(weights, signed_zero_work, MasterGradients::replace);
  const auto same_bits = [](const Matrix<double>& a, const Matrix<double>& b) {
    return a.size() == b.size() &&
           std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(double)) ==
               0;
  };
  BOOST_TEST(same_bits(added.w.grad, replaced.w.grad));
  BOOST_TEST(same_bits(added.b.grad, replaced.b.grad));
  BOOST_TEST(!std::signbit(replaced.w.grad(0, 0)));
  BOOST_TEST(!std::signbit(replaced.b.grad(0, 0)));
  BOOST_TEST(replaced.w.grad(1, 1) == 0.75);

  // With ordinary gradients, then `add` on top: the same as two adds after zero_grad.
  fill(added, 0.1);
  fill(replaced, 0.1);
  added.w.grad.setZero();
  added.b.grad.setZero();
  replaced.w.grad.setConstant(-5.0);
  dp_add.accumulate(weights, shard_work);
  dp_add.accumulate(weights, shard_work);
  dp_replace.accumulate(weights, shard_work, MasterGradients::replace);
  dp_replace.accumulate(weights, shard_work, MasterGradients::add);
  BOOST_TEST(same_bits(added.w.grad, replaced.w.grad));
  BOOST_TEST(same_bits(added.b.grad, replaced.b.grad));

  // A frozen parameter's gradient becomes zero (zero_grad would have zeroed it).
  replaced.b.frozen = true;
  replaced.b.grad.setConstant(0.125);
  dp_replace.accumulate(weights, shard_work, MasterGradients::replace);
  BOOST_TEST((replaced.b.grad.array() == 0.0).all());
  BOOST_TEST(replaced.w.grad.norm() > 0.0);
}

BOOST_AUTO_TEST_CASE(shard_exceptions_are_rethrown) {
  BufferedModel master;
  fill(master, 0.1);
  DataParallel<BufferedModel> dp(master, 2);
  const std::vector<double> weights = {1.0, 1.0};
  CHECK_THROWS_NAMING(dp.accumulate(weights,
                                    [](BufferedModel& m, Index s) {
                                      if (s == 1) throw moerb::error("shard 1: bad input");
                                      return shard_work(m, s);
                                    }),
                      "shard 1: bad input");
  BOOST_CHECK_THROW(dp.accumulate(weights,
                                  [](BufferedModel&, Index s) -> double {
                                    if (s == 0) throw std::runtime_error("shard 0");
                                    return 0.0;
                                  }),
                    std::runtime_error);
  // One shard runs on the calling thread; its exception comes back too.
  const std::vector<double> single = {1.0};
  BOOST_CHECK_THROW(
      dp.accumulate(single,
                    [](BufferedModel&, Index) -> double { throw std::logic_error("single"); }),
      std::logic_error);
  // No reduction happened.
  BOOST_TEST(master.w.grad.norm() == 0.0);
  BOOST_TEST(master.b.grad.norm() == 0.0);
  // The workers are usable afterwards.
  BOOST_CHECK_NO_THROW(dp.accumulate(weights, shard_work));
  BOOST_TEST(master.w.grad.norm() > 0.0);
}

BOOST_AUTO_TEST_CASE(model_gradients_match_a_manual_weighted_sum) {
  auto master = make_classifier();
  const std::vector<double> weights = {2.0 / 3.0, 1.0 / 3.0};
  // By hand: each shard on its own copy, then master += Σ wₛ · gradₛ in shard order.
  std::vector<Matrix<double>> expected = grads_of(master);  // zeros
  double loss_expected = 0;
  for (Index s = 0; s < 2; ++s) {
    Classifier copy = master;
    zero_grad(copy);
    loss_expected += weights[static_cast<std::size_t>(s)] * classifier_work(copy, s);
    const auto g = grads_of(copy);
    for (std::size_t i = 0; i < g.size(); ++i) {
      expected[i] += weights[static_cast<std::size_t>(s)] * g[i];
    }
  }
  DataParallel<Classifier> dp(master, 2);
  const double loss = dp.accumulate(weights, classifier_work);
  BOOST_TEST(loss == loss_expected, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(max_difference(grads_of(master), expected) < 1e-14);
  double norm = 0;
  for (const auto& g : expected) norm += g.squaredNorm();
  BOOST_TEST(norm > 1e-6);
}

BOOST_AUTO_TEST_CASE(repeated_runs_with_two_workers_are_bit_identical) {
  auto master = make_classifier();
  const std::vector<double> weights = {0.5, 0.5};
  DataParallel<Classifier> dp(master, 2);
  const double first_loss = dp.accumulate(weights, classifier_work);
  const auto first = grads_of(master);
  for (int run = 0; run < 3; ++run) {
    zero_grad(master);
    BOOST_TEST(dp.accumulate(weights, classifier_work) == first_loss);
    BOOST_TEST(max_difference(grads_of(master), first) == 0.0);
  }
  // A fresh set of workers from an identical master gives the same bits.
  auto other = make_classifier();
  DataParallel<Classifier> dp2(other, 2);
  BOOST_TEST(dp2.accumulate(weights, classifier_work) == first_loss);
  BOOST_TEST(max_difference(grads_of(other), first) == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_data_parallel
