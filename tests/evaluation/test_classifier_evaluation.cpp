// Tests for include/moerb/evaluation/classifier_evaluation.hpp
//
// A small float MoE classifier and its dense twin evaluated on random examples: the outputs match
// the model's own forward, the metrics match hand counts from the outputs, and the values do not
// depend on the thread count or the batch size.
#include "moerb/evaluation/classifier_evaluation.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <span>
#include <vector>

#include "evaluation/evaluation_testing.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/routing.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_evaluation_classifier_evaluation {

using namespace moerb;
using namespace moerb::test;

namespace {

/// A user's metric of form 1: records which examples it saw, in which order, and with a trace.
struct SeenBatches {
  using input_type = ClassifierBatch<float>;
  using value_type = Index;
  std::vector<Index> firsts;
  std::vector<Index> sizes;
  Index traced = 0;
  Index rows_checked = 0;
  void add(const ClassifierBatch<float>& b) {
    firsts.push_back(b.first);
    sizes.push_back(static_cast<Index>(b.examples.size()));
    traced += b.trace != nullptr && !b.trace->moe_layers.empty() ? 1 : 0;
    BOOST_TEST(b.logits->rows() == static_cast<Index>(b.examples.size()));
    BOOST_TEST(b.probabilities->rows() == b.logits->rows());
    BOOST_TEST(b.tokens->num_sequences() == b.logits->rows());
    BOOST_TEST(b.labels.size() == b.examples.size());
    for (std::size_t i = 0; i < b.examples.size(); ++i) {
      BOOST_TEST(b.labels[i] == b.examples[i].label);
      ++rows_checked;
    }
  }
  void merge(const SeenBatches&) {}
  [[nodiscard]] Index value() const { return rows_checked; }
  void reset() { *this = {}; }
};

using Metrics = MetricSet<Accuracy, Calibration, ModelExpertLoad>;

}  // namespace

BOOST_AUTO_TEST_SUITE(classifier_evaluation)

BOOST_AUTO_TEST_CASE(outputs_match_the_models_forward_and_metrics_match_the_outputs) {
  auto model = evaluation_moe_classifier();
  const auto data = random_examples(37, 1);
  Metrics metrics;
  EvaluationOptions options;
  options.batch_size = 5;
  options.threads = 1;
  const auto out =
      evaluate_classifier(model, std::span<const EncodedExample>(data), metrics, options);
  BOOST_TEST(out.logits.rows() == 37);
  BOOST_TEST(out.logits.cols() == 3);

  // Each example alone through the model gives its row (up to float rounding of other GEMM shapes).
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    TokenBatch one;
    one.push_back(data[i].ids, data[i].segments);
    const Matrix<float> logits = model.forward(one, ForwardContext{});
    for (Index k = 0; k < 3; ++k) {
      BOOST_TEST(std::abs(logits(0, k) - out.logits(static_cast<Index>(i), k)) <= 1e-4f);
    }
    BOOST_TEST(std::abs(out.probabilities.row(static_cast<Index>(i)).sum() - 1.0) <= 1e-12);
    Index best = 0;
    out.logits.row(static_cast<Index>(i)).maxCoeff(&best);
    BOOST_TEST(out.predicted[i] == best);
    BOOST_TEST(out.labels[i] == data[i].label);
    correct += out.predicted[i] == data[i].label ? 1 : 0;
  }
  const auto [accuracy, calibration, load] = metrics.values();
  BOOST_TEST(accuracy == static_cast<double>(correct) / 37.0);
  BOOST_TEST(calibration.count == 37);
  BOOST_TEST(calibration.accuracy == accuracy);
  // Both MoE blocks were traced on every token: top-2 routing of every token, no drops.
  BOOST_TEST(load.size() == 2u);
  Index tokens = 0;
  for (const auto& e : data) tokens += static_cast<Index>(e.ids.size());
  for (const auto& layer : load) {
    BOOST_TEST(layer.tokens == tokens);
    std::int64_t assignments = 0;
    for (const auto l : layer.load) assignments += l;
    BOOST_TEST(assignments == 2 * tokens);
  }
  const auto c = out.correctness();
  BOOST_TEST(c.size() == 37u);
  BOOST_TEST(std::count(c.begin(), c.end(), 1.0) == correct);
}

BOOST_AUTO_TEST_CASE(values_do_not_depend_on_threads_and_counts_not_on_the_batch_size) {
  auto model = evaluation_moe_classifier();
  const auto data = random_examples(53, 2);
  const auto run = [&](int threads, Index batch_size) {
    Metrics metrics;
    EvaluationOptions options;
    options.threads = threads;
    options.batch_size = batch_size;
    const auto out =
        evaluate_classifier(model, std::span<const EncodedExample>(data), metrics, options);
    return std::make_pair(out, metrics.values());
  };
  const auto [out1, values1] = run(1, 4);
  const auto [out2, values2] = run(2, 4);
  const auto [out3, values3] = run(3, 4);
  BOOST_TEST((out1.logits == out2.logits));
  BOOST_TEST((out1.logits == out3.logits));
  BOOST_TEST((values1 == values2));
  BOOST_TEST((values1 == values3));
  // Another batching packs other sequences together: the same decisions and routing counts.
  const auto [out4, values4] = run(2, 9);
  BOOST_TEST(std::get<0>(values4) == std::get<0>(values1));
  BOOST_TEST((std::get<2>(values4)[0].load == std::get<2>(values1)[0].load));
  BOOST_TEST((std::get<2>(values4)[1].load == std::get<2>(values1)[1].load));
}

BOOST_AUTO_TEST_CASE(a_batch_metric_sees_every_example_once_in_order_with_the_trace) {
  auto model = evaluation_moe_classifier();
  const auto data = random_examples(23, 3);
  MetricSet<SeenBatches, Accuracy> metrics;
  EvaluationOptions options;
  options.batch_size = 6;
  options.threads = 2;
  evaluate_classifier(model, std::span<const EncodedExample>(data), metrics, options);
  const SeenBatches& seen = metrics.get<0>();
  BOOST_TEST((seen.firsts == std::vector<Index>{0, 6, 12, 18}));
  BOOST_TEST((seen.sizes == std::vector<Index>{6, 6, 6, 5}));
  BOOST_TEST(seen.traced == 4);
  BOOST_TEST(seen.rows_checked == 23);
  BOOST_TEST(metrics.get<1>().num_examples() == 23);
}

BOOST_AUTO_TEST_CASE(a_dense_model_skips_the_routing_metric) {
  auto model = evaluation_dense_classifier();
  const auto data = random_examples(10, 4);
  Metrics metrics;
  evaluate_classifier(model, std::span<const EncodedExample>(data), metrics);
  BOOST_TEST(metrics.get<0>().num_examples() == 10);
  BOOST_CHECK_THROW((void)metrics.get<2>().value(), moerb::error);  // no trace was added
}

BOOST_AUTO_TEST_CASE(random_inference_routing_is_seeded) {
  auto model = evaluation_moe_classifier();
  model.set_random_inference_routing(true);
  const auto data = random_examples(30, 5);
  const auto run = [&](std::uint64_t seed, int threads) {
    MetricSet<Accuracy> m;
    EvaluationOptions o;
    o.seed = seed;
    o.threads = threads;
    o.batch_size = 4;
    return evaluate_classifier(model, std::span<const EncodedExample>(data), m, o).logits;
  };
  BOOST_TEST((run(1, 1) == run(1, 2)));
  BOOST_TEST(!(run(1, 1) == run(2, 1)));
}

BOOST_AUTO_TEST_CASE(bad_input_is_named) {
  auto model = evaluation_moe_classifier();
  auto data = random_examples(8, 6);
  Metrics metrics;
  const auto span = [&] { return std::span<const EncodedExample>(data); };
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, std::span<const EncodedExample>(), metrics),
                        moerb::error, message_has({"evaluate_classifier", "no examples"}));
  EvaluationOptions bad;
  bad.batch_size = 0;
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, span(), metrics, bad), moerb::error,
                        message_has({"evaluate_classifier", "batch_size = 0"}));
  data[5].label = 3;
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, span(), metrics), moerb::error,
                        message_has({"evaluate_classifier", "example 5", "label 3", "[0, 3)"}));
  data[5].label = -1;
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, span(), metrics), moerb::error,
                        message_has({"example 5", "label -1"}));
  // Unlabelled examples are fine when only outputs are asked for.
  BOOST_TEST(classifier_outputs(model, span()).labels[5] == -1);
  data[5].label = 0;
  data[2].ids.clear();
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, span(), metrics), moerb::error,
                        message_has({"example 2", "no tokens"}));
  data[2].ids = {1, 2};
  data[2].segments = {0};
  BOOST_CHECK_EXCEPTION(evaluate_classifier(model, span(), metrics), moerb::error,
                        message_has({"example 2", "1 segment ids for 2 tokens"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_evaluation_classifier_evaluation
