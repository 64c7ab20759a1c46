#pragma once
// The contract every metric in moerb/metrics keeps: a MetricAccumulator counts examples one (or a
// batch) at a time, merges with another accumulator of the same metric, gives its value and resets.
//
// Why accumulators: an evaluation runs over shards (threads, processes, files) and reduces. Every
// accumulator's merge is exact enough that merging N shards in any split and any order gives the
// value of one pass: bit for bit for counting metrics (integer counts) and for metrics that keep
// their per-example values and sort them before reducing (ranking, calibration, truthfulness);
// within 1e-12 for the few that keep compensated sums of doubles (routing stability). Each metric's
// header says which.
//
// What a MetricAccumulator A provides:
//   using input_type = ...;   // one example, e.g. LabeledPrediction; add() has overloads for
//                             // other forms of the same example and for batches, which a
//                             // MetricSet forwards too
//   using value_type = ...;   // what value() returns: a double or a summary struct
//   void add(const input_type&);
//   void merge(const A&);     // throws moerb::error when the options differ
//   value_type value() const; // throws moerb::error naming the metric when nothing was added
//   void reset();             // back to no examples, options kept
// and is copyable and default-constructible (default options), so that it round-trips through
// JSON (moerb/io/metrics_json.hpp) and sits in a MetricSet.
//
// A ResamplableMetric also gives its value on a resample of its own examples, which is what the
// percentile bootstrap (confidence.hpp) and the paired bootstrap (paired.hpp) need:
//   Index num_examples() const;
//   value_type value_on(std::span<const Index> sample) const;  // sample: indices into the
//                                                              // examples, with repeats
//   static constexpr bool resamples_in_added_order = ...;
// Examples are numbered in the order they were added (merge appends the other's examples;
// resamples_in_added_order = true), except for metrics whose state is only counts, which number
// them in a canonical order (documented per metric, resamples_in_added_order = false): that gives
// the same bootstrap distribution, but two such accumulators cannot be paired example by example.
// An accumulator may also provide `std::vector<Index> bootstrap_strata() const` (the sizes of
// consecutive groups of examples that a resample must keep, e.g. in-distribution and OOD scores);
// the bootstrap then resamples each group on its own.
#include <concepts>
#include <span>
#include <type_traits>
#include <vector>

#include "moerb/core/types.hpp"

namespace moerb {

template <class A>
concept MetricAccumulator = std::copyable<A> && std::default_initializable<A> &&
    requires(A& a, const A& other, const typename A::input_type& example) {
  typename A::value_type;
  a.add(example);
  a.merge(other);
  { other.value() } -> std::convertible_to<typename A::value_type>;
  a.reset();
};

template <class A>
concept ResamplableMetric = MetricAccumulator<A> &&
    requires(const A& a, std::span<const Index> sample) {
  { a.num_examples() } -> std::convertible_to<Index>;
  { a.value_on(sample) } -> std::convertible_to<typename A::value_type>;
  { A::resamples_in_added_order } -> std::convertible_to<bool>;
};

template <class A>
concept HasBootstrapStrata = requires(const A& a) {
  { a.bootstrap_strata() } -> std::convertible_to<std::vector<Index>>;
};

namespace detail::metrics {

/// Spells out which part of the MetricAccumulator contract A misses, one static_assert each, so
/// that a user's own accumulator gets a readable error instead of a failed concept deep in a
/// template. Use as `static_assert(detail::metrics::check_accumulator<A>())`.
template <class A>
consteval bool check_accumulator() {
  static_assert(std::default_initializable<A>,
                "MetricAccumulator: the type must be default-constructible (default options)");
  static_assert(std::copyable<A>, "MetricAccumulator: the type must be copyable");
  static_assert(
      requires { typename A::input_type; },
      "MetricAccumulator: declare `using input_type = <one example>;`");
  static_assert(
      requires { typename A::value_type; },
      "MetricAccumulator: declare `using value_type = <what value() returns>;`");
  static_assert(
      requires(A & a, const typename A::input_type& x) { a.add(x); },
      "MetricAccumulator: add(const input_type&) is missing");
  static_assert(
      requires(A & a, const A& b) { a.merge(b); }, "MetricAccumulator: merge(const A&) is missing");
  static_assert(
      requires(const A& a) { a.value(); }, "MetricAccumulator: value() const is missing");
  static_assert(
      requires(A & a) { a.reset(); }, "MetricAccumulator: reset() is missing");
  return MetricAccumulator<A>;
}

}  // namespace detail::metrics

}  // namespace moerb
