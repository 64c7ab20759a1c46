#pragma once
// MetricSet<A, B, ...>: several metric accumulators fed by one call, so that an evaluation loop
// writes `metrics.add(example)` once instead of a line (or a loop) per metric.
//
//   moerb::MetricSet<moerb::Accuracy, moerb::MacroF1, moerb::Calibration> metrics;
//   metrics.add(probabilities, labels);          // a batch: every member that takes it
//   auto [accuracy, f1, calibration] = metrics.values();
//
// add(args...) forwards to every member that has an add(args...) overload and skips the others
// (e.g. Calibration takes probability rows but not bare predictions); a call that no member takes
// does not compile. merge, reset and values act on all members, member by member, so a MetricSet
// is itself a MetricAccumulator and shards of MetricSets merge like their members.
#include <cstddef>
#include <tuple>
#include <utility>

#include "moerb/metrics/accumulator.hpp"

namespace moerb {

/// True when m.add(args...) compiles for an M m.
template <class M, class... Args>
concept AcceptsExample = requires(M& m, const Args&... args) {
  m.add(args...);
};

template <MetricAccumulator... Metrics>
class MetricSet {
  static_assert(sizeof...(Metrics) >= 1, "MetricSet: give at least one accumulator");

 public:
  /// One example for every member: a tuple of the members' own input types, added member by member.
  using input_type = std::tuple<typename Metrics::input_type...>;
  using value_type = std::tuple<typename Metrics::value_type...>;

  MetricSet() = default;
  /// Members with non-default options: MetricSet<Calibration, OodDetection>(Calibration({...}),
  /// {}).
  explicit MetricSet(Metrics... metrics) : metrics_(std::move(metrics)...) {}

  /// Feeds `args` to every member that accepts them.
  template <class... Args>
  void add(const Args&... args) {
    static_assert((AcceptsExample<Metrics, Args...> || ...),
                  "MetricSet::add: no member accumulator has an add() that takes these arguments");
    std::apply([&](auto&... m) { (add_if_accepted(m, args...), ...); }, metrics_);
  }

  /// One input_type per member, in order.
  void add(const input_type& examples) {
    add_each(examples, std::index_sequence_for<Metrics...>{});
  }

  void merge(const MetricSet& other) { merge_each(other, std::index_sequence_for<Metrics...>{}); }

  void reset() {
    std::apply([](auto&... m) { (m.reset(), ...); }, metrics_);
  }

  /// Every member's value, in member order (a member that throws stops the ones after it).
  [[nodiscard]] value_type values() const {
    return std::apply([](const auto&... m) { return value_type{m.value()...}; }, metrics_);
  }
  [[nodiscard]] value_type value() const { return values(); }

  template <std::size_t I>
  [[nodiscard]] auto& get() {
    return std::get<I>(metrics_);
  }
  template <std::size_t I>
  [[nodiscard]] const auto& get() const {
    return std::get<I>(metrics_);
  }
  /// The member of type M (which must occur once).
  template <class M>
  [[nodiscard]] M& get() {
    return std::get<M>(metrics_);
  }
  template <class M>
  [[nodiscard]] const M& get() const {
    return std::get<M>(metrics_);
  }

  static constexpr std::size_t size() { return sizeof...(Metrics); }

 private:
  template <class M, class... Args>
  static void add_if_accepted(M& m, const Args&... args) {
    if constexpr (AcceptsExample<M, Args...>) m.add(args...);
  }
  template <std::size_t... I>
  void add_each(const input_type& examples, std::index_sequence<I...>) {
    (std::get<I>(metrics_).add(std::get<I>(examples)), ...);
  }
  template <std::size_t... I>
  void merge_each(const MetricSet& other, std::index_sequence<I...>) {
    (std::get<I>(metrics_).merge(std::get<I>(other.metrics_)), ...);
  }

  std::tuple<Metrics...> metrics_;
};

}  // namespace moerb
