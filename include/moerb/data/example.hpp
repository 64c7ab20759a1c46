#pragma once
// Labelled text examples and data sets, the common output of every reader in moerb/data/, with the
// bookkeeping readers share (read options, a report of skipped lines) and deterministic shuffling
// and splitting driven by moerb::Rng.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/core/rng.hpp"

namespace moerb {

/// One classification example: a single text (text_b empty) or a text pair (premise/hypothesis,
/// question/sentence, ...). `label` indexes the data set's label_names; -1 means unlabeled.
struct TextExample {
  std::string text_a;
  std::string text_b;
  std::int32_t label = -1;
  std::string label_name;  ///< label_names[label], or the raw label / origin tag for label -1
  std::string id;          ///< the source's identifier when it has one (pairID, idx, synset id)
};

/// A list of examples with the names of its classes.
struct TextDataset {
  std::vector<TextExample> examples;
  std::vector<std::string> label_names;
  std::string name;

  [[nodiscard]] std::size_t size() const { return examples.size(); }
  [[nodiscard]] bool empty() const { return examples.empty(); }

  /// Number of examples per class (size label_names.size()); unlabeled examples are not counted.
  /// Throws when a label lies outside [-1, label_names.size()).
  [[nodiscard]] std::vector<std::size_t> label_counts() const {
    std::vector<std::size_t> counts(label_names.size(), 0);
    for (std::size_t i = 0; i < examples.size(); ++i) {
      const std::int32_t label = examples[i].label;
      if (label == -1) continue;
      MOERB_REQUIRE(label >= 0 && static_cast<std::size_t>(label) < label_names.size(), "TextDataset '",
              name, "': example ", i, " has label ", label, ", expected -1 or in [0, ",
              label_names.size(), ")");
      ++counts[static_cast<std::size_t>(label)];
    }
    return counts;
  }

  [[nodiscard]] std::size_t unlabeled_count() const {
    return static_cast<std::size_t>(std::count_if(
        examples.begin(), examples.end(), [](const TextExample& e) { return e.label == -1; }));
  }

  /// Share of the labelled examples that belong to the most frequent class: the accuracy of always
  /// predicting that class (1/label_names.size() for a balanced set). 0 when nothing is labelled.
  [[nodiscard]] double majority_fraction() const {
    const std::vector<std::size_t> counts = label_counts();
    std::size_t total = 0, largest = 0;
    for (const std::size_t c : counts) {
      total += c;
      largest = std::max(largest, c);
    }
    return total == 0 ? 0.0 : static_cast<double>(largest) / static_cast<double>(total);
  }

  /// One line: "<name>: <n> examples; <label> <count> (<percent>%), ...; majority 0.125".
  [[nodiscard]] std::string balance_summary() const {
    const std::vector<std::size_t> counts = label_counts();
    std::ostringstream os;
    os << (name.empty() ? std::string("dataset") : name) << ": " << examples.size() << " examples";
    const double n = static_cast<double>(examples.size());
    for (std::size_t c = 0; c < counts.size(); ++c) {
      os << (c == 0 ? "; " : ", ") << label_names[c] << " " << counts[c] << " (" << std::fixed
         << std::setprecision(1) << (n > 0 ? 100.0 * static_cast<double>(counts[c]) / n : 0.0)
         << "%)";
    }
    const std::size_t unlabeled = unlabeled_count();
    if (unlabeled > 0) os << ", unlabeled " << unlabeled;
    os << "; majority " << std::fixed << std::setprecision(3) << majority_fraction();
    return os.str();
  }
};

/// How a reader treats problem lines and how much it reads.
struct ReadOptions {
  /// false: the first malformed line throws moerb::error naming file:line. true: it is skipped and
  /// counted in ReadReport::skipped (the first few messages are kept in first_errors).
  bool skip_bad_lines = false;
  /// Stop after this many examples (0 = read everything).
  std::size_t max_examples = 0;
  /// Examples whose gold label is the source's "no label" marker (SNLI's "-", a null label) are
  /// dropped and counted in ReadReport::unlabeled; true keeps them with label -1.
  bool keep_unlabeled = false;
};

/// What a reader did: examples returned, malformed lines skipped, unlabeled examples dropped.
struct ReadReport {
  static constexpr std::size_t max_kept_errors = 10;

  std::size_t read = 0;
  std::size_t skipped = 0;
  std::size_t unlabeled = 0;
  /// Messages of the first max_kept_errors skipped lines, each naming file:line.
  std::vector<std::string> first_errors;
};

namespace detail {

/// Fisher-Yates shuffle drawing from moerb::Rng (std::shuffle's output is implementation-defined).
template <class T>
void fisher_yates(std::vector<T>& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.uniform_index(i));
    if (j != i - 1) std::swap(items[i - 1], items[j]);
  }
}

}  // namespace detail

/// Shuffles the examples in place (Fisher-Yates with rng.uniform_index; same rng state → same
/// order on every platform).
inline void shuffle_examples(TextDataset& dataset, Rng& rng) {
  detail::fisher_yates(dataset.examples, rng);
}

/// A copy of `dataset` shuffled with Rng(seed).
[[nodiscard]] inline TextDataset shuffled(TextDataset dataset, std::uint64_t seed) {
  Rng rng(seed);
  shuffle_examples(dataset, rng);
  return dataset;
}

struct DatasetSplit {
  TextDataset first;
  TextDataset second;
};

/// Splits `dataset` into a part with ≈ first_fraction of the examples and the rest,
/// deterministically from `seed`. Stratified (default): each class (and the unlabeled group) is
/// split on its own, so that both parts keep the label balance; the count per class is
/// round(first_fraction · n_class). Both parts keep the examples' original relative order and the
/// label names; their names get the suffixes "/first" and "/second".
[[nodiscard]] inline DatasetSplit split_dataset(const TextDataset& dataset, double first_fraction,
                                                std::uint64_t seed, bool stratified = true) {
  MOERB_REQUIRE(first_fraction >= 0.0 && first_fraction <= 1.0,
          "split_dataset: first_fraction = ", first_fraction, ", expected in [0, 1]");
  const std::size_t classes = dataset.label_names.size();
  // Group 0 holds unlabeled examples, group c + 1 class c; one group when not stratified.
  std::vector<std::vector<std::size_t>> groups(stratified ? classes + 1 : 1);
  (void)dataset.label_counts();  // validates the labels
  for (std::size_t i = 0; i < dataset.examples.size(); ++i) {
    const std::size_t g =
        stratified ? static_cast<std::size_t>(dataset.examples[i].label + 1) : std::size_t{0};
    groups[g].push_back(i);
  }
  const Rng root(seed);
  std::vector<char> in_first(dataset.examples.size(), 0);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    auto& idx = groups[g];
    Rng rng = root.split(g);
    detail::fisher_yates(idx, rng);
    const auto take =
        static_cast<std::size_t>(std::llround(first_fraction * static_cast<double>(idx.size())));
    for (std::size_t k = 0; k < take && k < idx.size(); ++k) in_first[idx[k]] = 1;
  }
  DatasetSplit out;
  out.first.label_names = out.second.label_names = dataset.label_names;
  out.first.name = dataset.name + "/first";
  out.second.name = dataset.name + "/second";
  for (std::size_t i = 0; i < dataset.examples.size(); ++i) {
    (in_first[i] ? out.first : out.second).examples.push_back(dataset.examples[i]);
  }
  return out;
}

namespace detail {

/// Maps the label spellings of a file to class ids.
///
/// A raw label resolves to class c when it equals values[c] (the file's spelling, e.g. ANLI's "e"),
/// or names[c], or is the decimal integer c itself (GLUE's "0"/"1", AdvGLUE's integer labels).
class LabelMapping {
 public:
  LabelMapping() = default;
  LabelMapping(std::vector<std::string> names, std::vector<std::string> values,
               std::string_view where)
      : names_(std::move(names)), values_(std::move(values)) {
    MOERB_REQUIRE(values_.empty() || values_.size() == names_.size(), where, ": ", values_.size(),
            " label_values for ", names_.size(), " label_names; give one spelling per label name");
    for (std::size_t i = 0; i < names_.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        MOERB_REQUIRE(names_[i] != names_[j], where, ": label name '", names_[i], "' appears twice");
        MOERB_REQUIRE(values_.empty() || values_[i] != values_[j], where, ": label value '", values_[i],
                "' appears twice");
      }
    }
  }

  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
  [[nodiscard]] std::size_t size() const { return names_.size(); }

  [[nodiscard]] std::optional<std::int32_t> from_string(std::string_view raw) const {
    for (std::size_t c = 0; c < names_.size(); ++c) {
      if ((!values_.empty() && raw == values_[c]) || raw == names_[c]) {
        return static_cast<std::int32_t>(c);
      }
    }
    if (!raw.empty() && raw.size() < 10 &&
        std::all_of(raw.begin(), raw.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return from_integer(std::stoll(std::string(raw)));
    }
    return std::nullopt;
  }

  [[nodiscard]] std::optional<std::int32_t> from_integer(long long raw) const {
    if (raw < 0 || raw >= static_cast<long long>(names_.size())) return std::nullopt;
    return static_cast<std::int32_t>(raw);
  }

  /// "'entailment', 'neutral', 'contradiction' (or 0..2)" for error messages.
  [[nodiscard]] std::string expected() const {
    std::string out;
    const auto& shown = values_.empty() ? names_ : values_;
    for (std::size_t c = 0; c < shown.size(); ++c) {
      out += (c == 0 ? "'" : ", '") + shown[c] + "'";
    }
    return concat(out, " (or 0..", names_.empty() ? 0 : names_.size() - 1, ")");
  }

 private:
  std::vector<std::string> names_;
  std::vector<std::string> values_;
};

/// Applies ReadOptions to problem lines: throws, or counts and keeps the message.
class BadLinePolicy {
 public:
  BadLinePolicy(const ReadOptions& options, ReadReport& report)
      : options_(options), report_(report) {}

  /// Throws moerb::error(message) unless skip_bad_lines; then records it.
  void bad_line(std::string message) {
    if (!options_.skip_bad_lines) throw error(message);
    ++report_.skipped;
    if (report_.first_errors.size() < ReadReport::max_kept_errors) {
      report_.first_errors.push_back(std::move(message));
    }
  }

  /// Records an example without a gold label; true when it should still be kept (label -1).
  bool unlabeled() {
    if (options_.keep_unlabeled) return true;
    ++report_.unlabeled;
    return false;
  }

  /// Counts one returned example; true when max_examples is reached and reading should stop.
  bool added() {
    ++report_.read;
    return options_.max_examples != 0 && report_.read >= options_.max_examples;
  }

 private:
  const ReadOptions& options_;
  ReadReport& report_;
};

}  // namespace detail
}  // namespace moerb
