#pragma once
// Reader for prompt files, the input of the generation safety evaluation
// (evaluation/generation_evaluation.hpp): either plain text with one prompt per line, or JSON
// Lines with the prompt in a string member ("prompt" by default), as harmful-prompt sets such as
// AdvBench or HarmBench are often converted.
//
//   auto prompts = moerb::read_prompts("harmful.txt");                    // one per line
//   auto prompts = moerb::read_prompts("prompts.jsonl");                  // {"prompt": "..."}
//   auto prompts = moerb::read_prompts("x.jsonl", {.member = "goal"});   // another member
//
// Plain text: each line is trimmed; blank lines are skipped; a carriage return inside a line (old
// Mac line endings) is an error. Both formats: a UTF-8 byte-order mark
// on the first line is dropped, and invalid UTF-8, a NUL byte, a malformed JSON line, a missing or
// non-string member, or a file without any prompt throw moerb::error naming file:line.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/text/utf8.hpp"

namespace moerb {

enum class PromptFormat {
  automatic,  ///< by the file name: .jsonl and .ndjson are JSON Lines, anything else text
  lines,      ///< one prompt per line
  jsonl,      ///< one JSON object per line, the prompt in PromptFileOptions::member
};

struct PromptFileOptions {
  PromptFormat format = PromptFormat::automatic;
  std::string member = "prompt";  ///< JSON Lines: the member holding the prompt
  std::size_t max_prompts = 0;    ///< stop after this many (0 = all)
};

/// Reads prompts from `in`; `source` names it in messages. PromptFormat::automatic reads as text.
[[nodiscard]] inline std::vector<std::string> read_prompts(std::istream& in,
                                                           std::string_view source,
                                                           const PromptFileOptions& options = {}) {
  const bool jsonl = options.format == PromptFormat::jsonl;
  MOERB_REQUIRE(!jsonl || !options.member.empty(), "read_prompts(", source,
                "): PromptFileOptions::member is empty");
  std::vector<std::string> prompts;
  std::string line;
  std::size_t line_number = 0;
  while (detail::read_line(in, line)) {
    if (++line_number == 1) detail::strip_utf8_bom(line);
    const std::string_view text = detail::trim(line);
    if (text.empty()) continue;
    const auto where = [&] { return detail::location(source, line_number); };
    if (const std::size_t nul = line.find('\0'); nul != std::string::npos) {
      throw error(detail::concat("read_prompts: ", where(), ": NUL byte at column ", nul + 1));
    }
    utf8::require_valid(line, detail::concat("read_prompts: ", where()), "line");
    if (!jsonl) {
      // A lone CR is a line break of old Mac files: one "line" would hold several prompts.
      if (const std::size_t cr = text.find('\r'); cr != std::string_view::npos) {
        throw error(detail::concat("read_prompts: ", where(), ": carriage return inside the line (",
                                   "column ",
                                   static_cast<std::size_t>(text.data() - line.data()) + cr + 1,
                                   "); lines must end with LF or CRLF"));
      }
      prompts.emplace_back(text);
    } else {
      nlohmann::json object;
      try {
        object = nlohmann::json::parse(text);
      } catch (const nlohmann::json::exception& e) {
        throw error(detail::concat("read_prompts: ", where(), ": malformed JSON (", e.what(), ")"));
      }
      MOERB_REQUIRE(object.is_object(), "read_prompts: ", where(),
                    ": expected a JSON object, found ", object.type_name());
      const auto it = object.find(options.member);
      MOERB_REQUIRE(it != object.end(), "read_prompts: ", where(), ": no member '", options.member,
                    "'");
      MOERB_REQUIRE(it->is_string(), "read_prompts: ", where(), ": member '", options.member,
                    "' is a ", it->type_name(), ", expected a string");
      const std::string& prompt = it->get_ref<const std::string&>();
      MOERB_REQUIRE(!detail::trim(prompt).empty(), "read_prompts: ", where(), ": member '",
                    options.member, "' is empty");
      // The line holds no raw NUL (checked above), but the escape \u0000 decodes to one.
      if (const std::size_t nul = prompt.find('\0'); nul != std::string::npos) {
        throw error(detail::concat("read_prompts: ", where(), ": member '", options.member,
                                   "' holds a NUL character (\\u0000) at byte ", nul + 1));
      }
      prompts.push_back(prompt);
    }
    if (options.max_prompts != 0 && prompts.size() == options.max_prompts) break;
  }
  MOERB_REQUIRE(!prompts.empty(), "read_prompts: ", source, " holds no prompt");
  return prompts;
}

/// Reads the prompt file at `path`.
[[nodiscard]] inline std::vector<std::string> read_prompts(const std::filesystem::path& path,
                                                           const PromptFileOptions& options = {}) {
  PromptFileOptions o = options;
  if (o.format == PromptFormat::automatic) {
    const std::string ext = path.extension().string();
    o.format = ext == ".jsonl" || ext == ".ndjson" ? PromptFormat::jsonl : PromptFormat::lines;
  }
  std::ifstream in = detail::open_input(path, "read_prompts");
  return read_prompts(in, path.string(), o);
}

}  // namespace moerb
