#pragma once
// Whole-file reads and atomic whole-file writes for the tokenizer files, plus the line splitting
// and "file:line:" prefixes their parsers share.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>

#include "moerb/core/detail/atomic_file.hpp"
#include "moerb/core/error.hpp"

namespace moerb::detail::text {

/// The whole content of `path`; throws moerb::error naming `where` and the file when it cannot be
/// opened or read.
[[nodiscard]] inline std::string read_file(const std::filesystem::path& path,
                                           std::string_view where) {
  std::ifstream in(path, std::ios::binary);
  MOERB_REQUIRE(in.is_open(), where, ": cannot open '", path.string(), "' for reading");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  MOERB_REQUIRE(!in.bad(), where, ": failed to read '", path.string(), "'");
  return content;
}

/// Writes `content` to `path` atomically (moerb::detail::write_file_atomically: a temporary file
/// beside the target, renamed over it once complete).
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                  std::string_view where) {
  moerb::detail::write_file_atomically(path, where, [&](const moerb::detail::WriteChunk& write) {
    write(content.data(), content.size());
  });
}

/// Calls f(line, line_number) for every '\n'-terminated line of `content` (1-based numbers, the
/// first one `first_line`); a last line without '\n' counts too, an empty content has no lines.
template <class F>
void for_each_line(std::string_view content, std::size_t first_line, F&& f) {
  std::size_t number = first_line;
  std::size_t begin = 0;
  while (begin < content.size()) {
    std::size_t end = content.find('\n', begin);
    if (end == std::string_view::npos) end = content.size();
    f(content.substr(begin, end - begin), number);
    ++number;
    begin = end + 1;
  }
}

/// "where: source:line: " — the prefix of every parse error, in the compiler-style form editors
/// can jump to.
[[nodiscard]] inline std::string at_line(std::string_view where, std::string_view source,
                                         std::size_t line) {
  return moerb::detail::concat(where, ": ", source, ":", line, ": ");
}

}  // namespace moerb::detail::text
