// Fuzzes read_jsonl (include/moerb/data/jsonl.hpp) with the SNLI, MultiNLI and ANLI presets.
//
// Input: byte 0 picks the preset (bits 4-7, modulo 3: SNLI, MultiNLI, ANLI) and the ReadOptions
// (bits 0-3, see fuzz_dataset.hpp); the rest is the JSON Lines text, read through the stream
// overload. Checks: the reader succeeds or throws moerb::error, and the data set it returns is
// consistent (check_dataset); a line holding a NUL byte, which JSON allows nowhere, is never
// accepted (when the reader neither skips bad lines nor stops early, a NUL means an error).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "fuzz_dataset.hpp"
#include "moerb/data/jsonl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const moerb::JsonlFields presets[] = {
      moerb::JsonlFields::snli(), moerb::JsonlFields::multinli(), moerb::JsonlFields::anli()};
  const moerb::JsonlFields& fields = presets[(data[0] >> 4) % 3];
  const moerb::ReadOptions options = moerb::fuzz::read_options(data[0]);
  std::istringstream in{std::string(moerb::fuzz::as_text(data + 1, size - 1))};
  moerb::ReadReport report;
  const bool read = moerb::fuzz::parses([&] {
    const moerb::TextDataset d = moerb::read_jsonl(in, "fuzz.jsonl", fields, options, &report);
    moerb::fuzz::check_dataset(d, options, report);
  });
  const bool has_nul = std::memchr(data + 1, '\0', size - 1) != nullptr;
  if (read && has_nul && !options.skip_bad_lines && options.max_examples == 0) {
    MOERB_FUZZ_CHECK(false, "a text with a NUL byte was read without an error");
  }
  return 0;
}
