#pragma once
// Whole-file reads and atomic whole-file writes for the tokenizer files, plus the line splitting
// and "file:line:" prefixes their parsers share.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "moerb/core/error.hpp"

namespace moerb::detail::text {

/// The whole content of `path`; throws moerb::error naming `where` and the file when it cannot be
/// opened or read.
[[nodiscard]] inline std::string read_file(const std::filesystem::path& path,
                                           std::string_view where) {
  std::ifstream in(path, std::ios::binary);
  require(in.is_open(), where, ": cannot open '", path.string(), "' for reading");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  require(!in.bad(), where, ": failed to read '", path.string(), "'");
  return content;
}

/// Writes `content` to `path` atomically: to a temporary file in the same directory first, then
/// std::filesystem::rename over the target, so a reader sees either the old file or the complete
/// new one, never a partial write. (Durability across a power loss would also need fsync, which
/// the standard library does not offer.)
inline void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                  std::string_view where) {
  namespace fs = std::filesystem;
  require(!path.empty() && path.has_filename(), where, ": '", path.string(),
          "' does not name a file");
  // Unique within the process (counter) and, in practice, across processes and threads (clock and
  // thread id), so concurrent writers never share a temporary file.
  static std::atomic<unsigned long long> counter{0};
  const auto stamp =
      static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto thread =
      static_cast<unsigned long long>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  fs::path temporary = path;
  temporary +=
      ".tmp-" + std::to_string(counter.fetch_add(1)) + "-" + std::to_string(stamp ^ thread);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    require(out.is_open(), where, ": cannot create temporary file '", temporary.string(),
            "' next to '", path.string(), "'");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw error(moerb::detail::concat(where, ": failed to write '", temporary.string(), "'"));
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw error(moerb::detail::concat(where, ": cannot rename '", temporary.string(), "' to '",
                                      path.string(), "': ", ec.message()));
  }
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
