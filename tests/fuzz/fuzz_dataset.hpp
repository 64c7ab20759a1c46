#pragma once
// Checks shared by the harnesses of the data-set readers (moerb/data/): what every TextDataset a
// reader returns must satisfy, and how the first input byte picks the ReadOptions.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "moerb/data/example.hpp"

namespace moerb::fuzz {

/// Reader options from one byte: bit 0 skip_bad_lines, bit 1 keep_unlabeled, bits 2-3
/// max_examples (0 = all, else 1-3).
[[nodiscard]] inline ReadOptions read_options(std::uint8_t byte) {
  ReadOptions o;
  o.skip_bad_lines = (byte & 1u) != 0;
  o.keep_unlabeled = (byte & 2u) != 0;
  o.max_examples = (byte >> 2) & 3u;
  return o;
}

/// Texts without NUL characters, labels in [-1, classes) with their names, the report counting
/// what was returned, the limits of `options` respected, and the summaries computable.
inline void check_dataset(const TextDataset& d, const ReadOptions& options,
                          const ReadReport& report) {
  MOERB_FUZZ_CHECK(report.read == d.size(), "report.read counts the examples");
  MOERB_FUZZ_CHECK(options.max_examples == 0 || d.size() <= options.max_examples, "max_examples");
  MOERB_FUZZ_CHECK(options.skip_bad_lines || report.skipped == 0, "skipped without skip_bad_lines");
  MOERB_FUZZ_CHECK(report.first_errors.size() <= ReadReport::max_kept_errors, "first_errors");
  for (const TextExample& e : d.examples) {
    // A NUL character is bad input however the file spells it (raw, or JSON's \u0000).
    MOERB_FUZZ_CHECK(e.text_a.find('\0') == std::string::npos, "a text holds a NUL character");
    MOERB_FUZZ_CHECK(e.text_b.find('\0') == std::string::npos, "a text holds a NUL character");
    MOERB_FUZZ_CHECK(e.label >= -1 && e.label < static_cast<std::int32_t>(d.label_names.size()),
                     "label in [-1, classes)");
    if (e.label >= 0) {
      MOERB_FUZZ_CHECK(e.label_name == d.label_names[static_cast<std::size_t>(e.label)],
                       "label_name names the label");
    } else {
      MOERB_FUZZ_CHECK(options.keep_unlabeled, "unlabeled example kept without keep_unlabeled");
    }
  }
  must_not_throw([&] { (void)d.balance_summary(); }, "TextDataset::balance_summary");
}

}  // namespace moerb::fuzz
