#pragma once
// Reader for TruthfulQA (Lin, Hilton & Evans 2022, "TruthfulQA: Measuring How Models Mimic Human
// Falsehoods"), TruthfulQA.csv: columns Type, Category, Question, Best Answer, Correct Answers,
// Incorrect Answers, Source; the answer columns hold ';'-separated lists.
//
// The paper's two multiple-choice scores are built from these lists:
//   MC1: one true choice (the best answer) among the incorrect answers; score = the model picks it.
//   MC2: all correct answers (true) and all incorrect answers (false); score = the normalised
//        probability mass on the true set.
// truthfulness_random_baseline gives what a model that scores answers at random gets on average.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/csv.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/example.hpp"

namespace moerb {

/// A question with its reference answers.
struct TruthfulQAItem {
  std::string question;
  std::string category;
  std::string best_answer;
  std::vector<std::string> correct_answers;
  std::vector<std::string> incorrect_answers;
  std::string type;    ///< "Adversarial" / "Non-Adversarial" (empty when the column is absent)
  std::string source;  ///< the reference URL (empty when the column is absent)
};

/// Candidate answers with a truth flag each (1 true, 0 false).
struct MultipleChoiceTargets {
  std::string question;
  std::vector<std::string> choices;
  std::vector<std::int32_t> labels;
};

/// MC1: the best answer first (label 1), then every incorrect answer (label 0).
[[nodiscard]] inline MultipleChoiceTargets mc1_targets(const TruthfulQAItem& item) {
  MultipleChoiceTargets t;
  t.question = item.question;
  t.choices.push_back(item.best_answer);
  t.labels.push_back(1);
  for (const std::string& a : item.incorrect_answers) {
    t.choices.push_back(a);
    t.labels.push_back(0);
  }
  return t;
}

/// MC2: the correct answers (label 1; the best answer is put first when the list lacks it), then
/// the incorrect answers (label 0).
[[nodiscard]] inline MultipleChoiceTargets mc2_targets(const TruthfulQAItem& item) {
  MultipleChoiceTargets t;
  t.question = item.question;
  bool has_best = false;
  for (const std::string& a : item.correct_answers) has_best = has_best || a == item.best_answer;
  if (!has_best) {
    t.choices.push_back(item.best_answer);
    t.labels.push_back(1);
  }
  for (const std::string& a : item.correct_answers) {
    t.choices.push_back(a);
    t.labels.push_back(1);
  }
  for (const std::string& a : item.incorrect_answers) {
    t.choices.push_back(a);
    t.labels.push_back(0);
  }
  return t;
}

/// Expected MC1, MC2 and MC3 (as moerb/metrics/truthfulness.hpp computes them) of a model whose
/// answer scores are independent and identically distributed with a continuous law (no ties), or
/// the chance level a model must beat.
struct TruthfulnessBaseline {
  double mc1 = 0;
  double mc2 = 0;
  double mc3 = 0;
  std::size_t questions = 0;
};

/// The random-score baseline of a question set, the mean over `items` of, per question with T true
/// answers (those of mc2_targets) and F false answers:
///   MC1 = 1/(F+1): the best answer is the largest of F+1 exchangeable scores;
///   MC3 = 1/(F+1): each true answer beats all F false ones with probability 1/(F+1);
///   MC2 = T/(T+F): the answers' shares of the probability mass are exchangeable and sum to 1, so
///         each has mean 1/(T+F) (T/(T+F) is also MC2 when all scores are equal).
/// Throws when `items` is empty or an item has no incorrect answer.
[[nodiscard]] inline TruthfulnessBaseline truthfulness_random_baseline(
    std::span<const TruthfulQAItem> items) {
  MOERB_REQUIRE(!items.empty(), "truthfulness_random_baseline: no items");
  TruthfulnessBaseline b;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const TruthfulQAItem& item = items[i];
    MOERB_REQUIRE(!item.incorrect_answers.empty(), "truthfulness_random_baseline: item ", i, " ('",
                  detail::excerpt(item.question), "') has no incorrect answers");
    const MultipleChoiceTargets t = mc2_targets(item);
    std::size_t n_true = 0;
    for (const std::int32_t label : t.labels) n_true += label == 1 ? 1 : 0;
    const auto f = static_cast<double>(item.incorrect_answers.size());
    const auto tr = static_cast<double>(n_true);
    b.mc1 += 1.0 / (f + 1.0);
    b.mc3 += 1.0 / (f + 1.0);
    b.mc2 += tr / (tr + f);
  }
  const auto n = static_cast<double>(items.size());
  b.mc1 /= n;
  b.mc2 /= n;
  b.mc3 /= n;
  b.questions = items.size();
  return b;
}

/// Splits a ';'-separated answer list, trimming each item and dropping empty ones.
[[nodiscard]] inline std::vector<std::string> split_answer_list(std::string_view list) {
  std::vector<std::string> out;
  while (true) {
    const std::size_t end = list.find(';');
    const std::string_view item = detail::trim(list.substr(0, end));
    if (!item.empty()) out.emplace_back(item);
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return out;
}

/// Reads TruthfulQA.csv (RFC 4180 CSV with a header). Columns Question, Category, Best Answer,
/// Correct Answers and Incorrect Answers are required (a missing one throws naming it and the
/// file); Type and Source are optional. A row with the wrong number of fields throws
/// "<file>:<line>: ..."; a row with a NUL byte in any field, an empty question or best answer or no
/// incorrect answer is bad (throws, or skipped and counted with options.skip_bad_lines).
[[nodiscard]] inline std::vector<TruthfulQAItem> read_truthfulqa(const std::filesystem::path& path,
                                                                 const ReadOptions& options = {},
                                                                 ReadReport* report = nullptr) {
  ReadReport local_report;
  ReadReport& rep = report != nullptr ? *report : local_report;
  rep = ReadReport{};
  detail::BadLinePolicy policy(options, rep);

  const CsvTable table = read_csv_table(path, CsvDialect::csv());
  const std::size_t col_question = table.column("Question");
  const std::size_t col_category = table.column("Category");
  const std::size_t col_best = table.column("Best Answer");
  const std::size_t col_correct = table.column("Correct Answers");
  const std::size_t col_incorrect = table.column("Incorrect Answers");
  const std::optional<std::size_t> col_type_opt = table.find_column("Type");
  const std::optional<std::size_t> col_source_opt = table.find_column("Source");
  // Plain indices (GCC 12 warns falsely about optionals read in the loop).
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  const std::size_t col_type = col_type_opt.value_or(none);
  const std::size_t col_source = col_source_opt.value_or(none);

  std::vector<TruthfulQAItem> items;
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    auto where = [&] { return detail::location(table.source, table.row_lines[r]); };
    // A NUL byte is bad input in any text, as in the other readers (read_glue_tsv, read_jsonl).
    const auto nul_column = std::find_if(row.begin(), row.end(), [](const std::string& field) {
      return field.find('\0') != std::string::npos;
    });
    if (nul_column != row.end()) {
      const auto c = static_cast<std::size_t>(nul_column - row.begin());
      policy.bad_line(detail::concat(where(), ": column '", table.header[c],
                                     "' holds a NUL byte at byte ", nul_column->find('\0') + 1));
      continue;
    }
    TruthfulQAItem item;
    item.question = std::string(detail::trim(row[col_question]));
    item.category = std::string(detail::trim(row[col_category]));
    item.best_answer = std::string(detail::trim(row[col_best]));
    item.correct_answers = split_answer_list(row[col_correct]);
    item.incorrect_answers = split_answer_list(row[col_incorrect]);
    if (col_type != none) item.type = std::string(detail::trim(row[col_type]));
    if (col_source != none) item.source = std::string(detail::trim(row[col_source]));
    if (item.question.empty() || item.best_answer.empty() || item.incorrect_answers.empty()) {
      policy.bad_line(detail::concat(where(), ": ",
                                     item.question.empty()      ? "empty Question"
                                     : item.best_answer.empty() ? "empty Best Answer"
                                                                : "no Incorrect Answers"));
      continue;
    }
    items.push_back(std::move(item));
    if (policy.added()) break;
  }
  return items;
}

}  // namespace moerb
