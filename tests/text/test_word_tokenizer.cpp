// Tests for include/moerb/text/word_tokenizer.hpp
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/text/tokenizer.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "text/text_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_text_word_tokenizer {

using moerb::TokenId;
using moerb::Vocabulary;
using moerb::WordTokenizer;
using moerb::test::message_has;
using moerb::test::ScratchDir;
using Ids = std::vector<TokenId>;
using Words = std::vector<std::string>;

namespace {

// Word counts after lower-casing: the 4, cat 3, sat 2, mat 2, on 1, a 1, "." 3, "," 1.
const std::vector<std::string> kCorpus = {
    "The cat sat on the mat.",
    "The cat, a cat.",
    "The mat sat.",
};

WordTokenizer::Options options(std::size_t min_count, std::size_t max_size, bool lowercase) {
  WordTokenizer::Options o;
  o.min_count = min_count;
  o.max_size = max_size;
  o.lowercase = lowercase;
  return o;
}

bool has_unk(const Ids& ids) {
  return std::find(ids.begin(), ids.end(), Vocabulary::unk_id) != ids.end();
}

Words words_of(const Vocabulary& v) {
  return Words(v.tokens().begin() + static_cast<std::ptrdiff_t>(Vocabulary::special_token_count),
               v.tokens().end());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(word_tokenizer)

BOOST_AUTO_TEST_CASE(models_the_tokenizer_concept_and_is_copyable) {
  static_assert(moerb::Tokenizer<WordTokenizer>);
  static_assert(std::is_copy_constructible_v<WordTokenizer>);
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  const WordTokenizer copy = t;  // NOLINT(performance-unnecessary-copy-initialization)
  BOOST_TEST(copy.encode("the cat") == t.encode("the cat"), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(vocabulary_orders_words_by_count_then_bytes) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  // Counts: the 4; "." 3 and cat 3 ('.' < 'c'); mat 2 and sat 2; "," a on with 1 each.
  BOOST_TEST(words_of(t.vocabulary()) == (Words{"the", ".", "cat", "mat", "sat", ",", "a", "on"}),
             boost::test_tools::per_element());
  BOOST_TEST(t.vocab_size() == 15u);
  BOOST_TEST(t.vocabulary().find("the").value() == 7);
}

BOOST_AUTO_TEST_CASE(min_count_and_max_size_cut_the_vocabulary) {
  const WordTokenizer frequent = WordTokenizer::train(kCorpus, options(2, 0, true));
  BOOST_TEST(words_of(frequent.vocabulary()) == (Words{"the", ".", "cat", "mat", "sat"}),
             boost::test_tools::per_element());
  const WordTokenizer small = WordTokenizer::train(kCorpus, options(1, 10, true));
  BOOST_TEST(words_of(small.vocabulary()) == (Words{"the", ".", "cat"}),
             boost::test_tools::per_element());
  const WordTokenizer only_specials = WordTokenizer::train(kCorpus, options(1, 7, true));
  BOOST_TEST(only_specials.vocab_size() == 7u);
  BOOST_TEST(only_specials.encode("the cat") == (Ids{1, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected) {
  BOOST_CHECK_EXCEPTION((void)WordTokenizer::train(kCorpus, options(0, 0, true)), moerb::error,
                        message_has({"WordTokenizer::train: min_count = 0, expected >= 1"}));
  BOOST_CHECK_EXCEPTION((void)WordTokenizer::train(kCorpus, options(1, 6, true)), moerb::error,
                        message_has({"WordTokenizer::train: max_size = 6, expected 0 (unlimited) "
                                     "or >= 7"}));
  BOOST_CHECK_EXCEPTION((void)WordTokenizer(Vocabulary(), options(0, 0, true)), moerb::error,
                        message_has({"WordTokenizer: min_count = 0"}));
}

BOOST_AUTO_TEST_CASE(encode_decode_round_trip_reproduces_normalised_text) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  for (const std::string& text : kCorpus) {
    const Ids ids = t.encode(text);
    BOOST_TEST(!has_unk(ids));
    BOOST_TEST(t.decode(ids) == t.pre_tokenizer().normalize(text));
  }
  BOOST_TEST(t.encode("THE  Cat.") == (Ids{7, 9, 8}), boost::test_tools::per_element());
  BOOST_TEST(t.decode(Ids{7, 9, 8}) == "the cat .");
}

BOOST_AUTO_TEST_CASE(unknown_words_become_unk) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  BOOST_TEST(t.encode("the dog sat") == (Ids{7, 1, 11}), boost::test_tools::per_element());
  BOOST_TEST(t.encode("zebra quokka axolotl") == (Ids{1, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(t.decode(t.encode("the dog")) == "the [UNK]");
}

BOOST_AUTO_TEST_CASE(empty_text_and_empty_ids) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  BOOST_TEST(t.encode("").empty());
  BOOST_TEST(t.encode("   \n").empty());
  BOOST_TEST(t.decode(Ids{}).empty());
  // An empty corpus gives the special tokens only.
  const WordTokenizer empty = WordTokenizer::train(std::vector<std::string>{});
  BOOST_TEST(empty.vocab_size() == 7u);
  BOOST_TEST(empty.encode("anything") == (Ids{1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(encode_into_appends) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  Ids ids = {Vocabulary::cls_id};
  t.encode_into("the cat", ids);
  t.encode_into("mat", ids);
  BOOST_TEST(ids == (Ids{2, 7, 9, 10}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(decode_handles_special_tokens_and_rejects_bad_ids) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  const Ids ids = {Vocabulary::cls_id, 7, 9, Vocabulary::sep_id, Vocabulary::pad_id};
  BOOST_TEST(t.decode(ids) == "[CLS] the cat [SEP] [PAD]");
  BOOST_TEST(t.decode(ids, /*skip_special_tokens=*/true) == "the cat");
  BOOST_CHECK_EXCEPTION((void)t.decode(Ids{7, 15}), moerb::error,
                        message_has({"WordTokenizer::decode: ids[1] = 15, expected in [0, 15)"}));
  BOOST_CHECK_EXCEPTION((void)t.decode(Ids{-3}), moerb::error, message_has({"ids[0] = -3"}));
}

BOOST_AUTO_TEST_CASE(lowercase_option) {
  const WordTokenizer cased = WordTokenizer::train(kCorpus, options(1, 0, false));
  BOOST_TEST(cased.vocabulary().contains("The"));
  BOOST_TEST(cased.vocabulary().contains("the"));
  BOOST_TEST(cased.encode("The the THE") ==
                 (Ids{*cased.vocabulary().find("The"), *cased.vocabulary().find("the"), 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(training_is_deterministic_and_independent_of_corpus_order) {
  std::vector<std::string> corpus;
  for (int i = 0; i < 200; ++i) {
    // (Appending instead of "w" + std::to_string(...) sidesteps a GCC 12 -Wrestrict false
    // positive.)
    std::string line = "w";
    line += std::to_string(i % 17);
    line += " v";
    line += std::to_string(i % 5);
    line += " u";
    line += std::to_string((i * 7) % 11);
    corpus.push_back(line);
  }
  const WordTokenizer a = WordTokenizer::train(corpus, options(1, 20, true));
  const WordTokenizer b = WordTokenizer::train(corpus, options(1, 20, true));
  std::vector<std::string> reversed(corpus.rbegin(), corpus.rend());
  const WordTokenizer c = WordTokenizer::train(reversed, options(1, 20, true));
  BOOST_TEST((a.vocabulary() == b.vocabulary()));
  BOOST_TEST((a.vocabulary() == c.vocabulary()));
  BOOST_TEST(a.vocab_size() == 20u);
}

BOOST_AUTO_TEST_CASE(corpus_may_be_any_range_of_string_likes) {
  const std::vector<std::string_view> views = {"a b", "b c"};
  const char* const raw[] = {"a b", "b c"};
  const WordTokenizer from_views = WordTokenizer::train(views);
  const WordTokenizer from_span = WordTokenizer::train(std::span<const char* const>(raw));
  BOOST_TEST((from_views.vocabulary() == from_span.vocabulary()));
  BOOST_TEST(words_of(from_views.vocabulary()) == (Words{"b", "a", "c"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(non_ascii_words) {
  const std::vector<std::string> corpus = {"Caf\xC3\xA9 \xC3\xA9t\xC3\xA9 \xE4\xB8\x96\xE7\x95\x8C",
                                           "\xF0\x9F\x98\x80 caf\xC3\xA9"};
  const WordTokenizer t = WordTokenizer::train(corpus);
  const std::string text = "CAF\xC3\x89 \xE4\xB8\x96\xF0\x9F\x98\x80";  // CAFÉ 世😀
  const Ids ids = t.encode(text);
  BOOST_TEST(ids.size() == 3u);  // café, 世, 😀
  BOOST_TEST(!has_unk(ids));
  BOOST_TEST(t.decode(ids) == "caf\xC3\xA9 \xE4\xB8\x96 \xF0\x9F\x98\x80");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_throws_naming_the_offset) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  BOOST_CHECK_EXCEPTION((void)t.encode("the \xC3(cat"), moerb::error,
                        message_has({"invalid UTF-8 at byte offset 4 (byte 0xc3)"}));
  const std::vector<std::string> bad_corpus = {"fine", "bad \xFE"};
  BOOST_CHECK_EXCEPTION((void)WordTokenizer::train(bad_corpus), moerb::error,
                        message_has({"invalid UTF-8 at byte offset 4"}));
}

BOOST_AUTO_TEST_CASE(very_long_input) {
  const WordTokenizer t = WordTokenizer::train(kCorpus);
  std::string text;
  while (text.size() + 22 <= 100000) text += "the cat sat on a mat. ";
  text.resize(100000, ' ');  // 100k characters, all words known
  const auto start = std::chrono::steady_clock::now();
  const Ids ids = t.encode(text);
  BOOST_TEST(ids.size() > 20000u);
  BOOST_TEST(!has_unk(ids));
  const bool round_trip = t.decode(ids) == t.pre_tokenizer().normalize(text);  // not logged: 100k
  BOOST_TEST(round_trip);
  BOOST_TEST(t.encode(std::string(100000, 'x')) == (Ids{1}), boost::test_tools::per_element());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(seconds < 2.0);
}

BOOST_AUTO_TEST_CASE(save_and_load_give_identical_encodings) {
  const ScratchDir dir;
  const auto path = dir / "words.tok";
  const WordTokenizer t = WordTokenizer::train(kCorpus, options(1, 12, false));
  t.save(path);
  const std::string content = moerb::test::read_bytes(path);
  BOOST_TEST(
      content.starts_with("#moerb-tokenizer word v1 lowercase=false min_count=1 "
                          "max_size=12\n[PAD]\n"));
  const WordTokenizer back = WordTokenizer::load(path);
  BOOST_TEST((back.vocabulary() == t.vocabulary()));
  BOOST_TEST(back.options().lowercase == false);
  BOOST_TEST(back.options().max_size == 12u);
  for (const std::string& text :
       {std::string("The cat sat on the mat."), std::string("THE dog"), std::string("")}) {
    BOOST_TEST(back.encode(text) == t.encode(text), boost::test_tools::per_element());
  }
  BOOST_TEST(dir.entries() == (Words{"words.tok"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(load_rejects_malformed_files_naming_file_and_line) {
  const ScratchDir dir;
  const auto path = dir / "bad.tok";
  const std::string file = path.string();
  const std::string specials(moerb::test::special_lines);
  const std::string header = "#moerb-tokenizer word v1 lowercase=true min_count=1 max_size=0\n";
  struct Case {
    std::string content;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {specials, file + ":1: expected the header '#moerb-tokenizer word v1"},
      {"#moerb-tokenizer wordpiece v1 lowercase=true\n" + specials,
       file + ":1: expected the header '#moerb-tokenizer word v1"},
      {"#moerb-tokenizer word v1 lowercase=true min_count=1\n" + specials,
       file + ":1: header field 'max_size' is missing"},
      {"#moerb-tokenizer word v1 lowercase=true min_count=1 max_size=0 colour=red\n" + specials,
       file + ":1: unknown header field 'colour'"},
      {"#moerb-tokenizer word v1 lowercase=yes min_count=1 max_size=0\n" + specials,
       file + ":1: header field lowercase=yes is not true or false"},
      {"#moerb-tokenizer word v1 lowercase=true min_count=-1 max_size=0\n" + specials,
       file + ":1: header field min_count=-1 is not a non-negative integer"},
      {"#moerb-tokenizer word v1 lowercase=true lowercase=true min_count=1 max_size=0\n" + specials,
       file + ":1: header field 'lowercase' appears twice"},
      {"#moerb-tokenizer word v1 lowercase=true min_count=0 max_size=0\n" + specials,
       file + ":1: invalid options min_count=0"},
      {header + specials + "cat\ndog\ncat\n",
       file + ":11: duplicate token 'cat' (first on line 9)"},
      {header + specials + "cat\n\n", file + ":10: empty line"},
      {header + "[PAD]\n[UNK]\n", file + ":4: missing special token [CLS]"},
      {header + specials + "\xC3\x28\n", file + ":9: invalid UTF-8 at byte offset 0"},
  };
  for (const Case& c : cases) {
    moerb::test::write_bytes(path, c.content);
    BOOST_TEST_CONTEXT("expected: " << c.expected) {
      BOOST_CHECK_EXCEPTION((void)WordTokenizer::load(path), moerb::error,
                            message_has({"WordTokenizer::load: " + c.expected}));
    }
  }
  BOOST_CHECK_EXCEPTION((void)WordTokenizer::load(dir / "absent.tok"), moerb::error,
                        message_has({"WordTokenizer::load: cannot open", "absent.tok"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_text_word_tokenizer
