#pragma once
// Small text helpers shared by the data-set readers: opening files with a clear error, line reading
// that accepts both LF and CRLF files, trimming, strict integer parsing and "file:line" locations.
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "moerb/core/error.hpp"

namespace moerb::detail {

/// Opens `path` for binary reading; `reader` names the caller in the error message.
inline std::ifstream open_input(const std::filesystem::path& path, std::string_view reader) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  MOERB_REQUIRE(exists, reader, ": cannot open '", path.string(), "': no such file");
  MOERB_REQUIRE(!std::filesystem::is_directory(path, ec), reader, ": '", path.string(),
          "' is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  MOERB_REQUIRE(in.good(), reader, ": cannot open '", path.string(), "' for reading");
  return in;
}

/// std::getline that also drops the '\r' of a CRLF line ending. Returns false at end of input.
inline bool read_line(std::istream& in, std::string& line) {
  if (!std::getline(in, line)) return false;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

/// Removes a UTF-8 byte-order mark (EF BB BF) at the start of `s` (written by some spreadsheet
/// exports; it would otherwise become part of the first column name).
inline void strip_utf8_bom(std::string& s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.erase(0, 3);
}

[[nodiscard]] inline bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// `s` without leading and trailing ASCII whitespace (UTF-8 multi-byte characters are untouched).
[[nodiscard]] inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

/// Parses all of `s` as a non-negative integer in `base`; nullopt for empty input, a sign, any
/// stray character or overflow.
template <class T>
[[nodiscard]] std::optional<T> parse_unsigned(std::string_view s, int base = 10) {
  if (s.empty()) return std::nullopt;
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// "file:line" for error messages.
[[nodiscard]] inline std::string location(std::string_view source, std::size_t line) {
  return concat(source, ":", line);
}

/// Shortens `s` to at most `n` bytes for quoting in an error message (cuts at a UTF-8 character
/// boundary and appends "...").
[[nodiscard]] inline std::string excerpt(std::string_view s, std::size_t n = 60) {
  if (s.size() <= n) return std::string(s);
  std::size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

/// Joins `items` with `separator`.
template <class Range>
[[nodiscard]] std::string join(const Range& items, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += separator;
    out += item;
    first = false;
  }
  return out;
}

}  // namespace moerb::detail
