#include "moerb/attacks/embedding_pgd.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "moerb/attacks/embedding_gradient.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/train/trainer.hpp"
#include "support/model_testing.hpp"
#include "support/toy_tasks.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_embedding_pgd {

using namespace moerb;
using namespace moerb::test;

namespace {

TransformerConfig toy_config() {
  return toy_marker_config(0);
}

using MoEModel = EncoderClassifier<TestMoE<double>>;
using DenseModel = EncoderClassifier<TestDense<double>>;

/// Trained once per test program (40 AdamW steps each, a few hundredths of a second).
MoEModel& moe_model() {
  static MoEModel model = trained_toy_classifier(tiny_moe_spec<double>(toy_config()), toy_config());
  return model;
}
DenseModel& dense_model() {
  static DenseModel model =
      trained_toy_classifier(tiny_dense_spec<double>(toy_config()), toy_config());
  return model;
}

TokenBatch batch_of(std::span<const EncodedExample> examples, std::vector<std::int32_t>& labels) {
  TokenBatch b;
  labels.clear();
  for (const EncodedExample& e : examples) {
    b.push_back(e.ids);
    labels.push_back(e.label);
  }
  return b;
}

EmbeddingPGDOptions pgd(PerturbationNorm norm, double epsilon, Index steps = 5) {
  EmbeddingPGDOptions o;
  o.norm = norm;
  o.epsilon = epsilon;
  o.steps = steps;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(embedding_pgd)

BOOST_AUTO_TEST_CASE(the_perturbation_stays_in_the_ball_after_every_projection) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(6, 9);
  std::vector<std::int32_t> labels;
  const TokenBatch batch = batch_of(data, labels);
  const SequenceBatch& seqs = batch.sequences;
  for (const auto norm : {PerturbationNorm::linf, PerturbationNorm::l2}) {
    for (const bool by_length : {false, true}) {
      EmbeddingPGDOptions o = pgd(norm, 0.05, 6);
      o.stop_when_fooled = false;
      o.scale_l2_radius_by_length = by_length;
      Index calls = 0;
      double largest = 0;
      const auto check = [&](Index step, const Matrix<double>& delta) {
        BOOST_TEST(step == calls++);
        for (Index b = 0; b < seqs.num_sequences(); ++b) {
          const Index first = seqs.begin(b), last = seqs.end(b) - 1;
          // [CLS] and [SEP] stay clean.
          BOOST_TEST(delta.row(first).norm() == 0.0);
          BOOST_TEST(delta.row(last).norm() == 0.0);
          const auto db = delta.middleRows(seqs.begin(b), seqs.length(b));
          if (norm == PerturbationNorm::linf) {
            BOOST_TEST(db.cwiseAbs().maxCoeff() <= 0.05);
            largest = std::max(largest, db.cwiseAbs().maxCoeff());
          } else {
            const double r =
                by_length ? 0.05 * std::sqrt(static_cast<double>(seqs.length(b) - 2)) : 0.05;
            BOOST_TEST(db.norm() <= r * (1 + 1e-12));
            largest = std::max(largest, db.norm() / r);
          }
        }
      };
      const auto result = embedding_pgd_batch(model, batch, labels, o, Rng(4), 0, check);
      BOOST_TEST(calls == o.steps + 1);
      // The constraint is active: some entry (L∞) or sequence (L2) sits on the boundary.
      BOOST_TEST(largest == (norm == PerturbationNorm::linf ? 0.05 : 1.0),
                 boost::test_tools::tolerance(1e-12));
      for (const EmbeddingPGDResult& r : result.results) {
        BOOST_TEST(r.steps == o.steps);
        BOOST_TEST(r.perturbation_norm <= r.radius * (1 + 1e-12));
        BOOST_TEST(r.perturbation_norm > 0.0);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_random_start_lies_in_the_ball) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(4, 10);
  std::vector<std::int32_t> labels;
  const TokenBatch batch = batch_of(data, labels);
  for (const auto norm : {PerturbationNorm::linf, PerturbationNorm::l2}) {
    EmbeddingPGDOptions o = pgd(norm, 0.3, 1);
    o.perturb_special_tokens = true;
    o.stop_when_fooled = false;
    const auto check = [&](Index step, const Matrix<double>& delta) {
      if (step != 0) return;
      for (Index b = 0; b < batch.num_sequences(); ++b) {
        const auto db = delta.middleRows(batch.sequences.begin(b), batch.sequences.length(b));
        BOOST_TEST(db.row(0).norm() > 0.0);  // special positions perturbed when asked
        if (norm == PerturbationNorm::linf) {
          BOOST_TEST(db.cwiseAbs().maxCoeff() <= 0.3);
          BOOST_TEST(db.cwiseAbs().maxCoeff() > 0.15);  // uniform in [−ε, ε]
        } else {
          BOOST_TEST(db.norm() <= 0.3 * (1 + 1e-12));
        }
      }
    };
    (void)embedding_pgd_batch(model, batch, labels, o, Rng(5), 0, check);
  }
}

BOOST_AUTO_TEST_CASE(fgsm_takes_one_step_of_size_epsilon_along_the_gradient) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(4, 11);
  std::vector<std::int32_t> labels;
  const TokenBatch batch = batch_of(data, labels);
  const auto g = moerb::embedding_gradient(model, batch, labels);
  std::vector<std::uint8_t> special(static_cast<std::size_t>(batch.num_tokens()));
  for (std::size_t t = 0; t < special.size(); ++t) special[t] = batch.ids[t] < 7;
  // L∞: δ = ε sign(g) on the non-special rows.
  Matrix<double> expected = 0.02 * g.gradient.array().sign().matrix();
  for (Index t = 0; t < batch.num_tokens(); ++t) {
    if (special[static_cast<std::size_t>(t)] != 0) expected.row(t).setZero();
  }
  Matrix<double> seen;
  const auto keep = [&](Index step, const Matrix<double>& delta) {
    if (step == 1) seen = delta;
  };
  (void)embedding_pgd_batch(model, batch, labels, EmbeddingPGDOptions::fgsm(0.02), Rng(1), 0, keep);
  BOOST_TEST(seen.rows() == batch.num_tokens());
  BOOST_TEST((seen - expected).cwiseAbs().maxCoeff() == 0.0);
  // L2: δ_b = ε g_b / ‖g_b‖ per sequence (non-special rows).
  (void)embedding_pgd_batch(model, batch, labels,
                            EmbeddingPGDOptions::fgsm(0.02, PerturbationNorm::l2), Rng(1), 0, keep);
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    const Index first = batch.sequences.begin(b) + 1, n = batch.sequences.length(b) - 2;
    const Matrix<double> gb = g.gradient.middleRows(first, n);
    const Matrix<double> db = seen.middleRows(first, n);
    BOOST_TEST((db - 0.02 * gb / gb.norm()).cwiseAbs().maxCoeff() < 1e-15);
  }
}

BOOST_AUTO_TEST_CASE(fgsm_with_zero_epsilon_gives_the_clean_prediction) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(12, 12);
  for (const auto norm : {PerturbationNorm::linf, PerturbationNorm::l2}) {
    const auto results =
        moerb::embedding_pgd(model, data, EmbeddingPGDOptions::fgsm(0.0, norm), Rng(2));
    BOOST_TEST(results.size() == data.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      const EmbeddingPGDResult& r = results[i];
      BOOST_TEST(r.index == i);
      BOOST_TEST(r.label == data[i].label);
      BOOST_TEST(r.adversarial_prediction == r.clean_prediction);
      BOOST_TEST(r.adversarial_label_probability == r.clean_label_probability,
                 boost::test_tools::tolerance(1e-12));
      BOOST_TEST(r.perturbation_norm == 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(robust_accuracy_falls_with_epsilon_for_moe_and_dense_models) {
  const auto dev = toy_marker_task(32, 2);
  const std::vector<double> epsilons{0, 0.05, 0.1, 0.2, 0.5, 1};
  const auto check = [&](auto& model) {
    double clean = 0;
    for (const EncodedExample& e : dev) {
      TokenBatch b;
      b.push_back(e.ids);
      clean += model.predict(b).front() == e.label ? 1 : 0;
    }
    clean /= static_cast<double>(dev.size());
    BOOST_TEST(clean >= 0.9);
    for (const auto norm : {PerturbationNorm::linf, PerturbationNorm::l2}) {
      const auto points = robust_accuracy(model, dev, epsilons, pgd(norm, 0, 5), Rng(6));
      BOOST_TEST(points.size() == epsilons.size());
      BOOST_TEST(points[0].accuracy.estimate == clean);
      for (std::size_t i = 0; i < points.size(); ++i) {
        BOOST_TEST(points[i].epsilon == epsilons[i]);
        BOOST_TEST(points[i].total == 32);
        BOOST_TEST(points[i].accuracy.lower <= points[i].accuracy.estimate);
        BOOST_TEST(points[i].accuracy.upper >= points[i].accuracy.estimate);
        if (i > 0) BOOST_TEST(points[i].correct <= points[i - 1].correct);
      }
      BOOST_TEST(points.back().accuracy.estimate < clean);
    }
  };
  check(moe_model());
  check(dense_model());
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_bit_identical_results) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(10, 13);
  for (const auto norm : {PerturbationNorm::linf, PerturbationNorm::l2}) {
    EmbeddingPGDOptions o = pgd(norm, 0.1, 3);
    o.batch_size = 4;
    const auto a = moerb::embedding_pgd(model, data, o, Rng(21));
    const auto b = moerb::embedding_pgd(model, data, o, Rng(21));
    for (std::size_t i = 0; i < a.size(); ++i) {
      BOOST_TEST(a[i].adversarial_prediction == b[i].adversarial_prediction);
      BOOST_TEST(a[i].adversarial_label_probability == b[i].adversarial_label_probability);
      BOOST_TEST(a[i].loss == b[i].loss);
      BOOST_TEST(a[i].perturbation_norm == b[i].perturbation_norm);
      BOOST_TEST(a[i].steps == b[i].steps);
    }
    std::vector<std::int32_t> labels;
    const TokenBatch batch = batch_of(data, labels);
    o.stop_when_fooled = false;
    const auto x = embedding_pgd_batch(model, batch, labels, o, Rng(21));
    const auto y = embedding_pgd_batch(model, batch, labels, o, Rng(21));
    const auto z = embedding_pgd_batch(model, batch, labels, o, Rng(22));
    BOOST_TEST((x.delta - y.delta).cwiseAbs().maxCoeff() == 0.0);
    BOOST_TEST((x.delta - z.delta).cwiseAbs().maxCoeff() > 0.0);
  }
}

BOOST_AUTO_TEST_CASE(a_misclassified_example_is_not_attacked_and_a_fooled_one_stops) {
  MoEModel& model = moe_model();
  auto data = toy_marker_task(8, 14);
  data[0].label = 1 - data[0].label;  // the model now gets example 0 wrong
  const auto results =
      moerb::embedding_pgd(model, data, pgd(PerturbationNorm::linf, 0.5, 5), Rng(3));
  BOOST_TEST(!results[0].clean_correct());
  BOOST_TEST(!results[0].adversarial_correct());
  BOOST_TEST(results[0].adversarial_prediction == results[0].clean_prediction);
  BOOST_TEST(results[0].perturbation_norm == 0.0);
  BOOST_TEST(results[0].steps == 0);
  for (std::size_t i = 1; i < results.size(); ++i) {
    const EmbeddingPGDResult& r = results[i];
    BOOST_TEST(r.clean_correct());
    BOOST_TEST(r.steps <= 5);
    // ε = 0.5 fools every example here; each keeps its first misclassified iterate.
    BOOST_TEST(!r.adversarial_correct());
    BOOST_TEST(r.loss > std::log(2.0));
    BOOST_TEST(r.loss == -std::log(r.adversarial_label_probability),
               boost::test_tools::tolerance(1e-9));
  }
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  MoEModel& model = moe_model();
  const auto data = toy_marker_task(4, 15);
  const auto throws_with = [&](const EmbeddingPGDOptions& o) {
    BOOST_CHECK_THROW((void)moerb::embedding_pgd(model, data, o, Rng(1)), moerb::error);
  };
  throws_with(pgd(PerturbationNorm::linf, -0.1));
  throws_with(pgd(PerturbationNorm::linf, std::numeric_limits<double>::quiet_NaN()));
  throws_with(pgd(PerturbationNorm::l2, 0.1, 0));
  EmbeddingPGDOptions o = pgd(PerturbationNorm::linf, 0.1);
  o.step_size_ratio = -1;
  throws_with(o);
  o = pgd(PerturbationNorm::linf, 0.1);
  o.batch_size = 0;
  throws_with(o);
  auto bad_label = data;
  bad_label[1].label = 2;
  BOOST_CHECK_THROW(
      (void)moerb::embedding_pgd(model, bad_label, pgd(PerturbationNorm::linf, 0.1), Rng(1)),
      moerb::error);
  auto empty_ids = data;
  empty_ids[2].ids.clear();
  BOOST_CHECK_THROW(
      (void)moerb::embedding_pgd(model, empty_ids, pgd(PerturbationNorm::linf, 0.1), Rng(1)),
      moerb::error);
  BOOST_CHECK_THROW((void)moerb::embedding_pgd(model, std::vector<EncodedExample>{},
                                               pgd(PerturbationNorm::linf, 0.1), Rng(1)),
                    moerb::error);
  const std::vector<double> negative{0, -0.1};
  BOOST_CHECK_THROW(
      (void)robust_accuracy(model, data, negative, pgd(PerturbationNorm::linf, 0.1), Rng(1)),
      moerb::error);
  BOOST_CHECK_THROW((void)robust_accuracy(model, data, std::vector<double>{},
                                          pgd(PerturbationNorm::linf, 0.1), Rng(1)),
                    moerb::error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_embedding_pgd
