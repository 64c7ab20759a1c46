// Fuzzes read_prompts (include/moerb/data/prompts.hpp), the prompt files of the generation safety
// evaluation.
//
// Input: byte 0 picks the format (bit 0: lines or JSONL), the JSONL member (bit 1: "prompt" or
// "goal") and max_prompts (bits 2-3: 0, 1, 2 or 3); the rest is the file's text, read through the
// stream overload. Checks: the reader succeeds or throws moerb::error; what it returns is
// non-empty, within max_prompts, and every prompt is valid UTF-8 without a NUL byte, non-blank and,
// for text lines, trimmed and free of line breaks.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/data/prompts.hpp"
#include "moerb/text/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  moerb::PromptFileOptions options;
  options.format = (data[0] & 1) != 0 ? moerb::PromptFormat::jsonl : moerb::PromptFormat::lines;
  options.member = (data[0] & 2) != 0 ? "goal" : "prompt";
  options.max_prompts = (data[0] >> 2) & 3;
  std::istringstream in{std::string(reinterpret_cast<const char*>(data + 1), size - 1)};
  std::vector<std::string> prompts;
  moerb::fuzz::parses([&] { prompts = moerb::read_prompts(in, "fuzz.txt", options); });
  if (prompts.empty()) return 0;
  MOERB_FUZZ_CHECK(options.max_prompts == 0 || prompts.size() <= options.max_prompts,
                   "more prompts than max_prompts");
  for (const std::string& p : prompts) {
    MOERB_FUZZ_CHECK(moerb::utf8::is_valid(p), "a prompt is not valid UTF-8");
    MOERB_FUZZ_CHECK(p.find('\0') == std::string::npos, "a prompt holds a NUL byte");
    MOERB_FUZZ_CHECK(!p.empty(), "an empty prompt");
    if (options.format == moerb::PromptFormat::lines) {
      MOERB_FUZZ_CHECK(p.find('\n') == std::string::npos && p.find('\r') == std::string::npos,
                       "a text-line prompt holds a line break");
      MOERB_FUZZ_CHECK(p.front() != ' ' && p.back() != ' ' && p.front() != '\t' && p.back() != '\t',
                       "a text-line prompt is not trimmed");
    }
  }
  return 0;
}
