#pragma once
// Reader for TruthfulQA (Lin, Hilton & Evans 2022, "TruthfulQA: Measuring How Models Mimic Human
// Falsehoods"), TruthfulQA.csv: columns Type, Category, Question, Best Answer, Correct Answers,
// Incorrect Answers, Source; the answer columns hold ';'-separated lists.
//
// The paper's two multiple-choice scores are built from these lists:
//   MC1: one true choice (the best answer) among the incorrect answers; score = the model picks it.
//   MC2: all correct answers (true) and all incorrect answers (false); score = the normalised
//        probability mass on the true set.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
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
/// "<file>:<line>: ..."; a row with an empty question or best answer or no incorrect answer is bad
/// (throws, or skipped and counted with options.skip_bad_lines).
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
