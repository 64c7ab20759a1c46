// Tests for include/moerb/data/csv.hpp
#include <boost/test/unit_test.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "data/data_testing.hpp"
#include "moerb/data/csv.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_csv {

using moerb::CsvDialect;
using moerb::CsvTable;
using moerb::test::message_has;
using moerb::test::ScratchDir;
using Row = std::vector<std::string>;

BOOST_AUTO_TEST_SUITE(csv)

BOOST_AUTO_TEST_CASE(rfc4180_quoting_rules) {
  // Quoted comma, doubled quotes, an embedded CRLF line break, empty and trailing-empty fields.
  const std::string text =
      "a,b,c\r\n"
      "\"x, y\",\"she said \"\"hi\"\"\",plain\r\n"
      "\"two\r\nlines\",,\r\n"
      "\r\n"
      "last,\"\",\"Zürich — 東京\"\n";
  const CsvTable t = moerb::parse_csv_table(text, CsvDialect::csv(), "inline.csv");
  BOOST_TEST(t.header == (Row{"a", "b", "c"}), boost::test_tools::per_element());
  BOOST_REQUIRE(t.rows.size() == 3u);
  BOOST_TEST(t.rows[0] == (Row{"x, y", "she said \"hi\"", "plain"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.rows[1] == (Row{"two\nlines", "", ""}), boost::test_tools::per_element());
  BOOST_TEST(t.rows[2] == (Row{"last", "", "Zürich — 東京"}), boost::test_tools::per_element());
  // Row lines count physical lines: the second row spans lines 3-4, a blank line 5 is skipped.
  BOOST_TEST(t.row_lines == (std::vector<std::size_t>{2, 3, 6}), boost::test_tools::per_element());
  BOOST_TEST(t.column("c") == 2u);
  BOOST_TEST(t.at(2, "a") == "last");
}

BOOST_AUTO_TEST_CASE(quote_inside_unquoted_field_is_text_and_bom_is_dropped) {
  const CsvTable t = moerb::parse_csv_table("\xEF\xBB\xBFname,size\n5\" pipe,3\n");
  BOOST_TEST(t.header[0] == "name");
  BOOST_TEST(t.rows[0][0] == "5\" pipe");
}

BOOST_AUTO_TEST_CASE(tsv_has_no_quoting) {
  const CsvTable t = moerb::parse_csv_table(
      "sentence\tlabel\n\"quoted\" start, with comma\t1\nit 's a \"b\" movie\t0\n",
      CsvDialect::tsv());
  BOOST_TEST(t.rows[0] == (Row{"\"quoted\" start, with comma", "1"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.rows[1][0] == "it 's a \"b\" movie");
}

BOOST_AUTO_TEST_CASE(reader_streams_records) {
  std::istringstream in("p,q\n1,\"a\nb\"\n2,c\n");
  moerb::DelimitedReader reader(in, "stream.csv");
  Row fields;
  BOOST_TEST(reader.next(fields));
  BOOST_TEST(reader.line() == 1u);
  BOOST_TEST(reader.next(fields));
  BOOST_TEST(fields == (Row{"1", "a\nb"}), boost::test_tools::per_element());
  BOOST_TEST(reader.line() == 2u);
  BOOST_TEST(reader.next(fields));
  BOOST_TEST(reader.line() == 4u);
  BOOST_TEST(reader.lines_read() == 4u);
  BOOST_TEST(!reader.next(fields));
}

BOOST_AUTO_TEST_CASE(file_reading_picks_dialect_from_delimiter) {
  ScratchDir dir;
  const auto csv = dir.write("t.csv", "x,y\n\"1,5\",2\n");
  const auto tsv = dir.write("t.tsv", "x\ty\n\"1\t2\n");
  BOOST_TEST(moerb::read_csv_table(csv).rows[0][0] == "1,5");
  const CsvTable t = moerb::read_csv_table(tsv, '\t');
  BOOST_TEST(t.rows[0][0] == "\"1");
  BOOST_TEST(t.source == tsv.string());
  const auto semi = dir.write("t.txt", "x;y\n\"a;b\";c\n");
  BOOST_TEST(moerb::read_csv_table(semi, ';').rows[0][0] == "a;b");
}

BOOST_AUTO_TEST_CASE(unknown_column_names_file_and_columns) {
  ScratchDir dir;
  const auto file = dir.write("cols.csv", "alpha,beta\n1,2\n");
  const CsvTable t = moerb::read_csv_table(file);
  BOOST_TEST(!t.find_column("gamma").has_value());
  BOOST_CHECK_EXCEPTION((void)t.column("gamma"), moerb::error,
                        message_has({file.string(), "no column 'gamma'", "alpha, beta"}));
}

BOOST_AUTO_TEST_CASE(wrong_field_count_names_file_and_line) {
  ScratchDir dir;
  const auto file = dir.write("bad.csv", "a,b,c\n1,2,3\n\"multi\nline\",2,3\n1,2\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_csv_table(file), moerb::error,
                        message_has({file.string() + ":5:", "2 fields, expected 3"}));
}

BOOST_AUTO_TEST_CASE(truncated_quoted_field_is_an_error) {
  ScratchDir dir;
  const auto file = dir.write("trunc.csv", "a,b\n1,2\n3,\"never closed\nmore text");
  BOOST_CHECK_EXCEPTION(
      (void)moerb::read_csv_table(file), moerb::error,
      message_has({file.string() + ":3:", "quoted field 2", "not closed", "truncated"}));
}

BOOST_AUTO_TEST_CASE(text_after_closing_quote_is_an_error) {
  BOOST_CHECK_EXCEPTION(
      (void)moerb::parse_csv_table("a,b\n\"x\"y,2\n", CsvDialect::csv(), "junk.csv"), moerb::error,
      message_has({"junk.csv:2:", "field 1", "'y' after its closing quote"}));
}

BOOST_AUTO_TEST_CASE(missing_and_empty_inputs) {
  ScratchDir dir;
  BOOST_CHECK_EXCEPTION((void)moerb::read_csv_table(dir.path() / "absent.csv"), moerb::error,
                        message_has({"absent.csv", "no such file"}));
  const auto empty = dir.write("empty.csv", "");
  BOOST_CHECK_EXCEPTION((void)moerb::read_csv_table(empty), moerb::error,
                        message_has({"empty.csv", "expected a header row"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_csv
