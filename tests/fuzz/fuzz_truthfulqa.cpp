// Fuzzes read_truthfulqa (include/moerb/data/truthfulqa.hpp) with a TruthfulQA.csv.
//
// Input: byte 0 bit 0 sets ReadOptions::skip_bad_lines, bits 2-3 max_examples (see
// fuzz_dataset.hpp); the rest is the file (the reader takes a path, so it is written to a
// per-process temporary file). Checks: the reader succeeds or throws moerb::error; every item has a
// question, a best answer and an incorrect answer, no text holds a NUL byte, answers are trimmed
// and non-empty, and the MC1/MC2 targets built from it have one label per choice with the true
// choices first.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_dataset.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/truthfulqa.hpp"

namespace {

bool has_nul(const std::string& text) {
  return text.find('\0') != std::string::npos;
}

void check_answers(const std::vector<std::string>& answers) {
  for (const std::string& a : answers) {
    MOERB_FUZZ_CHECK(!has_nul(a), "an answer holds a NUL byte");
    MOERB_FUZZ_CHECK(!a.empty() && moerb::detail::trim(a) == a, "answers trimmed, non-empty");
    MOERB_FUZZ_CHECK(a.find(';') == std::string::npos, "answers split at ';'");
  }
}

void check_targets(const moerb::MultipleChoiceTargets& t) {
  MOERB_FUZZ_CHECK(t.choices.size() == t.labels.size(), "one label per choice");
  MOERB_FUZZ_CHECK(!t.labels.empty() && t.labels.front() == 1, "a true choice first");
  MOERB_FUZZ_CHECK(std::is_sorted(t.labels.rbegin(), t.labels.rend()), "true choices first");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const moerb::fuzz::TempFile file("TruthfulQA.csv");
  const moerb::ReadOptions options = moerb::fuzz::read_options(data[0]);
  const auto& path = file.write(data + 1, size - 1);
  moerb::ReadReport report;
  moerb::fuzz::parses([&] {
    const auto items = moerb::read_truthfulqa(path, options, &report);
    MOERB_FUZZ_CHECK(report.read == items.size(), "report.read counts the items");
    MOERB_FUZZ_CHECK(options.max_examples == 0 || items.size() <= options.max_examples,
                     "max_examples");
    for (const moerb::TruthfulQAItem& item : items) {
      MOERB_FUZZ_CHECK(!item.question.empty() && !item.best_answer.empty(), item.question);
      MOERB_FUZZ_CHECK(!item.incorrect_answers.empty(), item.question);
      MOERB_FUZZ_CHECK(!has_nul(item.question) && !has_nul(item.best_answer) &&
                           !has_nul(item.category) && !has_nul(item.type) && !has_nul(item.source),
                       "a text holds a NUL byte");
      check_answers(item.correct_answers);
      check_answers(item.incorrect_answers);
      check_targets(moerb::mc1_targets(item));
      check_targets(moerb::mc2_targets(item));
    }
  });
  return 0;
}
