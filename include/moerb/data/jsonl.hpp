#pragma once
// Reader for JSON Lines data sets (one JSON object per line), with presets for the NLI corpora
// distributed that way: SNLI (Bowman et al. 2015) and MultiNLI (Williams et al. 2018) —
// sentence1, sentence2, gold_label ∈ {entailment, neutral, contradiction}, where "-" marks pairs
// whose annotators reached no consensus — and ANLI (Nie et al. 2020) — context, hypothesis,
// label ∈ {e, n, c}.
//
//   moerb::ReadReport report;
//   auto snli = moerb::read_jsonl("snli_1.0_dev.jsonl", moerb::JsonlFields::snli(), {}, &report);
//   // report.unlabeled: pairs with gold label "-" (dropped unless ReadOptions::keep_unlabeled)
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/example.hpp"

namespace moerb {

/// Which members of each JSON object hold the texts, the label and the id. The defaults are the
/// SNLI / MultiNLI layout.
struct JsonlFields {
  std::string text_a = "sentence1";
  std::string text_b = "sentence2";  ///< empty: single-text data
  std::string label = "gold_label";  ///< empty: no labels → every label is -1
  std::string id;                    ///< empty: no id; else a string or integer member
  /// Class names; a label resolves to class c when it equals label_values[c], label_names[c] or is
  /// the integer c (as a JSON number or a decimal string).
  std::vector<std::string> label_names = {"entailment", "neutral", "contradiction"};
  /// The file's spelling of each class when it differs from label_names (one per name), or empty.
  std::vector<std::string> label_values;
  /// A label equal to this (or JSON null) means "no gold label" (SNLI's "-").
  std::string unlabeled_value = "-";

  /// SNLI 1.0 (.jsonl): sentence1, sentence2, gold_label, pairID.
  [[nodiscard]] static JsonlFields snli() {
    JsonlFields f;
    f.id = "pairID";
    return f;
  }
  /// MultiNLI 1.0 (.jsonl): the same members as SNLI.
  [[nodiscard]] static JsonlFields multinli() { return snli(); }
  /// ANLI R1-R3 (.jsonl): context, hypothesis, label e/n/c, uid.
  [[nodiscard]] static JsonlFields anli() {
    JsonlFields f;
    f.text_a = "context";
    f.text_b = "hypothesis";
    f.label = "label";
    f.id = "uid";
    f.label_values = {"e", "n", "c"};
    return f;
  }
  /// Any other layout: the member names and the class names.
  [[nodiscard]] static JsonlFields named(std::string text_a, std::string text_b, std::string label,
                                         std::vector<std::string> label_names,
                                         std::string id = {}) {
    JsonlFields f;
    f.text_a = std::move(text_a);
    f.text_b = std::move(text_b);
    f.label = std::move(label);
    f.label_names = std::move(label_names);
    f.id = std::move(id);
    return f;
  }
};

namespace detail {

/// Reads member `key` of `object` as text: a string, or for ids an integer written in decimal.
/// Returns an error message (without location) when it is missing, of another type, or a string
/// holding a NUL character (the escape \u0000). Json:
/// nlohmann::json or nlohmann::ordered_json.
template <class Json>
std::optional<std::string> json_text_member(const Json& object, const std::string& key,
                                            bool allow_integer, std::string& out) {
  const auto it = object.find(key);
  if (it == object.end()) return concat("no member '", key, "'");
  if (it->is_string()) {
    out = it->template get<std::string>();
    // A line holds no raw NUL (its reader checks), but the escape \u0000 decodes to one.
    if (const std::size_t nul = out.find('\0'); nul != std::string::npos) {
      return concat("member '", key, "' holds a NUL character (\\u0000) at byte ", nul + 1);
    }
    return std::nullopt;
  }
  if (allow_integer && it->is_number_integer()) {
    out = it->dump();
    return std::nullopt;
  }
  return concat("member '", key, "' is a ", it->type_name(), ", expected a string",
                allow_integer ? " or an integer" : "");
}

enum class JsonLabel { labelled, unlabeled, bad };

/// Resolves member `key` of `object` to a class id. `message` receives the reason for `bad`.
template <class Json>
JsonLabel json_label_member(const Json& object, const std::string& key, const LabelMapping& labels,
                            std::string_view unlabeled_value, std::int32_t& label,
                            std::string& raw_text, std::string& message) {
  const auto it = object.find(key);
  if (it == object.end()) {
    message = concat("no member '", key, "'");
    return JsonLabel::bad;
  }
  if (it->is_null()) return JsonLabel::unlabeled;
  std::optional<std::int32_t> id;
  if (it->is_string()) {
    raw_text = it->template get<std::string>();
    if (raw_text == unlabeled_value) return JsonLabel::unlabeled;
    id = labels.from_string(trim(raw_text));
  } else if (it->is_number_integer()) {
    raw_text = it->dump();
    id = labels.from_integer(it->template get<long long>());
  } else {
    message = concat("member '", key, "' is a ", it->type_name(),
                     ", expected a string or an integer label");
    return JsonLabel::bad;
  }
  if (!id) {
    message =
        concat("label ", it->dump(), " in member '", key, "' is not one of ", labels.expected());
    return JsonLabel::bad;
  }
  label = *id;
  return JsonLabel::labelled;
}

}  // namespace detail

/// Reads JSON Lines from a stream; `source` names it in messages and becomes the data set's name.
/// Blank lines are ignored. Malformed JSON (a NUL byte included: JSON allows none), a line that is
/// not an object, a missing member or a member of the wrong type throws "<source>:<line>: ..."
/// unless options.skip_bad_lines (then the line is skipped and counted in `report`).
[[nodiscard]] inline TextDataset read_jsonl(std::istream& in, std::string source,
                                            const JsonlFields& fields,
                                            const ReadOptions& options = {},
                                            ReadReport* report = nullptr) {
  ReadReport local_report;
  ReadReport& rep = report != nullptr ? *report : local_report;
  rep = ReadReport{};
  detail::BadLinePolicy policy(options, rep);
  const bool labelled = !fields.label.empty();
  MOERB_REQUIRE(!fields.text_a.empty(), "read_jsonl(", source, "): fields.text_a is empty");
  MOERB_REQUIRE(!labelled || !fields.label_names.empty(), "read_jsonl(", source,
          "): fields.label_names is empty; give the class names for member '", fields.label, "'");
  const detail::LabelMapping labels(fields.label_names, fields.label_values,
                                    detail::concat("read_jsonl(", source, ")"));

  TextDataset dataset;
  dataset.name = source;
  dataset.label_names = fields.label_names;
  std::string line;
  std::size_t line_number = 0;
  while (detail::read_line(in, line)) {
    if (++line_number == 1) detail::strip_utf8_bom(line);
    if (detail::trim(line).empty()) continue;
    auto where = [&] { return detail::location(source, line_number); };
    // nlohmann's lexer takes a NUL byte for the end of the input, so anything after one would be
    // ignored; JSON allows NUL nowhere (inside strings only as the escape \u0000).
    if (const std::size_t nul = line.find('\0'); nul != std::string::npos) {
      policy.bad_line(detail::concat(where(), ": malformed JSON (NUL byte at column ", nul + 1,
                                     "; JSON text cannot contain one)"));
      continue;
    }
    nlohmann::json object;
    try {
      object = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      policy.bad_line(detail::concat(where(), ": malformed JSON (", e.what(), ")"));
      continue;
    }
    if (!object.is_object()) {
      policy.bad_line(
          detail::concat(where(), ": expected a JSON object, found a ", object.type_name()));
      continue;
    }
    TextExample ex;
    std::optional<std::string> problem =
        detail::json_text_member(object, fields.text_a, false, ex.text_a);
    if (!problem && !fields.text_b.empty()) {
      problem = detail::json_text_member(object, fields.text_b, false, ex.text_b);
    }
    if (!problem && !fields.id.empty()) {
      problem = detail::json_text_member(object, fields.id, true, ex.id);
    }
    if (problem) {
      policy.bad_line(detail::concat(where(), ": ", *problem));
      continue;
    }
    if (labelled) {
      std::string message;
      const detail::JsonLabel kind = detail::json_label_member(
          object, fields.label, labels, fields.unlabeled_value, ex.label, ex.label_name, message);
      if (kind == detail::JsonLabel::bad) {
        policy.bad_line(detail::concat(where(), ": ", message));
        continue;
      }
      if (kind == detail::JsonLabel::unlabeled && !policy.unlabeled()) continue;
      if (kind == detail::JsonLabel::labelled) {
        ex.label_name = fields.label_names[static_cast<std::size_t>(ex.label)];
      }
    }
    dataset.examples.push_back(std::move(ex));
    if (policy.added()) break;
  }
  return dataset;
}

/// Reads a JSON Lines file (see the stream overload); the data set is named after the path.
[[nodiscard]] inline TextDataset read_jsonl(const std::filesystem::path& path,
                                            const JsonlFields& fields,
                                            const ReadOptions& options = {},
                                            ReadReport* report = nullptr) {
  std::ifstream in = detail::open_input(path, "read_jsonl");
  return read_jsonl(in, path.string(), fields, options, report);
}

}  // namespace moerb
