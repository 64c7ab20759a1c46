// Tests for include/moerb/data/glue_tsv.hpp
#include <boost/test/unit_test.hpp>
#include <string>

#include "data/data_testing.hpp"
#include "moerb/data/glue_tsv.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_glue_tsv {

using moerb::GlueTsvFields;
using moerb::ReadOptions;
using moerb::ReadReport;
using moerb::TextDataset;
using moerb::test::message_has;
using moerb::test::ScratchDir;

namespace {

// The MNLI dev layout (trimmed to fewer parse columns): id columns, texts, gold_label.
const char* const mnli_tsv =
    "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label\n"
    "0\t63735\t63735n\tslate\tThe new rights are nice enough\tEveryone really likes the newest "
    "benefits \tneutral\tneutral\n"
    "1\t91383\t91383c\tgovernment\tThis site includes a list of all award winners.\tThe "
    "Government Executive articles housed on the website are not able to be searched.\t"
    "contradiction\tcontradiction\n"
    "2\t755\t755e\ttelephone\tuh i don't know i i have mixed emotions\tI like him for the most "
    "part\tentailment\t-\n"
    "3\t78013\t78013e\tfiction\tCafé «Étoile» serves crêpes\tThere is a café.\tentailment\t"
    "entailment\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(glue_tsv)

BOOST_AUTO_TEST_CASE(sst2_numeric_labels) {
  ScratchDir dir;
  const auto file = dir.write("sst2_dev.tsv",
                              "sentence\tlabel\r\n"
                              "it 's a charming and often affecting journey . \t1\r\n"
                              "unflinchingly bleak and \"desperate\" \t0\r\n"
                              "naïve , but it works\t1\r\n");
  ReadReport report;
  const TextDataset d = moerb::read_glue_tsv(file, GlueTsvFields::sst2(), {}, &report);
  BOOST_REQUIRE(d.size() == 3u);
  BOOST_TEST(d.examples[0].text_a == "it 's a charming and often affecting journey . ");
  BOOST_TEST(d.examples[0].label == 1);
  BOOST_TEST(d.examples[0].label_name == "positive");
  BOOST_TEST(d.examples[1].text_a == "unflinchingly bleak and \"desperate\" ");
  BOOST_TEST(d.examples[1].label == 0);
  BOOST_TEST(d.examples[2].text_a == "naïve , but it works");
  BOOST_TEST(d.examples[0].text_b.empty());
  BOOST_TEST(d.label_names == (std::vector<std::string>{"negative", "positive"}),
             boost::test_tools::per_element());
  BOOST_TEST(d.name == file.string());
  BOOST_TEST(report.read == 3u);
  BOOST_TEST(report.skipped == 0u);
}

BOOST_AUTO_TEST_CASE(mnli_pairs_named_labels_and_unlabeled_marker) {
  ScratchDir dir;
  const auto file = dir.write("dev_matched.tsv", mnli_tsv);
  ReadReport report;
  const TextDataset d = moerb::read_glue_tsv(file, GlueTsvFields::mnli(), {}, &report);
  BOOST_REQUIRE(d.size() == 3u);
  BOOST_TEST(report.unlabeled == 1u);  // gold_label "-"
  BOOST_TEST(d.examples[0].text_a == "The new rights are nice enough");
  BOOST_TEST(d.examples[0].text_b == "Everyone really likes the newest benefits ");
  BOOST_TEST(d.examples[0].label == 1);
  BOOST_TEST(d.examples[0].id == "63735n");
  BOOST_TEST(d.examples[1].label == 2);
  BOOST_TEST(d.examples[2].text_a == "Café «Étoile» serves crêpes");
  BOOST_TEST(d.examples[2].label == 0);

  ReadOptions keep;
  keep.keep_unlabeled = true;
  const TextDataset all = moerb::read_glue_tsv(file, GlueTsvFields::mnli(), keep, &report);
  BOOST_REQUIRE(all.size() == 4u);
  BOOST_TEST(all.examples[2].label == -1);
  BOOST_TEST(all.examples[2].label_name == "-");
  BOOST_TEST(report.unlabeled == 0u);
}

BOOST_AUTO_TEST_CASE(custom_field_mapping_and_label_values) {
  ScratchDir dir;
  const auto file = dir.write("custom.tsv",
                              "q\tctx\tverdict\tuid\n"
                              "who?\tnobody\tYES\tu1\n"
                              "why?\tbecause\tNO\tu2\n");
  GlueTsvFields f;
  f.text_a = "ctx";
  f.text_b = "q";
  f.label = "verdict";
  f.id = "uid";
  f.label_names = {"no", "yes"};
  f.label_values = {"NO", "YES"};
  const TextDataset d = moerb::read_glue_tsv(file, f);
  BOOST_TEST(d.examples[0].text_a == "nobody");
  BOOST_TEST(d.examples[0].text_b == "who?");
  BOOST_TEST(d.examples[0].label == 1);
  BOOST_TEST(d.examples[0].label_name == "yes");
  BOOST_TEST(d.examples[1].id == "u2");
}

BOOST_AUTO_TEST_CASE(test_file_without_labels) {
  ScratchDir dir;
  const auto file = dir.write("test.tsv", "index\tsentence\n0\tuneasy mishmash of styles\n");
  GlueTsvFields f = GlueTsvFields::sst2();
  f.label.clear();
  f.id = "index";
  const TextDataset d = moerb::read_glue_tsv(file, f);
  BOOST_REQUIRE(d.size() == 1u);
  BOOST_TEST(d.examples[0].label == -1);
  BOOST_TEST(d.examples[0].id == "0");
}

BOOST_AUTO_TEST_CASE(missing_column_names_column_and_file) {
  ScratchDir dir;
  const auto file = dir.write("rte.tsv", "index\tsentence1\tlabel\n0\ta\tentailment\n");
  BOOST_CHECK_EXCEPTION(
      (void)moerb::read_glue_tsv(file, GlueTsvFields::rte()), moerb::error,
      message_has({file.string(), "no column 'sentence2'", "index, sentence1, label"}));
}

BOOST_AUTO_TEST_CASE(malformed_lines_name_file_and_line) {
  ScratchDir dir;
  const auto fields = dir.write("fields.tsv", "sentence\tlabel\ngood\t1\nno tab here\ngood\t0\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(fields, GlueTsvFields::sst2()), moerb::error,
                        message_has({fields.string() + ":3:", "1 fields, expected 2"}));
  const auto label = dir.write("label.tsv", "sentence\tlabel\ngood\t1\nfine\tpositive-ish\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(label, GlueTsvFields::sst2()), moerb::error,
                        message_has({label.string() + ":3:", "label 'positive-ish'",
                                     "column 'label'", "'negative', 'positive'"}));
  const auto range = dir.write("range.tsv", "sentence\tlabel\nbad\t2\n");
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(range, GlueTsvFields::sst2()), moerb::error,
                        message_has({range.string() + ":2:", "label '2'"}));
  // Found by fuzz_glue_tsv (corpus/glue_tsv/regression-nul): a NUL byte in a text is bad input.
  const auto nul = dir.write("nul.tsv", std::string("index\tquestion\tsentence\tlabel\n"
                                                    "0\tWhat cam\0into force?\tThe end.\tentailment\n",
                                                    73));
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(nul, GlueTsvFields::qnli()), moerb::error,
                        message_has({nul.string() + ":2:", "column 'question' holds a NUL byte at byte 9"}));
}

BOOST_AUTO_TEST_CASE(skip_bad_lines_counts_them) {
  ScratchDir dir;
  const auto file = dir.write("mixed.tsv",
                              "sentence\tlabel\n"
                              "one\t1\n"
                              "broken line\n"
                              "two\t0\n"
                              "three\t7\n"
                              "four\t1\textra\n"
                              "five\t0\n");
  ReadOptions options;
  options.skip_bad_lines = true;
  ReadReport report;
  const TextDataset d = moerb::read_glue_tsv(file, GlueTsvFields::sst2(), options, &report);
  BOOST_TEST(d.size() == 3u);
  BOOST_TEST(report.read == 3u);
  BOOST_TEST(report.skipped == 3u);
  BOOST_REQUIRE(report.first_errors.size() == 3u);
  BOOST_TEST(report.first_errors[0].find(file.string() + ":3:") == 0u);
  BOOST_TEST(report.first_errors[1].find(":5:") != std::string::npos);
  BOOST_TEST(report.first_errors[2].find("3 fields, expected 2") != std::string::npos);

  options.max_examples = 2;
  const TextDataset two = moerb::read_glue_tsv(file, GlueTsvFields::sst2(), options, &report);
  BOOST_TEST(two.size() == 2u);
  BOOST_TEST(two.examples[1].text_a == "two");
}

BOOST_AUTO_TEST_CASE(truncated_file) {
  ScratchDir dir;
  // The write stopped inside the last record: its label column is missing.
  const auto file = dir.write("cut.tsv", "sentence\tlabel\ncomplete\t1\nthe last sent");
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(file, GlueTsvFields::sst2()), moerb::error,
                        message_has({file.string() + ":3:", "1 fields, expected 2"}));
  const auto empty = dir.write("empty.tsv", "");
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(empty, GlueTsvFields::sst2()), moerb::error,
                        message_has({"empty.tsv", "empty file"}));
}

BOOST_AUTO_TEST_CASE(invalid_field_settings) {
  ScratchDir dir;
  const auto file = dir.write("x.tsv", "sentence\tlabel\na\t1\n");
  GlueTsvFields f;  // label column set, no class names
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(file, f), moerb::error,
                        message_has({"label_names is empty", "'label'"}));
  BOOST_CHECK_EXCEPTION((void)moerb::read_glue_tsv(dir.path() / "none.tsv", f), moerb::error,
                        message_has({"read_glue_tsv", "none.tsv", "no such file"}));
}

BOOST_AUTO_TEST_CASE(presets_name_glue_columns) {
  BOOST_TEST(GlueTsvFields::qqp().text_b == "question2");
  BOOST_TEST(GlueTsvFields::qqp().label == "is_duplicate");
  BOOST_TEST(GlueTsvFields::qnli().text_a == "question");
  BOOST_TEST(GlueTsvFields::mrpc().text_a == "#1 String");
  BOOST_TEST(GlueTsvFields::wnli().label_names.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_glue_tsv
