#include "moerb/models/dola.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "moerb/models/decoder_lm.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_dola {

using namespace moerb;
using namespace moerb::test;

namespace {

Vector<double> vec(std::initializer_list<double> v) {
  Vector<double> out(static_cast<Index>(v.size()));
  Index i = 0;
  for (double x : v) out(i++) = x;
  return out;
}

Vector<double> log_softmax(Vector<double> v) {
  const double m = v.maxCoeff();
  v.array() -= m + std::log((v.array() - m).exp().sum());
  return v;
}

double jsd(const Vector<double>& a, const Vector<double>& b) {
  const Vector<double> p = log_softmax(a).array().exp(), q = log_softmax(b).array().exp();
  const Vector<double> m = 0.5 * (p + q);
  return 0.5 * (p.array() * (p.array() / m.array()).log()).sum() +
         0.5 * (q.array() * (q.array() / m.array()).log()).sum();
}

DecoderLM<TestMoE<double>> make_lm() {
  TransformerConfig c = tiny_config(PositionEncoding::rotary);
  c.num_segments = 0;
  c.num_layers = 3;
  typename DecoderLM<TestMoE<double>>::Options o;
  o.transformer = c;
  DecoderLM<TestMoE<double>> lm(o, tiny_moe_spec<double>(c));
  Rng rng(8);
  lm.initialize(rng);
  std::uint64_t seed = 300;
  lm.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.5, seed++);
      },
      "");
  return lm;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dola)

BOOST_AUTO_TEST_CASE(contrast_picks_the_most_divergent_layer_and_masks_implausible_tokens) {
  const Vector<double> mature = vec({3.0, 2.5, 0.0, -4.0});
  const std::vector<Vector<double>> prem = {vec({2.9, 2.4, 0.1, -4.0}), vec({0.0, 3.0, 0.0, 0.0}),
                                            vec({1.0, 1.0, 1.0, 1.0})};
  const std::vector<Index> layers = {0, 1, 2};
  DoLaOptions o;
  o.relative_top = 0.1;
  const DoLaStep s = dola_contrast(mature, prem, layers, o, {}, o.relative_top_value);
  Index best = 0;
  double best_js = -1;
  for (std::size_t j = 0; j < prem.size(); ++j) {
    const double js = jsd(mature, prem[j]);
    if (js > best_js) {
      best_js = js;
      best = static_cast<Index>(j);
    }
  }
  BOOST_TEST(s.premature_layer == best);
  BOOST_TEST(s.jsd == best_js, boost::test_tools::tolerance(1e-12));
  // F = log q_N − log q_M, renormalised; tokens with q_N < 0.1 · max q_N get the floor.
  const Vector<double> lq_n = log_softmax(mature);
  const Vector<double> f =
      log_softmax(Vector<double>(lq_n - log_softmax(prem[static_cast<std::size_t>(best)])));
  const double threshold = std::log(0.1) + lq_n.maxCoeff();
  for (Index i = 0; i < 4; ++i) {
    if (lq_n(i) < threshold) {
      BOOST_TEST(s.log_probs(i) == -1000.0);
    } else {
      BOOST_TEST(s.log_probs(i) == f(i), boost::test_tools::tolerance(1e-12));
    }
  }
  BOOST_TEST(s.log_probs(2) == -1000.0);  // q_N(2)/q_N(0) = e^-3 < 0.1
  BOOST_TEST(s.log_probs(1) > -1000.0);
}

BOOST_AUTO_TEST_CASE(repetition_penalty_divides_positive_and_multiplies_negative_scores) {
  const Vector<double> mature = vec({1.0, 0.8, 0.2});
  const std::vector<Vector<double>> prem = {vec({0.0, 1.5, 0.0})};
  const std::vector<Index> layers = {0};
  DoLaOptions o;
  o.relative_top = 0;
  const DoLaStep plain = dola_contrast(mature, prem, layers, o, {}, -1000);
  o.repetition_penalty = 2.0;
  const std::vector<std::int32_t> seen = {0, 1, 1};
  const DoLaStep pen = dola_contrast(mature, prem, layers, o, seen, -1000);
  Vector<double> f = log_softmax(mature) - log_softmax(prem[0]);
  f(0) = f(0) > 0 ? f(0) / 2 : f(0) * 2;
  f(1) = f(1) > 0 ? f(1) / 2 : f(1) * 2;
  f = log_softmax(f);
  for (Index i = 0; i < 3; ++i)
    BOOST_TEST(pen.log_probs(i) == f(i), boost::test_tools::tolerance(1e-12));
  BOOST_TEST((plain.log_probs - pen.log_probs).norm() > 1e-6);
}

BOOST_AUTO_TEST_CASE(scoring_with_a_model_matches_the_layerwise_computation) {
  auto lm = make_lm();
  const std::vector<std::int32_t> prompt = {1, 7, 3}, answer = {9, 4};
  DoLaOptions o;
  o.premature_layers = {0, 1, 2};
  o.relative_top = 0.05;
  const auto scores = dola_score_continuations(lm, {{prompt, answer}, {{5}, {6}}}, o);
  BOOST_REQUIRE(scores.size() == 2u);
  BOOST_TEST(scores[0].premature_layers.size() == 2u);
  BOOST_TEST(scores[1].premature_layers.size() == 1u);
  // By hand for the first pair.
  TokenBatch b;
  b.push_back(std::vector<std::int32_t>{1, 7, 3, 9, 4});
  const Matrix<double> mature = lm.forward(b, ForwardContext{});
  std::vector<Matrix<double>> layer;
  for (Index j = 0; j < 3; ++j) layer.push_back(lm.layer_logits(j));
  double sum = 0;
  for (Index pos = 2; pos <= 3; ++pos) {
    std::vector<Vector<double>> cand;
    for (const auto& l : layer) cand.push_back(l.row(pos).transpose());
    const DoLaStep s =
        dola_contrast(mature.row(pos).transpose(), cand, o.premature_layers, o, {}, -1000.0);
    sum += s.log_probs(b.ids[static_cast<std::size_t>(pos) + 1]);
    BOOST_TEST(scores[0].premature_layers[static_cast<std::size_t>(pos) - 2] == s.premature_layer);
  }
  BOOST_TEST(scores[0].sum_log_prob == sum, boost::test_tools::tolerance(1e-10));
  BOOST_TEST(scores[0].mean_log_prob == sum / 2, boost::test_tools::tolerance(1e-10));
  // Default candidates: every layer below the mature one.
  const auto all = dola_score_continuations(lm, {{prompt, answer}});
  for (Index m : all[0].premature_layers) BOOST_TEST((m >= 0 && m < 3));
  o.premature_layers = {3};
  CHECK_THROWS_NAMING(dola_score_continuations(lm, {{prompt, answer}}, o), "premature layer");
}

BOOST_AUTO_TEST_CASE(generation_only_produces_plausible_tokens) {
  auto lm = make_lm();
  const std::vector<std::int32_t> prompt = {1, 7};
  DoLaOptions o;
  o.relative_top = 0.3;
  GenerationOptions g;
  g.max_new_tokens = 5;
  const auto greedy = dola_generate(lm, prompt, g, o);
  BOOST_REQUIRE(greedy.size() == 5u);
  std::vector<std::int32_t> seq = prompt;
  for (std::int32_t id : greedy) {
    TokenBatch b;
    b.push_back(seq);
    const Matrix<double> logits = lm.forward(b, ForwardContext{});
    const Vector<double> lq = log_softmax(logits.row(logits.rows() - 1).transpose());
    BOOST_TEST(lq(id) >= std::log(0.3) + lq.maxCoeff() - 1e-12);
    seq.push_back(id);
  }
  BOOST_TEST(dola_generate(lm, prompt, g, o) == greedy, boost::test_tools::per_element());
  g.temperature = 1.0;
  g.seed = 3;
  const auto sampled = dola_generate(lm, prompt, g, o);
  BOOST_TEST(dola_generate(lm, prompt, g, o) == sampled, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_options_are_rejected) {
  const Vector<double> mature = vec({1.0, 0.0});
  const std::vector<Index> layers = {0};
  DoLaOptions o;
  o.relative_top = 1.0;
  CHECK_THROWS_NAMING(dola_contrast(mature, {vec({0.0, 0.0})}, layers, o, {}, -1000),
                      "relative_top");
  o.relative_top = 0.1;
  CHECK_THROWS_NAMING(dola_contrast(mature, {vec({0.0, 0.0, 1.0})}, layers, o, {}, -1000),
                      "logits");
  CHECK_THROWS_NAMING(dola_contrast(mature, {}, {}, o, {}, -1000), "premature");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_dola
