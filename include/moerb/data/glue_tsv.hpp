#pragma once
// Reader for the GLUE benchmark's TSV files (Wang et al. 2019, "GLUE: A Multi-Task Benchmark and
// Analysis Platform for Natural Language Understanding"): a header row, one example per line,
// tab-separated and unquoted. Columns are picked by name (GlueTsvFields), and labels may be class
// ids ("0"/"1" in SST-2, QQP) or class names ("entailment" in MNLI, RTE, QNLI).
//
//   auto sst2 = moerb::read_glue_tsv("SST-2/dev.tsv", moerb::GlueTsvFields::sst2());
//   auto mnli = moerb::read_glue_tsv("MNLI/dev_matched.tsv", moerb::GlueTsvFields::mnli());
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/csv.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/example.hpp"

namespace moerb {

/// Which columns hold the texts, the label and the id, and how labels map to classes.
struct GlueTsvFields {
  std::string text_a = "sentence";
  std::string text_b;           ///< second text of a pair task; empty: single-text task
  std::string label = "label";  ///< empty: no label column (GLUE test files) → every label is -1
  std::string id;               ///< empty: examples get no id
  /// Class names (label ids are positions in this list). Required when `label` is set. A label
  /// field resolves to class c when it equals label_values[c], label_names[c] or the integer c.
  std::vector<std::string> label_names;
  /// The file's spelling of each class when it differs from label_names (one per name), or empty.
  std::vector<std::string> label_values;
  /// A label field equal to this marks an example without a gold label (see
  /// ReadOptions::keep_unlabeled).
  std::string unlabeled_value = "-";

  /// SST-2: sentence, label 0/1.
  [[nodiscard]] static GlueTsvFields sst2() {
    GlueTsvFields f;
    f.label_names = {"negative", "positive"};
    return f;
  }
  /// MNLI train / dev_matched / dev_mismatched: sentence1, sentence2, gold_label, pairID.
  [[nodiscard]] static GlueTsvFields mnli() {
    GlueTsvFields f;
    f.text_a = "sentence1";
    f.text_b = "sentence2";
    f.label = "gold_label";
    f.id = "pairID";
    f.label_names = {"entailment", "neutral", "contradiction"};
    return f;
  }
  /// RTE: index, sentence1, sentence2, label entailment/not_entailment.
  [[nodiscard]] static GlueTsvFields rte() {
    GlueTsvFields f;
    f.text_a = "sentence1";
    f.text_b = "sentence2";
    f.id = "index";
    f.label_names = {"entailment", "not_entailment"};
    return f;
  }
  /// QNLI: index, question, sentence, label entailment/not_entailment.
  [[nodiscard]] static GlueTsvFields qnli() {
    GlueTsvFields f;
    f.text_a = "question";
    f.text_b = "sentence";
    f.id = "index";
    f.label_names = {"entailment", "not_entailment"};
    return f;
  }
  /// QQP: id, qid1, qid2, question1, question2, is_duplicate 0/1.
  [[nodiscard]] static GlueTsvFields qqp() {
    GlueTsvFields f;
    f.text_a = "question1";
    f.text_b = "question2";
    f.label = "is_duplicate";
    f.id = "id";
    f.label_names = {"not_duplicate", "duplicate"};
    return f;
  }
  /// MRPC as distributed by GLUE: Quality, #1 ID, #2 ID, #1 String, #2 String.
  [[nodiscard]] static GlueTsvFields mrpc() {
    GlueTsvFields f;
    f.text_a = "#1 String";
    f.text_b = "#2 String";
    f.label = "Quality";
    f.label_names = {"not_equivalent", "equivalent"};
    return f;
  }
  /// WNLI: index, sentence1, sentence2, label 0 (not_entailment) / 1 (entailment).
  [[nodiscard]] static GlueTsvFields wnli() {
    GlueTsvFields f;
    f.text_a = "sentence1";
    f.text_b = "sentence2";
    f.id = "index";
    f.label_names = {"not_entailment", "entailment"};
    return f;
  }
};

/// Reads GLUE-style TSV from a stream; `source` names it in messages and becomes the data set's
/// name. A missing column throws "<source>: no column '<name>' (columns: ...)". A line with the
/// wrong number of fields, a NUL byte in a text or an unknown label throws "<source>:<line>: ..." unless
/// options.skip_bad_lines, which skips and counts it in `report`.
[[nodiscard]] inline TextDataset read_glue_tsv(std::istream& in, std::string source,
                                               const GlueTsvFields& fields,
                                               const ReadOptions& options = {},
                                               ReadReport* report = nullptr) {
  ReadReport local_report;
  ReadReport& rep = report != nullptr ? *report : local_report;
  rep = ReadReport{};
  detail::BadLinePolicy policy(options, rep);

  const bool labelled = !fields.label.empty();
  MOERB_REQUIRE(!fields.text_a.empty(), "read_glue_tsv(", source, "): fields.text_a is empty");
  MOERB_REQUIRE(!labelled || !fields.label_names.empty(), "read_glue_tsv(", source,
          "): fields.label_names is empty; give the class names for column '", fields.label,
          "' (e.g. {\"negative\", \"positive\"} for SST-2)");
  const detail::LabelMapping labels(fields.label_names, fields.label_values,
                                    detail::concat("read_glue_tsv(", source, ")"));

  DelimitedReader reader(in, source, CsvDialect::tsv());
  std::vector<std::string> header;
  MOERB_REQUIRE(reader.next(header), source, ": empty file, expected a header row");
  CsvTable columns;  // only for the column lookup and its error message
  columns.source = source;
  columns.header = header;
  const std::size_t col_a = columns.column(fields.text_a);
  // An absent optional column is `none` (plain indices: GCC 12 warns falsely on optionals here).
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  const std::size_t col_b = fields.text_b.empty() ? none : columns.column(fields.text_b);
  const std::size_t col_label = labelled ? columns.column(fields.label) : none;
  const std::size_t col_id = fields.id.empty() ? none : columns.column(fields.id);

  TextDataset dataset;
  dataset.name = source;
  dataset.label_names = fields.label_names;
  std::vector<std::string> row;
  while (reader.next(row)) {
    auto where = [&] { return detail::location(source, reader.line()); };
    if (row.size() != header.size()) {
      policy.bad_line(detail::concat(where(), ": ", row.size(), " fields, expected ", header.size(),
                                     " (as many as the header)"));
      continue;
    }
    // A NUL byte is bad input in any text (found by fuzz_glue_tsv, corpus/glue_tsv/regression-nul).
    const auto nul_in = [&](std::size_t col) {
      return col != none && row[col].find('\0') != std::string::npos;
    };
    if (const std::size_t bad = nul_in(col_a) ? col_a : (nul_in(col_b) ? col_b : none); bad != none) {
      policy.bad_line(detail::concat(where(), ": column '", header[bad], "' holds a NUL byte at byte ",
                                     row[bad].find('\0') + 1));
      continue;
    }
    TextExample ex;
    if (col_label != none) {
      const std::string_view raw = detail::trim(row[col_label]);
      if (raw == fields.unlabeled_value) {
        if (!policy.unlabeled()) continue;
        ex.label_name = std::string(raw);
      } else {
        const std::optional<std::int32_t> id = labels.from_string(raw);
        if (!id) {
          policy.bad_line(detail::concat(where(), ": label '", detail::excerpt(raw),
                                         "' in column '", fields.label, "' is not one of ",
                                         labels.expected()));
          continue;
        }
        ex.label = *id;
        ex.label_name = fields.label_names[static_cast<std::size_t>(*id)];
      }
    }
    ex.text_a = std::move(row[col_a]);
    if (col_b != none) ex.text_b = std::move(row[col_b]);
    if (col_id != none) ex.id = std::move(row[col_id]);
    dataset.examples.push_back(std::move(ex));
    if (policy.added()) break;
  }
  return dataset;
}

/// Reads a GLUE TSV file (see the stream overload); the data set is named after the path.
[[nodiscard]] inline TextDataset read_glue_tsv(const std::filesystem::path& path,
                                               const GlueTsvFields& fields,
                                               const ReadOptions& options = {},
                                               ReadReport* report = nullptr) {
  std::ifstream in = detail::open_input(path, "read_glue_tsv");
  return read_glue_tsv(in, path.string(), fields, options, report);
}

}  // namespace moerb
