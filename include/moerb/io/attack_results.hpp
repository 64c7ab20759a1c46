#pragma once
// Attack results as files: one JSON object per line (JSONL) or one CSV row per example, written
// as the results come (AttackResultStream) and published atomically (a temporary file in the
// target's directory, renamed over the target by commit()), and the AttackSummary as JSON.
//
// Fields, in this order (CSV header = JSON keys): index, status, label, original_prediction,
// final_prediction, original_confidence, final_confidence, original_label_probability,
// final_label_probability, queries, num_words, words_changed, characters_changed, seconds,
// model_seconds, original_text, perturbed_text, original_tokens, perturbed_tokens (CSV: ids
// separated by spaces). Doubles are written with 17 significant digits.
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include <nlohmann/json.hpp>

#include "moerb/attacks/attack_result.hpp"
#include "moerb/core/error.hpp"
#include "moerb/io/metrics_json.hpp"

namespace moerb {

enum class AttackResultFormat : std::uint8_t { jsonl, csv };

inline void to_json(nlohmann::json& j, const AttackResult& r) {
  j = nlohmann::json{{"index", r.index},
                     {"status", std::string(to_string(r.status))},
                     {"label", r.label},
                     {"original_prediction", r.original_prediction},
                     {"final_prediction", r.final_prediction},
                     {"original_confidence", r.original_confidence},
                     {"final_confidence", r.final_confidence},
                     {"original_label_probability", r.original_label_probability},
                     {"final_label_probability", r.final_label_probability},
                     {"queries", r.queries},
                     {"num_words", r.num_words},
                     {"words_changed", r.words_changed},
                     {"characters_changed", r.characters_changed},
                     {"seconds", r.seconds},
                     {"model_seconds", r.model_seconds},
                     {"original_text", r.original_text},
                     {"perturbed_text", r.perturbed_text},
                     {"original_tokens", r.original_tokens},
                     {"perturbed_tokens", r.perturbed_tokens}};
}

inline void to_json(nlohmann::json& j, const AttackSummary& s) {
  j = nlohmann::json{{"examples", s.examples},
                     {"succeeded", s.succeeded},
                     {"failed", s.failed},
                     {"skipped", s.skipped},
                     {"original_accuracy", s.original_accuracy},
                     {"accuracy_under_attack", s.accuracy_under_attack},
                     {"success_rate", s.success_rate},
                     {"perturbed_word_percentage", s.perturbed_word_percentage},
                     {"words_per_input", s.words_per_input},
                     {"queries", s.queries},
                     {"seconds", s.seconds},
                     {"model_seconds", s.model_seconds}};
}

namespace detail::attack_io {

inline std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

inline std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", v);
  return buffer;
}

inline std::string ids(const std::vector<std::int32_t>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ' ';
    out += std::to_string(v[i]);
  }
  return out;
}

inline constexpr std::string_view csv_header =
    "index,status,label,original_prediction,final_prediction,original_confidence,"
    "final_confidence,original_label_probability,final_label_probability,queries,num_words,"
    "words_changed,characters_changed,seconds,model_seconds,original_text,perturbed_text,"
    "original_tokens,perturbed_tokens";

inline std::string csv_row(const AttackResult& r) {
  std::string row;
  const auto add = [&](const std::string& field) {
    if (!row.empty()) row += ',';
    row += field;
  };
  add(std::to_string(r.index));
  add(std::string(to_string(r.status)));
  add(std::to_string(r.label));
  add(std::to_string(r.original_prediction));
  add(std::to_string(r.final_prediction));
  add(number(r.original_confidence));
  add(number(r.final_confidence));
  add(number(r.original_label_probability));
  add(number(r.final_label_probability));
  add(std::to_string(r.queries));
  add(std::to_string(r.num_words));
  add(std::to_string(r.words_changed));
  add(std::to_string(r.characters_changed));
  add(number(r.seconds));
  add(number(r.model_seconds));
  add(csv_field(r.original_text));
  add(csv_field(r.perturbed_text));
  add(ids(r.original_tokens));
  add(ids(r.perturbed_tokens));
  return row;
}

}  // namespace detail::attack_io

/// Writes results one by one to a temporary file next to `path`; commit() renames it to `path`
/// (so a reader never sees a half-written file); destroying the stream without commit() removes
/// the temporary file. Throws moerb::error naming the file when a write fails.
class AttackResultStream {
 public:
  AttackResultStream(std::filesystem::path path, AttackResultFormat format)
      : path_(std::move(path)), format_(format) {
    MOERB_REQUIRE(path_.has_filename(), "AttackResultStream: '", path_.string(),
                  "' does not name a file");
    temporary_ = path_;
    temporary_ += ".partial";
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    MOERB_REQUIRE(out_.good(), "AttackResultStream: cannot create '", temporary_.string(),
                  "': ", std::generic_category().message(errno));
    if (format_ == AttackResultFormat::csv) out_ << detail::attack_io::csv_header << '\n';
  }
  AttackResultStream(const AttackResultStream&) = delete;
  AttackResultStream& operator=(const AttackResultStream&) = delete;
  ~AttackResultStream() {
    if (!committed_) {
      out_.close();
      std::error_code ignored;
      std::filesystem::remove(temporary_, ignored);
    }
  }

  void write(const AttackResult& r) {
    MOERB_REQUIRE(!committed_, "AttackResultStream: write after commit");
    if (format_ == AttackResultFormat::jsonl) {
      out_ << nlohmann::json(r).dump() << '\n';
    } else {
      out_ << detail::attack_io::csv_row(r) << '\n';
    }
    MOERB_REQUIRE(out_.good(), "AttackResultStream: writing '", temporary_.string(), "' failed");
    ++written_;
  }
  /// Flushes, closes and renames the file into place.
  void commit() {
    MOERB_REQUIRE(!committed_, "AttackResultStream: commit called twice");
    out_.flush();
    const bool ok = out_.good();
    out_.close();
    MOERB_REQUIRE(ok && !out_.fail(), "AttackResultStream: writing '", temporary_.string(),
                  "' failed");
    std::error_code ec;
    std::filesystem::rename(temporary_, path_, ec);
    MOERB_REQUIRE(!ec, "AttackResultStream: cannot rename '", temporary_.string(), "' to '",
                  path_.string(), "': ", ec.message());
    committed_ = true;
  }
  [[nodiscard]] std::size_t written() const { return written_; }

 private:
  std::filesystem::path path_, temporary_;
  AttackResultFormat format_;
  std::ofstream out_;
  std::size_t written_ = 0;
  bool committed_ = false;
};

/// The format a file name asks for: ".csv" → csv, ".jsonl" or ".json" → jsonl; anything else
/// throws.
[[nodiscard]] inline AttackResultFormat attack_result_format(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".csv") return AttackResultFormat::csv;
  if (ext == ".jsonl" || ext == ".json") return AttackResultFormat::jsonl;
  throw error("attack_result_format: '" + path.string() +
              "' should end in .csv or .jsonl (the format of the results file)");
}

/// Writes all results at once (atomically), in the format the extension names.
inline void write_attack_results(const std::filesystem::path& path,
                                 std::span<const AttackResult> results) {
  AttackResultStream stream(path, attack_result_format(path));
  for (const AttackResult& r : results) stream.write(r);
  stream.commit();
}

}  // namespace moerb
