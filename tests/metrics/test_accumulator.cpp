// Tests for include/moerb/metrics/accumulator.hpp
//
// The contract: every metric in moerb/metrics models MetricAccumulator (and ResamplableMetric where
// it keeps per-example data), and merging shards in any split and any order gives the one-pass
// value — bit for bit for every metric except RoutingStability's compensated sums (1e-12).
#include "moerb/metrics/accumulator.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "moerb/core/rng.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/ood.hpp"
#include "moerb/metrics/paired.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/metrics/truthfulness.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_metrics_accumulator {

namespace {

using moerb::Index;
using moerb::Rng;

/// A user's own accumulator: the mean of some values.
struct MeanValue {
  using input_type = double;
  using value_type = double;
  double sum = 0;
  std::int64_t n = 0;
  void add(double x) {
    sum += x;
    ++n;
  }
  void merge(const MeanValue& other) {
    sum += other.sum;
    n += other.n;
  }
  [[nodiscard]] double value() const { return sum / static_cast<double>(n); }
  void reset() { *this = {}; }
};

struct WithoutReset {
  using input_type = double;
  using value_type = double;
  void add(double) {}
  void merge(const WithoutReset&) {}
  [[nodiscard]] double value() const { return 0; }
};

struct WithoutInputType {
  using value_type = double;
  void add(double) {}
  void merge(const WithoutInputType&) {}
  [[nodiscard]] double value() const { return 0; }
  void reset() {}
};

/// Splits `n` examples into random shards (each example to a random shard, so shards are arbitrary
/// subsets, not only contiguous runs), feeds them, and merges the shards pairwise in a random tree.
/// Returns the merged accumulator.
template <class A, class Add>
A sharded(const A& prototype, Index n, const Add& add, Rng& rng) {
  const auto shards = static_cast<std::size_t>(1 + rng.uniform_index(7));
  std::vector<A> parts(shards, prototype);
  for (Index i = 0; i < n; ++i) add(parts[rng.uniform_index(shards)], i);
  while (parts.size() > 1) {
    const auto a = static_cast<std::size_t>(rng.uniform_index(parts.size()));
    auto b = static_cast<std::size_t>(rng.uniform_index(parts.size() - 1));
    if (b >= a) ++b;
    parts[a].merge(parts[b]);
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(b));
  }
  return parts.front();
}

/// One pass against 20 random splits; `same(one_pass_value, merged_value)` decides equality.
template <class A, class Add, class Same>
void check_sharding(const A& prototype, Index n, const Add& add, const Same& same) {
  A one_pass = prototype;
  for (Index i = 0; i < n; ++i) add(one_pass, i);
  const auto expected = one_pass.value();
  for (std::uint64_t trial = 0; trial < 20; ++trial) {
    Rng rng(1000 + trial);
    const A merged = sharded(prototype, n, add, rng);
    BOOST_TEST_CONTEXT("trial " << trial) {
      BOOST_TEST(same(expected, merged.value()));
    }
  }
}

const auto equal = [](const auto& a, const auto& b) { return a == b; };

std::vector<double> random_probabilities(Rng& rng, Index classes, bool ties) {
  std::vector<double> p(static_cast<std::size_t>(classes));
  double sum = 0;
  for (auto& v : p) {
    v = ties ? static_cast<double>(1 + rng.uniform_index(3)) : rng.uniform() + 0.01;
    sum += v;
  }
  for (auto& v : p) v /= sum;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(accumulator)

BOOST_AUTO_TEST_CASE(every_metric_models_the_concepts) {
  static_assert(moerb::MetricAccumulator<moerb::Accuracy>);
  static_assert(moerb::MetricAccumulator<moerb::ConfusionMatrix>);
  static_assert(moerb::MetricAccumulator<moerb::MacroF1>);
  static_assert(moerb::MetricAccumulator<moerb::Calibration>);
  static_assert(moerb::MetricAccumulator<moerb::OodDetection>);
  static_assert(moerb::MetricAccumulator<moerb::Truthfulness>);
  static_assert(moerb::MetricAccumulator<moerb::RefusalRate>);
  static_assert(moerb::MetricAccumulator<moerb::Harmfulness>);
  static_assert(moerb::MetricAccumulator<moerb::ExpertLoad>);
  static_assert(moerb::MetricAccumulator<moerb::ModelExpertLoad>);
  static_assert(moerb::MetricAccumulator<moerb::ExpertLabelCounts>);
  static_assert(moerb::MetricAccumulator<moerb::RoutingStability>);
  static_assert(moerb::MetricAccumulator<moerb::McNemarTest>);
  static_assert(moerb::ResamplableMetric<moerb::Calibration>);
  static_assert(moerb::ResamplableMetric<moerb::OodDetection>);
  static_assert(moerb::ResamplableMetric<moerb::Truthfulness>);
  static_assert(moerb::ResamplableMetric<moerb::Harmfulness>);
  static_assert(moerb::ResamplableMetric<moerb::RefusalRate>);
  static_assert(moerb::HasBootstrapStrata<moerb::OodDetection>);
  static_assert(!moerb::HasBootstrapStrata<moerb::Calibration>);
  // Routing and paired metrics have no per-example resampling.
  static_assert(!moerb::ResamplableMetric<moerb::RoutingStability>);
  static_assert(!moerb::ResamplableMetric<moerb::McNemarTest>);
  BOOST_TEST(moerb::detail::metrics::check_accumulator<moerb::Calibration>());
}

BOOST_AUTO_TEST_CASE(a_users_own_accumulator_fits) {
  static_assert(moerb::MetricAccumulator<MeanValue>);
  static_assert(!moerb::MetricAccumulator<WithoutReset>);
  static_assert(!moerb::MetricAccumulator<WithoutInputType>);
  static_assert(!moerb::ResamplableMetric<MeanValue>);
  moerb::MetricSet<MeanValue, moerb::Harmfulness> set;
  set.add(0.25);  // both take a double
  set.add(0.75);
  const auto [mean, harm] = set.values();
  BOOST_TEST(mean == 0.5);
  BOOST_TEST(harm.harmful_rate == 0.5);
}

BOOST_AUTO_TEST_CASE(sharded_counting_metrics_equal_one_pass_bit_for_bit) {
  Rng data(1);
  const Index n = 257;
  std::vector<std::int32_t> labels, predicted;
  for (Index i = 0; i < n; ++i) {
    labels.push_back(static_cast<std::int32_t>(data.uniform_index(5)));
    predicted.push_back(data.bernoulli(0.6) ? labels.back()
                                            : static_cast<std::int32_t>(data.uniform_index(5)));
  }
  const auto prediction = [&](Index i) {
    return moerb::LabeledPrediction{predicted[static_cast<std::size_t>(i)],
                                    labels[static_cast<std::size_t>(i)]};
  };
  check_sharding(
      moerb::Accuracy{}, n, [&](auto& a, Index i) { a.add(prediction(i)); }, equal);
  check_sharding(
      moerb::MacroF1{}, n, [&](auto& a, Index i) { a.add(prediction(i)); }, equal);
  check_sharding(
      moerb::ConfusionMatrix{}, n, [&](auto& a, Index i) { a.add(prediction(i)); }, equal);
  check_sharding(
      moerb::McNemarTest{}, n,
      [&](auto& a, Index i) {
        a.add(moerb::PairedCorrectness{
            predicted[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(i)],
            i % 3 == 0});
      },
      equal);
  const std::vector<std::string> texts{"I'm sorry, no.", "Sure: here it is.", "I CANNOT help"};
  check_sharding(
      moerb::RefusalRate{}, n,
      [&](auto& a, Index i) { a.add(texts[static_cast<std::size_t>(i) % 3]); }, equal);
}

BOOST_AUTO_TEST_CASE(sharded_per_example_metrics_equal_one_pass_bit_for_bit) {
  Rng data(2);
  const Index n = 301;
  std::vector<std::vector<double>> probabilities;
  std::vector<std::int32_t> labels;
  std::vector<double> scores;
  for (Index i = 0; i < n; ++i) {
    probabilities.push_back(random_probabilities(data, 4, i % 5 == 0));
    labels.push_back(static_cast<std::int32_t>(data.uniform_index(4)));
    scores.push_back(i % 7 == 0 ? 0.5 : data.normal());  // ties at 0.5
  }
  for (const auto binning :
       {moerb::CalibrationBinning::equal_width, moerb::CalibrationBinning::equal_mass}) {
    check_sharding(
        moerb::Calibration({.num_bins = 10, .binning = binning}), n,
        [&](auto& a, Index i) {
          a.add(moerb::LabeledProbabilities<double>{probabilities[static_cast<std::size_t>(i)],
                                                    labels[static_cast<std::size_t>(i)]});
        },
        equal);
  }
  check_sharding(
      moerb::OodDetection{}, n,
      [&](auto& a, Index i) {
        a.add(moerb::OodExample{scores[static_cast<std::size_t>(i)], i % 3 == 0});
      },
      equal);
  check_sharding(
      moerb::Harmfulness{}, n,
      [&](auto& a, Index i) { a.add(scores[static_cast<std::size_t>(i)]); }, equal);
  check_sharding(
      moerb::Truthfulness{}, n,
      [&](auto& a, Index i) {
        const auto& p = probabilities[static_cast<std::size_t>(i)];
        const std::vector<double> true_scores{std::log(p[0]), std::log(p[1])};
        const std::vector<double> false_scores{std::log(p[2]), std::log(p[3])};
        a.add(moerb::MultipleChoiceScores{true_scores, false_scores, i % 2 == 0 ? 0u : 1u});
      },
      equal);
  // A MetricSet merges member by member.
  check_sharding(
      moerb::MetricSet<moerb::Accuracy, moerb::Calibration>{}, n,
      [&](auto& a, Index i) {
        a.add(moerb::LabeledProbabilities<double>{probabilities[static_cast<std::size_t>(i)],
                                                  labels[static_cast<std::size_t>(i)]});
      },
      equal);
}

BOOST_AUTO_TEST_CASE(sharded_routing_metrics_equal_one_pass) {
  Rng data(3);
  const Index tokens = 64, experts = 6, k = 2, batches = 23;
  std::vector<moerb::MoELayerTrace<float>> clean, perturbed;
  std::vector<std::vector<std::int32_t>> token_labels;
  for (Index b = 0; b < batches; ++b) {
    for (auto* traces : {&clean, &perturbed}) {
      moerb::MoELayerTrace<float> t;
      t.probs.resize(tokens, experts);
      t.selected.resize(tokens, k);
      t.chosen.resize(tokens, k);
      t.load.assign(static_cast<std::size_t>(experts), 0);
      for (Index i = 0; i < tokens; ++i) {
        float sum = 0;
        for (Index e = 0; e < experts; ++e)
          sum += t.probs(i, e) = static_cast<float>(data.uniform());
        t.probs.row(i) /= sum;
        for (Index j = 0; j < k; ++j) {
          t.selected(i, j) = static_cast<Index>(data.uniform_index(experts));
          const bool dropped = data.bernoulli(0.1);
          t.chosen(i, j) = dropped ? -1 : t.selected(i, j);
          if (dropped) {
            ++t.dropped;
          } else {
            ++t.load[static_cast<std::size_t>(t.selected(i, j))];
          }
        }
      }
      traces->push_back(std::move(t));
    }
    std::vector<std::int32_t> labels;
    for (Index i = 0; i < tokens; ++i)
      labels.push_back(static_cast<std::int32_t>(data.uniform_index(3)));
    token_labels.push_back(labels);
  }
  check_sharding(
      moerb::ExpertLoad{}, batches,
      [&](auto& a, Index b) { a.add(clean[static_cast<std::size_t>(b)]); }, equal);
  check_sharding(
      moerb::ExpertLabelCounts{}, batches,
      [&](auto& a, Index b) {
        a.add(clean[static_cast<std::size_t>(b)],
              std::span<const std::int32_t>(token_labels[static_cast<std::size_t>(b)]));
      },
      equal);
  check_sharding(
      moerb::RoutingStability{}, batches,
      [&](auto& a, Index b) {
        a.add(clean[static_cast<std::size_t>(b)], perturbed[static_cast<std::size_t>(b)]);
      },
      [](const moerb::RoutingStabilitySummary& x, const moerb::RoutingStabilitySummary& y) {
        const auto near = [](double u, double v) { return std::abs(u - v) <= 1e-12; };
        return x.tokens == y.tokens && x.top1_change_rate == y.top1_change_rate &&
               near(x.mean_jaccard, y.mean_jaccard) && near(x.mean_kl, y.mean_kl) &&
               near(x.mean_js, y.mean_js);
      });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_metrics_accumulator
