#include "moerb/train/trainer.hpp"

#include <boost/test/unit_test.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"
#include "support/toy_tasks.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_trainer {

using namespace moerb;
using namespace moerb::test;

namespace {

using Classifier = EncoderClassifier<TestMoE<double>>;

Classifier make_classifier(std::uint64_t seed = 1, double dropout = 0.0, bool aux = true) {
  TransformerConfig c = tiny_config();
  c.num_segments = 0;
  c.dropout = dropout;
  Classifier::Options o;
  o.transformer = c;
  o.num_classes = 2;
  o.head_dropout = dropout;
  auto spec = tiny_moe_spec<double>(c);
  if (!aux) {
    spec.router.load_balancing_weight = 0;
    spec.router.z_loss_weight = 0;
  }
  Classifier model(o, spec);
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

Recipe quiet_recipe() {
  Recipe r;
  r.progress = false;
  r.learning_rate = 3e-3;
  r.batch_size = 8;
  r.epochs = 1;
  r.warmup_ratio = 0;
  r.dropout = 0;
  r.seed = 42;
  r.threads = 1;
  return r;
}

std::vector<Matrix<double>> values_of(Classifier& m) {
  std::vector<Matrix<double>> v;
  m.visit_parameters([&](std::string_view, Parameter<double>& p) { v.push_back(p.value); }, "");
  return v;
}

double max_difference(const std::vector<Matrix<double>>& a, const std::vector<Matrix<double>>& b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, (a[i] - b[i]).cwiseAbs().maxCoeff());
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(trainer)

BOOST_AUTO_TEST_CASE(same_seed_and_threads_give_identical_weights) {
  const auto data = toy_classification(40, 1);
  for (int threads : {1, 2}) {
    Recipe r = quiet_recipe();
    r.threads = threads;
    r.dropout = 0.1;
    auto a = make_classifier(1, 0.1);
    auto b = make_classifier(1, 0.1);
    ClassifierTrainer<Classifier>(a, r).fit(data);
    ClassifierTrainer<Classifier>(b, r).fit(data);
    BOOST_TEST(max_difference(values_of(a), values_of(b)) == 0.0);
  }
}

// Recipe::adam_moments reaches AdamW: a float model trained with float moments (torch's precision)
// ends close to the double-moment run, and not bit for bit on it. Close, not within float rounding:
// Adam divides each update by √v, so an element whose gradient is at rounding level still moves
// by a fraction of lr, differently in the two runs; both stay within a tenth of one step (lr).
BOOST_AUTO_TEST_CASE(adam_moments_in_the_recipe_reach_the_optimizer) {
  using FloatClassifier = EncoderClassifier<TestMoE<float>>;
  const auto make = [] {
    TransformerConfig c = tiny_config();
    c.num_segments = 0;
    c.dropout = 0;
    FloatClassifier::Options o;
    o.transformer = c;
    o.num_classes = 2;
    FloatClassifier model(o, tiny_moe_spec<float>(c));
    Rng rng(1);
    model.initialize(rng);
    return model;
  };
  const auto values = [](FloatClassifier& m) {
    std::vector<Matrix<double>> v;
    m.visit_parameters(
        [&](std::string_view, Parameter<float>& p) { v.push_back(p.value.cast<double>()); }, "");
    return v;
  };
  const auto data = toy_classification(16, 1);
  Recipe r = quiet_recipe();
  r.max_steps = 2;
  auto with_double = make();
  auto with_float = make();
  ClassifierTrainer<FloatClassifier>(with_double, r).fit(data);
  r.adam_moments = MomentPrecision::parameter;
  ClassifierTrainer<FloatClassifier>(with_float, r).fit(data);
  const double difference = max_difference(values(with_float), values(with_double));
  BOOST_TEST(difference > 0.0);
  BOOST_TEST(difference < 0.1 * r.learning_rate);
}

BOOST_AUTO_TEST_CASE(data_parallel_and_accumulation_match_one_big_batch) {
  // Without dropout, one SGD step over 8 examples gives the same update whether it runs as one
  // shard, two data-parallel shards, or two accumulated micro-batches (up to rounding). The
  // routers' auxiliary losses are off: like data-parallel MoE training elsewhere, each shard
  // computes its own load-balancing statistics, which is not the statistic of the whole batch.
  const auto data = toy_classification(8, 2);
  Recipe r = quiet_recipe();
  r.max_steps = 1;
  r.learning_rate = 1e-1;
  r.optimizer = OptimizerKind::sgd;
  r.sgd_momentum = 0;
  auto base = make_classifier(1, 0.0, false);
  const auto before = values_of(base);
  ClassifierTrainer<Classifier>(base, r).fit(data);
  BOOST_TEST(max_difference(values_of(base), before) > 1e-4);

  Recipe parallel = r;
  parallel.threads = 2;
  auto p = make_classifier(1, 0.0, false);
  ClassifierTrainer<Classifier>(p, parallel).fit(data);
  BOOST_TEST(max_difference(values_of(p), values_of(base)) < 1e-10);

  Recipe accumulate = r;
  accumulate.batch_size = 4;
  accumulate.grad_accumulation_steps = 2;
  auto acc = make_classifier(1, 0.0, false);
  ClassifierTrainer<Classifier>(acc, accumulate).fit(data);
  BOOST_TEST(max_difference(values_of(acc), values_of(base)) < 1e-10);
}

BOOST_AUTO_TEST_CASE(training_fits_the_toy_task) {
  const auto train = toy_classification(240, 3);
  const auto dev = toy_classification(60, 4);
  Recipe r = quiet_recipe();
  r.epochs = 6;
  r.threads = 2;
  r.learning_rate = 1e-2;
  auto model = make_classifier();
  ClassifierTrainer<Classifier> trainer(model, r);
  const double before = trainer.evaluate(dev);
  const TrainResult result = trainer.fit(train, dev);
  BOOST_TEST(result.steps == 6 * 30);
  BOOST_TEST(result.log.size() == 180u);
  BOOST_TEST(result.log.back().loss < result.log.front().loss);
  BOOST_TEST(result.best_dev_metric.has_value());
  BOOST_TEST(*result.best_dev_metric >= 0.9);
  BOOST_TEST(trainer.evaluate(dev) > before);
  BOOST_TEST(result.tokens_per_second > 0);
  // Warmup then linear decay: the last step's lr is below the peak.
  BOOST_TEST(result.log.back().lr < r.learning_rate);
}

BOOST_AUTO_TEST_CASE(freezing_knobs_keep_parameters_fixed) {
  const auto data = toy_classification(16, 5);
  Recipe r = quiet_recipe();
  r.freeze_router = true;
  auto model = make_classifier();
  std::vector<std::pair<std::string, Matrix<double>>> before;
  model.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) {
        before.emplace_back(std::string(n), p.value);
      },
      "");
  ClassifierTrainer<Classifier>(model, r).fit(data);
  std::size_t i = 0, routers = 0;
  model.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) {
        const bool is_router = name_has_component(n, "router");
        const bool same = (p.value - before[i++].second).norm() == 0.0;
        BOOST_TEST(same == is_router, n);
        routers += is_router;
      },
      "");
  BOOST_TEST(routers == 2u);

  Recipe probe = quiet_recipe();
  probe.freeze_all_but_head = true;
  auto linear = make_classifier();
  const auto b2 = values_of(linear);
  ClassifierTrainer<Classifier>(linear, probe).fit(data);
  i = 0;
  linear.visit_parameters(
      [&](std::string_view n, Parameter<double>& p) {
        const bool same = (p.value - b2[i++]).norm() == 0.0;
        BOOST_TEST(same == !name_has_prefix(n, "head"), n);
      },
      "");
}

BOOST_AUTO_TEST_CASE(early_stopping_restores_the_best_weights) {
  const auto train = toy_classification(64, 6);
  const auto dev = toy_classification(24, 7);
  Recipe r = quiet_recipe();
  r.epochs = 30;
  r.eval_every = 2;
  r.learning_rate = 5e-2;  // large enough that the dev accuracy stops improving
  r.early_stopping_patience = 2;
  auto model = make_classifier();
  ClassifierTrainer<Classifier> trainer(model, r);
  const TrainResult result = trainer.fit(train, dev);
  BOOST_TEST(result.stopped_early);
  BOOST_TEST(result.steps < 30 * 8);
  BOOST_TEST(trainer.evaluate(dev) == *result.best_dev_metric);
}

BOOST_AUTO_TEST_CASE(adversarial_training_runs_and_is_seeded) {
  const auto data = toy_classification(16, 8);
  Recipe r = quiet_recipe();
  r.adversarial.steps = 2;
  r.adversarial.adv_lr = 0.05;
  r.adversarial.adv_init_mag = 0.05;
  auto a = make_classifier();
  auto b = make_classifier();
  const TrainResult ra = ClassifierTrainer<Classifier>(a, r).fit(data);
  ClassifierTrainer<Classifier>(b, r).fit(data);
  BOOST_TEST(max_difference(values_of(a), values_of(b)) == 0.0);
  for (const auto& e : ra.log) BOOST_TEST(std::isfinite(e.loss));
  auto plain = make_classifier();
  ClassifierTrainer<Classifier>(plain, quiet_recipe()).fit(data);
  BOOST_TEST(max_difference(values_of(a), values_of(plain)) > 1e-8);
}

BOOST_AUTO_TEST_CASE(progress_lines_on_a_plain_stream) {
  const auto train = toy_classification(32, 9);
  const auto dev = toy_classification(8, 10);
  Recipe r = quiet_recipe();
  r.progress = true;
  r.epochs = 2;
  auto model = make_classifier();
  ClassifierTrainer<Classifier> trainer(model, r);
  std::ostringstream out;
  trainer.set_progress_stream(out);
  trainer.fit(train, dev);
  const std::string text = out.str();
  BOOST_TEST(text.find("epoch 2") != std::string::npos, text);
  BOOST_TEST(text.find("loss") != std::string::npos);
  BOOST_TEST(text.find("dev_acc") != std::string::npos);
  BOOST_TEST(text.find('\r') == std::string::npos);
}

BOOST_AUTO_TEST_CASE(language_model_perplexity_falls) {
  TransformerConfig c = tiny_config(PositionEncoding::rotary);
  c.num_segments = 0;
  c.dropout = 0;
  DecoderLM<TestMoE<double>>::Options o;
  o.transformer = c;
  DecoderLM<TestMoE<double>> lm(o, tiny_moe_spec<double>(c));
  Rng rng(2);
  lm.initialize(rng);
  const auto train = toy_language(120, 11);
  const auto dev = toy_language(20, 12);
  Recipe r = quiet_recipe();
  r.epochs = 4;
  r.learning_rate = 1e-2;
  r.threads = 2;
  LMTrainer<DecoderLM<TestMoE<double>>> trainer(lm, r);
  const double before = trainer.evaluate(dev);
  const TrainResult result = trainer.fit(train, dev);
  BOOST_TEST(before > 8.0);  // about the vocabulary size before training
  BOOST_TEST(*result.best_dev_metric < 3.0);
  BOOST_TEST(trainer.evaluate(dev) < before / 3);
}

BOOST_AUTO_TEST_CASE(bad_recipes_and_data_are_rejected) {
  auto model = make_classifier();
  Recipe r = quiet_recipe();
  r.batch_size = 0;
  CHECK_THROWS_NAMING((ClassifierTrainer<Classifier>(model, r)), "batch_size");
  r = quiet_recipe();
  r.expert_dropout = 1.0;
  CHECK_THROWS_NAMING((ClassifierTrainer<Classifier>(model, r)), "expert_dropout");
  ClassifierTrainer<Classifier> trainer(model, quiet_recipe());
  CHECK_THROWS_NAMING(trainer.fit({}), "empty");
  auto data = toy_classification(4, 1);
  data[2].label = 7;
  CHECK_THROWS_NAMING(trainer.fit(data), "7");
  data[2].label = 0;
  data[1].ids.clear();
  CHECK_THROWS_NAMING(trainer.fit(data), "no tokens");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_trainer
