// Tests for include/moerb/train/freelb.hpp
#include "moerb/train/freelb.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "moerb/models/encoder_classifier.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_freelb {

using namespace moerb;
using namespace moerb::test;

namespace {

using Classifier = EncoderClassifier<TestMoE<double>>;

Classifier make_classifier() {
  const TransformerConfig c = tiny_config();
  Classifier::Options o;
  o.transformer = c;
  o.num_classes = 3;
  o.head_dropout = 0.0;
  Classifier model(o, tiny_moe_spec<double>(c));
  Rng rng(3);
  model.initialize(rng);
  return model;
}

const std::vector<std::int32_t> labels = {0, 2, 1};

struct Result {
  double loss = 0;
  std::vector<Matrix<double>> grads;
};

std::vector<Matrix<double>> grads_of(Classifier& m) {
  std::vector<Matrix<double>> g;
  m.visit_parameters([&](std::string_view, Parameter<double>& p) { g.push_back(p.grad); }, "");
  return g;
}

/// Largest |a − b| over all tensors, relative to the largest |b|.
double relative_difference(const std::vector<Matrix<double>>& a,
                           const std::vector<Matrix<double>>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_REQUIRE(a[i].rows() == b[i].rows() && a[i].cols() == b[i].cols());
    if (a[i].size() == 0) continue;
    diff = std::max(diff, (a[i] - b[i]).cwiseAbs().maxCoeff());
    scale = std::max(scale, b[i].cwiseAbs().maxCoeff());
  }
  return diff / std::max(scale, 1e-300);
}

/// L(e) = CE + aux at the word embeddings e, with every parameter gradient from one backward
/// (zeroed first); writes ∂L/∂e to `de` when given.
Result plain_step(Classifier& model, const Matrix<double>& e, const TokenBatch& batch,
                  const ForwardContext& ctx, Matrix<double>* de = nullptr) {
  zero_grad(model);
  const Matrix<double>& logits = model.forward_embeddings(e, batch, ctx);
  Matrix<double> d_logits;
  Result r;
  r.loss = static_cast<double>(model.loss(logits, labels, d_logits)) +
           static_cast<double>(model.aux_loss());
  const Matrix<double>& g = model.backward(d_logits);
  if (de) *de = g;
  r.grads = grads_of(model);
  return r;
}

Result run_freelb(Classifier& model, const TokenBatch& batch, const ForwardContext& ctx,
                  const FreeLBOptions& options, Rng& rng) {
  zero_grad(model);
  Result r;
  r.loss = freelb_step(model, batch, ctx, options, rng,
                       [&](const Matrix<double>& logits, Matrix<double>& d_logits) {
                         return static_cast<double>(model.loss(logits, labels, d_logits));
                       });
  r.grads = grads_of(model);
  return r;
}

/// δ₁ = adv_lr · g / ‖g‖_F per sequence, then projected onto the ball of `radius` (0 = none).
Matrix<double> ascent_step(const Matrix<double>& g, const SequenceBatch& seqs, double adv_lr,
                           double radius) {
  Matrix<double> delta(g.rows(), g.cols());
  for (Index b = 0; b < seqs.num_sequences(); ++b) {
    const auto gb = g.middleRows(seqs.begin(b), seqs.length(b));
    auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
    db = (adv_lr / gb.norm()) * gb;
    if (radius > 0 && db.norm() > radius) db *= radius / db.norm();
  }
  return delta;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(freelb)

BOOST_AUTO_TEST_CASE(options_and_validation) {
  FreeLBOptions o;
  BOOST_TEST(!o.enabled());
  BOOST_TEST(o.radius() == o.adv_init_mag);  // adv_max_norm < 0: the init magnitude
  o.adv_max_norm = 0.5;
  BOOST_TEST(o.radius() == 0.5);
  o.steps = 2;
  BOOST_TEST(o.enabled());
  BOOST_CHECK_NO_THROW(o.validate("Trainer"));

  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  FreeLBOptions bad;
  bad.steps = -1;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "Trainer: FreeLBOptions::steps = -1");
  bad = {};
  bad.adv_lr = -0.5;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "FreeLBOptions::adv_lr = -0.5");
  bad.adv_lr = nan;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "FreeLBOptions::adv_lr");
  bad = {};
  bad.adv_init_mag = -0.1;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "FreeLBOptions::adv_init_mag = -0.1");
  bad.adv_init_mag = inf;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "FreeLBOptions::adv_init_mag");
  bad = {};
  bad.adv_max_norm = inf;
  CHECK_THROWS_NAMING(bad.validate("Trainer"), "FreeLBOptions::adv_max_norm = inf");

  auto model = make_classifier();
  Rng rng(1);
  const auto loss_fn = [&](const Matrix<double>& logits, Matrix<double>& d) {
    return static_cast<double>(model.loss(logits, labels, d));
  };
  CHECK_THROWS_NAMING(
      freelb_step(model, tiny_batch(), ForwardContext{}, FreeLBOptions{}, rng, loss_fn),
      "freelb_step: FreeLBOptions::steps = 0");
  FreeLBOptions negative;
  negative.steps = 1;
  negative.adv_lr = -1;
  CHECK_THROWS_NAMING(freelb_step(model, tiny_batch(), ForwardContext{}, negative, rng, loss_fn),
                      "freelb_step: FreeLBOptions::adv_lr = -1");
}

BOOST_AUTO_TEST_CASE(one_step_from_zero_is_a_plain_step) {
  auto model = make_classifier();
  const TokenBatch batch = tiny_batch();
  const ForwardContext ctx;
  const Matrix<double> e = model.embed(batch);
  const Result plain = plain_step(model, e, batch, ctx);
  FreeLBOptions o;
  o.steps = 1;
  o.adv_init_mag = 0;
  Rng rng(7);
  const Result adv = run_freelb(model, batch, ctx, o, rng);
  BOOST_TEST(adv.loss == plain.loss, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(relative_difference(adv.grads, plain.grads) <= 1e-14);
  BOOST_TEST(Rng(7).next_u64() == rng.next_u64());  // δ₀ = 0 draws nothing
}

BOOST_AUTO_TEST_CASE(two_steps_average_the_clean_and_the_ascended_gradients) {
  const TokenBatch batch = tiny_batch();
  const ForwardContext ctx;
  for (double radius : {0.0, 0.3, 0.05}) {  // unbounded, a ball δ₁ fits in, one it does not
    BOOST_TEST_CONTEXT("adv_max_norm " << radius) {
      auto model = make_classifier();
      const Matrix<double> e = model.embed(batch);
      const double adv_lr = 0.2;
      Matrix<double> g;
      const Result clean = plain_step(model, e, batch, ctx, &g);
      const Matrix<double> delta = ascent_step(g, batch.sequences, adv_lr, radius);
      for (Index b = 0; b < batch.num_sequences(); ++b) {
        const double n =
            delta.middleRows(batch.sequences.begin(b), batch.sequences.length(b)).norm();
        BOOST_TEST(n == (radius > 0 ? std::min(adv_lr, radius) : adv_lr),
                   boost::test_tools::tolerance(1e-12));
      }
      const Matrix<double> perturbed_input = e + delta;
      const Result ascended = plain_step(model, perturbed_input, batch, ctx);
      BOOST_TEST(ascended.loss > clean.loss);  // an ascent step

      FreeLBOptions o;
      o.steps = 2;
      o.adv_init_mag = 0;
      o.adv_lr = adv_lr;
      o.adv_max_norm = radius;
      Rng rng(1);
      const Result adv = run_freelb(model, batch, ctx, o, rng);
      std::vector<Matrix<double>> expected;
      for (std::size_t i = 0; i < clean.grads.size(); ++i) {
        expected.push_back((clean.grads[i] + ascended.grads[i]) / 2);
      }
      BOOST_TEST(adv.loss == (clean.loss + ascended.loss) / 2, boost::test_tools::tolerance(1e-14));
      BOOST_TEST(relative_difference(adv.grads, expected) < 1e-13);
      // Not the clean gradient alone.
      BOOST_TEST(relative_difference(adv.grads, clean.grads) > 1e-6);
    }
  }
}

BOOST_AUTO_TEST_CASE(aux_loss_is_counted_once_per_step) {
  // adv_lr = 0 keeps δ = 0: K identical steps must average to one plain step, in the loss and in
  // the routers' gradients (which carry the aux losses' gradients).
  auto model = make_classifier();
  const TokenBatch batch = tiny_batch();
  const ForwardContext ctx;
  const Matrix<double> e = model.embed(batch);
  const Result plain = plain_step(model, e, batch, ctx);
  const double aux = static_cast<double>(model.aux_loss());
  BOOST_TEST(aux > 0.0);
  FreeLBOptions o;
  o.steps = 3;
  o.adv_lr = 0;
  o.adv_init_mag = 0;
  Rng rng(2);
  const Result adv = run_freelb(model, batch, ctx, o, rng);
  BOOST_TEST(adv.loss == plain.loss, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(relative_difference(adv.grads, plain.grads) < 1e-14);
  // The router's gradient is not zero, so a doubled aux term would show.
  double router_grad = 0;
  model.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) {
        if (name_has_prefix(name, "blocks.0.ffn.router")) router_grad = p.grad.norm();
      },
      "");
  BOOST_TEST(router_grad > 0.0);
}

BOOST_AUTO_TEST_CASE(random_start_is_scaled_per_sequence_and_seeded) {
  auto model = make_classifier();
  const TokenBatch batch = tiny_batch();
  const SequenceBatch& seqs = batch.sequences;
  const ForwardContext ctx;
  FreeLBOptions o;
  o.steps = 1;
  o.adv_init_mag = 0.3;
  // δ₀ ~ U(−1, 1) scaled by adv_init_mag / sqrt(length · d_model), drawn sequence by sequence.
  Rng draw(5);
  const Matrix<double> e = model.embed(batch);
  Matrix<double> delta0(e.rows(), e.cols());
  for (Index b = 0; b < seqs.num_sequences(); ++b) {
    const double scale = 0.3 / std::sqrt(static_cast<double>(seqs.length(b) * e.cols()));
    for (Index t = seqs.begin(b); t < seqs.end(b); ++t) {
      for (Index j = 0; j < e.cols(); ++j) delta0(t, j) = draw.uniform(-1, 1) * scale;
    }
  }
  const Matrix<double> start = e + delta0;
  const Result by_hand = plain_step(model, start, batch, ctx);
  Rng rng(5);
  const Result adv = run_freelb(model, batch, ctx, o, rng);
  BOOST_TEST(adv.loss == by_hand.loss, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(relative_difference(adv.grads, by_hand.grads) < 1e-14);
  BOOST_TEST(rng.next_u64() == draw.next_u64());  // exactly tokens · d_model draws

  // Same rng state, same result bit for bit; another seed differs.
  o.steps = 2;
  Rng r1(11), r2(11), r3(12);
  const Result a = run_freelb(model, batch, ctx, o, r1);
  const Result b = run_freelb(model, batch, ctx, o, r2);
  BOOST_TEST(a.loss == b.loss);
  BOOST_TEST(relative_difference(a.grads, b.grads) == 0.0);
  const Result c = run_freelb(model, batch, ctx, o, r3);
  BOOST_TEST(c.loss != a.loss);
}

BOOST_AUTO_TEST_CASE(frozen_parameters_stay_without_gradient) {
  auto model = make_classifier();
  set_frozen(model, "blocks.0.ffn.router");
  FreeLBOptions o;
  o.steps = 2;
  o.adv_init_mag = 0.1;
  Rng rng(3);
  run_freelb(model, tiny_batch(), ForwardContext{}, o, rng);
  model.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) {
        if (p.frozen) BOOST_TEST(p.grad.cwiseAbs().maxCoeff() == 0.0, name);
      },
      "");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_freelb
