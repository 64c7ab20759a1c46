#pragma once
// Reader for AdvGLUE (Wang et al. 2021, "Adversarial GLUE: A Multi-Task Benchmark for Robustness
// Evaluation of Language Models"): its dev.json is one JSON object mapping a task name to a list of
// records, each with the task's text members, an integer label (GLUE's class order) and an idx.
//
//   task      text_a     text_b      labels (0, 1, 2)
//   sst2      sentence   -           negative, positive
//   qqp       question1  question2   not_duplicate, duplicate
//   mnli      premise    hypothesis  entailment, neutral, contradiction
//   mnli-mm   premise    hypothesis  entailment, neutral, contradiction
//   qnli      question   sentence    entailment, not_entailment
//   rte       sentence1  sentence2   entailment, not_entailment
//
//   auto adv_sst2 = moerb::read_advglue("AdvGLUE/dev.json", "sst2");
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/example.hpp"
#include "moerb/data/jsonl.hpp"

namespace moerb {

/// The layout of one AdvGLUE task.
struct AdvGlueTask {
  std::string_view name;
  std::string_view text_a;
  std::string_view text_b;  ///< empty for single-sentence tasks
  std::vector<std::string> label_names;
};

/// The tasks AdvGLUE defines, in the order of the table above.
[[nodiscard]] inline const std::vector<AdvGlueTask>& advglue_tasks() {
  static const std::vector<AdvGlueTask> tasks = {
      {"sst2", "sentence", "", {"negative", "positive"}},
      {"qqp", "question1", "question2", {"not_duplicate", "duplicate"}},
      {"mnli", "premise", "hypothesis", {"entailment", "neutral", "contradiction"}},
      {"mnli-mm", "premise", "hypothesis", {"entailment", "neutral", "contradiction"}},
      {"qnli", "question", "sentence", {"entailment", "not_entailment"}},
      {"rte", "sentence1", "sentence2", {"entailment", "not_entailment"}},
  };
  return tasks;
}

/// The layout of task `name`; throws listing the known tasks when there is none.
[[nodiscard]] inline const AdvGlueTask& advglue_task(std::string_view name) {
  std::vector<std::string_view> known;
  for (const AdvGlueTask& t : advglue_tasks()) {
    if (t.name == name) return t;
    known.push_back(t.name);
  }
  throw error(detail::concat("advglue_task: unknown task '", name,
                             "' (known: ", detail::join(known, ", "), ")"));
}

namespace detail {

/// Parses a whole JSON file keeping the order of object members (so tasks list in file order).
inline nlohmann::ordered_json read_json_file(const std::filesystem::path& path,
                                             std::string_view reader) {
  std::ifstream in = open_input(path, reader);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  MOERB_REQUIRE(!in.bad(), reader, ": ", path.string(), ": reading the file failed");
  // nlohmann's lexer takes a NUL byte for the end of the input, so anything after one would be
  // ignored; JSON allows NUL nowhere (inside strings only as the escape \u0000).
  if (const std::size_t nul = text.find('\0'); nul != std::string::npos) {
    const auto line =
        1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    throw error(concat(reader, ": ", path.string(), ":", line,
                       ": malformed JSON (NUL byte at byte offset ", nul,
                       "; JSON text cannot contain one)"));
  }
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw error(concat(reader, ": ", path.string(), ": malformed JSON (", e.what(), ")"));
  }
}

}  // namespace detail

/// Names of the tasks present in an AdvGLUE file, in the file's order.
[[nodiscard]] inline std::vector<std::string> advglue_tasks_in(const std::filesystem::path& path) {
  const nlohmann::ordered_json root = detail::read_json_file(path, "advglue_tasks_in");
  MOERB_REQUIRE(root.is_object(), "advglue_tasks_in: ", path.string(),
          ": expected a JSON object mapping task names to record lists, found a ",
          root.type_name());
  std::vector<std::string> names;
  for (auto it = root.begin(); it != root.end(); ++it) names.push_back(it.key());
  return names;
}

/// Reads task `task` from an AdvGLUE dev.json. The data set is named "advglue/<task>", with the
/// task's label names; ids are the records' idx. A task missing from the file throws listing the
/// tasks it has; a record that is not an object, lacks a member or has a member of the wrong type
/// or an out-of-range label throws "<file>: <task>[<i>]: ..." unless options.skip_bad_lines.
[[nodiscard]] inline TextDataset read_advglue(const std::filesystem::path& path,
                                              std::string_view task,
                                              const ReadOptions& options = {},
                                              ReadReport* report = nullptr) {
  ReadReport local_report;
  ReadReport& rep = report != nullptr ? *report : local_report;
  rep = ReadReport{};
  detail::BadLinePolicy policy(options, rep);

  const nlohmann::ordered_json root = detail::read_json_file(path, "read_advglue");
  const std::string file = path.string();
  MOERB_REQUIRE(root.is_object(), "read_advglue: ", file,
          ": expected a JSON object mapping task names to record lists, found a ",
          root.type_name());
  const auto records = root.find(std::string(task));
  if (records == root.end()) {
    std::vector<std::string> present;
    for (auto it = root.begin(); it != root.end(); ++it) present.push_back(it.key());
    throw error(detail::concat("read_advglue: ", file, ": no task '", task,
                               "' (tasks in the file: ", detail::join(present, ", "), ")"));
  }
  const AdvGlueTask& layout = advglue_task(task);
  MOERB_REQUIRE(records->is_array(), "read_advglue: ", file, ": task '", task, "' is a ",
          records->type_name(), ", expected a list of records");
  const detail::LabelMapping labels(layout.label_names, {}, "read_advglue");
  const std::string text_a(layout.text_a), text_b(layout.text_b);

  TextDataset dataset;
  dataset.name = detail::concat("advglue/", task);
  dataset.label_names = layout.label_names;
  for (std::size_t i = 0; i < records->size(); ++i) {
    const nlohmann::ordered_json& record = (*records)[i];
    const std::string where = detail::concat(file, ": ", task, "[", i, "]");
    if (!record.is_object()) {
      policy.bad_line(
          detail::concat(where, ": expected a JSON object, found a ", record.type_name()));
      continue;
    }
    TextExample ex;
    std::optional<std::string> problem = detail::json_text_member(record, text_a, false, ex.text_a);
    if (!problem && !text_b.empty()) {
      problem = detail::json_text_member(record, text_b, false, ex.text_b);
    }
    if (!problem) problem = detail::json_text_member(record, "idx", true, ex.id);
    if (problem) {
      policy.bad_line(detail::concat(where, ": ", *problem));
      continue;
    }
    std::string message;
    const detail::JsonLabel kind =
        detail::json_label_member(record, "label", labels, "-", ex.label, ex.label_name, message);
    if (kind == detail::JsonLabel::bad) {
      policy.bad_line(detail::concat(where, ": ", message));
      continue;
    }
    if (kind == detail::JsonLabel::unlabeled && !policy.unlabeled()) continue;
    if (kind == detail::JsonLabel::labelled) {
      ex.label_name = layout.label_names[static_cast<std::size_t>(ex.label)];
    }
    dataset.examples.push_back(std::move(ex));
    if (policy.added()) break;
  }
  return dataset;
}

}  // namespace moerb
