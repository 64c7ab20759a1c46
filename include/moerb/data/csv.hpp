#pragma once
// Delimited text: RFC 4180 CSV (quoted fields, "" for a quote inside a quoted field, line breaks
// inside quoted fields) and GLUE-style TSV (one record per line, fields split at every tab, no
// quoting — GLUE's files are written with Python's csv.QUOTE_NONE, so a '"' is an ordinary
// character there). A header row names the columns.
//
// Both dialects accept LF and CRLF line ends, drop a UTF-8 byte-order mark at the start of the file
// and skip blank lines. Text is passed through byte for byte (UTF-8 stays UTF-8). Errors name the
// source and the line: "train.tsv:17: 3 fields, expected 2 (as many as the header)".
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "moerb/core/error.hpp"
#include "moerb/data/detail/text.hpp"

namespace moerb {

enum class Quoting {
  rfc4180,  ///< fields may be enclosed in '"'; "" inside is a literal quote; may span lines
  none,     ///< every delimiter splits, '"' is ordinary text, a record is exactly one line
};

struct CsvDialect {
  char delimiter = ',';
  Quoting quoting = Quoting::rfc4180;

  [[nodiscard]] static constexpr CsvDialect csv() { return {',', Quoting::rfc4180}; }
  /// GLUE's TSV files: tab-separated, no quoting.
  [[nodiscard]] static constexpr CsvDialect tsv() { return {'\t', Quoting::none}; }
};

/// Reads one record at a time from a stream, so large files need not fit in memory.
class DelimitedReader {
 public:
  /// `source` names the input in error messages (usually the file path).
  DelimitedReader(std::istream& in, std::string source, CsvDialect dialect = {})
      : in_(in), source_(std::move(source)), dialect_(dialect) {
    MOERB_REQUIRE(dialect_.delimiter != '\n' && dialect_.delimiter != '\r' &&
                !(dialect_.quoting == Quoting::rfc4180 && dialect_.delimiter == '"'),
            "DelimitedReader: delimiter '", dialect_.delimiter, "' cannot separate fields");
  }

  /// Reads the next record into `fields` (cleared first); false at the end of the input.
  /// Throws moerb::error for a quoted field left open at the end of the input or text between a
  /// closing quote and the next delimiter.
  bool next(std::vector<std::string>& fields) {
    fields.clear();
    std::string line;
    do {  // skip blank lines between records
      if (!read_physical_line(line)) return false;
    } while (line.empty());
    record_line_ = line_;
    if (dialect_.quoting == Quoting::none) {
      split_unquoted(line, fields);
    } else {
      parse_quoted(line, fields);
    }
    return true;
  }

  /// 1-based line on which the record last returned by next() starts.
  [[nodiscard]] std::size_t line() const { return record_line_; }
  /// Lines consumed so far (a record with embedded line breaks spans several).
  [[nodiscard]] std::size_t lines_read() const { return line_; }
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] CsvDialect dialect() const { return dialect_; }

 private:
  bool read_physical_line(std::string& line) {
    if (!detail::read_line(in_, line)) return false;
    if (line_ == 0) detail::strip_utf8_bom(line);
    ++line_;
    return true;
  }

  void split_unquoted(std::string_view line, std::vector<std::string>& fields) const {
    std::size_t begin = 0;
    while (true) {
      const std::size_t end = line.find(dialect_.delimiter, begin);
      if (end == std::string_view::npos) {
        fields.emplace_back(line.substr(begin));
        return;
      }
      fields.emplace_back(line.substr(begin, end - begin));
      begin = end + 1;
    }
  }

  void parse_quoted(std::string line, std::vector<std::string>& fields) {
    enum class State { field_start, unquoted, quoted, quote_in_quoted };
    State state = State::field_start;
    std::string field;
    while (true) {
      for (const char c : line) {
        switch (state) {
          case State::field_start:
            if (c == '"') {
              state = State::quoted;
            } else if (c == dialect_.delimiter) {
              fields.emplace_back();
            } else {
              field += c;
              state = State::unquoted;
            }
            break;
          case State::unquoted:  // a '"' inside an unquoted field is kept as text
            if (c == dialect_.delimiter) {
              fields.push_back(std::move(field));
              field.clear();
              state = State::field_start;
            } else {
              field += c;
            }
            break;
          case State::quoted:
            if (c == '"') {
              state = State::quote_in_quoted;
            } else {
              field += c;
            }
            break;
          case State::quote_in_quoted:
            if (c == '"') {  // "" → one literal quote
              field += '"';
              state = State::quoted;
            } else if (c == dialect_.delimiter) {
              fields.push_back(std::move(field));
              field.clear();
              state = State::field_start;
            } else {
              throw error(detail::concat(detail::location(source_, line_), ": field ",
                                         fields.size() + 1, " has '", c,
                                         "' after its closing quote; expected '",
                                         dialect_.delimiter, "' or the end of the line"));
            }
            break;
        }
      }
      if (state != State::quoted) break;
      // The line ended inside a quoted field: the record continues on the next line.
      if (!read_physical_line(line)) {
        throw error(detail::concat(source_, ":", record_line_, ": quoted field ", fields.size() + 1,
                                   " is not closed before the end of the input (truncated file?)"));
      }
      field += '\n';
    }
    fields.push_back(std::move(field));
  }

  std::istream& in_;
  std::string source_;
  CsvDialect dialect_;
  std::size_t line_ = 0;
  std::size_t record_line_ = 0;
};

/// A whole delimited file in memory: the header row and the data rows, each with the line on which
/// it starts.
struct CsvTable {
  std::string source;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< each has header.size() fields
  std::vector<std::size_t> row_lines;          ///< 1-based line of each row

  [[nodiscard]] std::optional<std::size_t> find_column(std::string_view name) const {
    for (std::size_t c = 0; c < header.size(); ++c) {
      if (header[c] == name) return c;
    }
    return std::nullopt;
  }

  /// Index of column `name`; throws naming the column, the source and the columns it has.
  [[nodiscard]] std::size_t column(std::string_view name) const {
    const auto c = find_column(name);
    MOERB_REQUIRE(c.has_value(), source, ": no column '", name,
            "' (columns: ", detail::join(header, ", "), ")");
    return *c;
  }

  /// The field of `row` in column `name`.
  [[nodiscard]] const std::string& at(std::size_t row, std::string_view name) const {
    MOERB_REQUIRE(row < rows.size(), source, ": row ", row, " out of range (", rows.size(), " rows)");
    return rows[row][column(name)];
  }
};

/// Reads a header row and all data rows from `in`. A row whose field count differs from the
/// header's throws "<source>:<line>: ...".
[[nodiscard]] inline CsvTable read_csv_table(std::istream& in, std::string source,
                                             CsvDialect dialect) {
  DelimitedReader reader(in, std::move(source), dialect);
  CsvTable table;
  table.source = reader.source();
  MOERB_REQUIRE(reader.next(table.header), table.source, ": empty input, expected a header row");
  std::vector<std::string> fields;
  while (reader.next(fields)) {
    if (fields.size() != table.header.size()) {
      throw error(detail::concat(detail::location(table.source, reader.line()), ": ", fields.size(),
                                 " fields, expected ", table.header.size(),
                                 " (as many as the header)"));
    }
    table.rows.push_back(fields);
    table.row_lines.push_back(reader.line());
  }
  return table;
}

/// Reads a delimited file with an explicit dialect.
[[nodiscard]] inline CsvTable read_csv_table(const std::filesystem::path& path,
                                             CsvDialect dialect) {
  std::ifstream in = detail::open_input(path, "read_csv_table");
  return read_csv_table(in, path.string(), dialect);
}

/// Reads a delimited file: RFC 4180 quoting for any delimiter except '\t', which selects the
/// GLUE-style unquoted TSV dialect.
[[nodiscard]] inline CsvTable read_csv_table(const std::filesystem::path& path,
                                             char delimiter = ',') {
  return read_csv_table(
      path, CsvDialect{delimiter, delimiter == '\t' ? Quoting::none : Quoting::rfc4180});
}

/// Parses delimited text held in memory (`source` names it in error messages).
[[nodiscard]] inline CsvTable parse_csv_table(std::string_view text, CsvDialect dialect = {},
                                              std::string source = "<string>") {
  std::istringstream in{std::string(text)};
  return read_csv_table(in, std::move(source), dialect);
}

}  // namespace moerb
