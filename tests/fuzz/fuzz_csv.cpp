// Fuzzes the delimited-text parser (include/moerb/data/csv.hpp): parse_csv_table and the streaming
// DelimitedReader.
//
// Input: byte 0 picks the dialect (modulo 4: RFC 4180 CSV with ',', GLUE-style TSV without quoting,
// RFC 4180 with ';', RFC 4180 with '\t'); the rest is the text. Checks: parsing succeeds or throws
// moerb::error; every row has as many fields as the header, rows start on increasing lines after
// the header's, find_column finds every header name, and the streaming reader returns the same
// records.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/data/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using moerb::CsvDialect;
  using moerb::Quoting;
  static constexpr CsvDialect dialects[] = {
      CsvDialect::csv(), CsvDialect::tsv(), {';', Quoting::rfc4180}, {'\t', Quoting::rfc4180}};
  const CsvDialect dialect = dialects[data[0] % 4];
  const std::string text(moerb::fuzz::as_text(data + 1, size - 1));
  std::optional<moerb::CsvTable> table;
  if (!moerb::fuzz::parses([&] { table = moerb::parse_csv_table(text, dialect, "fuzz.csv"); })) {
    return 0;
  }
  const moerb::CsvTable& t = *table;
  MOERB_FUZZ_CHECK(t.rows.size() == t.row_lines.size(), "one line number per row");
  std::size_t previous_line = 1;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    MOERB_FUZZ_CHECK(t.rows[r].size() == t.header.size(), "rows as wide as the header");
    MOERB_FUZZ_CHECK(t.row_lines[r] > previous_line, "rows start on increasing lines");
    previous_line = t.row_lines[r];
  }
  for (const std::string& name : t.header) {
    MOERB_FUZZ_CHECK(t.find_column(name).has_value(), name);
  }

  moerb::fuzz::must_not_throw(
      [&] {
        std::istringstream in(text);
        moerb::DelimitedReader reader(in, "fuzz.csv", dialect);
        std::vector<std::string> fields;
        MOERB_FUZZ_CHECK(reader.next(fields) && fields == t.header, "streamed header");
        for (std::size_t r = 0; r < t.rows.size(); ++r) {
          MOERB_FUZZ_CHECK(reader.next(fields) && fields == t.rows[r], "streamed row");
          MOERB_FUZZ_CHECK(reader.line() == t.row_lines[r], "streamed row line");
        }
        MOERB_FUZZ_CHECK(!reader.next(fields), "streamed records end with the table");
      },
      "streaming a table that parses");
  return 0;
}
